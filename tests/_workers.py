"""Work nodes importable from a subprocess (resume-from-a-new-process tests)."""

from __future__ import annotations

from pathlib import Path


def append_marker(state: dict) -> dict:
    """Side effect we can count: appends one line per execution to evidence['marker']."""
    marker = Path(state["evidence"]["marker"])
    with marker.open("a") as f:
        f.write(state["action"] + "\n")
    return {"output": f"ran {state['action']}"}
