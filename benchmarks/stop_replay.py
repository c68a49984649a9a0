"""The Stop hook on real agent runs, against the official SWE-bench verdicts.

Each run of ``../shared/eval/agent_runs/swebench_gemini3_dev.jsonl`` becomes a Claude Code
transcript (each step an assistant ``tool_use`` of Bash and a ``tool_result`` carrying the
output, ``is_error`` and ``Exit code N`` as the client writes them; the final message as the
last assistant text) and goes through ``hooks.stop`` as the client calls it. A block is
judged by the harness's ``resolved``: blocking a resolved run is a false alarm. Beside it, in
the same run: the naive check ("the last test run failed, or no test ran") and, with
``--baseline-pythonpath DIR``, the Stop hook of a previous checkout (DIR holds its package).

Ends with one JSON line. ``--quick``: 60 runs.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, parser, table

from task_orchestrator import hooks
from task_orchestrator.verifiers.testruns import _TEST_CMD

DATA = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "eval"
    / "agent_runs"
    / "swebench_gemini3_dev.jsonl"
)


def transcript_of(run: dict, path: Path, cwd: str = "/testbed") -> None:
    """The run as a Claude Code transcript; ``cwd``: where its repository is (its commands'
    ``/testbed`` become that folder)."""
    if cwd != "/testbed":
        run = {
            **run,
            "steps": [{**st, "command": st["command"].replace("/testbed", cwd)} for st in run["steps"]],
        }
    rows = [
        {
            "type": "user",
            "cwd": "/testbed",
            "message": {"role": "user", "content": [{"type": "text", "text": run["instance_id"]}]},
        }
    ]
    for i, step in enumerate(run["steps"]):
        tid = f"toolu_{i}"
        content = []
        if step.get("thought"):
            content.append({"type": "text", "text": step["thought"]})
        content.append({"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": step["command"]}})
        rows.append(
            {"type": "assistant", "cwd": "/testbed", "message": {"role": "assistant", "content": content}}
        )
        rc = step.get("returncode")
        out = step.get("output") or ""
        if rc:
            out = f"Exit code {rc}\n{out}"
        rows.append(
            {
                "type": "user",
                "cwd": "/testbed",
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": tid, "content": out, "is_error": bool(rc)}
                    ],
                },
            }
        )
    rows.append(
        {
            "type": "assistant",
            "cwd": "/testbed",
            "message": {
                "role": "assistant",
                "content": [{"type": "text", "text": run.get("final_message") or ""}],
            },
        }
    )
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    path.write_text(text.replace('"cwd": "/testbed"', json.dumps({"cwd": cwd})[1:-1]))


def _file_patches(patch: str) -> list[tuple[str, str, list[str]]]:
    """(path, kind new/deleted/binary/modified, hunk lines) of each file of a git diff."""
    out: list[tuple[str, str, list[str]]] = []
    for block in re.split(r"^(?=diff --git )", patch, flags=re.M):
        m = re.match(r"diff --git a/(\S+) b/(\S+)", block)
        if not m:
            continue
        head, _, body = block.partition("\n@@")
        kind = (
            "new"
            if "\nnew file mode" in head
            else "deleted"
            if "\ndeleted file mode" in head
            else "binary"
            if "Binary files" in head or "GIT binary patch" in head
            else "modified"
        )
        out.append((m.group(2), kind, ("@@" + body).splitlines() if body else []))
    return out


def materialise(run: dict, root: Path) -> Path:
    """A git working tree holding the run's submitted change, uncommitted, over a commit of
    its pre-image (the files the patch touches, as far as its hunks show them)."""
    root.mkdir(parents=True)
    git = ["git", "-C", str(root), "-c", "user.name=replay", "-c", "user.email=replay@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    files = _file_patches(run.get("patch") or "")
    for path, kind, lines in files:
        if kind in ("new", "binary") and not lines:
            continue
        before = [ln[1:] for ln in lines if ln[:1] in (" ", "-")]
        if kind != "new":
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text("\n".join(before) + "\n")
    (root / "README").write_text(run["instance_id"] + "\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    for path, kind, lines in files:
        target = root / path
        if kind == "deleted":
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "binary":
            target.write_bytes(b"\0binary\0")
        else:
            target.write_text("\n".join(ln[1:] for ln in lines if ln[:1] in (" ", "+")) + "\n")
    return root


def review_rows(runs: list[dict], folder: Path) -> dict[str, dict]:
    """The Stop hook as the client calls it on each run's transcript, in a working tree that
    holds the run's change: blocks, and the reviewer's notes per kind, by harness verdict."""
    blocks, notes = [], {}
    for i, run in enumerate(runs):
        tree = materialise(run, folder / f"tree{i}")
        path = folder / f"review{i}.jsonl"
        transcript_of(run, path, str(tree))
        out = hooks.stop({"transcript_path": str(path), "cwd": str(tree)}) or {}
        blocks.append(out.get("decision") == "block")
        message = out.get("systemMessage", "")
        for code, words in (
            ("scratch_files", "look like scratch work"),
            ("edited_after_last_test_run", "changed after the last test run"),
            ("no_existing_test_run", "never ran the repository's existing tests"),
        ):
            notes.setdefault(code, []).append(words in message)
        shutil.rmtree(tree)
        path.unlink()
    rows = {"Stop hook, with the change in a git tree": score(blocks, runs)}
    rows.update({f"note: {code}": score(flags, runs) for code, flags in notes.items()})
    return rows


def score_table(title: str, rows: dict[str, dict]) -> None:
    """Each check's blocks (or notes) against the harness verdicts, as ``score`` counts them."""
    table(
        title,
        ["check", "blocks", "on resolved (false alarm)", "on unresolved", "precision", "recall"],
        [
            [
                k,
                v["blocked"],
                f"{v['on_resolved']} ({v['false_alarm_rate']:.1%})",
                v["on_unresolved"],
                v["precision"],
                v["recall"],
            ]
            for k, v in rows.items()
        ],
    )


