"""Fixtures for end-to-end tests in the real Claude Code client (pinned, installed once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from task_orchestrator._npm import npm_tool

from .fake_anthropic import FakeAnthropic

CLIENT_VERSION = "2.1.330"
BIN = "node_modules/@anthropic-ai/claude-code-linux-x64/claude"


def _install(cache: Path) -> Path | None:
    return npm_tool("@anthropic-ai/claude-code", CLIENT_VERSION, cache, BIN)


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned client: $CLAUDE_CODE_BIN, or installed once into a cache directory."""
    if os.environ.get("CLAUDE_CODE_BIN"):
        return Path(os.environ["CLAUDE_CODE_BIN"])
    cache = Path(
        os.environ.get("TASK_ORCHESTRATOR_E2E_CACHE", Path.home() / ".cache" / "task-orchestrator-e2e")
    )
    exe = _install(cache)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(
                "CI must run the Claude Code e2e tests, but the client could not be "
                "installed (npm install @anthropic-ai/claude-code failed)"
            )
        pytest.skip("SKIPPED LOUDLY: the Claude Code client could not be installed (no npm?)")
    return exe


def _tool_exe() -> str:
    return shutil.which("task-orchestrator") or str(Path(sys.executable).parent / "task-orchestrator")


class Session:
    """One isolated HOME + workspace + data directory, with the hooks installed and (unless
    ``mcp`` is None) the MCP server registered: ``mcp="serve"`` the real one, ``"broken"`` a
    registration whose command cannot start (a moved or broken installation)."""

    def __init__(
        self,
        claude: Path,
        root: Path,
        transport: str,
        server_env: dict[str, str] | None = None,
        mcp: str | None = "serve",
    ) -> None:
        self.claude, self.home, self.ws, self.data = claude, root / "home", root / "ws", root / "data"
        for d in (self.home, self.ws, self.data):
            d.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "ANTHROPIC_API_KEY": "sk-ant-e2e-dummy",
            # without a base URL `claude mcp list` retries DNS lookups of the real API for ~18 s
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "TASK_ORCHESTRATOR_DATA_DIR": str(self.data),
            "PATH": f"{Path(_tool_exe()).parent}:{os.environ.get('PATH', '')}",
        }
        for var in ("GOOGLE_API_KEY", "OPENAI_API_KEY", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"):
            self.env.pop(var, None)
        exe = _tool_exe()
        if transport == "plugin":  # as users install it: the repository's marketplace, no settings of ours
            repo = Path(__file__).resolve().parents[2]
            self.run([str(claude), "plugin", "marketplace", "add", str(repo)])
            self.run([str(claude), "plugin", "install", "task-orchestrator@task-orchestrator"])
            return
        if mcp is not None:
            extra = [a for k, v in (server_env or {}).items() for a in ("-e", f"{k}={v}")]
            command = (
                [exe, "serve"] if mcp == "serve" else [str(root / "moved-venv" / "bin" / "task-orchestrator")]
            )
            self.run(
                [
                    str(claude),
                    "mcp",
                    "add",
                    "task-orchestrator",
                    "-e",
                    f"TASK_ORCHESTRATOR_DATA_DIR={self.data}",
                    *extra,
                    "--",
                    *command,
                ]
            )
        self.run([exe, "hooks", "install", "--transport", transport])

    def run(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            cmd,
            cwd=self.ws,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=kw.pop("timeout", 180),
            **kw,
        )
        assert proc.returncode == 0, f"{cmd}: {proc.stdout}\n{proc.stderr}"
        return proc

    def ask(self, prompt: str, script: list[tuple], allowed: str = "Bash") -> tuple[dict, FakeAnthropic]:
        """Run `claude -p` against a scripted Messages API; returns (result JSON, the API)."""
        with FakeAnthropic(script) as api:
            env = {**self.env, "ANTHROPIC_BASE_URL": api.url}
            proc = subprocess.run(
                [str(self.claude), "-p", prompt, "--output-format", "json", "--allowedTools", allowed],
                cwd=self.ws,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout), api

    def guard(self) -> dict | None:
        """The guard service's status (None when none answers)."""
        proc = subprocess.run(
            [_tool_exe(), "guard", "status", "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        st = json.loads(proc.stdout)
        return st if st.get("running") else None

    def stop_guard(self) -> None:
        subprocess.run([_tool_exe(), "guard", "stop"], env=self.env, capture_output=True, timeout=60)

    def failures(self) -> list[dict]:
        out = self.run([_tool_exe(), "memory", "export", "-"]).stdout
        return [json.loads(x) for x in out.splitlines() if x.strip()]


@pytest.fixture
def session_factory(claude_bin, tmp_path):
    counter = iter(range(100))
    made: list[Session] = []

    def make(
        transport: str = "guard", server_env: dict[str, str] | None = None, mcp: str | None = "serve"
    ) -> Session:
        s = Session(claude_bin, tmp_path / f"s{next(counter)}", transport, server_env, mcp)
        made.append(s)
        return s

    yield make
    for s in made:  # the guard services the sessions started end with the test
        s.stop_guard()
