"""Similarity scoring with hubness correction (CSLS).

Raw cosine over-matches "hub" items: short, generic commands sit close to everything, so
a threshold loose enough to catch paraphrases blocks unrelated routine commands too.
Cross-domain similarity local scaling (Conneau et al., 2018) discounts both sides by how
close they are to their own neighbourhood:

    csls(q, s) = 2 cos(q, s) - a * (r_q + r_s)

with r_x the mean cosine of x to its ``HUB_K`` nearest stored failures. We report it as
a distance, ``1 - csls / 2 = (1 - cos) + (a / 2) (r_q + r_s)``, so 0 is still "identical"
and the deny/ask thresholds stay distances. ``r_s`` is computed when a failure is stored
(against the failures stored before it); ``prune()`` refreshes the evicted items' nearest
neighbours (most of the items whose hubness changes; the rest keep a value off by at most
~0.008, measured at 1,200 stored), and ``ChromaIndex.refresh_hubness()`` recomputes all.
On ../shared/eval (benchmarks/eval_memory.py), on raw MiniLM vectors, this lifted recall at
1% false blocks from 0.13 to 0.21 for commands and from 0.10 to 0.14 for task texts; with the
paraphrase transform (memory/embeddings.py) it still adds a few points, and k and a were
re-checked by cross-validation with the transform (a = 0.3 .. 0.5, k = 3 .. 5 alike).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HUB_K", "HUB_WEIGHT", "adjusted_distance", "hubness"]

HUB_K = 5
HUB_WEIGHT = 0.25  # a / 2 with a = 0.5, chosen on the development half of ../shared/eval


def hubness(similarities: Iterable[float]) -> float:
    """Mean of the ``HUB_K`` largest cosine similarities (0 with no neighbours)."""
    top = sorted(similarities, reverse=True)[:HUB_K]
    return sum(top) / len(top) if top else 0.0


def adjusted_distance(cos_sim: float, r_query: float, r_stored: float) -> float:
    return max(0.0, 1.0 - cos_sim + HUB_WEIGHT * (r_query + r_stored))
