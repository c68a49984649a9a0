"""Run-scoped context handed to every node through ``Runtime[TaskContext]``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from task_orchestrator.breaker import CircuitBreakers
from task_orchestrator.cost import CostLedger
from task_orchestrator.errors import ConfigurationError
from task_orchestrator.memory.base import FailureMemory, RiskAssessor
from task_orchestrator.providers import ModelRouter
from task_orchestrator.settings import Settings

__all__ = ["TaskContext", "context_of", "open_context", "serve_from_environment"]


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
    #: Where approved actions are journaled so a crash mid-run never runs one twice
    #: (``approvals.ExecutionJournal``; the Orchestrator sets it).
    executions: Any = None

    def close(self) -> None:
        self.memory.close()
        self.router.breakers.close()
        self.router.ledger.close()
        self.router.pacer.close()


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
    from task_orchestrator.memory import default_memory, default_risk

    settings = settings or Settings()
    breakers = CircuitBreakers.for_settings(settings)
    ledger = CostLedger.for_settings(settings)
    memory = memory if memory is not None else default_memory(settings)
    return TaskContext(
        settings=settings,
        memory=memory,
        risk=risk if risk is not None else default_risk(settings, memory),
        router=ModelRouter(settings, breakers, ledger, models),
        **kwargs,
    )


_default: TaskContext | None = None
_default_lock = threading.Lock()
_from_environment = False


def serve_from_environment() -> None:
    """For LangGraph Server (``task_orchestrator.graphs.studio``) only: a run whose context is a
    plain dict, or none, gets one process-wide context opened from ``Settings()`` (the
    environment) on first use. Python callers pass ``context=open_context(...)`` instead."""
    global _from_environment
    _from_environment = True


def context_of(runtime: Any) -> TaskContext:
    """The run's :class:`TaskContext`.

    Without one, a Python caller gets a ConfigurationError that says what to pass (never
    stores opened silently under the home folder). Under LangGraph Server
    (``serve_from_environment``), a plain dict or no context gets the environment's context;
    a dict may override ``verifiers`` for that run.
    """
    ctx = runtime.context
    if isinstance(ctx, TaskContext):
        return ctx
    if ctx is not None and not isinstance(ctx, Mapping):
        raise ConfigurationError(
            f"the run's context is a {type(ctx).__name__}; pass context=open_context(...) (a TaskContext)"
        )
    if not _from_environment:
        raise ConfigurationError(
            "the guarded graph needs its stores and models: invoke it with "
            "context=open_context(Settings()) (or your own TaskContext); "
            "task_orchestrator.graphs.studio serves it from the environment for LangGraph Server"
        )
    global _default
    with _default_lock:
        if _default is None:
            _default = open_context()
    verifiers = (ctx or {}).get("verifiers")
    if verifiers:
        return replace(_default, verifiers=list(verifiers))
    return _default
