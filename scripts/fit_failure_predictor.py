"""Fit the failure predictor: will a command matched with a past failure fail the same way?

    python scripts/fit_failure_predictor.py [--features FILE] [--out memory/data/failure_predictor.json]

The rows are every match the replay of the development agent runs produced
(``benchmarks/replay.py --features``: an exact repeat or a similar past failure within the
advice distance, each with the O(1) features of ``memory/_decide.features`` and the label "the
command then failed the same way"). Without ``--features`` this runs that replay first
(memory kept across the runs of a repository, so matches from earlier sessions are included;
the ``mcp_tool`` transport, so similar matches are too).

The model is an L2-regularised logistic regression fitted by Newton's method (deterministic,
numpy only). Its ask threshold is the lowest probability at which the training rows reach 90%
precision with at least 5 true positives; if none does, the threshold is above 1 and the
predictor never asks (matches stay advice). Denials never come from it: an unchanged exact
repeat is denied by rule (memory/_decide.py), so those rows are left out of the fit.

Cross-validated by repository (each repository held out in turn, the threshold chosen on the
others): the figures are written into the artifact and printed by benchmarks/replay.py. The
script pins the artifact's SHA-256 in memory/_decide.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from task_orchestrator.memory._decide import FEATURES, PREDICTOR_PATH, FailurePredictor

ROOT = Path(__file__).resolve().parents[1]
PRECISION = 0.9
MIN_TP = 5
RIDGE = 1.0


def load_rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("decision") != "deny"]


def fit(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, iters: int = 50) -> np.ndarray:
    """Weights of an L2-regularised logistic regression (the bias, column 0, unpenalised)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], ridge)
    penalty[0] = 1e-6
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def probabilities(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))


def threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The lowest cut with precision >= PRECISION and >= MIN_TP true positives (else 1.01)."""
    for t in np.unique(p):
        ask = p >= t
        tp = int((ask & (y == 1)).sum())
        if tp >= MIN_TP and tp / max(1, int(ask.sum())) >= PRECISION:
            return float(t)
    return 1.01


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def scores(p: np.ndarray, y: np.ndarray, t: float) -> dict:
    ask = p >= t
    tp = int((ask & (y == 1)).sum())
    return {
        "rows": len(y),
        "positives": int(y.sum()),
        "asked": int(ask.sum()),
        "true_asks": tp,
        "precision": round(tp / ask.sum(), 3) if ask.sum() else None,
        "recall": round(tp / y.sum(), 3) if y.sum() else None,
        "auc": None if (a := auc(p, y)) is None else round(a, 3),
    }


def cross_validate(rows: list[dict]) -> dict:
    """Leave one repository out: fit and choose the threshold on the rest, score the held-out."""
    x = np.array([r["x"] for r in rows], dtype=float)
    y = np.array([r["y"] for r in rows], dtype=float)
    repos = np.array([r["repo"] for r in rows])
    p_all = np.zeros(len(rows))
    asked = np.zeros(len(rows), dtype=bool)
    for repo in sorted(set(repos)):
        test = repos == repo
        if test.all():
            continue
        w = fit(x[~test], y[~test])
        t = threshold(probabilities(x[~test], w), y[~test])
        p_all[test] = probabilities(x[test], w)
        asked[test] = p_all[test] >= t
    tp = int((asked & (y == 1)).sum())
    out = scores(p_all, y, 2.0)
    out.update(
        asked=int(asked.sum()),
        true_asks=tp,
        precision=round(tp / asked.sum(), 3) if asked.sum() else None,
        recall=round(tp / y.sum(), 3) if y.sum() else None,
        folds=len(set(repos)),
    )
    return out


def train(rows: list[dict]) -> FailurePredictor:
    x = np.array([r["x"] for r in rows], dtype=float)
    y = np.array([r["y"] for r in rows], dtype=float)
    w = fit(x, y)
    t = threshold(probabilities(x, w), y)
    meta = {
        "trained_on": "../shared/eval/agent_runs/swebench_gemini3_dev.jsonl (replay, memory "
        "kept per repository, mcp_tool transport; denied rows excluded)",
        "in_sample": scores(probabilities(x, w), y, t),
        "cross_validated_by_repository": cross_validate(rows),
        "precision_target": PRECISION,
        "ridge": RIDGE,
    }
    return FailurePredictor([float(v) for v in w], round(t, 6), meta)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path)
    ap.add_argument("--out", type=Path, default=PREDICTOR_PATH)
    args = ap.parse_args()
    path = args.features
    if path is None:
        path = Path(tempfile.mkdtemp()) / "features.jsonl"
        data = ROOT.parent / "shared" / "eval" / "agent_runs" / "swebench_gemini3_dev.jsonl"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "replay.py"),
                "--modes",
                "kept",
                "--transport",
                "mcp_tool",
                "--data",
                str(data),
                "--features",
                str(path),
                "--no-predictor",
            ],
            check=True,
        )
    rows = load_rows(path)
    model = train(rows)
    args.out.write_text(model.to_json())
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    decide = ROOT / "memory" / "_decide.py"
    text = decide.read_text()
    decide.write_text(re.sub(r'PREDICTOR_SHA256 = "[0-9a-f]*"', f'PREDICTOR_SHA256 = "{digest}"', text))
    print(
        json.dumps(
            {
                "features": list(FEATURES),
                "weights": model.weights,
                "ask_threshold": model.ask_threshold,
                **model.meta,
            },
            indent=1,
        )
    )
    print(f"wrote {args.out} (sha256 {digest}, pinned in memory/_decide.py)")


if __name__ == "__main__":
    main()
