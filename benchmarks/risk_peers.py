"""The risk gate on ../shared/eval/command_risk.jsonl, in process and beside a peer hook.

1. In process: share of risky Atomic Red Team lines (not discovery-only) rated high or
   critical, share of routine NL2Bash lines flagged, for the rules of this checkout and for
   the previous gate (one pass of regexes over the raw text: memory/_rules.py at commit
   BASELINE_COMMIT, read with git; skipped without it). A cross-validated figure: the
   techniques are split in two halves (by ATT&CK technique, three random splits), and the
   risky lines of one half count only through rules that fire on a risky line of the other
   half, so a rule that exists for one technique's examples does not count for them (strict:
   a text rule's alternatives one by one; by rule: each named rule as a whole).
2. As processes, on the same Claude Code PreToolUse Bash JSON, interleaved: this project's
   command hook (``task-orchestrator hook pre-tool-use``, its own HOME and data folder) and
   cc-safety-net (npm, pinned; skipped with a message without npm), with ``python -c pass``
   and ``node -e 0`` as floors. Prints deny/ask shares per set, the denials on the
   destructive classes the peer covers where it denies and we do not, and latency.

3. Our own obfuscation sets (``benchmarks/data/obfuscation*.jsonl``, written from the trick
   classes of issue 32: attacks and harmless look-alikes; ``obfuscation.jsonl`` used while
   building, ``obfuscation_validation.jsonl`` written after): in process, and as hook processes
   in a workspace with uncommitted work, beside cc-safety-net; the attacks the peer denies and
   we do not are printed.

Ends with one JSON line. ``--quick``: a sample of each set (CI).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PEER_VERSION, emit, median, parser, pct, peer_hook, table

from task_orchestrator.risk import text as _rules
from task_orchestrator.risk.shell import parse
from task_orchestrator.risk.text import RISK_ORDER, RULES, SUPERSEDED, decision_for, rule_level

WORKSPACE = "/home/dev/project"  # where the in-process judgement assumes the agent works


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


OWN = Path(__file__).resolve().parent / "data"


def _obfuscation_sets() -> dict[str, list[dict]]:
    """Our own obfuscation sets, written from the trick classes of issue 32: attacks and benign
    look-alikes; ``obfuscation.jsonl`` was used while building, ``obfuscation_validation.jsonl``
    was written afterwards and is the out-of-sample figure."""
    out = {}
    for tag, file in (("dev", "obfuscation.jsonl"), ("validation", "obfuscation_validation.jsonl")):
        rows = _load(OWN / file)
        out[f"obfuscation attacks ({tag})"] = [r for r in rows if r["label"] == "attack"]
        out[f"obfuscation look-alikes ({tag})"] = [r for r in rows if r["label"] == "benign"]
    return out


def _dirty_repo(path: Path) -> str:
    """A workspace with something to lose: a changed tracked file, an untracked one, an ignored one."""
    path.mkdir(parents=True, exist_ok=True)
    run = lambda *a: subprocess.run(["git", "-C", str(path), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (path / "a.txt").write_text("a\n")
    (path / ".gitignore").write_text(".env\n")
    run("add", "a.txt", ".gitignore")
    run("-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "a")
    (path / "a.txt").write_text("changed\n")
    (path / "notes.txt").write_text("mine\n")
    (path / ".env").write_text("TOKEN=x\n")
    return str(path)


def obfuscation_in_process(sets: dict[str, list[dict]]) -> dict:
    """Deny / ask shares on our obfuscation sets, in process (HOME=/home/dev, cwd its project;
    the git-discard lines in a real workspace with uncommitted work)."""
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = "/home/dev"
    repo = tempfile.mkdtemp(prefix="risk-repo-")
    _dirty_repo(Path(repo))
    rows_out, figures = [], {}
    try:
        for name, rows in sets.items():
            got = Counter()
            by_class: dict[str, Counter] = {}
            for r in rows:
                cwd = repo if r["class"] == "git-discard" else WORKSPACE
                d = decision_for(rule_level(r["command"], cwd=cwd)[0], "high", "critical")
                got[d] += 1
                by_class.setdefault(r["class"], Counter())[d] += 1
            n = max(1, len(rows))
            rows_out.append(
                [name, len(rows), f"{got['deny'] / n:.1%}", f"{(got['deny'] + got['ask']) / n:.1%}"]
            )
            short = name.replace("obfuscation ", "").replace(" ", "_").strip("()").replace("(", "")
            figures[short] = {"n": len(rows), "deny": got["deny"], "ask": got["ask"]}
            weak = [
                f"{c} {v['deny']}/{sum(v.values())}"
                for c, v in by_class.items()
                if v["deny"] < sum(v.values())
            ]
            if weak and "attacks" in name:
                print(f"  {name}: classes not fully denied: {', '.join(weak)}")
    finally:
        if old_home is not None:
            os.environ["HOME"] = old_home
        shutil.rmtree(repo, ignore_errors=True)
    table(
        "obfuscation sets in process (rules only): share denied, denied or asked",
        ["set", "n", "denied", "denied or asked"],
        rows_out,
    )
    return figures


def _sets(rows: list[dict]) -> dict[str, list[dict]]:
    disc = lambda r: r.get("tactics") == ["discovery"]  # noqa: E731
    return {
        "routine (NL2Bash)": [r for r in rows if r["label"] == "routine"],
        "destructive (NL2Bash keyword)": [r for r in rows if r["label"] == "destructive"],
        "risky (ART, not discovery-only)": [r for r in rows if r["label"] == "risky" and not disc(r)],
        "discovery-only (ART)": [r for r in rows if r["label"] == "risky" and disc(r)],
    }


# -- in process --------------------------------------------------------------------------------
def _alternatives(source: str) -> list[str]:
    """A regex's top-level alternatives."""
    out, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(source[start:i])
            start = i + 1
        i += 1
    out.append(source[start:])
    return out


