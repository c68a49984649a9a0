"""task-orchestrator: a safety layer for coding agents built on LangGraph.

Build a guarded task graph around your own work node, compile it with your
checkpointer and run it with a context::

    from task_orchestrator import Settings, build_guarded_graph, open_context
    graph = build_guarded_graph(work=my_node).compile(checkpointer=saver)
    graph.invoke({"task": "...", "action": "..."}, config, context=open_context(Settings()))

Names are imported on first use, so entry points that need little (the hooks) start fast.
"""

from __future__ import annotations

from task_orchestrator._lazy import lazy_getattr

__all__ = [
    "AllProvidersUnavailable",
    "ApprovalDecision",
    "ApprovalMissing",
    "BudgetExceeded",
    "ConfigurationError",
    "ExecutionInterrupted",
    "Finding",
    "NoProviderConfigured",
    "Orchestrator",
    "ProviderCallFailed",
    "QuotaExhausted",
    "RateLimited",
    "RuntimeFailure",
    "Settings",
    "StoreUnavailable",
    "TaskContext",
    "TaskInput",
    "TaskOrchestratorError",
    "TaskOutput",
    "TaskState",
    "UnknownTask",
    "build_guarded_graph",
    "open_context",
]

_WHERE = {
    "AllProvidersUnavailable": "errors",
    "ApprovalMissing": "errors",
    "BudgetExceeded": "errors",
    "ConfigurationError": "errors",
    "ExecutionInterrupted": "errors",
    "NoProviderConfigured": "errors",
    "ProviderCallFailed": "errors",
    "QuotaExhausted": "errors",
    "RateLimited": "errors",
    "RuntimeFailure": "errors",
    "StoreUnavailable": "errors",
    "TaskOrchestratorError": "errors",
    "UnknownTask": "errors",
    "Finding": "findings",
    "Settings": "settings",
    "Orchestrator": "runner",
    "ApprovalDecision": "graphs",
    "TaskContext": "graphs",
    "TaskInput": "graphs",
    "TaskOutput": "graphs",
    "TaskState": "graphs",
    "build_guarded_graph": "graphs",
    "open_context": "graphs",
}


__getattr__ = lazy_getattr(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted(__all__)
