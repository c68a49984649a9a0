"""Risk assessment of an action: rules for dangerous operations + learned failure rates.

O(1) on the hot path: a fixed list of compiled patterns (``_rules.py``) plus one keyed
lookup of the action signature's outcome counts.
"""

from __future__ import annotations

from ._rules import RULES, Rule, combine, rule_level
from .base import ActionKind, FailureMemory, RiskAssessment, RiskAssessor

__all__ = ["RULES", "RuleRiskAssessor"]


class RuleRiskAssessor(RiskAssessor):
    """Rules, then outcome statistics: an action that keeps failing becomes riskier."""

    def __init__(self, memory: FailureMemory | None = None, rules: list[Rule] | None = None):
        self.memory = memory
        self.rules = rules if rules is not None else RULES

    def assess(self, action: str, *, action_kind: ActionKind = "command") -> RiskAssessment:
        level, reasons = rule_level(action, self.rules)
        failures = successes = 0
        if self.memory is not None:
            try:
                failures, successes = self.memory.outcomes(action, action_kind=action_kind)
            except Exception:  # statistics are advisory; the rules above still hold
                failures = successes = 0
        level, reasons = combine(level, reasons, failures, successes)
        return RiskAssessment(level=level, reasons=reasons, failures=failures, successes=successes)
