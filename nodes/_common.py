"""Small helpers shared by the safety nodes."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.runnables import RunnableConfig

from task_orchestrator.graphs.state import TaskState
from task_orchestrator.literals import TERMINAL_STATUSES
from task_orchestrator.memory.base import ActionKind
from task_orchestrator.memory.normalize import signature

TERMINAL = TERMINAL_STATUSES


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
