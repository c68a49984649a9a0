"""The safety nodes inserted around a task's work."""

from task_orchestrator.errors import ApprovalMissing
from task_orchestrator.nodes.approval import approval, route_after_approval
from task_orchestrator.nodes.breaker import make_breaker_node, route_after_breaker
from task_orchestrator.nodes.finalize import finalize
from task_orchestrator.nodes.guard import guard, route_after_guard
from task_orchestrator.nodes.reflect import reflect, route_after_reflect, template_feedback
from task_orchestrator.nodes.verify import route_after_verify, route_after_work, verify
from task_orchestrator.nodes.work import make_work_node

__all__ = [
    "ApprovalMissing",
    "approval",
    "finalize",
    "guard",
    "make_breaker_node",
    "make_work_node",
    "reflect",
    "route_after_approval",
    "route_after_breaker",
    "route_after_guard",
    "route_after_reflect",
    "route_after_verify",
    "route_after_work",
    "template_feedback",
    "verify",
]
