"""Write the Claude Code plugin of this repository from the code that defines it.

    python scripts/build_plugin.py

The repository is a plugin marketplace (``.claude-plugin/marketplace.json``) holding one plugin
(``plugin/``): its manifest (the package's version), ``hooks/hooks.json`` (the fail-closed hooks
of ``task_orchestrator.hooks_install.plugin_hooks``, the hook client found on PATH) and
``.mcp.json`` (the MCP server, ``task-orchestrator serve``). ``tests/test_plugin.py`` fails when
a committed file differs from what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "task-orchestrator"
DESCRIPTION = (
    "A safety layer for coding agents: denies destructive and exfiltrating commands in any "
    "spelling, stops a failed command's unchanged repeat and tells the agent why, refuses a "
    "'done, tests pass' the session contradicts, flags hallucinated packages"
)


def files() -> dict[Path, dict]:
    from task_orchestrator._version import __version__
    from task_orchestrator.hooks_install import plugin_hooks

    return {
        ROOT / ".claude-plugin" / "marketplace.json": {
            "name": NAME,
            "owner": {"name": "task-orchestrator"},
            "metadata": {"description": "The task-orchestrator plugin for Claude Code"},
            "plugins": [
                {
                    "name": NAME,
                    "source": "./plugin",
                    "description": DESCRIPTION,
                    "version": __version__,
                    "license": "MIT",
                    "category": "security",
                }
            ],
        },
        ROOT / "plugin" / ".claude-plugin" / "plugin.json": {
            "name": NAME,
            "version": __version__,
            "description": DESCRIPTION,
            "author": {"name": "task-orchestrator authors"},
            "license": "MIT",
            "keywords": ["safety", "hooks", "guard", "langgraph", "mcp"],
            # the hooks and the MCP server talk to the guard service on loopback only
            "network": {"hosts": ["127.0.0.1"]},
        },
        ROOT / "plugin" / "hooks" / "hooks.json": plugin_hooks(),
        ROOT / "plugin" / ".mcp.json": {"mcpServers": {NAME: {"command": NAME, "args": ["serve"]}}},
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def main() -> None:
    for path, data in files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(data))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