def naive(run: dict) -> bool:
    """Block when the last test run (a test word in the command) failed, or when none ran."""
    tests = [s for s in run["steps"] if _TEST_CMD.search(s["command"])]
    return not tests or bool(tests[-1].get("returncode"))


_OLD = """
import json, sys
from task_orchestrator import hooks
for path in sys.stdin.read().split():
    out = hooks.stop({"transcript_path": path})
    print(json.dumps(bool(out and out.get("decision") == "block")))
"""


def score(blocks: list[bool], runs: list[dict]) -> dict:
    resolved = [r["resolved"] for r in runs]
    on_resolved = sum(b and ok for b, ok in zip(blocks, resolved, strict=True))
    on_unresolved = sum(b and not ok for b, ok in zip(blocks, resolved, strict=True))
    n_res, n_unres = sum(resolved), len(resolved) - sum(resolved)
    blocked = on_resolved + on_unresolved
    return {
        "blocked": blocked,
        "on_resolved": on_resolved,
        "on_unresolved": on_unresolved,
        "false_alarm_rate": round(on_resolved / max(1, n_res), 4),
        "precision": round(on_unresolved / blocked, 3) if blocked else None,
        "recall": round(on_unresolved / max(1, n_unres), 3),
    }


def _key(label: str) -> str:
    """A JSON key for a row label: 'Stop hook (this checkout)' -> 'stop_hook'."""
    if "baseline" in label:
        return "stop_hook_baseline"
    label = label.split(" (")[0].split(": last")[0]
    return re.sub(r"\W+", "_", label.lower()).strip("_")


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--baseline-pythonpath", type=Path, default=None)
    p.add_argument("--no-review", action="store_true", help="skip the git-tree row (faster)")
    args = p.parse_args()
    runs = [json.loads(x) for x in args.data.read_text().splitlines() if x.strip()]
    if args.quick:
        runs = random.Random(3).sample(runs, min(60, len(runs)))
    folder = Path(tempfile.mkdtemp(prefix="stop-replay-"))
    paths = []
    for i, run in enumerate(runs):
        path = folder / f"run{i}.jsonl"
        transcript_of(run, path)
        paths.append(path)
    t0 = time.perf_counter()
    ours, reasons = [], []
    for path in paths:
        out = hooks.stop({"transcript_path": str(path)})
        ours.append(bool(out and out.get("decision") == "block"))
        reasons.append(out["reason"] if out else "")
    per_run_ms = (time.perf_counter() - t0) / max(1, len(paths)) * 1000
    rows = {
        "Stop hook (this checkout)": score(ours, runs),
        "naive: last test run failed, or none": score([naive(r) for r in runs], runs),
    }
    if not args.no_review:
        review = review_rows(runs, folder)
        rows.update(review)
    if args.baseline_pythonpath:
        env = {**os.environ, "PYTHONPATH": str(args.baseline_pythonpath)}
        proc = subprocess.run(
            [sys.executable, "-c", _OLD],
            input=" ".join(map(str, paths)),
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            cwd="/",
        )
        old = [json.loads(x) for x in proc.stdout.split()]
        if len(old) == len(runs):
            rows["Stop hook (baseline checkout)"] = score(old, runs)
    n_res = sum(r["resolved"] for r in runs)
    score_table(
        f"Stop hook on {len(runs)} real runs ({n_res} resolved, {len(runs) - n_res} "
        "unresolved by the official harness)",
        rows,
    )
    for run, reason, blocked in zip(runs, reasons, ours, strict=True):
        if blocked and run["resolved"]:
            print(f"  blocks a resolved run {run['instance_id']}: {reason.splitlines()[1][:150]}")
    print(f"\nStop hook: {per_run_ms:.1f} ms per transcript (mean)")
    big = folder / "big.jsonl"
    transcript_of(
        {
            "instance_id": "big",
            "final_message": "All tests pass.",
            "steps": [
                {
                    "command": f"cd /testbed && python -m pytest tests/test_{i}.py -q 2>&1 | tail -5",
                    "returncode": 0,
                    "output": "x" * 4800 + "\n5 passed in 0.1s\n",
                }
                for i in range(600)
            ],
        },
        big,
    )
    big_ms = []
    for _ in range(5):
        t = time.perf_counter()
        hooks.stop({"transcript_path": str(big)})
        big_ms.append((time.perf_counter() - t) * 1000)
    print(
        f"Stop hook on a {big.stat().st_size / 1e6:.1f} MB transcript (600 test runs): "
        f"first call {big_ms[0]:.0f} ms, then {sorted(big_ms[1:])[1]:.0f} ms (target < 200)"
    )
    big.unlink()
    emit(
        "stop_replay",
        {
            "quick": args.quick,
            "runs": len(runs),
            "resolved": n_res,
            "ms_per_transcript": round(per_run_ms, 1),
            "ms_3mb_first": round(big_ms[0], 1),
            **{_key(k): v for k, v in rows.items()},
        },
    )
    for path in paths:
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
