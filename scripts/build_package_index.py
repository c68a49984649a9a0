"""Build the package-name snapshots shipped in task_orchestrator/packages/data/.

Input: tab-separated lists of registry project names with a header line, as in the
machine's package listings (``name, version, month, rank_among_15000_most_downloaded,
summary`` for PyPI; ``name, version, downloads_a_month, summary`` for npm). Any list in
that shape works, e.g. one exported from PyPI's BigQuery dataset.

Output (deterministic: the same input gives byte-identical files):

- ``pypi-names.gz``: every PyPI project name, normalised as PEP 503 says (lower case,
  runs of ``-_.`` as one ``-``), sorted, one per line. Looked up by binary search.
- ``pypi-recent.gz``: the names whose latest release is from the snapshot's last six
  months and that are not among the most downloaded (candidates for slopsquats).
- ``pypi-popular.tsv``: ``rank<TAB>name`` of the most downloaded projects (suggestions,
  typosquat checks).
- ``npm-popular.tsv``: ``rank<TAB>name`` of the most downloaded npm packages (the npm
  listing is partial, so it names what is popular, not everything that exists).
- ``index.json``: where the snapshot came from, its month, counts and checksums.

Refresh (the README says when it was last done)::

    python scripts/build_package_index.py --pypi pypi.tsv --npm npm.tsv
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "task_orchestrator" / "packages" / "data"
RECENT_MONTHS = 6
NPM_POPULAR = 20000


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        next(f)  # header
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def _month_index(month: str) -> int:
    year, mon = month[:7].split("-")
    return int(year) * 12 + int(mon) - 1


def _write_gz(path: Path, lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return hashlib.sha256(data).hexdigest()


def build_pypi(src: Path, out: Path) -> dict[str, object]:
    months: dict[str, str] = {}
    ranks: dict[str, int] = {}
    for row in _rows(src):
        name = normalise(row[0])
        if not name:
            continue
        month = row[2] if len(row) > 2 else ""
        if re.fullmatch(r"\d{4}-\d{2}", month) and month > months.get(name, ""):
            months[name] = month
        else:
            months.setdefault(name, "")
        if len(row) > 3 and row[3].strip().isdigit():
            ranks[name] = min(int(row[3]), ranks.get(name, 10**9))
    names = sorted(months)
    snapshot = max(m for m in months.values() if m)
    newest = _month_index(snapshot)
    recent = [
        n for n in names if months[n] and n not in ranks and newest - _month_index(months[n]) < RECENT_MONTHS
    ]
    popular = sorted(ranks, key=lambda n: (ranks[n], n))
    (out / "pypi-popular.tsv").write_text("".join(f"{ranks[n]}\t{n}\n" for n in popular), encoding="utf-8")
    return {
        "snapshot": snapshot,
        "names": len(names),
        "recent": len(recent),
        "recent_months": RECENT_MONTHS,
        "popular": len(popular),
        "names_sha256": _write_gz(out / "pypi-names.gz", names),
        "recent_sha256": _write_gz(out / "pypi-recent.gz", recent),
    }


def build_npm(src: Path, out: Path) -> dict[str, object]:
    downloads: dict[str, int] = {}
    for row in _rows(src):
        if len(row) > 2 and row[2].strip().isdigit():
            downloads[row[0].strip().lower()] = int(row[2])
    top = sorted(downloads, key=lambda n: (-downloads[n], n))[:NPM_POPULAR]
    (out / "npm-popular.tsv").write_text(
        "".join(f"{i}\t{n}\n" for i, n in enumerate(top, 1)), encoding="utf-8"
    )
    return {"popular": len(top)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pypi", type=Path, required=True, help="tab-separated PyPI project list")
    ap.add_argument("--npm", type=Path, help="tab-separated npm package list")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {"source": args.pypi.name, "pypi": build_pypi(args.pypi, args.out)}
    if args.npm:
        meta["npm_source"] = args.npm.name
        meta["npm"] = build_npm(args.npm, args.out)
    (args.out / "index.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
