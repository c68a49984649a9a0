"""The MCP server: task-orchestrator's tools for Claude Code (official SDK, stdio).

Thin: every tool calls ``Service`` (graphs/, nodes/, memory/ do the work). The tools are
module-level functions that take ``Context[AppState]``: the state the lifespan opens once per
server. They are plain functions, which the SDK runs in worker threads, except ``run_task``,
which reports progress. Heavy imports happen on first use, so ``initialize`` answers as fast
as a bare server.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import Tool, ToolAnnotations
from pydantic import BaseModel, Field

from task_orchestrator.literals import ActionKind, ApprovalChoice, Decision

log = logging.getLogger("task_orchestrator.mcp")

if TYPE_CHECKING:
    from task_orchestrator.hooks import HookConfig
    from task_orchestrator.memory._table import FailureTable
    from task_orchestrator.service import Service
    from task_orchestrator.settings import Settings

__all__ = ["AppState", "build_server", "main"]

Text = Annotated[str, Field(min_length=1, max_length=20_000)]
_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


class _Out(BaseModel):
    """A tool's structured result (its schema compacted in tools/list, see ``_compact``)."""


class MatchOut(_Out):
    id: str
    action: str
    error: str
    lesson: str
    count: int
    distance: float
    exact: bool


class CheckResult(_Out):
    decision: Decision
    reasons: list[str]
    advice: list[str]
    risk_level: str
    matches: list[MatchOut]
    degraded: bool


class FindingOut(_Out):
    verifier: str
    severity: str
    message: str
    evidence: str = ""
    suggestion: str = ""
    code: str = ""


class VerifyResult(_Out):
    passed: bool
    findings: list[FindingOut]


class TaskResult(_Out):
    thread_id: str
    status: str
    output: Any = None
    error: str = ""
    findings: list[dict[str, Any]] = Field(default_factory=list)  # as in verify_output
    cost: list[dict[str, Any]] = Field(default_factory=list)
    approval_request: dict[str, Any] | None = None


class RecordResult(_Out):
    id: str
    count: int
    action: str


class Approval(_Out):
    thread_id: str
    action: str
    why: list[str]
    created: float


class BreakerOut(_Out):
    provider: str
    state: str
    failures: int
    opened_at: float | None
    last_error: str | None
    retry_in_s: float | None


class BudgetOut(_Out):
    spent_today_usd: float
    daily_budget_usd: float | None
    task_budget_usd: float | None


class MemoryOut(_Out):
    failures: int
    cap: int
    shared_lessons: int
    workspace_failures: int
    workspaces: int


class EventOut(_Out):
    ts: float
    event: str
    signature: str
    detail: str
    level: str


class StatusResult(_Out):
    breakers: list[BreakerOut]
    budget: BudgetOut
    memory: MemoryOut
    recent_blocks: list[EventOut]
    pending_approvals: int
    data_dir: str


def _matches(matches) -> list[MatchOut]:
    return [
        MatchOut(
            id=m.record.id,
            action=m.record.action,
            error=m.record.error[-500:],
            lesson=m.record.lesson,
            count=m.record.count,
            distance=round(m.distance, 4),
            exact=m.exact,
        )
        for m in matches
    ]


def _findings(findings) -> list[FindingOut]:
    return [FindingOut(**(f if isinstance(f, dict) else f.model_dump())) for f in findings]


def _task_result(r: dict[str, Any]) -> TaskResult:
    return TaskResult(
        thread_id=r["thread_id"],
        status=r.get("status", "unknown"),
        output=r.get("output"),
        error=r.get("error", ""),
        findings=[f.model_dump() for f in _findings(r.get("findings", []))],
        cost=r.get("cost", []),
        approval_request=r.get("approval_request"),
    )


# Destructive/idempotent hints only mean something for tools that write.
READ = ToolAnnotations(read_only_hint=True)


_EARLY = (
    "similarity search is still loading: this call was checked for exact repeats and by the risk rules only"
)


