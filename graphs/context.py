"""Run-scoped context handed to every node through ``Runtime[TaskContext]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ..breaker import CircuitBreakers
from ..cost import CostLedger
from ..memory.base import FailureMemory, RiskAssessor
from ..providers import ModelRouter
from ..settings import Settings

__all__ = ["TaskContext", "open_context"]


@dataclass
class TaskContext:
    settings: Settings
    memory: FailureMemory
    risk: RiskAssessor
    router: ModelRouter
    #: Verifier names for this run (default: ``settings.verifiers``).
    verifiers: list[str] | None = None
    #: Structured output the work must produce (checked by the ``schema`` verifier).
    output_schema: type[BaseModel] | None = None
    #: Anything else a user's own nodes need.
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.memory.close()
        self.router.breakers.close()
        self.router.ledger.close()


def open_context(
    settings: Settings | None = None,
    *,
    models: dict[str, Any] | None = None,
    memory: FailureMemory | None = None,
    risk: RiskAssessor | None = None,
    **kwargs: Any,
) -> TaskContext:
    """Open the stores in ``settings.data_dir`` and return a context for ``invoke(context=...)``.

    ``models`` maps provider names ("gemini", "openai") to chat models, replacing the
    real providers (scripted models in tests and the offline demo).
    """
    from ..memory import default_memory, default_risk

    settings = settings or Settings()
    data = settings.ensure_data_dir()
    breakers = CircuitBreakers(
        data / "breakers.sqlite",
        failure_threshold=settings.breaker_failure_threshold,
        reset_timeout_s=settings.breaker_reset_timeout_s,
    )
    ledger = CostLedger(data / "ledger.sqlite", settings)
    memory = memory if memory is not None else default_memory(settings)
    return TaskContext(
        settings=settings,
        memory=memory,
        risk=risk if risk is not None else default_risk(settings, memory),
        router=ModelRouter(settings, breakers, ledger, models),
        **kwargs,
    )
