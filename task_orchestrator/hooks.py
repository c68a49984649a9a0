"""Claude Code hooks: PreToolUse (deny/ask/allow), PostToolUse (learn), Stop (claims).

One function per event (``task_orchestrator.events`` lists them), called by the guard service
for every session of a user (``task_orchestrator.guard``: the failure table kept open, the
similarity search warm) and in-process by the thin hook client's fallback when the service is
absent, slow or failing (and by ``--transport command``). The in-process path starts a Python
process per call, so this module imports only the standard library and the light parts of the
memory (exact-hash table, normalisation, risk rules): no pydantic, numpy or Chroma. Fail-safe:
if the store cannot be read, routine actions are allowed with a warning on stderr, and what the
rules call critical is still denied.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

from task_orchestrator.memory._decide import SessionState, Verdict
from task_orchestrator.memory._table import LEGACY_SESSION, FailureTable, prepare
from task_orchestrator.memory.normalize import signature
from task_orchestrator.memory.redact import redact
from task_orchestrator.risk.engine import tool_path_risk
from task_orchestrator.risk.text import RISK_ORDER, combine, decision_for, rule_level

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "HookConfig",
    "action_of_tool",
    "change_of",
    "decision_json",
    "failure_of",
    "judge",
    "learn",
    "main",
    "outside_workspace",
    "post_tool_use",
    "pre_tool_use",
    "rules_only",
    "stop",
    "target_risk",
    "verdict_json",
    "write_advice",
    "written_text",
]

WRITE_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
READ_TOOLS = ("Read", "Grep", "Glob", "LS", "WebFetch", "WebSearch", "TodoWrite", "NotebookRead")
_PATH_TOOLS = ("Read", "Grep", "Glob", "LS", "NotebookRead")


class HookConfig:
    """What the hooks need from the settings, read from the same environment variables."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        p = "TASK_ORCHESTRATOR_"
        self.data_dir = Path(env.get(p + "DATA_DIR") or "~/.task-orchestrator").expanduser()
        self.ask_at = env.get(p + "ASK_AT_RISK", "high")
        self.deny_at = env.get(p + "DENY_AT_RISK", "critical")
        self.project = env.get(p + "PROJECT", "default")
        self.approval_policy = env.get(p + "APPROVAL_POLICY", "on_risk")
        self.postgres_url = env.get(p + "POSTGRES_URL") or None
        if self.ask_at not in RISK_ORDER or self.deny_at not in RISK_ORDER:
            raise ValueError(
                f"TASK_ORCHESTRATOR_ASK_AT_RISK/DENY_AT_RISK must be one of {', '.join(RISK_ORDER)}"
            )
        if self.approval_policy not in ("on_risk", "always"):
            raise ValueError("TASK_ORCHESTRATOR_APPROVAL_POLICY must be on_risk or always")

    @classmethod
    def from_settings(cls, settings: Any) -> HookConfig:
        """The same configuration as a ``Settings`` object (the server's hook path)."""
        config = cls({})
        config.data_dir, config.project = settings.data_dir, settings.project
        config.ask_at, config.deny_at = settings.ask_at_risk, settings.deny_at_risk
        config.approval_policy = settings.approval_policy
        url = settings.postgres_url
        config.postgres_url = url.get_secret_value() if url is not None else None
        return config

    @property
    def db(self) -> Path:
        return self.data_dir / "memory.sqlite"

    def open_store(self, *, create: bool = False) -> FailureTable | None:
        if self.postgres_url:  # a team's shared memory
            from task_orchestrator._db import PostgresDatabase

            return FailureTable(PostgresDatabase(self.postgres_url, "memory"))
        if not create and not self.db.exists():
            return None
        return FailureTable(self.db)


OWN_TOOLS = "mcp__task-orchestrator__"
_COMMAND_KEYS = ("command", "cmd", "script", "shell", "sql", "statement")


