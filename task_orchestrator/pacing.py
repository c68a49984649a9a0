"""Pacing of provider calls, shared by every process of a data directory, and the one place
that tells a rate limit from an outage.

Why a table and not langchain-core's ``InMemoryRateLimiter``: that limiter is a token bucket
inside one process, and a free Gemini key is shared by the guard service, the MCP server and a
notebook at once, each of which would spend the whole budget on its own. Here every call
reserves a send time in the data directory's ``pacing`` store (SQLite, or the shared Postgres)
inside a write transaction, so reservations of all processes form one queue:

- a sliding window per provider and model: a new send time is at least ``window_s`` after the
  ``rpm``-th most recent one (a sliding window never lets more through than a fixed calendar
  minute would, so it is safe whichever way the provider counts);
- reservations are first come, first served: each is no earlier than the last one, so a
  process never overtakes a waiting one;
- a *hold* stops every process until a time: a 429's retry delay (``rate_limit``) or a day's
  quota used up (``quota``, until midnight Pacific time, when Google resets daily quotas).

The caller sleeps outside the transaction, so a waiting process holds no lock.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from task_orchestrator._db import Database, SqlStore, Transaction, open_database
from task_orchestrator.errors import QuotaExhausted, RateLimited
from task_orchestrator.memory.redact import redact

if TYPE_CHECKING:
    from task_orchestrator.settings import RateLimit, Settings

__all__ = ["Fault", "Pacer", "Reservation", "classify", "next_quota_reset", "when"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pacing_slots (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pacing_slots_key_ts ON pacing_slots (key, ts);
CREATE TABLE IF NOT EXISTS pacing_holds (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS pacing_learned (
    key TEXT PRIMARY KEY,
    rpm INTEGER NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pacing_events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    until REAL,
    reason TEXT
);
"""

#: Google resets daily quotas at midnight Pacific time.
_PACIFIC = "America/Los_Angeles"
#: Slots older than this are deleted when a new one is reserved.
_KEEP_S = 2 * 86400.0
#: A limit learned from a 429 is kept this long (a key's tier can change).
_LEARNED_S = 3600.0
#: The window a learned limit counts over when none is configured (providers count per minute).
_DEFAULT_WINDOW_S = 60.0
#: A used-up billing quota has no reset time: the provider is asked again after this long.
_BILLING_RECHECK_S = 3600.0
#: Sent a little after its reserved time and received later still: a margin so the provider's
#: own window never sees one request too many.
_MARGIN_S = 0.05


def next_quota_reset(now: float) -> float:
    """Epoch seconds of the next midnight Pacific time after ``now``."""
    zone = _zone()
    local = dt.datetime.fromtimestamp(now, zone)
    midnight = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()


