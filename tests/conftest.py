from __future__ import annotations

import pytest

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
    mp.delenv("TASK_ORCHESTRATOR_DATA_DIR", raising=False)
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
