"""The safety nodes inserted around a task's work."""

from ..errors import ApprovalMissing
from .approval import approval, route_after_approval
from .breaker import make_breaker_node, route_after_breaker
from .finalize import finalize
from .guard import guard, route_after_guard
from .reflect import reflect, route_after_reflect, template_feedback
from .verify import route_after_verify, route_after_work, verify
from .work import make_work_node

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