_ALT = {
    r.name: [re.compile(a, re.M | (re.I if r.ignorecase else 0)) for a in _alternatives(r.source)]
    for r in RULES
}


def components(command: str) -> dict[str, str]:
    """The rule components that fire on ``command`` -> their level (for the CV)."""
    parsed = parse(command, WORKSPACE)
    rendered = "\n".join(" | ".join(line) for line in parsed.lines if line) if parsed.ok else command
    out: dict[str, str] = {}
    for lvl, reason, rule_id in _rules._findings(command, WORKSPACE, 0):  # what rule_level reports
        rule = _rules.RULES_BY_NAME.get(reason)
        if rule is None:  # a structural finding: its rule id, then its kind without the path
            out.setdefault(f"{rule_id}#{re.sub(r' [(].*$', '', reason)}", lvl)
            continue
        subject = command if rule.name in _rules._RAW_ONLY else rendered
        for k, alt in enumerate(_ALT[rule.name]):
            if alt.search(subject):
                out[f"{rule.name}#{k}"] = rule.level
    return out


def _by_rule(comps: dict[str, str]) -> dict[str, str]:
    """Components grouped by rule (a text rule's alternatives as one)."""
    out: dict[str, str] = {}
    for k, lvl in comps.items():
        name = k.split("#")[0]
        if RISK_ORDER[lvl] > RISK_ORDER.get(out.get(name, "low"), 0):
            out[name] = lvl
        out.setdefault(name, lvl)
    return out


def baseline_components(command: str, old_rules: list) -> dict[str, str]:
    """The same, for the previous gate (its regexes, case-insensitive, on the raw text)."""
    out: dict[str, str] = {}
    for rule in old_rules:
        if rule.pattern.search(command):
            for k, alt in enumerate(_alternatives(rule.source)):
                if re.search(alt, command, re.I | re.M):
                    out[f"{rule.name}#{k}"] = rule.level
    return out


