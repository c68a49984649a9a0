"""The repository's Claude Code plugin (issue 33) is what the code defines: the committed
marketplace, manifest, hooks and MCP files are the ones scripts/build_plugin.py writes, the
hooks need no path of this machine, and the manifest carries the package's version."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from task_orchestrator._version import __version__

ROOT = Path(__file__).resolve().parent.parent


def _builder():
    spec = importlib.util.spec_from_file_location("build_plugin", ROOT / "scripts" / "build_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_plugin_is_what_the_code_defines():
    builder = _builder()
    for path, data in builder.files().items():
        assert path.exists(), f"{path} is missing: python scripts/build_plugin.py"
        assert path.read_text() == builder.render(data), f"{path} is stale: python scripts/build_plugin.py"


def test_the_plugin_hooks_find_the_client_on_path_and_fail_closed():
    hooks = json.loads((ROOT / "plugin" / "hooks" / "hooks.json").read_text())["hooks"]
    commands = [h["command"] for groups in hooks.values() for g in groups for h in g["hooks"]]
    assert commands and all(c.startswith("task-orchestrator-hook ") for c in commands)
    assert not any("/" in c.split(" || ")[0] for c in commands)  # no machine's path
    pre = next(h["command"] for g in hooks["PreToolUse"] for h in g["hooks"])
    assert pre.endswith("exit 2; }")  # a missing client refuses the call, with how to fix it


def test_the_manifests_carry_the_package_version():
    plugin = json.loads((ROOT / "plugin" / ".claude-plugin" / "plugin.json").read_text())
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    assert plugin["version"] == __version__ == market["plugins"][0]["version"]
    assert market["plugins"][0]["source"] == "./plugin" and plugin["name"] == market["plugins"][0]["name"]


def test_every_package_of_the_source_tree_is_in_the_wheel():
    """An editable install finds any folder; a wheel holds only the packages pyproject lists
    (task_orchestrator.risk.packs once went missing that way, caught by a uv tool install)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "task_orchestrator").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found <= listed, sorted(found - listed)


def test_the_wheel_holds_every_package_the_license_and_the_hook_client(tmp_path):
    """What `pip install`, `uv tool install` and `pipx install` put on a user's machine."""
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"  # a copy: the build leaves build/ and *.egg-info beside the sources
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / part, src / part)
    for part in ("task_orchestrator", "graphs", "nodes", "memory"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    build += ["-w", str(tmp_path), str(src)]
    out = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("task_orchestrator-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for package in (
        "task_orchestrator/risk/packs/git.py",
        "task_orchestrator/risk/shell.py",
        "task_orchestrator/memory/_decide.py",
        "task_orchestrator/graphs/guarded.py",
    ):
        assert package in names, package
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.endswith(".data/scripts/task-orchestrator-hook") for n in names)
