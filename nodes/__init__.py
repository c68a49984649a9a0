"""The safety nodes inserted around a task's work.

``build_guarded_graph`` wires them; each node routes itself (``Command[Literal[...]]``). What a
user of the graph may want from here: the node factories for their own graph layout and the
feedback template.
"""

from task_orchestrator.errors import ApprovalMissing
from task_orchestrator.nodes.approval import approval
from task_orchestrator.nodes.breaker import make_breaker_node
from task_orchestrator.nodes.finalize import finalize
from task_orchestrator.nodes.guard import guard
from task_orchestrator.nodes.reflect import reflect, template_feedback
from task_orchestrator.nodes.verify import verify
from task_orchestrator.nodes.work import make_work_node

__all__ = [
    "ApprovalMissing",
    "approval",
    "finalize",
    "guard",
    "make_breaker_node",
    "make_work_node",
    "reflect",
    "template_feedback",
    "verify",
]
