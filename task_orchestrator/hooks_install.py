"""``task-orchestrator hooks install|uninstall``: merge our hook entries into Claude Code settings.

Idempotent (installing twice changes nothing), never clobbers other settings or hooks,
and uninstall removes exactly the entries this tool adds (recognised by their command
or their ``mcp_tool`` server name).
"""

from __future__ import annotations

import copy
import difflib
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

__all__ = ["hook_entries", "install", "is_ours", "settings_path", "uninstall"]

SERVER = "task-orchestrator"
PRE_MATCHER = "Bash|Write|Edit|MultiEdit|NotebookEdit|mcp__.*"


def _exe() -> str:
    found = shutil.which("task-orchestrator")
    if found:
        return shlex.quote(str(Path(found).resolve()))
    return f"{shlex.quote(sys.executable)} -m task_orchestrator.cli"


def _cmd(event: str, timeout: int) -> dict[str, Any]:
    return {"type": "command", "command": f"{_exe()} hook {event}", "timeout": timeout}


def hook_entries(transport: Literal["command", "mcp_tool"] = "mcp_tool") -> dict[str, list]:
    """The hook groups to add, per Claude Code event."""
    post = [{"matcher": "Bash", "hooks": [_cmd("post-tool-use", 15)]}]
    entries: dict[str, list] = {
        "PostToolUse": post,
        "PostToolUseFailure": copy.deepcopy(post),
        "Stop": [{"hooks": [_cmd("stop", 30)]}],
    }
    if transport == "command":
        entries["PreToolUse"] = [{"matcher": PRE_MATCHER, "hooks": [_cmd("pre-tool-use", 10)]}]
    else:  # the running MCP server answers: no process per call, similarity included

        def mcp(matcher: str, tool_input: dict[str, str]) -> dict[str, Any]:
            return {
                "matcher": matcher,
                "hooks": [
                    {"type": "mcp_tool", "server": SERVER, "tool": "pre_tool_use_hook", "input": tool_input}
                ],
            }

        # The same tools and the same facts as the command hook: the whole tool input (the
        # client substitutes it as JSON), and the session and working directory, so the
        # server judges a repeat by what the session did since it failed (memory/_decide.py).
        entries["PreToolUse"] = [
            mcp(
                PRE_MATCHER,
                {
                    "tool_name": "${tool_name}",
                    "tool_input": "${tool_input}",
                    "session_id": "${session_id}",
                    "cwd": "${cwd}",
                },
            ),
        ]
        # Outcomes through the server too (no Python process per Bash call): the client
        # substitutes the whole tool response on success and "Exit code N\n..." on failure.
        learned = {
            "hook_event_name": "${hook_event_name}",
            "tool_name": "${tool_name}",
            "tool_input": "${tool_input}",
            "session_id": "${session_id}",
            "cwd": "${cwd}",
        }
        entries["PostToolUse"] = [
            {
                "matcher": "Bash",
                "hooks": [
                    {
                        "type": "mcp_tool",
                        "server": SERVER,
                        "tool": "post_tool_use_hook",
                        "input": {**learned, "tool_response": "${tool_response}"},
                    }
                ],
            }
        ]
        entries["PostToolUseFailure"] = [
            {
                "matcher": "Bash",
                "hooks": [
                    {
                        "type": "mcp_tool",
                        "server": SERVER,
                        "tool": "post_tool_use_hook",
                        "input": {**learned, "error": "${error}", "is_interrupt": "${is_interrupt}"},
                    }
                ],
            }
        ]
        # The Stop check in the server as well: no Python process at the end of each turn.
        entries["Stop"] = [
            {
                "hooks": [
                    {
                        "type": "mcp_tool",
                        "server": SERVER,
                        "tool": "stop_hook",
                        "input": {
                            "transcript_path": "${transcript_path}",
                            "cwd": "${cwd}",
                            "stop_hook_active": "${stop_hook_active}",
                            "last_assistant_message": "${last_assistant_message}",
                        },
                        "timeout": 30,
                    }
                ]
            }
        ]
    return entries


def is_ours(hook: dict[str, Any]) -> bool:
    if hook.get("type") == "mcp_tool":
        return hook.get("server") == SERVER and hook.get("tool") in (
            "pre_tool_use_hook",
            "post_tool_use_hook",
            "stop_hook",
        )
    cmd = str(hook.get("command", ""))
    return " hook " in cmd and ("task-orchestrator" in cmd or "task_orchestrator" in cmd)


def settings_path(scope: Literal["project", "user"], project_dir: Path | None = None) -> Path:
    base = Path.home() if scope == "user" else (project_dir or Path.cwd())
    return base / ".claude" / "settings.json"


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it before installing hooks") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def _without_ours(settings: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(settings)
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        return out
    for event in list(hooks):
        groups = []
        for group in hooks[event] if isinstance(hooks[event], list) else []:
            kept = [h for h in group.get("hooks", []) if not is_ours(h)]
            if kept:
                groups.append({**group, "hooks": kept})
            elif not group.get("hooks"):
                groups.append(group)
        if groups:
            hooks[event] = groups
        else:
            del hooks[event]
    if not hooks:
        del out["hooks"]
    return out


def _write(path: Path, before: dict, after: dict, dry_run: bool) -> str:
    old = json.dumps(before, indent=2, sort_keys=False).splitlines(keepends=True) if before else []
    new = json.dumps(after, indent=2, sort_keys=False).splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(old, new, str(path), str(path)))
    if not dry_run and before != after:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(after, indent=2) + "\n")
        tmp.replace(path)
    return diff


def install(
    path: Path, transport: Literal["command", "mcp_tool"] = "mcp_tool", *, dry_run: bool = False
) -> str:
    """Merge our entries (replacing any earlier ones of ours); returns the diff."""
    before = _load(path)
    after = _without_ours(before)
    hooks = after.setdefault("hooks", {})
    for event, groups in hook_entries(transport).items():
        hooks.setdefault(event, []).extend(groups)
    return _write(path, before, after, dry_run)


def uninstall(path: Path, *, dry_run: bool = False) -> str:
    before = _load(path)
    return _write(path, before, _without_ours(before), dry_run)
