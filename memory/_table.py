"""The failure table in SQLite: exact signatures, counts, outcomes and events.

Plain dict rows and the standard library only, so the Claude Code ``command`` hook can
use it without importing pydantic, numpy or Chroma.
"""

from __future__ import annotations

import builtins
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from task_orchestrator._db import Database, SqlStore, Transaction
from task_orchestrator.memory.normalize import blake2b, signature
from task_orchestrator.memory.redact import redact

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ALL_COLS", "COLS", "STATE_COLS", "FailureTable", "prepare", "scoped_signature"]


def prepare(
    action: str, action_kind: str = "command", *, error: str = "", lesson: str = "", **fields: Any
) -> dict[str, Any]:
    """A row ready to store: secrets redacted, error trimmed, signature computed."""
    error = redact(error)
    if len(error) > 4000:
        error = error[:1000] + "\n...[trimmed]...\n" + error[-2900:]
    sig = scoped_signature(signature(action, action_kind), str(fields.get("workspace") or ""))
    return {
        **fields,
        "action": redact(action),
        "action_kind": action_kind,
        "error": error,
        "lesson": redact(lesson)[:2000],
        "signature": sig,
    }


def scoped_signature(sig: str, workspace: str) -> str:
    """The key of a failure kept for one workspace (``workspace`` empty: shared by all)."""
    if not workspace:
        return sig
    return blake2b(f"{workspace}\0{sig}".encode(), digest_size=16).hexdigest()


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
    embedded INTEGER NOT NULL DEFAULT 0,
    workspace TEXT NOT NULL DEFAULT '',
    failure_class TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '',
    steps_at INTEGER NOT NULL DEFAULT 0,
    changes_at INTEGER NOT NULL DEFAULT 0,
    cwd TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS failures_last_seen ON failures(last_seen);
CREATE INDEX IF NOT EXISTS failures_unembedded ON failures(embedded) WHERE embedded = 0;
CREATE TABLE IF NOT EXISTS outcomes (
    signature TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0
);
-- What each session did, so a repeat can be judged by what happened since it failed.
CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY,
    steps INTEGER NOT NULL DEFAULT 0,
    changes INTEGER NOT NULL DEFAULT 0,
    last_change TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL DEFAULT 0
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

COLS = (
    "id",
    "signature",
    "action",
    "action_kind",
    "kind",
    "error",
    "lesson",
    "project",
    "tags",
    "first_seen",
    "last_seen",
    "count",
)
#: What a failure depended on (issue 15): where and when in which session it failed.
STATE_COLS = (
    "workspace",
    "failure_class",
    "session",
    "steps_at",
    "changes_at",
    "cwd",
    "fingerprint",
    "outcome",
)
_STATE_TYPES = {"steps_at": "INTEGER NOT NULL DEFAULT 0", "changes_at": "INTEGER NOT NULL DEFAULT 0"}
ALL_COLS = COLS + STATE_COLS
#: The session of a failure the hooks learned without one (before sessions were kept, or from
#: a client that sends no session id): never the current session, and not a standing rule.
LEGACY_SESSION = "(unknown session)"
_SELECT = f"SELECT {', '.join(ALL_COLS)} FROM failures"
_SET_STATE = ", ".join(f"{k} = ?" for k in STATE_COLS)
STATE_INDEXES = "CREATE INDEX IF NOT EXISTS failures_workspace ON failures(workspace);"
# Built once: the exact check runs one of these per call, and formatting it cost ~0.3 us of ~10.
_SELECT_BY = {column: f"{_SELECT} WHERE {column} = ?" for column in ("id", "signature")}


def _row(row: tuple) -> dict[str, Any]:
    data = dict(zip(ALL_COLS, row, strict=True))
    data["tags"] = json.loads(data["tags"])
    return data


