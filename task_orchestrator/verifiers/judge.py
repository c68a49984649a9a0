"""The LLM judge: a structured verdict from the configured model, off by default."""

from __future__ import annotations

from pydantic import BaseModel, Field

from task_orchestrator.errors import TaskOrchestratorError
from task_orchestrator.findings import Finding
from task_orchestrator.verifiers import VerifyInput, verifier

__all__ = ["RUBRIC", "Verdict", "llm_judge"]

RUBRIC = (
    "Judge whether the OUTPUT correctly and completely does the TASK. Fail it for claims not "
    "backed by the EVIDENCE (tests said to pass without output, files said to exist that are "
    "not shown), invented APIs or packages, placeholders, or missing parts. Quote evidence."
)


class JudgeIssue(BaseModel):
    message: str
    evidence: str = ""


class Verdict(BaseModel):
    passed: bool
    confidence: float = Field(ge=0, le=1)
    issues: list[JudgeIssue] = Field(default_factory=list)


def _skipped(why: str) -> list[Finding]:
    # A judge that could not run says so; it never reports a pass.
    return [Finding(verifier="llm_judge", severity="warning", code="skipped", message=f"skipped: {why}")]


@verifier("llm_judge")
def llm_judge(inp: VerifyInput) -> list[Finding]:
    router = inp.router
    if router is None:
        return _skipped("no provider")
    try:
        router.preflight()
    except TaskOrchestratorError as exc:
        return _skipped(f"no provider ({exc})")
    rubric = getattr(inp.settings, "judge_rubric", None) or RUBRIC
    prompt = (
        f"{rubric}\n\nTASK:\n{inp.task}\n\nOUTPUT:\n{inp.text[:12_000]}\n\n"
        f"EVIDENCE:\n{str(inp.evidence)[:6_000]}"
    )
    try:
        call = router.invoke(prompt, task_id=inp.task_id or "llm-judge", schema=Verdict)
    except TaskOrchestratorError as exc:
        return _skipped(f"judge call failed ({exc})")
    verdict = call.parsed
    if verdict is None:
        return [
            Finding(
                verifier="llm_judge",
                severity="warning",
                code="invalid_verdict",
                message="the judge returned no valid verdict",
                evidence=str(call.message.content)[:300],
            )
        ]
    if verdict.passed:
        return []
    return [
        Finding(
            verifier="llm_judge",
            message=i.message,
            evidence=i.evidence,
            suggestion=f"judge confidence {verdict.confidence:.2f}",
        )
        for i in verdict.issues
    ] or [
        Finding(
            verifier="llm_judge",
            message="the judge failed the output without reasons",
            suggestion=f"judge confidence {verdict.confidence:.2f}",
        )
    ]
