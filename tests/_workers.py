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


def record_and_check(
    data_dir: str, postgres_url: str | None, chroma_url: str | None, worker: int, n: int, shared: int
) -> None:
    """One of several concurrent writers: every other record is shared by all workers (its
    count must add up), the rest are this worker's own; each is checked after writing."""
    from task_orchestrator import Settings
    from task_orchestrator.memory import FailureRecord
    from task_orchestrator.memory.store import PersistentFailureMemory

    s = Settings(
        data_dir=data_dir,
        embedder="hashing",
        postgres_url=postgres_url,
        chroma_url=chroma_url,
        _env_file=None,
    )
    m = PersistentFailureMemory(s)
    try:
        for i in range(n):
            action = f"job {i // 2 % shared} failed" if i % 2 == 0 else f"worker {worker} step {i} failed"
            m.record(FailureRecord(action=action, error=f"exit 1 (worker {worker})"))
            m.record_outcome(action, ok=False)
            if m.check_exact(action) is None:
                raise AssertionError(f"{action!r} was recorded but not found")
    finally:
        m.close()
