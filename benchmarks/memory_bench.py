"""Failure-memory speed: exact-hash checks, similarity checks, record throughput, size, reopen.

Exact: check incl. normalisation and hashing of a never-seen-before command (no cache hits),
at several store sizes; baseline: the bare SQLite point lookup of a precomputed key.
Similarity: query incl. MiniLM embedding of the query; stored vectors are random unit vectors
(embedding 100k real commands would take ~12 minutes); baseline: brute-force numpy cosine.
Targets: exact p50 <= 10 us and 1M/1k p50 ratio <= 1.5; similarity p99 <= 10 ms.
Record at the cap: per-record latency of ``record`` (MiniLM) just below ``memory_cap`` and past
it, where records trigger the evictions; with the prunes that evicted.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, failure_row, parser, pct, table

from task_orchestrator import Settings
from task_orchestrator.memory import FailureRecord
from task_orchestrator.memory.normalize import normalize, signature
from task_orchestrator.memory.store import FailureTable, PersistentFailureMemory


def fill_sqlite(store: FailureTable, n: int) -> None:
    now = time.time()

    def rows():
        for i in range(n):
            action = f"pytest tests/test_mod{i}.py -k case_{i * 7919 % 100003}"
            yield failure_row(i, action, signature(action), "err", now)

    store.load(rows())
    signature.cache_clear()
    normalize.cache_clear()


def exact_bench(root: Path, sizes: list[int], q: int) -> tuple[list, dict]:
    rows, figs = [], {}
    for n in sizes:
        s = Settings(data_dir=root / f"exact{n}", _env_file=None)
        mem = PersistentFailureMemory(s)
        fill_sqlite(mem.store, n)
        queries = [f"pytest tests/test_mod{i * 31 % n}.py -k case_{i}  " for i in range(q)]
        keys = [hashlib.blake2b(x.encode(), digest_size=16).hexdigest() for x in queries]
        base, ours = [], []
        for k in keys:  # baseline: the table's indexed lookup of a precomputed key
            t = time.perf_counter_ns()
            mem.store.by_signature(k)
            base.append((time.perf_counter_ns() - t) / 1e3)
        for x in queries:  # ours: normalise + hash + lookup, nothing cached
            t = time.perf_counter_ns()
            mem.check_exact(x)
            ours.append((time.perf_counter_ns() - t) / 1e3)
        figs[f"exact_p50_us_{n}"] = round(pct(ours, 50), 2)
        figs[f"exact_p99_us_{n}"] = round(pct(ours, 99), 2)
        rows.append([f"{n:,}", f"{pct(base, 50):.1f}", f"{pct(ours, 50):.1f}", f"{pct(ours, 99):.1f}"])
        mem.close()
    ratio = figs[f"exact_p50_us_{sizes[-1]}"] / figs[f"exact_p50_us_{sizes[0]}"]
    figs["exact_ratio_largest_smallest"] = round(ratio, 2)
    return rows, figs


def similarity_bench(root: Path, sizes: list[int], q: int) -> tuple[list, dict]:
    rows, figs = [], {}
    rng = np.random.default_rng(0)
    for n in sizes:
        s = Settings(data_dir=root / f"sim{n}", _env_file=None)
        mem = PersistentFailureMemory(s)
        vecs = rng.normal(size=(n, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for i in range(0, n, 5000):
            ids = [f"v{j}" for j in range(i, min(n, i + 5000))]
            mem.index.add(ids, vecs[i : i + 5000], ids, [0.5] * len(ids))
        queries = [f"docker compose up service{i} --build" for i in range(q)]
        mem.embedder.embed(["warm up"])
        mem.index.query(vecs[0], 3)
        ours, base, qvecs = [], [], []
        for x in queries:
            t = time.perf_counter()
            v = mem.embedder.embed([normalize(x)])[0]
            mem.index.query(v, 3)
            ours.append((time.perf_counter() - t) * 1e3)
            qvecs.append(v)
        # The baseline runs after ours, not interleaved: numpy's BLAS threads keep spinning after
        # a 10k x 384 product and took the cores from the next embedding (our p99 9.5 -> 7.8 ms
        # at 10k with them held to one thread). A real check shares the process with no such scan.
        for v in qvecs:
            t = time.perf_counter()
            sims = vecs @ v
            np.argpartition(-sims, 3)[:3]
            base.append((time.perf_counter() - t) * 1e3)
        figs[f"similarity_p50_ms_{n}"] = round(pct(ours, 50), 2)
        figs[f"similarity_p99_ms_{n}"] = round(pct(ours, 99), 2)
        rows.append(
            [
                f"{n:,}",
                f"{pct(base, 50):.2f}",
                f"{pct(ours, 50):.2f}",
                f"{pct(ours, 99):.2f}",
                "ok" if pct(ours, 99) <= 10 else "MISSED",
            ]
        )
        mem.close()
    return rows, figs


def record_bench(root: Path, n: int) -> tuple[list, dict]:
    s = Settings(data_dir=root / "rec", _env_file=None)
    mem = PersistentFailureMemory(s)
    mem.embedder.embed(["warm up"])
    t = time.perf_counter()
    for i in range(n):
        mem.record(FailureRecord(action=f"make target{i} VERBOSE=1", error="exit 2", lesson="x"))
    rate = n / (time.perf_counter() - t)
    mem.close()
    size = sum(f.stat().st_size for f in (root / "rec").rglob("*") if f.is_file())
    t = time.perf_counter()
    again = PersistentFailureMemory(s)
    again.check_exact("make target1 VERBOSE=1")
    reopen_exact = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    again.check("make target1 VERBOSE=1")
    first_sim = (time.perf_counter() - t) * 1e3
    again.close()
    rows = [
        ["record (redact, upsert, embed, index)", f"{rate:.0f}/s"],
        ["store size on disk", f"{size / n / 1024:.1f} KiB/record ({n} records)"],
        ["reopen + first exact check", f"{reopen_exact:.1f} ms"],
        ["first similarity check after reopen (opens Chroma; model already loaded)", f"{first_sim:.0f} ms"],
    ]
    return rows, {
        "record_per_s": round(rate),
        "bytes_per_record": round(size / n),
        "reopen_exact_ms": round(reopen_exact, 1),
        "first_similarity_ms": round(first_sim),
    }


def _cap_action(i: int) -> str:
    words = ("build", "test", "lint", "deploy", "migrate", "package", "serve", "clean")
    return f"{words[i % 8]} svc{i % 97} --shard {i * 7919 % 100003} --profile p{i % 13} tests/test_mod{i}.py"


def cap_bench(root: Path, cap: int, below: int, at_cap: int) -> tuple[list, dict]:
    """Per-record latency of ``record`` below the memory cap and at it (where it prunes)."""
    s = Settings(data_dir=root / f"cap{cap}", memory_cap=cap, _env_file=None)
    mem = PersistentFailureMemory(s)
    mem.embedder.embed(["warm up"])
    # Fill to just below the cap in bulk (import embeds 256 at a time, and never prunes).
    fill = cap - below
    mem.import_jsonl(
        FailureRecord(action=_cap_action(i), error="exit 1").model_dump_json() for i in range(fill)
    )
    prunes = {"calls": 0, "evicting": 0}
    prune = mem.prune

    def counted() -> int:
        n = prune()
        prunes["calls"] += 1
        prunes["evicting"] += n > 0
        return n

    mem.prune = counted  # record() calls self.prune()

    def timed(start: int, n: int) -> list[float]:
        out = []
        for i in range(start, start + n):
            rec = FailureRecord(action=_cap_action(i), error="exit 1")
            t = time.perf_counter()
            mem.record(rec)
            out.append((time.perf_counter() - t) * 1e3)
        return out

    under = timed(fill, below)
    assert mem.count() <= cap
    at = timed(fill + below, at_cap)
    assert mem.count() <= cap, mem.count()
    mem.close()
    rows = [
        [
            f"below the cap ({fill:,}..{cap:,} stored)",
            f"{pct(under, 50):.1f}",
            f"{pct(under, 99):.1f}",
            f"{max(under):.1f}",
            "-",
        ],
        [
            f"at the cap ({cap:,}; {at_cap} records past it)",
            f"{pct(at, 50):.1f}",
            f"{pct(at, 99):.1f}",
            f"{max(at):.1f}",
            f"{prunes['evicting']}",
        ],
    ]
    return rows, {
        f"record_below_cap_p50_ms_{cap}": round(pct(under, 50), 2),
        f"record_at_cap_p50_ms_{cap}": round(pct(at, 50), 2),
        f"record_at_cap_p99_ms_{cap}": round(pct(at, 99), 2),
        f"record_at_cap_max_ms_{cap}": round(max(at), 2),
        f"record_at_cap_prunes_{cap}": prunes["evicting"],
        f"record_at_cap_records_{cap}": at_cap,
    }


def main() -> None:
    args = parser(__doc__).parse_args()
    exact_sizes = [1_000, 10_000] if args.quick else [1_000, 100_000, 1_000_000]
    sim_sizes = [2_000] if args.quick else [10_000, 100_000]
    q = 300 if args.quick else 3000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows, figs = exact_bench(root, exact_sizes, q)
        table(
            "exact-hash check incl. normalisation (us)",
            ["stored", "baseline: bare lookup p50", "check p50", "check p99"],
            rows,
        )
        ok_exact = (
            figs[f"exact_p50_us_{exact_sizes[-1]}"] <= 10 and figs["exact_ratio_largest_smallest"] <= 1.5
        )
        print(
            f"largest/smallest p50 ratio {figs['exact_ratio_largest_smallest']} (target <= 1.5); "
            f"target p50 <= 10 us: {'ok' if ok_exact else 'MISSED'}"
        )
        srows, sfigs = similarity_bench(root, sim_sizes, 100 if args.quick else 500)
        table(
            "similarity check incl. query embedding (ms)",
            [
                "stored",
                "baseline: numpy brute force p50 (no embedding)",
                "check p50",
                "check p99",
                "p99 <= 10 ms",
            ],
            srows,
        )
        rrows, rfigs = record_bench(root, 200 if args.quick else 2000)
        table("record, size, reopen", ["measure", "value"], rrows)
        cap = 100 if args.quick else 1_200
        crows, cfigs = cap_bench(root, cap, 50 if args.quick else 200, 100 if args.quick else 300)
        table(
            f"record at the memory cap (memory_cap={cap:,}; ms per record)",
            ["stored", "p50", "p99", "max", "prunes that evicted"],
            crows,
        )
    emit("memory_bench", {**figs, **sfigs, **rfigs, **cfigs, "cores": os.cpu_count()})


if __name__ == "__main__":
    main()
