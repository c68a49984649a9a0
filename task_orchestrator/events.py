"""The hook events: one table drives the CLI, the installer, the guard service and its clients.

Each event has one function (``run``) that the guard service, the in-process fallback of the
thin hook client, and ``--transport command`` all call; a new event is one entry here.
"""

from __future__ import annotations

import json
import os
import sys

from task_orchestrator import hooks
from task_orchestrator.hooks import HookConfig, action_of_tool, decision_json
from task_orchestrator.risk.text import decision_for, rule_level, text_level

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from task_orchestrator.memory._table import FailureTable

    Similar = Callable[[str, str, str], list[tuple[dict[str, Any], float]]]

__all__ = ["EVENTS", "PRE_MATCHER", "HookEvent", "config_from_env", "handle", "read_event"]

PRE_MATCHER = "Bash|Write|Edit|MultiEdit|NotebookEdit|mcp__.*"


class HookEvent:
    """One hook of ours: its name on the command line and the wire, the Claude Code events
    (with matchers) it is installed for, the client's limit on the hook process, and how long
    the thin client waits for the service before it judges in-process."""

    __slots__ = ("entries", "name", "run", "timeout_s", "wait_s")

    def __init__(
        self,
        name: str,
        entries: tuple[tuple[str, str | None], ...],
        timeout_s: int,
        wait_s: float,
        run: Callable[[dict[str, Any], HookConfig, FailureTable | None, Similar | None], Any],
    ) -> None:
        self.name, self.entries, self.timeout_s, self.wait_s, self.run = name, entries, timeout_s, wait_s, run


def _pre(event: dict[str, Any], config: HookConfig, store: FailureTable | None, similar: Any) -> Any:
    return hooks.pre_tool_use(event, config, store, similar)


def _agent_pre(event: dict[str, Any], config: HookConfig, store: FailureTable | None, similar: Any) -> Any:
    """PreToolUse in a session ``agent run`` drives (its ``--settings`` name this event):
    nothing is pre-allowed there, so a call runs only on this hook's explicit "allow", and a
    hook that fails or times out leaves it denied (``claude -p`` has nobody to ask)."""
    from task_orchestrator.agent import agent_decision

    return agent_decision(event, hooks.pre_tool_use(event, config, store, similar), config)


def _post(event: dict[str, Any], config: HookConfig, store: FailureTable | None, similar: Any) -> Any:
    hooks.post_tool_use(event, config, store)
    return None


def _stop(event: dict[str, Any], config: HookConfig, store: FailureTable | None, similar: Any) -> Any:
    return hooks.stop(event)


EVENTS: dict[str, HookEvent] = {
    e.name: e
    for e in (
        HookEvent("pre-tool-use", (("PreToolUse", PRE_MATCHER),), 10, 0.8, _pre),
        # installed by no one: the hooks `agent run` gives its sessions (agent._hook_settings)
        HookEvent("agent-pre-tool-use", (), 10, 0.8, _agent_pre),
        HookEvent("post-tool-use", (("PostToolUse", "Bash"), ("PostToolUseFailure", "Bash")), 15, 3.0, _post),
        # the transcript of a long session is megabytes, and a stale one is read again for 1 s
        HookEvent("stop", (("Stop", None),), 30, 20.0, _stop),
    )
}


def handle(
    name: str,
    event: dict[str, Any],
    config: HookConfig,
    store: FailureTable | None = None,
    similar: Similar | None = None,
) -> dict[str, Any] | None:
    """``EVENTS[name].run`` that never raises: a broken safety layer must not brick the
    agent, and what the rules call critical stays denied whatever failed."""
    try:
        return EVENTS[name].run(event, config, store, similar)
    except Exception as exc:
        print(f"task-orchestrator: hook {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if name != "pre-tool-use":
            return None
        tool_input = event.get("tool_input")
        text = action_of_tool(
            str(event.get("tool_name", "")), tool_input if isinstance(tool_input, dict) else {}
        )[2]
        try:
            level, reasons = rule_level(text, cwd=str(event.get("cwd") or "") or None)
        except Exception:
            level, reasons = text_level(text)
        if decision_for(level, config.ask_at, config.deny_at) == "deny":
            return decision_json("deny", f"task-orchestrator: {level} risk: {', '.join(reasons)}")
        return None


def read_event(raw: str) -> dict[str, Any]:
    """The hook input: a JSON object (empty input is an empty event)."""
    event = json.loads(raw) if raw.strip() else {}
    if not isinstance(event, dict):
        raise ValueError("hook input must be a JSON object")
    return event


def config_from_env() -> HookConfig:
    try:
        return HookConfig()
    except ValueError as exc:  # a bad setting is reported; the defaults still guard
        print(f"task-orchestrator: {exc}", file=sys.stderr)
        return HookConfig({k: v for k, v in os.environ.items() if k == "TASK_ORCHESTRATOR_DATA_DIR"})
