"""What exists on the package registries: the shipped snapshot, popularity, suggestions.

The snapshot (``data/``, built by ``scripts/build_package_index.py``) holds every PyPI
project name, sorted and normalised, searched by bisection over the decompressed bytes
(about 50 ms to load once per process, microseconds per lookup), the most downloaded PyPI
and npm names with their ranks, and PyPI's recently released, unpopular names.

``TASK_ORCHESTRATOR_PACKAGE_INDEX=online`` asks the registries' JSON APIs about names the
snapshot does not know (newer than it, or npm names, which the snapshot only ranks), with
answers cached in ``<data dir>/package-cache.json``. Standard library only: the command
hook loads this module for install commands and Python writes.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import time
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

from task_orchestrator.packages.aliases import IMPORT_TO_DIST

__all__ = [
    "Suggestion",
    "exists",
    "is_recent",
    "normalise",
    "popular_rank",
    "snapshot",
    "squat_target",
    "suggest",
]

DATA = Path(__file__).resolve().parent / "data"
_SEP = re.compile(r"[-_.]+")
_ONLINE_TIMEOUT = 3.0
_CACHE_TTL = {True: 30 * 86400, False: 86400}  # a name that exists stays; a missing one may come


def normalise(name: str) -> str:
    """PEP 503: lower case, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    return _SEP.sub("-", name.strip().lower())


def _plain(name: str) -> str:
    return name.replace("-", "")


