"""The failure table in SQLite: exact signatures, counts, outcomes and events.

Plain dict rows and the standard library only, so the Claude Code ``command`` hook can
use it without importing pydantic, numpy or Chroma.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from .._sqlite import Database, SqliteStore, Transaction
from .normalize import signature
from .redact import redact

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COLS", "FailureTable", "prepare"]


def prepare(action: str, action_kind: str = "command", *, error: str = "", lesson: str = "",
            **fields: Any) -> dict[str, Any]:
    """A row ready to store: secrets redacted, error trimmed, signature computed."""
    error = redact(error)
    if len(error) > 4000:
        error = error[:1000] + "\n...[trimmed]...\n" + error[-2900:]
    return {**fields, "action": redact(action), "action_kind": action_kind, "error": error,
            "lesson": redact(lesson)[:2000], "signature": signature(action, action_kind)}


SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    id TEXT PRIMARY KEY,
    signature TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    action_kind TEXT NOT NULL,
    kind TEXT NOT NULL,
    error TEXT NOT NULL,
    lesson TEXT NOT NULL,
    project TEXT NOT NULL,
    tags TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    count INTEGER NOT NULL,
    embedded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS failures_last_seen ON failures(last_seen);
CREATE INDEX IF NOT EXISTS failures_unembedded ON failures(embedded) WHERE embedded = 0;
CREATE TABLE IF NOT EXISTS outcomes (
    signature TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    event TEXT NOT NULL,       -- recorded | repeated | blocked | asked | checked (allowed)
    signature TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL DEFAULT ''  -- the risk level of a checked action
);
"""

COLS = ("id", "signature", "action", "action_kind", "kind", "error", "lesson", "project", "tags",
         "first_seen", "last_seen", "count")
_SELECT = f"SELECT {', '.join(COLS)} FROM failures"
# Built once: the exact check runs one of these per call, and formatting it cost ~0.3 us of ~10.
_SELECT_BY = {column: f"{_SELECT} WHERE {column} = ?" for column in ("id", "signature")}


def _row(row: tuple) -> dict[str, Any]:
    data = dict(zip(COLS, row, strict=True))
    data["tags"] = json.loads(data["tags"])
    return data


