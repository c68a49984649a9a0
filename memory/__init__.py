"""Failure memory, risk assessment and the allow/ask/deny gate.

Names are imported lazily so the Claude Code ``command`` hook, which only needs the
exact-hash table and the risk rules, starts without pydantic, numpy or Chroma.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings
    from .base import FailureMemory, RiskAssessor

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
    "ActionKind": "base", "FailureMemory": "base", "FailureRecord": "base", "Match": "base",
    "RiskAssessment": "base", "RiskAssessor": "base", "GateDecision": "gate",
    "assess_action": "gate", "InMemoryFailureMemory": "inmemory", "RuleRiskAssessor": "risk",
    "PersistentFailureMemory": "store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_memory(settings: Settings) -> FailureMemory:
    from .store import PersistentFailureMemory

    return PersistentFailureMemory(settings)


def default_risk(settings: Settings, memory: FailureMemory | None) -> RiskAssessor:
    from .risk import RuleRiskAssessor

    return RuleRiskAssessor(memory)