class _Readiness:
    """Whether the hooks take the full path (the service: exact, rules and similarity) or the
    light one (the failure table and the rules, as the command hook: no model, no Chroma).

    Light until the similarity search is loaded, which happens in the background: at start-up
    when the memory holds any failure, else once the first failure is learned. An empty
    memory has nothing to compare with, so a session that records no failure never pays for
    the model (~1.2 s of CPU on these 2 cores, next to the client)."""

    def __init__(self, enabled: bool, load, config, store) -> None:
        self.enabled = enabled
        self._load, self._config = load, config  # load(): the service, with similarity warm
        self._store = store  # store(): the failure table kept open, or None if there is none yet
        self._ready = threading.Event()
        self._loader: threading.Thread | None = None
        self._lock = threading.Lock()
        if not enabled:
            self._ready.set()

    @property
    def full(self) -> bool:
        return self._ready.is_set()

    @property
    def loading(self) -> bool:
        return self._loader is not None and self._loader.is_alive()

    def start(self) -> None:
        """At start-up: the rules and parser now; the similarity search if failures exist."""
        threading.Thread(target=self._start, name="warm-up", daemon=True).start()

    def _start(self) -> None:
        try:
            from task_orchestrator.memory._rules import rule_level

            self._config()  # the settings, read once
            rule_level("cd /tmp && ls -la | head -n 3")  # parser and rule tables, compiled
            if self.stored_failures():
                self.load_soon()
        except Exception as exc:  # the light path still answers; the full one loads on demand
            log.warning("warm-up failed (%s: %s)", type(exc).__name__, exc)

    def stored_failures(self) -> bool:
        store = self._store()
        return store is not None and not store.empty()

    def load_soon(self) -> None:
        with self._lock:
            if self._loader is not None or self.full:
                return
            self._loader = threading.Thread(target=self._load_all, name="similarity-warm-up", daemon=True)
            self._loader.start()

    def _load_all(self) -> None:
        try:
            self._load()
        except Exception as exc:
            log.warning(
                "loading the similarity search failed (%s: %s); checks stay on exact repeats and rules",
                type(exc).__name__,
                exc,
            )
            return
        self._ready.set()


@dataclass
class AppState:
    """What the tools share for the server's lifetime: the lifespan's result.

    The service (LangGraph, the stores, the embedding model) opens on the first tool that
    needs it, or in the background when ``warm_up``; the hooks' configuration is read once.
    """

    settings: Settings | None
    service_kwargs: dict[str, Any]
    warm_up: bool
    ready: _Readiness = field(init=False)
    _service: Service | None = field(default=None, init=False)
    _hook_config: HookConfig | None = field(default=None, init=False)
    _hook_store: FailureTable | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.ready = _Readiness(
            self.warm_up, lambda: self.service().warm_up(), self.hook_config, self.hook_store
        )

    def service(self) -> Service:
        with self._lock:
            if self._service is None:
                from task_orchestrator.service import Service
                from task_orchestrator.settings import Settings

                self._service = Service(self.settings or Settings(), **self.service_kwargs)
            return self._service

    def hook_config(self) -> HookConfig:
        """The hooks' view of the settings the service uses (``.env`` included), made once
        (by the start-up thread when warming up)."""
        with self._lock:
            if self._hook_config is None:
                from task_orchestrator.hooks import HookConfig
                from task_orchestrator.settings import Settings

                self._hook_config = HookConfig.from_settings(self.settings or Settings())
            return self._hook_config

    def hook_store(self, *, create: bool = False) -> FailureTable | None:
        """The failure table the light hook path reads and writes, opened once and kept (a
        command hook opens it per call); None while there is none and ``create`` is False."""
        config = self.hook_config()
        with self._lock:
            if self._hook_store is None:
                self._hook_store = config.open_store(create=create)
            return self._hook_store

    def close(self) -> None:
        if self._hook_store is not None:
            self._hook_store.close()
        # a loader still opening the service is left to the process's exit, not waited for
        if self._service is not None and not self.ready.loading:
            self._service.close()


def _state(ctx: Context[AppState]) -> AppState:
    return ctx.request_context.lifespan_context


def _light_store(state: AppState, *, create: bool) -> FailureTable | None:
    """The kept failure table, or None (the hook then opens one itself, or answers from the
    rules when there is none and it says so, as a command hook does)."""
    try:
        return state.hook_store(create=create)
    except Exception:  # the hook function opens it again and reports why it cannot
        return None