def _target_path(tool_input: dict[str, Any], *, search: bool = False) -> str:
    """The file a Write/Edit/Read call touches (``search``: or the folder a Grep/Glob reads)."""
    keys = ("file_path", "notebook_path", "path") if search else ("file_path", "notebook_path")
    return str(next((tool_input[k] for k in keys if tool_input.get(k)), ""))


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
        path = _target_path(tool_input)
        risk_text = f"> {path}"
    else:
        risk_text = "\n".join(str(tool_input[k]) for k in _COMMAND_KEYS if isinstance(tool_input.get(k), str))
    return f"{tool_name} {args}", "tool_call", risk_text


def outside_workspace(tool_name: str, tool_input: dict[str, Any], cwd: str | None) -> str | None:
    if tool_name not in WRITE_TOOLS or not cwd or not os.path.isabs(cwd) or not os.path.isdir(cwd):
        return None
    path = _target_path(tool_input)
    if not path:
        return None
    root = os.path.realpath(cwd)
    target = os.path.realpath(os.path.join(root, path))
    if target != root and not target.startswith(root + os.sep):
        return f"writes outside the workspace ({target})"
    return None


def target_risk(
    tool_name: str, tool_input: dict[str, Any], risk_text: str, cwd: str | None
) -> tuple[str, list[str]]:
    """The rules' level for what a tool call would execute, read or write, and why.

    A Bash command is parsed and judged by what would run, started in ``cwd``; Read, Grep,
    Glob, Write and Edit calls by the path they touch (credentials, system files, start-up
    files, outside the workspace).
    """
    if tool_name in WRITE_TOOLS or tool_name in _PATH_TOOLS:
        found = tool_path_risk(tool_name, _target_path(tool_input, search=True), cwd)
        level = max((f[0] for f in found), key=RISK_ORDER.__getitem__, default="low")
        reasons = [f[1] for f in found]
    else:
        level, reasons = rule_level(risk_text, cwd=cwd)
    outside = outside_workspace(tool_name, tool_input, cwd)
    if outside:
        reasons.append(outside)
        level = max(level, "high", key=RISK_ORDER.__getitem__)
    return level, reasons


def decision_json(decision: str, reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }


def change_of(tool: str, tool_input: dict[str, Any], action: str) -> str | None:
    """What a tool call may change, in words, or None if it is known to be read-only."""
    if tool == "Bash":
        from task_orchestrator.memory._shell import may_change

        return action if may_change(action) else None
    if tool in WRITE_TOOLS:
        return f"{tool} {_target_path(tool_input)}".strip()
    if tool in READ_TOOLS or tool.startswith(OWN_TOOLS):
        return None
    return tool  # anything else (an MCP tool, a subagent) may change something


def judge(
    tool: str,
    tool_input: dict[str, Any],
    *,
    session: str,
    cwd: str,
    config: HookConfig,
    store: FailureTable,
    similar: Any = None,
) -> Verdict:
    """The decision for one tool call from the stored failures and the session's state (the
    one place both hook transports decide; ``similar(action, kind, workspace)`` adds the
    server's similarity matches). Advances the session unless the call is denied, and logs
    the decision for status and the report."""
    from task_orchestrator.memory._decide import decide, load_predictor, workspace_fingerprint, workspace_root

    action, kind, risk_text = action_of_tool(tool, tool_input)
    workspace = workspace_root(cwd) if cwd and os.path.isabs(cwd) else ""
    sig = signature(action, kind)
    hit = store.exact(sig, workspace)
    failures, successes = store.outcomes(sig)

    def risk() -> tuple[str, list[str]]:
        return combine(*target_risk(tool, tool_input, risk_text, cwd or None), failures, successes)

    steps, changes, last_change = store.session(session) if session else (0, 0, "")
    state = SessionState(session, steps=steps, changes=changes, last_change=last_change, cwd=cwd)
    verdict = decide(
        action=redact(action),
        risk=risk,
        exact=hit,
        similar=(lambda: similar(action, kind, workspace)) if similar is not None else [],
        state=state,
        ask_at=config.ask_at,
        deny_at=config.deny_at,
        approval_policy=config.approval_policy,
        successes_after=successes,
        predictor=load_predictor,  # read only when a match needs it
        fingerprint=lambda: workspace_fingerprint(workspace, exclude=(str(config.data_dir),)),
    )
    verdict.context.extend(write_advice(tool, tool_input, cwd))
    if session and verdict.decision != "deny":
        store.step(session, change=change_of(tool, tool_input, action))
    _log(store, verdict.decision, sig, f"{tool}: {'; '.join(verdict.reasons)}", verdict.level)
    return verdict


