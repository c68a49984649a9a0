"""The decision for the guard node and the ``check_action`` MCP tool, from ``_decide.decide``.

The guard node, the MCP check-action tool and both Claude Code hook transports reach the same
``decide`` (memory/_decide.py); this module gathers its facts from a ``FailureMemory`` and a
``RiskAssessor`` and returns a typed ``GateDecision``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from task_orchestrator.literals import Decision
from task_orchestrator.memory._decide import SessionState, decide, load_predictor
from task_orchestrator.memory.base import ActionKind, FailureMemory, Match, RiskAssessment, RiskAssessor
from task_orchestrator.settings import Settings

__all__ = ["GateDecision", "assess_action"]


class GateDecision(BaseModel):
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    advice: list[str] = Field(
        default_factory=list,
        description="Lessons of past failures that do not block the action (context for the model).",
    )
    risk: RiskAssessment = Field(default_factory=RiskAssessment)
    matches: list[Match] = Field(default_factory=list)
    degraded: bool = Field(default=False, description="The failure memory could not be read; rules only.")

    def summary(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "no known failure or risk"


def assess_action(
    action: str,
    *,
    action_kind: ActionKind = "command",
    memory: FailureMemory | None,
    risk: RiskAssessor,
    settings: Settings,
    state: SessionState | None = None,
) -> GateDecision:
    """Judge ``action`` against the risk rules and the failure memory.

    Rules never depend on the memory: if the memory fails, critical actions are still denied
    and the decision says it was made on rules alone. Without a ``state`` (no session known),
    failures the hooks learned are advice; failures recorded on purpose deny exact repeats.
    """
    assessment = risk.assess(action, action_kind=action_kind)
    matches: list[Match] = []
    degraded = False
    notes: list[str] = []
    if memory is not None:
        try:
            # An exact repeat is the surest answer and needs no embedding at all.
            exact = memory.check_exact(action, action_kind=action_kind)
            matches = [exact] if exact else memory.check(action, action_kind=action_kind)
        except Exception as exc:  # the safety layer must not brick the agent
            degraded = True
            notes.append(f"failure memory unavailable ({type(exc).__name__}: {exc}); rules only")
    near = [m for m in matches if m.exact or m.distance <= settings.similarity_advice_distance]
    exact_match = next((m for m in near if m.exact), None)

    successes = 0
    if exact_match is not None and memory is not None:
        try:
            successes = memory.outcomes(action, action_kind=action_kind)[1]
        except Exception:  # statistics are advisory
            successes = 0

    verdict = decide(
        level=assessment.level,
        risk_reasons=assessment.reasons,
        exact=exact_match.record.model_dump() if exact_match else None,
        similar=[(m.record.model_dump(), m.distance) for m in near if not m.exact],
        state=state or SessionState(),
        ask_at=settings.ask_at_risk,
        deny_at=settings.deny_at_risk,
        approval_policy=settings.approval_policy,
        successes_after=successes,
        predictor=load_predictor,
    )
    return GateDecision(
        decision=verdict.decision,  # type: ignore[arg-type]
        reasons=[*verdict.reasons, *notes],
        advice=verdict.context,
        risk=assessment,
        matches=near,
        degraded=degraded,
    )
