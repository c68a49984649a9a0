"""The failure-memory and risk interfaces the guard asks before anything runs."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Self

from pydantic import BaseModel, Field

from task_orchestrator.literals import ActionKind, RiskLevel

__all__ = [
    "ActionKind",
    "FailureMemory",
    "FailureRecord",
    "Match",
    "RiskAssessment",
    "RiskAssessor",
    "kept_after_prune",
]


class FailureRecord(BaseModel):
    """One remembered failure. ``signature`` is the hash of the normalised action."""

    id: str = ""
    signature: str = ""
    action: str = Field(min_length=1)
    action_kind: ActionKind = "command"
    kind: str = Field(default="error", description="What went wrong, e.g. command_failed.")
    error: str = ""
    lesson: str = ""
    project: str = "default"
    tags: list[str] = Field(default_factory=list)
    first_seen: float = Field(default_factory=time.time)
    last_seen: float = Field(default_factory=time.time)
    count: int = 1
    # What the failure depended on (hooks fill these; empty for a failure recorded on purpose,
    # which is then a standing rule: see memory/_decide.py).
    workspace: str = Field(default="", description="Workspace it belongs to; empty: shared.")
    failure_class: str = Field(default="", description="environment, code or other.")
    session: str = ""
    steps_at: int = 0
    changes_at: int = 0
    cwd: str = ""
    fingerprint: str = ""
    outcome: str = ""


class Match(BaseModel):
    """A past failure close to the action being checked (distance 0 = exact repeat)."""

    record: FailureRecord
    distance: float
    exact: bool


class RiskAssessment(BaseModel):
    level: RiskLevel = "low"
    reasons: list[str] = Field(default_factory=list)
    #: Failure statistics learned for this action signature (failures, successes).
    failures: int = 0
    successes: int = 0


def kept_after_prune(count: int, cap: int) -> int:
    """How many failures a prune keeps of ``count`` against ``cap``: up to the cap all of
    them; over it, down to a low-water mark 5% below the cap (at least one fewer), so at the
    cap pruning runs once per 5% of the cap in new failures, not on every one."""
    return cap - max(1, cap // 20) if count > cap else cap


class FailureMemory(ABC):
    """Remembers failures; answers "has this (or something like it) failed before?"."""

    @abstractmethod
    def record(self, failure: FailureRecord) -> FailureRecord:
        """Store a failure (a repeat increments ``count``); returns the stored record."""

    @abstractmethod
    def check(self, action: str, *, action_kind: ActionKind = "command", k: int = 3) -> list[Match]:
        """The exact repeat (if any) first, then up to ``k`` nearest past failures."""

    def check_exact(self, action: str, *, action_kind: ActionKind = "command") -> Match | None:
        """The exact repeat only (backends override this with an O(1) lookup)."""
        return next((m for m in self.check(action, action_kind=action_kind, k=0) if m.exact), None)

    @abstractmethod
    def record_outcome(self, action: str, *, ok: bool, action_kind: ActionKind = "command") -> None:
        """Count a success or failure of an action signature (feeds the risk statistics)."""

    @abstractmethod
    def outcomes(self, action: str, *, action_kind: ActionKind = "command") -> tuple[int, int]:
        """(failures, successes) recorded for this action's signature."""

    @abstractmethod
    def get(self, record_id: str) -> FailureRecord | None: ...

    @abstractmethod
    def list(self, *, limit: int = 100, offset: int = 0) -> list[FailureRecord]: ...

    @abstractmethod
    def forget(self, record_id: str) -> bool: ...

    @abstractmethod
    def count(self) -> int: ...

    def prune(self) -> int:
        """Apply the store's cap and age limit now; the number of failures evicted (a memory
        without limits keeps everything: 0)."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RiskAssessor(ABC):
    @abstractmethod
    def assess(self, action: str, *, action_kind: ActionKind = "command") -> RiskAssessment: ...
