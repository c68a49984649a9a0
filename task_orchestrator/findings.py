"""The finding type every verifier returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["Finding", "Severity"]

Severity = Literal["info", "warning", "error", "critical"]


class Finding(BaseModel):
    """One thing a verifier found wrong (or noteworthy) in an output."""

    verifier: str
    severity: Severity = "error"
    message: str
    evidence: str = ""
    suggestion: str = ""
    #: A stable machine-readable kind, e.g. "tests_failed" (optional).
    code: str = ""

    @property
    def blocking(self) -> bool:
        return self.severity in ("error", "critical")
