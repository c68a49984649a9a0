"""Every rule of the gate has a stable id, a level, a reason and examples, and the examples
hold: each command a rule must match produces a finding with that rule's id at its level,
each command it must not match does not."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from task_orchestrator.risk import text
from task_orchestrator.risk.catalog import PACKS, RULES
from task_orchestrator.risk.text import judge

WORKSPACE = "/home/dev/project"
SOURCES = ["engine.py", "installs.py", "text.py", "paths.py", *(f"packs/{p}.py" for p in PACKS)]


@pytest.fixture(autouse=True)
def _home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/dev")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-config")  # no user policy


def _git(path: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def _repo(root: Path, dirty: bool) -> str:
    from task_orchestrator.risk.packs import git as git_pack

    git_pack._STATE_CACHE.clear()
    _git(root, "init", "-q")
    (root / "a.txt").write_text("a\n")
    (root / ".gitignore").write_text(".env\n")
    _git(root, "add", "a.txt", ".gitignore")
    _git(root, "commit", "-qm", "a")
    if dirty:
        (root / "a.txt").write_text("stashed\n")
        _git(root, "stash", "-q")
        (root / "a.txt").write_text("changed\n")
        (root / "notes.txt").write_text("mine\n")
        (root / ".env").write_text("TOKEN=x\n")
    return str(root)


def _where(spec, tmp_path, monkeypatch) -> str:
    if spec.repo == "dirty":
        return _repo(tmp_path, dirty=True)
    if spec.repo == "clean":
        return _repo(tmp_path, dirty=False)
    if spec.repo == "broken-snapshot":
        import task_orchestrator.packages as packages

        def broken(*a, **k):
            raise OSError("snapshot unreadable")

        monkeypatch.setattr(packages, "check_package", broken)
    return WORKSPACE


STRUCTURAL = [s for s in RULES.values() if not s.text]
PATTERNS = [s for s in RULES.values() if s.text]


def test_every_rule_has_an_id_a_level_a_reason_and_examples_both_ways():
    for spec in RULES.values():
        assert re.match(r"^[a-z]+\.[a-z0-9-]+$", spec.id), spec.id
        assert spec.pack in PACKS
        assert spec.level in ("low", "medium", "high", "critical"), spec.id
        assert spec.reason, spec.id
        assert spec.matches and spec.passes, f"{spec.id} needs examples it matches and examples it passes"


def test_every_rule_id_the_code_emits_is_in_the_catalog():
    root = Path(text.__file__).parent
    src = "".join((root / name).read_text() for name in SOURCES)
    emitted = set(
        re.findall(
            r'"((?:deletes|git|permissions|system|cloud|network|credentials|exec|'
            r'interpreters|installs|analysis)\.[a-z0-9-]+)"',
            src,
        )
    )
    assert emitted, "no rule ids found in the sources"
    assert emitted <= set(RULES), sorted(emitted - set(RULES))
    assert {r.id for r in text.RULES} <= set(RULES)


@pytest.mark.parametrize("spec", STRUCTURAL, ids=[s.id for s in STRUCTURAL])
def test_structural_rule_examples(spec, tmp_path, monkeypatch):
    cwd = _where(spec, tmp_path, monkeypatch)
    for example in spec.matches:
        found = judge(example, cwd, policy=False).findings
        hits = [f for f in found if f[2] == spec.id]
        assert hits, f"{spec.id} should match {example[:80]!r}; found {found}"
        assert all(level == spec.level for level, _, _ in hits), (spec.id, hits)
    for example in spec.passes:
        found = judge(example, cwd, policy=False).findings
        assert not [f for f in found if f[2] == spec.id], f"{spec.id} should not match {example!r}: {found}"


@pytest.mark.parametrize("spec", PATTERNS, ids=[s.id for s in PATTERNS])
def test_text_rule_examples(spec):
    pattern = next(r for r in text.RULES if r.id == spec.id)
    for example in spec.matches:
        assert text.text_level(example, [pattern])[1], f"{spec.id} should match {example!r}"
    for example in spec.passes:
        assert not text.text_level(example, [pattern])[1], f"{spec.id} should not match {example!r}"
