"""Overhead of the guarded graph vs a bare LangGraph graph running the same one-step task.

Same scripted model, same task; no checkpointer / InMemorySaver / SqliteSaver (file).
Target: guarded <= 3x bare with the same checkpointer.
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
import tempfile
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, median, parser, pct, table, time_calls

from task_orchestrator import Settings, build_guarded_graph, open_context
from task_orchestrator.memory import InMemoryFailureMemory
from task_orchestrator.settings import ModelPrice
from task_orchestrator.testing import ScriptedChatModel

TARGET = 3.0


class Bare(TypedDict, total=False):
    task: str
    output: str


def bare_graph(model):
    def work(state: Bare) -> dict:
        return {"output": model.invoke(state["task"]).content}

    g = StateGraph(Bare)
    g.add_node("work", work)
    g.add_edge(START, "work")
    g.add_edge("work", END)
    return g


def main() -> None:
    args = parser(__doc__).parse_args()
    n = 40 if args.quick else 300
    tmp = tempfile.TemporaryDirectory()
    settings = Settings(
        data_dir=Path(tmp.name) / "data",
        _env_file=None,
        prices={"scripted-model": ModelPrice(input=1, output=2)},
        task_budget_usd=None,
        daily_budget_usd=None,
    )
    model = ScriptedChatModel(script=["a complete answer"], cycle=True)
    ctx = open_context(settings, models={"gemini": model}, memory=InMemoryFailureMemory())
    savers = {
        "none": lambda: None,
        "InMemorySaver": InMemorySaver,
        "SqliteSaver(file)": lambda: SqliteSaver(
            sqlite3.connect(Path(tmp.name) / "cp.sqlite", check_same_thread=False)
        ),
    }
    rows, figures, ok = [], {}, True
    counter = itertools.count()
    for name, make in savers.items():
        bare = bare_graph(model).compile(checkpointer=make())
        guarded = build_guarded_graph().compile(checkpointer=make())

        def cfg():
            return {"configurable": {"thread_id": f"t{next(counter)}"}}

        tb = time_calls(lambda b=bare: b.invoke({"task": "hi"}, cfg()), n)
        tg = time_calls(lambda g=guarded: g.invoke({"task": "hi"}, cfg(), context=ctx), n)
        ratio = median(tg) / median(tb)
        ok &= ratio <= TARGET
        rows.append(
            [
                name,
                f"{median(tb) * 1e3:.2f}",
                f"{median(tg) * 1e3:.2f}",
                f"{pct(tg, 99) * 1e3:.2f}",
                f"{ratio:.2f}x",
                f"<= {TARGET}x",
                "ok" if ratio <= TARGET else "MISSED",
            ]
        )
        key = name.split("(")[0].lower()
        figures[f"{key}_bare_ms"] = round(median(tb) * 1e3, 3)
        figures[f"{key}_guarded_ms"] = round(median(tg) * 1e3, 3)
        figures[f"{key}_ratio"] = round(ratio, 2)
    table(
        f"one-step task, {n} runs each (ms per task, median)",
        ["checkpointer", "bare", "guarded", "guarded p99", "ratio", "target", ""],
        rows,
    )
    emit("graph_overhead", {**figures, "target_ratio": TARGET, "met": bool(ok)})
    ctx.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
