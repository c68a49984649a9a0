"""The approval queue and the execution journal: two tables beside the checkpoints.

Both live in the ``checkpoints`` database (a SQLite file in the data directory, or the shared
Postgres), so a task's checkpoint, its pending approval and the record that its approved
action started are kept together and survive a restart.
"""

from __future__ import annotations

import json
import time
from typing import Any

from task_orchestrator._db import Database, SqlStore, Transaction

__all__ = ["ApprovalQueue", "ExecutionJournal"]

_APPROVALS = """
CREATE TABLE IF NOT EXISTS approvals (
    thread_id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    resolved REAL,
    decision TEXT
);
"""

_EXECUTIONS = """
CREATE TABLE IF NOT EXISTS executions (
    key TEXT PRIMARY KEY,      -- thread : approved action : approval time : attempt
    thread_id TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL
);
"""


class ApprovalQueue(SqlStore):
    """Tasks waiting for a human: one row per thread, open until a decision resolves it."""

    def __init__(self, where: Database | str) -> None:
        super().__init__(where, _APPROVALS)

    @property
    def db(self) -> Database:
        """The connection (the SQLite checkpointer shares it: one file, one writer)."""
        return self._db

    def put(self, thread_id: str, payload: dict[str, Any]) -> None:
        """Open (or reopen, with a new payload) the thread's request."""
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "INSERT INTO approvals (thread_id, payload, created) VALUES (?,?,?) "
                "ON CONFLICT(thread_id) DO UPDATE SET payload=excluded.payload, "
                "resolved=NULL, decision=NULL",
                (thread_id, json.dumps(payload, default=str), time.time()),
            )

    def pending(self) -> list[dict[str, Any]]:
        """Open requests, oldest first: ``{"thread_id", "request", "created"}``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT thread_id, payload, created FROM approvals WHERE resolved IS NULL ORDER BY created"
            ).fetchall()
        return [{"thread_id": t, "request": json.loads(p), "created": c} for t, p, c in rows]

    def resolve(self, thread_id: str, decision: str) -> None:
        """Close the thread's open request with ``decision`` (no-op when none is open)."""
        with self._lock, Transaction(self._db) as c:
            c.execute(
                "UPDATE approvals SET resolved=?, decision=? WHERE thread_id=? AND resolved IS NULL",
                (time.time(), decision, thread_id),
            )


class ExecutionJournal(SqlStore):
    """Approved actions started and finished (durable, shared by every process on the store):
    an approved action whose start is recorded is never started again by a recovery."""

    def __init__(self, where: Database | str) -> None:
        super().__init__(where, _EXECUTIONS)

    def claim(self, key: str, thread_id: str) -> bool:
        """Record the start of ``key``; False if it started before (and may have run)."""
        with self._lock, Transaction(self._db) as c:
            if c.execute("SELECT 1 FROM executions WHERE key = ?", (key,)).fetchone():
                return False
            c.execute(
                "INSERT INTO executions (key, thread_id, started) VALUES (?,?,?)",
                (key, thread_id, time.time()),
            )
            return True

    def finish(self, key: str) -> None:
        with self._lock, Transaction(self._db) as c:
            c.execute("UPDATE executions SET finished = ? WHERE key = ?", (time.time(), key))
