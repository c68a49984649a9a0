"""A guarded 20-step workflow on one rate-limited key: paced, or failing the way the free tier fails.

    python benchmarks/free_tier.py            # 10 requests per minute, as Gemini's free tier (~6 min)
    python benchmarks/free_tier.py --quick    # the same limit with time scaled 10x: 10 per 6 s (~1 min)

The real ``langchain-google-genai`` client (and, in a second scenario, ``langchain-openai``) talks
to a loopback endpoint (task_orchestrator.fake_endpoints) that enforces 10 requests per window
the way the provider does: a request over it gets the provider's real 429 (Gemini's with a
``RetryInfo`` delay, OpenAI's with ``Retry-After``). The workflow is 20 guarded tasks run back
to back through the ``Orchestrator`` with the default work node; every fourth task's first
answer is empty, so verification fails and reflection asks again (25 calls in all), bursts
included. Each row runs in its own process and data directory, on its own endpoint:

- **ours**: this checkout, the provider's limit set (``TASK_ORCHESTRATOR_RATE_LIMITS``);
- **ours, no limit configured** (full run only: Gemini's 429 names a per-minute limit, which
  the time-scaled quick run does not have): the same code with no pacing set: the first 429
  teaches it the limit;
- **before (issue 34)**: the code of ``BASELINE_COMMIT`` (from git), its client built the way
  its ``make_chat_model`` built it (Gemini: no retries; OpenAI: one SDK retry).

Reported: tasks succeeded, requests sent, 429s received, requests that arrived over the limit
after the first 429, breaker openings, and wall time against the floor: ``calls / limit``
windows (the issue's floor) and the strict floor of a sliding window (``ceil(calls / limit) - 1``
windows, the first burst being free). Ends with one JSON line.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, parser, pct, table

from task_orchestrator.fake_endpoints import FakeGemini, FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before issue 34 (pacing, rate limits apart from outages).
BASELINE_COMMIT = "66e855a"
STEPS = 20
LIMIT = 10
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-5-mini"}
FLAKY = "[draft]"  # tasks whose first answer is empty: verification fails, reflection asks again


def answer(body: str) -> str:
    """The endpoint's answer to a request body: empty for a flaky task's first attempt."""
    if FLAKY in body and "previous attempt was rejected" not in body:
        return ""
    return "Done: the change is written and described in one sentence."


# The worker runs inside the checkout under test (this one, or the baseline's files on
# PYTHONPATH); it uses only what both versions have.
WORKER = r"""
import json, os, sys, time
from task_orchestrator import Settings
from task_orchestrator.runner import Orchestrator
cfg = json.loads(sys.argv[1])
provider, url, model = cfg["provider"], cfg["url"], cfg["model"]
fields = Settings.model_fields
kw = dict(data_dir=cfg["data_dir"], providers=[provider], embedder="hashing", _env_file=None,
          request_timeout_s=30.0, verifiers=["non_empty"], max_attempts=3,
          prices={model: {"input": 0.3, "output": 2.5}})
models = None
if "gemini_base_url" in fields:  # this version reads base URLs and rate limits from settings
    kw[f"{provider}_base_url"] = url
    kw["rate_limits"] = cfg["rate_limits"]
    kw["google_api_key" if provider == "gemini" else "openai_api_key"] = "fake-key"
else:  # the code before: its make_chat_model's construction, pointed at the endpoint
    if provider == "gemini":
        from langchain_google_genai import ChatGoogleGenerativeAI
        models = {"gemini": ChatGoogleGenerativeAI(model=model, google_api_key="fake-key", timeout=30.0,
                                                   max_retries=1, max_output_tokens=2048, base_url=url)}
    else:
        from langchain_openai import ChatOpenAI
        models = {"openai": ChatOpenAI(model=model, api_key="fake-key", timeout=30.0, max_retries=1,
                                       max_completion_tokens=2048, base_url=url)}
s = Settings(**kw)
out = []
t0 = time.monotonic()
with Orchestrator(s, models=models) as orch:
    for i in range(cfg["steps"]):
        flaky = "[draft] " if i % 4 == 3 else ""
        r = orch.run(f"{flaky}Step {i + 1} of the workflow: describe the change in one sentence.")
        out.append({"status": r.get("status"), "error": (r.get("error") or "")[:200]})
    wall = time.monotonic() - t0
    events = orch.context.router.breakers.events(100)
opened = sum(1 for e in events if e["transition"].endswith("->open"))
print(json.dumps({"tasks": out, "wall_s": wall, "breaker_opened": opened}))
"""


def baseline_tree(commit: str, where: Path) -> Path | None:
    """The package as it installs, from git at ``commit`` (graphs/, nodes/ and memory/ inside)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, timeout=120)
    if archive.returncode != 0:
        return None
    src = where / "src"
    src.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    pkg = where / "pkg"
    shutil.copytree(src / "task_orchestrator", pkg / "task_orchestrator")
    for part in ("graphs", "nodes", "memory"):
        shutil.copytree(src / part, pkg / "task_orchestrator" / part)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(pkg)], capture_output=True)
    return pkg


