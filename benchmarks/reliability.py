"""Does the guarded graph make a 20-step workflow succeed, and at what cost?

A scripted model makes injected semantic errors at a set rate per step (wrong file path,
false "tests pass", invalid structured output, hallucinated import), and the primary
provider fails at a set rate (timeouts, 429s, 500s) plus an outage window. The same
workflow runs bare (plain LangGraph, same model, no checks) and guarded, over seeded
trials. Target at 5% errors: guarded >= 99% end-to-end success, cost <= 1.3x bare.

Scenario 2 replays a recurring failure across sessions (new processes on one data
directory): the first occurrence costs retries, later ones are blocked before running.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from typing_extensions import TypedDict

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, parser, table

from task_orchestrator import Settings, build_guarded_graph, open_context
from task_orchestrator.memory import InMemoryFailureMemory
from task_orchestrator.settings import ModelPrice
from task_orchestrator.testing import ScriptedChatModel

STEPS = 20
KINDS = ("wrong_path", "false_tests", "bad_schema", "bad_import")
PRICE = ModelPrice(input=0.30, output=2.50)
VERIFIERS = ["non_empty", "schema", "paths", "test_claims", "code"]


class StepReport(BaseModel):
    file: str
    summary: str
    claim: str
    code: str


class ProviderError(RuntimeError):
    pass


class World:
    """The scripted model's behaviour and the ground truth of its last answer."""

    def __init__(self, seed: int, err_rate: float, fault_rate: float) -> None:
        self.rng = random.Random(seed)
        self.err_rate, self.fault_rate = err_rate, fault_rate
        self.step = 0
        self.truth: str | None = None
        self.injected: Counter[str] = Counter()
        # One trial in five has an outage of the primary provider for steps 8-11.
        self.outage = range(8, 12) if seed % 5 == 0 else range(0)

    def answer(self) -> str:
        kind = self.rng.choice(KINDS) if self.rng.random() < self.err_rate else None
        self.truth = kind
        if kind:
            self.injected[kind] += 1
        i = self.step
        report = {
            "file": f"src/mod{i}.py",
            "summary": f"implemented step {i}",
            "claim": "All tests pass.",
            "code": "import json\n\ndef run():\n    return json.dumps({})\n",
        }
        if kind == "wrong_path":
            report["file"] = f"src/module_{i}.py"
        elif kind == "bad_schema":
            del report["summary"]
        elif kind == "bad_import":
            # a package on no registry (`jsonn` itself is now a PyPI project: a look-alike of
            # json, which the code verifier reports as a typosquat warning, not an error)
            report["code"] = "import jsonfastdumps\n\ndef run():\n    return jsonfastdumps.dumps({})\n"
        return json.dumps(report)

    def primary(self, _messages):
        if self.step in self.outage or self.rng.random() < self.fault_rate:
            return self.rng.choice(
                [
                    TimeoutError("deadline exceeded"),
                    ProviderError("429 Too Many Requests"),
                    ProviderError("500 Internal Server Error"),
                ]
            )
        return self.answer()

    def secondary(self, _messages):
        return self.answer()

    def test_output(self) -> tuple[str, int]:
        if self.truth == "false_tests":
            return "FAILED tests/test_mod.py::test_run\n==== 1 failed, 9 passed in 0.4s ====", 1
        return "==== 10 passed in 0.4s ====", 0


def prompt(step: int, feedback: str = "") -> str:
    text = f"Step {step}: implement src/mod{step}.py, run the tests, report as JSON."
    return text + (f"\nPrevious attempt rejected:\n{feedback}" if feedback else "")


def usage_cost(messages_and_replies: list[tuple[int, int]]) -> float:
    return sum(i * PRICE.input + o * PRICE.output for i, o in messages_and_replies) / 1e6


# -- bare -------------------------------------------------------------------------------------
class BareState(TypedDict, total=False):
    ok: bool
    tokens: list


def run_bare(seed: int, err: float, fault: float) -> dict:
    world = World(seed, err, fault)
    model = ScriptedChatModel(responder=world.primary)

    def make(i: int):
        def node(state: BareState) -> dict:
            # Bare keeps going after a wrong step (nothing notices) so both sides pay for
            # all 20 steps; a provider error fails the step (no fallback, no retry).
            world.step = i
            try:
                msg = model.invoke(prompt(i))
            except Exception:
                return {"ok": False}
            u = msg.usage_metadata
            return {
                "ok": state.get("ok", True) and world.truth is None,
                "tokens": [*state.get("tokens", []), (u["input_tokens"], u["output_tokens"])],
            }

        return node

    g = StateGraph(BareState)
    for i in range(STEPS):
        g.add_node(f"s{i}", make(i))
        g.add_edge(START if i == 0 else f"s{i - 1}", f"s{i}")
    g.add_edge(f"s{STEPS - 1}", END)
    t = time.perf_counter()
    r = g.compile().invoke({"ok": True, "tokens": []})
    return {
        "ok": r["ok"],
        "cost": usage_cost(r["tokens"]),
        "time": time.perf_counter() - t,
        "injected": world.injected,
    }


