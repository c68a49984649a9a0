"""Does a package an agent imports or installs exist, and is it the one it meant?

``imports_in`` reads every import of Python code in a text (fenced with any or no language
tag, or bare), ``check_import`` resolves one against the workspace's environment and the
registry snapshot, ``check_package`` judges a name about to be installed. Verdicts:

- ``stdlib``, ``local``, ``installed``, ``declared``: nothing to say;
- ``available``: on PyPI but not installed where the workspace runs (a note);
- ``typosquat``: an unpopular project one or two edits from a popular one (a warning);
- ``slopsquat``: a new, unpopular project whose name looks generated (a warning);
- ``missing``: on no registry: a hallucinated package (an error), with the closest real names;
- ``unknown``: the registry could not tell (an npm name offline, PyPI unreachable online).

Standard library only, so the command hook can load it for install commands.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from task_orchestrator.packages.aliases import IMPORT_TO_DIST
from task_orchestrator.packages.environment import Environment, environment_of, installed_here
from task_orchestrator.packages.index import (
    Suggestion,
    exists,
    is_recent,
    normalise,
    popular_rank,
    snapshot,
    squat_target,
    suggest,
)

__all__ = [
    "IMPORT_TO_DIST",
    "Environment",
    "PackageVerdict",
    "Suggestion",
    "check_import",
    "check_package",
    "environment_of",
    "imports_in",
    "python_fences",
    "snapshot",
    "suggest",
]

QUIET = frozenset({"stdlib", "local", "installed", "declared"})
SEVERITY = {
    "available": "info",
    "typosquat": "warning",
    "slopsquat": "warning",
    "unknown": "warning",
    "missing": "error",
}


class PackageVerdict:
    """What one imported or installed name is (a plain class: dataclasses cost the command
    hook ~7 ms to import)."""

    __slots__ = ("dist", "ecosystem", "imported", "name", "status", "suggestions")

    def __init__(
        self,
        name: str,
        status: str,
        dist: str = "",
        ecosystem: str = "pypi",
        suggestions: tuple[Suggestion, ...] = (),
        imported: bool = True,
    ) -> None:
        self.name = name  # as written: an import's top-level module, or a requirement's name
        self.status = status
        self.dist = dist  # the distribution it means, normalised
        self.ecosystem = ecosystem
        self.suggestions = suggestions
        self.imported = imported  # from an import (False: from an install command)

    def __repr__(self) -> str:
        return f"PackageVerdict({self.name!r}, {self.status!r}, dist={self.dist!r})"

    @property
    def severity(self) -> str | None:
        return SEVERITY.get(self.status)

    @property
    def quiet(self) -> bool:
        return self.status in QUIET

    def _what(self) -> str:
        return f"import {self.name!r}" if self.imported else f"{self.ecosystem} package {self.name!r}"

    def message(self) -> str:
        where = "PyPI" if self.ecosystem == "pypi" else "npm"
        month = snapshot()["pypi"]["snapshot"]  # type: ignore[index]
        dist = f" ({self.dist})" if self.imported and self.dist != normalise(self.name) else ""
        if self.status == "missing":
            project = f"a {where} project" + (f" (snapshot {month})" if self.ecosystem == "pypi" else "")
            if self.imported:
                return (
                    f"{self._what()}{dist} is not installed, not in the workspace and not "
                    f"{project}: likely a hallucinated package"
                )
            return f"{self._what()} is not {project}: likely a hallucinated package"
        if self.status == "typosquat":
            return (
                f"{self._what()}{dist} is an unpopular {where} project one or two edits from the "
                f"popular {self.suggestions[0].describe()}: possibly a typosquat"
            )
        if self.status == "slopsquat":
            return (
                f"{self._what()}{dist} is a new, little-used {where} project with a "
                "generated-looking name: possibly a slopsquat (a name registered because "
                "models invent it)"
            )
        if self.status == "available":
            return f"{self._what()}{dist} is on {where} but not installed in the workspace's environment"
        if self.status == "unknown":
            return f"{self._what()}: whether it exists on {where} could not be checked"
        return f"{self._what()}: {self.status}"

    def evidence(self) -> str:
        if not self.suggestions:
            return ""
        return "closest popular projects: " + ", ".join(
            f"{s.describe()} (download rank {s.rank})" for s in self.suggestions
        )

    def suggestion(self) -> str:
        if self.status == "available":
            return f"add {self.dist} to the project's dependencies and install it"
        if self.suggestions:
            names = ", ".join(s.describe() for s in self.suggestions)
            return f"did you mean {names}? (check the name before installing anything)"
        if self.status == "missing":
            return "use a real package, or write the code yourself"
        return ""


def _looks_generated(dist: str) -> bool:
    """Several plain words joined (``random-int-stats``): how invented names look."""
    words = dist.split("-")
    return len(words) >= 2 and all(w.isalpha() and len(w) >= 3 for w in words)


def _registry_verdict(name: str, dist: str, ecosystem: str, imported: bool) -> PackageVerdict:
    found = exists(dist, ecosystem)
    if found is None:
        if ecosystem == "npm":
            target = squat_target(dist, "npm")
            if target:
                return PackageVerdict(name, "typosquat", dist, ecosystem, (target,), imported)
        return PackageVerdict(name, "unknown", dist, ecosystem, (), imported)
    if not found:
        return PackageVerdict(
            name,
            "missing",
            dist,
            ecosystem,
            tuple(suggest(name if imported else dist, ecosystem=ecosystem)),
            imported,
        )
    if popular_rank(dist, ecosystem) is None:
        target = squat_target(dist, ecosystem)
        if target and target.dist != dist:
            return PackageVerdict(name, "typosquat", dist, ecosystem, (target,), imported)
        if ecosystem == "pypi" and is_recent(dist) and _looks_generated(dist):
            return PackageVerdict(
                name, "slopsquat", dist, ecosystem, tuple(suggest(dist, ecosystem=ecosystem)), imported
            )
    return PackageVerdict(name, "available", dist, ecosystem, (), imported)


def check_import(
    top: str, workspace: Path | str | None = None, env: Environment | None = None
) -> PackageVerdict:
    """The verdict on ``import top`` for code that runs in ``workspace``."""
    if top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__future__":
        return PackageVerdict(top, "stdlib")
    env = env if env is not None else environment_of(workspace)
    dist = IMPORT_TO_DIST.get(top) or normalise(top)
    if top in env.local:
        return PackageVerdict(top, "local", dist)
    if env.has_module(top) or installed_here(top):
        return PackageVerdict(top, "installed", dist)
    if dist in env.declared or normalise(top) in env.declared:
        return PackageVerdict(top, "declared", dist)
    return _registry_verdict(top, dist, "pypi", imported=True)


def check_imports(
    text: str, workspace: Path | str | None = None, skip: frozenset[str] | set[str] = frozenset()
) -> list[PackageVerdict]:
    """The verdict on every module the Python in ``text`` imports (``imports_in``), except
    those in ``skip``, judged in the environment of ``workspace`` (a folder that is not there:
    only ``VIRTUAL_ENV``/``CONDA_PREFIX`` and this interpreter)."""
    root = workspace if workspace and Path(workspace).is_dir() else None
    env = environment_of(root)
    return [check_import(top, env=env) for top in imports_in(text) if top not in skip]


def check_package(name: str, ecosystem: str = "pypi") -> PackageVerdict:
    """The verdict on installing ``name`` (a requirement's name, no version) from the registry."""
    dist = normalise(name) if ecosystem == "pypi" else name.lower()
    return _registry_verdict(name, dist, ecosystem, imported=False)


# -- reading code ----------------------------------------------------------------------------
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1", re.DOTALL | re.MULTILINE)
PYTHON_TAGS = frozenset(
    {"", "python", "py", "python3", "py3", "ipython", "ipython3", "pycon", "jupyter", "sage"}
)
_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:>>>[ \t]+|\.\.\.[ \t]+)?"
    r"((?:import[ \t]+[A-Za-z_]|from[ \t]+[A-Za-z_][\w.]*[ \t]+import\b).*)$",
    re.MULTILINE,
)
_AST_ONLY = 0x400  # ast.PyCF_ONLY_AST: a tree from compile() without importing ast
_FROM = re.compile(r"from[ \t]+([A-Za-z_][\w.]*)[ \t]+import[ \t]*(?:\(|\\)?")