def run_row(
    provider: str, window_s: float, pythonpath: Path | None, paced: bool, tmp: Path, name: str
) -> dict:
    fake_cls = FakeGemini if provider == "gemini" else FakeOpenAI
    model = MODELS[provider]
    with fake_cls(rpm=LIMIT, window_s=window_s, answer=answer) as fake:
        cfg = {
            "provider": provider,
            "url": fake.url,
            "model": model,
            "data_dir": str(tmp / name.replace(" ", "-").replace(",", "")),
            "steps": STEPS,
            "rate_limits": {model: {"rpm": LIMIT, "window_s": window_s}} if paced else {},
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASK_ORCHESTRATOR_")}
        if pythonpath is not None:
            env["PYTHONPATH"] = str(pythonpath)
        proc = subprocess.run(
            [sys.executable, "-c", WORKER, json.dumps(cfg)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,  # not the checkout: the baseline's package must win the import
            timeout=3600,
        )
        stats = fake.stats()
    if proc.returncode != 0:
        raise SystemExit(f"{name}: the worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    ok = sum(1 for t in result["tasks"] if t["status"] == "succeeded")
    calls = stats["answered"]
    floor_issue = calls / LIMIT * window_s
    floor_strict = (math.ceil(calls / LIMIT) - 1) * window_s
    errors = sorted({t["error"][:90] for t in result["tasks"] if t["status"] != "succeeded"})
    return {
        "row": name,
        "provider": provider,
        "succeeded": ok,
        "tasks": len(result["tasks"]),
        "requests": stats["requests"],
        "answered": calls,
        "sent_429": stats["sent_429"],
        "over_limit_after_first_429": stats["over_limit_after_first_429"],
        "breaker_opened": result["breaker_opened"],
        "wall_s": round(result["wall_s"], 1),
        "floor_calls_over_limit_s": round(floor_issue, 1),
        "floor_strict_s": round(floor_strict, 1),
        "wall_over_floor": round(result["wall_s"] / floor_issue, 2) if floor_issue else None,
        "wall_over_strict_floor": round(result["wall_s"] / floor_strict, 2) if floor_strict else None,
        "errors": errors[:2],
    }


def pacing_cost(tmp: Path, n: int) -> dict:
    """What pacing adds to a call that need not wait: a reservation and its update when done
    (two write transactions on the data directory's SQLite store)."""
    from task_orchestrator.pacing import Pacer
    from task_orchestrator.settings import RateLimit

    pacer = Pacer(tmp / "cost.sqlite", lambda p, m: RateLimit(rpm=10**9, rpd=10**9))
    times = []
    for i in range(n + 20):
        t = time.perf_counter()
        slot, _ = pacer.acquire("gemini", MODELS["gemini"], 120.0)
        pacer.sent(slot)
        if i >= 20:
            times.append(time.perf_counter() - t)
    pacer.close()
    return {"p50_ms": round(median(times) * 1000, 3), "p99_ms": round(pct(times, 99) * 1000, 3)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--providers", default="gemini,openai")
    args = p.parse_args()
    window = 6.0 if args.quick else 60.0
    tmp = Path(tempfile.mkdtemp(prefix="free-tier-"))
    base = None if args.no_baseline else baseline_tree(args.baseline_commit, tmp / "baseline")
    if base is None and not args.no_baseline:
        print(f"(baseline skipped: git cannot show {args.baseline_commit})")
    rows = []
    t0 = time.monotonic()
    for provider in args.providers.split(","):
        rows.append(run_row(provider, window, None, True, tmp, f"ours {provider}"))
        if provider == "gemini" and not args.quick:  # it learns a per-minute limit: real time only
            rows.append(run_row(provider, window, None, False, tmp, f"ours {provider}, no limit configured"))
        if base is not None:
            rows.append(run_row(provider, window, base, True, tmp, f"before {provider}"))
    cost = pacing_cost(tmp, 300)
    shutil.rmtree(tmp, ignore_errors=True)
    table(
        f"a guarded {STEPS}-step workflow, one key limited to {LIMIT} requests per {window:g} s "
        f"(real clients, loopback endpoints; {time.monotonic() - t0:.0f} s in all)",
        [
            "row",
            "tasks ok",
            "requests",
            "429s",
            "over limit after 1st 429",
            "breaker opened",
            "wall s",
            "floor s (calls/limit)",
            "wall / floor",
            "strict floor s",
            "wall / strict",
        ],
        [
            [
                r["row"],
                f"{r['succeeded']}/{r['tasks']}",
                r["requests"],
                r["sent_429"],
                r["over_limit_after_first_429"],
                r["breaker_opened"],
                r["wall_s"],
                r["floor_calls_over_limit_s"],
                r["wall_over_floor"],
                r["floor_strict_s"],
                r["wall_over_strict_floor"],
            ]
            for r in rows
        ],
    )
    for r in rows:
        if r["errors"]:
            print(f"  {r['row']}: {' | '.join(r['errors'])}")
    print(
        f"\npacing per call with no wait (reserve + done): p50 {cost['p50_ms']} ms, p99 {cost['p99_ms']} ms"
    )
    emit("free_tier", {"window_s": window, "limit": LIMIT, "rows": rows, "pacing_cost": cost})


if __name__ == "__main__":
    main()
