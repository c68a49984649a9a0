"""The agent graph: a Claude Code session, driven headless, as the work of a guarded task.

    guard ──> turn ──(a call deferred)──> approval ──> turn (the session resumed: the call asked again)
      │                                      (a rejection reaches the model as a denial)
      └──(the session ended)──> verify ──(findings)──> reflect ──> turn (resumed with them)
                                   └──(clean)──> finalize        └──(attempts used)──> finalize

``turn`` checks the budgets and the session's breaker before a turn is paid for, runs one
``claude -p`` turn (``agent.run_claude``) and writes its real cost to the ledger. ``approval``
waits at ``interrupt()`` with the deferred tool, its exact input and the gate's reasons; the
decision is stored as a grant bound to that input (``agent.AgentStore``). ``verify`` runs the
workspace's own tests after the session says it is done.
"""

from __future__ import annotations

import operator
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from task_orchestrator.agent import AgentStore, ClaudeTurn, input_hash, run_claude
from task_orchestrator.cost import Usage
from task_orchestrator.errors import TaskOrchestratorError
from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.memory.base import FailureRecord
from task_orchestrator.memory.gate import assess_action
from task_orchestrator.nodes._common import step
from task_orchestrator.verifiers.semantic import run_tests

__all__ = ["AgentState", "build_agent_graph", "detect_test_command"]

PROVIDER = "claude-code"  # the breaker and ledger name of the session's API


class AgentState(TypedDict, total=False):
    task: str  # the prompt
    workspace: str
    session_id: str
    started: bool  # the session exists (later turns resume it)
    prompt: str | None  # the next turn's prompt; None resumes without one (after a decision)
    attempts: int
    result: str
    output: str  # the session's final message (the MCP tools' "output")
    deferred: dict[str, Any] | None
    approval: dict[str, Any] | None
    findings: list[dict[str, Any]]
    feedback: str
    status: str
    error: str
    cost_usd: float
    cost: list[dict[str, Any]]
    trace: Annotated[list[dict[str, Any]], operator.add]


def detect_test_command(workspace: Path) -> str | None:
    """The workspace's own test command, by what it contains."""
    if (
        (workspace / "pyproject.toml").exists()
        or (workspace / "pytest.ini").exists()
        or (workspace / "tests").is_dir()
    ):
        return "python -m pytest -q"
    package = workspace / "package.json"
    if package.exists():
        import json

        try:
            scripts = json.loads(package.read_text()).get("scripts") or {}
        except ValueError:
            scripts = {}
        if "test" in scripts:
            return "npm test --silent"
    if (workspace / "go.mod").exists():
        return "go test ./..."
    if (workspace / "Cargo.toml").exists():
        return "cargo test -q"
    return None


def _guard(state: AgentState, runtime: Runtime[TaskContext]) -> Command[Literal["turn", "finalize"]]:
    """The prompt judged before a turn is paid for, as the guarded graph judges a task text:
    the risk rules and the failure memory (a task that failed before with nothing changed is
    denied; a similar one carries its lesson into the prompt)."""
    ctx = context_of(runtime)
    prompt = state.get("task", "")
    start: dict[str, Any] = {}  # what a run started with {"task", "workspace"} alone (Studio) lacks
    if not state.get("session_id"):
        start["session_id"] = str(uuid.uuid4())
    if not state.get("attempts"):
        start["attempts"] = 1
    if state.get("prompt") is None and not state.get("started"):
        start["prompt"] = prompt
    if not state.get("workspace") or not Path(state["workspace"]).is_dir():
        start["status"], start["error"] = "error", f"the workspace {state.get('workspace')!r} is not a folder"
    if "status" in start:
        return Command(update={**start, "trace": step("guard", decision="deny")}, goto="finalize")
    if not prompt.strip():
        update = {
            "status": "error",
            "error": "the agent task has no prompt",
            "trace": step("guard", decision="deny"),
        }
        return Command(update=update, goto="finalize")
    decision = assess_action(
        prompt, action_kind="text", memory=ctx.memory, risk=ctx.risk, settings=ctx.settings
    )
    out: dict[str, Any] = {
        **start,
        "trace": step("guard", decision=decision.decision, reasons=decision.reasons),
    }
    if decision.decision == "deny":
        out.update(status="blocked", error="blocked before running: " + decision.summary())
        return Command(update=out, goto="finalize")
    lessons = [m.record.lesson for m in decision.matches if m.record.lesson][:3]
    if lessons:  # what failed before goes to the session with the task
        out["prompt"] = (
            prompt
            + "\n\nLessons from earlier attempts at similar tasks:\n"
            + "\n".join(f"- {lesson}" for lesson in lessons)
        )
    return Command(update=out, goto="turn")