def _run(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``fn(*args, **kwargs)``. The library's own errors, bad values (pydantic's validation
    errors included) and files that cannot be read are the caller's to fix: they come back as
    tool errors with their message. Anything else is a bug, which the SDK reports as a bare
    crash."""
    from task_orchestrator.errors import TaskOrchestratorError

    try:
        return fn(*args, **kwargs)
    except (TaskOrchestratorError, ValueError, OSError) as exc:
        raise ToolError(str(exc)) from exc


_TOOLS: list[tuple[Callable[..., Any], ToolAnnotations, bool | None]] = []


def _tool(annotations: ToolAnnotations, *, structured_output: bool | None = None) -> Callable[[_F], _F]:
    """Register a module-level tool (``build_server`` adds each to its server)."""

    def register(fn: _F) -> _F:
        _TOOLS.append((fn, annotations, structured_output))
        return fn

    return register


# Only what differs from the protocol's defaults (not read-only, destructive, not idempotent).
WRITE = ToolAnnotations(destructive_hint=False)
DESTRUCTIVE = ToolAnnotations(destructive_hint=True)


@_tool(READ)
def check_action(
    action: Annotated[
        str,
        Field(min_length=1, max_length=20_000, description="The shell command, tool call or task text"),
    ],
    ctx: Context[AppState],
    action_kind: ActionKind = "command",
) -> CheckResult:
    """Before a risky action: allow/ask/deny, with reasons and matching past failures."""
    d = _run(_state(ctx).service().check_action, action, action_kind)
    return CheckResult(
        decision=d.decision,
        reasons=d.reasons,
        advice=d.advice,
        risk_level=d.risk.level,
        matches=_matches(d.matches),
        degraded=d.degraded,
    )


@_tool(WRITE)
def record_failure(
    action: Text,
    error: Annotated[str, Field(max_length=50_000)],
    ctx: Context[AppState],
    lesson: Annotated[str, Field(max_length=2_000, description="What to do differently next time")] = "",
    kind: Annotated[str, Field(min_length=1, max_length=64)] = "error",
    action_kind: ActionKind = "command",
    tags: Annotated[list[str], Field(max_length=20)] = [],  # noqa: B006
) -> RecordResult:
    """Remember a failure (and its lesson) so it is blocked next time. Secrets are redacted."""
    rec = _run(
        _state(ctx).service().record_failure,
        action=action,
        error=error,
        lesson=lesson,
        kind=kind,
        action_kind=action_kind,
        tags=tags,
    )
    return RecordResult(id=rec.id, count=rec.count, action=rec.action)


@_tool(READ)
def search_memory(
    query: Text,
    ctx: Context[AppState],
    action_kind: ActionKind = "command",
    k: Annotated[int, Field(ge=1, le=20)] = 5,
) -> list[MatchOut]:
    """Nearest past failures to a command or text, with errors and lessons."""
    return _matches(_run(_state(ctx).service().search, query, action_kind, k))


@_tool(ToolAnnotations(destructive_hint=True, idempotent_hint=True))
def forget_failure(
    record_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    ctx: Context[AppState],
) -> bool:
    """Delete one remembered failure by id. True if it existed."""
    return _run(_state(ctx).service().forget, record_id)


@_tool(READ)
def verify_output(
    output: Annotated[str, Field(max_length=200_000)],
    ctx: Context[AppState],
    task: Annotated[str, Field(max_length=20_000)] = "",
    test_output: Annotated[str | None, Field(max_length=200_000)] = None,
    test_exit_code: int | None = None,
    test_command: str = "",
    transcript_path: str | None = None,
) -> VerifyResult:
    """Before calling work done: cited paths exist, "tests pass" is backed by test output,
    imports resolve, no placeholders; transcript_path checks a Claude Code session's
    final claims against its own tool results."""
    service = _state(ctx).service()
    evidence: dict[str, Any] = {}
    if test_output is not None:
        evidence.update(test_output=test_output, test_exit_code=test_exit_code, test_command=test_command)
    found = []
    if output.strip() or not transcript_path:
        found = _run(service.verify, output, task=task, evidence=evidence)
    if transcript_path:
        found = [*found, *_run(service.verify_transcript, transcript_path)]
    return VerifyResult(passed=not any(f.blocking for f in found), findings=_findings(found))


@_tool(WRITE)
async def run_task(
    task: Text,
    ctx: Context[AppState],
    action: Annotated[str | None, Field(max_length=20_000)] = None,
    action_kind: ActionKind | None = None,
    thread_id: Annotated[str | None, Field(max_length=128, pattern=r"^[\w.-]+$")] = None,
) -> TaskResult:
    """Run a guarded task. Returns result, findings and cost, or status
    "waiting_for_approval" with a thread_id (then call resume_task)."""
    service = _state(ctx).service
    await ctx.report_progress(0, 1, "guarding and running the task")
    r = await anyio.to_thread.run_sync(
        lambda: _run(service().run_task, task, action=action, action_kind=action_kind, thread_id=thread_id)
    )
    await ctx.report_progress(1, 1, r.get("status"))
    return _task_result(r)


@_tool(DESTRUCTIVE)
def resume_task(
    thread_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.-]+$")],
    decision: ApprovalChoice,
    ctx: Context[AppState],
    action: Annotated[str | None, Field(max_length=20_000)] = None,
    note: str | None = None,
) -> TaskResult:
    """A human's decision on a waiting task: approve runs it, reject never does, edit
    replaces the action (checked again)."""
    if decision == "edit" and not action:
        raise ToolError("decision 'edit' needs the replacement `action`")
    payload = {"decision": decision, "action": action, "note": note, "by": "mcp"}
    return _task_result(_run(_state(ctx).service().resume, thread_id, payload))


@_tool(READ)
def list_approvals(ctx: Context[AppState]) -> list[Approval]:
    """Tasks waiting for a human decision, oldest first."""
    return [
        Approval(
            thread_id=p["thread_id"],
            action=p["request"].get("action", ""),
            why=p["request"].get("why", []),
            created=p["created"],
        )
        for p in _run(_state(ctx).service().pending)
    ]


@_tool(READ)
def status(ctx: Context[AppState]) -> StatusResult:
    """Breakers, budget used today, memory size, recent blocks, pending approvals."""
    return StatusResult.model_validate(_run(_state(ctx).service().status))


@_tool(READ, structured_output=False)
def pre_tool_use_hook(
    ctx: Context[AppState],
    tool_name: str = "Bash",
    command: Annotated[str, Field(max_length=50_000)] = "",
    file_path: str = "",
    cwd: str = "",
    session_id: str = "",
    tool_input: Annotated[str, Field(description="The tool input as JSON")] = "",
) -> str:
    """Claude Code's mcp_tool PreToolUse hook (its decision JSON)."""
    state = _state(ctx)
    ready = state.ready
    if ready.full:
        service = state.service()
        return json.dumps(
            _run(service.hook_decision, tool_name, command, file_path, cwd, session_id, tool_input) or {}
        )
    from task_orchestrator.hooks import pre_tool_use, tool_input_of

    event = {
        "tool_name": tool_name,
        "session_id": session_id,
        "cwd": cwd,
        "tool_input": tool_input_of(tool_name, tool_input, command, file_path),
    }
    out = _run(pre_tool_use, event, state.hook_config(), _light_store(state, create=bool(session_id)))
    if _run(ready.stored_failures):  # similarity could have found something
        ready.load_soon()
        out = out or {"hookSpecificOutput": {"hookEventName": "PreToolUse"}}
        spec = out["hookSpecificOutput"]
        spec["additionalContext"] = " ".join(
            x for x in (spec.get("additionalContext"), f"task-orchestrator: {_EARLY}.") if x
        )
    return json.dumps(out or {})


