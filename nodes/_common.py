"""Small helpers shared by the safety nodes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from task_orchestrator.graphs.state import TaskState
from task_orchestrator.memory.base import ActionKind
from task_orchestrator.memory.normalize import signature

N = TypeVar("N", bound=str)


def goto(state: TaskState, update: Mapping[str, Any], route: Callable[[Any], N]) -> Command[N]:
    """``Command(update=update, goto=route(the state after the update))``.

    Each node routes itself this way; its ``-> Command[Literal[...]]`` annotation is where
    LangGraph reads the node's possible destinations (the edges of the drawing). The route
    functions read only plain fields (status, decisions, findings), never the ``trace``
    reducer, so ``{**state, **update}`` is what they would see after the step.
    """
    return Command(update=dict(update), goto=route({**state, **update}))


def action_of(state: TaskState) -> tuple[str, ActionKind]:
    """(action, kind): the explicit action, else the task text as a ``text`` action."""
    if state.get("action"):
        return state["action"], state.get("action_kind", "command")
    return state.get("task", ""), state.get("action_kind", "text")


def task_id_of(state: TaskState, config: RunnableConfig | None) -> str:
    if state.get("task_id"):
        return state["task_id"]
    thread = ((config or {}).get("configurable") or {}).get("thread_id")
    return str(thread) if thread else uuid.uuid4().hex


def approval_key(action: str, kind: str) -> str:
    """What an approval is bound to: the signature of the exact action approved."""
    return signature(action, kind)


def step(node: str, **info: Any) -> list[dict[str, Any]]:
    """A one-entry trace update."""
    return [{"node": node, **info}]