def cross_validated(
    risky: list[dict], splits: int = 3, by_rule: bool = False, comps: list[dict[str, str]] | None = None
) -> tuple[float, list[float]]:
    comps = comps if comps is not None else [components(r["command"]) for r in risky]
    if by_rule:
        comps = [_by_rule(c) for c in comps]
    techniques = sorted({r["technique"].split(".")[0] for r in risky})
    scores = []
    for seed in range(splits):
        rng = random.Random(seed)
        shuffled = techniques[:]
        rng.shuffle(shuffled)
        half = set(shuffled[: len(shuffled) // 2])
        for held in (half, set(techniques) - half):
            train = [c for c, r in zip(comps, risky, strict=True) if r["technique"].split(".")[0] not in held]
            supported = {k for c in train for k, lvl in c.items() if RISK_ORDER[lvl] >= 2}
            test = [c for c, r in zip(comps, risky, strict=True) if r["technique"].split(".")[0] in held]
            hit = sum(any(RISK_ORDER[lvl] >= 2 and k in supported for k, lvl in c.items()) for c in test)
            scores.append(hit / max(1, len(test)))
    return sum(scores) / len(scores), scores


BASELINE_COMMIT = "0ddb8ab"  # the last commit with the regex-only gate


def _baseline():
    """The gate before the parser: ``memory/_rules.py`` at BASELINE_COMMIT (stdlib only)."""
    root = Path(__file__).resolve().parent.parent
    try:
        src = subprocess.run(
            ["git", "-C", str(root), "show", f"{BASELINE_COMMIT}:memory/_rules.py"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    namespace: dict = {"__name__": "baseline_rules"}
    exec(compile(src, f"{BASELINE_COMMIT}:memory/_rules.py", "exec"), namespace)
    BASELINE_RULES[:] = namespace["RULES"]
    return namespace["rule_level"]


BASELINE_RULES: list = []


def in_process(sets: dict[str, list[dict]]) -> dict:
    rows_out, figures = [], {}
    old_rule_level = _baseline()
    if old_rule_level is None:
        print(f"(baseline skipped: git cannot show {BASELINE_COMMIT})")
    t0 = time.perf_counter()
    levels = {name: [rule_level(r["command"], cwd=WORKSPACE)[0] for r in rows] for name, rows in sets.items()}
    per_cmd_us = (time.perf_counter() - t0) / max(1, sum(map(len, sets.values()))) * 1e6
    old = {
        name: [old_rule_level(r["command"])[0] if old_rule_level else "low" for r in rows]
        for name, rows in sets.items()
    }
    for name, rows in sets.items():
        hi = lambda ls: sum(RISK_ORDER[x] >= 2 for x in ls) / max(1, len(ls))  # noqa: E731
        crit = lambda ls: sum(x == "critical" for x in ls) / max(1, len(ls))  # noqa: E731
        rows_out.append(
            [name, len(rows), f"{hi(old[name]):.3f}", f"{hi(levels[name]):.3f}", f"{crit(levels[name]):.3f}"]
        )
        figures[name.split(" ")[0]] = {
            "n": len(rows),
            "baseline_high": round(hi(old[name]), 4),
            "parsed_high": round(hi(levels[name]), 4),
            "parsed_critical": round(crit(levels[name]), 4),
        }
    table(
        "risk gate in process: share rated high or critical (asked or denied)",
        ["set", "n", f"regex gate ({BASELINE_COMMIT})", "parsed gate", "of which critical"],
        rows_out,
    )
    risky = sets["risky (ART, not discovery-only)"]
    cv, scores = cross_validated(risky)
    cv_rule, scores_rule = cross_validated(risky, by_rule=True)
    old_rows = []
    if BASELINE_RULES:
        old_comps = [baseline_components(r["command"], BASELINE_RULES) for r in risky]
        old_cv = cross_validated(risky, comps=old_comps)[0]
        old_cv_rule = cross_validated(risky, by_rule=True, comps=old_comps)[0]
        old_in = figures["risky"]["baseline_high"]
        old_rows = [
            [f"regex gate ({BASELINE_COMMIT}), per alternative", old_in, f"{old_cv:.3f}", ""],
            [f"regex gate ({BASELINE_COMMIT}), per rule", old_in, f"{old_cv_rule:.3f}", ""],
        ]
        figures["baseline_cv_strict"] = round(old_cv, 4)
        figures["baseline_cv_by_rule"] = round(old_cv_rule, 4)
    table(
        "risky recall, cross-validated by ATT&CK technique (2 halves x 3 splits): a line of "
        "the held half counts only through rules that fire on the other half",
        ["unit of a rule", "in-sample", "cross-validated", "folds"],
        [
            [
                "each regex alternative / finding kind (strict)",
                figures["risky"]["parsed_high"],
                f"{cv:.3f}",
                " ".join(f"{s:.2f}" for s in scores),
            ],
            [
                "each named rule / finding kind",
                figures["risky"]["parsed_high"],
                f"{cv_rule:.3f}",
                " ".join(f"{s:.2f}" for s in scores_rule),
            ],
            *old_rows,
        ],
    )
    figures["risky_cv_strict"] = round(cv, 4)
    figures["risky_cv_by_rule"] = round(cv_rule, 4)
    figures["rules_us_per_command"] = round(per_cmd_us, 1)
    print(f"rules in process: {per_cmd_us:.0f} us per command (mean over all sets)")
    return figures


# -- as processes ------------------------------------------------------------------------------
def _event(command: str, cwd: str) -> str:
    return json.dumps(
        {
            "session_id": "risk-peers",
            "transcript_path": "",
            "cwd": cwd,
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": command, "description": "benchmark"},
        }
    )


def _decision(stdout: str) -> str:
    try:
        return json.loads(stdout)["hookSpecificOutput"]["permissionDecision"]
    except (ValueError, KeyError, TypeError):
        return "allow"


def as_processes(
    sets: dict[str, list[dict]], per_set: int | None, seed: int, baseline_path: Path | None = None
) -> dict:
    ours_home = Path(tempfile.mkdtemp(prefix="risk-ours-"))
    peer_home = Path(tempfile.mkdtemp(prefix="risk-peer-"))
    cwd = tempfile.mkdtemp(prefix="risk-ws-")
    # As installed: Python writes its bytecode once (an environment may forbid it, which would
    # recompile every module in every hook process).
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    ours_env = {**base_env, "HOME": str(ours_home), "TASK_ORCHESTRATOR_DATA_DIR": str(ours_home / "data")}
    exe = shutil.which("task-orchestrator")
    ours = (
        [exe, "hook", "pre-tool-use"]
        if exe
        else [sys.executable, "-m", "task_orchestrator.cli", "hook", "pre-tool-use"]
    )
    peer = peer_hook()
    if peer is None:
        print("\ncc-safety-net: skipped (npm is missing or the install failed)")
    peer_env = {**base_env, "HOME": str(peer_home)}
    node = shutil.which("node")
    rng = random.Random(seed)
    timings: dict[str, list[float]] = {
        "ours": [],
        "peer": [],
        "python -c pass": [],
        "node -e 0": [],
        "ours before (baseline)": [],
    }
    old_env = {**ours_env, "PYTHONPATH": str(baseline_path)} if baseline_path else None
    old = [sys.executable, "-m", "task_orchestrator.cli", "hook", "pre-tool-use"]
    old_decisions: list[tuple[dict, str]] = []
    results: dict[str, list[tuple[dict, str, str]]] = {}

    def run(cmd: list[str], env: dict, stdin: str, key: str) -> str:
        t = time.perf_counter()
        # in the workspace, as the client runs hooks (and so that `python -m` in the baseline
        # run imports the baseline package, not this checkout)
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=60, cwd=cwd)
        timings[key].append(time.perf_counter() - t)
        return proc.stdout

    warm = _event("ls", cwd)
    for _ in range(3):  # bytecode written, caches warm: what every later call sees
        run(ours, ours_env, warm, "ours")
        if peer is not None:
            run([str(peer), "hook", "-cc"], peer_env, warm, "peer")
    for key in timings:
        timings[key].clear()
    project = _dirty_repo(ours_home / "project")
    for name, rows in sets.items():
        sample = rows if per_set is None or len(rows) <= per_set else rng.sample(rows, per_set)
        out = []
        for i, r in enumerate(sample):
            event = _event(r["command"], project if name.startswith("obfuscation") else cwd)
            order = [0, 1] if i % 2 == 0 else [1, 0]
            got = {}
            for which in order:
                if which == 0:
                    got["ours"] = _decision(run(ours, ours_env, event, "ours"))
                elif peer is not None:
                    got["peer"] = _decision(run([str(peer), "hook", "-cc"], peer_env, event, "peer"))
            if old_env is not None:
                old_decisions.append((r, _decision(run(old, old_env, event, "ours before (baseline)"))))
            if i % 10 == 0:
                run([sys.executable, "-c", "pass"], base_env, "", "python -c pass")
                if node:
                    run([node, "-e", "0"], base_env, "", "node -e 0")
            out.append((r, got["ours"], got.get("peer", "n/a")))
        results[name] = out

    rows_out, figures = [], {}
    for name, out in results.items():
        c_ours = Counter(o for _, o, _ in out)
        c_peer = Counter(p for _, _, p in out)
        n = len(out)
        rows_out.append(
            [
                name,
                n,
                f"{c_ours['deny'] / n:.1%}",
                f"{c_ours['ask'] / n:.1%}",
                f"{c_peer['deny'] / n:.1%}" if peer else "n/a",
            ]
        )
        figures[name.split(" ")[0]] = {
            "n": n,
            "deny": c_ours["deny"],
            "ask": c_ours["ask"],
            "peer_deny": c_peer["deny"] if peer else None,
        }
    if old_decisions:
        for name in results:
            got = Counter(d for r, d in old_decisions if any(r is x for x, _, _ in results[name]))
            n = max(1, sum(got.values()))
            rows_out.append([f"{name}, before", n, f"{got['deny'] / n:.1%}", f"{got['ask'] / n:.1%}", ""])
    table(
        "as hook processes on the same Claude Code Bash JSON (interleaved)",
        ["set", "n", "task-orchestrator deny", "task-orchestrator ask", f"cc-safety-net {PEER_VERSION} deny"],
        rows_out,
    )
    if peer:
        peer_denies = [
            (r, o)
            for out in results.values()
            for r, o, p in out
            if p == "deny" and r["label"] not in ("routine", "benign")
        ]
        missed = [(r, o) for r, o in peer_denies if o != "deny"]
        print(
            f"\nnon-routine lines the peer denies: {len(peer_denies)}; we deny "
            f"{len(peer_denies) - len(missed)} of them, ask on "
            f"{sum(o == 'ask' for _, o in missed)}, allow {sum(o == 'allow' for _, o in missed)}"
        )
        for r, o in missed[:40]:
            print(f"  peer denies, we {o}: {r['command'][:110]!r}")
        ours_deny = sum(
            o == "deny"
            for out in results.values()
            for r, o, _ in out
            if r["label"] not in ("routine", "benign")
        )
        peer_deny = sum(
            p == "deny"
            for out in results.values()
            for r, _, p in out
            if r["label"] not in ("routine", "benign")
        )
        figures["non_routine_denials"] = {
            "ours": ours_deny,
            "peer": peer_deny,
            "peer_denies_we_do_not": len(missed),
        }
    lat = [
        [k, len(v), f"{median(v) * 1000:.1f}", f"{pct(v, 95) * 1000:.1f}"] for k, v in timings.items() if v
    ]
    table("latency per hook call (ms)", ["process", "n", "median", "p95"], lat)
    base = median(timings["python -c pass"]) if timings["python -c pass"] else None
    if base:
        figures["latency_ms"] = {k: round(median(v) * 1000, 1) for k, v in timings.items() if v}
        figures["ours_over_python_pass"] = round(median(timings["ours"]) / base, 2)
        if timings["peer"]:
            figures["peer_over_python_pass"] = round(median(timings["peer"]) / base, 2)
        if timings["ours before (baseline)"]:
            figures["baseline_over_python_pass"] = round(median(timings["ours before (baseline)"]) / base, 2)
        print(
            f"ours / python -c pass: {figures['ours_over_python_pass']}x"
            + (
                f"; cc-safety-net / python -c pass: {figures['peer_over_python_pass']}x"
                if timings["peer"]
                else ""
            )
            + (
                f"; ours before / python -c pass: {figures['baseline_over_python_pass']}x"
                if "baseline_over_python_pass" in figures
                else ""
            )
        )
    for d in (ours_home, peer_home, Path(cwd)):
        shutil.rmtree(d, ignore_errors=True)
    return figures


def inside_server(sets: dict[str, list[dict]]) -> dict:
    """The rules as the running MCP server applies them: p50/p99 per command, warm."""
    cmds = [r["command"] for rows in sets.values() for r in rows]
    for c in cmds[:200]:
        rule_level(c, cwd=WORKSPACE)
    samples = []
    for c in cmds:
        t = time.perf_counter()
        rule_level(c, cwd=WORKSPACE)
        samples.append(time.perf_counter() - t)
    p50, p99 = median(samples) * 1e3, pct(samples, 99) * 1e3
    print(
        f"\nrules inside a warm process: p50 {p50:.3f} ms, p99 {p99:.3f} ms "
        f"(target p99 <= 1 ms), n={len(samples)}"
    )
    return {"server_p50_ms": round(p50, 3), "server_p99_ms": round(p99, 3)}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
    )
    p.add_argument("--per-set", type=int, default=None, help="hook-process sample per set")
    p.add_argument("--no-processes", action="store_true")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--baseline-pythonpath",
        type=Path,
        default=None,
        help="a folder holding the previous task_orchestrator package (memory/, "
        "graphs/, nodes/ inside it): its command hook runs interleaved too",
    )
    args = p.parse_args()
    rows = _load(args.data / "command_risk.jsonl")
    sets = _sets(rows)
    figures = {"in_process": in_process(sets), **inside_server(sets)}
    figures["superseded_text_rules"] = len(SUPERSEDED)
    obfuscation = _obfuscation_sets()
    figures["obfuscation_in_process"] = obfuscation_in_process(obfuscation)
    sets = {**sets, **obfuscation}
    if not args.no_processes:
        per_set = args.per_set or (25 if args.quick else None)
        figures["processes"] = as_processes(sets, per_set, args.seed, args.baseline_pythonpath)
    emit("risk_peers", {"quick": args.quick, **figures})


if __name__ == "__main__":
    main()