def _turn(
    state: AgentState, runtime: Runtime[TaskContext]
) -> Command[Literal["approval", "verify", "finalize"]]:
    ctx = context_of(runtime)
    thread = state["session_id"]
    ledger, breakers = ctx.router.ledger, ctx.router.breakers
    try:
        ledger.check_spent(_task_id(state))
    except TaskOrchestratorError as exc:
        return Command(
            update={"status": "error", "error": str(exc), "trace": step("turn", ok=False)}, goto="finalize"
        )
    if not breakers.allow(PROVIDER):
        st = breakers.status(PROVIDER)
        msg = (
            f"Claude Code's API is failing ({st.last_error}); its breaker is open, "
            f"retry in {st.retry_in_s or 0:.0f} s"
        )
        return Command(
            update={"status": "error", "error": msg, "trace": step("turn", ok=False)}, goto="finalize"
        )
    with AgentStore.for_settings(ctx.settings) as store:
        store.register(thread, thread, state["workspace"])
    turn = _turn_through_outages(state, ctx)
    usage = Usage(
        input_tokens=int(turn.usage.get("input_tokens") or 0),
        output_tokens=int(turn.usage.get("output_tokens") or 0),
        cached_tokens=int(turn.usage.get("cache_read_input_tokens") or 0),
    )
    # The client reports the session's cost so far (a resumed session includes its earlier
    # turns): the ledger gets each turn's share, so the task's rows add up to the session's total.
    before = float(state.get("cost_usd") or 0.0)
    total = max(before, turn.cost_usd) if turn.raw else before
    if turn.raw:
        ledger.record(_task_id(state), PROVIDER, _model(turn), usage, cost_usd=round(total - before, 10))
    update: dict[str, Any] = {
        "started": True,
        "result": turn.result,
        "cost_usd": round(total, 10),
        "trace": step(
            "turn", stop_reason=turn.stop_reason, cost_usd=round(total - before, 10), error=turn.error[:200]
        ),
    }
    if turn.deferred:
        breakers.record_success(PROVIDER)
        return Command(update={**update, "deferred": turn.deferred}, goto="approval")
    if turn.is_error:  # an API failure still there after the wait is in the breaker already
        return Command(
            update={**update, "status": "error", "error": turn.error or "the session failed"}, goto="finalize"
        )
    breakers.record_success(PROVIDER)
    return Command(update=update, goto="verify")


def _turn_through_outages(state: AgentState, ctx: TaskContext) -> ClaudeTurn:
    """One turn; an API failure is counted for the session's breaker and the turn is asked
    again once the breaker lets a probe through (a short pause while it is still closed),
    for at most ``rate_limit_max_wait_s`` of waiting: an outage does not burn attempts."""
    breakers = ctx.router.breakers
    waited, pause = 0.0, 1.0

    def run(resume: bool) -> ClaudeTurn:
        return run_claude(
            state.get("prompt"),
            workspace=Path(state["workspace"]),
            session_id=state["session_id"],
            resume=resume,
            settings=ctx.settings,
        )

    turn = run(bool(state.get("started")))
    while turn.api_error:
        breakers.record_failure(PROVIDER, turn.result or turn.error)
        st = breakers.status(PROVIDER)
        delay = (st.retry_in_s or 0.0) if st.state == "open" else pause
        pause = min(pause * 2, 10.0)
        if waited + delay > ctx.settings.rate_limit_max_wait_s:
            return turn
        time.sleep(delay)
        waited += delay
        if not breakers.allow(PROVIDER):
            return turn
        turn = run(True)
    return turn


def _model(turn: ClaudeTurn) -> str:
    models = turn.raw.get("modelUsage") or {}
    return next(iter(models), "claude") if isinstance(models, dict) else "claude"


def _task_id(state: AgentState) -> str:
    return f"agent:{state.get('session_id', '')}"


def _approval(state: AgentState, runtime: Runtime[TaskContext]) -> Command[Literal["turn"]]:
    ctx = context_of(runtime)
    deferred = state.get("deferred") or {}
    call = input_hash(str(deferred.get("name", "")), deferred.get("input") or {})
    with AgentStore.for_settings(ctx.settings) as store:
        last = store.last_deferral(state["session_id"]) or {}
        why = last.get("reason", "") if last.get("input_hash") == call else ""
        request = {
            "kind": "agent",
            "action": _describe(deferred),
            "tool": deferred.get("name"),
            "input": deferred.get("input"),
            "why": [why] if why else ["the gate asks a human before this call"],
            "session_id": state["session_id"],
            "workspace": state["workspace"],
        }
        raw = interrupt(request)
        answer: dict[str, Any] = raw if isinstance(raw, dict) else {}
        decision = answer.get("decision")
        if decision not in ("approve", "reject", "edit"):
            decision = "reject"  # a malformed answer never runs the call
        edited = answer.get("input") if decision == "edit" else None
        if decision == "edit" and edited is None and deferred.get("name") == "Bash" and answer.get("action"):
            edited = {**(deferred.get("input") or {}), "command": str(answer["action"])}  # resume_task's edit
        if decision == "edit" and not isinstance(edited, dict):
            decision, edited = "reject", None
        note, by = str(answer.get("note") or ""), str(answer.get("by") or "")
        store.grant(state["session_id"], call, decision, updated_input=edited, note=note, by=by)
    approval = {"decision": decision, "tool": deferred.get("name"), "input": deferred.get("input")}
    if edited is not None:
        approval["edited_input"] = edited
    return Command(
        update={
            "approval": approval,
            "deferred": None,
            "prompt": None,
            "trace": step("approval", decision=decision),
        },
        goto="turn",
    )


