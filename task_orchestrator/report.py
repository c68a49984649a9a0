"""``task-orchestrator report``: one self-contained HTML page of what the safety layer did.

Reads the stores in the data directory read-only (the failure table and its event log, the
cost ledger, the breaker log) and draws inline SVG charts: no scripts or styles from
elsewhere, so the file opens offline and can be mailed around. Every stored string is
escaped: failure records hold agent output and are never trusted as markup.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from task_orchestrator._db import Database, SqlStore, open_database
from task_orchestrator.breaker import CircuitBreakers
from task_orchestrator.cost import CostLedger
from task_orchestrator.literals import RISK_LEVELS
from task_orchestrator.memory._table import FailureTable
from task_orchestrator.pacing import USAGE_COLUMNS, Pacer, usage_row, when
from task_orchestrator.settings import Settings

__all__ = ["ReportData", "collect", "render", "write_report"]

LEVELS = RISK_LEVELS
LEVEL_COLOURS = {
    "low": "#4c9f70",
    "medium": "#e0b040",
    "high": "#e07030",
    "critical": "#c0392b",
    "exact repeat": "#8e5ea2",
    "unknown": "#9aa0a6",
}
PALETTE = ("#3b6fb6", "#e07030", "#4c9f70", "#8e5ea2", "#c0392b", "#e0b040", "#5bc0de", "#7f8c8d")


@dataclass
class ReportData:
    generated: float
    days: list[str]
    recorded_per_day: list[int]
    blocked_per_day: list[int]
    asked_per_day: list[int]
    top_failures: list[dict[str, Any]]
    failures_stored: int
    risk_levels: Counter
    recent_actions: int
    cost_per_day: dict[str, dict[str, float]]  # model -> day -> USD
    cost_by_model: list[dict[str, Any]]
    breaker_events: list[dict[str, Any]]
    shared_lessons: int = 0  # environment lessons and recorded failures every workspace shares
    guard: dict[str, Any] | None = None  # the running guard service's status, if one answers
    fallbacks: Counter = field(default_factory=Counter)  # why hooks judged in-process
    pacing: list[dict[str, Any]] = field(default_factory=list)  # each provider's use of its limits now
    pacing_events: list[dict[str, Any]] = field(default_factory=list)  # 429s and quotas met


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


_StoreT = TypeVar("_StoreT", bound=SqlStore)
_T = TypeVar("_T")


def _read(
    settings: Settings,
    name: str,
    open_store: Callable[[Database], _StoreT],
    read: Callable[[_StoreT], _T],
) -> _T | None:
    """``read(store)`` on the store ``name`` opened read-only; None when the store does not
    exist yet (a report never creates one) or is from before the table or column read."""
    if settings.postgres_url is None and not (Path(settings.data_dir) / f"{name}.sqlite").exists():
        return None
    store = open_store(open_database(settings, name, readonly=True))
    try:
        return read(store)
    except Exception as exc:
        if any(m in str(exc) for m in ("no such table", "no such column", "does not exist")):
            return None
        raise
    finally:
        store.close()


def collect(settings: Settings | None = None, *, days: int = 30, recent: int = 500) -> ReportData:
    """Read the data directory's stores; missing stores count as empty."""
    settings = settings or Settings()
    now = time.time()
    since = now - days * 86400
    day_list = [_day(now - i * 86400) for i in range(days - 1, -1, -1)]

    def memory(read: Callable[[FailureTable], _T]) -> _T | None:
        return _read(settings, "memory", lambda db: FailureTable(db, readonly=True), read)

    per_day: dict[str, Counter] = defaultdict(Counter)
    fallbacks: Counter = Counter()
    for e in memory(lambda t: t.events(since)) or []:
        per_day[_day(e["ts"])][e["event"]] += 1
        if e["event"] == "fallback":  # "pre-tool-use: timeout" -> timeout
            fallbacks[str(e["detail"]).split(": ", 1)[-1].split(":")[0]] += 1
    top = memory(lambda t: t.most_frequent(10)) or []
    stored = memory(lambda t: t.count()) or 0
    # environment lessons (shared) against failures kept for one workspace; a store from
    # before workspaces shares every row
    shared = memory(lambda t: t.scopes().get("", 0))
    if shared is None:
        shared = stored
    decisions = memory(lambda t: t.recent_decisions(recent)) or []
    # The command hook denies an exact repeat before rating it: that is its own bar.
    levels = Counter(
        level or ("exact repeat" if event == "blocked" else "unknown") for level, event in decisions
    )

    def ledger(read: Callable[[CostLedger], _T]) -> _T | None:
        return _read(settings, "ledger", lambda db: CostLedger(db, settings, readonly=True), read)

    cost_per_day: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for day, model, cost in ledger(lambda lg: lg.spend_per_day(since)) or []:
        cost_per_day[model][day] += cost
    by_model = ledger(lambda lg: lg.spend_by_model(since)) or []

    def breakers(db: Database) -> CircuitBreakers:
        return CircuitBreakers(db, readonly=True)

    breaker_events = _read(settings, "breakers", breakers, lambda b: b.events(50, since=since)) or []

    def pacer(db: Database) -> Pacer:
        return Pacer(db, settings.rate_limit_for, readonly=True)

    pacing, pacing_events = _read(
        settings,
        "pacing",
        pacer,
        lambda p: (
            [p.usage(x, settings.model_for(x)) for x in settings.providers],
            p.events(50, since=since),
        ),
    ) or ([], [])
    return ReportData(
        generated=now,
        days=day_list,
        recorded_per_day=[per_day[d]["recorded"] + per_day[d]["repeated"] for d in day_list],
        blocked_per_day=[per_day[d]["blocked"] for d in day_list],
        asked_per_day=[per_day[d]["asked"] for d in day_list],
        top_failures=top,
        failures_stored=stored,
        shared_lessons=shared,
        risk_levels=levels,
        recent_actions=len(decisions),
        cost_per_day={m: dict(v) for m, v in cost_per_day.items()},
        cost_by_model=by_model,
        breaker_events=breaker_events,
        pacing=pacing,
        pacing_events=pacing_events,
        guard=_guard_status(Path(settings.data_dir)),
        fallbacks=fallbacks,
    )


