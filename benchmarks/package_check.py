"""Hallucinated packages on LibraryHalluBench: ``python benchmarks/package_check.py [--quick]``.

Data: ``../shared/eval/library_hallucinations.jsonl`` (half of LibraryHalluBench; 72 prompts
carry three real gpt-5-mini answers each). Ground truth, as the benchmark itself judges:
every top-level module a response imports (any line ``import X`` / ``from X import``, in
fences or not), minus the standard library; hallucinated if neither the name nor the
distribution it is known to come from (``cv2`` -> opencv-python) is a PyPI project in the
snapshot. Each response goes through the ``code`` verifier twice: in an empty workspace
(nothing installed but this interpreter) and in a workspace whose own ``.venv`` holds the
twelve real packages the responses import most (laid out as pip lays them out).

Typo prompts: ``import <the prompt's typo'd name>`` as the agent would write it; is the real
library the first suggestion (one-character typos) or among the first three (others)?
Install guard: every name again as ``pip install NAME`` through the PreToolUse hook.

Before (``--baseline-pythonpath DIR``, e.g. a checkout of an earlier commit): the same
responses through that commit's ``code`` verifier.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, parser, table

DATA = Path(__file__).resolve().parents[2] / "shared" / "eval" / "library_hallucinations.jsonl"
_ANY_IMPORT = re.compile(
    r"^[ \t>.]*((?:import[ \t]+[A-Za-z_]|from[ \t]+[A-Za-z_][\w.]*[ \t]+import\b).*)$", re.MULTILINE
)
_PROMPT_NAME = re.compile(r"using the (\S+) library")


def truth_imports(text: str) -> list[str]:
    """Every top-level module an import statement on any line names (a line that is a valid
    Python import, or a parenthesised ``from X import (``), independent of fences and tags."""
    out = []
    for line in _ANY_IMPORT.findall(text):
        line = line.split("#", 1)[0].strip()
        try:
            tree = ast.parse(line)
        except SyntaxError:
            m = re.match(r"from\s+([A-Za-z_]\w*)[\w.]*\s+import\s*\($", line)
            out += [m.group(1)] if m else []
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                out += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.append(node.module.split(".")[0])
    return list(dict.fromkeys(out))


def fake_venv(root: Path, packages: list[str]) -> None:
    """A workspace ``.venv`` with ``packages`` installed as pip installs them."""
    site = root / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    site.mkdir(parents=True)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    from task_orchestrator.packages import IMPORT_TO_DIST

    for top in packages:
        (site / top).mkdir()
        (site / top / "__init__.py").write_text("")
        info = site / f"{IMPORT_TO_DIST.get(top, top)}-1.0.dist-info"
        info.mkdir()
        (info / "top_level.txt").write_text(top + "\n")


def baseline_findings(pythonpath: str, items: list[tuple[str, str]]) -> dict[str, list[dict]]:
    """The earlier commit's ``code`` findings per response id, in its own process."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from task_orchestrator.verifiers import VerifyInput\n"
        "from task_orchestrator.verifiers.semantic import code\n"
        "out = {}\n"
        "for rid, text, ws in json.load(sys.stdin):\n"
        "    fs = code(VerifyInput(output=text, workspace_override=Path(ws)))\n"
        "    out[rid] = [{'message': f.message, 'severity': f.severity} for f in fs]\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": pythonpath}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(items),
        env=env,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        check=True,
    )
    return json.loads(done.stdout)


