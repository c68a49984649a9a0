"""Scale-out: the shared backends (PostgreSQL + a Chroma server) against the local defaults
(SQLite + embedded Chroma), measured in the same run.

1. Exact-repeat lookup (normalise + hash + one indexed row), the command hook's hot path.
2. Record-and-check throughput with 1 and 8 processes writing at once.

Needs PostgreSQL: TASK_ORCHESTRATOR_TEST_POSTGRES_URL (.ci/run sets it), or a private cluster
is started from Debian's server binaries. Embeddings use the hashing embedder so that the
stores, not the model, are measured.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, parser, pct, table, time_calls

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _servers import PrivatePostgres, start_chroma  # noqa: E402

from task_orchestrator import Settings  # noqa: E402
from task_orchestrator.memory._table import FailureTable, prepare  # noqa: E402
from task_orchestrator.memory.normalize import signature  # noqa: E402


def _settings(data: Path, postgres: str | None, chroma: str | None) -> Settings:
    return Settings(
        data_dir=data, embedder="hashing", postgres_url=postgres, chroma_url=chroma, _env_file=None
    )


def exact_latency(db_settings: Settings, n_rows: int, n_calls: int) -> list[float]:
    from task_orchestrator._db import open_database

    table_ = FailureTable(open_database(db_settings, "memory"))
    rows = [prepare(f"make target-{i} --jobs {i % 7}", error="no rule") for i in range(n_rows)]
    for r in rows:
        table_.upsert(r)
    probe = f"make  target-{n_rows // 2} --jobs {(n_rows // 2) % 7}"

    def hit() -> None:
        assert table_.by_signature(signature(probe)) is not None

    samples = time_calls(hit, n_calls, warmup=20)
    table_.close()
    return samples


def _writer(data: str, postgres: str | None, chroma: str | None, worker: int, n: int) -> None:
    from task_orchestrator.memory import FailureRecord
    from task_orchestrator.memory.store import PersistentFailureMemory

    m = PersistentFailureMemory(_settings(Path(data), postgres, chroma))
    for i in range(n):
        action = f"job {i // 2 % 25} failed" if i % 2 == 0 else f"w{worker} step {i} failed"
        m.record(FailureRecord(action=action, error="exit 1"))
        m.check_exact(action)
    m.close()


def throughput(data: Path, postgres: str | None, chroma: str | None, procs: int, per_proc: int) -> float:
    ctx = mp.get_context("spawn")
    workers = [
        ctx.Process(target=_writer, args=(str(data), postgres, chroma, w, per_proc)) for w in range(procs)
    ]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if any(w.exitcode for w in workers):
        raise RuntimeError("a writer failed")
    return procs * per_proc / (time.perf_counter() - start)


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n_rows, n_calls, per_proc = (1_000, 300, 40) if args.quick else (10_000, 3_000, 400)
    tmp = Path(tempfile.mkdtemp(prefix="scaleout-bench-"))
    pg = PrivatePostgres(tmp)
    try:
        pg.start()
    except (FileNotFoundError, OSError) as exc:
        print(f"scaleout: skipped, no PostgreSQL ({exc})")
        emit("scaleout", {"skipped": str(exc)})
        return 0
    chroma_url, chroma = start_chroma(tmp / "chroma")
    figures: dict = {}
    try:
        local = exact_latency(_settings(tmp / "l1", None, None), n_rows, n_calls)
        shared = exact_latency(_settings(tmp / "p1", pg.new_database(), None), n_rows, n_calls)
        table(
            f"exact-repeat lookup with {n_rows:,} failures stored (normalise + hash + row)",
            ["backend", "p50 µs", "p99 µs"],
            [
                ["SQLite (local file)", f"{pct(local, 50) * 1e6:.0f}", f"{pct(local, 99) * 1e6:.0f}"],
                ["PostgreSQL (loopback)", f"{pct(shared, 50) * 1e6:.0f}", f"{pct(shared, 99) * 1e6:.0f}"],
            ],
        )
        figures.update(
            exact_p50_us_sqlite=round(pct(local, 50) * 1e6, 1),
            exact_p50_us_postgres=round(pct(shared, 50) * 1e6, 1),
        )

        rows = []
        configs = [
            ("SQLite + embedded Chroma", None, None),
            ("SQLite + Chroma server", None, chroma_url),
            ("PostgreSQL + Chroma server", "pg", chroma_url),
        ]
        for i, (name, pg_flag, chroma_flag) in enumerate(configs):
            rates = []
            for procs in (1, 8):
                url = pg.new_database() if pg_flag else None
                data = tmp / f"t{i}-{procs}"
                rates.append(throughput(data, url, chroma_flag, procs, per_proc))
            rows.append([name, f"{rates[0]:.0f}", f"{rates[1]:.0f}", f"{rates[1] / rates[0]:.2f}x"])
            key = name.split(" +")[0].lower() + ("_server" if chroma_flag else "_embedded")
            figures[f"records_per_s_8proc_{key}"] = round(rates[1])
        table(
            f"record + exact check, failures per second (hashing embedder; {per_proc} per process)",
            ["backend", "1 process", "8 processes", "8 vs 1"],
            rows,
        )
    finally:
        chroma.terminate()
        chroma.wait(timeout=30)
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    emit("scaleout", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
