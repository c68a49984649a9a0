"""Failure memory, risk assessment and the allow/ask/deny gate.

Names are imported lazily so the Claude Code ``command`` hook, which only needs the
exact-hash table and the risk rules, starts without pydantic, numpy or Chroma.
"""

from __future__ import annotations

from task_orchestrator._lazy import lazy_getattr

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from task_orchestrator.memory.base import FailureMemory, RiskAssessor
    from task_orchestrator.settings import Settings

__all__ = [
    "ActionKind",
    "FailureMemory",
    "FailureRecord",
    "GateDecision",
    "InMemoryFailureMemory",
    "Match",
    "PersistentFailureMemory",
    "RiskAssessment",
    "RiskAssessor",
    "RuleRiskAssessor",
    "assess_action",
    "default_memory",
    "default_risk",
]

_WHERE = {
    "ActionKind": "base",
    "FailureMemory": "base",
    "FailureRecord": "base",
    "Match": "base",
    "RiskAssessment": "base",
    "RiskAssessor": "base",
    "GateDecision": "gate",
    "assess_action": "gate",
    "InMemoryFailureMemory": "inmemory",
    "RuleRiskAssessor": "task_orchestrator.risk.assessor",
    "PersistentFailureMemory": "store",
}


__getattr__ = lazy_getattr(__name__, _WHERE)


def default_memory(settings: Settings) -> FailureMemory:
    from task_orchestrator.memory.store import PersistentFailureMemory

    return PersistentFailureMemory(settings)


def default_risk(settings: Settings, memory: FailureMemory | None) -> RiskAssessor:
    from task_orchestrator.risk.assessor import RuleRiskAssessor

    return RuleRiskAssessor(memory)
