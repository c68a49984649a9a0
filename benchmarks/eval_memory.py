"""Detection quality of the failure memory and the risk gate on ../shared/eval.

Command similarity and task-text similarity follow the issue's protocol: the first item of each
group is recorded as a failure; queries are the group's other items (a hit must name its own
group) and routine items that belong to no group (must not be blocked). Recall at 1% and 5% false
blocks, beside a baseline measured in the same run: raw all-MiniLM-L6-v2 cosine on the text,
nearest stored item. Risk: share of risky (Atomic Red Team, non-discovery) lines assessed high or
critical, share of routine lines flagged at all, beside a keyword-rule baseline.
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

from task_orchestrator.memory.embeddings import MiniLMEmbedder
from task_orchestrator.memory.normalize import normalize
from task_orchestrator.memory.risk import RuleRiskAssessor
from task_orchestrator.memory.similarity import HUB_K, HUB_WEIGHT

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
KEYWORD_BASELINE = re.compile(r"rm\s+-rf|sudo|chmod|curl|wget|\bdd\b|mkfs|kill|shred|\|\s*sh\b")


def _load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def recall_at_fpr(stored, positives, negatives, embed, *, hub_corrected=False):
    """Recall at 1% and 5% false blocks, and the distance thresholds that give those rates."""
    s, p, n = embed(stored), embed([q for q, _ in positives]), embed(negatives)
    sp, sn = p @ s.T, n @ s.T
    if hub_corrected:  # the memory's scoring: CSLS, see memory/similarity.py
        ss = s @ s.T
        np.fill_diagonal(ss, -np.inf)
        r_s = np.sort(ss, 1)[:, -HUB_K:].mean(1)
        r_p = np.sort(sp, 1)[:, -HUB_K:].mean(1)
        r_n = np.sort(sn, 1)[:, -HUB_K:].mean(1)
        dp = 1 - sp + HUB_WEIGHT * (r_p[:, None] + r_s[None, :])
        dn = 1 - sn + HUB_WEIGHT * (r_n[:, None] + r_s[None, :])
    else:
        dp, dn = 1 - sp, 1 - sn
    best, pdist, ndist = dp.argmin(1), dp.min(1), dn.min(1)
    right = np.array([best[j] == g for j, (_, g) in enumerate(positives)])
    thresholds = [float(np.quantile(ndist, f)) for f in (0.01, 0.05)]
    return [float(np.mean(right & (pdist < t))) for t in thresholds], thresholds


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

    model = MiniLMEmbedder()
    cache: dict[str, np.ndarray] = {}

    def embed(texts):
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        for t, v in zip(missing, model.embed(missing), strict=True):
            cache[t] = v
        return np.stack([cache[t] for t in texts])

    in_cmd_groups = {c for g in cmd_groups for c in g}
    in_txt_groups = {d for g in txt_groups for d in g}
    routine = [r for r in risk_rows if r["label"] == "routine"]
    cmd_neg = sorted({r["command"] for r in routine if r["command"] not in in_cmd_groups})
    txt_neg = sorted({r["description"] for r in routine if r.get("description")
                      and r["command"] not in in_cmd_groups and r["description"] not in in_txt_groups})
    if args.quick:
        cmd_neg, txt_neg = rng.sample(cmd_neg, 600), rng.sample(txt_neg, 600)
    figures: dict = {}
    rows = []
    for name, groups, neg, kind, base_t, tgt in (
        ("command", cmd_groups, cmd_neg, "command", (0.13, 0.41), (0.40, 0.70)),
        ("task text", txt_groups, txt_neg, "text", (0.10, 0.28), (0.30, 0.60)),
    ):
        stored = [g[0] for g in groups]
        pos = [(q, i) for i, g in enumerate(groups) for q in g[1:]]
        base, _ = recall_at_fpr(stored, pos, neg, embed)
        ours, thr = recall_at_fpr(stored, pos, neg,
                                  lambda xs, k=kind: embed([normalize(x, k) for x in xs]),
                                  hub_corrected=True)
        key = name.replace(" ", "_")
        figures[f"{key}_distance_at_1pct_5pct"] = [round(t, 3) for t in thr]
        figures.update({f"{key}_baseline_r1": round(base[0], 3), f"{key}_baseline_r5": round(base[1], 3),
                        f"{key}_r1": round(ours[0], 3), f"{key}_r5": round(ours[1], 3)})
        rows.append([name, len(pos), len(neg), f"{base[0]:.2f} / {base[1]:.2f}",
                     f"{ours[0]:.2f} / {ours[1]:.2f}", f">= {tgt[0]:.2f} / {tgt[1]:.2f}",
                     "ok" if ours[0] >= tgt[0] and ours[1] >= tgt[1] else "MISSED",
                     f"(issue's baseline {base_t[0]:.2f} / {base_t[1]:.2f})"])
    print("cosine distance at 1% / 5% false blocks:",
          {k: v for k, v in figures.items() if k.endswith("pct")})
    table("similarity: recall at 1% / 5% false blocks",
          ["set", "queries", "negatives", "baseline (raw MiniLM)", "memory", "target", "", ""], rows)

    assessor = RuleRiskAssessor()
    levels = {i: assessor.assess(r["command"]).level for i, r in enumerate(risk_rows)}
    risky = [i for i, r in enumerate(risk_rows) if r["label"] == "risky"
             and set(r.get("tactics") or []) - {"discovery"}]
    discovery = [i for i, r in enumerate(risk_rows) if r["label"] == "risky"
                 and not set(r.get("tactics") or []) - {"discovery"}]
    routine_i = [i for i, r in enumerate(risk_rows) if r["label"] == "routine"]
    destructive = [i for i, r in enumerate(risk_rows) if r["label"] == "destructive"]
    hi = lambda ids: sum(levels[i] in ("high", "critical") for i in ids) / max(1, len(ids))  # noqa: E731
    flagged = lambda ids: sum(levels[i] != "low" for i in ids) / max(1, len(ids))  # noqa: E731
    kw = lambda ids: sum(  # noqa: E731
        bool(KEYWORD_BASELINE.search(risk_rows[i]["command"])) for i in ids) / max(1, len(ids))
    risk_ok = hi(risky) >= 0.90 and flagged(routine_i) <= 0.05
    table("risk gate", ["measure", "n", "keyword baseline", "rules", "target", ""], [
        ["risky (non-discovery) high/critical", len(risky), f"{kw(risky):.2f}", f"{hi(risky):.2f}",
         ">= 0.90", "ok" if hi(risky) >= 0.90 else "MISSED"],
        ["routine flagged at all", len(routine_i), f"{kw(routine_i):.2f}",
         f"{flagged(routine_i):.3f}", "<= 0.05", "ok" if flagged(routine_i) <= 0.05 else "MISSED"],
        ["discovery-only risky high/critical", len(discovery), f"{kw(discovery):.2f}",
         f"{hi(discovery):.2f}", "(reported)", ""],
    ])
    dist = Counter(levels[i] for i in destructive)
    print("destructive lines by level:", dict(sorted(dist.items())))
    figures.update({"risky_high_recall": round(hi(risky), 3),
                    "routine_flagged": round(flagged(routine_i), 4),
                    "risky_keyword_baseline": round(kw(risky), 3),
                    "routine_keyword_baseline": round(kw(routine_i), 4),
                    "discovery_high": round(hi(discovery), 3),
                    "destructive_levels": dict(dist), "risk_met": risk_ok})
    emit("eval_memory", figures)


if __name__ == "__main__":
    main()