def _describe(deferred: dict[str, Any]) -> str:
    tool_input = deferred.get("input") or {}
    if deferred.get("name") == "Bash":
        return str(tool_input.get("command", ""))
    return f"{deferred.get('name')} {tool_input}"


def _verify(state: AgentState, runtime: Runtime[TaskContext]) -> Command[Literal["reflect", "finalize"]]:
    ctx = context_of(runtime)
    workspace = Path(state["workspace"])
    command = ctx.settings.test_command or detect_test_command(workspace)
    findings: list[dict[str, Any]] = []
    if command:
        output, exit_code = run_tests(command, workspace, ctx.settings.test_timeout_s)
        failed, output = exit_code != 0, output[-3000:]
        if failed:
            claims = any(w in state.get("result", "").lower() for w in ("pass", "green", "succeed", "works"))
            findings.append(
                {
                    "verifier": "workspace_tests",
                    "severity": "error",
                    "message": (
                        f"the session says it is done{' and that tests pass' if claims else ''}, but "
                        f"`{command}` fails in the workspace"
                    ),
                    "evidence": output,
                    "suggestion": "fix the code until the tests pass, then say so",
                }
            )
    findings += _transcript_findings(state["session_id"])
    update = {"findings": findings, "trace": step("verify", command=command, findings=len(findings))}
    return Command(update=update, goto="reflect" if findings else "finalize")


def _transcript_findings(session_id: str) -> list[dict[str, Any]]:
    """The Stop hook's checks on the session's own transcript (a claim its tool results
    contradict), run again by the orchestrator on the session as it ended."""
    from task_orchestrator.verifiers.transcript import check_transcript

    projects = Path.home() / ".claude" / "projects"
    found = next(projects.glob(f"*/{session_id}.jsonl"), None) if projects.is_dir() else None
    if found is None:
        return []
    try:
        return [f.model_dump(mode="json") for f in check_transcript(found) if f.severity == "error"]
    except Exception:  # a transcript the client is still writing, or in a newer format
        return []


def _reflect(state: AgentState, runtime: Runtime[TaskContext]) -> Command[Literal["turn", "finalize"]]:
    ctx = context_of(runtime)
    attempts = int(state.get("attempts") or 1)
    findings = state.get("findings") or []
    if attempts >= ctx.settings.max_attempts:
        summary = "; ".join(f["message"] for f in findings)[:500]
        try:  # the next task like this one starts with the lesson (the guard reads it)
            ctx.memory.record(
                FailureRecord(
                    action=state.get("task", ""),
                    action_kind="text",
                    kind="verification_failed",
                    error=summary,
                    lesson=f"a Claude Code session failed verification {attempts}x: {summary}",
                    project=ctx.settings.project,
                    tags=sorted({f["verifier"] for f in findings}),
                )
            )
        except Exception:  # remembering is best effort; the task's result is not
            pass
        update = {
            "status": "failed",
            "error": f"failed verification after {attempts} attempt(s): {summary}",
            "trace": step("reflect", attempts=attempts, gave_up=True),
        }
        return Command(update=update, goto="finalize")
    feedback = "\n".join(
        f"- {f['message']}\n  evidence (last lines):\n{f.get('evidence', '')[-1500:]}" for f in findings
    )
    prompt = (
        "The orchestrator checked your work and it is not done:\n"
        f"{feedback}\nFix this, run the tests yourself, and report what you changed."
    )
    return Command(
        update={
            "attempts": attempts + 1,
            "prompt": prompt,
            "feedback": feedback,
            "trace": step("reflect", attempts=attempts),
        },
        goto="turn",
    )


def _finalize(state: AgentState, runtime: Runtime[TaskContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    status = state.get("status") or ("succeeded" if not state.get("findings") else "failed")
    return {
        "status": status,
        "output": state.get("result", ""),
        "cost": ctx.router.ledger.table(task_id=_task_id(state)),
        "trace": step("finalize", status=status),
    }


def build_agent_graph(
    context_schema: Any = TaskContext,
) -> StateGraph[AgentState, Any, AgentState, AgentState]:
    """The graph; compile it with a checkpointer (``Orchestrator`` does). ``context_schema``:
    what a run's ``context=`` holds (LangGraph Server sends a dict: ``graphs/studio.py``)."""
    g: StateGraph[AgentState, Any, AgentState, AgentState] = StateGraph(
        AgentState, context_schema=context_schema
    )
    # the nodes take (state, runtime); LangGraph's overloads do not name that form
    g.add_node("guard", _guard)  # type: ignore[call-overload]
    g.add_node("turn", _turn)  # type: ignore[call-overload]
    g.add_node("approval", _approval)  # type: ignore[call-overload]
    g.add_node("verify", _verify)  # type: ignore[call-overload]
    g.add_node("reflect", _reflect)  # type: ignore[call-overload]
    g.add_node("finalize", _finalize)  # type: ignore[call-overload]
    g.add_edge(START, "guard")
    g.add_edge("finalize", END)
    return g