class FailureTable(SqlStore):
    """Records, exact signatures, outcome counts and events (a SQLite file, or Postgres)."""

    def __init__(self, where: Database | Path | str, *, readonly: bool = False) -> None:
        super().__init__(where, SCHEMA, readonly=readonly)
        if not readonly and "level" not in self._db.columns("events"):
            # a store from before risk levels were logged
            self._db.execute("ALTER TABLE events ADD COLUMN level TEXT NOT NULL DEFAULT ''")
        if not readonly:
            self._migrate_state_columns()
            # After the columns exist; through apply_schema, which serialises schema changes
            # across processes (a bare CREATE INDEX IF NOT EXISTS races on Postgres).
            self._db.apply_schema(STATE_INDEXES)

    def _migrate_state_columns(self) -> None:
        """A store from before failures kept their state: add the columns and classify the old
        rows from their error text. Rows the hooks learned become advice from an earlier
        session (``LEGACY_SESSION``); rows recorded on purpose stay standing rules."""
        have = self._db.columns("failures")
        if all(c in have for c in STATE_COLS):
            return
        from task_orchestrator.memory._failures import failure_class

        with self._lock, Transaction(self._db) as c:
            have = self._db.columns("failures")  # again, inside the write lock: another
            missing = [col for col in STATE_COLS if col not in have]  # process may have done it
            for col in missing:
                c.execute(
                    f"ALTER TABLE failures ADD COLUMN {col} "
                    + _STATE_TYPES.get(col, "TEXT NOT NULL DEFAULT ''")
                )
            rows = c.execute(
                "SELECT id, action, error, tags FROM failures WHERE failure_class = ''"
            ).fetchall()
            # Rows the hooks learned before sessions existed are advice from an earlier
            # session, not standing rules; rows recorded on purpose stay standing.
            c.executemany(
                "UPDATE failures SET failure_class = ?, session = ? WHERE id = ?",
                [
                    (
                        failure_class(a, None, e),
                        LEGACY_SESSION if "claude-code" in json.loads(t or "[]") else "",
                        i,
                    )
                    for i, a, e, t in rows
                ],
            )

    def upsert(self, rec: dict[str, Any], *, count: int = 1) -> tuple[dict[str, Any], bool]:
        """Insert or increment a prepared row (see ``prepare``); returns (stored row, created)."""
        rec = {**rec}
        now = rec.setdefault("last_seen", time.time())
        rec.setdefault("first_seen", now)
        with self._lock, Transaction(self._db) as c:
            row = c.execute(
                "SELECT id, tags FROM failures WHERE signature = ?", (rec["signature"],)
            ).fetchone()
            if row is None:
                rid = rec.get("id") or os.urandom(16).hex()
                c.execute(
                    f"INSERT INTO failures ({', '.join(ALL_COLS)}) VALUES ({', '.join('?' * len(ALL_COLS))})",
                    (
                        rid,
                        rec["signature"],
                        rec["action"],
                        rec.get("action_kind", "command"),
                        rec.get("kind", "error"),
                        rec.get("error", ""),
                        rec.get("lesson", ""),
                        rec.get("project", "default"),
                        json.dumps(sorted(set(rec.get("tags", [])))),
                        rec["first_seen"],
                        now,
                        count,
                        *self._state(rec),
                    ),
                )
                created = True
            else:
                rid = row[0]
                # the latest failure's state is the one a repeat is judged against
                c.execute(
                    "UPDATE failures SET count = count + ?, "
                    "last_seen = CASE WHEN last_seen > ? THEN last_seen ELSE ? END, "
                    "error = CASE WHEN ? != '' THEN ? ELSE error END, "
                    "lesson = CASE WHEN ? != '' THEN ? ELSE lesson END, "
                    f"tags = ?, {_SET_STATE} WHERE id = ?",
                    (
                        count,
                        now,
                        now,
                        rec.get("error", ""),
                        rec.get("error", ""),
                        rec.get("lesson", ""),
                        rec.get("lesson", ""),
                        json.dumps(sorted(set(json.loads(row[1])) | set(rec.get("tags", [])))),
                        *self._state(rec),
                        rid,
                    ),
                )
                created = False
            c.execute(
                "INSERT INTO events (ts, event, signature) VALUES (?,?,?)",
                (time.time(), "recorded" if created else "repeated", rec["signature"]),
            )
            stored = c.execute(_SELECT_BY["id"], (rid,)).fetchone()
        return _row(stored), created

    @staticmethod
    def _state(rec: dict[str, Any]) -> tuple:
        return tuple(int(rec.get(k) or 0) if k in _STATE_TYPES else str(rec.get(k) or "") for k in STATE_COLS)

    def _one(self, column: str, value: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(_SELECT_BY[column], (value,)).fetchone()
        return _row(row) if row else None

    def by_signature(self, sig: str) -> dict[str, Any] | None:
        return self._one("signature", sig)

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self._one("id", record_id)

    def get_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        with self._lock:
            rows = self._db.execute(f"{_SELECT} WHERE id IN ({', '.join('?' * len(ids))})", ids).fetchall()
        return {r[0]: _row(r) for r in rows}

    def list(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} ORDER BY last_seen DESC, id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [_row(r) for r in rows]

    def load(self, rows: Iterable[Mapping[str, Any]], *, embedded: bool = False) -> int:
        """Insert complete failure rows as given, in one transaction: seeding a store (an
        import, a benchmark's 100,000 rows) without a merge per row. Each row has the ``COLS``
        (``tags`` a list); the state columns keep their defaults. A signature already stored
        is an error (use ``upsert`` to merge repeats). Returns the number of rows."""
        values = [
            (*(json.dumps(r["tags"]) if c == "tags" else r[c] for c in COLS), int(embedded)) for r in rows
        ]
        sql = (
            f"INSERT INTO failures ({', '.join(COLS)}, embedded) VALUES ({', '.join('?' * (len(COLS) + 1))})"
        )
        with self._lock, Transaction(self._db) as c:
            c.executemany(sql, values)
        return len(values)

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self._lock, Transaction(self._db) as c:
            cur = c.execute(f"DELETE FROM failures WHERE id IN ({', '.join('?' * len(ids))})", ids)
            return cur.rowcount

    def count(self, *, unembedded: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM failures" + (" WHERE embedded = 0" if unembedded else "")
        with self._lock:
            return self._db.execute(sql).fetchone()[0]

    def eviction_candidates(self, *, keep: int, older_than: float | None) -> builtins.list[str]:
        """Ids beyond the newest ``keep`` (by last_seen), plus any not seen since ``older_than``."""
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM failures ORDER BY last_seen DESC, count DESC LIMIT -1 OFFSET ?", (keep,)
                )
            ]
            if older_than is not None:
                ids += [
                    r[0]
                    for r in self._db.execute("SELECT id FROM failures WHERE last_seen < ?", (older_than,))
                ]
        return sorted(set(ids))

    def add_outcome(self, sig: str, *, ok: bool) -> None:
        col = "successes" if ok else "failures"
        with self._lock, Transaction(self._db) as c:
            c.execute(
                f"INSERT INTO outcomes (signature, {col}) VALUES (?, 1) "
                f"ON CONFLICT(signature) DO UPDATE SET {col} = outcomes.{col} + 1",
                (sig,),
            )

    def outcomes(self, sig: str) -> tuple[int, int]:
        with self._lock:
            row = self._db.execute(
                "SELECT failures, successes FROM outcomes WHERE signature = ?", (sig,)
            ).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def log_event(self, event: str, sig: str, detail: str = "", level: str = "") -> None:
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "INSERT INTO events (ts, event, signature, detail, level) VALUES (?,?,?,?,?)",
                (time.time(), event, sig, redact(detail)[:500], level),
            )

    def log_decision(self, decision: str, sig: str, detail: str = "", level: str = "") -> None:
        """Log an allow / ask / deny decision as a checked / asked / blocked event."""
        event = {"deny": "blocked", "ask": "asked"}.get(decision, "checked")
        self.log_event(event, sig, detail, level)

    def events(self, since: float = 0.0) -> builtins.list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ts, event, signature, detail, level FROM events WHERE ts >= ? ORDER BY id", (since,)
            ).fetchall()
        return [dict(zip(("ts", "event", "signature", "detail", "level"), r, strict=True)) for r in rows]

    def recent_decisions(self, limit: int) -> builtins.list[tuple[str, str]]:
        """(risk level, event) of the last ``limit`` checked / asked / blocked decisions."""
        with self._lock:
            rows = self._db.execute(
                "SELECT level, event FROM events WHERE event IN ('checked', 'asked', 'blocked') "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(str(level or ""), str(event)) for level, event in rows]

    def most_frequent(self, limit: int = 10) -> builtins.list[dict[str, Any]]:
        """The failures seen most often (then most recently): action, kind, count, lesson,
        last_seen."""
        with self._lock:
            rows = self._db.execute(
                "SELECT action, kind, count, lesson, last_seen FROM failures "
                "ORDER BY count DESC, last_seen DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(zip(("action", "kind", "count", "lesson", "last_seen"), r, strict=True)) for r in rows]

    def mark_embedded(self, ids: builtins.list[str]) -> None:
        with self._lock, Transaction(self._db) as c:
            c.executemany("UPDATE failures SET embedded = 1 WHERE id = ?", [(i,) for i in ids])

    def mark_all_unembedded(self) -> int:
        """Flag every row for re-embedding (its vectors are not in the index); the count."""
        with self._lock, Transaction(self._db) as c:
            return c.execute("UPDATE failures SET embedded = 0 WHERE embedded = 1").rowcount

    def unembedded(self, limit: int = 1000) -> builtins.list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"{_SELECT} WHERE embedded = 0 LIMIT ?", (limit,)).fetchall()
        return [_row(r) for r in rows]

    # -- sessions: what happened since a failure ----------------------------------------------
    def session(self, session: str) -> tuple[int, int, str]:
        """(steps, changes, last changing command) of a session; zeros for a new one."""
        with self._lock:
            row = self._db.execute(
                "SELECT steps, changes, last_change FROM sessions WHERE session = ?", (session,)
            ).fetchone()
        return (int(row[0]), int(row[1]), str(row[2])) if row else (0, 0, "")

    def step(self, session: str, *, change: str | None) -> None:
        """Count one tool call of ``session`` (``change``: the call may change files or the
        environment, in words; None if it is read-only)."""
        changed = change is not None
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "INSERT INTO sessions (session, steps, changes, last_change, updated) "
                "VALUES (?, 1, ?, ?, ?) ON CONFLICT(session) DO UPDATE SET "
                "steps = sessions.steps + 1, changes = sessions.changes + excluded.changes, "
                "last_change = CASE WHEN excluded.changes > 0 THEN excluded.last_change "
                "ELSE sessions.last_change END, updated = excluded.updated",
                (session, int(changed), redact(change or "")[:300], time.time()),
            )

    def exact(self, sig: str, workspace: str) -> dict[str, Any] | None:
        """The failure kept for this workspace, else the one shared by every workspace; a
        standing rule (recorded on purpose, no session) among the shared ones comes first."""
        shared = self._one("signature", sig)
        if shared is not None and not shared["session"]:
            return shared
        if workspace:
            hit = self._one("signature", scoped_signature(sig, workspace))
            if hit is not None:
                return hit
        return shared

    def empty(self) -> bool:
        """No failure is kept at all."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM failures LIMIT 1").fetchone() is None

    def has_failures(self, workspace: str, action_kind: str | None = None) -> bool:
        """Is any failure (of ``action_kind``, if given) kept for this workspace or shared by
        all? If not, nothing can match and a check needs no embedding."""
        sql = "SELECT 1 FROM failures WHERE workspace IN (?, '')"
        args: tuple[str, ...] = (workspace,)
        if action_kind is not None:
            sql, args = sql + " AND action_kind = ?", (workspace, action_kind)
        with self._lock:
            return self._db.execute(sql + " LIMIT 1", args).fetchone() is not None

    def scopes(self) -> dict[str, int]:
        """How many failures each workspace keeps ('' = shared environment lessons)."""
        with self._lock:
            rows = self._db.execute("SELECT workspace, COUNT(*) FROM failures GROUP BY workspace").fetchall()
        return {str(w): int(n) for w, n in rows}
