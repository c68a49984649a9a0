"""The one decision every entry point shares: allow, ask or deny an action.

Used by the guard node, the MCP check-action tool and the Claude Code hooks, so a
command is judged the same way wherever it comes from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..settings import Settings
from ._rules import decision_for
from .base import ActionKind, FailureMemory, Match, RiskAssessment, RiskAssessor

__all__ = ["GateDecision", "assess_action"]

Decision = Literal["allow", "ask", "deny"]
_RANK = {"allow": 0, "ask": 1, "deny": 2}


class GateDecision(BaseModel):
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    risk: RiskAssessment = Field(default_factory=RiskAssessment)
    matches: list[Match] = Field(default_factory=list)
    degraded: bool = Field(
        default=False, description="The failure memory could not be read; rules only."
    )

    def summary(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "no known failure or risk"


def _match_reason(m: Match) -> str:
    what = "exact repeat of" if m.exact else f"similar (distance {m.distance:.2f}) to"
    lesson = f" Lesson: {m.record.lesson}" if m.record.lesson else ""
    err = m.record.error.strip().splitlines()[-1][:160] if m.record.error.strip() else m.record.kind
    return (f"{what} a recorded failure ({m.record.count}x): `{m.record.action[:160]}` -> "
            f"{err}.{lesson}")


def assess_action(
    action: str,
    *,
    action_kind: ActionKind = "command",
    memory: FailureMemory | None,
    risk: RiskAssessor,
    settings: Settings,
) -> GateDecision:
    """Judge ``action`` against the risk rules and the failure memory.

    Rules never depend on the memory: if the memory fails, critical actions are
    still denied and the decision says it was made on rules alone.
    """
    assessment = risk.assess(action, action_kind=action_kind)
    decision: Decision = "allow"
    reasons: list[str] = []

    def raise_to(d: Decision, reason: str) -> None:
        nonlocal decision
        reasons.append(reason)
        if _RANK[d] > _RANK[decision]:
            decision = d

    by_risk = decision_for(assessment.level, settings.ask_at_risk, settings.deny_at_risk)
    if by_risk != "allow":
        raise_to(by_risk, f"risk {assessment.level}: " + ", ".join(assessment.reasons))

    matches: list[Match] = []
    degraded = False
    if memory is not None:
        try:
            # An exact repeat is the surest answer and needs no embedding at all.
            exact = memory.check_exact(action, action_kind=action_kind)
            matches = [exact] if exact else memory.check(action, action_kind=action_kind)
        except Exception as exc:  # the safety layer must not brick the agent
            degraded = True
            reasons.append(f"failure memory unavailable ({type(exc).__name__}: {exc}); rules only")
    for m in matches:
        if m.exact or m.distance <= settings.similarity_deny_distance:
            raise_to("deny", _match_reason(m))
        elif m.distance <= settings.similarity_ask_distance:
            raise_to("ask", _match_reason(m))

    if settings.approval_policy == "always" and decision == "allow":
        raise_to("ask", "approval policy is 'always'")
    return GateDecision(
        decision=decision,
        reasons=reasons,
        risk=assessment,
        matches=[m for m in matches if m.distance <= settings.similarity_ask_distance],
        degraded=degraded,
    )
