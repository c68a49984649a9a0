"""Token accounting, a price table, a SQLite ledger and budgets enforced before a call."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from task_orchestrator._db import Database, SqlStore, Transaction, open_database
from task_orchestrator.errors import BudgetExceeded, UnpricedModel
from task_orchestrator.settings import ModelPrice, Settings

__all__ = ["PRICES", "CostLedger", "Usage", "estimate_tokens", "price_for", "usage_from_message"]

# USD per 1M tokens, list prices of the providers' standard (non-batch) tiers.
# Override or extend with TASK_ORCHESTRATOR_PRICES.
PRICES: dict[str, ModelPrice] = {
    "gemini-2.5-pro": ModelPrice(input=1.25, output=10.0, cached_input=0.125),
    "gemini-2.5-flash": ModelPrice(input=0.30, output=2.50, cached_input=0.03),
    "gemini-2.5-flash-lite": ModelPrice(input=0.10, output=0.40, cached_input=0.01),
    "gemini-2.0-flash": ModelPrice(input=0.10, output=0.40, cached_input=0.025),
    "gpt-5": ModelPrice(input=1.25, output=10.0, cached_input=0.125),
    "gpt-5-mini": ModelPrice(input=0.25, output=2.0, cached_input=0.025),
    "gpt-5-nano": ModelPrice(input=0.05, output=0.40, cached_input=0.005),
    "gpt-4.1": ModelPrice(input=2.0, output=8.0, cached_input=0.50),
    "gpt-4.1-mini": ModelPrice(input=0.40, output=1.60, cached_input=0.10),
    "gpt-4o": ModelPrice(input=2.50, output=10.0, cached_input=1.25),
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.60, cached_input=0.075),
}


def price_for(model: str, settings: Settings) -> ModelPrice | None:
    """The price of ``model``, or None when it is unknown (never a silent $0)."""
    if model in settings.prices:
        return settings.prices[model]
    if model in PRICES:
        return PRICES[model]
    # Dated snapshots ("gpt-4.1-2025-04-14", "models/gemini-2.5-flash") use their family price.
    base = model.removeprefix("models/")
    for known in sorted({**PRICES, **settings.prices}, key=len, reverse=True):
        if base.startswith(known):
            return settings.prices.get(known) or PRICES[known]
    return None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def cost(self, price: ModelPrice | None) -> float | None:
        if price is None:
            return None
        cached = min(self.cached_tokens, self.input_tokens)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        # Reasoning tokens are billed as output tokens and already counted in output_tokens.
        return (
            (self.input_tokens - cached) * price.input
            + cached * cached_rate
            + self.output_tokens * price.output
        ) / 1_000_000


def usage_from_message(message: Any) -> Usage:
    """Read ``usage_metadata`` of an AIMessage (LangChain's provider-neutral usage)."""
    meta = getattr(message, "usage_metadata", None) or {}
    in_details = meta.get("input_token_details") or {}
    out_details = meta.get("output_token_details") or {}
    return Usage(
        input_tokens=int(meta.get("input_tokens") or 0),
        output_tokens=int(meta.get("output_tokens") or 0),
        cached_tokens=int(in_details.get("cache_read") or 0),
        reasoning_tokens=int(out_details.get("reasoning") or 0),
    )


def estimate_tokens(text: str) -> int:
    """A conservative token estimate (about 4 characters a token, rounded up)."""
    return len(text) // 3 + 1


_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    day TEXT NOT NULL,
    task_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd REAL  -- NULL: the model is unpriced
);
CREATE INDEX IF NOT EXISTS ledger_day ON ledger(day);
CREATE INDEX IF NOT EXISTS ledger_task ON ledger(task_id);
"""


def _today(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).strftime("%Y-%m-%d")


class CostLedger(SqlStore):
    """Append-only ledger of model calls, shared by all processes using one data directory."""

    def __init__(self, where: Database | Path | str, settings: Settings, *, readonly: bool = False) -> None:
        self.settings = settings
        super().__init__(where, _SCHEMA, readonly=readonly)

    @classmethod
    def for_settings(cls, settings: Settings) -> CostLedger:
        """The ledger of ``settings``' data directory (or its shared Postgres)."""
        return cls(open_database(settings, "ledger"), settings)

    def check_spent(self, task_id: str) -> None:
        """Raise BudgetExceeded when the task or the day has already used its budget (for work
        whose price is known only afterwards, such as a Claude Code turn)."""
        s = self.settings
        if s.task_budget_usd is not None and (spent := self.spent(task_id=task_id)) >= s.task_budget_usd:
            raise BudgetExceeded(
                f"task budget: ${spent:.4f} spent of ${s.task_budget_usd:.4f}; the next turn was not "
                "started. Raise TASK_ORCHESTRATOR_TASK_BUDGET_USD to continue."
            )
        if s.daily_budget_usd is not None and (spent := self.spent(day=_today())) >= s.daily_budget_usd:
            raise BudgetExceeded(
                f"daily budget: ${spent:.4f} spent today (UTC) of ${s.daily_budget_usd:.4f}; the next "
                "turn was not started. Raise TASK_ORCHESTRATOR_DAILY_BUDGET_USD or wait until tomorrow."
            )

    def check_budget(self, task_id: str, model: str, prompt: str) -> None:
        """Raise BudgetExceeded if the worst case of this call would cross a budget."""
        s = self.settings
        if s.task_budget_usd is None and s.daily_budget_usd is None:
            return
        price = price_for(model, s)
        if price is None:
            if s.allow_unpriced_models:
                return
            raise UnpricedModel(model)
        worst = (
            Usage(input_tokens=estimate_tokens(prompt), output_tokens=s.max_output_tokens).cost(price) or 0.0
        )
        if s.task_budget_usd is not None:
            spent = self.spent(task_id=task_id)
            if spent + worst > s.task_budget_usd:
                raise BudgetExceeded(
                    f"task budget: ${spent:.4f} spent + up to ${worst:.4f} for this call to {model} "
                    f"would exceed ${s.task_budget_usd:.4f}; raise TASK_ORCHESTRATOR_TASK_BUDGET_USD "
                    "or lower TASK_ORCHESTRATOR_MAX_OUTPUT_TOKENS"
                )
        if s.daily_budget_usd is not None:
            spent = self.spent(day=_today())
            if spent + worst > s.daily_budget_usd:
                raise BudgetExceeded(
                    f"daily budget: ${spent:.4f} spent today (UTC) + up to ${worst:.4f} for this "
                    f"call would exceed ${s.daily_budget_usd:.4f}; raise "
                    "TASK_ORCHESTRATOR_DAILY_BUDGET_USD or wait until tomorrow"
                )

    def record(
        self, task_id: str, provider: str, model: str, usage: Usage, *, cost_usd: float | None = None
    ) -> float | None:
        """One call's usage; ``cost_usd`` when the provider reported what it cost (Claude Code's
        result does), else priced from the table."""
        cost = cost_usd if cost_usd is not None else usage.cost(price_for(model, self.settings))
        now = time.time()
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "INSERT INTO ledger (ts, day, task_id, provider, model, input_tokens, "
                "output_tokens, cached_tokens, reasoning_tokens, cost_usd) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    now,
                    _today(now),
                    task_id,
                    provider,
                    model,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cached_tokens,
                    usage.reasoning_tokens,
                    cost,
                ),
            )
        return cost

    def spent(self, *, task_id: str | None = None, day: str | None = None) -> float:
        where, args = ("task_id = ?", (task_id,)) if task_id is not None else ("day = ?", (day,))
        with self._lock:
            row = self._db.execute(
                f"SELECT COALESCE(SUM(cost_usd), 0) FROM ledger WHERE {where}", args
            ).fetchone()
        return float(row[0])

    def table(self, *, task_id: str | None = None) -> list[dict[str, Any]]:
        """Per-model totals; ``cost_usd`` is None when any call of that model was unpriced."""
        where, args = ("WHERE task_id = ?", (task_id,)) if task_id else ("", ())
        with self._lock:
            rows = self._db.execute(
                "SELECT provider, model, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
                "SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_usd), "
                "SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) "
                f"FROM ledger {where} GROUP BY provider, model "
                "ORDER BY provider, model",
                args,
            ).fetchall()
        return [
            {
                "provider": r[0],
                "model": r[1],
                "calls": r[2],
                "input_tokens": r[3],
                "output_tokens": r[4],
                "cached_tokens": r[5],
                "reasoning_tokens": r[6],
                "cost_usd": None if r[8] else round(r[7] or 0.0, 6),
            }
            for r in rows
        ]

    def spend_per_day(self, since: float) -> list[tuple[str, str, float]]:
        """(day, model, USD) of the calls since ``since``; unpriced calls count 0."""
        with self._lock:
            rows = self._db.execute(
                "SELECT day, model, SUM(COALESCE(cost_usd, 0)) FROM ledger WHERE ts >= ? GROUP BY day, model",
                (since,),
            ).fetchall()
        return [(str(d), str(m), float(c)) for d, m, c in rows]

    def spend_by_model(self, since: float) -> list[dict[str, Any]]:
        """Per provider and model since ``since``, most expensive first: calls, tokens, the
        priced calls' USD and how many calls had no price."""
        with self._lock:
            rows = self._db.execute(
                "SELECT provider, model, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
                "SUM(COALESCE(cost_usd, 0)), SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) "
                "FROM ledger WHERE ts >= ? GROUP BY provider, model ORDER BY 6 DESC",
                (since,),
            ).fetchall()
        keys = ("provider", "model", "calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls")
        return [dict(zip(keys, r, strict=True)) for r in rows]
