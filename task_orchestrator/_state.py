"""What the MCP tools and the guard service share for a process's lifetime: one ``Service``.

Light to import (the service itself, with LangGraph, the stores and the embedding model, opens
on first use), so the guard service can listen before any of it loads.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_orchestrator.service import Service
    from task_orchestrator.settings import Settings

__all__ = ["AppState"]


class AppState:
    """The MCP server's lifespan state: settings and the service opened on first use."""

    def __init__(
        self, settings: Settings | None = None, service_kwargs: dict[str, Any] | None = None
    ) -> None:
        self.settings = settings
        self.service_kwargs = service_kwargs or {}
        self._service: Service | None = None
        self._lock = threading.Lock()

    def service(self) -> Service:
        with self._lock:
            if self._service is None:
                from task_orchestrator.service import Service
                from task_orchestrator.settings import Settings

                self._service = Service(self.settings or Settings(), **self.service_kwargs)
            return self._service

    def close(self) -> None:
        with self._lock:
            if self._service is not None:
                self._service.close()
                self._service = None
