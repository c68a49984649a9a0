"""The guarded task graph factory."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from .. import nodes
from .context import TaskContext
from .state import TaskInput, TaskOutput, TaskState

__all__ = ["build_guarded_graph"]


def build_guarded_graph(*, work: Any = None, work_uses_model: bool | None = None,
                        context_schema: type = TaskContext) -> StateGraph:
    """Return an **uncompiled** graph: guard -> [approval] -> breaker -> work -> verify
    -> [reflect -> breaker ...] -> finalize.

    ``work``: your node, ``(state) -> dict`` or ``(state, runtime) -> dict`` (sync or
    async), or a Runnable / compiled graph; it returns ``{"output": ...}``. By default
    the work is one LLM call through the provider router (breaker, budget, ledger).
    ``work_uses_model``: whether the breaker node must find a usable provider before
    the work runs (default: True for the default work, False for your own node).

    ``context_schema``: what ``invoke(context=...)`` accepts; nodes fall back to a
    default context from ``Settings()`` for anything but a TaskContext (see
    ``context_of``), which is what LangGraph Server needs (``task_orchestrator.studio``).

    Compile it with your checkpointer: ``build_guarded_graph().compile(checkpointer=...)``
    and invoke with ``context=open_context(...)``.
    """
    if work is not None and not callable(work) and not hasattr(work, "invoke"):
        raise TypeError(
            "work must be a node function or a Runnable/compiled graph; got "
            f"{type(work).__name__}. Pass e.g. work=lambda state: {{'output': ...}}"
        )
    uses_model = work is None if work_uses_model is None else work_uses_model

    g = StateGraph(TaskState, context_schema=context_schema, input_schema=TaskInput,
                   output_schema=TaskOutput)
    g.add_node("guard", nodes.guard)
    g.add_node("approval", nodes.approval)
    g.add_node("breaker", nodes.make_breaker_node(uses_model))
    g.add_node("work", nodes.make_work_node(work))
    g.add_node("verify", nodes.verify)
    g.add_node("reflect", nodes.reflect)
    g.add_node("finalize", nodes.finalize)

    g.add_edge(START, "guard")
    g.add_conditional_edges("guard", nodes.route_after_guard)
    g.add_conditional_edges("approval", nodes.route_after_approval)
    g.add_conditional_edges("breaker", nodes.route_after_breaker)
    g.add_conditional_edges("work", nodes.route_after_work)
    g.add_conditional_edges("verify", nodes.route_after_verify)
    g.add_conditional_edges("reflect", nodes.route_after_reflect)
    g.add_edge("finalize", END)
    return g


# Exposed for type checkers / langgraph.json users who want the context type.
Context = TaskContext
