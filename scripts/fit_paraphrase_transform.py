"""Fit the paraphrase transform the failure memory applies to MiniLM embeddings.

Within-class covariance normalisation (WCCN; Hatch et al., 2006): the differences between two
phrasings of the same thing (a command group's alternative commands, a command's alternative
English descriptions) span the directions along which paraphrases vary. Whitening those
directions, ``W = (S_w + lambda I)^(-1/2)``, shrinks them, so paraphrases move closer while
differences the training pairs never showed keep their weight. It is one linear map (384 x 384),
applied to a query embedding in about 10 microseconds, fitted from positive pairs only: no
negative (routine) example is used.

    python scripts/fit_paraphrase_transform.py [--data ../shared/eval] [--out memory/data/...]

Fitted on the development half of ../shared/eval (command_paraphrase.jsonl and
description_paraphrase.jsonl, pooled). benchmarks/eval_memory.py reports how well it does on
groups it was not fitted on (2-fold cross-validation over groups) beside the in-sample figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from task_orchestrator.memory.embeddings import TRANSFORM_PATH, MiniLMEmbedder, fit_wccn
from task_orchestrator.memory.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]


def paraphrase_pairs(data: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(first item, other item) pairs of every group, normalised: commands, then texts."""

    def groups(name: str, key: str) -> list[list[str]]:
        return [json.loads(line)[key] for line in (data / name).read_text().splitlines() if line.strip()]

    cmd = [
        (normalize(g[0], "command"), normalize(q, "command"))
        for g in groups("command_paraphrase.jsonl", "commands")
        for q in g[1:]
    ]
    txt = [
        (normalize(g[0], "text"), normalize(q, "text"))
        for g in groups("description_paraphrase.jsonl", "descriptions")
        for q in g[1:]
    ]
    return cmd, txt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    p.add_argument("--out", type=Path, default=TRANSFORM_PATH)
    args = p.parse_args()
    cmd, txt = paraphrase_pairs(args.data)
    model = MiniLMEmbedder(transform=False)
    pairs = cmd + txt
    a = model.embed([x for x, _ in pairs])
    b = model.embed([y for _, y in pairs])
    w = fit_wccn(a - b).astype(np.float16)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, w)
    print(
        f"{len(cmd)} command pairs + {len(txt)} text pairs -> {args.out} "
        f"sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}"
    )


if __name__ == "__main__":
    main()
