"""Claude Code hooks: PreToolUse (deny/ask/allow), PostToolUse (learn), Stop (claims).

The ``command`` transport (``task-orchestrator hook pre-tool-use``) starts a Python process
per tool call, so this module imports only the standard library and the light parts of
the memory (exact-hash table, normalisation, risk rules): no pydantic, numpy or Chroma.
It checks exact repeats and the risk rules; the ``mcp_tool`` transport (the running MCP
server) adds similarity search. Fail-safe: if the store cannot be read, routine actions
are allowed with a warning on stderr, and what the rules call critical is still denied.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .memory._rules import RISK_ORDER, combine, decision_for, rule_level
from .memory._table import FailureTable, prepare
from .memory.normalize import signature

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HookConfig", "action_of_tool", "decision_json", "main", "outside_workspace",
           "post_tool_use", "pre_tool_use", "stop", "target_risk"]

WRITE_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")


class HookConfig:
    """What the hooks need from the settings, read from the same environment variables."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        p = "TASK_ORCHESTRATOR_"
        self.data_dir = Path(env.get(p + "DATA_DIR") or "~/.task-orchestrator").expanduser()
        self.ask_at = env.get(p + "ASK_AT_RISK", "high")
        self.deny_at = env.get(p + "DENY_AT_RISK", "critical")
        self.project = env.get(p + "PROJECT", "default")
        self.postgres_url = env.get(p + "POSTGRES_URL") or None
        if self.ask_at not in RISK_ORDER or self.deny_at not in RISK_ORDER:
            raise ValueError("TASK_ORCHESTRATOR_ASK_AT_RISK/DENY_AT_RISK must be one of "
                             f"{', '.join(RISK_ORDER)}")

    @property
    def db(self) -> Path:
        return self.data_dir / "memory.sqlite"

    def open_store(self, *, create: bool = False) -> FailureTable | None:
        if self.postgres_url:  # a team's shared memory
            from ._sqlite import PostgresDatabase

            return FailureTable(PostgresDatabase(self.postgres_url, "memory"))
        if not create and not self.db.exists():
            return None
        return FailureTable(self.db)


OWN_TOOLS = "mcp__task-orchestrator__"
_COMMAND_KEYS = ("command", "cmd", "script", "shell", "sql", "statement")


def action_of_tool(tool_name: str, tool_input: dict[str, Any]) -> tuple[str, str, str]:
    """(action for the memory, its kind, text for the risk rules) of a Claude Code tool call.

    The rules judge what would execute: a Bash command, a write's target path, or the
    command-like arguments of an MCP tool (not free text such as a search query).
    """
    if tool_name == "Bash":
        cmd = str(tool_input.get("command", ""))
        return cmd, "command", cmd
    args = json.dumps(tool_input, sort_keys=True, default=str)
    if tool_name in WRITE_TOOLS:
        path = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
        risk_text = f"> {path}"
    else:
        risk_text = "\n".join(str(tool_input[k]) for k in _COMMAND_KEYS
                              if isinstance(tool_input.get(k), str))
    return f"{tool_name} {args}", "tool_call", risk_text


def outside_workspace(tool_name: str, tool_input: dict[str, Any], cwd: str | None) -> str | None:
    if tool_name not in WRITE_TOOLS or not cwd or not os.path.isabs(cwd) or not os.path.isdir(cwd):
        return None
    path = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
    if not path:
        return None
    root = os.path.realpath(cwd)
    target = os.path.realpath(os.path.join(root, path))
    if target != root and not target.startswith(root + os.sep):
        return f"writes outside the workspace ({target})"
    return None


def target_risk(tool_name: str, tool_input: dict[str, Any], risk_text: str,
                cwd: str | None) -> tuple[str, list[str]]:
    """The rules' level for what a tool call would execute or write, and why."""
    level, reasons = rule_level(risk_text)
    outside = outside_workspace(tool_name, tool_input, cwd)
    if outside:
        reasons.append(outside)
        level = max(level, "high", key=RISK_ORDER.get)
    return level, reasons


