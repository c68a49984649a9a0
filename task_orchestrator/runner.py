"""``Orchestrator``: a guarded graph with a durable SQLite checkpointer and approval queue.

The CLI, the MCP server and notebooks use this; Python users may equally compile
``build_guarded_graph()`` with a checkpointer of their own.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from task_orchestrator._db import open_database
from task_orchestrator.approvals import ApprovalQueue, ExecutionJournal
from task_orchestrator.errors import ConfigurationError, UnknownTask
from task_orchestrator.graphs import TaskContext, build_guarded_graph, open_context
from task_orchestrator.graphs.checkpoint import open_checkpointer, scrub
from task_orchestrator.graphs.state import TaskInput
from task_orchestrator.literals import TERMINAL_STATUSES
from task_orchestrator.settings import Settings

__all__ = ["Orchestrator"]

#: Each step's checkpoint is written before the next step starts, so a process killed at any
#: point resumes from the step it was in (LangGraph's default, "async", may lose the last one).
DURABILITY: Literal["sync", "async", "exit"] = "sync"


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
        self.approvals = ApprovalQueue(open_database(self.settings, "checkpoints"))
        # The SQLite checkpointer writes through the approval queue's connection (one file).
        self.checkpointer, self._close_checkpointer = open_checkpointer(self.settings, self.approvals.db)
        # Its own connection: the checkpointer commits on the first one from other threads.
        self._journal = ExecutionJournal(open_database(self.settings, "checkpoints"))
        self.context.executions = self._journal
        self.graph = build_guarded_graph(work=work).compile(checkpointer=self.checkpointer)
        self._agent_graph: Any = None

    def close(self) -> None:
        self.context.close()
        self._close_checkpointer()
        self._journal.close()
        self.approvals.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------
    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}}

    def _settle(self, thread_id: str, result: dict) -> dict:
        interrupts = result.pop("__interrupt__", None)
        if interrupts:
            payload = interrupts[0].value
            self.approvals.put(thread_id, scrub(payload))
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
        result = self.graph.invoke(
            cast(TaskInput, inp), self._config(thread_id), context=self.context, durability=DURABILITY
        )
        return self._settle(thread_id, dict(result))

    @property
    def agent_graph(self) -> Any:
        """The agent graph (a Claude Code session as the work), on the same checkpointer."""
        if self._agent_graph is None:
            from task_orchestrator.graphs.agent import build_agent_graph

            self._agent_graph = build_agent_graph().compile(checkpointer=self.checkpointer)
        return self._agent_graph

    def _graph_for(self, thread_id: str) -> Any:
        from task_orchestrator.agent import AgentStore

        store = AgentStore.for_settings(self.settings)
        try:
            return self.agent_graph if store.is_agent_thread(thread_id) else self.graph
        finally:
            store.close()

    def run_agent(
        self, prompt: str, *, workspace: str | Path, thread_id: str | None = None
    ) -> dict[str, Any]:
        """Run a Claude Code session on ``prompt`` in ``workspace`` as a guarded task, to its
        end or to a call waiting for approval. The thread id is the session's id."""
        ws = Path(workspace).expanduser().resolve()
        if not ws.is_dir():
            raise ConfigurationError(f"the workspace {ws} is not a folder")
        if thread_id is not None:
            try:
                thread_id = str(uuid.UUID(thread_id))
            except ValueError:
                raise ConfigurationError(
                    f"an agent task's thread id is its Claude Code session id, a UUID; got {thread_id!r}"
                ) from None
        thread_id = thread_id or str(uuid.uuid4())
        # a reused thread id continues its session with a new prompt: nothing of the last run's outcome stays
        inp = {
            "task": prompt,
            "prompt": prompt,
            "workspace": str(ws),
            "session_id": thread_id,
            "attempts": 1,
            "status": "",
            "error": "",
            "findings": [],
            "approval": None,
            "deferred": None,
        }
        result = self.agent_graph.invoke(
            inp, self._config(thread_id), context=self.context, durability=DURABILITY
        )
        return self._settle(thread_id, dict(result))

    def pending(self) -> list[dict[str, Any]]:
        """Tasks waiting for approval, oldest first."""
        return self.approvals.pending()

    def recover(self, thread_id: str) -> dict[str, Any]:
        """Continue a run whose process died mid-step, from its last checkpoint.

        Steps that finished are not repeated; the interrupted step runs again, except an
        approved action that had started (see ``ExecutionJournal``): the task then ends
        ``error`` saying so, and running it again takes a new task and a new approval.
        """
        config = self._config(thread_id)
        graph = self._graph_for(thread_id)
        snapshot = graph.get_state(config)
        finished = snapshot.values.get("status") in TERMINAL_STATUSES
        if not snapshot.values or (finished and not snapshot.next):
            raise UnknownTask(f"thread {thread_id!r} has no unfinished run to recover")
        if any(t.interrupts for t in snapshot.tasks):
            raise UnknownTask(
                f"thread {thread_id!r} is waiting for approval, not interrupted; resume it with a decision"
            )
        result = self._settle(
            thread_id, dict(graph.invoke(None, config, context=self.context, durability=DURABILITY))
        )
        if result.get("status") != "waiting_for_approval":
            self.approvals.resolve(thread_id, "recovered")
        return result

    def resume(self, thread_id: str, decision: dict[str, Any]) -> dict[str, Any]:
        """Resume a task waiting for approval with ``{"decision": "approve"|"reject"|"edit"}``."""
        if not isinstance(decision, dict):
            raise ConfigurationError(
                f"a resume payload must be a dict like {{'decision': 'approve'}}, got {decision!r}"
            )
        config = self._config(thread_id)
        graph = self._graph_for(thread_id)
        snapshot = graph.get_state(config)
        waiting = [i for t in snapshot.tasks for i in t.interrupts]
        if not waiting:
            raise UnknownTask(
                f"no task is waiting for approval under thread id {thread_id!r}; "
                "list waiting tasks with `task-orchestrator approvals list`"
            )
        result = graph.invoke(Command(resume=decision), config, context=self.context, durability=DURABILITY)
        result = self._settle(thread_id, dict(result))
        if result.get("status") != "waiting_for_approval":
            self.approvals.resolve(thread_id, str(decision.get("decision")))
        return result