def _guard_status(data_dir: Path) -> dict[str, Any] | None:
    from task_orchestrator import guard_client

    try:
        return json.loads(guard_client.request(data_dir.expanduser().absolute(), "status", timeout=2.0))
    except (guard_client.GuardUnavailable, ValueError):
        return None


# -- drawing ------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _empty(chart_id: str, title: str, what: str) -> str:
    return (
        f'<svg id="{chart_id}" class="chart empty" role="img" viewBox="0 0 720 80" '
        f'width="720" height="80"><title>{_e(title)}</title>'
        f'<text x="360" y="45" text-anchor="middle" class="muted">{_e(what)}</text></svg>'
    )


def _columns(
    chart_id: str,
    title: str,
    labels: list[str],
    series: dict[str, list[float]],
    colours: dict[str, str],
    unit: str = "",
) -> str:
    """Stacked vertical bars, one column per label, with a y axis and a legend."""
    totals = [sum(vals[i] for vals in series.values()) for i in range(len(labels))]
    top = max(totals, default=0)
    if top <= 0:
        return _empty(chart_id, title, "nothing recorded in this period")
    w, h, left, bottom, head = 720, 260, 56, 40, 28
    plot_w, plot_h = w - left - 10, h - bottom - head
    step = plot_w / max(len(labels), 1)
    bar = max(step * 0.7, 1)
    out = [
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}"><title>{_e(title)}</title>'
    ]
    for frac in (0, 0.5, 1):  # y axis ticks
        y = head + plot_h * (1 - frac)
        value = top * frac
        text = (f"{value:.2f}" if top >= 1 else f"{value:.4f}") if unit == "$" else f"{value:g}"
        out.append(
            f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{unit}{text}</text>"
        )
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar) / 2
        y = head + plot_h
        for name, vals in series.items():
            if vals[i] <= 0:
                continue
            bh = plot_h * vals[i] / top
            y -= bh
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                f'fill="{colours[name]}"><title>{_e(label)} {_e(name)}: '
                f"{unit}{vals[i]:g}</title></rect>"
            )
        if len(labels) <= 12 or i % max(len(labels) // 6, 1) == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{h - bottom + 16}" text-anchor="middle" '
                f'class="axis">{_e(label[5:] if len(label) == 10 else label)}</text>'
            )
    lx = left
    for name in series:
        out.append(
            f'<rect x="{lx}" y="6" width="12" height="12" fill="{colours[name]}"/>'
            f'<text x="{lx + 16}" y="16" class="legend">{_e(name)}</text>'
        )
        lx += 22 + 8 * len(name)
    out.append("</svg>")
    return "".join(out)


