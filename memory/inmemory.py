"""A failure memory held in process memory: exact signatures plus brute-force cosine."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np

from task_orchestrator.memory._table import prepare
from task_orchestrator.memory.base import ActionKind, FailureMemory, FailureRecord, Match, kept_after_prune
from task_orchestrator.memory.embeddings import Embedder
from task_orchestrator.memory.normalize import normalize, signature
from task_orchestrator.memory.similarity import HUB_K, adjusted_distance, hubness

__all__ = ["InMemoryFailureMemory", "prepare_record"]


def prepare_record(failure: FailureRecord) -> FailureRecord:
    """Redact secrets, trim the error, and compute the signature of a new record."""
    row = prepare(failure.action, failure.action_kind, error=failure.error, lesson=failure.lesson)
    return failure.model_copy(update=row)


class InMemoryFailureMemory(FailureMemory):
    """Held in this process only (tests, notebooks, a graph's throwaway runs).

    ``cap`` and ``max_age_days`` limit it as ``memory_cap`` and ``memory_max_age_days`` limit
    the persistent store: over the cap a new record evicts the least recently seen down to 5%
    below it; ``prune()`` also drops what was not seen for ``max_age_days``.
    """

    def __init__(
        self, embedder: Embedder | None = None, *, cap: int | None = None, max_age_days: float | None = None
    ) -> None:
        self.embedder = embedder
        self.cap = cap
        self.max_age_days = max_age_days
        self._by_sig: dict[str, FailureRecord] = {}
        self._by_id: dict[str, FailureRecord] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._hubs: dict[str, float] = {}
        self._outcomes: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def record(self, failure: FailureRecord) -> FailureRecord:
        rec = prepare_record(failure)
        with self._lock:
            existing = self._by_sig.get(rec.signature)
            if existing is not None:
                existing.count += 1
                existing.last_seen = max(existing.last_seen, rec.last_seen)
                existing.error = rec.error or existing.error
                existing.lesson = rec.lesson or existing.lesson
                existing.tags = sorted(set(existing.tags) | set(rec.tags))
                return existing.model_copy()
            rec = rec.model_copy(update={"id": rec.id or uuid.uuid4().hex})
            self._by_sig[rec.signature] = rec
            self._by_id[rec.id] = rec
        if self.embedder is not None:
            vec = self.embedder.embed([normalize(rec.action, rec.action_kind)])[0]
            with self._lock:
                sims = [float(v @ vec) for v in self._vectors.values()]
                self._hubs[rec.id] = hubness(sims)
                self._vectors[rec.id] = vec
        if self.cap is not None and self.count() > self.cap:
            self.prune()
        return rec.model_copy()

    def prune(self) -> int:
        """Apply the cap (keep the most recently seen) and the age limit; the number evicted."""
        with self._lock:
            newest = sorted(self._by_id.values(), key=lambda r: (r.last_seen, r.count), reverse=True)
            keep = len(newest) if self.cap is None else kept_after_prune(len(newest), self.cap)
            evict = {r.id for r in newest[keep:]}
            if self.max_age_days is not None:
                older = time.time() - self.max_age_days * 86400
                evict |= {r.id for r in newest if r.last_seen < older}
        for rid in evict:
            self.forget(rid)
        return len(evict)

    def check(self, action: str, *, action_kind: ActionKind = "command", k: int = 3) -> list[Match]:
        sig = signature(action, action_kind)
        out: list[Match] = []
        with self._lock:
            hit = self._by_sig.get(sig)
            if hit is not None:
                out.append(Match(record=hit.model_copy(), distance=0.0, exact=True))
            ids = list(self._vectors)
            mat = np.stack([self._vectors[i] for i in ids]) if ids else None
        if mat is None or self.embedder is None:
            return out
        q = self.embedder.embed([normalize(action, action_kind)])[0]
        sims = mat @ q
        order = [
            j for j in np.argsort(-sims)[: max(k, HUB_K) + 1] if not (hit is not None and ids[j] == hit.id)
        ]
        r_query = hubness(float(sims[j]) for j in order)
        scored = sorted(
            (adjusted_distance(float(sims[j]), r_query, self._hubs.get(ids[j], 0.0)), ids[j]) for j in order
        )[:k]
        for dist, rid in scored:
            rec = self._by_id.get(rid)
            if rec is not None:
                out.append(Match(record=rec.model_copy(), distance=dist, exact=False))
        return out

    def check_exact(self, action: str, *, action_kind: ActionKind = "command") -> Match | None:
        hit = self._by_sig.get(signature(action, action_kind))
        return Match(record=hit.model_copy(), distance=0.0, exact=True) if hit else None

    def record_outcome(self, action: str, *, ok: bool, action_kind: ActionKind = "command") -> None:
        with self._lock:
            counts = self._outcomes.setdefault(signature(action, action_kind), [0, 0])
            counts[1 if ok else 0] += 1

    def outcomes(self, action: str, *, action_kind: ActionKind = "command") -> tuple[int, int]:
        f, s = self._outcomes.get(signature(action, action_kind), [0, 0])
        return f, s

    def get(self, record_id: str) -> FailureRecord | None:
        rec = self._by_id.get(record_id)
        return rec.model_copy() if rec else None

    def list(self, *, limit: int = 100, offset: int = 0) -> list[FailureRecord]:
        with self._lock:
            recs = sorted(self._by_id.values(), key=lambda r: r.last_seen, reverse=True)
        return [r.model_copy() for r in recs[offset : offset + limit]]

    def forget(self, record_id: str) -> bool:
        with self._lock:
            rec = self._by_id.pop(record_id, None)
            if rec is None:
                return False
            self._by_sig.pop(rec.signature, None)
            self._vectors.pop(record_id, None)
            self._hubs.pop(record_id, None)
            return True

    def count(self) -> int:
        return len(self._by_id)
