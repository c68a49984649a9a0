"""Hallucinated packages: the shipped snapshot, reading code, environments, verdicts, the
install guard at PreToolUse, Write advice and the online check (a loopback registry)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from task_orchestrator import hooks
from task_orchestrator.packages import check_import, check_package, imports_in, index

ROOT = Path(__file__).resolve().parents[1]
PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def _pip_layout(site: Path, top: str, dist: str) -> None:
    (site / top).mkdir(parents=True)
    (site / top / "__init__.py").write_text("")
    (site / f"{dist}-1.0.dist-info").mkdir()
    (site / f"{dist}-1.0.dist-info" / "top_level.txt").write_text(top + "\n")


@pytest.fixture
def no_index_env(monkeypatch):
    """This machine's own pip settings (a wheel folder) are not the user's package index."""
    for var in (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "UV_INDEX_URL",
        "UV_INDEX",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "TASK_ORCHESTRATOR_PACKAGE_INDEX",
    ):
        monkeypatch.delenv(var, raising=False)


# -- the shipped snapshot ------------------------------------------------------------------------
def test_the_snapshot_knows_real_projects_and_not_invented_ones():
    assert index.exists("numpy")
    assert index.exists("Flask_SQLAlchemy")  # normalised as PEP 503
    assert index.exists("random_int_stats") is False
    assert index.snapshot()["pypi"]["snapshot"] == "2026-11"


def test_the_snapshot_files_are_what_the_build_script_makes(tmp_path):
    # the shipped files match their recorded checksums, so a refresh cannot half-land
    import gzip
    import hashlib

    meta = json.loads((index.DATA / "index.json").read_text())
    data = gzip.decompress((index.DATA / "pypi-names.gz").read_bytes())
    assert hashlib.sha256(data).hexdigest() == meta["pypi"]["names_sha256"]
    assert data.count(b"\n") == meta["pypi"]["names"]


@pytest.mark.parametrize(
    ("typo", "real"),
    [
        ("numpyy", "numpy"),
        ("matplotib", "matplotlib"),
        ("pnadas", "pandas"),
        ("reqeusts", "requests"),
        ("sklearnn", "scikit-learn"),
        ("chartplotlib", "matplotlib"),
    ],
)
def test_suggestions_name_the_popular_real_library_first(typo, real):
    assert index.suggest(typo)[0].dist == real


def test_an_import_alias_is_suggested_as_it_is_written():
    # `import sklearnn` should become `import sklearn`, from the distribution scikit-learn
    top = index.suggest("sklearnn")[0]
    assert (top.name, top.dist) == ("sklearn", "scikit-learn")
    assert top.describe() == "sklearn (scikit-learn)"


# -- reading code ----------------------------------------------------------------------------------
def test_imports_are_read_from_every_kind_of_code():
    text = (
        "Bare code first:\n"
        "import numpy as np\n"
        "from foo.bar import (x,\n    y)\n"
        "```js\nimport React from 'react'\nimport lodash;\n```\n"
        "```\nimport requests\ndef broken(:\n```\n"
        "```python\nimport json\nfrom statx import mean\n```\n"
        ">>> import pandas\n"
        "If the import fails, it falls back to matplotlib.\n"
        "import java.util.List;\n"
    )
    assert imports_in(text) == ["requests", "json", "statx", "numpy", "foo", "pandas"]


# -- environments ----------------------------------------------------------------------------------
def test_a_package_in_the_workspace_venv_is_installed(tmp_path, no_index_env):
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _pip_layout(tmp_path / ".venv" / "lib" / PY / "site-packages", "seaborn", "seaborn")
    assert check_import("seaborn", tmp_path).status == "installed"
    assert check_import("seaborn", tmp_path / "elsewhere").status == "available"


def test_virtual_env_and_poetry_environments_are_found(tmp_path, monkeypatch, no_index_env):
    venv = tmp_path / "active"
    _pip_layout(venv / "lib" / PY / "site-packages", "cv2", "opencv_python")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    assert check_import("cv2", None).status == "installed"
    monkeypatch.delenv("VIRTUAL_ENV")
    ws = tmp_path / "proj"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[tool.poetry]\nname = "My Proj"\n')
    poetry = tmp_path / "poetry"
    _pip_layout(poetry / "my_proj-AbC123-py3.11" / "lib" / PY / "site-packages", "polars", "polars")
    monkeypatch.setenv("POETRY_VIRTUALENVS_PATH", str(poetry))
    assert check_import("polars", ws).status == "installed"


def test_declared_dependencies_and_own_modules_are_not_flagged(tmp_path, no_index_env):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["scikit-learn>=1.4"]\n'
        '[dependency-groups]\ndev = ["pytest-xdist"]\n'
    )
    (tmp_path / "requirements-dev.txt").write_text("# tools\nBeautifulSoup4==4.12\n-e .\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers_zz.py").write_text("")
    for top, status in [
        ("sklearn", "declared"),
        ("xdist", "declared"),
        ("bs4", "declared"),
        ("helpers_zz", "local"),
        ("json", "stdlib"),
    ]:
        assert check_import(top, tmp_path).status == status, top


# -- verdicts --------------------------------------------------------------------------------------
def test_verdicts_missing_available_and_typosquat(tmp_path, no_index_env):
    missing = check_import("random_int_stats", tmp_path)
    assert (missing.status, missing.severity) == ("missing", "error")
    assert "likely a hallucinated package" in missing.message()
    available = check_import("seaborn", tmp_path)
    assert (available.status, available.severity) == ("available", "info")
    squat = check_package("scklearn")  # on PyPI: an unpopular look-alike of sklearn
    assert (squat.status, squat.suggestions[0].name) == ("typosquat", "sklearn")
    assert check_package("datatable").status == "available"  # an old, real project a letter away


# -- the install guard -----------------------------------------------------------------------------
def _pre(command, tmp_path, **env):
    config = hooks.HookConfig({"TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"), **env})
    event = {
        "tool_name": "Bash",
        "tool_input": {"command": command},
        "cwd": str(tmp_path),
        "session_id": "s1",
        "hook_event_name": "PreToolUse",
    }
    out = hooks.pre_tool_use(event, config)
    spec = (out or {}).get("hookSpecificOutput", {})
    return spec.get("permissionDecision", "allow"), spec.get("permissionDecisionReason", "")


@pytest.mark.parametrize(
    ("command", "decision", "mentions"),
    [
        ("pip install numpyy", "deny", "did you mean numpy"),
        ("cd sub && python3 -m pip install -U 'requests[socks]>=2' reqeusts", "deny", "requests"),
        ("uv add random-int-stats", "deny", "hallucinated"),
        ("poetry add --group dev scklearn", "ask", "sklearn (scikit-learn)"),
        ("npm i -D expresss", "ask", "express"),
        ("pip install -i https://pypi.corp.example/simple corp-tool-zz", "ask", "another package index"),
    ],
)
def test_installs_of_names_that_do_not_exist_are_stopped(command, decision, mentions, tmp_path, no_index_env):
    (tmp_path / "sub").mkdir()
    got, reason = _pre(command, tmp_path)
    assert got == decision
    assert mentions in reason


@pytest.mark.parametrize(
    "command",
    [
        "pip install -e .",
        "pip install -r requirements.txt",
        "pip install pytest==8.3 'numpy<3'",
        "python -m pip install git+https://github.com/psf/requests",
        "npm install",
        "npm install lodash",
        "uv pip install ./dist/pkg-1.0-py3-none-any.whl",
        "pip install --upgrade pip setuptools wheel",
        "pipx install ruff",
        "yarn add react react-dom",
        "pip install seaborn",
    ],
)
def test_installs_of_real_packages_pass(command, tmp_path, no_index_env):
    assert _pre(command, tmp_path)[0] == "allow"


def test_a_local_wheel_folder_serves_names_pypi_lacks(tmp_path, no_index_env):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "corp_tool_zz-1.0-py3-none-any.whl").write_text("")
    assert _pre(f"pip install --find-links {wheels} corp-tool-zz", tmp_path)[0] == "allow"
    assert _pre(f"pip install --find-links {wheels} corp-tool-yy", tmp_path)[0] == "deny"


# -- Write advice ----------------------------------------------------------------------------------
def test_a_python_write_with_a_hallucinated_import_gets_advice_not_a_denial(tmp_path, no_index_env):
    (tmp_path / "utils_zz.py").write_text("")
    config = hooks.HookConfig({"TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")})
    content = "import numpyy\nimport utils_zz\nimport json\n"
    event = {
        "tool_name": "Write",
        "cwd": str(tmp_path),
        "session_id": "s1",
        "tool_input": {"file_path": str(tmp_path / "app.py"), "content": content},
    }
    spec = hooks.pre_tool_use(event, config)["hookSpecificOutput"]
    assert "permissionDecision" not in spec
    assert "'numpyy'" in spec["additionalContext"]
    assert "did you mean numpy" in spec["additionalContext"]
    assert "utils_zz" not in spec["additionalContext"]
    event["tool_input"] = {"file_path": str(tmp_path / "notes.md"), "content": content}
    assert hooks.pre_tool_use(event, config) is None


# -- online check ------------------------------------------------------------------------------------
class _Registry(BaseHTTPRequestHandler):
    known: ClassVar[set[str]] = {"brand-new-project-zz"}
    asked: ClassVar[list[str]] = []

    def do_GET(self):  # the http.server API
        name = self.path.split("/")[2]
        _Registry.asked.append(name)
        self.send_response(200 if name in self.known else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_online_mode_asks_pypi_about_names_newer_than_the_snapshot(tmp_path, monkeypatch, no_index_env):
    server = HTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TASK_ORCHESTRATOR_PACKAGE_INDEX", "online")
    monkeypatch.setenv("TASK_ORCHESTRATOR_PYPI_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("TASK_ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    try:
        assert check_package("brand-new-project-zz").status == "available"
        assert check_package("never-registered-zz").status == "missing"
        assert check_package("numpy").status == "available"  # in the snapshot: not asked
        assert _Registry.asked == ["brand-new-project-zz", "never-registered-zz"]
    finally:
        server.shutdown()
        server.server_close()
    # answers are cached: with the registry gone, the same names still have their verdicts
    assert check_package("brand-new-project-zz").status == "available"
    assert check_package("never-registered-zz").status == "missing"
    # a name never asked, with the registry unreachable, is unknown (a warning), not missing
    assert check_package("other-unasked-zz").status == "unknown"


# -- the Stop hook -----------------------------------------------------------------------------------
def _transcript(tmp_path, final):
    lines = [
        {"type": "user", "cwd": str(tmp_path), "message": {"role": "user", "content": "help"}},
        {
            "type": "assistant",
            "cwd": str(tmp_path),
            "message": {"role": "assistant", "content": [{"type": "text", "text": final}]},
        },
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return {"hook_event_name": "Stop", "transcript_path": str(path), "cwd": str(tmp_path)}


def test_the_stop_hook_blocks_a_final_answer_that_imports_a_package_that_does_not_exist(tmp_path):
    out = hooks.stop(_transcript(tmp_path, "Use this:\n```python\nimport random_int_stats\n```"))
    assert out["decision"] == "block"
    assert "contradicted by the package registry" in out["reason"]
    assert "random_int_stats" in out["reason"]


def test_the_stop_hook_mentions_a_typosquat_and_lets_a_real_package_pass(tmp_path):
    out = hooks.stop(_transcript(tmp_path, "Done:\n```python\nimport scklearn\nimport seaborn\n```"))
    assert "decision" not in out
    assert "scklearn" in out["systemMessage"]
    assert "seaborn" not in out["systemMessage"]
    assert hooks.stop(_transcript(tmp_path, "Done:\n```python\nimport json, seaborn\n```")) is None


@pytest.fixture
def broken_snapshot(tmp_path, monkeypatch):
    caches = (index.snapshot, index._sorted_names, index._ranks, index._candidates)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(index, "DATA", tmp_path / "gone")
    yield
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


def test_a_broken_snapshot_never_bricks_installs_and_keeps_critical_denials(
    tmp_path, broken_snapshot, no_index_env
):
    assert _pre("pip install numpyy", tmp_path)[0] == "allow"
    assert _pre("pip install numpyy && rm -rf ~", tmp_path)[0] == "deny"
    config = hooks.HookConfig({"TASK_ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")})
    event = {
        "tool_name": "Write",
        "cwd": str(tmp_path),
        "tool_input": {"file_path": str(tmp_path / "a.py"), "content": "import numpyy\n"},
    }
    assert hooks.pre_tool_use(event, config) is None  # no advice, no crash
