"""The persistent failure memory: an exact-hash table in SQLite in front of Chroma.

- Exact cache: ``failures.signature`` is a UNIQUE key, so a normalised repeat is one
  indexed lookup (O(1) in practice; no vectors touched) and a repeat *increments*
  ``count`` in one atomic upsert, safe with many processes (WAL, busy timeout).
- Similarity: Chroma holds one embedding per failure (same id as the SQLite row):
  ``PersistentClient`` in the data directory, or ``HttpClient`` when
  ``TASK_ORCHESTRATOR_CHROMA_URL`` is set. Vectors of different embedders never mix: the
  collection is named after the embedder, and a collection found empty while the table says
  its rows were embedded (a new embedder, a wiped server) gets every row re-embedded
  (``task-orchestrator memory reembed`` does it ahead, with a progress bar). Chroma is opened
  lazily, on the first similarity query or new record, so exact checks (hooks) never pay its
  start-up.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from task_orchestrator._db import open_database
from task_orchestrator.errors import ConfigurationError
from task_orchestrator.memory._table import FailureTable, prepare
from task_orchestrator.memory.base import ActionKind, FailureMemory, FailureRecord, Match, kept_after_prune
from task_orchestrator.memory.embeddings import Embedder, embedder_name, make_embedder
from task_orchestrator.memory.normalize import normalize, signature
from task_orchestrator.memory.similarity import HUB_K, adjusted_distance, hubness
from task_orchestrator.settings import Settings

__all__ = ["ChromaIndex", "FailureTable", "PersistentFailureMemory"]


def _rec(row: dict | None) -> FailureRecord | None:
    return FailureRecord.model_validate(row) if row else None


COLLECTION = "task_orchestrator_failures"
QUERY_VECTOR_CACHE = 1024  # query embeddings kept (1.5 KiB each with 384 float32 dimensions)
log = logging.getLogger(__name__)


class ChromaIndex:
    """Embeddings of failures in a Chroma collection (cosine distance)."""

    def __init__(self, *, path: Path | None = None, url: str | None = None, embedder_name: str = "") -> None:
        import chromadb

        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", embedder_name).strip("-._")
        self._name = f"{COLLECTION}-{slug}"[:500] if slug else COLLECTION
        # Embedded Chroma keeps its index in memory per process: several processes must take
        # turns (a file lock), and one that sees another's writes (a generation counter
        # beside the lock) reopens its client before using it.
        self._lockfile = None
        self._url = url
        self._threads = threading.RLock()  # flock does not exclude threads sharing the file
        self._path = path
        self._seen = ""
        self._settings = chromadb.Settings(anonymized_telemetry=False)
        if not url and path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._lockfile = open(path / ".task-orchestrator.lock", "a+")

        if url:
            u = urlparse(url)
            if not u.hostname or u.scheme not in ("http", "https"):
                raise ConfigurationError(
                    f"TASK_ORCHESTRATOR_CHROMA_URL={url!r} is not an http(s)://host:port URL"
                )
            self.client = chromadb.HttpClient(
                host=u.hostname,
                port=u.port or (443 if u.scheme == "https" else 8000),
                ssl=u.scheme == "https",
                settings=self._settings,
            )
        else:
            assert path is not None
            with self.locked():
                self._open_embedded()
            return
        self._open_collection()

    def _open_embedded(self) -> None:
        import chromadb

        self.client = chromadb.PersistentClient(path=str(self._path), settings=self._settings)
        self._open_collection()

    def _open_collection(self) -> None:
        self.collection = self.client.get_or_create_collection(
            self._name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    def _generation(self) -> str:
        lockfile = self._lockfile
        if lockfile is None:
            return ""
        lockfile.seek(0)
        return lockfile.read()

    @contextlib.contextmanager
    def locked(self, *, write: bool = False):
        """Exclusive use of the embedded index, against other processes and other threads of
        this one (no-op for a Chroma server)."""
        if self._lockfile is None:
            yield
            return
        with self._threads:
            yield from self._flocked(write)

    def _flocked(self, write: bool) -> Iterator[None]:
        assert self._lockfile is not None
        fcntl.flock(self._lockfile, fcntl.LOCK_EX)
        try:
            gen = self._generation()
            if gen != self._seen and getattr(self, "client", None) is not None:
                self.client.clear_system_cache()  # another process wrote: reload from disk
                self._open_embedded()
            self._seen = gen
            yield
            if write:
                self._seen = os.urandom(8).hex()
                self._lockfile.seek(0)
                self._lockfile.truncate()
                self._lockfile.write(self._seen)
                self._lockfile.flush()
        finally:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)

    def add(self, ids: list[str], vectors, sigs: list[str], hubs: list[float]) -> None:
        self.collection.upsert(
            ids=ids,
            embeddings=vectors,
            metadatas=[{"signature": s, "hub": float(h)} for s, h in zip(sigs, hubs, strict=True)],
        )

    def query(self, vector, k: int) -> list[tuple[str, float, float]]:
        """[(id, cosine similarity, stored hubness)] of the ``k`` nearest."""
        return self.query_many([vector], k)[0]

    def query_many(self, vectors, k: int) -> list[list[tuple[str, float, float]]]:
        # No count() first (it costs as much as the query): Chroma returns fewer than k hits
        # for a small collection and none for an empty one.
        res = self.collection.query(
            query_embeddings=list(vectors), n_results=k, include=["distances", "metadatas"]
        )
        return [
            [
                (i, 1.0 - float(d), float((m or {}).get("hub", 0.0)))  # type: ignore[arg-type]
                for i, d, m in zip(ids, dists, metas, strict=True)
            ]
            for ids, dists, metas in zip(
                res["ids"], res["distances"] or [], res["metadatas"] or [], strict=True
            )
        ]

    def refresh_hubness(self, batch: int = 500) -> None:
        """Recompute every stored item's hubness against the whole collection."""
        offset = 0
        while True:
            page = self.collection.get(include=["embeddings", "metadatas"], limit=batch, offset=offset)
            if not page["ids"]:
                return
            self._refresh_page(page)
            offset += len(page["ids"])

    def _refresh_page(self, page: Any) -> None:
        """Recompute the hubness of a page of stored items (ids, embeddings, metadatas)."""
        hits = self.query_many(page["embeddings"], HUB_K + 1)
        metas = [
            {**(meta or {}), "hub": hubness(s for i, s, _ in row if i != rid)}
            for rid, meta, row in zip(page["ids"], page["metadatas"], hits, strict=True)
        ]
        self.collection.update(ids=page["ids"], metadatas=metas)  # type: ignore[arg-type]

    def delete(self, ids: list[str]) -> None:
        if ids:
            self.collection.delete(ids=ids)

    def neighbours_of(self, ids: list[str], batch: int = 500) -> set[str]:
        """The stored ``HUB_K`` nearest of each of ``ids`` (``ids`` left out). Most items whose
        hubness counts one of ``ids`` are among them, not all: an item can have one of ``ids``
        among its nearest without being among that one's (about 40% of them with MiniLM or
        hashed vectors at 1,200 stored; their hubness then stays as it was until a full
        ``refresh_hubness``)."""
        gone, out = set(ids), set[str]()
        for start in range(0, len(ids), batch):
            page = self.collection.get(ids=ids[start : start + batch], include=["embeddings"])
            if len(page["ids"]):
                out.update(
                    i
                    for row in self.query_many(page["embeddings"], HUB_K + 1)
                    for i, _, _ in row
                    if i not in gone
                )
        return out

    def refresh_hubness_of(self, ids: Iterable[str], batch: int = 500) -> int:
        """Recompute the hubness of ``ids`` only (each against its ``HUB_K`` nearest now);
        ids not stored are skipped. The number refreshed."""
        ids, done = sorted(ids), 0
        for start in range(0, len(ids), batch):
            page = self.collection.get(ids=ids[start : start + batch], include=["embeddings", "metadatas"])
            if not len(page["ids"]):
                continue
            self._refresh_page(page)
            done += len(page["ids"])
        return done

    def delete_and_refresh(self, ids: list[str]) -> None:
        """Delete ``ids`` and recompute the hubness of their stored neighbours (``neighbours_of``)
        instead of the whole collection. Call it inside ``locked(write=True)``."""
        if not ids:
            return
        # Looking up the neighbours costs a query per deleted id and refreshing one per
        # neighbour: past about a sixth of the collection a full rebuild is no dearer.
        if len(ids) * (HUB_K + 1) >= self.count() - len(ids):
            self.delete(ids)
            self.refresh_hubness()
            return
        near = self.neighbours_of(ids)
        self.delete(ids)
        self.refresh_hubness_of(near)

    def count(self) -> int:
        return self.collection.count()

    def close(self) -> None:
        """Let go of the lock file, or of a Chroma server's connections. (The embedded
        client is left open: other indexes of this process share its system.)"""
        with self._threads:
            if self._lockfile is not None:
                self._lockfile.close()
                self._lockfile = None
            elif self._url:
                _close_http_client(self.client)


