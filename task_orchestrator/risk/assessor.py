"""Risk assessment of an action: rules for dangerous operations + learned failure rates.

A command is parsed (``_parse.py``, tree-sitter's bash grammar) and judged by what would run
(``_shellrules.py``) and by text rules over its parsed form (``_rules.py``); then one keyed
lookup of the action signature's outcome counts.
"""

from __future__ import annotations

from typing import cast

from task_orchestrator.memory.base import ActionKind, FailureMemory, RiskAssessment, RiskAssessor, RiskLevel
from task_orchestrator.risk.text import RULES, Rule, combine, rule_level, text_level

__all__ = ["RULES", "RuleRiskAssessor"]


class RuleRiskAssessor(RiskAssessor):
    """Rules, then outcome statistics: an action that keeps failing becomes riskier."""

    def __init__(self, memory: FailureMemory | None = None, rules: list[Rule] | None = None):
        self.memory = memory
        self.rules = rules if rules is not None else RULES

    def assess(
        self, action: str, *, action_kind: ActionKind = "command", cwd: str | None = None
    ) -> RiskAssessment:
        """A command is parsed and judged by what would run (in ``cwd``, when known); other
        actions and custom ``rules`` are judged on their text."""
        if action_kind == "command" and self.rules is RULES:
            level, reasons = rule_level(action, cwd=cwd)
        else:
            level, reasons = text_level(action, self.rules)
        failures = successes = 0
        if self.memory is not None:
            try:
                failures, successes = self.memory.outcomes(action, action_kind=action_kind)
            except Exception:  # statistics are advisory; the rules above still hold
                failures = successes = 0
        level, reasons = combine(level, reasons, failures, successes)
        return RiskAssessment(
            level=cast(RiskLevel, level),  # combine() keeps to the four levels of RISK_ORDER
            reasons=reasons,
            failures=failures,
            successes=successes,
        )
