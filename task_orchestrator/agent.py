"""Claude Code sessions as the work of guarded tasks: unattended, with a human in the loop.

``claude -p`` turns every "ask" of the gate into a plain denial: nobody is there to answer.
In a session the orchestrator drives, the PreToolUse hook answers ``defer`` instead
(``agent_gate``): the client stops with the call unrun (``stop_reason: "tool_deferred"``),
the graph waits at ``interrupt()`` with the tool, its exact input and the gate's reasons, and
a decision from any process (``approvals approve|reject THREAD``, ``resume_task``,
``Command(resume=...)``) is stored as a *grant* bound to the session and the input's hash.
``claude -p --resume`` then fires the hook again for the same call, which takes the grant:
approved, the call runs once; edited, it runs with the edited input (``updatedInput``);
rejected, the model gets a denial with the reviewer's note.

The tables (``agent`` store in the data directory, or the shared Postgres):
``agent_sessions`` (which sessions are the orchestrator's, and their threads),
``agent_deferrals`` (what the hook deferred: the gate's level and reasons for the approval
request) and ``agent_grants`` (decisions, each used once).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from task_orchestrator._db import Database, SqliteDatabase, SqlStore, Transaction, open_database
from task_orchestrator.errors import ConfigurationError
from task_orchestrator.hooks import decision_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from task_orchestrator.hooks import HookConfig
    from task_orchestrator.settings import Settings

__all__ = [
    "AGENT_TOOLS",
    "AgentStore",
    "ClaudeTurn",
    "agent_decision",
    "agent_gate",
    "claude_binary",
    "input_hash",
    "run_claude",
]

#: The tools an unattended session may use. None is pre-allowed (``--allowedTools``): each call
#: runs on the hook's explicit "allow" after the gate judged it, so a hook that fails, hangs or
#: is missing leaves the call denied. TodoWrite, which touches nothing, is the exception.
AGENT_TOOLS = frozenset(
    {"Bash", "Read", "Edit", "Write", "MultiEdit", "NotebookEdit", "Glob", "Grep", "TodoWrite"}
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_sessions (
    session_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    workspace TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_deferrals (
    session_id TEXT PRIMARY KEY,
    tool_name TEXT NOT NULL,
    input TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_grants (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    decision TEXT NOT NULL,
    updated_input TEXT,
    note TEXT,
    by_whom TEXT,
    created REAL NOT NULL,
    used REAL,
    tool_use_id TEXT
);
"""