@_tool(
    ToolAnnotations(destructive_hint=False, open_world_hint=False),
    structured_output=False,
)
def post_tool_use_hook(
    ctx: Context[AppState],
    hook_event_name: str = "PostToolUse",
    tool_name: str = "Bash",
    tool_input: str = "",
    tool_response: str = "",
    error: str = "",
    is_interrupt: str = "",
    session_id: str = "",
    cwd: str = "",
) -> str:
    """Claude Code's mcp_tool PostToolUse(Failure) hooks: learns the outcome."""
    from task_orchestrator.hooks import event_of_fields

    event = event_of_fields(
        hook_event_name, tool_name, tool_input, tool_response, error, is_interrupt, session_id, cwd
    )
    state = _state(ctx)
    if state.ready.full:
        _run(state.service().learn_from_hook, event)
        return "{}"
    from task_orchestrator.hooks import failure_of, post_tool_use

    failed = failure_of(event) is not None
    # straight into the table, as the command hook
    _run(post_tool_use, event, state.hook_config(), _light_store(state, create=failed))
    if failed:
        state.ready.load_soon()  # the next checks have something to compare with
    return "{}"


@_tool(READ, structured_output=False)
def stop_hook(
    ctx: Context[AppState],
    transcript_path: str = "",
    cwd: str = "",
    stop_hook_active: str = "",
    last_assistant_message: str = "",
) -> str:
    """Claude Code's mcp_tool Stop hook (its decision JSON)."""
    from task_orchestrator.hooks import stop

    active = stop_hook_active.strip() == "true"  # the client substitutes "true"/"false"
    event = {
        "transcript_path": transcript_path,
        "cwd": cwd,
        "stop_hook_active": active,
        "last_assistant_message": last_assistant_message,
    }
    return json.dumps(_run(stop, event) or {})


