"""Run every benchmark: ``python benchmarks/run_all.py [--quick]``.

Each benchmark prints its tables and ends with one JSON line of its figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = [
    "replay.py",
    "risk_peers.py",
    "stop_replay.py",
    "package_check.py",
    "graph_overhead.py",
    "memory_bench.py",
    "eval_memory.py",
    "mcp_bench.py",
    "guard_load.py",
    "reliability.py",
    "free_tier.py",
    "e2e_latency.py",
    "scaleout.py",
]


def main() -> int:
    here = Path(__file__).parent
    extra = sys.argv[1:]
    failed = []
    for name in BENCHMARKS:
        print(f"\n### {name} {' '.join(extra)}", flush=True)
        if subprocess.run([sys.executable, str(here / name), *extra]).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
