"""Per-provider circuit breakers whose state survives restarts (SQLite).

closed --(N consecutive failures)--> open --(reset timeout elapsed)--> half_open
half_open --(probe succeeds)--> closed;  half_open --(probe fails)--> open

Why not pybreaker/aiobreaker: their state lives in memory or Redis and their async
support is tied to tornado; LangGraph runs nodes on sync and async paths and we
need an outage remembered across processes through the data directory. The
machine is small enough to keep here and test directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from task_orchestrator._db import Database, SqlStore, Transaction, open_database
from task_orchestrator.memory.redact import redact

if TYPE_CHECKING:
    from task_orchestrator.settings import Settings

__all__ = ["BreakerState", "BreakerStatus", "CircuitBreakers"]

BreakerState = Literal["closed", "open", "half_open"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS breakers (
    provider TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL,
    opened_at REAL,
    probe_at REAL,
    last_error TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS breaker_events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    provider TEXT NOT NULL,
    transition TEXT NOT NULL,
    error TEXT
);
"""


@dataclass(frozen=True)
class BreakerStatus:
    provider: str
    state: BreakerState
    failures: int
    opened_at: float | None
    last_error: str | None
    retry_in_s: float | None


class CircuitBreakers(SqlStore):
    def __init__(
        self,
        where: Database | Path | str,
        *,
        failure_threshold: int = 3,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.clock = clock
        super().__init__(where, _SCHEMA, readonly=readonly)

    @classmethod
    def for_settings(cls, settings: Settings) -> CircuitBreakers:
        """The breakers of ``settings``' data directory (or its shared Postgres)."""
        return cls(
            open_database(settings, "breakers"),
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout_s=settings.breaker_reset_timeout_s,
        )

    def _row(self, c, provider: str) -> tuple[str, int, float | None, float | None, str | None]:
        row = c.execute(
            "SELECT state, failures, opened_at, probe_at, last_error FROM breakers WHERE provider = ?",
            (provider,),
        ).fetchone()
        return row or ("closed", 0, None, None, None)

    def _write(self, c, provider, state, failures, opened_at, probe_at, error, event=None):
        now = self.clock()
        c.execute(
            "INSERT INTO breakers (provider, state, failures, opened_at, probe_at, last_error, "
            "updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT(provider) DO UPDATE SET "
            "state=excluded.state, failures=excluded.failures, opened_at=excluded.opened_at, "
            "probe_at=excluded.probe_at, last_error=excluded.last_error, updated=excluded.updated",
            (provider, state, failures, opened_at, probe_at, error, now),
        )
        if event:
            c.execute(
                "INSERT INTO breaker_events (ts, provider, transition, error) VALUES (?,?,?,?)",
                (now, provider, event, error),
            )

    def allow(self, provider: str) -> bool:
        """May a call to ``provider`` be made now? Claims the half-open probe if due."""
        now = self.clock()
        with self._lock:  # fast path: a plain read while the breaker is closed
            if self._row(self._db, provider)[0] == "closed":
                return True
        with self._lock, Transaction(self._db) as c:
            state, failures, opened_at, probe_at, err = self._row(c, provider)
            if state == "closed":
                return True
            if state == "open":
                if opened_at is not None and now - opened_at >= self.reset_timeout_s:
                    self._write(c, provider, "half_open", failures, opened_at, now, err, "open->half_open")
                    return True
                return False
            # half_open: one probe at a time; a probe that never reported back expires.
            if probe_at is None or now - probe_at >= self.reset_timeout_s:
                self._write(c, provider, "half_open", failures, opened_at, now, err)
                return True
            return False

    def release(self, provider: str) -> None:
        """A claimed half-open probe that made no call (the provider's rate limit or quota
        stopped it first) is given back: the next call may probe at once."""
        with self._lock, Transaction(self._db) as c:
            state, failures, opened_at, probe_at, err = self._row(c, provider)
            if state == "half_open" and probe_at is not None:
                self._write(c, provider, "half_open", failures, opened_at, None, err)

    def record_success(self, provider: str) -> None:
        with self._lock:  # nothing to write when already closed with no failures counted
            state, failures, *_ = self._row(self._db, provider)
            if state == "closed" and failures == 0:
                return
        with self._lock, Transaction(self._db) as c:
            state, *_ = self._row(c, provider)
            event = None if state == "closed" else f"{state}->closed"
            self._write(c, provider, "closed", 0, None, None, None, event)

    def record_failure(self, provider: str, error: str) -> BreakerState:
        now = self.clock()
        error = redact(error)[:500]  # provider errors can echo a key back
        with self._lock, Transaction(self._db) as c:
            state, failures, _opened, _probe, _err = self._row(c, provider)
            failures += 1
            if state == "half_open" or failures >= self.failure_threshold:
                event = None if state == "open" else f"{state}->open"
                self._write(c, provider, "open", failures, now, None, error, event)
                return "open"
            self._write(c, provider, "closed", failures, None, None, error)
            return "closed"

    def status(self, provider: str) -> BreakerStatus:
        with self._lock:
            state, failures, opened_at, _probe, err = self._row(self._db, provider)
        retry = None
        if state == "open" and opened_at is not None:
            retry = max(0.0, self.reset_timeout_s - (self.clock() - opened_at))
        return BreakerStatus(provider, state, failures, opened_at, err, retry)  # type: ignore[arg-type]

    def events(self, limit: int = 100, *, since: float = 0.0) -> list[dict]:
        """The latest transitions (newest first) since ``since``: ts, provider, transition, error."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ts, provider, transition, error FROM breaker_events WHERE ts >= ? "
                "ORDER BY id DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        return [dict(zip(("ts", "provider", "transition", "error"), r, strict=True)) for r in rows]
