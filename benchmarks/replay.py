"""Replay real agent runs through the hooks and judge every decision by what really happened.

    python benchmarks/replay.py [--quick] [--data FILE ...] [--transport guard|command]
                                [--modes fresh,kept] [--features OUT.jsonl]

Each recorded run goes through the same entry points the installed hooks use: PreToolUse
(``Guard.decide``, what the guard service answers the thin hook client, similarity included,
or ``hooks.pre_tool_use``, the in-process fallback and ``--transport command``), then, unless
denied, PostToolUse / PostToolUseFailure with the recorded result, in a fresh workspace
folder per run that the recorded commands never touched. The memory is either fresh per run or
kept across the runs of one repository (what a user gets).

Every deny, ask and advisory note is classified by what the command really did next: it
succeeded, it failed the same way as the past failure it was matched with, or it failed
differently. A denial of a command that would have succeeded or failed differently is a wrong
denial. It also counts the loops: repeats of a failed command that fail exactly as before,
how many got the lesson before they ran, and whether those with nothing changed since were
denied. Ends with one JSON line.

Data: ../shared/eval/agent_runs/swebench_gemini3_dev.jsonl (mini-swe-agent + gemini-3-pro on
SWE-bench Verified, real exit codes) and the real Claude Code sessions in
../shared/eval/claude_code/; ``--data`` takes other files of either format.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, parser, table

from task_orchestrator import hooks
from task_orchestrator.memory._decide import SessionState, features, load_predictor
from task_orchestrator.memory._failures import outcome_key
from task_orchestrator.memory._table import FailureTable
from task_orchestrator.memory.normalize import signature

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT_DATA = [
    EVAL / "agent_runs" / "swebench_gemini3_dev.jsonl",
    *sorted((EVAL / "claude_code").glob("session*.jsonl")),
]


# -- loading runs -------------------------------------------------------------------------------
class Step:
    __slots__ = ("command", "error", "output", "returncode", "tool", "tool_input")

    def __init__(
        self, tool: str, tool_input: dict, returncode: int, output: str, error: str | None = None
    ) -> None:
        self.tool, self.tool_input, self.returncode, self.output = tool, tool_input, returncode, output
        self.command = str(tool_input.get("command", "")) if tool == "Bash" else ""
        # what PostToolUseFailure's `error` holds: "Exit code N\n..." or the client's own error
        self.error = error if error is not None else f"Exit code {returncode}\n{output}"


class Run:
    def __init__(self, run_id: str, repo: str, steps: list[Step]) -> None:
        self.id, self.repo, self.steps = run_id, repo, steps


def _agent_runs(path: Path) -> list[Run]:
    runs = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        steps = [
            Step("Bash", {"command": s["command"]}, int(s["returncode"]), s.get("output") or "")
            for s in r["steps"]
            if s.get("command")
        ]
        runs.append(Run(r["instance_id"], r["repo"], steps))
    return runs


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""


def _claude_session(path: Path) -> list[Run]:
    """A Claude Code transcript: every tool call with its result (``Exit code N`` on errors)."""
    calls: dict[str, tuple[str, dict]] = {}
    order: list[str] = []
    results: dict[str, tuple[bool, str]] = {}
    session = path.stem
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        session = rec.get("sessionId") or session
        content = (rec.get("message") or {}).get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "tool_use":
                calls[block["id"]] = (block.get("name", ""), block.get("input") or {})
                order.append(block["id"])
            elif block.get("type") == "tool_result":
                results[block.get("tool_use_id", "")] = (
                    bool(block.get("is_error")),
                    _text(block.get("content")),
                )
    steps = []
    for tid in order:
        tool, tool_input = calls[tid]
        if tid not in results:
            continue
        is_error, text = results[tid]
        code, raw = 0, text
        if is_error:
            head = text.split("\n", 1)[0]
            code = (
                int(head.split()[-1])
                if head.startswith("Exit code") and head.split()[-1].lstrip("-").isdigit()
                else 1
            )
            text = text.split("\n", 1)[1] if head.startswith("Exit code") and "\n" in text else text
        steps.append(Step(tool, tool_input, code, text, raw if is_error else None))
    return [Run(f"claude-code/{session}", "claude-code", steps)]


def load(paths: list[Path]) -> list[Run]:
    runs: list[Run] = []
    for p in paths:
        first = p.read_text().split("\n", 1)[0]
        runs += _agent_runs(p) if '"instance_id"' in first else _claude_session(p)
    return runs


# -- replaying -----------------------------------------------------------------------------------
class Replayer:
    """One memory (a data directory) and its entry points."""

    def __init__(self, data_dir: Path, transport: str, embedder=None) -> None:
        self.dir, self.transport = data_dir, transport
        self.config = hooks.HookConfig({"TASK_ORCHESTRATOR_DATA_DIR": str(data_dir)})
        self.guard = None
        if transport == "guard":
            from task_orchestrator.guard import Guard
            from task_orchestrator.memory.store import PersistentFailureMemory
            from task_orchestrator.settings import Settings

            settings = Settings(data_dir=data_dir, _env_file=None)
            self.guard = Guard(data_dir, settings=settings)
            memory = PersistentFailureMemory(settings, embedder=embedder)
            self.guard.state.service().__dict__["memory"] = memory
            self.guard.similarity.load_now()  # a service that has run a while: similarity warm
        self.store = FailureTable(data_dir / "memory.sqlite")  # the harness's own view

    def pre(self, event: dict) -> dict | None:
        if self.guard is not None:
            return self.guard.decide("pre-tool-use", event)
        return hooks.pre_tool_use(event, self.config)

    def post(self, event: dict) -> None:
        if self.guard is not None:
            self.guard.decide("post-tool-use", event)
        else:
            hooks.post_tool_use(event, self.config)

    def similar(self, command: str, workspace: str) -> list[tuple[dict, float]]:
        if self.guard is None:
            return []
        return self.guard.state.service().similar_rows(command, "command", workspace)

    def close(self) -> None:
        if self.guard is not None:
            self.guard.close()
        self.store.close()


def _source(out: dict) -> str:
    h = out["hookSpecificOutput"]
    reason = h.get("permissionDecisionReason", "")
    memory = any(k in reason for k in ("failed before", "similar (distance", "exact repeat"))
    return "memory" if memory else "rules"


SHOW: set[str] = set()  # --show deny,ask: print those decisions with what really happened


def _exact(store: FailureTable, sig: str, workspace: str) -> dict | None:
    # (works against older stores too, so the same harness measures the baseline)
    return store.exact(sig, workspace) if hasattr(store, "exact") else store.by_signature(sig)


def replay_run(
    run: Run,
    rep: Replayer,
    stats: dict,
    feats: list | None,
    seen_env: dict,
    last_key: dict,
    workspace: Path | None = None,
) -> None:
    """``workspace``: a folder shared with other runs (default: a fresh one for this run)."""
    ws = workspace or Path(tempfile.mkdtemp(prefix="replay-ws-"))
    cwd = str(ws.resolve())
    failures: dict[str, tuple[str, int]] = {}  # signature -> (outcome key, step index) this run
    wrong_denials = 0
    try:
        for i, step in enumerate(run.steps):
            stats["commands"] += step.tool == "Bash"
            event = {
                "session_id": run.id,
                "transcript_path": "",
                "cwd": cwd,
                "hook_event_name": "PreToolUse",
                "tool_name": step.tool,
                "tool_input": step.tool_input,
                "tool_use_id": f"toolu_{i}",
            }
            sig = signature(step.command, "command") if step.command else ""
            before = _exact(rep.store, sig, cwd) if sig else None
            steps, changes, last = rep.store.session(run.id) if hasattr(rep.store, "session") else (0, 0, "")
            t = time.perf_counter()
            out = rep.pre(event)
            stats["pre_seconds"].append(time.perf_counter() - t)
            h = (out or {}).get("hookSpecificOutput", {})
            decision = h.get("permissionDecision", "allow")
            advice = bool(h.get("additionalContext"))
            key = outcome_key(step.returncode, step.output) if step.returncode else ""
            # What the matched past failures were (exact, then similar), to judge "the same way".
            near = rep.similar(step.command, cwd) if ("similar (distance" in json.dumps(h)) else []
            keys = {last_key.get(sig), *(r.get("outcome") for r, _ in near)}
            result = (
                "would_succeed"
                if step.returncode == 0
                else "failed_same"
                if key in keys
                else "failed_differently"
            )
            if step.command and (decision != "allow" or advice):
                src = _source(out) if decision != "allow" else "memory"
                what = decision if decision != "allow" else "advice"
                stats["flags"][(src, what, result)] += 1
                if what == "deny" and result != "failed_same" and src == "memory":
                    wrong_denials += 1
                if what in SHOW:
                    print(
                        f"  [{src} {what} -> {result}] {run.id} step {i}: {step.command[:200]!r}\n"
                        f"      {json.dumps(h)[:400]}\n      real: rc={step.returncode} "
                        f"{step.output.strip()[-200:]!r}"
                    )
            if feats is not None and step.command:
                state = SessionState(run.id, steps=steps, changes=changes, last_change=last, cwd=cwd)
                for row, dist, exact in ([(before, 0.0, True)] if before else []) + [
                    (r, d, False) for r, d in near
                ]:
                    succ = rep.store.outcomes(sig)[1] if exact else 0
                    feats.append(
                        {
                            "repo": run.repo,
                            "run": run.id,
                            "exact": exact,
                            "x": features(row, dist, exact, state, succ),
                            "y": int(result == "failed_same"),
                            "decision": decision,
                        }
                    )
            # Ground truth of loops: an exact repeat of a failure of this run, failing as before.
            if sig and sig in failures and step.returncode and failures[sig][0] == key:
                j = failures[sig][1]
                unchanged = not any(
                    hooks.change_of(s.tool, s.tool_input, s.command) is not None for s in run.steps[j + 1 : i]
                )
                stats["loops"] += 1
                stats["loops_told"] += decision != "allow" or advice
                stats["loops_unchanged"] += unchanged
                stats["loops_unchanged_denied"] += unchanged and decision == "deny"
            # Across sessions: an environment failure of an earlier run repeated in this one.
            if sig in seen_env and seen_env[sig] != run.id and sig not in failures and step.returncode:
                stats["env_repeats"] += 1
                stats["env_repeats_told"] += decision != "allow" or advice
            if decision == "deny":
                continue
            if step.tool == "Bash":
                post = {
                    **event,
                    "hook_event_name": "PostToolUse" if step.returncode == 0 else "PostToolUseFailure",
                }
                if step.returncode == 0:
                    post["tool_response"] = {
                        "stdout": step.output,
                        "stderr": "",
                        "interrupted": False,
                        "exit_code": 0,
                    }
                else:
                    post["error"] = step.error
                rep.post(post)
                if step.returncode:
                    failures[sig] = (key, i)
                    last_key[sig] = key
                    row = _exact(rep.store, sig, cwd)
                    if row is not None and row.get("failure_class") == "environment":
                        seen_env.setdefault(sig, run.id)
    finally:
        if workspace is None:
            shutil.rmtree(ws, ignore_errors=True)
    stats["sessions"] += 1
    stats["sessions_wrong_denial"] += wrong_denials > 0
    stats["max_wrong_denials_per_session"] = max(stats["max_wrong_denials_per_session"], wrong_denials)


def new_stats() -> dict:
    return {
        "commands": 0,
        "sessions": 0,
        "sessions_wrong_denial": 0,
        "max_wrong_denials_per_session": 0,
        "flags": Counter(),
        "loops": 0,
        "loops_told": 0,
        "loops_unchanged": 0,
        "loops_unchanged_denied": 0,
        "env_repeats": 0,
        "env_repeats_told": 0,
        "pre_seconds": [],
    }


def replay(
    runs: list[Run],
    mode: str,
    transport: str,
    embedder=None,
    feats: list | None = None,
    shared_workspace: bool = False,
) -> dict:
    """``shared_workspace``: the runs of one memory share one workspace folder (a user doing
    task after task in the same checkout), instead of a fresh folder per run."""
    stats = new_stats()
    root = Path(tempfile.mkdtemp(prefix="replay-data-"))
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[r.id if mode == "fresh" else r.repo].append(r)
    try:
        for n, group in enumerate(groups.values()):
            rep = Replayer(root / f"m{n}", transport, embedder)
            shared = root / f"ws{n}" if shared_workspace else None
            if shared is not None:
                shared.mkdir()
            seen_env: dict[str, str] = {}
            last_key: dict[str, str] = {}
            try:
                for run in group:
                    replay_run(run, rep, stats, feats, seen_env, last_key, shared)
            finally:
                rep.close()
                shutil.rmtree(root / f"m{n}", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return stats


def summary(stats: dict) -> dict:
    n = max(1, stats["commands"])
    f = stats["flags"]

    def count(src: str | None, what: str, wrong: bool) -> int:
        return sum(
            v
            for (s, w, r), v in f.items()
            if (src is None or s == src) and w == what and (r != "failed_same" if wrong else True)
        )

    loops = max(1, stats["loops"])
    pre = sorted(stats["pre_seconds"]) or [0.0]
    return {
        "commands": stats["commands"],
        "sessions": stats["sessions"],
        "memory_wrong_denials": count("memory", "deny", True),
        "memory_wrong_denials_pct": round(100 * count("memory", "deny", True) / n, 3),
        "memory_wrong_asks": count("memory", "ask", True),
        "memory_wrong_asks_pct": round(100 * count("memory", "ask", True) / n, 3),
        "rules_wrong_denials": count("rules", "deny", True),
        "rules_wrong_asks": count("rules", "ask", True),
        "rules_wrong_asks_pct": round(100 * count("rules", "ask", True) / n, 3),
        "advice_notes": count("memory", "advice", False),
        "advice_then_succeeded": sum(
            v for (s, w, r), v in f.items() if w == "advice" and r == "would_succeed"
        ),
        "sessions_with_wrong_denial": stats["sessions_wrong_denial"],
        "max_wrong_denials_in_a_session": stats["max_wrong_denials_per_session"],
        "loops": stats["loops"],
        "loops_told_pct": round(100 * stats["loops_told"] / loops, 1),
        "loops_unchanged": stats["loops_unchanged"],
        "loops_unchanged_denied": stats["loops_unchanged_denied"],
        "env_repeats_next_session": stats["env_repeats"],
        "env_repeats_told": stats["env_repeats_told"],
        "pre_ms_p50": round(1000 * pre[len(pre) // 2], 2),
        "pre_ms_p99": round(1000 * pre[min(len(pre) - 1, int(len(pre) * 0.99))], 2),
    }


def predictor_figures(feats: list, predictor) -> dict:
    """The predictor on the match rows of this replay (memory kept per repository, agent runs:
    same-session and cross-session matches): the shipped
    model in-sample, and refitted with each repository held out (scripts/fit_failure_predictor.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import numpy as np
    from fit_failure_predictor import cross_validate, scores

    rows = [r for r in feats if r["decision"] != "deny"]
    if not rows:
        return {}
    out = {"rows": len(rows), "cross_validated_by_repository": cross_validate(rows)}
    if predictor is not None:
        p = np.array([predictor.probability(r["x"]) for r in rows])
        out["shipped_in_sample"] = scores(
            p, np.array([r["y"] for r in rows], dtype=float), predictor.ask_threshold
        )
    table(
        "Predictor: asks on matches that then fail the same way (exact repeats with changes "
        "since, other sessions, similar failures)",
        ["model", "rows", "positives", "asked", "precision", "recall", "AUC"],
        [
            [name, f["rows"], f["positives"], f["asked"], f["precision"], f["recall"], f["auc"]]
            for name, f in (
                ("refitted, one repository held out", out["cross_validated_by_repository"]),
                ("shipped, in-sample", out.get("shipped_in_sample")),
            )
            if f
        ],
    )
    return out


def stop_row(runs: list[Run]) -> dict:
    """The Stop hook on the replayed agent runs, each transcript beside a git working tree
    holding the run's submitted change, counted against the harness's ``resolved``, with the
    naive check in the same run (the tables of ``stop_replay.py``)."""
    import tempfile

    from stop_replay import naive, review_rows, score, score_table

    ids = {r.id for r in runs if r.repo != "claude-code"}
    raw = [json.loads(x) for x in DEFAULT_DATA[0].read_text().splitlines() if x.strip()]
    raw = [r for r in raw if r["instance_id"] in ids]
    if not raw:
        return {}
    with tempfile.TemporaryDirectory(prefix="replay-stop-") as folder:
        rows = review_rows(raw, Path(folder))
    rows["naive: last test run failed, or none"] = score([naive(r) for r in raw], raw)
    score_table(
        f"Stop hook on {len(raw)} agent runs with their change in a git working tree "
        f"({sum(r['resolved'] for r in raw)} resolved)",
        rows,
    )
    print("notes go to the user (systemMessage), never block; blocks are the contradicted claims")
    return rows


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, action="append", help="runs or Claude Code sessions")
    p.add_argument("--transport", choices=["guard", "command"], default="guard")
    p.add_argument("--modes", default="fresh,kept")
    p.add_argument("--features", type=Path, help="write match features and labels (JSONL)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--shared-workspace",
        action="store_true",
        help="the runs of one memory share one workspace folder (same checkout)",
    )
    p.add_argument("--show", default="", help="print these decisions (deny,ask,advice)")
    p.add_argument(
        "--no-predictor",
        action="store_true",
        help="past failures give advice only (how scripts/fit_failure_predictor.py collects its rows)",
    )
    p.add_argument("--no-stop", action="store_true", help="skip the Stop-hook row")
    args = p.parse_args()
    if args.no_predictor:
        from task_orchestrator.memory import _decide

        _decide._LOADED[(str(_decide.PREDICTOR_PATH), _decide.PREDICTOR_SHA256)] = None
    SHOW.update(x for x in args.show.split(",") if x)
    runs = load(args.data or DEFAULT_DATA)
    if args.quick:  # a sample: every Claude Code session and 24 agent runs from 3 repositories
        rnd = random.Random(args.seed)
        agent = [r for r in runs if r.repo != "claude-code"]
        keep = {"django", "sympy", "astropy"}
        sample = [r for r in agent if r.repo in keep]
        runs = [r for r in runs if r.repo == "claude-code"][:2] + rnd.sample(sample, min(24, len(sample)))
    embedder = None
    if args.transport == "guard":
        from task_orchestrator.memory.embeddings import make_embedder
        from task_orchestrator.settings import Settings

        embedder = make_embedder(Settings(_env_file=None))
    predictor = load_predictor()
    print(
        f"{len(runs)} runs, {sum(len(r.steps) for r in runs)} tool calls; transport "
        f"{args.transport}; predictor {'loaded' if predictor else 'missing'}"
    )
    feats: list = []
    figures: dict = {}
    rows = []
    for mode in args.modes.split(","):
        for part, subset in (
            ("agent runs", [r for r in runs if r.repo != "claude-code"]),
            ("claude code", [r for r in runs if r.repo == "claude-code"]),
        ):
            if not subset:
                continue
            t = time.perf_counter()
            s = summary(
                replay(
                    subset,
                    mode,
                    args.transport,
                    embedder,
                    feats if (mode == "kept" and part == "agent runs") else None,
                    args.shared_workspace,
                )
            )
            s["seconds"] = round(time.perf_counter() - t, 1)
            figures[f"{mode}/{part}"] = s
            rows.append(
                [
                    mode,
                    part,
                    s["commands"],
                    f"{s['memory_wrong_denials']} ({s['memory_wrong_denials_pct']}%)",
                    f"{s['memory_wrong_asks']} ({s['memory_wrong_asks_pct']}%)",
                    s["sessions_with_wrong_denial"],
                    s["max_wrong_denials_in_a_session"],
                    s["advice_notes"],
                    f"{s['loops']} / {s['loops_told_pct']}%",
                    f"{s['loops_unchanged_denied']}/{s['loops_unchanged']}",
                    f"{s['env_repeats_told']}/{s['env_repeats_next_session']}",
                    f"{s['rules_wrong_asks']} ({s['rules_wrong_asks_pct']}%)",
                    s["pre_ms_p50"],
                ]
            )
    table(
        "Decisions on real runs, judged by what each command really did next",
        [
            "memory",
            "data",
            "Bash cmds",
            "wrong denials",
            "wrong asks",
            "sessions w/ wrong deny",
            "max/session",
            "advice notes",
            "loops / told",
            "unchanged denied",
            "env next session",
            "rule wrong asks",
            "pre p50 ms",
        ],
        rows,
    )
    print(
        "\nwrong = the command would have succeeded or failed differently; loops = exact repeats"
        " of a failed command that fail exactly as before; memory columns exclude the risk "
        "rules (issue 16), which the last column shows"
    )
    if args.features:
        args.features.write_text("".join(json.dumps(f) + "\n" for f in feats))
        print(f"wrote {len(feats)} match rows to {args.features}")
    figures["predictor"] = predictor_figures(feats, predictor)
    if not args.no_stop:
        figures["stop_hook"] = stop_row(runs)
    emit(
        "replay",
        {
            "transport": args.transport,
            "quick": args.quick,
            "shared_workspace": args.shared_workspace,
            **{k: {kk: vv for kk, vv in v.items()} for k, v in figures.items()},
        },
    )


if __name__ == "__main__":
    main()