@lru_cache(maxsize=1)
def snapshot() -> dict[str, object]:
    """Where the snapshot came from and its month (``index.json``)."""
    return json.loads((DATA / "index.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=2)
def _sorted_names(file: str) -> bytes | mmap.mmap:
    """The decompressed name list; kept decompressed in the user's cache directory and mapped
    from there, so a hook process pays microseconds instead of decompressing it again."""
    packed = DATA / file
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "task-orchestrator"
    meta = snapshot()["pypi"]
    digest = meta["recent_sha256" if "recent" in file else "names_sha256"]  # type: ignore[index]
    plain = cache / f"{file.removesuffix('.gz')}-{str(digest)[:16]}.txt"
    try:
        with plain.open("rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        pass
    import gzip

    data = gzip.decompress(packed.read_bytes())
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = plain.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, plain)
    except OSError:
        pass  # read-only home: decompress in each process
    return data


def _bisect(blob: bytes | mmap.mmap, key: bytes) -> bool:
    """Is ``key`` one of the newline-terminated, sorted lines of ``blob``?"""
    lo, hi = 0, len(blob)
    while lo < hi:
        mid = (lo + hi) // 2
        start = blob.rfind(b"\n", 0, mid) + 1
        end = blob.find(b"\n", start)
        line = blob[start:end]
        if line == key:
            return True
        if line < key:
            lo = end + 1
        else:
            hi = start
    return False


@lru_cache(maxsize=2)
def _ranks(ecosystem: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (DATA / f"{ecosystem}-popular.tsv").read_text(encoding="utf-8").splitlines():
        rank, _, name = line.partition("\t")
        out.setdefault(name, int(rank))
    return out


def popular_rank(name: str, ecosystem: str = "pypi") -> int | None:
    """The download rank of a popular project (1 = most downloaded), else None."""
    key = normalise(name) if ecosystem == "pypi" else name.lower()
    return _ranks(ecosystem).get(key)


def is_recent(name: str) -> bool:
    """A PyPI project outside the most downloaded whose latest release is from the snapshot's
    last months: where new, unvetted names (and slopsquats) are."""
    return _bisect(_sorted_names("pypi-recent.gz"), normalise(name).encode())


# -- existence ----------------------------------------------------------------------------
def _online() -> bool:
    return os.environ.get("TASK_ORCHESTRATOR_PACKAGE_INDEX", "").strip().lower() == "online"


def _cache_path() -> Path:
    base = os.environ.get("TASK_ORCHESTRATOR_DATA_DIR") or "~/.task-orchestrator"
    return Path(base).expanduser() / "package-cache.json"


def _cached(key: str) -> bool | None:
    try:
        entry = json.loads(_cache_path().read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError):
        return None
    if not entry or time.time() - entry[1] > _CACHE_TTL[bool(entry[0])]:
        return None
    return bool(entry[0])


def _remember(key: str, found: bool) -> None:
    path = _cache_path()
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    cache[key] = [found, int(time.time())]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs a repeated question


def _ask_registry(ecosystem: str, name: str) -> bool | None:
    """True/False from the registry's JSON API, None if it could not be asked."""
    import urllib.error
    import urllib.parse
    import urllib.request

    key = f"{ecosystem}:{name}"
    cached = _cached(key)
    if cached is not None:
        return cached
    if ecosystem == "pypi":
        base = os.environ.get("TASK_ORCHESTRATOR_PYPI_URL", "https://pypi.org").rstrip("/")
        url = f"{base}/pypi/{urllib.parse.quote(name)}/json"
    else:
        base = os.environ.get("TASK_ORCHESTRATOR_NPM_URL", "https://registry.npmjs.org")
        url = f"{base.rstrip('/')}/{urllib.parse.quote(name, safe='@')}"
    try:
        with urllib.request.urlopen(url, timeout=_ONLINE_TIMEOUT) as resp:
            found = resp.status == 200
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            return None
        found = False
    except (OSError, ValueError):
        return None
    _remember(key, found)
    return found


def exists(name: str, ecosystem: str = "pypi") -> bool | None:
    """Is ``name`` a project on the registry? None when that cannot be known: an npm name
    outside the popular list offline, or the registry unreachable in online mode (which asks
    about the names the snapshot lacks)."""
    if ecosystem == "pypi":
        key = normalise(name)
        if _bisect(_sorted_names("pypi-names.gz"), key.encode()):
            return True
        return _ask_registry("pypi", key) if _online() else False
    key = name.lower()
    if key in _ranks("npm"):
        return True
    return _ask_registry("npm", key) if _online() else None


# -- suggestions ----------------------------------------------------------------------------
class Suggestion(tuple[str, str, int]):
    """(distribution, the name to write, download rank) of a popular, real project."""

    __slots__ = ()

    @property
    def dist(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]

    @property
    def rank(self) -> int:
        return self[2]

    def describe(self) -> str:
        return self.name if normalise(self.name) == self.dist else f"{self.name} ({self.dist})"


def _grams(s: str) -> set[str]:
    s = f"^{s}$"
    return {s[i : i + 3] for i in range(len(s) - 2)}


@lru_cache(maxsize=2)
def _candidates(ecosystem: str) -> tuple[dict[str, tuple[str, str, int]], dict[str, list[str]]]:
    """Popular names by comparable key -> (dist, name to write, rank), and a trigram index."""
    ranks = _ranks(ecosystem)
    keys: dict[str, tuple[str, str, int]] = {n: (n, n, r) for n, r in ranks.items()}
    if ecosystem == "pypi":
        for imp, dist in IMPORT_TO_DIST.items():
            keys[normalise(imp)] = (dist, imp, ranks.get(dist, len(ranks) + 1))
    grams: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        for g in _grams(_plain(key)):
            grams[g].append(key)
    return keys, grams


def _distance(a: str, b: str, cap: int = 3) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment), capped."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    before: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, before[j - 2] + 1)
            cur[j] = v
        if min(cur) > cap:
            return cap + 1
        before, prev = prev, cur
    return min(prev[-1], cap + 1)


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"


def _one_edit(q: str) -> set[str]:
    out = set()
    for i in range(len(q) + 1):
        for ch in _ALPHABET:
            out.add(q[:i] + ch + q[i:])
            if i < len(q):
                out.add(q[:i] + ch + q[i + 1 :])
        if i < len(q):
            out.add(q[:i] + q[i + 1 :])
        if i < len(q) - 1:
            out.add(q[:i] + q[i + 1] + q[i] + q[i + 2 :])
    return out


POPULARITY_WEIGHT = 0.35  # chosen on the typo prompts; cross-validated in package_check.py


def suggest(
    name: str, n: int = 3, ecosystem: str = "pypi", popularity_weight: float = POPULARITY_WEIGHT
) -> list[Suggestion]:
    """The popular real projects ``name`` most likely meant, best first.

    One or two edits away comes first (a typo), then names that share a long part or the
    start with ``name`` (``chartplotlib`` -> matplotlib), more popular first among equals.
    """
    import difflib
    import heapq

    keys, grams = _candidates(ecosystem)
    q = normalise(name) if ecosystem == "pypi" else name.lower()
    qp = _plain(q)
    counts: Counter[str] = Counter()
    qgrams = _grams(qp)
    for g in qgrams:
        counts.update(grams.get(g, ()))
    need = max(2, len(qgrams) // 4)
    # the 200 sharing most trigrams, ties by name: the same answer whatever the hash seed
    pool = {k for k, c in heapq.nsmallest(200, counts.items(), key=lambda kc: (-kc[1], kc[0])) if c >= need}
    pool |= {e for e in _one_edit(q) if e in keys}
    total = len(_ranks(ecosystem)) + 2
    best: dict[str, tuple[tuple[float, ...], Suggestion]] = {}
    for key in pool:
        dist, shown, rank = keys[key]
        kp = _plain(key)
        if key == q or kp == qp:
            continue
        d = _distance(qp, kp)
        if d <= 2:
            order: tuple[float, ...] = (0, d, rank)
        else:
            sm = difflib.SequenceMatcher(None, qp, kp, autojunk=False)
            common = sm.find_longest_match(0, len(qp), 0, len(kp)).size
            ratio = sm.ratio()
            if common < 3 and ratio < 0.6:
                continue
            prefix = next(
                (i for i, (a, b) in enumerate(zip(qp, kp, strict=False)) if a != b), min(len(qp), len(kp))
            )
            similarity = max(common / len(kp), ratio, prefix / len(kp) if prefix >= 3 else 0.0)
            popularity = 1 - math.log(rank) / math.log(total)
            order = (1, -(similarity + popularity_weight * popularity), rank)
        if dist not in best or order < best[dist][0]:
            best[dist] = (order, Suggestion((dist, shown, rank)))
    return [s for _, s in sorted(best.values())[:n]]


def squat_target(name: str, ecosystem: str = "pypi") -> Suggestion | None:
    """The popular project an unpopular ``name`` imitates by one or two edits, if any
    (``reqeusts`` -> requests); None for popular names and for short ones, where one edit
    makes a different, legitimate word. The imitated project must be among the 1,000 most
    downloaded, or the 5,000 when the look-alike is a recent release."""
    q = normalise(name) if ecosystem == "pypi" else name.lower()
    if q in _ranks(ecosystem) or len(_plain(q)) < 5:
        return None
    top = suggest(q, n=1, ecosystem=ecosystem)
    if not top:
        return None
    best = top[0]
    forms = {_plain(best.dist), _plain(normalise(best.name) if ecosystem == "pypi" else best.name)}
    d = min(_distance(_plain(q), form) for form in forms)
    limit = 1 if len(_plain(q)) < 9 else 2
    # squatters imitate the most downloaded names; a less popular look-alike counts when
    # the imitation is itself new (an old project a letter away is usually a real one)
    popular_enough = best.rank <= 1000 or (best.rank <= 5000 and ecosystem == "pypi" and is_recent(q))
    return best if d <= limit and popular_enough else None
