"""PreToolUse overhead per tool call as the real Claude Code client sees it.

The same scripted session (N harmless Bash calls) runs without hooks, with the `command`
hook transport and with the `mcp_tool` transport; overhead per call = (with - without) / N.
Needs the pinned client: $CLAUDE_CODE_BIN or ~/.cache/task-orchestrator-e2e (see .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _common import emit, median, parser, table  # noqa: E402

from tests.e2e.fake_anthropic import FakeAnthropic  # noqa: E402


def client() -> Path | None:
    if os.environ.get("CLAUDE_CODE_BIN"):
        return Path(os.environ["CLAUDE_CODE_BIN"])
    exe = (Path.home() / ".cache" / "task-orchestrator-e2e" /
           "node_modules/@anthropic-ai/claude-code-linux-x64/claude")
    return exe if exe.exists() else None


def session(claude: Path, root: Path, transport: str | None, n: int) -> float:
    home, ws, data = root / "home", root / "ws", root / "data"
    for d in (home, ws, data):
        d.mkdir(parents=True)
    exe = shutil.which("task-orchestrator") or str(Path(sys.executable).parent / "task-orchestrator")
    env = {**os.environ, "HOME": str(home), "ANTHROPIC_API_KEY": "sk-ant-bench-dummy",
           "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "TASK_ORCHESTRATOR_DATA_DIR": str(data)}
    if transport:
        subprocess.run([str(claude), "mcp", "add", "task-orchestrator", "-e",
                        f"TASK_ORCHESTRATOR_DATA_DIR={data}", "--", exe, "serve"],
                       cwd=ws, env=env, check=True, capture_output=True)
        subprocess.run([exe, "hooks", "install", "--transport", transport], cwd=ws, env=env,
                       check=True, capture_output=True)
    script = [("tool", "Bash", {"command": f"echo step {i}", "description": "echo"})
              for i in range(n)] + [("text", "done")]
    with FakeAnthropic(script) as api:
        env["ANTHROPIC_BASE_URL"] = api.url
        t = time.perf_counter()
        subprocess.run([str(claude), "-p", "go", "--output-format", "json", "--allowedTools",
                        "Bash"], cwd=ws, env=env, check=True, capture_output=True, timeout=600)
        return time.perf_counter() - t


def main() -> None:
    args = parser(__doc__).parse_args()
    claude = client()
    if claude is None:
        print("the Claude Code client is not installed; see .ci/run (skipped)")
        emit("e2e_latency", {"skipped": True})
        return
    n, reps = (5, 1) if args.quick else (20, 3)
    times: dict[str, list[float]] = {"none": [], "command": [], "mcp_tool": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            for name in times:
                times[name].append(session(claude, Path(tmp) / f"{name}{r}",
                                           None if name == "none" else name, n))
    base = median(times["none"])
    rows, figures = [], {"calls": n, "no_hooks_s": round(base, 2)}
    for name in ("command", "mcp_tool"):
        per_call = (median(times[name]) - base) / n * 1e3
        figures[f"{name}_overhead_ms_per_call"] = round(per_call, 1)
        rows.append([name, f"{median(times[name]):.2f}", f"{base:.2f}", f"{per_call:.0f}"])
    table(f"PreToolUse overhead in the real client, {n} Bash calls, median of {reps}",
          ["transport", "session s", "no hooks s", "overhead ms per call"], rows)
    emit("e2e_latency", figures)


if __name__ == "__main__":
    main()
