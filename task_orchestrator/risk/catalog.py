"""The gate's rules, by id: every finding names one, and a policy sets them by id.

Each rule has a stable id (``pack.name``), a level, a one-line reason and examples it must and
must not match; ``tests/test_rule_catalog.py`` runs them all. The packs (``risk/packs/``)
list the rules by domain; the structural rules' logic is in ``engine.py`` and the text
rules' patterns in ``text.py`` (``fallback`` text rules judge only a command the parser
could not read). Imported by ``explain``, policy checks and tests, never on a hook's path.
"""

from __future__ import annotations

__all__ = ["PACKS", "RULES", "Spec", "rule"]

PACKS = ("deletes", "git", "permissions", "system", "cloud", "network", "interpreters", "installs")


class Spec:
    """One rule: id, level, reason, examples; ``repo``: the examples need a workspace that
    is a git repository with uncommitted work ("dirty") or none ("clean"); ``text``: a
    pattern rule of ``text.py`` (its examples are matched against the pattern)."""

    __slots__ = ("fallback", "id", "level", "matches", "pack", "passes", "reason", "repo", "text")

    def __init__(self, id, level, reason, matches, passes, repo=None, text=False, pack=""):
        self.id, self.level, self.reason = id, level, reason
        self.matches, self.passes = tuple(matches), tuple(passes)
        self.repo, self.text, self.pack, self.fallback = repo, text, pack, False

    def __repr__(self) -> str:
        return f"Spec({self.id!r}, {self.level!r})"


def rule(id: str, level: str, reason: str, matches=(), passes=(), repo: str | None = None) -> Spec:
    return Spec(id, level, reason, matches, passes, repo)


def text_rule(id: str, matches=(), passes=()) -> Spec:
    """A pattern rule of ``text.py``, by id: its level and reason come from there."""
    return Spec(id, "", "", matches, passes, text=True)


def _build() -> dict[str, Spec]:
    import importlib

    from task_orchestrator.risk.text import RULES as TEXT
    from task_orchestrator.risk.text import SUPERSEDED

    by_id = {r.id: r for r in TEXT}
    out: dict[str, Spec] = {}
    for pack in PACKS:
        module = importlib.import_module(f"task_orchestrator.risk.packs.{pack}")
        for spec in module.RULES:
            if spec.id in out:
                raise ValueError(f"rule id {spec.id} is listed twice")
            spec.pack = pack
            if spec.text:
                pattern = by_id[spec.id]
                spec.level, spec.reason = pattern.level, pattern.name
                spec.fallback = pattern.name in SUPERSEDED
            out[spec.id] = spec
    missing = set(by_id) - set(out)
    if missing:
        raise ValueError(f"text rules with no catalog entry: {', '.join(sorted(missing))}")
    return out


_BUILT: dict[str, Spec] | None = None
TYPE_CHECKING = False
if TYPE_CHECKING:
    RULES: dict[str, Spec]


def __getattr__(name: str):
    """``RULES`` is built on first use: the packs import ``rule`` from here on a hook's path."""
    global _BUILT
    if name == "RULES":
        if _BUILT is None:
            _BUILT = _build()
        return _BUILT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
