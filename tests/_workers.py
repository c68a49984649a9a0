"""Work nodes importable from a subprocess (resume-from-a-new-process tests)."""

from __future__ import annotations

from pathlib import Path


def append_marker(state: dict) -> dict:
    """Side effect we can count: appends one line per execution to evidence['marker']."""
    marker = Path(state["evidence"]["marker"])
    with marker.open("a") as f:
        f.write(state["action"] + "\n")
    return {"output": f"ran {state['action']}"}


def slow_marker(state: dict) -> dict:
    """Appends "start <action>", then sleeps long enough to be killed the first time round
    (while evidence['hold'] exists), then appends "end <action>"."""
    import time

    marker = Path(state["evidence"]["marker"])
    hold = Path(state["evidence"]["hold"])
    with marker.open("a") as f:
        f.write(f"start {state['action']}\n")
    while hold.exists():
        time.sleep(0.05)
    with marker.open("a") as f:
        f.write(f"end {state['action']}\n")
    return {"output": f"ran {state['action']}"}
