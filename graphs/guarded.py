"""The guarded task graph factory."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

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
    ``task_orchestrator.studio`` has them open one from the environment (``context_of``).

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
    for name, node, route in [
        ("guard", nodes.guard, nodes.route_after_guard),
        ("approval", nodes.approval, nodes.route_after_approval),
        ("breaker", nodes.make_breaker_node(uses_model), nodes.route_after_breaker),
        ("work", nodes.make_work_node(work), nodes.route_after_work),
        ("verify", nodes.verify, nodes.route_after_verify),
        ("reflect", nodes.reflect, nodes.route_after_reflect),
    ]:
        g.add_node(name, _routed(node, route), destinations=_destinations(route))
    g.add_node("finalize", nodes.finalize)
    g.add_edge(START, "guard")
    g.add_edge("finalize", END)
    return g


def _routed(node: Callable[..., Any], route: Callable[[Any], str]) -> Callable[..., Any]:
    """The node, returning ``Command(update=..., goto=route(state after the update))``.

    Routing inside the node's own step instead of through conditional edges saves LangGraph a
    branch runnable per step (~0.25 ms of the ~1.5 ms a one-step task costs here; see
    benchmarks/graph_overhead.py). The route functions read only plain fields (status,
    decisions, findings), never the ``trace`` reducer, so ``{**state, **update}`` is what they
    would see. ``functools.wraps`` keeps the node's signature, which is how LangGraph decides
    to pass ``runtime`` and ``config``.
    """
    if inspect.iscoroutinefunction(node):

        @functools.wraps(node)
        async def arouted(state: dict, **kwargs: Any) -> Command:
            update = await node(state, **kwargs) or {}
            return Command(update=update, goto=route({**state, **update}))

        return arouted

    @functools.wraps(node)
    def routed(state: dict, **kwargs: Any) -> Command:
        update = node(state, **kwargs) or {}
        return Command(update=update, goto=route({**state, **update}))

    return routed


def _destinations(route: Callable) -> tuple[str, ...]:
    """Where a route can go, from its ``Literal[...]`` return type (drawn as the node's edges)."""
    return typing.get_args(typing.get_type_hints(route)["return"])


# Exposed for type checkers / langgraph.json users who want the context type.
Context = TaskContext
