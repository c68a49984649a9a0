"""The MCP server: task-orchestrator's tools for Claude Code (official SDK).

Thin: every tool calls ``Service`` (graphs/, nodes/, memory/ do the work). The tools are
module-level functions that take ``Context[AppState]``: the state the lifespan hands over. In
the guard service (``task_orchestrator.guard``) one server object and one ``AppState`` serve
every session (``serve_stream``), relayed from ``task-orchestrator serve``'s stdio; ``main``
serves one session on this process's stdio (the relay's fallback). The tools are plain
functions, which the SDK runs in worker threads, except ``run_task``, which reports progress.
The hooks are not tools here: they are command hooks answered by the guard service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import Tool, ToolAnnotations
from pydantic import BaseModel, Field

from task_orchestrator._state import AppState
from task_orchestrator._version import __version__
from task_orchestrator.literals import ActionKind, ApprovalChoice, Decision

log = logging.getLogger("task_orchestrator.mcp")

if TYPE_CHECKING:
    from task_orchestrator.settings import Settings

__all__ = ["AppState", "build_server", "main", "serve_stream"]

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


class PacingOut(_Out):
    provider: str
    model: str
    rpm: int | None
    rpd: int | None
    used_window: int
    used_today: int
    next_free_in_s: float
    hold: str | None


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
    pacing: list[PacingOut]
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


def _state(ctx: Context[AppState]) -> AppState:
    return ctx.request_context.lifespan_context


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
    agent_workspace: Annotated[str | None, Field(max_length=4096)] = None,
) -> TaskResult:
    """Run a guarded task. Returns result, findings and cost, or status
    "waiting_for_approval" with a thread_id (then call resume_task). With agent_workspace,
    the task is a headless Claude Code session in that folder."""
    service = _state(ctx).service
    await ctx.report_progress(0, 1, "guarding and running the task")
    if agent_workspace:
        r = await anyio.to_thread.run_sync(
            lambda: _run(service().run_agent, task, workspace=agent_workspace, thread_id=thread_id)
        )
    else:
        r = await anyio.to_thread.run_sync(
            lambda: _run(
                service().run_task, task, action=action, action_kind=action_kind, thread_id=thread_id
            )
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
    """Breakers, provider pacing, budget used today, memory size, recent blocks, pending approvals."""
    return StatusResult.model_validate(_run(_state(ctx).service().status))


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
    settings: Settings | None = None, *, state: AppState | None = None, **service_kwargs: Any
) -> MCPServer[AppState]:
    """The server object (tests connect an in-memory client to it).

    ``state``: an ``AppState`` that outlives the sessions (the guard service's, shared by
    every relayed session and by its hooks); by default each run opens its own and closes
    it at the end. ``initialize`` is answered at once either way: the service (LangGraph, the
    stores, the embedding model) opens on the first tool call that needs it.
    """

    @asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if state is not None:
            yield state
            return
        own = AppState(settings, service_kwargs)
        try:
            yield own
        finally:
            own.close()

    mcp = _Server(
        "task-orchestrator",
        version=__version__,
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


async def serve_stream(server: MCPServer[AppState], sock: socket.socket) -> None:
    """One MCP session over a connected socket carrying stdio's newline-delimited JSON-RPC."""
    from io import TextIOWrapper

    from mcp.server.stdio import stdio_server

    reader = TextIOWrapper(sock.makefile("rb"), encoding="utf-8", errors="replace")
    writer = TextIOWrapper(sock.makefile("wb"), encoding="utf-8")
    try:
        async with stdio_server(anyio.wrap_file(reader), anyio.wrap_file(writer)) as (read, write):
            low = server._lowlevel_server
            await low.run(read, write, low.create_initialization_options())
    finally:
        for f in (reader, writer):
            with contextlib.suppress(OSError, ValueError):
                f.close()


def main() -> None:
    """One MCP session on this process's stdio, with its own service."""
    build_server().run("stdio")
