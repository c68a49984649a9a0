"""One object behind the MCP tools and the CLI: memory, gate, verifiers, tasks and status.

Heavy parts (LangGraph, Chroma, the embedding model, providers) open on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar, cast

from task_orchestrator.memory import FailureRecord, GateDecision, assess_action
from task_orchestrator.memory.base import ActionKind
from task_orchestrator.memory.store import PersistentFailureMemory
from task_orchestrator.risk.assessor import RuleRiskAssessor
from task_orchestrator.settings import Settings

__all__ = ["Service"]

_T = TypeVar("_T")

log = logging.getLogger(__name__)


class _Unreadable:
    """Stands in for a failure memory that cannot be opened: every lookup raises its error,
    which the gate reports as a degraded, rules-only decision."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def check_exact(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc

    check = check_exact


class Service:
    def __init__(self, settings: Settings | None = None, **orchestrator_kwargs: Any) -> None:
        self.settings = settings or Settings()
        self._orchestrator_kwargs = orchestrator_kwargs
        # Checks never wait for a task: the memory guards its own parts (the failure table
        # and the vector index lock themselves), so the only locks here are one for opening
        # the parts once and one that lets tasks take turns on the orchestrator.
        self._opening = threading.RLock()
        self._tasks = threading.Lock()

    def _open_once(self, name: str, open_it: Callable[[], _T]) -> _T:
        """``open_it()`` once for the attribute ``name``: two threads asking first at the
        same time get one object, not two."""
        with self._opening:
            if name not in self.__dict__:
                self.__dict__[name] = open_it()
            return self.__dict__[name]

    @cached_property
    def memory(self) -> PersistentFailureMemory:
        return self._open_once("memory", lambda: PersistentFailureMemory(self.settings))

    @cached_property
    def risk(self) -> RuleRiskAssessor:
        return RuleRiskAssessor(self.memory)

    @cached_property
    def orchestrator(self):
        from task_orchestrator.runner import Orchestrator

        def open_orchestrator() -> Orchestrator:
            kwargs = self._orchestrator_kwargs
            return Orchestrator(self.settings, memory=self.memory, risk=self.risk, **kwargs)

        return self._open_once("orchestrator", open_orchestrator)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in ("orchestrator", "memory"):
            obj = self.__dict__.pop(name, None)
            if obj is not None:
                obj.close()

    # -- the gate --------------------------------------------------------------------------
    def check_action(self, action: str, action_kind: ActionKind = "command") -> GateDecision:
        """Never fails for a broken store: the rules still decide (``degraded`` says so)."""
        try:
            memory: Any = self.memory
            risk = self.risk
        except Exception as exc:  # e.g. a corrupt memory.sqlite: fail safe, not open
            memory, risk = _Unreadable(exc), RuleRiskAssessor(None)
        decision = assess_action(
            action, action_kind=action_kind, memory=memory, risk=risk, settings=self.settings
        )
        if isinstance(memory, _Unreadable):
            return decision  # nowhere to log it
        from task_orchestrator.memory.normalize import signature

        try:
            memory.store.log_decision(
                decision.decision, signature(action, action_kind), decision.summary(), decision.risk.level
            )
        except Exception as exc:  # the log is for status and the report only
            log.warning("could not log the decision: %s", exc)
        return decision

    def record_failure(self, **fields: Any) -> FailureRecord:
        fields.setdefault("project", self.settings.project)
        return self.memory.record(FailureRecord(**fields))

    def search(self, query: str, action_kind: ActionKind = "command", k: int = 5):
        return self.memory.check(query, action_kind=action_kind, k=k)

    def forget(self, record_id: str) -> bool:
        return self.memory.forget(record_id)

    # -- verification ---------------------------------------------------------------------
    def verify(
        self, output: Any, *, task: str = "", evidence: dict | None = None, verifiers: list[str] | None = None
    ):
        from task_orchestrator.verifiers import VerifyInput, run_verifiers

        names = verifiers or [v for v in self.settings.verifiers if v != "schema"]
        return run_verifiers(
            names, VerifyInput(output=output, task=task, evidence=evidence or {}, settings=self.settings)
        )

    def verify_transcript(self, path: str):
        from task_orchestrator.verifiers.transcript import check_transcript

        return check_transcript(path)

    # -- tasks ----------------------------------------------------------------------------------
    def run_task(self, task: str, **kwargs: Any) -> dict[str, Any]:
        with self._tasks:
            return self.orchestrator.run(task, **kwargs)

    def run_agent(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        with self._tasks:
            return self.orchestrator.run_agent(prompt, **kwargs)

    def resume(self, thread_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        with self._tasks:
            return self.orchestrator.resume(thread_id, decision)

    def recover(self, thread_id: str) -> dict[str, Any]:
        with self._tasks:
            return self.orchestrator.recover(thread_id)

    def pending(self) -> list[dict[str, Any]]:
        return self.orchestrator.pending()  # one SELECT: never waits for a running task

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        from task_orchestrator.breaker import CircuitBreakers
        from task_orchestrator.cost import CostLedger, _today
        from task_orchestrator.pacing import Pacer

        breakers = CircuitBreakers.for_settings(self.settings)
        ledger = CostLedger.for_settings(self.settings)
        pacer = Pacer.for_settings(self.settings)
        try:
            day = _today()
            recent = [
                e for e in self.memory.store.events(time.time() - 86400) if e["event"] in ("blocked", "asked")
            ][-10:]
            return {
                "breakers": [vars(breakers.status(p)) for p in self.settings.providers],
                "pacing": [pacer.usage(p, self.settings.model_for(p)) for p in self.settings.providers],
                "budget": {
                    "spent_today_usd": round(ledger.spent(day=day), 6),
                    "daily_budget_usd": self.settings.daily_budget_usd,
                    "task_budget_usd": self.settings.task_budget_usd,
                },
                "memory": self._memory_status(),
                "recent_blocks": recent,
                "pending_approvals": len(self.pending()),
                "data_dir": str(self.settings.data_dir),
            }
        finally:
            breakers.close()
            ledger.close()
            pacer.close()

    def _memory_status(self) -> dict[str, Any]:
        """The two kinds of memory: failures kept per workspace, and the environment lessons
        (and failures recorded on purpose) every workspace shares."""
        scopes = self.memory.store.scopes()
        shared = scopes.pop("", 0)
        return {
            "failures": shared + sum(scopes.values()),
            "cap": self.settings.memory_cap,
            "shared_lessons": shared,
            "workspace_failures": sum(scopes.values()),
            "workspaces": len(scopes),
        }

    # -- the guard service's similarity search ------------------------------------------------
    def similar_rows(self, action: str, kind: str, workspace: str, k: int = 8) -> list[tuple[dict, float]]:
        """Past failures near ``action`` (not exact repeats) of this workspace or shared ones,
        within the advice distance, as (row, distance)."""
        if not self.memory.store.has_failures(workspace, kind):
            return []  # nothing of this kind could match: no embedding, no index query
        out = []
        for m in self.memory.check(action, action_kind=cast(ActionKind, kind), k=k):
            if m.exact or m.distance > self.settings.similarity_advice_distance:
                continue
            if m.record.workspace and m.record.workspace != workspace:
                continue
            out.append((m.record.model_dump(), m.distance))
        return out[:3]

    def warm_up(self) -> None:
        """Load what the first check would otherwise load on a hook's path: the failure
        table, the risk rules and the shell parser, and, when any failure is stored, the
        embedding model and the vector index."""
        from task_orchestrator.risk.text import rule_level

        rule_level("cd /tmp && ls -la | head -n 3")
        if not self.memory.store.empty():  # with nothing stored, nothing to compare: no model
            self.load_similarity()

    def load_similarity(self) -> None:
        """The embedding model and the vector index (~1.2 s of CPU here)."""
        self.memory.embedder.embed(["warm up"])
        self.memory.index  # noqa: B018 (opens the vector index)