def input_hash(tool_name: str, tool_input: dict[str, Any]) -> str:
    """The identity of one tool call's exact input: an approval is bound to it."""
    canonical = json.dumps([tool_name, tool_input], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AgentStore(SqlStore):
    def __init__(self, where: Database | Path | str, *, readonly: bool = False) -> None:
        super().__init__(where, _SCHEMA, readonly=readonly)

    @classmethod
    def for_settings(cls, settings: Settings) -> AgentStore:
        return cls(open_database(settings, "agent"))

    @classmethod
    def for_hook(cls, config: HookConfig) -> AgentStore | None:
        """The store a hook reads, or None when no agent session was ever started here."""
        if config.postgres_url:
            from task_orchestrator._db import PostgresDatabase

            return cls(PostgresDatabase(config.postgres_url, "agent"))
        path = config.data_dir / "agent.sqlite"
        return cls(SqliteDatabase(path)) if path.exists() else None

    # -- sessions ------------------------------------------------------------------------------
    def register(self, session_id: str, thread_id: str, workspace: str) -> None:
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "INSERT INTO agent_sessions (session_id, thread_id, workspace, created) VALUES (?,?,?,?) "
                "ON CONFLICT(session_id) DO NOTHING",
                (session_id, thread_id, workspace, time.time()),
            )

    def thread_of(self, session_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT thread_id FROM agent_sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def is_agent_thread(self, thread_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM agent_sessions WHERE thread_id = ?", (thread_id,)
            ).fetchone()
        return row is not None

    # -- what the hook deferred ------------------------------------------------------------------
    def deferred(self, session_id: str, tool_name: str, tool_input: dict[str, Any], reason: str) -> None:
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "INSERT INTO agent_deferrals (session_id, tool_name, input, input_hash, reason, created) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(session_id) DO UPDATE SET tool_name=excluded.tool_name, "
                "input=excluded.input, input_hash=excluded.input_hash, reason=excluded.reason, "
                "created=excluded.created",
                (
                    session_id,
                    tool_name,
                    json.dumps(tool_input, sort_keys=True, default=str),
                    input_hash(tool_name, tool_input),
                    reason,
                    time.time(),
                ),
            )

    def last_deferral(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT tool_name, input, input_hash, reason FROM agent_deferrals WHERE session_id = ?",
                (session_id,),
            ).fetchone()
        if row is None:
            return None
        return {"tool": row[0], "input": json.loads(row[1]), "input_hash": row[2], "reason": row[3]}

    # -- decisions -------------------------------------------------------------------------------
    def grant(
        self,
        session_id: str,
        hash_: str,
        decision: str,
        *,
        updated_input: dict[str, Any] | None = None,
        note: str = "",
        by: str = "",
    ) -> None:
        """Store a human's decision on one deferred call (``approve``, ``reject``, ``edit``).
        A decision already stored for the same call and not yet used is replaced."""
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "DELETE FROM agent_grants WHERE session_id = ? AND input_hash = ? AND used IS NULL",
                (session_id, hash_),
            )
            c.execute(
                "INSERT INTO agent_grants (session_id, input_hash, decision, updated_input, note, by_whom, "
                "created) VALUES (?,?,?,?,?,?,?)",
                (
                    session_id,
                    hash_,
                    decision,
                    json.dumps(updated_input) if updated_input is not None else None,
                    note,
                    by,
                    time.time(),
                ),
            )

    def take(self, session_id: str, hash_: str, tool_use_id: str = "") -> dict[str, Any] | None:
        """The unused decision on this exact call, marked used by ``tool_use_id`` (each allows
        the call once)."""
        with self._lock, Transaction(self._db) as c:
            row = c.execute(
                "SELECT id, decision, updated_input, note, by_whom FROM agent_grants "
                "WHERE session_id = ? AND input_hash = ? AND used IS NULL ORDER BY id LIMIT 1",
                (session_id, hash_),
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE agent_grants SET used = ?, tool_use_id = ? WHERE id = ?",
                (time.time(), tool_use_id, row[0]),
            )
        return {
            "decision": row[1],
            "updated_input": json.loads(row[2]) if row[2] else None,
            "note": row[3] or "",
            "by": row[4] or "",
        }

    def used(self, session_id: str, hash_: str) -> dict[str, Any] | None:
        """The approval (or edit) of this exact call already used, if one was: when, by which
        tool call, and what it allowed."""
        with self._lock:
            row = self._db.execute(
                "SELECT used, tool_use_id, decision, updated_input FROM agent_grants WHERE session_id = ? "
                "AND input_hash = ? AND used IS NOT NULL AND decision IN ('approve', 'edit') "
                "ORDER BY id DESC LIMIT 1",
                (session_id, hash_),
            ).fetchone()
        if row is None:
            return None
        return {
            "used": float(row[0]),
            "tool_use_id": row[1] or "",
            "decision": row[2],
            "updated_input": json.loads(row[3]) if row[3] else None,
        }


# -- the hook's side ------------------------------------------------------------------------------


def agent_decision(
    event: dict[str, Any], out: dict[str, Any] | None, config: HookConfig
) -> dict[str, Any] | None:
    """The PreToolUse answer in a session the orchestrator drives. The gate's deny stands; its
    ask becomes ``defer`` (or applies the human's decision on this exact call); what it lets
    through gets an explicit "allow" for the tools an agent session may use, since nothing is
    pre-allowed there. Any other tool gets no answer, which ``claude -p`` denies."""
    spec = (out or {}).get("hookSpecificOutput") or {}
    decision = spec.get("permissionDecision")
    if decision == "deny":
        return out
    if decision == "ask":
        return agent_gate(event, out, config)
    tool = str(event.get("tool_name", ""))
    if tool not in AGENT_TOOLS:
        return out
    answer = out or {"hookSpecificOutput": {"hookEventName": "PreToolUse"}}
    answer["hookSpecificOutput"]["permissionDecision"] = "allow"
    answer["hookSpecificOutput"].setdefault("permissionDecisionReason", "task-orchestrator: checked")
    return answer


