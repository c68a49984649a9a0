"""The guarded task graph factory."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from task_orchestrator import nodes
from task_orchestrator.graphs.context import TaskContext
from task_orchestrator.graphs.state import TaskInput, TaskOutput, TaskState

__all__ = ["build_guarded_graph"]


def build_guarded_graph(
    *, work: Any = None, work_uses_model: bool | None = None, context_schema: type = TaskContext
) -> StateGraph[TaskState, TaskContext, TaskInput, TaskOutput]:
    """Return an **uncompiled** graph: guard -> [approval] -> breaker -> work -> verify
    -> [reflect -> breaker ...] -> finalize.

    ``work``: your node, ``(state) -> dict`` or ``(state, runtime) -> dict`` (sync or
    async), or a Runnable / compiled graph; it returns ``{"output": ...}``. By default
    the work is one LLM call through the provider router (breaker, budget, ledger).
    ``work_uses_model``: whether the breaker node must find a usable provider before
    the work runs (default: True for the default work, False for your own node).

    ``context_schema``: what ``invoke(context=...)`` accepts. The nodes need a TaskContext;
    without one they raise a ConfigurationError, except under LangGraph Server, where
    ``task_orchestrator.graphs.studio`` has them open one from the environment (``context_of``).

    Compile it with your checkpointer: ``build_guarded_graph().compile(checkpointer=...)``
    and invoke with ``context=open_context(...)``.
    """
    if work is not None and not callable(work) and not hasattr(work, "invoke"):
        raise TypeError(
            "work must be a node function or a Runnable/compiled graph; got "
            f"{type(work).__name__}. Pass e.g. work=lambda state: {{'output': ...}}"
        )
    uses_model = work is None if work_uses_model is None else work_uses_model

    g: StateGraph[TaskState, TaskContext, TaskInput, TaskOutput] = StateGraph(
        TaskState, context_schema=context_schema, input_schema=TaskInput, output_schema=TaskOutput
    )
    # Each node returns Command(update=..., goto=...); its -> Command[Literal[...]] annotation
    # gives LangGraph the node's destinations (the drawing's edges).
    # LangGraph runs a node taking (state, runtime, config); its typing protocols do not list
    # that combination yet.
    g.add_node("guard", nodes.guard)  # type: ignore[call-overload, arg-type]
    g.add_node("approval", nodes.approval)
    g.add_node("breaker", nodes.make_breaker_node(uses_model))
    g.add_node("work", nodes.make_work_node(work))
    g.add_node("verify", nodes.verify)
    g.add_node("reflect", nodes.reflect)
    g.add_node("finalize", nodes.finalize)
    g.add_edge(START, "guard")
    g.add_edge("finalize", END)
    return g
