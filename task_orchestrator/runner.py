"""``Orchestrator``: a guarded graph with a durable SQLite checkpointer and approval queue.

The CLI, the MCP server and notebooks use this; Python users may equally compile
``build_guarded_graph()`` with a checkpointer of their own.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from langgraph.types import Command

from ._sqlite import Transaction, open_database
from .checkpoint import open_checkpointer, scrub
from .errors import ConfigurationError
from .graphs import TaskContext, build_guarded_graph, open_context
from .settings import Settings

__all__ = ["Orchestrator", "UnknownTask"]

_APPROVALS = """
CREATE TABLE IF NOT EXISTS approvals (
    thread_id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    resolved REAL,
    decision TEXT
);
"""


class UnknownTask(ConfigurationError, KeyError):
    """No task is waiting for approval under that thread id."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Orchestrator:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        work: Any = None,
        context: TaskContext | None = None,
        **context_kwargs: Any,
    ) -> None:
        self.settings = settings or (context.settings if context else Settings())
        self.context = context or open_context(self.settings, **context_kwargs)
        self._conn = open_database(self.settings, "checkpoints")
        self._conn.apply_schema(_APPROVALS)
        self.checkpointer, self._close_checkpointer = open_checkpointer(self.settings, self._conn)
        self.graph = build_guarded_graph(work=work).compile(checkpointer=self.checkpointer)

    def close(self) -> None:
        self.context.close()
        self._close_checkpointer()
        self._conn.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------
    def _config(self, thread_id: str) -> dict:
        return {"configurable": {"thread_id": thread_id}}

    def _settle(self, thread_id: str, result: dict) -> dict:
        interrupts = result.pop("__interrupt__", None)
        if interrupts:
            payload = interrupts[0].value
            with Transaction(self._conn) as c:
                c.execute(
                    "INSERT INTO approvals (thread_id, payload, created) VALUES (?,?,?) "
                    "ON CONFLICT(thread_id) DO UPDATE SET payload=excluded.payload, "
                    "resolved=NULL, decision=NULL",
                    (thread_id, json.dumps(scrub(payload), default=str), time.time()),
                )
            result.update(status="waiting_for_approval", approval_request=payload)
        result["thread_id"] = thread_id
        return result

    def run(
        self,
        task: str,
        *,
        action: str | None = None,
        action_kind: str | None = None,
        evidence: dict[str, Any] | None = None,
        thread_id: str | None = None,
    ) -> dict[str, Any]:
        """Run a task to completion or to its approval interrupt."""
        thread_id = thread_id or uuid.uuid4().hex
        inp: dict[str, Any] = {"task": task}
        if action:
            inp["action"] = action
        if action_kind:
            inp["action_kind"] = action_kind
        if evidence:
            inp["evidence"] = evidence
        result = self.graph.invoke(inp, self._config(thread_id), context=self.context)
        return self._settle(thread_id, dict(result))

    def pending(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT thread_id, payload, created FROM approvals WHERE resolved IS NULL "
            "ORDER BY created"
        ).fetchall()
        return [{"thread_id": t, "request": json.loads(p), "created": c} for t, p, c in rows]

    def resume(self, thread_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        """Resume a task waiting for approval with ``{"decision": "approve"|"reject"|"edit"}``."""
        if not isinstance(decision, dict):
            raise ConfigurationError(
                f"a resume payload must be a dict like {{'decision': 'approve'}}, got {decision!r}"
            )
        config = self._config(thread_id)
        snapshot = self.graph.get_state(config)
        waiting = [i for t in snapshot.tasks for i in t.interrupts]
        if not waiting:
            raise UnknownTask(
                f"no task is waiting for approval under thread id {thread_id!r}; "
                "list waiting tasks with `task-orchestrator approvals list`"
            )
        result = self.graph.invoke(Command(resume=decision), config, context=self.context)
        result = self._settle(thread_id, dict(result))
        if result.get("status") != "waiting_for_approval":
            with Transaction(self._conn) as c:
                c.execute(
                    "UPDATE approvals SET resolved=?, decision=? WHERE thread_id=?",
                    (time.time(), str(decision.get("decision")), thread_id),
                )
        return result