def agent_gate(
    event: dict[str, Any], out: dict[str, Any] | None, config: HookConfig
) -> dict[str, Any] | None:
    """The gate's "ask" (``out``) in a session the orchestrator registered: ``defer``, or the
    human's decision on this exact call. Anything the store cannot tell keeps the ask, which
    ``claude -p`` denies."""
    session = str(event.get("session_id") or "")
    if not session:
        return out
    spec = (out or {}).get("hookSpecificOutput") or {}
    store = None
    try:
        store = AgentStore.for_hook(config)
        return out if store is None else _apply(store, session, event, spec, out)
    except Exception as exc:  # the ask stands: in `claude -p` it is a denial, never a run
        print(f"task-orchestrator: agent store unreadable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return out
    finally:
        if store is not None:
            try:
                store.close()
            except Exception:
                pass


def _apply(
    store: AgentStore, session: str, event: dict[str, Any], spec: dict[str, Any], out: dict[str, Any] | None
) -> dict[str, Any] | None:
    if store.thread_of(session) is None:
        return out
    tool = str(event.get("tool_name", ""))
    raw = event.get("tool_input")
    tool_input: dict[str, Any] = raw if isinstance(raw, dict) else {}
    hash_, call_id = input_hash(tool, tool_input), str(event.get("tool_use_id") or "")
    decision = store.take(session, hash_, call_id)
    reason = str(spec.get("permissionDecisionReason") or "")
    used = store.used(session, hash_) if decision is None else None
    if used is not None and _same_call_again(used, call_id):
        # the guard service took the approval for this very call but answered too late, and
        # this is the thin client's in-process fallback judging it again: the same answer
        decision = {
            "decision": used["decision"],
            "updated_input": used["updated_input"],
            "note": "",
            "by": "",
        }
        used = None
    if used is not None:
        # approved once already, and run (or started: the orchestrator died while it ran and
        # the resumed session asks for it again): an approval allows one execution
        return decision_json(
            "deny",
            "task-orchestrator: this exact call was approved once and has already run (or started "
            "before the orchestrator stopped); an approval allows it once. Check its effects; if it "
            "must run again, that takes a new task and a new approval.",
        )
    if decision is None:
        store.deferred(session, tool, tool_input, reason)
        return decision_json(
            "defer",
            reason + " Waiting for a human: the task shows in `task-orchestrator approvals list`.",
        )
    who = f" by {decision['by']}" if decision["by"] else ""
    note = f": {decision['note']}" if decision["note"] else ""
    if decision["decision"] == "reject":
        return decision_json(
            "deny",
            f"task-orchestrator: a human rejected this call{who}{note}. Do not retry it; take another way.",
        )
    answer = decision_json("allow", f"task-orchestrator: approved{who}{note}.")
    if decision["decision"] == "edit" and decision["updated_input"] is not None:
        answer["hookSpecificOutput"]["updatedInput"] = decision["updated_input"]
    return answer


#: How long after a service took an approval its thin client's fallback may ask for the same
#: call: the client waits 0.8 s for the service, and the client's own limit is 10 s.
_FALLBACK_WINDOW_S = 15.0


def _same_call_again(used: dict[str, Any], call_id: str) -> bool:
    """This hook is the in-process fallback of a client whose service timed out, for the call
    the service just approved (a resumed session asking again after a crash is not: it runs
    through the service, or much later)."""
    return (
        bool(call_id)
        and used["tool_use_id"] == call_id
        and os.environ.get("TASK_ORCHESTRATOR_GUARD_FALLBACK") == "timeout"
        and time.time() - used["used"] < _FALLBACK_WINDOW_S
    )


# -- driving Claude Code --------------------------------------------------------------------------


def claude_binary() -> str:
    """``CLAUDE_CODE_BIN``, else ``claude`` on PATH."""
    import shutil

    explicit = os.environ.get("CLAUDE_CODE_BIN")
    if explicit:
        return explicit
    found = shutil.which("claude")
    if found:
        return found
    raise ConfigurationError(
        "Claude Code was not found: install it (npm install -g @anthropic-ai/claude-code) or set "
        "CLAUDE_CODE_BIN to its executable"
    )


@dataclass
class ClaudeTurn:
    """One ``claude -p`` run, from its ``--output-format json`` result."""

    session_id: str
    result: str
    is_error: bool
    stop_reason: str
    cost_usd: float
    usage: dict[str, Any] = field(default_factory=dict)
    deferred: dict[str, Any] | None = None  # {id, name, input} when the hook deferred a call
    error: str = ""  # the client's own failure (API errors, a crash), when it had one
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def api_error(self) -> bool:
        """The session's API failed (overloaded, rate limited, 5xx, unreachable): a fault of the
        provider, not of the work."""
        return self.is_error and (
            self.raw.get("terminal_reason") == "api_error" or self.result.startswith("API Error")
        )


def _hook_settings(data_dir: Path) -> Path:
    """A settings file with our hooks (the guard transport), for ``--settings``."""
    import tempfile

    from task_orchestrator.hooks_install import _command, hook_entries

    path = data_dir / "agent" / "hooks.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    hooks = hook_entries("guard")
    pre = _command("agent-pre-tool-use", "guard")
    hooks["PreToolUse"] = [{"matcher": "*", "hooks": [pre]}]  # every tool: none runs unjudged
    body = json.dumps({"hooks": hooks}, indent=2)
    if not path.exists() or path.read_text() != body:
        tmp = Path(tempfile.mkstemp(dir=path.parent)[1])
        tmp.write_text(body)
        tmp.replace(path)
    return path


def _death_signal() -> Any:
    """A ``preexec_fn`` that has the child killed when the orchestrator dies (Linux's
    ``PR_SET_PDEATHSIG``), resolved here in the parent: between fork and exec the child may
    not import or take locks."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    kill = int(signal.SIGKILL)
    return lambda: prctl(1, kill)  # 1: PR_SET_PDEATHSIG


def _claude(
    prompt: str | None,
    workspace: Path,
    session_id: str,
    resume: bool,
    settings: Settings,
    allowed_tools: tuple[str, ...],
    timeout_s: float,
) -> tuple[int, str, str]:
    """Run the client once: (exit code, stdout, stderr). A turn over ``timeout_s`` is killed
    with everything it started (its process group) and reported as an error."""
    import signal
    import subprocess

    data_dir = settings.data_dir.expanduser().resolve()  # the client runs in the workspace
    cmd = [claude_binary(), "-p"]
    if prompt is not None:
        cmd.append(prompt)
    cmd += ["--output-format", "json", "--allowedTools", ",".join(allowed_tools)]
    cmd += ["--settings", str(_hook_settings(data_dir))]
    cmd += ["--resume", session_id] if resume else ["--session-id", session_id]
    env = {**os.environ, "TASK_ORCHESTRATOR_DATA_DIR": str(data_dir)}
    # API errors come back to the orchestrator, which counts them for the session's breaker
    # and waits for its probe, instead of the client retrying on its own
    env.setdefault("CLAUDE_CODE_MAX_RETRIES", "0")
    for var in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"):  # a nested session is refused
        env.pop(var, None)
    proc = subprocess.Popen(
        cmd,
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,  # never the orchestrator's own stdin (the MCP server's pipe)
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_death_signal(),
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return -9, "", f"the turn ran over {timeout_s:.0f} s and was stopped with what it had started"
    return proc.returncode, out, err


def run_claude(
    prompt: str | None,
    *,
    workspace: Path,
    session_id: str,
    resume: bool,
    settings: Settings,
    allowed_tools: tuple[str, ...] = ("TodoWrite",),
    timeout_s: float = 3600.0,
) -> ClaudeTurn:
    """One turn of a headless session: a new one (``--session-id``) or ``--resume`` (with no
    prompt: the deferred call is asked for again). A "new" session that already exists (the
    orchestrator died after starting it) is resumed instead.

    The client runs in its own process group and is killed with the orchestrator
    (``PR_SET_PDEATHSIG``), so no turn goes on unwatched (a tool command it had started may
    finish on its own). Recovery resumes the session from its transcript; an approval already
    used stays used."""
    code, stdout, stderr = _claude(prompt, workspace, session_id, resume, settings, allowed_tools, timeout_s)
    if not resume and "is already in use" in stderr:
        code, stdout, stderr = _claude(
            prompt, workspace, session_id, True, settings, allowed_tools, timeout_s
        )
    try:
        data = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict) or "session_id" not in data:
        return ClaudeTurn(
            session_id,
            "",
            True,
            "error",
            0.0,
            error=(stderr or stdout or f"exit {code}").strip()[-1000:],
        )
    return ClaudeTurn(
        session_id=str(data.get("session_id") or session_id),
        result=str(data.get("result") or ""),
        is_error=bool(data.get("is_error")),
        stop_reason=str(data.get("stop_reason") or data.get("terminal_reason") or ""),
        cost_usd=float(data.get("total_cost_usd") or 0.0),
        usage=data.get("usage") or {},
        deferred=data.get("deferred_tool_use"),
        error=str(data.get("result") or "") if data.get("is_error") else "",
        raw=data,
    )
