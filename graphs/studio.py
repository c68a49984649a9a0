"""The graphs for LangGraph Server, ``langgraph dev`` and LangGraph Studio: the guarded task
(``guarded_task``) and a Claude Code session as a guarded task (``agent_task``: input
``{"task": PROMPT, "workspace": FOLDER}``; a deferred call stops at the approval interrupt,
resumed with ``{"decision": "approve" | "reject" | "edit", "input": {...}}``).

``langgraph.json`` points here. The server owns checkpointing (so the graph is compiled
without a checkpointer) and sends the run's context as a plain dict; the nodes then use
one process-wide context opened from the environment (``TASK_ORCHESTRATOR_*``,
``GOOGLE_API_KEY`` / ``OPENAI_API_KEY``), with ``verifiers`` overridable per run.
"""

from __future__ import annotations

from typing_extensions import TypedDict

from task_orchestrator.graphs.agent import build_agent_graph
from task_orchestrator.graphs.context import serve_from_environment
from task_orchestrator.graphs.guarded import build_guarded_graph

__all__ = ["StudioContext", "agent_graph", "graph"]


class StudioContext(TypedDict, total=False):
    """Per-run options a LangGraph Server client may send as ``context``."""

    verifiers: list[str]


serve_from_environment()  # this module is LangGraph Server's entry point (langgraph.json)
graph = build_guarded_graph(context_schema=StudioContext).compile(name="guarded_task")
agent_graph = build_agent_graph(context_schema=StudioContext).compile(name="agent_task")