def decision_json(decision: str, reason: str) -> dict[str, Any]:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                   "permissionDecision": decision,
                                   "permissionDecisionReason": reason}}


def pre_tool_use(event: dict[str, Any], config: HookConfig) -> dict[str, Any] | None:
    """Claude Code's decision JSON, or None to allow silently."""
    tool = str(event.get("tool_name", ""))
    if tool.startswith(OWN_TOOLS):
        return None  # the safety layer's own tools execute nothing; never block asking it
    tool_input = event.get("tool_input") or {}
    if not isinstance(tool_input, dict):
        tool_input = {"value": tool_input}
    action, kind, risk_text = action_of_tool(tool, tool_input)
    if not action.strip():
        return None
    def rules() -> tuple[str, list[str]]:  # compiled on first use: an exact hit needs none
        return target_risk(tool, tool_input, risk_text, event.get("cwd"))

    try:
        store = config.open_store()
    except Exception as exc:  # never brick the agent; the rules still apply
        _warn_unreadable(exc)
        store = None
    if store is None:
        return _rule_decision(*rules(), config)
    try:
        sig = signature(action, kind)
        hit = store.by_signature(sig)
        if hit is not None:  # an exact repeat: the cheapest, surest answer
            lesson = f" Lesson: {hit['lesson']}" if hit["lesson"] else ""
            lesson = lesson if lesson.endswith((".", "!")) else lesson + "."
            err = (hit["error"].strip().splitlines() or [hit["kind"]])[-1][:200]
            _log(store, "deny", sig, f"{tool}: exact repeat", "")
            return decision_json("deny", (
                f"task-orchestrator: this exact action failed before ({hit['count']}x): "
                f"{err}.{lesson} Try a different approach."))
        level, reasons = combine(*rules(), *store.outcomes(sig))
        out = _rule_decision(level, reasons, config)
        decided = out["hookSpecificOutput"]["permissionDecision"] if out else "allow"
        _log(store, decided, sig, f"{tool}: {', '.join(reasons)}", level)
        return out
    except Exception as exc:
        _warn_unreadable(exc)
        return _rule_decision(*rules(), config)
    finally:
        store.close()


def _log(store: FailureTable, decision: str, sig: str, detail: str, level: str) -> None:
    """Log a decision for status and the report; a failed write never changes the decision."""
    try:
        store.log_decision(decision, sig, detail, level)
    except Exception as exc:
        print(f"task-orchestrator: could not log the decision ({type(exc).__name__}: {exc})",
              file=sys.stderr)


def _warn_unreadable(exc: Exception) -> None:
    print(f"task-orchestrator: failure memory unreadable ({type(exc).__name__}: {exc}); "
          "checking risk rules only", file=sys.stderr)


def _rule_decision(level: str, reasons: list[str], config: HookConfig) -> dict[str, Any] | None:
    decision = decision_for(level, config.ask_at, config.deny_at)
    if decision == "deny":
        return decision_json("deny", f"task-orchestrator: {level} risk: {', '.join(reasons)}.")
    if decision == "ask":
        return decision_json("ask", f"task-orchestrator: {level} risk: {', '.join(reasons)}; "
                                "a human should confirm this.")
    return None


def _failure_text(event: dict[str, Any]) -> str | None:
    """The error of a failed Bash call, or None if it succeeded."""
    if event.get("hook_event_name") == "PostToolUseFailure":
        return str(event.get("error") or event.get("tool_response") or "failed")
    resp = event.get("tool_response")
    if isinstance(resp, str):
        return resp if resp.lstrip().startswith(("Exit code", "Error")) else None
    if not isinstance(resp, dict):
        return None
    code = resp.get("exit_code", resp.get("exitCode", resp.get("returncode")))
    if resp.get("is_error") or resp.get("interrupted") or (code not in (None, 0)):
        return "\n".join(str(resp.get(k) or "") for k in ("stderr", "stdout", "error")).strip() or (
            f"exit code {code}")
    return None