class _Server(MCPServer[AppState]):
    """The SDK's server, with tools/list compacted: every byte of it costs the agent context."""

    async def list_tools(self) -> list[Tool]:
        return [_compact(tool) for tool in await super().list_tools()]


def _compact(tool: Tool) -> Tool:
    """A tool without generated schema titles, ``required`` lists of outputs (every field is
    always sent), default ``additionalProperties`` and empty-string defaults (~20% of
    tools/list), and without the docstrings' indentation in its description."""
    return tool.model_copy(
        update={
            "description": " ".join((tool.description or "").split()),
            "input_schema": _compact_schema(_inline_defs(tool.input_schema)),
            "output_schema": _compact_schema(_inline_defs(tool.output_schema), output=True),
        }
    )


def _compact_schema(node: Any, *, output: bool = False, top: bool = True) -> Any:
    if isinstance(node, list):
        return [_compact_schema(v, output=output, top=False) for v in node]
    if not isinstance(node, dict):
        return node
    node = _nullable(node)
    out = {}
    for key, value in node.items():
        if key == "type" and value == "object" and output and not top and "properties" in node:
            continue  # a result's nested object: its properties say what it is
        if key == "title" and isinstance(value, str):
            continue
        if key == "required" and output and isinstance(value, list):
            continue
        if key == "additionalProperties" and value is True and "object" in _types(node):
            continue  # the JSON Schema default
        if key == "default" and (value is None or (value == "" and node.get("type") == "string")):
            continue  # an optional value: "required" already says it may be left out
        if key == "properties" and isinstance(value, dict):
            # property names are data here, not schema keywords: never dropped
            out[key] = {name: _compact_schema(v, output=output, top=False) for name, v in value.items()}
            continue
        out[key] = _compact_schema(value, output=output, top=False)
    return out


def _inline_defs(schema: Any) -> Any:
    """A schema whose ``$defs`` are each used once, with each written where it is used."""
    if not isinstance(schema, dict) or not isinstance(schema.get("$defs"), dict):
        return schema
    defs = schema["$defs"]
    text = json.dumps(schema)
    if any(text.count(f'"#/$defs/{name}"') != 1 for name in defs):
        return schema  # a definition used twice (or by itself) stays a definition

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(v) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return inline(defs[ref.removeprefix("#/$defs/")])
        return {k: inline(v) for k, v in node.items()}

    return inline({k: v for k, v in schema.items() if k != "$defs"})


def _types(node: dict[str, Any]) -> list[Any]:
    kind = node.get("type")
    return kind if isinstance(kind, list) else [kind]


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [{"type": "string", ...}, {"type": "null"}], ...}`` (pydantic's ``X | None``)
    as ``{"type": ["string", "null"], ...}``: the same schema (a string keyword such as
    ``maxLength`` constrains strings only), in half the bytes."""
    branches = node.get("anyOf")
    if not (isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches):
        return node
    [other] = [b for b in branches if b != {"type": "null"}]
    if not isinstance(other.get("type"), str):
        return node  # a $ref or a union of its own: left as it is
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    return {**other, **rest, "type": [other["type"], "null"]}


def build_server(
    settings: Settings | None = None, *, warm_up: bool = False, **service_kwargs: Any
) -> MCPServer[AppState]:
    """The server object (tests connect an in-memory client to it).

    ``warm_up`` (``serve``): hook calls never wait for the heavy parts. The rules and the
    parser load at start-up; the service with the embedding model and the vector index loads
    in the background when a failure is stored (see ``_Readiness``). Until then hook calls
    are answered from the exact-repeat table and the rules, as the command hook answers, and
    say so when a stored failure might have matched; outcomes go straight into the table.
    """

    @asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        # `initialize` is answered at once: the service (and pydantic-settings, ~0.1 s to
        # import) is created in the background or on the first tool call that needs it.
        state = AppState(settings, service_kwargs, warm_up)
        if warm_up:
            state.ready.start()
        try:
            yield state
        finally:
            state.close()

    mcp = _Server(
        "task-orchestrator",
        instructions=(
            "Safety layer for coding work. Call check_action before risky shell commands, "
            "record_failure when something fails (with the lesson), verify_output before "
            "claiming work is done, and run_task for guarded LLM tasks that may need approval."
        ),
        lifespan=lifespan,
    )
    for fn, hints, structured_output in _TOOLS:
        mcp.add_tool(fn, annotations=hints, structured_output=structured_output)
    return mcp


def main() -> None:
    build_server(warm_up=True).run("stdio")
