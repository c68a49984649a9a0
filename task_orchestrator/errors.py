"""Two families: configuration mistakes, and failures at run time."""

from __future__ import annotations

__all__ = [
    "AllProvidersUnavailable",
    "BudgetExceeded",
    "ConfigurationError",
    "NoProviderConfigured",
    "ProviderCallFailed",
    "RuntimeFailure",
    "TaskOrchestratorError",
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
            "with TASK_ORCHESTRATOR_PRICES='{\"" + model + "\": {\"input\": .., \"output\": ..}}' "
            "(USD per 1M tokens) or set TASK_ORCHESTRATOR_ALLOW_UNPRICED_MODELS=true."
        )


class RuntimeFailure(TaskOrchestratorError, RuntimeError):
    """Something failed while a task ran."""


class BudgetExceeded(RuntimeFailure):
    """A call was refused before it was made because it would exceed a budget."""


class AllProvidersUnavailable(RuntimeFailure):
    """Every provider's circuit breaker is open; nothing was called."""


class ProviderCallFailed(RuntimeFailure):
    """Every available provider was tried and failed."""
