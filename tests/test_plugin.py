"""The repository's Claude Code plugin (issue 33) is what the code defines: the committed
marketplace, manifest, hooks and MCP files are the ones scripts/build_plugin.py writes, the
hooks need no path of this machine, and the manifest carries the package's version."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install`, `uv tool install` and `pipx install` build from this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: the build leaves build/ and *.egg-info beside the sources
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / part, src / part)
    for part in ("task_orchestrator", "graphs", "nodes", "memory"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    build += ["-w", str(tmp), str(src)]
    out = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return next(tmp.glob("task_orchestrator-*.whl"))


def test_the_wheel_holds_every_package_the_license_and_the_hook_client(wheel):
    """What `pip install`, `uv tool install` and `pipx install` put on a user's machine."""
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


def test_a_wheel_install_runs_doctor_demo_and_denies_from_outside_the_repository(wheel, tmp_path):
    """The wheel installed into its own virtualenv (its dependencies read from this one's
    site-packages, so nothing is downloaded), used from a folder that is not the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # this environment's packages after the wheel's own; its .pth files (the editable install
    # of the checkout) are not read from a folder a .pth adds
    Path(site, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index"]
    out = subprocess.run([*pip, "--compile", str(wheel)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    away, home = tmp_path / "elsewhere", tmp_path / "home"
    away.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASK_ORCHESTRATOR_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(home),
        PATH=f"{venv / 'bin'}:/usr/bin:/bin",
        TASK_ORCHESTRATOR_DATA_DIR=str(tmp_path / "data"),
    )
    env.pop("CLAUDE_CODE_BIN", None)

    def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(argv), cwd=away, env=env, input=stdin, capture_output=True, text=True, timeout=300
        )

    try:
        where = run("python", "-c", "import task_orchestrator; print(task_orchestrator.__file__)")
        assert where.stdout.startswith(site), where.stdout + where.stderr  # the wheel, not the checkout
        doctor = run("task-orchestrator", "doctor", "--json")
        checks = {c["check"]: c for c in json.loads(doctor.stdout)}
        assert checks["cli"]["state"] == "ok" and str(venv) in checks["cli"]["what"]
        assert checks["bytecode"]["state"] == "ok", checks["bytecode"]
        assert checks["hook client"]["state"] == "ok" and checks["guard service"]["state"] == "ok"
        assert checks["hooks"]["state"] == "MISS" and "claude plugin install" in checks["hooks"]["fix"]
        demo = run("task-orchestrator", "demo")
        assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
        assert "succeeded" in demo.stdout
        event = {
            "session_id": "wheel",
            "transcript_path": "",
            "cwd": str(away),
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_input": {"command": "rm -rf ~"},
        }
        hook = run("task-orchestrator-hook", "pre-tool-use", "0.8", stdin=json.dumps(event))
        answer = json.loads(hook.stdout)["hookSpecificOutput"]
        assert answer["permissionDecision"] == "deny", hook.stdout
        event["tool_input"] = {"command": "ls"}
        hook = run("task-orchestrator-hook", "pre-tool-use", "0.8", stdin=json.dumps(event))
        assert "deny" not in hook.stdout and hook.returncode == 0, hook.stdout + hook.stderr
    finally:
        run("task-orchestrator", "guard", "stop")
