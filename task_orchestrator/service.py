"""One object behind the MCP tools and the CLI: memory, gate, verifiers, tasks and status.

Heavy parts (LangGraph, Chroma, the embedding model, providers) open on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property
from typing import Any

from .memory import FailureRecord, GateDecision, assess_action
from .memory.risk import RuleRiskAssessor
from .memory.store import PersistentFailureMemory
from .settings import Settings

__all__ = ["Service"]

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
        self._lock = threading.RLock()

    @cached_property
    def memory(self) -> PersistentFailureMemory:
        return PersistentFailureMemory(self.settings)

    @cached_property
    def risk(self) -> RuleRiskAssessor:
        return RuleRiskAssessor(self.memory)

    @cached_property
    def orchestrator(self):
        from .runner import Orchestrator

        return Orchestrator(self.settings, memory=self.memory, risk=self.risk,
                            **self._orchestrator_kwargs)

    def close(self) -> None:
        for name in ("orchestrator", "memory"):
            obj = self.__dict__.pop(name, None)
            if obj is not None:
                obj.close()

    # -- the gate --------------------------------------------------------------------------
    def check_action(self, action: str, action_kind: str = "command") -> GateDecision:
        """Never fails for a broken store: the rules still decide (``degraded`` says so)."""
        with self._lock:
            try:
                memory, risk = self.memory, self.risk
            except Exception as exc:  # e.g. a corrupt memory.sqlite: fail safe, not open
                memory, risk = _Unreadable(exc), RuleRiskAssessor(None)
            decision = assess_action(action, action_kind=action_kind, memory=memory, risk=risk,
                                     settings=self.settings)
            if isinstance(memory, _Unreadable):
                return decision  # nowhere to log it
            from .memory.normalize import signature

            try:
                memory.store.log_decision(decision.decision, signature(action, action_kind),
                                          decision.summary(), decision.risk.level)
            except Exception as exc:  # the log is for status and the report only
                log.warning("could not log the decision: %s", exc)
            return decision

    def record_failure(self, **fields: Any) -> FailureRecord:
        with self._lock:
            fields.setdefault("project", self.settings.project)
            return self.memory.record(FailureRecord(**fields))

    def search(self, query: str, action_kind: str = "command", k: int = 5):
        with self._lock:
            return self.memory.check(query, action_kind=action_kind, k=k)

    def forget(self, record_id: str) -> bool:
        with self._lock:
            return self.memory.forget(record_id)

    # -- verification ---------------------------------------------------------------------
    def verify(self, output: Any, *, task: str = "", evidence: dict | None = None,
               verifiers: list[str] | None = None):
        from .verifiers import VerifyInput, run_verifiers

        names = verifiers or [v for v in self.settings.verifiers if v != "schema"]
        return run_verifiers(names, VerifyInput(output=output, task=task, evidence=evidence or {},
                                                settings=self.settings))

    def verify_transcript(self, path: str):
        from .verifiers.transcript import check_transcript

        return check_transcript(path)

    # -- tasks ----------------------------------------------------------------------------------
    def run_task(self, task: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            return self.orchestrator.run(task, **kwargs)

    def resume(self, thread_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.orchestrator.resume(thread_id, decision)

    def recover(self, thread_id: str) -> dict[str, Any]:
        with self._lock:
            return self.orchestrator.recover(thread_id)

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.orchestrator.pending()

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        from .breaker import CircuitBreakers
        from .cost import CostLedger, _today

        breakers = CircuitBreakers.for_settings(self.settings)
        ledger = CostLedger.for_settings(self.settings)
        try:
            day = _today()
            recent = [e for e in self.memory.store.events(time.time() - 86400)
                      if e["event"] in ("blocked", "asked")][-10:]
            return {
                "breakers": [vars(breakers.status(p)) for p in self.settings.providers],
                "budget": {"spent_today_usd": round(ledger.spent(day=day), 6),
                           "daily_budget_usd": self.settings.daily_budget_usd,
                           "task_budget_usd": self.settings.task_budget_usd},
                "memory": {"failures": self.memory.count(),
                           "cap": self.settings.memory_cap},
                "recent_blocks": recent,
                "pending_approvals": len(self.pending()),
                "data_dir": str(self.settings.data_dir),
            }
        finally:
            breakers.close()
            ledger.close()

    # -- the mcp_tool hook ---------------------------------------------------------------------
    def hook_decision(self, tool_name: str, command: str = "", file_path: str = "",
                      cwd: str = "") -> dict[str, Any] | None:
        """PreToolUse decision JSON with the full memory (exact + similar), or None to allow."""
        from .hooks import action_of_tool, decision_json, target_risk
        from .memory._rules import decision_for

        tool_input: dict[str, Any] = {}
        if command:
            tool_input["command"] = command
        if file_path:
            tool_input["file_path"] = file_path
        action, kind, risk_text = action_of_tool(tool_name, tool_input)
        if not action.strip():
            return None
        d = self.check_action(action, kind)
        rank = {"allow": 0, "ask": 1, "deny": 2}
        decision, reasons = d.decision, list(d.reasons)
        # The gate judged the action text; the rules also judge what it executes or writes.
        extra_level, extra = target_risk(tool_name, tool_input,
                                         risk_text if risk_text != action else "", cwd)
        by_target = decision_for(extra_level, self.settings.ask_at_risk, self.settings.deny_at_risk)
        if by_target != "allow":
            decision = max(decision, by_target, key=rank.get)
            reasons = [*reasons, f"risk {extra_level}: {', '.join(extra)}"]
        if decision == "allow":
            return None
        return decision_json(decision, "task-orchestrator: " + "; ".join(reasons))
