from __future__ import annotations

import os

import pytest
from _servers import PrivatePostgres, start_chroma

from task_orchestrator import Settings, providers
from task_orchestrator.memory import InMemoryFailureMemory
from task_orchestrator.settings import ModelPrice


@pytest.fixture(autouse=True, scope="session")
def _private_home(tmp_path_factory):
    """Nothing a test (or a library it loads) writes under ~ lands in the real home."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for var in (
        "TASK_ORCHESTRATOR_DATA_DIR",
        "TASK_ORCHESTRATOR_POSTGRES_URL",
        "TASK_ORCHESTRATOR_CHROMA_URL",
    ):
        mp.delenv(var, raising=False)
    yield home
    mp.undo()


@pytest.fixture(autouse=True)
def _no_real_providers(monkeypatch):
    """Constructing a real Gemini/OpenAI model fails in tests; keys are removed too."""
    monkeypatch.setattr(providers, "ALLOW_REAL_PROVIDERS", False)
    for var in ("GOOGLE_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def settings(tmp_path) -> Settings:
    ws = tmp_path / "ws"
    ws.mkdir()
    return Settings(
        data_dir=tmp_path / "data",
        workspace=ws,
        prices={"scripted-model": ModelPrice(input=1.0, output=2.0)},
        _env_file=None,
    )


@pytest.fixture
def memory() -> InMemoryFailureMemory:
    return InMemoryFailureMemory()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A private PostgreSQL server for the session (or .ci/run's, by its URL)."""
    server = PrivatePostgres(tmp_path_factory.mktemp("postgres"))
    try:
        server.start()
    except (FileNotFoundError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database for one test."""
    return postgres_server.new_database()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A Chroma server for the session (or .ci/run's, by TASK_ORCHESTRATOR_TEST_CHROMA_URL)."""
    if os.environ.get("TASK_ORCHESTRATOR_TEST_CHROMA_URL"):
        yield os.environ["TASK_ORCHESTRATOR_TEST_CHROMA_URL"]
        return
    try:
        url, proc = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    except (FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield url
    proc.terminate()
    proc.wait(timeout=10)