_PYTHON_FILE = re.compile(r"\.(?:py|pyi|pyw)$")


def written_text(tool: str, tool_input: dict[str, Any]) -> str:
    """The text a Write/Edit/MultiEdit/NotebookEdit call puts into a file."""
    if tool == "Write":
        return str(tool_input.get("content") or "")
    if tool == "Edit":
        return str(tool_input.get("new_string") or "")
    if tool == "MultiEdit":
        edits = tool_input.get("edits") or []
        return "\n".join(str(e.get("new_string") or "") for e in edits if isinstance(e, dict))
    if tool == "NotebookEdit" and tool_input.get("cell_type", "code") == "code":
        return str(tool_input.get("new_source") or "")
    return ""


def write_advice(tool: str, tool_input: dict[str, Any], cwd: str) -> list[str]:
    """Advice for the model on the packages a Python file it writes imports: hallucinated,
    typosquatted or missing from the environment. Never blocks the write (the module it
    imports may be the next file the agent writes)."""
    path = _target_path(tool_input)
    if tool not in WRITE_TOOLS or not (_PYTHON_FILE.search(path) or path.endswith(".ipynb")):
        return []
    text = written_text(tool, tool_input)
    if "import" not in text:
        return []
    try:
        return _import_advice(path, text, cwd)
    except Exception as exc:  # advice is optional: the decision stands without it
        print(f"task-orchestrator: package check failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        return []


def _import_advice(path: str, text: str, cwd: str) -> list[str]:
    from task_orchestrator.packages import check_imports

    root = cwd if cwd and os.path.isabs(cwd) and os.path.isdir(cwd) else None
    folder = os.path.dirname(os.path.join(root or "", path))
    siblings = {f[:-3] for f in os.listdir(folder) if f.endswith(".py")} if os.path.isdir(folder) else set()
    out = []
    for v in check_imports(f"```python\n{text}\n```", root, skip=siblings):
        if v.severity in ("error", "warning"):
            hint = v.suggestion()
            out.append(f"{path}: {v.message()}" + (f"; {hint}" if hint else ""))
    return out


def verdict_json(verdict: Verdict) -> dict[str, Any] | None:
    """Claude Code's PreToolUse output: a decision with its reason, advice as
    ``additionalContext`` (the call runs and the model reads it), or None."""
    context = " ".join(f"task-orchestrator: {c}" for c in verdict.context)
    if verdict.decision == "allow":
        if not context:
            return None
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": context}}
    reason = "; ".join(verdict.reasons)
    if verdict.decision == "ask" and verdict.sources == {"rules"}:
        reason += "; a human should confirm this"
    out = decision_json(verdict.decision, f"task-orchestrator: {reason}.".replace("..", "."))
    if context:
        out["hookSpecificOutput"]["additionalContext"] = context
    return out


def pre_tool_use(
    event: dict[str, Any], config: HookConfig, store: FailureTable | None = None, similar: Any = None
) -> dict[str, Any] | None:
    """Claude Code's decision JSON, or None to allow silently. ``store``: a failure table the
    caller keeps open (the guard service); by default one is opened for this call.
    ``similar(action, kind, workspace)``: past failures near the action (the service, once its
    similarity search is loaded)."""
    tool = str(event.get("tool_name", ""))
    if tool.startswith(OWN_TOOLS):
        return None  # the safety layer's own tools execute nothing; never block asking it
    tool_input = event.get("tool_input") or {}
    if not isinstance(tool_input, dict):
        tool_input = {"value": tool_input}
    if not action_of_tool(tool, tool_input)[0].strip():
        return None
    session, cwd = str(event.get("session_id") or ""), str(event.get("cwd") or "")
    owned = store is None
    if owned:
        try:
            store = config.open_store(create=bool(session))
        except Exception as exc:  # never brick the agent; the rules still apply
            _warn_unreadable(exc)
            store = None
    if store is None:
        return rules_only(tool, tool_input, cwd, config)
    try:
        verdict = judge(
            tool, tool_input, session=session, cwd=cwd, config=config, store=store, similar=similar
        )
        return verdict_json(verdict)
    except Exception as exc:
        _warn_unreadable(exc)
        return rules_only(tool, tool_input, cwd, config)
    finally:
        if owned:
            store.close()


def _log(store: FailureTable, decision: str, sig: str, detail: str, level: str) -> None:
    """Log a decision for status and the report; a failed write never changes the decision."""
    try:
        store.log_decision(decision, sig, detail, level)
    except Exception as exc:
        print(f"task-orchestrator: could not log the decision ({type(exc).__name__}: {exc})", file=sys.stderr)


def _warn_unreadable(exc: Exception) -> None:
    print(
        f"task-orchestrator: failure memory unreadable ({type(exc).__name__}: {exc}); "
        "checking risk rules only",
        file=sys.stderr,
    )


def rules_only(tool: str, tool_input: dict[str, Any], cwd: str, config: HookConfig) -> dict[str, Any] | None:
    """The decision JSON from the risk rules alone (the memory is unreadable or failed)."""
    risk_text = action_of_tool(tool, tool_input)[2]
    out = _rule_decision(*target_risk(tool, tool_input, risk_text, cwd or None), config)
    advice = write_advice(tool, tool_input, cwd)
    if advice:
        out = out or {"hookSpecificOutput": {"hookEventName": "PreToolUse"}}
        out["hookSpecificOutput"]["additionalContext"] = " ".join(f"task-orchestrator: {a}" for a in advice)
    return out


def _rule_decision(level: str, reasons: list[str], config: HookConfig) -> dict[str, Any] | None:
    decision = decision_for(level, config.ask_at, config.deny_at)
    if decision == "deny":
        return decision_json("deny", f"task-orchestrator: {level} risk: {', '.join(reasons)}.")
    if decision == "ask":
        return decision_json(
            "ask", f"task-orchestrator: {level} risk: {', '.join(reasons)}; a human should confirm this."
        )
    if config.approval_policy == "always":
        return decision_json("ask", "task-orchestrator: approval policy is 'always'.")
    return None


_EXIT = re.compile(r"^\s*Exit code (-?\d+)\n?")
# The client's own errors: the command never ran (a sibling call failed, the user stopped it
# or refused it), so nothing about the command is learned from them.
_NOT_RUN = re.compile(
    r"Sibling tool call errored|Request interrupted|interrupted by user|"
    r"doesn't want to proceed|user rejected|Permission to use \w+ .*denied|"
    r"blocked by (?:a )?hook|PreToolUse:\w+ hook",
    re.IGNORECASE,
)


def failure_of(event: dict[str, Any]) -> tuple[int | None, str] | None:
    """(exit code, error text) of a failed Bash call, or None if it succeeded."""
    if event.get("hook_event_name") == "PostToolUseFailure":
        if event.get("is_interrupt"):
            return None
        text = str(event.get("error") or event.get("tool_response") or "failed")
        m = _EXIT.match(text)
        if not m and _NOT_RUN.search(text[:300]):
            return None
        return (int(m.group(1)) if m else None), text
    resp = event.get("tool_response")
    if isinstance(resp, str):
        m = _EXIT.match(resp)
        if m or resp.lstrip().startswith("Error"):
            return (int(m.group(1)) if m else None), resp
        return None
    if not isinstance(resp, dict):
        return None
    code = resp.get("exit_code", resp.get("exitCode", resp.get("returncode")))
    if resp.get("interrupted") and code in (None, 0):
        return None  # stopped by the user or a timeout: not the command's own failure
    if resp.get("is_error") or (code not in (None, 0)):
        text = "\n".join(str(resp.get(k) or "") for k in ("stdout", "stderr", "error")).strip()
        return (int(code) if isinstance(code, int) else None), text or f"exit code {code}"
    return None


_LESSONS = {
    "environment": "the environment lacks what it needs; check the tool, option, package or "
    "path before running it again",
    "code": "the code under work failed; run it again after a change meant to fix that",
    "other": "it fails as it is; do not repeat it unchanged",
}


def learn(event: dict[str, Any], store: FailureTable, project: str = "default", data_dir: str = "") -> None:
    """PostToolUse / PostToolUseFailure of a Bash call: remember a failure with what it
    depended on (session step, working directory, workspace fingerprint, failure class), or
    count a success of a command that failed before."""
    tool_input = event.get("tool_input")
    command = str(tool_input.get("command", "")) if isinstance(tool_input, dict) else ""
    if event.get("tool_name") != "Bash" or not command.strip():
        return
    from task_orchestrator.memory._decide import workspace_fingerprint, workspace_root
    from task_orchestrator.memory._failures import failure_class, outcome_key

    cwd = str(event.get("cwd") or "")
    workspace = workspace_root(cwd) if cwd and os.path.isabs(cwd) else ""
    sig = signature(command, "command")
    failed = failure_of(event)
    if failed is None:
        if event.get("hook_event_name") == "PostToolUseFailure":
            return  # the client's own error: the command did not run
        if store.outcomes(sig)[0] or store.exact(sig, workspace) is not None:
            store.add_outcome(sig, ok=True)
        return
    code, error = failed
    cls = failure_class(command, code, error)
    session = str(event.get("session_id") or "")
    steps, changes, _ = store.session(session) if session else (0, 0, "")
    session = session or LEGACY_SESSION  # learned, so never a standing rule
    # Environment lessons are shared by every workspace; the rest stays with its workspace.
    scope = "" if cls == "environment" else workspace
    row = prepare(
        command,
        "command",
        error=error,
        kind="command_failed",
        project=project,
        tags=["claude-code", "bash", cls],
        lesson=_LESSONS[cls],
        workspace=scope,
        failure_class=cls,
        session=session,
        steps_at=steps,
        changes_at=changes,
        cwd=cwd,
        fingerprint=workspace_fingerprint(workspace, exclude=(data_dir,)),
        outcome=outcome_key(code, _EXIT.sub("", error, count=1)),
    )
    store.upsert(row)
    store.add_outcome(sig, ok=False)  # statistics per command, whatever its scope


def post_tool_use(event: dict[str, Any], config: HookConfig, store: FailureTable | None = None) -> None:
    """Record a failing Bash call; count a success of a command that has failed before.
    ``store``: a failure table the caller keeps open; by default one is opened for this call."""
    if event.get("tool_name") != "Bash":
        return
    table = store if store is not None else config.open_store(create=failure_of(event) is not None)
    if table is None:
        return
    try:
        learn(event, table, config.project, str(config.data_dir))
    finally:
        if store is None:  # opened here for this call
            table.close()


def _last_tool_line(session: Any) -> int:
    """The transcript line of the last tool call's result (or of the call, if it has none)."""
    return max((c.result_line or c.line for c in session.calls), default=0)


def stop(event: dict[str, Any]) -> dict[str, Any] | None:
    """Block the stop when the final message claims success that the transcript contradicts."""
    if event.get("stop_hook_active"):
        return None  # we already blocked once in this turn: do not loop
    path = event.get("transcript_path")
    if not path or not Path(path).is_file():
        return None
    from task_orchestrator.verifiers.transcript import check_transcript, read_transcript

    session = read_transcript(path)  # once: a long session's transcript is megabytes
    # The client writes its transcript in batches: when the hook runs (at once through the
    # server), the turn's last tool results and final message may not be in it yet. Newer
    # clients hand the final message over as a field: until the transcript ends with it, it
    # is read again shortly; without the field, while its last text precedes its last tool
    # result (a turn's final message comes after its tool results).
    final = event.get("last_assistant_message")
    final = final.strip() if isinstance(final, str) and not final.startswith("${") else ""
    deadline = time.monotonic() + 1.0  # at most 1 s, only while it looks stale
    size = os.path.getsize(path)
    while time.monotonic() < deadline:
        if final:
            if session.final_text.strip() == final:
                break
        elif session.final_line > _last_tool_line(session):
            break
        time.sleep(0.01)  # the client's next write comes within tens of ms: seen at once
        if os.path.getsize(path) != size:  # read again only what has grown
            size = os.path.getsize(path)
            session = read_transcript(path)
    if final and final != session.final_text.strip():
        session.final_text = final
        session.final_line = max(session.final_line, _last_tool_line(session)) + 1
    found = check_transcript(session)
    findings = [f for f in found if f.severity in ("error", "critical")]
    if not findings:
        try:  # a reviewer's notes on the change: for the user, never a block
            from task_orchestrator.verifiers.review import review_transcript

            found += review_transcript(session, str(event.get("cwd") or "") or None)
        except Exception as exc:
            print(f"task-orchestrator: review failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        notes = [f"- {f.message}; {f.suggestion}" for f in found if f.severity == "warning"]
        return {"systemMessage": "task-orchestrator:\n" + "\n".join(notes)} if notes else None
    lines = "\n".join(f"- {f.message} ({(f.evidence or f.suggestion)[:200]})" for f in findings)
    packages = all(f.code.startswith("package_") for f in findings)
    what = "the package registry" if packages else "this session's own tool results"
    return {
        "decision": "block",
        "reason": f"task-orchestrator: your final message is contradicted by {what}:\n"
        f"{lines}\nFix this or correct the claim before stopping.",
    }


def main(event_name: str, stdin: Any = None, stdout: Any = None) -> int:
    """Entry point of ``task-orchestrator hook <event>``: JSON on stdin, decision on stdout,
    judged in this process. The thin client (``task-orchestrator-hook``) comes here when the
    guard service cannot answer, and says why in ``TASK_ORCHESTRATOR_GUARD_FALLBACK``: the
    fallback is logged and the service started for the next call."""
    from task_orchestrator.events import EVENTS, config_from_env, handle, read_event

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if event_name not in EVENTS:
        print(f"task-orchestrator: unknown hook {event_name!r} (one of {', '.join(EVENTS)})", file=sys.stderr)
        return 0
    try:
        event = read_event(stdin.read())
    except ValueError as exc:
        print(f"task-orchestrator: unreadable hook input ({exc}); allowing", file=sys.stderr)
        return 0
    config = config_from_env()
    out = handle(event_name, event, config)
    if out is not None:
        stdout.write(json.dumps(out))
        stdout.flush()
    reason = os.environ.get("TASK_ORCHESTRATOR_GUARD_FALLBACK")
    if reason:
        _after_fallback(config, event_name, reason)
    return 0


def _after_fallback(config: HookConfig, event_name: str, reason: str) -> None:
    """Log why the thin client judged in-process, and start the service for the next call."""
    from task_orchestrator import guard_client

    try:
        store = config.open_store(create=True)
        if store is not None:
            try:
                store.log_event("fallback", "", f"{event_name}: {reason[:200]}")
            finally:
                store.close()
    except Exception as exc:
        print(f"task-orchestrator: could not log the fallback ({type(exc).__name__}: {exc})", file=sys.stderr)
    if reason.split(":")[0] != "busy":
        try:
            guard_client.spawn_soon(config.data_dir)
        except Exception as exc:
            print(f"task-orchestrator: could not start the guard service ({exc})", file=sys.stderr)