def cross_validate_weight(typos: list[dict], weights=(0.0, 0.15, 0.35, 0.6, 1.0)) -> dict:
    """Choose the popularity weight on four folds of libraries, score it on the fifth."""
    import zlib

    from task_orchestrator.packages import IMPORT_TO_DIST, index, normalise

    cases = []
    for r in typos:
        m = _PROMPT_NAME.search(r["prompt"])
        if m:
            base = r["library"]["base"]
            want = {normalise(base), normalise(IMPORT_TO_DIST.get(base, base))}
            cases.append(
                (zlib.crc32(base.encode()) % 5, r["type"].startswith("1"), m.group(1).replace("-", "_"), want)
            )
    hits: dict[float, list[tuple[int, bool, bool]]] = {}
    for w in weights:
        hits[w] = []
        for fold, one_char, written, want in cases:
            names = [{normalise(s.name), s.dist} for s in index.suggest(written, popularity_weight=w)]
            ok = bool(names and names[0] & want) if one_char else any(n & want for n in names)
            hits[w].append((fold, one_char, ok))

    def score(rows: list[tuple[int, bool, bool]]) -> tuple[float, float]:
        one = [ok for _, c, ok in rows if c]
        other = [ok for _, c, ok in rows if not c]
        return sum(one) / max(1, len(one)), sum(other) / max(1, len(other))

    chosen: list[tuple[int, bool, bool]] = []
    for fold in range(5):
        best = max(weights, key=lambda w: sum(score([h for h in hits[w] if h[0] != fold])))
        chosen += [h for h in hits[best] if h[0] == fold]
    first, top3 = score(chosen)
    in_first, in_top3 = score(hits[index.POPULARITY_WEIGHT])
    return {"cv_first": first, "cv_top3": top3, "in_sample_first": in_first, "in_sample_top3": in_top3}