def _close_http_client(client: Any) -> None:
    """Close a Chroma ``HttpClient`` with its connections. ``close()`` releases the systems of
    the client and of its admin client (each its own, with its own HTTP session) and stops
    those no other client holds; chromadb (1.5) leaves a stopped system's HTTP session open,
    so the sockets of each system that has really stopped are closed here."""
    close = getattr(client, "close", None)  # (not in ClientAPI's type)
    if close is None:
        return
    parts = [client, getattr(client, "_admin_client", None)]
    systems = [(getattr(c, "_system", None), getattr(c, "_server", None)) for c in parts]
    close()
    for system, server in systems:
        session = getattr(server, "_session", None)
        if system is not None and getattr(system, "_running", True) is False and session is not None:
            session.close()


class PersistentFailureMemory(FailureMemory):
    """SQLite exact cache + Chroma similarity, in ``settings.data_dir`` (or a Chroma server)."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, index: Any = None) -> None:
        self.settings = settings
        self.store = FailureTable(open_database(settings, "memory"))
        self._embedder = embedder
        self._index = index
        self._index_lock = threading.Lock()
        self._embedder_lock = threading.Lock()
        self._since_prune = 0
        self._query_vector = functools.lru_cache(maxsize=QUERY_VECTOR_CACHE)(self._embed_query)

    # -- lazily opened heavy parts ---------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._embedder_lock:  # the warm-up thread and a first check load it once
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def index(self) -> ChromaIndex:
        with self._index_lock:
            if self._index is None:
                s = self.settings
                # named without loading the model: forget/prune need the index, not the model
                name = self._embedder.name if self._embedder else embedder_name(s)
                index = ChromaIndex(path=s.data_dir / "chroma", url=s.chroma_url, embedder_name=name)
                with index.locked():
                    empty = index.count() == 0
                if empty and self.store.mark_all_unembedded():
                    log.info(
                        "new similarity index %s: re-embedding the stored failures", index.collection.name
                    )
                self._index = index
            return self._index

    def _vec(self, action: str, kind: str):
        """The query embedding, through a small LRU: agents rerun commands (18% of the Bash calls
        in ../shared/eval/claude_code/session.jsonl repeat an earlier one after normalisation),
        and the embedding is most of a similarity check's cost. A vector depends only on the text
        and the embedder, which is fixed for this object, so a cached one is never stale."""
        return self._query_vector(normalize(action, kind))

    def _embed_query(self, text: str):
        vec = self.embedder.embed([text])[0]
        vec.setflags(write=False)  # shared by every later check of the same text
        return vec

    # -- FailureMemory ------------------------------------------------------------------
    def _prepared(self, failure: FailureRecord) -> dict:
        f = failure.model_dump(exclude={"signature"})
        if not f["id"]:
            f.pop("id")
        return prepare(**f)

    def record(self, failure: FailureRecord) -> FailureRecord:
        row, created = self.store.upsert(self._prepared(failure))
        rec = FailureRecord.model_validate(row)
        if created:
            try:
                self._embed([rec])
            except Exception as exc:  # the row is safe in SQLite; reembed_missing() retries
                log.warning("failure %s stored but not embedded yet: %s", rec.id, exc)
            self._since_prune += 1
            if self._since_prune >= 100 or self.store.count() > self.settings.memory_cap:
                try:
                    self.prune()
                except Exception as exc:  # the record is stored; the next prune retries
                    log.warning("could not prune the failure memory: %s", exc)
        return rec

    def _embed(self, recs: list[FailureRecord]) -> None:
        vecs = self.embedder.embed([normalize(r.action, r.action_kind) for r in recs])
        index = self.index
        with index.locked(write=True):
            hubs = [hubness(s for _, s, _ in row) for row in index.query_many(vecs, HUB_K)]
            index.add([r.id for r in recs], vecs, [r.signature for r in recs], hubs)
        self.store.mark_embedded([r.id for r in recs])

    def reembed_missing(self, on_batch: Callable[[int], None] | None = None) -> int:
        """Embed rows whose vector is not in the index (server was down, new embedder)."""
        _ = self.index  # opening it flags every row when the index turns out to be new
        done = 0
        while batch := [FailureRecord.model_validate(r) for r in self.store.unembedded(256)]:
            self._embed(batch)
            done += len(batch)
            if on_batch:
                on_batch(len(batch))
        return done

    def _catch_up(self) -> None:
        """Embed rows recorded without a vector (by the command hook or a failed write)."""
        try:
            self.reembed_missing()
        except Exception as exc:  # similarity over what is indexed still works
            log.warning("could not embed pending failures: %s", exc)

    def check_exact(self, action: str, *, action_kind: ActionKind = "command") -> Match | None:
        rec = _rec(self.store.by_signature(signature(action, action_kind)))
        return Match(record=rec, distance=0.0, exact=True) if rec else None

    def check(self, action: str, *, action_kind: ActionKind = "command", k: int = 3) -> list[Match]:
        exact = self.check_exact(action, action_kind=action_kind)
        self._catch_up()
        vec = self._vec(action, action_kind)
        index = self.index
        with index.locked():
            hits = index.query(vec, max(k, HUB_K) + 1)
        if exact:
            hits = [h for h in hits if h[0] != exact.record.id]
        r_query = hubness(s for _, s, _ in hits)
        scored = sorted((adjusted_distance(s, r_query, hub), rid) for rid, s, hub in hits)[:k]
        recs = {
            k: FailureRecord.model_validate(v)
            for k, v in self.store.get_many([rid for _, rid in scored]).items()
        }
        out = [exact] if exact else []
        out += [Match(record=recs[rid], distance=d, exact=False) for d, rid in scored if rid in recs]
        return out

    def record_outcome(self, action: str, *, ok: bool, action_kind: ActionKind = "command") -> None:
        self.store.add_outcome(signature(action, action_kind), ok=ok)

    def outcomes(self, action: str, *, action_kind: ActionKind = "command") -> tuple[int, int]:
        return self.store.outcomes(signature(action, action_kind))

    def get(self, record_id: str) -> FailureRecord | None:
        return _rec(self.store.get(record_id))

    def list(self, *, limit: int = 100, offset: int = 0) -> list[FailureRecord]:
        return [FailureRecord.model_validate(r) for r in self.store.list(limit=limit, offset=offset)]

    def forget(self, record_id: str) -> bool:
        if not self.store.delete([record_id]):
            return False
        with self.index.locked(write=True):
            self.index.delete([record_id])
        return True

    def count(self) -> int:
        return self.store.count()

    def prune(self) -> int:
        """Apply the cap (keep the most recently seen) and the age limit; the number evicted.

        Over the cap it evicts down to a low-water mark 5% below it (at least one row), so
        at the cap it runs once per 5% of the cap in new failures, not on every one; and it
        refreshes the hubness of the evicted items' neighbours only, not of every item."""
        self._since_prune = 0
        s = self.settings
        older = time.time() - s.memory_max_age_days * 86400 if s.memory_max_age_days else None
        keep = kept_after_prune(self.store.count(), s.memory_cap)
        ids = self.store.eviction_candidates(keep=keep, older_than=older)
        if ids:
            self.store.delete(ids)
            with self.index.locked(write=True):
                self.index.delete_and_refresh(ids)  # their neighbours' hubness changes
        return len(ids)

    # -- export / import ------------------------------------------------------------------
    def export_jsonl(self) -> Iterator[str]:
        offset = 0
        while batch := self.list(limit=1000, offset=offset):
            for rec in batch:
                yield rec.model_dump_json(exclude={"signature"})
            offset += len(batch)

    def import_jsonl(self, lines: Iterable[str]) -> int:
        """Merge records (a known signature adds its count). Bad lines raise with their number."""
        new: list[FailureRecord] = []
        n = 0
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = FailureRecord.model_validate_json(line)
            except ValueError as exc:
                raise ConfigurationError(f"import line {lineno}: not a failure record: {exc}") from exc
            stored, created = self.store.upsert(
                self._prepared(rec.model_copy(update={"id": ""})), count=rec.count
            )
            if created:
                new.append(FailureRecord.model_validate(stored))
            n += 1
            if len(new) >= 256:
                self._embed(new)
                new = []
        if new:
            self._embed(new)
        return n

    def close(self) -> None:
        self.store.close()
        index, self._index = self._index, None
        if index is not None and hasattr(index, "close"):
            index.close()
