"""Start the task-orchestrator MCP server on stdio: ``python mcp_server.py``.

The server itself lives in ``task_orchestrator/mcp_server.py``; this file is the
top-level entry the design card names. ``task-orchestrator serve`` does the same.
"""

from task_orchestrator.mcp_server import main

if __name__ == "__main__":
    main()
