"""Risk assessment of an action: rules for dangerous operations + learned failure rates.

O(1) on the hot path: a fixed list of compiled patterns over the normalised
command, plus one keyed lookup of the action signature's outcome counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..settings import RISK_ORDER
from .base import ActionKind, FailureMemory, RiskAssessment, RiskAssessor

__all__ = ["RULES", "RuleRiskAssessor"]


@dataclass(frozen=True)
class Rule:
    name: str
    level: str
    pattern: re.Pattern[str]


def _r(name: str, level: str, pattern: str) -> Rule:
    return Rule(name, level, re.compile(pattern, re.IGNORECASE | re.MULTILINE))


RULES: list[Rule] = [
    _r("recursive delete of a root, home or workspace", "critical",
       r"\brm\s+(?:-[a-z]*\s+)*-[a-z]*(?:r[a-z]*f|f[a-z]*r)[a-z]*\s+(?:--no-preserve-root\s+)?"
       r"(?:/|~|\$HOME|\.|\*|/\*|\.\/\*|~/\*?)(?:\s|$|;|&)"),
    _r("recursive delete", "high", r"\brm\s+(?:-[a-z]*\s+)*-[a-z]*r|\brm\s+--recursive"),
]


class RuleRiskAssessor(RiskAssessor):
    """Rules, then outcome statistics: an action that keeps failing becomes riskier."""

    def __init__(self, memory: FailureMemory | None = None, rules: list[Rule] | None = None):
        self.memory = memory
        self.rules = rules if rules is not None else RULES

    def assess(self, action: str, *, action_kind: ActionKind = "command") -> RiskAssessment:
        level, reasons = "low", []
        for rule in self.rules:
            if rule.pattern.search(action):
                reasons.append(rule.name)
                if RISK_ORDER[rule.level] > RISK_ORDER[level]:
                    level = rule.level
        failures = successes = 0
        if self.memory is not None:
            try:
                failures, successes = self.memory.outcomes(action, action_kind=action_kind)
            except Exception:  # statistics are advisory; the rules above still hold
                failures = successes = 0
        if failures >= 2 and failures > successes and RISK_ORDER[level] < RISK_ORDER["medium"]:
            level = "medium"
            reasons.append(f"failed {failures} of {failures + successes} recorded runs")
        return RiskAssessment(level=level, reasons=reasons, failures=failures, successes=successes)
