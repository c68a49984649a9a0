"""Every error task-orchestrator raises, in two families under ``TaskOrchestratorError``:

- ``ConfigurationError`` (also a ``ValueError``): the caller asked for something that cannot
  work as asked (a setting, a missing key, an unknown task); the message says how to fix it.
- ``RuntimeFailure`` (also a ``RuntimeError``): something failed while working (a provider,
  a budget, a store, a refused or interrupted action); retrying or a human may help.

Anything else that escapes the library is a bug in it, and is reported as one.
"""

from __future__ import annotations

__all__ = [
    "AllProvidersUnavailable",
    "ApprovalMissing",
    "BudgetExceeded",
    "ConfigurationError",
    "ExecutionInterrupted",
    "NoProviderConfigured",
    "ProviderCallFailed",
    "QuotaExhausted",
    "RateLimited",
    "RuntimeFailure",
    "StoreUnavailable",
    "TaskOrchestratorError",
    "UnknownTask",
    "UnpricedModel",
]


class TaskOrchestratorError(Exception):
    """Base of every error raised by task-orchestrator."""


class ConfigurationError(TaskOrchestratorError, ValueError):
    """The library is set up wrongly; the message says how to fix it."""


class NoProviderConfigured(ConfigurationError):
    def __init__(self, providers: list[str]) -> None:
        env = {"gemini": "GOOGLE_API_KEY", "openai": "OPENAI_API_KEY"}
        names = " or ".join(env[p] for p in providers if p in env)
        super().__init__(
            f"No LLM provider is configured: set {names} (providers tried in order: "
            f"{', '.join(providers)}), or pass your own work node / chat models."
        )


class UnpricedModel(ConfigurationError):
    def __init__(self, model: str) -> None:
        super().__init__(
            f"Model {model!r} has no price in the table, so the budget cannot be enforced. Add it "
            "with TASK_ORCHESTRATOR_PRICES='{\"" + model + '": {"input": .., "output": ..}}\' '
            "(USD per 1M tokens) or set TASK_ORCHESTRATOR_ALLOW_UNPRICED_MODELS=true."
        )


class UnknownTask(ConfigurationError, LookupError):
    """No task is waiting for approval (or left to recover) under that thread id."""


class RuntimeFailure(TaskOrchestratorError, RuntimeError):
    """Something failed while a task ran."""


class BudgetExceeded(RuntimeFailure):
    """A call was refused before it was made because it would exceed a budget."""


class AllProvidersUnavailable(RuntimeFailure):
    """Every provider's circuit breaker is open; nothing was called."""


class ProviderCallFailed(RuntimeFailure):
    """Every available provider was tried and failed."""


class QuotaExhausted(RuntimeFailure):
    """A provider's daily (or billing) quota is used up; no call was made to it. Not an outage:
    no circuit breaker opened. ``until`` is when it resets (epoch seconds), if known."""

    def __init__(self, message: str, *, provider: str = "", until: float | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.until = until


class RateLimited(RuntimeFailure):
    """A provider's rate limit would have kept the call waiting longer than
    ``rate_limit_max_wait_s``; no breaker opened."""


class ApprovalMissing(RuntimeFailure, PermissionError):
    """The work was reached for an action that needed approval and has none."""


class ExecutionInterrupted(RuntimeFailure):
    """An approved action was interrupted mid-run; running it again needs a new approval."""


class StoreUnavailable(RuntimeFailure):
    """A store could not be opened or written (disk full, locked too long, read-only,
    corrupt). A write in progress was rolled back: nothing is half-written."""

    HINTS = (
        ("full", "free disk space where the data directory lives, then retry"),
        ("locked", "another process held the write lock for over 30 s; retry"),
        ("readonly", "the store is read-only: check the data directory's permissions"),
        ("read-only", "the store is read-only: check the data directory's permissions"),
        (
            "malformed",
            "the store file is corrupt: move it aside (a new one is created) and "
            "re-import an export if you have one",
        ),
        (
            "not a database",
            "the store file is corrupt: move it aside (a new one is created) "
            "and re-import an export if you have one",
        ),
    )

    def __init__(self, store: str, cause: BaseException) -> None:
        from task_orchestrator.memory.redact import redact  # a connection error may quote its URL

        text = redact(str(cause))
        hint = next(
            (h for key, h in self.HINTS if key in text.lower()),
            "check the database server or the data directory, then retry",
        )
        super().__init__(
            f"the {store} store failed ({text}); a write in progress was rolled "
            f"back and nothing stored before is lost: {hint}"
        )
