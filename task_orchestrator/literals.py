"""The words every layer shares, in one place: what an action is, how risky it is, what the
gate decides, how a task ends, what a human answers. Standard library only (the command hook
imports it)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ACTION_KINDS",
    "DECISIONS",
    "RISK_LEVELS",
    "TERMINAL_STATUSES",
    "ActionKind",
    "ApprovalChoice",
    "Decision",
    "RiskLevel",
    "TaskStatus",
]

#: A shell command, a tool call (JSON), or free text (a task).
ActionKind = Literal["command", "tool_call", "text"]
#: Lowest to highest.
RiskLevel = Literal["low", "medium", "high", "critical"]
#: What the gate answers.
Decision = Literal["allow", "ask", "deny"]
#: What a human answers to a waiting task.
ApprovalChoice = Literal["approve", "reject", "edit"]
#: A task's status; every one but "running" ends it.
TaskStatus = Literal["running", "succeeded", "failed", "blocked", "rejected", "error"]

ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
RISK_LEVELS: tuple[RiskLevel, ...] = get_args(RiskLevel)
DECISIONS: tuple[Decision, ...] = get_args(Decision)
TERMINAL_STATUSES: tuple[TaskStatus, ...] = tuple(s for s in get_args(TaskStatus) if s != "running")