def _tops_of(tree: Any) -> list[str]:
    import ast

    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module.split(".")[0])
    return out


def _line_imports(text: str) -> list[str]:
    """Imports on lines of text that is not (all) valid Python: prose, bare code, snippets."""
    out = []
    for m in _IMPORT_LINE.finditer(text):
        line = m.group(1).split("#", 1)[0].rstrip()
        if line.endswith(";"):
            continue  # Java, JavaScript
        try:
            out += _tops_of(compile(line, "<import>", "exec", _AST_ONLY))
        except (SyntaxError, ValueError):
            f = _FROM.match(line)  # from x import (  ... continued on the next lines
            if f:
                out.append(f.group(1).split(".")[0])
    return out


def python_fences(text: str) -> list[tuple[str, str]]:
    """(language tag, body) of every fenced block of the text."""
    return [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]


def imports_in(text: str) -> list[str]:
    """Top-level modules imported by the Python in ``text``, first seen first: fenced blocks
    tagged as Python or untagged (blocks tagged with another language are skipped), and
    import lines outside fences (bare code)."""
    found: list[str] = []
    for tag, body in python_fences(text):
        if tag not in PYTHON_TAGS:
            continue
        try:
            found += _tops_of(compile(body, "<code>", "exec", _AST_ONLY))
        except (SyntaxError, ValueError):
            found += _line_imports(body)
    found += _line_imports(_FENCE.sub("", text))
    return list(dict.fromkeys(t for t in found if t))
