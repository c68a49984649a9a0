"""``task-orchestrator demo``: one offline run through every safety node."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from task_orchestrator.memory import InMemoryFailureMemory
from task_orchestrator.runner import Orchestrator
from task_orchestrator.settings import ModelPrice, Settings
from task_orchestrator.testing import ScriptedChatModel

__all__ = ["run_demo"]


class Release(BaseModel):
    package: str
    version: str
    changelog: list[str]


def _trace(console: Console, result: dict, title: str) -> None:
    t = Table(title=title, show_lines=False)
    t.add_column("node")
    t.add_column("what happened")
    for entry in result.get("trace", []):
        info = {k: v for k, v in entry.items() if k != "node" and v not in (None, [], "")}
        t.add_row(entry["node"], Text("; ".join(f"{k}={v}" for k, v in info.items())[:200]))
    console.print(t)


def _cost(console: Console, rows: list[dict]) -> None:
    t = Table(title="cost")
    for col in ("provider", "model", "calls", "input_tokens", "output_tokens", "cost_usd"):
        t.add_column(col, justify="right" if col not in ("provider", "model") else "left")
    for r in rows:
        cost = "unpriced" if r["cost_usd"] is None else f"${r['cost_usd']:.6f}"
        t.add_row(
            r["provider"], r["model"], str(r["calls"]), str(r["input_tokens"]), str(r["output_tokens"]), cost
        )
    console.print(t)


def run_demo(data_dir: Path | None = None, console: Console | None = None) -> dict:
    console = console or Console()
    tmp = tempfile.TemporaryDirectory(prefix="task-orchestrator-demo-")
    base = Path(tmp.name)
    data = data_dir or base / "data"
    workspace = base / "workspace"
    (workspace / "build").mkdir(parents=True)
    (workspace / "build" / "stale.o").write_text("old object file")
    settings = Settings(
        data_dir=data,
        workspace=workspace,
        memory_cap=1000,
        prices={"scripted-model": ModelPrice(input=0.30, output=2.50)},
    )
    outcome: dict = {}
    try:
        # 1. An LLM task with structured output: attempt 1 is invalid, reflection fixes it.
        model = ScriptedChatModel(
            script=[
                '{"package": "task-orchestrator", "version": "0.1.0"}',
                '{"package": "task-orchestrator", "version": "0.1.0", '
                '"changelog": ["guarded task graph", "failure memory"]}',
            ]
        )
        console.rule("[bold]1. an LLM task: verification fails, reflection, retry passes")
        with Orchestrator(
            settings, models={"gemini": model}, output_schema=Release, memory=InMemoryFailureMemory()
        ) as orch:
            r1 = orch.run("Write the release record for task-orchestrator 0.1.0 as JSON.")
        _trace(console, r1, f"task {r1['thread_id'][:8]}: {r1['status']}")
        console.print("output:", r1.get("output"))
        _cost(console, r1.get("cost", []))
        outcome["llm_task"] = r1["status"]

        # 2. A risky step: the guard asks a human; a *new process* (a new Orchestrator on
        #    the same data directory) resumes it from the SQLite checkpoint.
        def clean_build(state: dict) -> dict:
            target = workspace / "build"
            removed = sorted(p.name for p in target.iterdir())
            for p in target.iterdir():
                p.unlink()
            target.rmdir()
            return {"output": f"removed build/ ({', '.join(removed)})"}

        console.rule("[bold]2. a risky step waits for approval, then resumes")
        with Orchestrator(settings, work=clean_build, memory=InMemoryFailureMemory()) as orch:
            # (deleting a build folder is routine and runs at once; shredding asks first)
            r2 = orch.run(
                "Shred the build artifacts", action=f"shred -u {workspace}/build/* && rmdir {workspace}/build"
            )
        console.print(f"status: [yellow]{r2['status']}[/] thread={r2['thread_id']}")
        console.print("why:", r2["approval_request"]["why"])
        console.print("build/ still there:", (workspace / "build").exists())
        with Orchestrator(settings, work=clean_build, memory=InMemoryFailureMemory()) as orch:
            console.print("pending approvals:", [p["thread_id"] for p in orch.pending()])
            r3 = orch.resume(r2["thread_id"], {"decision": "approve", "by": "demo"})
        _trace(console, r3, f"task {r3['thread_id'][:8]} after approval: {r3['status']}")
        console.print("output:", r3.get("output"))
        console.print("build/ still there:", (workspace / "build").exists())
        outcome["approval_task"] = r3["status"]
    finally:
        tmp.cleanup()
    return outcome
