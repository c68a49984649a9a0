"""Detection quality of the failure memory and the risk gate on ../shared/eval.

Command similarity and task-text similarity follow the issue's protocol: the first item of each
group is recorded as a failure; queries are the group's other items (a hit must name its own
group) and routine items that belong to no group (must not be blocked). Recall at 1% and 5% false
blocks, beside a baseline measured in the same run: raw all-MiniLM-L6-v2 cosine on the text,
nearest stored item. The memory's figure uses its paraphrase transform, which was fitted on the
development half of ../shared/eval: on that folder it is an in-sample figure, so the script also
reports a 2-fold cross-validation (transform refitted on half the groups of both sets, scored on
the other half's groups against the other half of the negatives; three random splits) with the
baseline on the same halves. A third table shows what bounds recall at 1%: how close, in
tokens, the negatives that set the threshold are to the failure they match, against how close the
positives are to their own group. Risk: share of risky (Atomic Red Team, non-discovery) lines
assessed high or critical, share of routine lines flagged at all, beside a keyword-rule baseline.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, table

from task_orchestrator.memory.embeddings import MiniLMEmbedder, fit_wccn, load_transform, transformed
from task_orchestrator.memory.normalize import normalize
from task_orchestrator.memory.similarity import HUB_K, HUB_WEIGHT
from task_orchestrator.risk.assessor import RuleRiskAssessor

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
KEYWORD_BASELINE = re.compile(r"rm\s+-rf|sudo|chmod|curl|wget|\bdd\b|mkfs|kill|shred|\|\s*sh\b")


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def distances(stored, positives, negatives, embed, *, hub_corrected=False):
    """Distance of every positive and every negative query to every stored item."""
    s, p, n = embed(stored), embed([q for q, _ in positives]), embed(negatives)
    sp, sn = p @ s.T, n @ s.T
    if not hub_corrected:
        return 1 - sp, 1 - sn
    # the memory's scoring: CSLS, see memory/similarity.py
    ss = s @ s.T
    np.fill_diagonal(ss, -np.inf)
    r_s = np.sort(ss, 1)[:, -HUB_K:].mean(1)
    r_p = np.sort(sp, 1)[:, -HUB_K:].mean(1)
    r_n = np.sort(sn, 1)[:, -HUB_K:].mean(1)
    return (
        1 - sp + HUB_WEIGHT * (r_p[:, None] + r_s[None, :]),
        1 - sn + HUB_WEIGHT * (r_n[:, None] + r_s[None, :]),
    )


def recall_at_fpr(stored, positives, negatives, embed, *, hub_corrected=False):
    """Recall at 1% and 5% false blocks, and the distance thresholds that give those rates."""
    return recall_from(
        *distances(stored, positives, negatives, embed, hub_corrected=hub_corrected), positives
    )


def recall_from(dp, dn, positives):
    best, pdist, ndist = dp.argmin(1), dp.min(1), dn.min(1)
    right = np.array([best[j] == g for j, (_, g) in enumerate(positives)])
    thresholds = [float(np.quantile(ndist, f)) for f in (0.01, 0.05)]
    return [float(np.mean(right & (pdist < t))) for t in thresholds], thresholds


_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def token_edits(a: str, b: str) -> int:
    """Tokens in one text and not the other (multiset symmetric difference)."""
    ta, tb = Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower()))
    return sum(((ta - tb) + (tb - ta)).values())


def what_sets_the_threshold(stored, positives, negatives, dp, dn):
    """How far, in tokens, the negatives that set the 1% threshold are from the failure they
    match, against how far the positives are from their own group's stored item."""
    ndist = dn.min(1)
    under = np.flatnonzero(ndist < np.quantile(ndist, 0.01))
    neg_edits = [token_edits(negatives[j], stored[int(dn[j].argmin())]) for j in under]
    pos_edits = [token_edits(q, stored[g]) for q, g in positives]
    top1 = float(np.mean([dp[k].argmin() == g for k, (_, g) in enumerate(positives)]))
    return {
        "negatives_setting_1pct": len(under),
        "their_median_token_edits": float(np.median(neg_edits)),
        "their_share_within_2_edits": round(float(np.mean(np.array(neg_edits) <= 2)), 2),
        "positives_median_token_edits": float(np.median(pos_edits)),
        "positives_top1_own_group": round(top1, 3),
    }


