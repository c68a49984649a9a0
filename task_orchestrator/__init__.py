"""task-orchestrator: a safety layer for coding agents built on LangGraph.

Build a guarded task graph around your own work node, compile it with your
checkpointer and run it with a context::

    from task_orchestrator import Settings, build_guarded_graph, open_context
    graph = build_guarded_graph(work=my_node).compile(checkpointer=saver)
    graph.invoke({"task": "...", "action": "..."}, config, context=open_context(Settings()))
"""

from .errors import (
    AllProvidersUnavailable,
    BudgetExceeded,
    ConfigurationError,
    NoProviderConfigured,
    ProviderCallFailed,
    TaskOrchestratorError,
)
from .findings import Finding
from .graphs import (
    ApprovalDecision,
    TaskContext,
    TaskInput,
    TaskOutput,
    TaskState,
    build_guarded_graph,
    open_context,
)
from .settings import Settings

__all__ = [
    "AllProvidersUnavailable",
    "ApprovalDecision",
    "BudgetExceeded",
    "ConfigurationError",
    "Finding",
    "NoProviderConfigured",
    "ProviderCallFailed",
    "Settings",
    "TaskContext",
    "TaskInput",
    "TaskOrchestratorError",
    "TaskOutput",
    "TaskState",
    "build_guarded_graph",
    "open_context",
]
