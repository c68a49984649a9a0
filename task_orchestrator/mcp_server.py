"""The MCP server: task-orchestrator's tools for Claude Code (official SDK, stdio).

Thin: every tool calls ``Service`` (graphs/, nodes/, memory/ do the work). Heavy
imports happen on first use, so ``initialize`` answers as fast as a bare server.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from task_orchestrator.literals import ActionKind, ApprovalChoice, Decision

log = logging.getLogger("task_orchestrator.mcp")

if TYPE_CHECKING:
    from task_orchestrator.settings import Settings

__all__ = ["build_server", "main"]

Text = Annotated[str, Field(min_length=1, max_length=20_000)]


def _untitled(schema: dict[str, Any]) -> None:
    """Trim output schemas: every tools/list byte costs the agent context. Titles are
    generated noise; ``required`` adds nothing since every field is always sent."""
    schema.pop("title", None)
    schema.pop("required", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class _Out(BaseModel):
    model_config = ConfigDict(json_schema_extra=_untitled)


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

    def __init__(self, enabled: bool, load, config) -> None:
        self.enabled = enabled
        self._load, self._config = load, config  # load(): the service, with similarity warm
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
        store = self._config().open_store()
        if store is None:
            return False
        try:
            return not store.empty()
        finally:
            store.close()

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


def build_server(
    settings: Settings | None = None, *, warm_up: bool = False, **service_kwargs: Any
) -> MCPServer:
    """The server object (tests connect an in-memory client to it).

    ``warm_up`` (``serve``): hook calls never wait for the heavy parts. The rules and the
    parser load at start-up; the service with the embedding model and the vector index loads
    in the background when a failure is stored (see ``_Readiness``). Until then hook calls
    are answered from the exact-repeat table and the rules, as the command hook answers, and
    say so when a stored failure might have matched; outcomes go straight into the table.
    """

    configs: list[Any] = []
    config_lock = threading.Lock()

    def early_config():
        """The hooks' view of the settings the service uses (``.env`` included), made once
        (by the start-up thread when warming up)."""
        with config_lock:
            if not configs:
                from task_orchestrator.hooks import HookConfig
                from task_orchestrator.settings import Settings

                configs.append(HookConfig.from_settings(settings or Settings()))
            return configs[0]

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        # `initialize` is answered at once: the service (and pydantic-settings, ~0.1 s to
        # import) is created in the background or on the first tool call that needs it.
        state: dict[str, Any] = {"service": None, "lock": threading.Lock()}
        state["ready"] = _Readiness(warm_up, lambda: service_of(state).warm_up(), early_config)
        if warm_up:
            state["ready"].start()
        try:
            yield state
        finally:
            # a loader still opening the service is left to the process's exit, not waited for
            if state["service"] is not None and not state["ready"].loading:
                state["service"].close()

    def service_of(state: dict[str, Any]):
        with state["lock"]:
            if state["service"] is None:
                from task_orchestrator.service import Service
                from task_orchestrator.settings import Settings

                state["service"] = Service(settings or Settings(), **service_kwargs)
            return state["service"]

    def readiness(ctx: Context) -> _Readiness:
        return ctx.request_context.lifespan_context["ready"]

    mcp = MCPServer(
        "task-orchestrator",
        instructions=(
            "Safety layer for coding work. Call check_action before risky shell commands, "
            "record_failure when something fails (with the lesson), verify_output before "
            "claiming work is done, and run_task for guarded LLM tasks that may need approval."
        ),
        lifespan=lifespan,
    )

    def svc(ctx: Context):
        return service_of(ctx.request_context.lifespan_context)

    async def call(fn, *args, **kwargs):
        """Run ``fn`` in a worker thread. The library's own errors, bad values (pydantic's
        validation errors included) and files that cannot be read are the caller's to fix and
        come back as tool errors with their message; anything else is a bug and is reported
        as one."""
        from task_orchestrator.errors import TaskOrchestratorError

        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        except (TaskOrchestratorError, ValueError, OSError) as exc:
            raise ToolError(str(exc)) from exc

    @mcp.tool(annotations=READ)
    async def check_action(
        action: Annotated[
            str,
            Field(min_length=1, max_length=20_000, description="The shell command, tool call or task text"),
        ],
        ctx: Context,
        action_kind: ActionKind = "command",
    ) -> CheckResult:
        """Before a risky action: allow/ask/deny, with reasons and matching past failures."""
        d = await call(svc(ctx).check_action, action, action_kind)
        return CheckResult(
            decision=d.decision,
            reasons=d.reasons,
            advice=d.advice,
            risk_level=d.risk.level,
            matches=_matches(d.matches),
            degraded=d.degraded,
        )

    @mcp.tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    )
    async def record_failure(
        action: Text,
        error: Annotated[str, Field(max_length=50_000)],
        ctx: Context,
        lesson: Annotated[str, Field(max_length=2_000, description="What to do differently next time")] = "",
        kind: Annotated[str, Field(min_length=1, max_length=64)] = "error",
        action_kind: ActionKind = "command",
        tags: Annotated[list[str], Field(max_length=20)] = [],  # noqa: B006
    ) -> RecordResult:
        """Remember a failure (and its lesson) so it is blocked next time. Secrets are redacted."""
        rec = await call(
            svc(ctx).record_failure,
            action=action,
            error=error,
            lesson=lesson,
            kind=kind,
            action_kind=action_kind,
            tags=tags,
        )
        return RecordResult(id=rec.id, count=rec.count, action=rec.action)

    @mcp.tool(annotations=READ)
    async def search_memory(
        query: Text,
        ctx: Context,
        action_kind: ActionKind = "command",
        k: Annotated[int, Field(ge=1, le=20)] = 5,
    ) -> list[MatchOut]:
        """Nearest past failures to a command or text, with errors and lessons."""
        return _matches(await call(svc(ctx).search, query, action_kind, k))

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
    async def forget_failure(
        record_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
        ctx: Context,
    ) -> bool:
        """Delete one remembered failure by id. True if it existed."""
        return await call(svc(ctx).forget, record_id)

    @mcp.tool(annotations=READ)
    async def verify_output(
        output: Annotated[str, Field(max_length=200_000)],
        ctx: Context,
        task: Annotated[str, Field(max_length=20_000)] = "",
        test_output: Annotated[str | None, Field(max_length=200_000)] = None,
        test_exit_code: int | None = None,
        test_command: str = "",
        transcript_path: str | None = None,
    ) -> VerifyResult:
        """Before calling work done: cited paths exist, "tests pass" is backed by test output,
        imports resolve, no placeholders; transcript_path checks a Claude Code session's
        final claims against its own tool results."""
        evidence: dict[str, Any] = {}
        if test_output is not None:
            evidence.update(test_output=test_output, test_exit_code=test_exit_code, test_command=test_command)
        found = []
        if output.strip() or not transcript_path:
            found = await call(svc(ctx).verify, output, task=task, evidence=evidence)
        if transcript_path:
            found = [*found, *await call(svc(ctx).verify_transcript, transcript_path)]
        return VerifyResult(passed=not any(f.blocking for f in found), findings=_findings(found))

    @mcp.tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    )
    async def run_task(
        task: Text,
        ctx: Context,
        action: Annotated[str | None, Field(max_length=20_000)] = None,
        action_kind: ActionKind | None = None,
        thread_id: Annotated[str | None, Field(max_length=128, pattern=r"^[\w.-]+$")] = None,
    ) -> TaskResult:
        """Run a guarded task. Returns result, findings and cost, or status
        "waiting_for_approval" with a thread_id (then call resume_task)."""
        await ctx.report_progress(0, 1, "guarding and running the task")
        r = await call(svc(ctx).run_task, task, action=action, action_kind=action_kind, thread_id=thread_id)
        await ctx.report_progress(1, 1, r.get("status"))
        return _task_result(r)

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False))
    async def resume_task(
        thread_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.-]+$")],
        decision: ApprovalChoice,
        ctx: Context,
        action: Annotated[str | None, Field(max_length=20_000)] = None,
        note: str | None = None,
    ) -> TaskResult:
        """A human's decision on a waiting task: approve runs it, reject never does, edit
        replaces the action (checked again)."""
        if decision == "edit" and not action:
            raise ToolError("decision 'edit' needs the replacement `action`")
        payload = {"decision": decision, "action": action, "note": note, "by": "mcp"}
        return _task_result(await call(svc(ctx).resume, thread_id, payload))

    @mcp.tool(annotations=READ)
    async def list_approvals(ctx: Context) -> list[Approval]:
        """Tasks waiting for a human decision, oldest first."""
        return [
            Approval(
                thread_id=p["thread_id"],
                action=p["request"].get("action", ""),
                why=p["request"].get("why", []),
                created=p["created"],
            )
            for p in await call(svc(ctx).pending)
        ]

    @mcp.tool(annotations=READ)
    async def status(ctx: Context) -> dict[str, Any]:
        """Breakers, budget used today, memory size, recent blocks, pending approvals."""
        return await call(svc(ctx).status)

    @mcp.tool(annotations=READ, structured_output=False)
    async def pre_tool_use_hook(
        ctx: Context,
        tool_name: str = "Bash",
        command: Annotated[str, Field(max_length=50_000)] = "",
        file_path: str = "",
        cwd: str = "",
        session_id: str = "",
        tool_input: Annotated[str, Field(description="The tool input as JSON")] = "",
    ) -> str:
        """Claude Code's mcp_tool PreToolUse hook (its decision JSON)."""
        ready = readiness(ctx)
        if not ready.full:
            from task_orchestrator.hooks import pre_tool_use, tool_input_of

            event = {
                "tool_name": tool_name,
                "session_id": session_id,
                "cwd": cwd,
                "tool_input": tool_input_of(tool_name, tool_input, command, file_path),
            }
            out = await call(pre_tool_use, event, early_config())
            if await call(ready.stored_failures):  # similarity could have found something
                ready.load_soon()
                out = out or {"hookSpecificOutput": {"hookEventName": "PreToolUse"}}
                spec = out["hookSpecificOutput"]
                spec["additionalContext"] = " ".join(
                    x for x in (spec.get("additionalContext"), f"task-orchestrator: {_EARLY}.") if x
                )
            return json.dumps(out or {})
        return json.dumps(
            await call(svc(ctx).hook_decision, tool_name, command, file_path, cwd, session_id, tool_input)
            or {}
        )

    @mcp.tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
        structured_output=False,
    )
    async def post_tool_use_hook(
        ctx: Context,
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
        ready = readiness(ctx)
        if not ready.full:  # straight into the table, as the command hook
            from task_orchestrator.hooks import failure_of, post_tool_use

            await call(post_tool_use, event, early_config())
            if failure_of(event) is not None:
                ready.load_soon()  # the next checks have something to compare with
        else:
            await call(svc(ctx).learn_from_hook, event)
        return "{}"

    @mcp.tool(annotations=READ, structured_output=False)
    async def stop_hook(
        ctx: Context,
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
        return json.dumps(await call(stop, event) or {})

    _compact_schemas(mcp)
    return mcp


def _strip_titles(node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("title"), str):
            del node["title"]
        if node.get("additionalProperties") is True and node.get("type") == "object":
            del node["additionalProperties"]  # the JSON Schema default
        if node.get("default") == "" and node.get("type") == "string":
            del node["default"]  # an optional text: "required" already says it may be left out
        for value in node.values():
            _strip_titles(value)
    elif isinstance(node, list):
        for value in node:
            _strip_titles(value)


def _compact_schemas(mcp: MCPServer) -> None:
    """Remove auto-generated schema titles from every tool (about 15% of tools/list), and the
    docstrings' indentation from their descriptions."""
    manager = getattr(mcp, "_tool_manager", None)
    for tool in manager.list_tools() if manager is not None else []:
        tool.description = " ".join((tool.description or "").split())
        _strip_titles(tool.parameters)
        _strip_titles(getattr(tool.fn_metadata, "output_schema", None))


def main() -> None:
    build_server(warm_up=True).run("stdio")
