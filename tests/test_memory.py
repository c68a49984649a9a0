"""Failure memory: one conformance suite for every backend, plus the persistent store's own duties."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr

from task_orchestrator import Settings
from task_orchestrator.memory import FailureRecord, InMemoryFailureMemory
from task_orchestrator.memory.embeddings import MiniLMEmbedder, make_embedder
from task_orchestrator.memory.normalize import normalize, signature
from task_orchestrator.memory.store import ChromaIndex, PersistentFailureMemory

BACKENDS = ["inmemory", "embedded-chroma", "chroma-server", "postgres+chroma-server"]


def _open_memory(request, settings: Settings):
    """The failure memory of one backend (the conformance suite runs each test on all four)."""
    if request.param == "inmemory":
        return InMemoryFailureMemory(
            make_embedder(settings), cap=settings.memory_cap, max_age_days=settings.memory_max_age_days
        )
    if request.param == "embedded-chroma":
        return PersistentFailureMemory(settings)
    update = {"chroma_url": request.getfixturevalue("chroma_server")}
    if request.param.startswith("postgres"):
        update["postgres_url"] = SecretStr(request.getfixturevalue("postgres_url"))
    m = PersistentFailureMemory(settings.model_copy(update=update))
    # a fresh collection per test on the shared server
    m.index.client.delete_collection(m.index.collection.name)
    m.index.close()
    m._index = None
    return m


@pytest.fixture
def opened():
    """``opened(settings, ...)``: a PersistentFailureMemory closed when the test ends, so the
    tests that open several (or reopen one) let go of every file and lock."""
    memories: list[PersistentFailureMemory] = []

    def open_memory(settings: Settings, **kwargs) -> PersistentFailureMemory:
        memories.append(PersistentFailureMemory(settings, **kwargs))
        return memories[-1]

    yield open_memory
    for m in memories:
        m.close()


@pytest.fixture(params=BACKENDS)
def mem(request, tmp_path):
    m = _open_memory(request, Settings(data_dir=tmp_path / "data", _env_file=None))
    yield m
    m.close()


@pytest.fixture(params=BACKENDS)
def capped_mem(request, tmp_path):
    """Each backend with a cap of 100 failures and an age limit of one day."""
    settings = Settings(
        data_dir=tmp_path / "data", memory_cap=100, memory_max_age_days=1, embedder="hashing", _env_file=None
    )
    m = _open_memory(request, settings)
    yield m
    m.close()


def test_exact_repeat_after_normalisation(mem):
    mem.record(
        FailureRecord(
            action="pytest tests/test_api.py --basetemp=/tmp/pytest-7/x",
            error="ModuleNotFoundError: No module named 'fastapi'",
            lesson="install the api extra first",
        )
    )
    [hit, *_] = mem.check("pytest   tests/test_api.py --basetemp=/tmp/pytest-9/y")
    assert hit.exact
    assert hit.distance == 0.0
    assert hit.record.lesson == "install the api extra first"


def test_repeat_increments_never_duplicates(mem):
    for _ in range(3):
        mem.record(FailureRecord(action="make deploy", error="permission denied"))
    assert mem.count() == 1
    [rec] = mem.list()
    assert rec.count == 3


def test_a_repeat_merges_tags_keeps_first_seen_and_the_latest_lesson(mem):
    first = mem.record(FailureRecord(action="make deploy", error="permission denied", tags=["ci"]))
    mem.record(
        FailureRecord(action="make deploy", error="", lesson="run it as the deploy user", tags=["prod"])
    )
    [rec] = mem.list()
    assert rec.tags == ["ci", "prod"]
    assert rec.error == "permission denied"  # an empty error does not wipe the stored one
    assert rec.lesson == "run it as the deploy user"
    assert rec.first_seen == first.first_seen
    assert rec.last_seen >= first.last_seen


def test_the_cap_keeps_the_most_recently_seen(capped_mem):
    now = time.time()
    for i in range(130):
        capped_mem.record(
            FailureRecord(action=f"step-{i} failed", error="e", first_seen=now + i, last_seen=now + i)
        )
    capped_mem.prune()
    # Over the cap the store evicts in batches down to 5% below it: 95..100 stay.
    assert 95 <= capped_mem.count() <= 100
    assert capped_mem.check_exact("step-129 failed") is not None
    assert capped_mem.check_exact("step-5 failed") is None


def test_the_age_limit_drops_what_was_not_seen_for_longer(capped_mem):
    old = time.time() - 3 * 86400
    capped_mem.record(FailureRecord(action="ancient failure", first_seen=old, last_seen=old))
    capped_mem.record(FailureRecord(action="recent failure"))
    assert capped_mem.prune() == 1
    assert capped_mem.check_exact("ancient failure") is None
    assert capped_mem.check_exact("recent failure") is not None


def test_similar_failure_is_found_unrelated_is_far(mem):
    mem.record(FailureRecord(action="find . -name '*.pyc' -delete", error="x"))
    mem.record(FailureRecord(action="git push --force origin main", error="rejected"))
    near = mem.check("git push -f origin main")
    assert not near[0].exact
    assert near[0].record.action == "git push --force origin main"
    defaults = Settings(_env_file=None)
    assert near[0].distance <= defaults.similarity_advice_distance
    far = mem.check("echo hello world")
    assert all(m.distance > defaults.similarity_advice_distance for m in far)


def test_forget_removes_exact_and_similar(mem):
    rec = mem.record(FailureRecord(action="npm publish --access public", error="403"))
    assert mem.forget(rec.id)
    assert not mem.forget(rec.id)
    assert mem.count() == 0
    assert mem.check("npm publish --access public") == []


def test_outcomes_are_counted_per_signature(mem):
    mem.record_outcome("cargo build --release", ok=False)
    mem.record_outcome("cargo  build --release", ok=False)
    mem.record_outcome("cargo build --release", ok=True)
    assert mem.outcomes("cargo build --release") == (2, 1)
    assert mem.outcomes("cargo test") == (0, 0)


def test_secrets_are_redacted_before_storage(mem):
    secret = "sk-proj-" + "A1b2C3d4" * 5
    rec = mem.record(
        FailureRecord(
            action=f"curl -H 'Authorization: Bearer {secret}' https://api.example.com",
            error=f"401 for key {secret}",
            lesson=f"rotate {secret}",
        )
    )
    for text in (rec.action, rec.error, rec.lesson, json.dumps(mem.list()[0].model_dump())):
        assert secret not in text
        assert "REDACTED" in text


# -- the persistent store ----------------------------------------------------------------
def test_persistent_memory_survives_reopen(tmp_path, opened):
    s = Settings(data_dir=tmp_path / "d", _env_file=None)
    m = opened(s)
    m.record(FailureRecord(action="terraform apply -auto-approve", error="state locked"))
    m.close()
    again = opened(s)
    assert again.check_exact("terraform  apply -auto-approve") is not None
    assert again.check("terraform apply --auto-approve")[0].record.error == "state locked"


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    out = set()
    for fd in fds.iterdir():
        try:
            out.add(os.readlink(fd))
        except OSError:  # closed meanwhile
            pass
    return out


def test_close_lets_go_of_the_table_and_the_index_lock(tmp_path):
    s = Settings(data_dir=tmp_path / "d", embedder="hashing", _env_file=None)
    m = PersistentFailureMemory(s)
    m.record(FailureRecord(action="make release", error="dirty tree"))
    assert m.check("make  release")  # the table and the vector index both open
    ours = {str(tmp_path / "d" / "memory.sqlite"), str(tmp_path / "d" / "chroma" / ".task-orchestrator.lock")}
    assert ours <= _open_files()
    m.close()
    assert not ours & _open_files()  # (the index's lock file was kept open until the process ended)


def test_exact_check_does_not_open_chroma(tmp_path, opened):
    s = Settings(data_dir=tmp_path / "d", _env_file=None)
    opened(s).record(FailureRecord(action="make release", error="dirty tree"))
    fresh = opened(s)
    assert fresh.check_exact("make release") is not None
    assert fresh._index is None
    assert fresh._embedder is None


def test_a_rerun_command_is_not_embedded_again(tmp_path, monkeypatch, opened):
    from task_orchestrator.memory import store as store_mod
    from task_orchestrator.memory.embeddings import HashingEmbedder

    class Counting(HashingEmbedder):
        def __init__(self):
            self.texts: list[str] = []

        def embed(self, texts):
            self.texts.extend(texts)
            return super().embed(texts)

    monkeypatch.setattr(store_mod, "QUERY_VECTOR_CACHE", 2)
    s = Settings(data_dir=tmp_path / "d", _env_file=None)
    emb = Counting()
    m = opened(s, embedder=emb)
    m.record(FailureRecord(action="npm run build --prod", error="out of memory"))
    first = m.check("npm  run build --prod ")  # normalises to the recorded command
    emb.texts.clear()
    again = m.check("npm run build --prod")
    assert emb.texts == []  # served from the cache, same answer
    assert [(x.record.id, x.distance) for x in again] == [(x.record.id, x.distance) for x in first]
    m.check("cargo test")
    m.check("go vet ./...")  # the cache holds two: the npm command is evicted
    m.check("npm run build --prod")
    assert emb.texts == ["cargo test", "go vet ./...", "npm run build --prod"]


def test_cap_and_age_limit(tmp_path, opened):
    s = Settings(data_dir=tmp_path / "d", memory_cap=100, memory_max_age_days=1, _env_file=None)
    m = opened(s, embedder=make_embedder(s.model_copy(update={"embedder": "hashing"})))
    old = time.time() - 3 * 86400
    m.record(FailureRecord(action="ancient failure", first_seen=old, last_seen=old))
    for i in range(120):
        m.record(FailureRecord(action=f"step-{i} failed", error="e"))
    m.prune()
    # Pruning evicts in batches down to 5% below the cap, so the count lands in 95..100.
    assert 95 <= m.count() <= 100
    assert m.index.count() == m.count()
    assert m.check_exact("ancient failure") is None
    assert m.check_exact("step-119 failed") is not None
    assert m.check_exact("step-5 failed") is None


def test_export_import_roundtrip(tmp_path, opened):
    s1 = Settings(data_dir=tmp_path / "a", _env_file=None)
    a = opened(s1)
    a.record(FailureRecord(action="docker compose up", error="port 5432 in use", tags=["db"]))
    a.record(FailureRecord(action="docker compose up", error="port 5432 in use"))
    lines = list(a.export_jsonl())
    b = opened(Settings(data_dir=tmp_path / "b", _env_file=None))
    assert b.import_jsonl(lines) == 1
    [rec] = b.list()
    assert rec.count == 2
    assert rec.tags == ["db"]
    assert b.check("docker compose up")[0].exact
    with pytest.raises(ValueError, match="import line 2"):
        b.import_jsonl([lines[0], "{not json"])


def _writer(data_dir: str, worker: int, n: int) -> None:
    s = Settings(data_dir=data_dir, embedder="hashing", _env_file=None)
    m = PersistentFailureMemory(s)
    for i in range(n):
        m.record(FailureRecord(action=f"job {i % 50} failed", error=f"worker {worker}"))
        m.record_outcome(f"job {i % 50} failed", ok=False)
    m.close()


def test_concurrent_processes_lose_nothing(tmp_path, opened):
    data = str(tmp_path / "d")
    opened(Settings(data_dir=data, embedder="hashing", _env_file=None)).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(data, w, 100)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    m = opened(Settings(data_dir=data, embedder="hashing", _env_file=None))
    recs = m.list(limit=1000)
    assert len(recs) == 50
    assert sum(r.count for r in recs) == 400
    assert sum(m.outcomes(f"job {i} failed")[0] for i in range(50)) == 400
    m.reembed_missing()  # anything a crashed/contended writer left unembedded
    assert m.index.count() == 50


def test_normalisation_rules():
    assert normalize("ls   -la\t/src\n") == "ls -la /src"
    assert normalize("rm /tmp/tmp.Xy12ab/out.log") == "rm <TMP>"
    assert normalize("git show 3f9a2c7d1e4b") == "git show <HEX>"
    assert normalize("docker rm 550e8400-e29b-41d4-a716-446655440000") == "docker rm <UUID>"
    assert normalize("grep ERROR app.log since 2026-11-24T10:15:00Z") == "grep ERROR app.log since <TS>"
    assert normalize("vim src/app.py:120:4") == "vim src/app.py:<N>"
    assert normalize("head -n 5 f") != normalize("head -n 500 f")  # meaning kept
    assert normalize("rm -R x") != normalize("rm -r x")  # commands keep case
    assert normalize("Fix the Login bug!", "text") == "fix the login bug"
    assert signature('Edit {"path": "a.py", "old": "x"}', "tool_call") == signature(
        'Edit {"old": "x",  "path": "a.py"}', "tool_call"
    )
    assert signature("make test") != signature("make test", "text")


_PIECES = st.sampled_from(
    [
        " ",
        "  \t",
        "\n",
        "\u00a0",
        "/tmp/",
        "/var/folders/x",
        "$TMPDIR/",
        "${TMPDIR}/",
        "line ",
        "Line\t",
        "2026-11-24",
        "T10:36:43Z",
        "1732444603",
        "1732444603123",
        "deadbeef",
        "0a1b2c3d4e",
        "-4a5b-",
        "e7f1c2d0-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
        ".py:",
        "12",
        ":7",
        "x",
        "find . -name",
        "'q'",
        "é",
        "٣",
        "-11-24",
        "1",
        "٣٣٣٣",
        "pipeline",
        "ine",
        "sk-",
        "token=",
        "ABCDEF",
        "AKIA",
    ]
)


@hsettings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12).map("".join))
def test_normalisation_fast_paths_change_nothing(text):
    """The pre-screens only skip work: same result as running every rule on every text."""
    from task_orchestrator.memory import normalize as n
    from task_orchestrator.memory.redact import redact

    slow = n._FILE_LINE.sub(r"\1:<N>", n._VARYING.sub(n._replace, redact(text)))
    assert n._common(text) == re.sub(r"\s+", " ", slow).strip()


def test_embedding_model_is_hash_checked(monkeypatch):
    from task_orchestrator.memory import embeddings

    monkeypatch.setattr(embeddings, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        MiniLMEmbedder()


def test_paraphrase_transform_is_hash_checked(monkeypatch):
    from task_orchestrator.memory import embeddings

    monkeypatch.setattr(embeddings, "TRANSFORM_SHA256", "0" * 64)
    with pytest.raises(ValueError, match=r"paraphrase_wccn\.npy has sha256"):
        MiniLMEmbedder()
    assert MiniLMEmbedder(transform=False).name == "all-MiniLM-L6-v2-int8"  # baseline still loads


def test_vectors_of_another_embedder_are_never_mixed(tmp_path):
    """Switching embedders (or a wiped index) re-embeds every stored failure in the new space."""
    from task_orchestrator.memory.embeddings import HashingEmbedder

    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    old = PersistentFailureMemory(settings, embedder=HashingEmbedder())
    old.record(FailureRecord(action="git push --force origin main", error="rejected"))
    old.record(FailureRecord(action="pip install reqeusts", error="No matching distribution"))
    old_collection = old.index.collection.name
    old.close()

    new = PersistentFailureMemory(settings)  # the default MiniLM embedder
    assert new.index.collection.name != old_collection
    assert new.index.collection.name.endswith(new.embedder.name.replace("+", "-"))
    near = new.check("git push -f origin main")
    assert near[0].record.action == "git push --force origin main"
    assert near[0].distance <= settings.similarity_advice_distance  # the MiniLM scale, not hashing's
    assert new.index.count() == 2
    assert new.index.client.get_collection(old_collection).count() == 2  # untouched
    # the index is wiped behind the memory's back: the next opening re-embeds
    new.index.client.delete_collection(new.index.collection.name)
    new.close()
    again = PersistentFailureMemory(settings)
    assert again.check("git push -f origin main")[0].record.action == "git push --force origin main"
    assert again.index.count() == 2
    again.close()


def test_bad_chroma_url_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="CHROMA_URL"):
        ChromaIndex(url="localhost:8000")


# -- pruning at the cap (issue 15, item 8) --------------------------------------------------
def _capped(opened, tmp_path, cap: int) -> PersistentFailureMemory:
    from task_orchestrator.memory.embeddings import HashingEmbedder

    s = Settings(data_dir=tmp_path / "d", memory_cap=cap, _env_file=None)
    return opened(s, embedder=HashingEmbedder())


def _nth_failure(i: int, t0: float) -> FailureRecord:
    """Distinct failures, each seen later than the one before (eviction goes by last_seen)."""
    verbs = ("build", "test", "lint", "deploy", "migrate")
    return FailureRecord(
        action=f"{verbs[i % 5]} svc{i % 11} --shard {i * 7919 % 10007} mod{i}",
        error="exit 1",
        first_seen=t0 + i,
        last_seen=t0 + i,
    )


def test_cap_is_never_exceeded_and_the_oldest_leave_sqlite_and_the_index(tmp_path, opened):
    m = _capped(opened, tmp_path, 100)
    t0 = time.time() - 3600
    ids = []
    for i in range(160):
        ids.append(m.record(_nth_failure(i, t0)).id)
        assert m.count() <= 100 and m.index.count() <= 100, i
    n = m.count()
    assert 95 <= n <= 100
    assert m.index.count() == n  # the low-water mark is 5% below the cap
    newest, oldest = ids[-n:], ids[:-n]
    assert set(m.store.get_many(newest)) == set(newest)
    assert not m.store.get_many(oldest)
    in_index = set(m.index.collection.get(ids=ids)["ids"])
    assert in_index == set(newest)
    assert m.check_exact(_nth_failure(159, t0).action) is not None
    assert m.check_exact(_nth_failure(0, t0).action) is None


def test_pruning_at_the_cap_evicts_in_batches_not_per_record(tmp_path, opened):
    m = _capped(opened, tmp_path, 100)
    t0 = time.time() - 3600
    for i in range(100):
        m.record(_nth_failure(i, t0))
    deletes: list[int] = []
    real_delete = m.store.delete

    def counted(ids):
        ids = list(ids)
        deletes.append(len(ids))
        return real_delete(ids)

    m.store.delete = counted  # the real table, watched
    past = 120
    for i in range(100, 100 + past):
        m.record(_nth_failure(i, t0))
        assert m.count() <= 100
    # one eviction per record past the cap would be 120 calls; in batches of 5% of the cap
    # (at least 5 rows each) it is one per 6 records
    assert 1 <= len(deletes) <= past // 5, deletes
    assert all(n >= 5 for n in deletes)
    assert sum(deletes) == 100 + past - m.count()


def test_prune_refreshes_the_evicted_items_neighbours_like_a_full_refresh(tmp_path, opened):
    import numpy as np

    from task_orchestrator.memory.similarity import HUB_K

    m = _capped(opened, tmp_path, 200)
    t0 = time.time() - 3600
    ids = [m.record(_nth_failure(i, t0)).id for i in range(150)]
    index = m.index
    index.refresh_hubness()  # every stored hubness exact before the prune

    def hubs() -> dict[str, float]:
        got = index.collection.get(include=["metadatas"])
        return {i: meta["hub"] for i, meta in zip(got["ids"], got["metadatas"], strict=True)}

    before = hubs()
    got = index.collection.get(include=["embeddings"])
    vecs = np.asarray(got["embeddings"])
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)

    full_calls = []
    real_full = index.refresh_hubness
    index.refresh_hubness = lambda *a, **k: full_calls.append(1) or real_full(*a, **k)
    m.settings = m.settings.model_copy(update={"memory_cap": 149})  # one over: a batch goes
    evicted_n = m.prune()
    del index.refresh_hubness
    assert not full_calls  # the partial refresh did the work, not a full rebuild

    after = hubs()
    evicted = set(ids) - set(after)
    assert evicted == set(ids[:evicted_n])
    assert evicted_n == 150 - (149 - 149 // 20)
    # the evicted items' stored neighbours, found here by brute force: those surely among the
    # HUB_K nearest of one (closer than its next after the HUB_K-th; hashed vectors tie often)
    pos = {rid: k for k, rid in enumerate(got["ids"])}
    near = set()
    for d in evicted:
        row = sims[pos[d]]
        cut = np.sort(row)[::-1][HUB_K]
        near |= {got["ids"][j] for j in np.flatnonzero(row > cut)}
    near -= evicted
    index.refresh_hubness()
    full = hubs()
    assert set(full) == set(after)
    moved = [i for i in near if abs(full[i] - before[i]) > 1e-4]
    assert moved  # the eviction changed their hubness: without a refresh they would be stale
    assert [after[i] for i in sorted(near)] == pytest.approx([full[i] for i in sorted(near)], abs=1e-5)
