"""``task-orchestrator hooks install|uninstall``: merge our hook entries into Claude Code settings.

The entries come from the event table (``task_orchestrator.events``). By default each is a
``command`` hook running the thin client ``task-orchestrator-hook``, which asks the guard
service and, when it cannot answer, judges in-process: the hooks fail closed and need no MCP
server. ``--transport command`` runs ``task-orchestrator hook EVENT`` (a Python process per
call, no service). Idempotent (installing twice changes nothing), never clobbers other
settings or hooks; install replaces earlier entries of ours (the ``mcp_tool`` hooks of older
versions included, which let every call run when the server was not connected), and
uninstall removes exactly the entries this tool adds.
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

from task_orchestrator.events import EVENTS

__all__ = [
    "Transport",
    "client_path",
    "hook_entries",
    "install",
    "is_ours",
    "mcp_tool_hooks",
    "on_path",
    "our_hooks",
    "plugin_hooks",
    "settings_path",
    "uninstall",
]

SERVER = "task-orchestrator"
CLIENT = "task-orchestrator-hook"
Transport = Literal["guard", "command"]


def _beside_python(name: str) -> Path | None:
    """``name`` in this interpreter's scripts folder, else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return here
    found = shutil.which(name)
    return Path(found) if found else None


def client_path() -> Path:
    exe = _beside_python(CLIENT)
    if exe is None:
        raise FileNotFoundError(
            f"the hook client {CLIENT} is not installed beside {sys.executable} nor on PATH: "
            "reinstall task-orchestrator (pip install task-orchestrator)"
        )
    return exe


def _cli() -> str:
    exe = _beside_python("task-orchestrator")
    if exe is not None:
        return shlex.quote(str(exe))
    return f"{shlex.quote(sys.executable)} -m task_orchestrator.cli"


def _command(event: str, transport: Transport, portable: bool = False) -> dict[str, Any]:
    """One hook. ``portable``: the programs by name, found on PATH when the hook runs (the
    plugin's hooks, settings a team commits), instead of this machine's absolute paths."""
    spec = EVENTS[event]
    if transport == "command":
        cli = "task-orchestrator" if portable else _cli()
        return {"type": "command", "command": f"{cli} hook {event}", "timeout": spec.timeout_s}
    client = CLIENT if portable else shlex.quote(str(client_path()))
    command = f"{client} {event} {spec.wait_s:g}"
    if event == "pre-tool-use":  # a missing client must not let every call through
        command += (
            f" || {{ echo 'task-orchestrator: its hook client {client} did not run (is task-orchestrator "
            "installed and on PATH? uv tool install task-orchestrator); or remove its hooks: "
            "task-orchestrator hooks uninstall, or disable the plugin' >&2; exit 2; }"
        )
    return {"type": "command", "command": command, "timeout": spec.timeout_s}


def hook_entries(transport: Transport = "guard", portable: bool = False) -> dict[str, list]:
    """The hook groups to add, per Claude Code event."""
    entries: dict[str, list] = {}
    for spec in EVENTS.values():
        for claude_event, matcher in spec.entries:
            group: dict[str, Any] = {"matcher": matcher} if matcher else {}
            group["hooks"] = [_command(spec.name, transport, portable)]
            entries.setdefault(claude_event, []).append(group)
    return entries


def plugin_hooks() -> dict[str, Any]:
    """The Claude Code plugin's ``hooks/hooks.json`` (``plugin/``): the fail-closed hooks, with
    the hook client found on PATH (``scripts/build_plugin.py`` writes it; a test compares)."""
    return {
        "description": "task-orchestrator: the risk gate and the failure memory before each tool call, "
        "failures learned after, the claims of a finished session checked at Stop",
        "hooks": hook_entries("guard", portable=True),
    }


def is_ours(hook: dict[str, Any]) -> bool:
    if hook.get("type") == "mcp_tool":
        return hook.get("server") == SERVER and hook.get("tool") in (
            "pre_tool_use_hook",
            "post_tool_use_hook",
            "stop_hook",
        )
    cmd = str(hook.get("command", ""))
    if CLIENT in cmd:
        return True
    return " hook " in cmd and ("task-orchestrator" in cmd or "task_orchestrator" in cmd)


def our_hooks(path: Path) -> list[dict[str, Any]]:
    """The hook entries of ours in the settings file ``path`` (ValueError when it is not JSON)."""
    hooks = _load(path).get("hooks") or {}
    return [
        h
        for groups in hooks.values()
        if isinstance(groups, list)
        for group in groups
        if isinstance(group, dict)
        for h in group.get("hooks", [])
        if isinstance(h, dict) and is_ours(h)
    ]


def mcp_tool_hooks(path: Path) -> int:
    """How many ``mcp_tool`` hooks of ours (older versions' default) ``path`` holds."""
    try:
        return sum(1 for h in our_hooks(path) if h.get("type") == "mcp_tool")
    except ValueError:
        return 0


def settings_path(scope: Literal["project", "local", "user"], project_dir: Path | None = None) -> Path:
    """``project``: the settings a team commits; ``local``: this machine's, for this project
    (Claude Code's settings.local.json, not committed); ``user``: every project of this user."""
    base = Path.home() if scope == "user" else (project_dir or Path.cwd())
    return base / ".claude" / ("settings.local.json" if scope == "local" else "settings.json")


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
    if before == after:
        return ""  # nothing to change (a missing file stays missing)
    old = json.dumps(before, indent=2, sort_keys=False).splitlines(keepends=True) if before else []
    new = json.dumps(after, indent=2, sort_keys=False).splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(old, new, str(path), str(path)))
    if not dry_run and before != after:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(after, indent=2) + "\n")
        tmp.replace(path)
    return diff


def on_path(transport: Transport = "guard") -> bool:
    """Whether the program the hooks run is on PATH as the very one installed here: then
    settings can name it without this machine's path (and a team can commit them)."""
    name = CLIENT if transport == "guard" else "task-orchestrator"
    found, here = shutil.which(name), _beside_python(name)
    return bool(found and here and Path(found).resolve() == here.resolve())


def install(
    path: Path, transport: Transport = "guard", *, dry_run: bool = False, portable: bool = False
) -> str:
    """Merge our entries (replacing any earlier ones of ours); returns the diff. ``portable``:
    name the hook programs, found on PATH, instead of their absolute paths."""
    before = _load(path)
    after = _without_ours(before)
    hooks = after.setdefault("hooks", {})
    for event, groups in hook_entries(transport, portable).items():
        hooks.setdefault(event, []).extend(groups)
    return _write(path, before, after, dry_run)


def uninstall(path: Path, *, dry_run: bool = False) -> str:
    before = _load(path)
    return _write(path, before, _without_ours(before), dry_run)