def main() -> None:
    from _common import parser

    p = parser(__doc__)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args()
    risk_rows = _load(args.data / "command_risk.jsonl")
    cmd_groups = [r["commands"] for r in _load(args.data / "command_paraphrase.jsonl")]
    txt_groups = [r["descriptions"] for r in _load(args.data / "description_paraphrase.jsonl")]
    rng = random.Random(0)
    if args.quick:
        cmd_groups, txt_groups = rng.sample(cmd_groups, 80), rng.sample(txt_groups, 80)

    model = MiniLMEmbedder(transform=False)
    shipped = load_transform()
    cache: dict[str, np.ndarray] = {}

    def embed(texts):
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        for t, v in zip(missing, model.embed(missing), strict=True):
            cache[t] = v
        return np.stack([cache[t] for t in texts])

    def ours(kind, w):
        return lambda xs: transformed(embed([normalize(x, kind) for x in xs]), w)

    in_cmd_groups = {c for g in cmd_groups for c in g}
    in_txt_groups = {d for g in txt_groups for d in g}
    routine = [r for r in risk_rows if r["label"] == "routine"]
    cmd_neg = sorted({r["command"] for r in routine if r["command"] not in in_cmd_groups})
    txt_neg = sorted(
        {
            r["description"]
            for r in routine
            if r.get("description")
            and r["command"] not in in_cmd_groups
            and r["description"] not in in_txt_groups
        }
    )
    if args.quick:
        cmd_neg, txt_neg = rng.sample(cmd_neg, 600), rng.sample(txt_neg, 600)
    figures: dict = {}
    rows, bound_rows = [], []
    sets = (
        ("command", cmd_groups, cmd_neg, "command", (0.13, 0.41), (0.40, 0.70)),
        ("task text", txt_groups, txt_neg, "text", (0.10, 0.28), (0.30, 0.60)),
    )
    for name, groups, neg, kind, base_t, tgt in sets:
        stored = [g[0] for g in groups]
        pos = [(q, i) for i, g in enumerate(groups) for q in g[1:]]
        base, _ = recall_at_fpr(stored, pos, neg, embed)
        dp, dn = distances(stored, pos, neg, ours(kind, shipped), hub_corrected=True)
        mem, thr = recall_from(dp, dn, pos)
        key = name.replace(" ", "_")
        figures[f"{key}_distance_at_1pct_5pct"] = [round(t, 3) for t in thr]
        figures.update(
            {
                f"{key}_baseline_r1": round(base[0], 3),
                f"{key}_baseline_r5": round(base[1], 3),
                f"{key}_r1": round(mem[0], 3),
                f"{key}_r5": round(mem[1], 3),
            }
        )
        rows.append(
            [
                name,
                len(pos),
                len(neg),
                f"{base[0]:.2f} / {base[1]:.2f}",
                f"{mem[0]:.2f} / {mem[1]:.2f}",
                f">= {tgt[0]:.2f} / {tgt[1]:.2f}",
                "ok" if mem[0] >= tgt[0] and mem[1] >= tgt[1] else "MISSED",
                f"(issue's baseline {base_t[0]:.2f} / {base_t[1]:.2f})",
            ]
        )
        bound = what_sets_the_threshold(stored, pos, neg, dp, dn)
        figures.update({f"{key}_{k}": v for k, v in bound.items()})
        bound_rows.append(
            [
                name,
                bound["negatives_setting_1pct"],
                bound["their_median_token_edits"],
                f"{bound['their_share_within_2_edits']:.0%}",
                bound["positives_median_token_edits"],
                f"{bound['positives_top1_own_group']:.0%}",
            ]
        )
    print(
        "hub-corrected distance at 1% / 5% false blocks:",
        {k: v for k, v in figures.items() if k.endswith("_1pct_5pct")},
    )
    table(
        "similarity: recall at 1% / 5% false blocks (memory as shipped)",
        ["set", "queries", "negatives", "baseline (raw MiniLM)", "memory", "target", "", ""],
        rows,
    )
    table(
        "what sets the 1% threshold: the negatives closest to a stored failure (memory as shipped)",
        [
            "set",
            "negatives under it",
            "their token edits to that failure (median)",
            "of them within 2 edits",
            "positives' token edits to their own group (median)",
            "positives nearest their own group",
        ],
        bound_rows,
    )

    # Generalisation of the fitted transform: 2-fold over groups, 3 random splits.
    cv: dict[str, list] = {name: [] for name, *_ in sets}
    for seed in range(3):
        split = random.Random(seed)
        halves = {}
        for name, groups, neg, *_ in sets:
            order, norder = list(range(len(groups))), list(neg)
            split.shuffle(order)
            split.shuffle(norder)
            halves[name] = (
                (order[: len(order) // 2], order[len(order) // 2 :]),
                (norder[: len(norder) // 2], norder[len(norder) // 2 :]),
            )
        for fold in (0, 1):
            diffs = []
            for name, groups, _, kind, *_ in sets:
                for i in halves[name][0][fold]:
                    g = [normalize(x, kind) for x in groups[i]]
                    diffs.append(embed(g[:1] * (len(g) - 1)) - embed(g[1:]))
            w = fit_wccn(np.vstack(diffs))
            for name, groups, _, kind, *_ in sets:
                test = [groups[i] for i in halves[name][0][1 - fold]]
                neg_half = halves[name][1][1 - fold]
                stored = [g[0] for g in test]
                pos = [(q, i) for i, g in enumerate(test) for q in g[1:]]
                b, _ = recall_at_fpr(stored, pos, neg_half, embed)
                m, _ = recall_at_fpr(stored, pos, neg_half, ours(kind, w), hub_corrected=True)
                cv[name].append(b + m)
    cv_rows = []
    for name, *_ in sets:
        b1, b5, m1, m5 = np.mean(cv[name], axis=0)
        key = name.replace(" ", "_")
        figures.update(
            {
                f"{key}_cv_baseline_r1": round(b1, 3),
                f"{key}_cv_baseline_r5": round(b5, 3),
                f"{key}_cv_r1": round(m1, 3),
                f"{key}_cv_r5": round(m5, 3),
            }
        )
        cv_rows.append(
            [
                name,
                f"{b1:.2f} / {b5:.2f}",
                f"{m1:.2f} / {m5:.2f}",
                f"x{m1 / max(b1, 1e-9):.2f} / x{m5 / max(b5, 1e-9):.2f}",
            ]
        )
    table(
        "similarity, cross-validated: transform fitted on other groups (half-size sets, so both "
        "columns run higher than above)",
        ["set", "baseline (raw MiniLM)", "memory", "memory / baseline"],
        cv_rows,
    )

    assessor = RuleRiskAssessor()
    levels = {i: assessor.assess(r["command"]).level for i, r in enumerate(risk_rows)}
    risky = [
        i
        for i, r in enumerate(risk_rows)
        if r["label"] == "risky" and set(r.get("tactics") or []) - {"discovery"}
    ]
    discovery = [
        i
        for i, r in enumerate(risk_rows)
        if r["label"] == "risky" and not set(r.get("tactics") or []) - {"discovery"}
    ]
    routine_i = [i for i, r in enumerate(risk_rows) if r["label"] == "routine"]
    destructive = [i for i, r in enumerate(risk_rows) if r["label"] == "destructive"]
    hi = lambda ids: sum(levels[i] in ("high", "critical") for i in ids) / max(1, len(ids))  # noqa: E731
    flagged = lambda ids: sum(levels[i] != "low" for i in ids) / max(1, len(ids))  # noqa: E731

    def kw(ids):
        return sum(bool(KEYWORD_BASELINE.search(risk_rows[i]["command"])) for i in ids) / max(1, len(ids))

    risk_ok = hi(risky) >= 0.90 and flagged(routine_i) <= 0.05
    table(
        "risk gate",
        ["measure", "n", "keyword baseline", "rules", "target", ""],
        [
            [
                "risky (non-discovery) high/critical",
                len(risky),
                f"{kw(risky):.2f}",
                f"{hi(risky):.2f}",
                ">= 0.90",
                "ok" if hi(risky) >= 0.90 else "MISSED",
            ],
            [
                "routine flagged at all",
                len(routine_i),
                f"{kw(routine_i):.2f}",
                f"{flagged(routine_i):.3f}",
                "<= 0.05",
                "ok" if flagged(routine_i) <= 0.05 else "MISSED",
            ],
            [
                "discovery-only risky high/critical",
                len(discovery),
                f"{kw(discovery):.2f}",
                f"{hi(discovery):.2f}",
                "(reported)",
                "",
            ],
        ],
    )
    dist = Counter(levels[i] for i in destructive)
    print("destructive lines by level:", dict(sorted(dist.items())))
    figures.update(
        {
            "risky_high_recall": round(hi(risky), 3),
            "routine_flagged": round(flagged(routine_i), 4),
            "risky_keyword_baseline": round(kw(risky), 3),
            "routine_keyword_baseline": round(kw(routine_i), 4),
            "discovery_high": round(hi(discovery), 3),
            "destructive_levels": dict(dist),
            "risk_met": risk_ok,
        }
    )
    emit("eval_memory", figures)


if __name__ == "__main__":
    main()
