"""work: the user's node (or the default LLM call), refused without a needed approval."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Command

from task_orchestrator.errors import ApprovalMissing, ExecutionInterrupted, TaskOrchestratorError
from task_orchestrator.graphs.context import TaskContext, context_of
from task_orchestrator.graphs.state import TaskState
from task_orchestrator.nodes._common import action_of, approval_key, goto, step

__all__ = ["make_work_node"]

AfterWork = Literal["verify", "finalize"]

SYSTEM_PROMPT = (
    "You are a careful software engineer. Do exactly the task. Cite only files that exist, "
    "never claim tests pass unless you have their output, and import only real packages."
)


def _require_approval(state: TaskState) -> None:
    """Defence in depth: the graph routes around this, but a direct call must not pass."""
    decision = (state.get("guard") or {}).get("decision")
    if decision == "allow":
        return
    action, kind = action_of(state)
    approval = state.get("approval") or {}
    if (
        decision == "ask"
        and approval.get("decision") == "approve"
        and (approval.get("action_key") == approval_key(action, kind))
    ):
        return
    raise ApprovalMissing(
        f"refusing to run {action[:120]!r}: the guard said {decision or 'nothing'!r} and there is "
        "no approval of this exact action"
    )


def _claim_execution(
    state: TaskState, runtime: Any, config: RunnableConfig | None, attempt: int
) -> str | None:
    """Journal the start of an approved action; None if there is nothing to journal.

    A crash while the action runs leaves its entry started but not finished; when the run
    is recovered from its checkpoint the node would run again, so it refuses instead: an
    approved high-risk action runs at most once per approval and attempt.
    """
    approval = state.get("approval") or {}
    if approval.get("decision") != "approve" or runtime is None:
        return None
    journal = context_of(runtime).executions
    if journal is None:
        return None
    thread = str(((config or {}).get("configurable") or {}).get("thread_id") or state.get("task_id"))
    key = f"{thread}:{approval.get('action_key')}:{approval.get('at')}:{attempt}"
    if not journal.claim(key, thread):
        raise ExecutionInterrupted(
            f"the approved action {state.get('action', '')[:120]!r} started before and its process "
            "died before it finished; it is not run again automatically (it may have partly "
            "run). Check its effects, then start a new task to run it again."
        )
    return key


def _llm_messages(state: TaskState) -> list:
    prompt = state.get("task") or state.get("action", "")
    if state.get("feedback"):
        prompt += "\n\nYour previous attempt was rejected by verification:\n" + state["feedback"]
    return [SystemMessage(SYSTEM_PROMPT), HumanMessage(prompt)]


def _default_work(state: TaskState, runtime: Runtime[TaskContext]) -> dict:
    ctx = context_of(runtime)
    call = ctx.router.invoke(_llm_messages(state), task_id=state["task_id"], schema=ctx.output_schema)
    if ctx.output_schema is not None and call.parsed is not None:
        output: Any = call.parsed.model_dump(mode="json")
    else:
        output = call.message.content if isinstance(call.message.content, str) else str(call.message.content)
    return {
        "output": output,
        "_info": {
            "provider": call.provider,
            "model": call.model,
            "cost_usd": call.cost_usd,
            "fallbacks": call.fallbacks,
        },
    }


def _adapt(user_work: Any) -> tuple[Callable[..., Any], bool]:
    """Return (callable(state, runtime, config), is_async) for a function or a Runnable."""
    if hasattr(user_work, "invoke") and hasattr(user_work, "ainvoke"):
        return (lambda s, r, c: user_work.invoke(dict(s), c)), False
    if not callable(user_work):
        raise TypeError(
            f"work must be a callable node `(state) -> dict` / `(state, runtime) -> dict` or a "
            f"Runnable/compiled graph, got {type(user_work).__name__}"
        )
    params = list(inspect.signature(user_work).parameters.values())
    wants_runtime = len(params) >= 2 or any(p.name == "runtime" for p in params)
    is_async = inspect.iscoroutinefunction(user_work)
    if wants_runtime:
        return (lambda s, r, c: user_work(s, r)), is_async
    return (lambda s, r, c: user_work(s)), is_async


def _to_update(result: Any, attempts: int) -> dict:
    info: dict = {}
    if isinstance(result, dict):
        info = result.pop("_info", {}) if "_info" in result else {}
        update = {k: v for k, v in result.items() if k in ("output", "evidence")}
        if "output" not in update:
            update["output"] = {k: v for k, v in result.items() if k not in ("trace",)}
    else:
        update = {"output": result}
    update.update({"attempts": attempts, "work_error": "", "trace": step("work", attempt=attempts, **info)})
    return update


def _failed(exc: BaseException, attempts: int) -> dict:
    if isinstance(exc, ApprovalMissing):
        raise exc
    if isinstance(exc, TaskOrchestratorError):  # budget, providers: stop, do not retry
        return {
            "attempts": attempts,
            "status": "error",
            "error": str(exc),
            "trace": step("work", attempt=attempts, error=str(exc)),
        }
    msg = f"{type(exc).__name__}: {exc}"
    return {
        "attempts": attempts,
        "output": None,
        "work_error": msg,
        "trace": step("work", attempt=attempts, error=msg),
    }


def _finish_execution(runtime: Any, key: str | None) -> None:
    if key is not None:
        context_of(runtime).executions.finish(key)


def make_work_node(user_work: Any = None) -> Callable[..., Any]:
    """The work node around ``user_work`` (or the default LLM call): refused without a needed
    approval, claimed once per attempt, an exception turned into findings; routes to verify,
    or to finalize on an error."""
    if user_work is None:
        fn: Callable[..., Any] = lambda s, r, c: _default_work(s, r)  # noqa: E731
        is_async = False
    else:
        fn, is_async = _adapt(user_work)

    if is_async:

        async def awork(
            state: TaskState, runtime: Runtime[TaskContext], config: RunnableConfig
        ) -> Command[AfterWork]:
            _require_approval(state)
            attempts = state.get("attempts", 0) + 1
            key = None
            try:
                key = _claim_execution(state, runtime, config, attempts)
                update = _to_update(await fn(state, runtime, config), attempts)
            except Exception as exc:
                update = _failed(exc, attempts)
            finally:
                _finish_execution(runtime, key)
            return goto(state, update, _after_work)

        return awork

    def work(state: TaskState, runtime: Runtime[TaskContext], config: RunnableConfig) -> Command[AfterWork]:
        _require_approval(state)
        attempts = state.get("attempts", 0) + 1
        key = None
        try:
            key = _claim_execution(state, runtime, config, attempts)
            update = _to_update(fn(state, runtime, config), attempts)
        except Exception as exc:
            update = _failed(exc, attempts)
        finally:
            _finish_execution(runtime, key)
        return goto(state, update, _after_work)

    return work


def _after_work(state: TaskState) -> AfterWork:
    return "finalize" if state.get("status") == "error" else "verify"