def _day_start(now: float) -> float:
    local = dt.datetime.fromtimestamp(now, _zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _zone() -> dt.tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(_PACIFIC)
    except Exception:  # no tz database: Pacific standard time
        return dt.timezone(dt.timedelta(hours=-8), "PST")


def when(ts: float) -> str:
    """A reset time as people read it: local Pacific time and UTC."""
    pacific = dt.datetime.fromtimestamp(ts, _zone()).strftime("%Y-%m-%d %H:%M %Z")
    utc = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M UTC")
    return f"{pacific} ({utc})"


@dataclass(frozen=True)
class Reservation:
    key: str
    at: float  # when the request may be sent (epoch seconds)
    wait_s: float
    slot: int = 0


class Pacer(SqlStore):
    """Send times per provider and model, reserved across processes (see the module doc)."""

    def __init__(
        self,
        where: Database | Path | str,
        limits: Callable[[str, str], RateLimit | None],
        *,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        self.limits = limits
        self.clock = clock
        super().__init__(where, _SCHEMA, readonly=readonly)

    @classmethod
    def for_settings(cls, settings: Settings, *, readonly: bool = False) -> Pacer:
        return cls(
            open_database(settings, "pacing", readonly=readonly), settings.rate_limit_for, readonly=readonly
        )

    @staticmethod
    def key(provider: str, model: str) -> str:
        return f"{provider}:{model}"

    # -- reserving ------------------------------------------------------------------------------
    def reserve(self, provider: str, model: str) -> Reservation:
        """Claim the next send time for one request; raises ``QuotaExhausted`` while the day's
        quota is used up (nothing is claimed then)."""
        key, limit, now = self.key(provider, model), self.limits(provider, model), self.clock()
        exhausted: tuple[float, str] | None = None
        with self._lock, Transaction(self._db) as c:
            c.execute("DELETE FROM pacing_slots WHERE key = ? AND ts < ?", (key, now - _KEEP_S))
            hold = c.execute("SELECT until, kind, reason FROM pacing_holds WHERE key = ?", (key,)).fetchone()
            at = now
            if hold is not None and hold[0] > now:
                if hold[1] == "quota":
                    raise _quota_error(provider, model, hold[0], hold[2])
                at = hold[0]
            rpd = limit.rpd if limit is not None else None
            today = 0
            if rpd is not None:
                today = c.execute(
                    "SELECT COUNT(*) FROM pacing_slots WHERE key = ? AND ts >= ?", (key, _day_start(now))
                ).fetchone()[0]
            if rpd is not None and today >= rpd:
                # held for every process: the hold is committed, then raised (below)
                exhausted = (next_quota_reset(now), f"{today} of {rpd} requests a day sent")
                self._hold(c, key, *exhausted, kind="quota")
            else:
                at, slot = self._claim(c, key, limit, now, at)
        if exhausted is not None:
            raise _quota_error(provider, model, *exhausted)
        return Reservation(key, at, max(0.0, at - now), slot)

    def _claim(self, c: Any, key: str, limit: RateLimit | None, now: float, at: float) -> tuple[float, int]:
        """The first send time from ``at`` on that keeps every window under the limit, after
        every reservation already made (first come, first served), inserted: (time, slot id)."""
        last = c.execute("SELECT MAX(ts) FROM pacing_slots WHERE key = ?", (key,)).fetchone()[0]
        if last is not None:
            at = max(at, float(last))
        rpm, window = self._rpm(c, key, limit, now)
        if rpm is not None:
            recent = c.execute(
                "SELECT ts FROM pacing_slots WHERE key = ? AND ts > ? ORDER BY ts DESC LIMIT ?",
                (key, at - window, rpm),
            ).fetchall()
            if len(recent) >= rpm:
                at = max(at, float(recent[-1][0]) + window + _MARGIN_S)
        slot = c.execute(
            "INSERT INTO pacing_slots (key, ts) VALUES (?, ?) RETURNING id", (key, at)
        ).fetchone()[0]
        return at, int(slot)

    def _rpm(self, c: Any, key: str, limit: RateLimit | None, now: float) -> tuple[int | None, float]:
        """The requests per window to pace at: the configured limit, or a lower one a 429
        taught (the provider allows fewer than configured, or other clients share the key)."""
        rpm = limit.rpm if limit is not None else None
        window = limit.window_s if limit is not None else _DEFAULT_WINDOW_S
        row = c.execute("SELECT rpm, until FROM pacing_learned WHERE key = ?", (key,)).fetchone()
        if row is not None and row[1] > now:
            rpm = int(row[0]) if rpm is None else min(rpm, int(row[0]))
        return rpm, window

    def cancel(self, reservation: Reservation) -> None:
        """Give back a reserved send time that will not be used."""
        with self._lock, Transaction(self._db) as c:
            c.execute("DELETE FROM pacing_slots WHERE id = ?", (reservation.slot,))

    def sent(self, reservation: Reservation) -> None:
        """The request is done (answered or failed): its slot moves to now. The provider saw it
        somewhere between the reserved time and now, later than reserved when the client was
        slow to send (its first call sets up a connection); counting from now is safe."""
        now = self.clock()
        with self._lock, Transaction(self._db) as c:
            c.execute("UPDATE pacing_slots SET ts = ? WHERE id = ? AND ts < ?", (now, reservation.slot, now))

    def acquire(
        self, provider: str, model: str, max_wait_s: float, sleep: Callable[[float], None] = time.sleep
    ) -> tuple[Reservation, float]:
        """Wait for this process's turn to send one request; returns its reservation (hand it
        to ``sent`` when the request is done) and the seconds waited.

        Raises ``QuotaExhausted`` while a quota hold is in force, and ``RateLimited`` (nothing
        claimed) when the turn is more than ``max_wait_s`` away. A 429 met by another process
        while this one waited puts it back in the queue, behind the retry delay.
        """
        start = self.clock()
        while True:
            r = self.reserve(provider, model)
            if r.at - start > max_wait_s:
                self.cancel(r)
                raise RateLimited(
                    f"{provider} ({model}) is rate limited: its next request could be sent in "
                    f"{r.at - start:.0f} s, beyond TASK_ORCHESTRATOR_RATE_LIMIT_MAX_WAIT_S="
                    f"{max_wait_s:g}; no call was made and no circuit breaker opened."
                )
            left = r.at - self.clock()
            if left > 0:
                sleep(left)
            hold = self._hold_in_force(r.key)
            if hold is None or (hold[1] == "rate_limit" and hold[0] <= r.at):
                return r, self.clock() - start
            self.cancel(r)  # a 429 met meanwhile (queue again, behind it), or the day's quota
            if hold[1] == "quota":
                raise _quota_error(provider, model, hold[0], hold[2])

    def _hold_in_force(self, key: str) -> tuple[float, str, str | None] | None:
        """(until, kind, reason) of the hold on ``key`` that has not ended, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT until, kind, reason FROM pacing_holds WHERE key = ?", (key,)
            ).fetchone()
        if row is None or row[0] <= self.clock():
            return None
        return float(row[0]), str(row[1]), row[2]

    # -- what the provider said -----------------------------------------------------------------
    def rate_limited(
        self, provider: str, model: str, delay_s: float, reason: str, *, learn: bool = True
    ) -> float:
        """A 429: every process waits ``delay_s`` before its next request, and from now on paces
        at most as many requests per window as were sent in the window the 429 ended (so no
        request goes over the limit again, even with no limit or too high a one configured),
        when ``learn`` (the 429 named a requests-per-minute limit; a token limit teaches
        nothing about requests). Returns the end of the wait."""
        key, now = self.key(provider, model), self.clock()
        until = now + max(0.0, delay_s)
        with self._lock, Transaction(self._db) as c:
            _, window = self._rpm(c, key, self.limits(provider, model), now)
            row = c.execute("SELECT until, kind FROM pacing_holds WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] > until and row[0] > now:
                until = float(row[0])  # a longer hold in force (a quota, or another 429's delay) stays
            else:
                self._hold(c, key, until, reason, kind="rate_limit")
            sent = c.execute(
                "SELECT COUNT(*) FROM pacing_slots WHERE key = ? AND ts > ? AND ts <= ?",
                (key, now - window, now),
            ).fetchone()[0]
            allowed = int(sent) - 1  # the refused request had a slot too
            if learn and allowed >= 1:
                learned = c.execute("SELECT rpm, until FROM pacing_learned WHERE key = ?", (key,)).fetchone()
                if learned is not None and learned[1] > now:
                    allowed = min(allowed, int(learned[0]))
                c.execute(
                    "INSERT INTO pacing_learned (key, rpm, until) VALUES (?,?,?) ON CONFLICT(key) DO UPDATE "
                    "SET rpm=excluded.rpm, until=excluded.until",
                    (key, allowed, now + _LEARNED_S),
                )
        return until

    def quota_exhausted(self, provider: str, model: str, until: float | None, reason: str) -> QuotaExhausted:
        """The provider said the day's (or the account's) quota is used up: no process calls it
        again before ``until`` (the next midnight Pacific when the answer gives no time)."""
        until = until if until is not None else next_quota_reset(self.clock())
        with self._lock, Transaction(self._db) as c:
            self._hold(c, self.key(provider, model), until, reason, kind="quota")
        return _quota_error(provider, model, until, reason)

    def _hold(self, c: Any, key: str, until: float, reason: str, *, kind: str) -> None:
        reason = redact(reason)[:300]
        c.execute(
            "INSERT INTO pacing_holds (key, until, kind, reason) VALUES (?,?,?,?) ON CONFLICT(key) DO "
            "UPDATE SET until=excluded.until, kind=excluded.kind, reason=excluded.reason",
            (key, until, kind, reason),
        )
        c.execute(
            "INSERT INTO pacing_events (ts, key, kind, until, reason) VALUES (?,?,?,?,?)",
            (self.clock(), key, kind, until, reason),
        )

    def blocked_until(self, provider: str, model: str) -> float | None:
        """The end of a quota hold in force, else None."""
        hold = self._hold_in_force(self.key(provider, model))
        return hold[0] if hold is not None and hold[1] == "quota" else None

    # -- reading ----------------------------------------------------------------------------------
    def usage(self, provider: str, model: str) -> dict[str, Any]:
        """Requests in the current window and today, the limits, the next free send time and any
        hold, for ``status`` and the report."""
        key, limit, now = self.key(provider, model), self.limits(provider, model), self.clock()
        with self._lock:
            rpm, window = self._rpm(self._db, key, limit, now)
            minute = self._db.execute(
                "SELECT COUNT(*) FROM pacing_slots WHERE key = ? AND ts > ? AND ts <= ?",
                (key, now - window, now),
            ).fetchone()[0]
            today = self._db.execute(
                "SELECT COUNT(*) FROM pacing_slots WHERE key = ? AND ts >= ?", (key, _day_start(now))
            ).fetchone()[0]
            hold = self._db.execute(
                "SELECT until, kind, reason FROM pacing_holds WHERE key = ?", (key,)
            ).fetchone()
            recent = []
            if rpm is not None:
                recent = self._db.execute(
                    "SELECT ts FROM pacing_slots WHERE key = ? ORDER BY ts DESC LIMIT ?", (key, rpm)
                ).fetchall()
        free = now
        if recent and rpm is not None and len(recent) >= rpm:
            free = max(free, float(recent[-1][0]) + window)
        if recent:
            free = max(free, float(recent[0][0]))
        held = hold is not None and hold[0] > now
        if held:
            free = max(free, float(hold[0]))
        return {
            "provider": provider,
            "model": model,
            "rpm": rpm,
            "configured_rpm": limit.rpm if limit is not None else None,
            "rpd": limit.rpd if limit is not None else None,
            "window_s": window,
            "used_window": int(minute),
            "used_today": int(today),
            "next_free_in_s": round(max(0.0, free - now), 1),
            "hold": f"{hold[1].replace('_', ' ')} until {when(float(hold[0]))}" if held else None,
            "hold_until": float(hold[0]) if held else None,
        }

    def events(self, limit: int = 100, *, since: float = 0.0) -> list[dict[str, Any]]:
        """Rate limits and quotas met (newest first): ts, provider, model, kind, until, reason."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ts, key, kind, until, reason FROM pacing_events WHERE ts >= ? "
                "ORDER BY id DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        out = []
        for ts, key, kind, until, reason in rows:
            provider, _, model = str(key).partition(":")
            out.append(
                {
                    "ts": ts,
                    "provider": provider,
                    "model": model,
                    "kind": kind,
                    "until": until,
                    "reason": reason,
                }
            )
        return out


USAGE_COLUMNS = ["provider", "model", "this window", "today", "next free slot", "hold"]


def usage_row(use: dict[str, Any]) -> list[str]:
    """One provider's ``Pacer.usage`` as the cells of ``USAGE_COLUMNS`` (status, the report)."""
    return [
        use["provider"],
        use["model"],
        f"{use['used_window']} of {use['rpm'] or 'no limit'} per {use['window_s']:g} s",
        f"{use['used_today']} of {use['rpd'] or 'no limit'}",
        "now" if not use["next_free_in_s"] else f"in {use['next_free_in_s']:.0f} s",
        use["hold"] or "",
    ]


def _quota_error(provider: str, model: str, until: float, reason: str | None) -> QuotaExhausted:
    why = f" ({reason})" if reason else ""
    if reason and "billing" in reason:  # no daily reset: asked again after a while
        head = f"{provider} quota exhausted for {model}{why}; it is not called again until {when(until)}"
    else:
        head = f"{provider} quota exhausted until {when(until)} for {model}{why}"
    return QuotaExhausted(
        f"{head}; no call was made to it and no circuit breaker opened. Configure another "
        "provider to fall back to (TASK_ORCHESTRATOR_PROVIDERS), or run the task after the reset.",
        provider=provider,
        until=until,
    )


# -- classification ---------------------------------------------------------------------------------

FaultKind = Literal["rate_limit", "quota", "outage", "malformed", "other"]


@dataclass(frozen=True)
class Fault:
    """What a failed provider call means. ``rate_limit`` and ``quota`` are not provider faults
    (no breaker counts them); ``outage`` (5xx, timeouts, connection errors), ``malformed``
    (an answer that cannot be read) and ``other`` are."""

    kind: FaultKind
    retry_after_s: float | None = None
    detail: str = ""
    requests_per_minute: bool = False  # the 429 named a requests-per-minute limit
    billing: bool = False  # the account's quota, which no day resets


_RETRY_IN = re.compile(r"(?:retry|try again) in ([0-9.]+)\s*(ms|s)\b", re.IGNORECASE)
_DURATION = re.compile(r"^([0-9.]+)s$")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 8:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return None


def _google_error(exc: BaseException) -> dict[str, Any] | None:
    details = getattr(exc, "details", None)
    if isinstance(details, dict):
        err = details.get("error", details)
        return err if isinstance(err, dict) else None
    return None


def _retry_after_header(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(exc: BaseException) -> Fault:
    """Read a provider's exception (the Google GenAI and OpenAI SDKs, as LangChain wraps them)."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)[:2000]
    status = next((s for s in map(_status_of, chain) if s is not None), None)
    is_rate = status == 429 or any(
        type(e).__name__
        in ("ModelRateLimitError", "RateLimitError", "GoogleRateLimitError", "ResourceExhausted")
        for e in chain
    )
    if is_rate:
        return _rate_fault(chain, text)
    names = {type(e).__name__ for e in chain}
    if status is not None and status >= 500:
        return Fault("outage", detail=f"HTTP {status}")
    if names & {
        "APITimeoutError",
        "ModelTimeoutError",
        "TimeoutException",
        "ReadTimeout",
        "ConnectTimeout",
        "TimeoutError",
        "APIConnectionError",
        "ModelConnectionError",
        "ConnectError",
    }:
        return Fault("outage", detail="timeout or connection error")
    if names & {"JSONDecodeError", "OutputParserException", "ValidationError", "DecodingError"} or (
        "json" in text.lower() and "decod" in text.lower()
    ):
        return Fault("malformed", detail="an answer that could not be read")
    return Fault("other", detail=f"HTTP {status}" if status else type(exc).__name__)


def _rate_fault(chain: list[BaseException], text: str) -> Fault:
    delay: float | None = None
    daily = False
    billing = False
    per_minute = False
    for e in chain:
        err = _google_error(e)
        if err is not None:
            for d in err.get("details") or []:
                if not isinstance(d, dict):
                    continue
                kind = str(d.get("@type", ""))
                if kind.endswith("RetryInfo"):
                    m = _DURATION.match(str(d.get("retryDelay", "")))
                    if m:  # whole seconds; the message may say more precisely (below)
                        delay = max(delay or 0.0, float(m.group(1)))
                elif kind.endswith("QuotaFailure"):
                    for v in d.get("violations") or []:
                        quota_id = str(v.get("quotaId", "") if isinstance(v, dict) else "").lower()
                        daily = daily or "perday" in quota_id
                        per_minute = per_minute or ("requests" in quota_id and "perminute" in quota_id)
        body = getattr(e, "body", None)
        if isinstance(body, dict):
            inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
            code = str(inner.get("code") or inner.get("type") or "")
            billing = billing or code == "insufficient_quota"
        header = _retry_after_header(e)
        if header is not None:
            delay = max(delay or 0.0, header)
    m = _RETRY_IN.search(text)
    if m:
        said = float(m.group(1)) / (1000 if m.group(2).lower() == "ms" else 1)
        delay = max(delay or 0.0, said)
    lowered = text.lower()
    daily = daily or "per day" in lowered or "(rpd)" in lowered or "requests per day" in lowered
    if billing:
        return Fault(
            "quota",
            retry_after_s=_BILLING_RECHECK_S,
            detail="the account's billing quota is used up",
            billing=True,
        )
    if daily:
        return Fault("quota", retry_after_s=delay, detail="the day's request quota is used up")
    per_minute = per_minute or "requests per min" in lowered
    return Fault(
        "rate_limit", retry_after_s=delay, detail="rate limited (429)", requests_per_minute=per_minute
    )


def describe(exc: BaseException) -> str:
    """One line for logs and fallbacks: the exception's type and message, redacted and short."""
    try:
        msg = str(exc)
    except Exception:
        msg = ""
    return redact(f"{type(exc).__name__}: {msg}")[:300].replace("\n", " ")
