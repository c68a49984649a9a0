"""Start the task-orchestrator MCP server on stdio: ``python mcp_server.py``.

The server itself lives in ``task_orchestrator/mcp_server.py`` and runs in the user's guard
service; this file is the top-level entry the design card names and, like
``task-orchestrator serve``, relays stdio to the service (serving in this process when the
service cannot come up).
"""

import sys

from task_orchestrator.mcp_relay import main

if __name__ == "__main__":
    sys.exit(main())