# -- guarded ------------------------------------------------------------------------------------
def run_guarded(seed: int, err: float, fault: float, root: Path) -> dict:
    world = World(seed, err, fault)
    ws = root / f"ws{seed}"
    (ws / "src").mkdir(parents=True, exist_ok=True)
    for i in range(STEPS):
        (ws / "src" / f"mod{i}.py").write_text("def run(): ...\n")
    settings = Settings(
        data_dir=root / f"data{seed}-{err}",
        workspace=ws,
        verifiers=VERIFIERS,
        prices={"scripted-model": PRICE},
        task_budget_usd=None,
        daily_budget_usd=None,
        _env_file=None,
    )
    ctx = open_context(
        settings,
        memory=InMemoryFailureMemory(),
        output_schema=StepReport,
        models={
            "gemini": ScriptedChatModel(responder=world.primary),
            "openai": ScriptedChatModel(responder=world.secondary),
        },
    )
    caught: Counter[str] = Counter()

    def work(state, runtime):
        call = runtime.context.router.invoke(
            prompt(world.step, state.get("feedback", "")), task_id=state["task_id"]
        )
        report = json.loads(call.message.content)
        out, code = world.test_output()
        return {
            "output": report,
            "evidence": {"test_output": out, "test_exit_code": code, "code": report.get("code", "")},
        }

    graph = build_guarded_graph(work=work, work_uses_model=True).compile()
    ok, retries, missed = True, 0, Counter()
    t = time.perf_counter()
    for i in range(STEPS):
        world.step = i
        r = graph.invoke(
            {"task": prompt(i), "action": f"implement step {i}", "action_kind": "text"},
            {"configurable": {"thread_id": f"{seed}-{i}"}},
            context=ctx,
        )
        retries += r.get("attempts", 1) - 1
        for e in r["trace"]:
            if e["node"] == "verify" and not e["passed"]:
                caught["caught"] += 1
        if r["status"] != "succeeded":
            ok = False
        elif world.truth is not None:
            missed[world.truth] += 1
            ok = False
    elapsed = time.perf_counter() - t
    cost = sum(row["cost_usd"] or 0 for row in ctx.router.ledger.table())
    ctx.close()
    return {
        "ok": ok,
        "cost": cost,
        "time": elapsed,
        "retries": retries,
        "caught": caught["caught"],
        "missed": missed,
        "injected": world.injected,
    }


# -- scenario 2: recurring failure across sessions --------------------------------------------
SESSION_SCRIPT = r"""
import json, sys
from task_orchestrator import Settings
from task_orchestrator.runner import Orchestrator
from task_orchestrator.settings import ModelPrice
runs = {"n": 0}
def work(state):
    runs["n"] += 1
    if "--watch" in state["action"]:
        raise RuntimeError("npm test -- --watch never exits in CI (killed after 600 s)")
    return {"output": "ok"}
s = Settings(data_dir=sys.argv[1], max_attempts=2, _env_file=None)
with Orchestrator(s, work=work) as o:
    r = o.run("run the test suite", action="npm test -- --watch")
print(json.dumps({"status": r["status"], "executions": runs["n"],
                  "attempts": r.get("attempts", 0)}))
"""


def sessions(n: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as data:
        for _ in range(n):
            p = subprocess.run(
                [sys.executable, "-c", SESSION_SCRIPT, data], capture_output=True, text=True, timeout=300
            )
            out.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    args = parser(__doc__).parse_args()
    trials = 15 if args.quick else 200
    rates = [0.05] if args.quick else [0.01, 0.05, 0.10, 0.20]
    fault = 0.05
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for err in rates:
            bare = [run_bare(1000 + s, err, fault) for s in range(trials)]
            guarded = [run_guarded(1000 + s, err, fault, root) for s in range(trials)]
            b_ok = sum(r["ok"] for r in bare) / trials
            g_ok = sum(r["ok"] for r in guarded) / trials
            b_cost = sum(r["cost"] for r in bare) / trials
            g_cost = sum(r["cost"] for r in guarded) / trials
            injected = sum((r["injected"] for r in guarded), Counter())
            missed = sum((r["missed"] for r in guarded), Counter())
            caught = sum(r["caught"] for r in guarded)
            retries = sum(r["retries"] for r in guarded) / trials
            rows.append(
                [
                    f"{err:.0%}",
                    f"{(1 - err) ** STEPS:.1%}",
                    f"{b_ok:.1%}",
                    f"{g_ok:.1%}",
                    f"{sum(injected.values())}",
                    f"{caught}",
                    f"{sum(missed.values())}",
                    f"{retries:.2f}",
                    "0",
                    f"{g_cost / b_cost:.2f}x",
                    f"{sum(r['time'] for r in bare) / trials * 1e3:.0f} / "
                    f"{sum(r['time'] for r in guarded) / trials * 1e3:.0f}",
                ]
            )
            figures[f"err{int(err * 100)}"] = {
                "bare_success": round(b_ok, 3),
                "guarded_success": round(g_ok, 3),
                "cost_ratio": round(g_cost / b_cost, 3),
                "injected": dict(injected),
                "caught": caught,
                "missed": dict(missed),
                "retries_per_workflow": round(retries, 2),
            }
    table(
        f"20-step workflow, {trials} seeded trials per row, primary-provider faults {fault:.0%} "
        "per call, and an outage (steps 8-11) in one trial in five",
        [
            "errors/step",
            "theory bare",
            "bare ok",
            "guarded ok",
            "errors injected",
            "caught (verify)",
            "missed",
            "retries/workflow",
            "approvals",
            "cost vs bare",
            "ms per workflow bare / guarded",
        ],
        rows,
    )
    five = figures.get("err5", {})
    print(
        f"target at 5%: guarded >= 99% success ({five.get('guarded_success')}), cost <= 1.3x "
        f"({five.get('cost_ratio')})"
    )
    sess = sessions(3 if args.quick else 5)
    table(
        "recurring failure across sessions (a new process each, one data directory)",
        ["session", "status", "times the failing command ran", "attempts"],
        [[i + 1, s["status"], s["executions"], s["attempts"]] for i, s in enumerate(sess)],
    )
    figures["sessions"] = sess
    emit("reliability", figures)


if __name__ == "__main__":
    main()