def post_tool_use(event: dict[str, Any], config: HookConfig) -> None:
    """Record a failing Bash call; count a success of a command that has failed before."""
    if event.get("tool_name") != "Bash":
        return
    command = str((event.get("tool_input") or {}).get("command", ""))
    if not command.strip():
        return
    error = _failure_text(event)
    sig = signature(command, "command")
    # A failing test/build/lint run is information, and re-running it after a fix is the
    # normal loop: count it for the statistics, never record it as a failure to block.
    blockable = False
    if error is not None:
        from .testruns import is_check_command

        blockable = not is_check_command(command)
    store = config.open_store(create=error is not None)
    if store is None:
        return
    try:
        if error is None:
            f, _s = store.outcomes(sig)
            if f or store.by_signature(sig):
                store.add_outcome(sig, ok=True)
            return
        if not blockable:
            store.add_outcome(sig, ok=False)
            return
        row = prepare(command, "command", error=error, kind="command_failed",
                      project=config.project, tags=["claude-code", "bash"],
                      lesson=(f"`{command[:120]}` failed in {event.get('cwd') or 'the workspace'}; "
                              "do not repeat it unchanged."))
        store.upsert(row)
        store.add_outcome(sig, ok=False)
    finally:
        store.close()


def stop(event: dict[str, Any]) -> dict[str, Any] | None:
    """Block the stop when the final message claims success that the transcript contradicts."""
    if event.get("stop_hook_active"):
        return None  # we already blocked once in this turn: do not loop
    path = event.get("transcript_path")
    if not path or not Path(path).is_file():
        return None
    from .verifiers.transcript import check_transcript

    findings = [f for f in check_transcript(path) if f.severity in ("error", "critical")]
    if not findings:
        return None
    lines = "\n".join(f"- {f.message} ({f.evidence[:200]})" for f in findings)
    return {"decision": "block",
            "reason": "task-orchestrator: your final message is contradicted by this session's "
                      f"own tool results:\n{lines}\nFix this or correct the claim before stopping."}


def main(event_name: str, stdin: Any = None, stdout: Any = None) -> int:
    """Entry point of ``task-orchestrator hook <event>``: JSON on stdin, decision on stdout."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        raw = stdin.read()
        event = json.loads(raw) if raw.strip() else {}
        if not isinstance(event, dict):
            raise ValueError("hook input must be a JSON object")
    except ValueError as exc:
        print(f"task-orchestrator: unreadable hook input ({exc}); allowing", file=sys.stderr)
        return 0
    try:
        config = HookConfig()
    except ValueError as exc:
        print(f"task-orchestrator: {exc}", file=sys.stderr)
        config = HookConfig({})
    try:
        if event_name == "pre-tool-use":
            out = pre_tool_use(event, config)
        elif event_name == "post-tool-use":
            out = None
            post_tool_use(event, config)
        elif event_name == "stop":
            out = stop(event)
        else:
            print(f"task-orchestrator: unknown hook {event_name!r}", file=sys.stderr)
            return 0
    except Exception as exc:  # a broken safety layer must not brick the agent
        print(f"task-orchestrator: hook {event_name} failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        if event_name == "pre-tool-use":  # but critical actions stay denied
            tool_input = event.get("tool_input") or {}
            text = action_of_tool(str(event.get("tool_name", "")),
                                  tool_input if isinstance(tool_input, dict) else {})[2]
            level, reasons = rule_level(text)
            if level == "critical":
                stdout.write(json.dumps(decision_json("deny", f"critical risk: {', '.join(reasons)}")))
        return 0
    if out is not None:
        stdout.write(json.dumps(out))
    return 0
