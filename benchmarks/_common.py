"""Shared helpers for benchmarks: timing, tables and the closing JSON line."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    return p


def time_calls(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    """Seconds per call for ``n`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


# The peer hook measured beside ours (risk_peers.py, e2e_latency.py): npm, pinned.
PEER_VERSION = "2.4.5"
PEER_DIR = Path(
    os.environ.get("TASK_ORCHESTRATOR_PEER_DIR", Path.home() / ".cache" / "task-orchestrator-peers")
)


def peer_hook() -> Path | None:
    """cc-safety-net's executable, installed once into PEER_DIR; None without npm."""
    from task_orchestrator._npm import npm_tool

    return npm_tool("cc-safety-net", PEER_VERSION, PEER_DIR, "node_modules/.bin/cc-safety-net", timeout=600)


def emit(name: str, figures: dict) -> None:
    print(json.dumps({"benchmark": name, **figures}, sort_keys=True))


def failure_row(i: int, action: str, signature: str, error: str, now: float) -> dict:
    """One complete failure-table row for FailureTable.load (seeding a benchmark's store)."""
    return {
        "id": f"id{i}",
        "signature": signature,
        "action": action,
        "action_kind": "command",
        "kind": "command_failed",
        "error": error,
        "lesson": "",
        "project": "bench",
        "tags": [],
        "first_seen": now,
        "last_seen": now,
        "count": 1,
    }
