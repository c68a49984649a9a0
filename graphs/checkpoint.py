"""Checkpointers for the guarded graph: secrets never reach a checkpoint.

A task's text, its action, the model's output and the approval payload all live in the
graph's state, and the checkpointer writes that state to disk. ``RedactingSerializer``
redacts every string on the way in (the same rules as the failure memory), so a key
pasted into a prompt is not stored. The price: an action that embeds a credential is
resumed with ``[REDACTED:...]`` in place of it; reference credentials through the
environment (``$GITHUB_TOKEN``) instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from task_orchestrator._db import PG_SCHEMA, Database, SqliteDatabase
from task_orchestrator.memory.redact import redact

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from task_orchestrator.settings import Settings

__all__ = ["RedactingSerializer", "open_checkpointer", "scrub"]


def scrub(obj: Any, _depth: int = 0) -> Any:
    """``obj`` with every string redacted (containers, dataclasses and pydantic models)."""
    if _depth > 50:
        return obj
    d = _depth + 1
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {scrub(k, d): scrub(v, d) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, d) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(scrub(v, d) for v in obj)
    if isinstance(obj, set | frozenset):
        return type(obj)(scrub(v, d) for v in obj)
    if isinstance(obj, BaseModel):
        return obj.model_copy(update={k: scrub(getattr(obj, k), d) for k in type(obj).model_fields})
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        try:
            return dataclasses.replace(
                obj, **{f.name: scrub(getattr(obj, f.name), d) for f in dataclasses.fields(obj) if f.init}
            )
        except (TypeError, ValueError):
            return obj
    return obj


class RedactingSerializer(SerializerProtocol):
    """LangGraph's JSON+msgpack serializer with secrets redacted before writing."""

    def __init__(self, inner: SerializerProtocol | None = None) -> None:
        self.inner = inner or JsonPlusSerializer()

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self.inner.dumps_typed(scrub(obj))

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.inner.loads_typed(data)


def open_checkpointer(settings: Settings, db: Database) -> tuple[BaseCheckpointSaver, Callable[[], None]]:
    """(checkpointer, close): SQLite on ``db``'s file, or Postgres when the settings name one."""
    serde = RedactingSerializer()
    if isinstance(db, SqliteDatabase):
        from langgraph.checkpoint.sqlite import SqliteSaver

        return SqliteSaver(db.conn, serde=serde), lambda: None
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    if settings.postgres_url is None:
        raise ValueError("the Postgres checkpointer needs TASK_ORCHESTRATOR_POSTGRES_URL")
    conn = psycopg.connect(
        settings.postgres_url.get_secret_value(),
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        connect_timeout=10,
        options=f"-c search_path={PG_SCHEMA}",
    )
    saver = PostgresSaver(conn, serde=serde)
    try:  # several servers may start at once: one runs the migrations at a time
        conn.execute("SELECT pg_advisory_lock(hashtext('task-orchestrator:checkpoints'))")
        saver.setup()
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('task-orchestrator:checkpoints'))")
    return saver, conn.close