class FailureTable(SqliteStore):
    """Records, exact signatures, outcome counts and events (a SQLite file, or Postgres)."""

    def __init__(self, where: Database | Path | str, *, readonly: bool = False) -> None:
        super().__init__(where, SCHEMA, readonly=readonly)
        if not readonly and "level" not in self._conn.columns("events"):
            # a store from before risk levels were logged
            self._conn.execute("ALTER TABLE events ADD COLUMN level TEXT NOT NULL DEFAULT ''")

    def upsert(self, rec: dict[str, Any], *, count: int = 1) -> tuple[dict[str, Any], bool]:
        """Insert or increment a prepared row (see ``prepare``); returns (stored row, created)."""
        rec = {**rec}
        now = rec.setdefault("last_seen", time.time())
        rec.setdefault("first_seen", now)
        with self._lock, Transaction(self._conn) as c:
            row = c.execute("SELECT id FROM failures WHERE signature = ?",
                            (rec["signature"],)).fetchone()
            if row is None:
                rid = rec.get("id") or os.urandom(16).hex()
                c.execute(
                    f"INSERT INTO failures ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})",
                    (rid, rec["signature"], rec["action"], rec.get("action_kind", "command"),
                     rec.get("kind", "error"), rec.get("error", ""), rec.get("lesson", ""),
                     rec.get("project", "default"), json.dumps(sorted(set(rec.get("tags", [])))),
                     rec["first_seen"], now, count),
                )
                created = True
            else:
                rid = row[0]
                c.execute(
                    "UPDATE failures SET count = count + ?, "
                    "last_seen = CASE WHEN last_seen > ? THEN last_seen ELSE ? END, "
                    "error = CASE WHEN ? != '' THEN ? ELSE error END, "
                    "lesson = CASE WHEN ? != '' THEN ? ELSE lesson END WHERE id = ?",
                    (count, now, now, rec.get("error", ""), rec.get("error", ""),
                     rec.get("lesson", ""), rec.get("lesson", ""), rid),
                )
                created = False
            c.execute("INSERT INTO events (ts, event, signature) VALUES (?,?,?)",
                      (time.time(), "recorded" if created else "repeated", rec["signature"]))
            stored = c.execute(_SELECT_BY["id"], (rid,)).fetchone()
        return _row(stored), created

    def _one(self, column: str, value: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(_SELECT_BY[column], (value,)).fetchone()
        return _row(row) if row else None

    def by_signature(self, sig: str) -> dict[str, Any] | None:
        return self._one("signature", sig)

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self._one("id", record_id)

    def get_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(
                f"{_SELECT} WHERE id IN "
                f"({', '.join('?' * len(ids))})", ids
            ).fetchall()
        return {r[0]: _row(r) for r in rows}

    def list(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                f"{_SELECT} ORDER BY last_seen DESC, id "
                "LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [_row(r) for r in rows]

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self._lock, Transaction(self._conn) as c:
            cur = c.execute(f"DELETE FROM failures WHERE id IN ({', '.join('?' * len(ids))})", ids)
            return cur.rowcount

    def count(self, *, unembedded: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM failures" + (" WHERE embedded = 0" if unembedded else "")
        with self._lock:
            return self._conn.execute(sql).fetchone()[0]

    def eviction_candidates(self, *, keep: int, older_than: float | None) -> list[str]:
        """Ids beyond the newest ``keep`` (by last_seen), plus any not seen since ``older_than``."""
        with self._lock:
            ids = [r[0] for r in self._conn.execute(
                "SELECT id FROM failures ORDER BY last_seen DESC, count DESC LIMIT -1 OFFSET ?",
                (keep,))]
            if older_than is not None:
                ids += [r[0] for r in self._conn.execute(
                    "SELECT id FROM failures WHERE last_seen < ?", (older_than,))]
        return sorted(set(ids))

    def add_outcome(self, sig: str, *, ok: bool) -> None:
        col = "successes" if ok else "failures"
        with self._lock, Transaction(self._conn) as c:
            c.execute(
                f"INSERT INTO outcomes (signature, {col}) VALUES (?, 1) "
                f"ON CONFLICT(signature) DO UPDATE SET {col} = outcomes.{col} + 1", (sig,)
            )

    def outcomes(self, sig: str) -> tuple[int, int]:
        with self._lock:
            row = self._conn.execute(
                "SELECT failures, successes FROM outcomes WHERE signature = ?", (sig,)
            ).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def log_event(self, event: str, sig: str, detail: str = "", level: str = "") -> None:
        with self._lock, Transaction(self._conn) as c:
            c.execute("INSERT INTO events (ts, event, signature, detail, level) VALUES (?,?,?,?,?)",
                      (time.time(), event, sig, redact(detail)[:500], level))

    def log_decision(self, decision: str, sig: str, detail: str = "", level: str = "") -> None:
        """Log an allow / ask / deny decision as a checked / asked / blocked event."""
        event = {"deny": "blocked", "ask": "asked"}.get(decision, "checked")
        self.log_event(event, sig, detail, level)

    def events(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT ts, event, signature, detail, level FROM events WHERE ts >= ? ORDER BY id",
                (since,)).fetchall()
        return [dict(zip(("ts", "event", "signature", "detail", "level"), r, strict=True))
                for r in rows]

    def mark_embedded(self, ids: list[str]) -> None:
        with self._lock, Transaction(self._conn) as c:
            c.executemany("UPDATE failures SET embedded = 1 WHERE id = ?", [(i,) for i in ids])

    def mark_all_unembedded(self) -> int:
        """Flag every row for re-embedding (its vectors are not in the index); the count."""
        with self._lock, Transaction(self._conn) as c:
            return c.execute("UPDATE failures SET embedded = 0 WHERE embedded = 1").rowcount

    def unembedded(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                f"{_SELECT} WHERE embedded = 0 LIMIT ?", (limit,)
            ).fetchall()
        return [_row(r) for r in rows]