def _rows_chart(chart_id: str, title: str, labels: list[str], values: list[float], colours: list[str]) -> str:
    """Horizontal bars with their labels, longest first."""
    if not values or max(values) <= 0:
        return _empty(chart_id, title, "nothing recorded yet")
    w, row, left = 720, 26, 300
    h = row * len(values) + 10
    top = max(values)
    out = [
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}"><title>{_e(title)}</title>'
    ]
    for i, (label, value, colour) in enumerate(zip(labels, values, colours, strict=True)):
        y = 5 + i * row
        bw = (w - left - 60) * value / top
        short = label if len(label) <= 46 else label[:45] + "…"
        out.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="label">'
            f"<title>{_e(label)}</title>{_e(short)}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{bw:.1f}" height="{row - 8}" '
            f'fill="{colour}"/><text x="{left + bw + 6:.1f}" y="{y + 16}" class="axis">'
            f"{value:g}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _table(columns: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:780px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.muted{color:#6e7781;fill:#6e7781}.cards{display:flex;gap:12px;margin:16px 0}
.card{flex:1;border:1px solid #d0d7de;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:22px}.chart{max-width:100%;height:auto}
.grid{stroke:#eaeef2}.axis{font-size:11px;fill:#57606a}.legend,.label{font-size:12px;fill:#1f2328}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:left;vertical-align:top}
td{word-break:break-word}
"""


def render(data: ReportData) -> str:
    stamp = dt.datetime.fromtimestamp(data.generated, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    period = f"{data.days[0]} to {data.days[-1]}" if data.days else ""
    spent = sum(sum(v.values()) for v in data.cost_per_day.values())
    blocks = sum(data.blocked_per_day) + sum(data.asked_per_day)
    opened = sum(1 for e in data.breaker_events if e["transition"].endswith("->open"))

    activity = _columns(
        "failures-over-time",
        "Failures recorded and actions blocked per day",
        data.days,
        {
            "failures recorded": [float(x) for x in data.recorded_per_day],
            "denied": [float(x) for x in data.blocked_per_day],
            "asked a human": [float(x) for x in data.asked_per_day],
        },
        {
            "failures recorded": PALETTE[0],
            "denied": LEVEL_COLOURS["critical"],
            "asked a human": LEVEL_COLOURS["medium"],
        },
    )
    top = _rows_chart(
        "top-failures",
        "Top recurring failures (times seen)",
        [f["action"] for f in data.top_failures],
        [float(f["count"]) for f in data.top_failures],
        [PALETTE[0]] * len(data.top_failures),
    )
    levels = [lv for lv in (*LEVELS, "exact repeat", "unknown") if data.risk_levels.get(lv)]
    risk = _rows_chart(
        "risk-levels",
        f"Risk levels of the last {data.recent_actions} checked actions",
        levels,
        [float(data.risk_levels[lv]) for lv in levels],
        [LEVEL_COLOURS[lv] for lv in levels],
    )
    models = sorted(data.cost_per_day)
    cost = _columns(
        "cost-per-day",
        "LLM cost per day and model (USD)",
        data.days,
        {m: [data.cost_per_day[m].get(d, 0.0) for d in data.days] for m in models},
        {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)},
        unit="$",
    )
    cost_table = _table(
        ["provider", "model", "calls", "input tokens", "output tokens", "cost (USD)"],
        [
            [
                r["provider"],
                r["model"],
                r["calls"],
                r["input_tokens"],
                r["output_tokens"],
                f"{r['cost_usd']:.4f}"
                + (f" + {r['unpriced_calls']} unpriced" if r["unpriced_calls"] else ""),
            ]
            for r in data.cost_by_model
        ],
        "No LLM calls in this period.",
    )
    failures_table = _table(
        ["times", "action", "kind", "lesson"],
        [[f["count"], f["action"][:300], f["kind"], f["lesson"][:300]] for f in data.top_failures],
        "No failures recorded.",
    )
    breakers = _table(
        ["when (UTC)", "provider", "transition", "error"],
        [
            [
                dt.datetime.fromtimestamp(e["ts"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e["provider"],
                e["transition"],
                (e["error"] or "")[:200],
            ]
            for e in data.breaker_events
        ],
        "No breaker incidents: every provider call went through.",
    )
    pacing = _table(
        USAGE_COLUMNS,
        [usage_row(p) for p in data.pacing],
        "No provider calls made yet.",
    ) + _table(
        ["when (UTC)", "provider", "model", "met", "until", "detail"],
        [
            [
                dt.datetime.fromtimestamp(e["ts"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e["provider"],
                e["model"],
                "daily quota" if e["kind"] == "quota" else "rate limit (429)",
                when(e["until"]) if e["until"] else "",
                (e["reason"] or "")[:200],
            ]
            for e in data.pacing_events
        ],
        "No rate limit or quota met: pacing kept every call under the limits.",
    )
    if data.guard is not None:
        g = data.guard
        calls = ", ".join(f"{k} {v}" for k, v in sorted(g["calls"].items())) or "none"
        service = _table(
            ["pid", "version", "up (s)", "sessions served", "calls", "similarity search"],
            [[g["pid"], g["version"], round(g["uptime_s"]), g["sessions"], calls, g["similarity"]]],
            "",
        )
    else:
        service = "<p>No guard service runs now; the first hook that needs one starts it.</p>"
    fallback_table = _table(
        ["why the service could not answer", "hook calls judged in-process"],
        [[why, n] for why, n in data.fallbacks.most_common()],
        "None: every hook call in this period was answered by the guard service.",
    )
    cards = "".join(
        f'<div class="card" id="card-{key}"><span class="muted">{_e(label)}</span><b>{_e(value)}</b></div>'
        for key, label, value in (
            ("failures", "failures in memory", data.failures_stored),
            ("workspace", "kept per workspace", data.failures_stored - data.shared_lessons),
            ("shared", "shared environment lessons", data.shared_lessons),
            ("blocks", "actions denied or asked", blocks),
            ("spend", "LLM spend", f"${spent:.4f}"),
            ("breakers", "breaker trips", opened),
            ("ratelimits", "rate limits met", len(data.pacing_events)),
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>task-orchestrator report</title><style>{_CSS}</style></head>
<body>
<h1>task-orchestrator report</h1>
<p class="muted">{_e(period)} · generated {_e(stamp)}</p>
<div class="cards">{cards}</div>
<section id="activity"><h2>Failures recorded and actions blocked</h2>{activity}</section>
<section id="recurring"><h2>Top recurring failures</h2>{top}{failures_table}</section>
<section id="risk"><h2>Risk levels of recent actions</h2>{risk}</section>
<section id="cost"><h2>Cost per day and per model</h2>{cost}{cost_table}</section>
<section id="breakers"><h2>Breaker incidents</h2>{breakers}</section>
<section id="pacing"><h2>Provider pacing (rate limits are not outages)</h2>{pacing}</section>
<section id="guard"><h2>Guard service</h2>{service}{fallback_table}</section>
</body></html>
"""


def write_report(out: Path | str, settings: Settings | None = None, *, days: int = 30) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(collect(settings, days=days)), encoding="utf-8")
    return out