def main() -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-pythonpath", help="PYTHONPATH of an earlier checkout to compare")
    args = ap.parse_args()
    from task_orchestrator import hooks
    from task_orchestrator.packages import IMPORT_TO_DIST, check_import, exists, normalise
    from task_orchestrator.verifiers import VerifyInput
    from task_orchestrator.verifiers.semantic import code

    rows = [json.loads(line) for line in DATA.open()]
    answered = [r for r in rows if r["responses_gpt5mini"]]
    typos = [r for r in rows if "typo" in r["type"]]
    if args.quick:
        answered, typos = answered[::6], typos[::8]
    responses = [
        (f"{r['id']}/{i}", r["type"], text)
        for r in answered
        for i, text in enumerate(r["responses_gpt5mini"])
    ]

    def real(top: str) -> bool:
        return bool(exists(IMPORT_TO_DIST.get(top, top))) or bool(exists(top))

    counted = Counter(
        t for _, _, text in responses for t in truth_imports(text) if t not in sys.stdlib_module_names
    )
    common_real = [t for t, _ in counted.most_common() if real(t)][:12]

    tmp = Path(tempfile.mkdtemp(prefix="package-check-"))
    empty, with_venv = tmp / "empty", tmp / "venv-ws"
    empty.mkdir()
    with_venv.mkdir()
    fake_venv(with_venv, common_real)
    check_import("json", empty)  # load the snapshot before timing

    stats: dict[tuple[str, str], Counter] = defaultdict(Counter)
    times: list[float] = []
    verdicts: dict[str, str] = {}
    misses: list[str] = []
    for rid, kind, text in responses:
        truth = [t for t in truth_imports(text) if t not in sys.stdlib_module_names]
        for mode, ws in (("empty", empty), (".venv", with_venv)):
            t0 = time.perf_counter()
            found = code(VerifyInput(output=text, workspace_override=ws))
            if mode == "empty":
                times.append(time.perf_counter() - t0)
            errors = {
                m.group(1) for f in found if f.blocking and (m := re.match(r"import '([^']+)'", f.message))
            }
            s = stats[(kind, mode)]
            s["responses"] += 1
            for top in truth:
                installed = mode == ".venv" and top in common_real
                if real(top):
                    s["real"] += 1
                    s["real_flagged"] += top in errors
                    s["installed"] += installed
                    s["installed_flagged"] += installed and top in errors
                else:
                    s["hallucinated"] += 1
                    s["caught"] += top in errors
                    if mode == "empty" and top not in errors:
                        misses.append(f"{rid}: {top}")
            s["warnings"] += sum(f.severity == "warning" for f in found)
            s["notes"] += sum(f.severity == "info" for f in found)
            if mode == "empty":
                for top in truth:
                    verdicts[top] = check_import(top, empty).status

    out_rows = []
    for (kind, mode), s in sorted(stats.items()):
        out_rows.append(
            [
                kind,
                mode,
                s["responses"],
                s["hallucinated"],
                s["caught"],
                f"{s['caught'] / max(1, s['hallucinated']):.3f}",
                s["real"],
                s["real_flagged"],
                s["installed"],
                s["installed_flagged"],
                s["warnings"],
                s["notes"],
            ]
        )
    table(
        "Responses (code verifier; errors block)",
        [
            "prompt type",
            "workspace",
            "responses",
            "hallucinated",
            "caught",
            "recall",
            "real imports",
            "errors on real",
            "installed",
            "errors on installed",
            "warnings",
            "notes",
        ],
        out_rows,
    )
    total = Counter()
    for (_, mode), s in stats.items():
        if mode == "empty":
            total.update(s)
    venv_total = Counter()
    for (_, mode), s in stats.items():
        if mode == ".venv":
            venv_total.update(s)
    recall = total["caught"] / max(1, total["hallucinated"])
    if misses:
        print("missed:", "; ".join(misses[:10]))

    # typo prompts
    typo_stats: dict[str, Counter] = defaultdict(Counter)
    typo_names: list[str] = []
    for r in typos:
        m = _PROMPT_NAME.search(r["prompt"])
        if not m:
            continue
        written = m.group(1).replace("-", "_")
        typo_names.append(written)
        base = r["library"]["base"]
        want = {normalise(base), normalise(IMPORT_TO_DIST.get(base, base))}
        v = check_import(written, empty)
        verdicts[written] = v.status
        names = [{normalise(s.name), s.dist} for s in v.suggestions]
        s = typo_stats[r["type"]]
        s["prompts"] += 1
        s["flagged"] += v.severity in ("error", "warning")
        s["first"] += bool(names) and bool(names[0] & want)
        s["top3"] += any(n & want for n in names[:3])
        s[v.status] += 1
    table(
        "Typo prompts (`import <typo>`)",
        [
            "prompt type",
            "prompts",
            "flagged",
            "missing",
            "typosquat",
            "available",
            "real first",
            "real in top 3",
        ],
        [
            [
                k,
                s["prompts"],
                s["flagged"],
                s["missing"],
                s["typosquat"],
                s["available"],
                f"{s['first'] / max(1, s['prompts']):.3f}",
                f"{s['top3'] / max(1, s['prompts']):.3f}",
            ]
            for k, s in sorted(typo_stats.items())
        ],
    )

    # cross-validation of the one chosen constant (the popularity weight), folds by library
    cv = cross_validate_weight(typos) if not args.quick else None
    if cv:
        table(
            "Typo suggestions, popularity weight chosen on the other folds (5 folds by library)",
            ["", "1-char: real first", "others: real in top 3"],
            [
                ["in-sample (shipped weight)", f"{cv['in_sample_first']:.3f}", f"{cv['in_sample_top3']:.3f}"],
                ["cross-validated", f"{cv['cv_first']:.3f}", f"{cv['cv_top3']:.3f}"],
            ],
        )

    # install guard: the same names as `pip install NAME`
    expect = {"missing": "deny", "typosquat": "ask", "slopsquat": "ask"}
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_URL", "UV_INDEX"):
        os.environ.pop(var, None)  # this machine's own wheel folder is not the user's index
    config = hooks.HookConfig({"TASK_ORCHESTRATOR_DATA_DIR": str(tmp / "data")})
    agree = Counter()
    mismatches = []
    for top, status in sorted(verdicts.items()):
        if status in ("stdlib", "local"):
            continue
        dist = IMPORT_TO_DIST.get(top, top)
        out = hooks.rules_only("Bash", {"command": f"pip install {dist}"}, str(empty), config)
        got = out["hookSpecificOutput"]["permissionDecision"] if out else "allow"
        want = expect.get(status, "allow")
        agree[got == want] += 1
        if got != want:
            mismatches.append(f"{dist}: {status} -> {got}")
    table(
        "Install guard (`pip install NAME`, PreToolUse)",
        ["names", "same verdict", "different"],
        [[sum(agree.values()), agree[True], agree[False]]],
    )
    if mismatches:
        print("different:", "; ".join(mismatches[:10]))

    # the command hook as a process: installs pay for the snapshot, other commands do not
    hook_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    hook_env.update(
        HOME=str(tmp / "home"),
        XDG_CACHE_HOME=str(tmp / "home" / ".cache"),
        TASK_ORCHESTRATOR_DATA_DIR=str(tmp / "data"),
    )
    hook = [sys.executable, "-m", "task_orchestrator.cli", "hook", "pre-tool-use"]
    lat_rows, lat = [], {}
    samples = 3 if args.quick else 9
    procs = [
        ("python -c pass", [sys.executable, "-c", "pass"], None),
        ("hook: ls -la", hook, None),
        ("hook: pip install requests", hook, None),
        ("hook: pip install numpyy (denied)", hook, None),
    ]
    if args.baseline_pythonpath:
        procs += [
            ("before: ls -la", hook, args.baseline_pythonpath),
            ("before: pip install requests", hook, args.baseline_pythonpath),
        ]
    for label, argv, pythonpath in procs:
        command = label.split(": ", 1)[-1].replace(" (denied)", "")
        env = {**hook_env, "PYTHONPATH": pythonpath} if pythonpath else hook_env
        event = json.dumps(
            {
                "tool_name": "Bash",
                "tool_input": {"command": command},
                "cwd": str(empty),
                "hook_event_name": "PreToolUse",
            }
        )
        runs = []
        for i in range(samples + 1):
            t0 = time.perf_counter()
            subprocess.run(
                argv, input=event, env=env, capture_output=True, text=True, cwd=str(empty), check=False
            )
            if i:  # the first builds the decompressed snapshot in the cache folder
                runs.append(time.perf_counter() - t0)
        lat[label] = median(runs) * 1000
        lat_rows.append([label, samples, f"{lat[label]:.1f}"])
    table("Command hook processes (ms, median)", ["process", "n", "median"], lat_rows)

    figures = {
        "responses": len(responses),
        "hallucinated_imports": total["hallucinated"],
        "recall": round(recall, 3),
        "errors_on_real_not_installed": total["real_flagged"],
        "errors_on_installed_in_workspace_venv": venv_total["installed_flagged"],
        "typo_1char_first": round(
            typo_stats["1 character typo"]["first"] / max(1, typo_stats["1 character typo"]["prompts"]), 3
        ),
        "typo_other_top3": round(
            typo_stats["2-8 character typo"]["top3"] / max(1, typo_stats["2-8 character typo"]["prompts"]), 3
        ),
        "install_guard_agreement": round(agree[True] / max(1, sum(agree.values())), 3),
        "median_ms_per_response": round(median(times) * 1000, 2),
        "hook_ms": {k: round(v, 1) for k, v in lat.items()},
    }
    if cv:
        figures["typo_cv"] = {k: round(v, 3) for k, v in cv.items()}
    if args.baseline_pythonpath:
        items = [(rid, text, str(empty)) for rid, _, text in responses]
        before = baseline_findings(args.baseline_pythonpath, items)
        b = Counter()
        for rid, _, text in responses:
            errs = {
                m.group(1)
                for f in before[rid]
                if f["severity"] in ("error", "critical")
                and (m := re.match(r"import '([^']+)'", f["message"]))
            }
            for top in truth_imports(text):
                if top in sys.stdlib_module_names:
                    continue
                if real(top):
                    b["real"] += 1
                    b["real_flagged"] += top in errs
                else:
                    b["hallucinated"] += 1
                    b["caught"] += top in errs
        table(
            "Before and after (empty workspace)",
            ["", "recall", "errors on real packages"],
            [
                [
                    "before",
                    f"{b['caught'] / max(1, b['hallucinated']):.3f}",
                    f"{b['real_flagged']}/{b['real']}",
                ],
                ["after", f"{recall:.3f}", f"{total['real_flagged']}/{total['real']}"],
            ],
        )
        figures["baseline_recall"] = round(b["caught"] / max(1, b["hallucinated"]), 3)
        figures["baseline_errors_on_real"] = b["real_flagged"]
    emit("package_check", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
