"""SQLite connections tuned for several processes writing at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a WAL-mode connection that waits (not fails) while another process writes.

    ``isolation_level=None`` gives autocommit; callers wrap multi-statement writes in
    ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.
    """
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None, check_same_thread=False,
        )
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


class SqliteStore:
    """A WAL connection with its schema applied and a lock for this process's threads."""

    def __init__(self, path: Path | str, schema: str, *, readonly: bool = False) -> None:
        self._conn = connect(path, readonly=readonly)
        if not readonly:
            self._conn.executescript(schema)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()


class Transaction:
    """``with Transaction(conn):`` runs the block in BEGIN IMMEDIATE ... COMMIT/ROLLBACK."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
