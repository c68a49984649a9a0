"""Failure memory, risk assessment and the allow/ask/deny gate."""

from __future__ import annotations

from ..settings import Settings
from .base import ActionKind, FailureMemory, FailureRecord, Match, RiskAssessment, RiskAssessor
from .gate import GateDecision, assess_action
from .inmemory import InMemoryFailureMemory
from .risk import RuleRiskAssessor

__all__ = [
    "ActionKind",
    "FailureMemory",
    "FailureRecord",
    "GateDecision",
    "InMemoryFailureMemory",
    "Match",
    "RiskAssessment",
    "RiskAssessor",
    "RuleRiskAssessor",
    "assess_action",
    "default_memory",
    "default_risk",
]


def default_memory(settings: Settings) -> FailureMemory:
    from .store import PersistentFailureMemory

    return PersistentFailureMemory(settings)


def default_risk(settings: Settings, memory: FailureMemory | None) -> RiskAssessor:
    return RuleRiskAssessor(memory)
