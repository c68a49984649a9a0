"""The ``task-orchestrator`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    outcome = run_demo(Path(args.data_dir) if args.data_dir else None)
    return 0 if all(v == "succeeded" for v in outcome.values()) else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="task-orchestrator", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run one task offline through every safety node")
    demo.add_argument("--data-dir", help="keep the demo's stores here (default: a temp dir)")
    demo.set_defaults(fn=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import TaskOrchestratorError

    try:
        return args.fn(args)
    except TaskOrchestratorError as exc:
        print(f"task-orchestrator: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
