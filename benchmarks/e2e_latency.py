"""Hook overhead per Bash call as the real Claude Code client sees it, every setup in one run.

The same scripted session (N harmless Bash calls against a scripted Messages API on
loopback) runs with: no hooks; the client's own floor (`true` PreToolUse + PostToolUse
command hooks); two `python -c pass` command hooks; cc-safety-net (npm, pinned, PreToolUse
only, its own HOME; skipped with a message without npm); task-orchestrator's full install
(`hooks install`: PreToolUse + PostToolUse/PostToolUseFailure + Stop) in the default
`mcp_tool` transport and with `--transport command`; and the MCP server registered with no
hooks (what registering the server alone costs a session). Setups are interleaved within each
repetition; overhead per call = (median session - median without hooks) / N, for 20- and
60-call sessions (a fit of the two gives the fixed cost per session and the cost per call).
Needs the pinned client: $CLAUDE_CODE_BIN or ~/.cache/task-orchestrator-e2e (see .ci/run).
``--quick``: 5 calls, once, no peer.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _common import emit, median, parser, peer_hook, table  # noqa: E402

from tests.e2e.fake_anthropic import FakeAnthropic  # noqa: E402


def client() -> Path | None:
    if os.environ.get("CLAUDE_CODE_BIN"):
        return Path(os.environ["CLAUDE_CODE_BIN"])
    exe = (
        Path.home()
        / ".cache"
        / "task-orchestrator-e2e"
        / "node_modules/@anthropic-ai/claude-code-linux-x64/claude"
    )
    return exe if exe.exists() else None


def _command_hooks(pre: str, post: str | None) -> dict:
    hooks = {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": pre}]}]}
    if post:
        hooks["PostToolUse"] = [{"matcher": "Bash", "hooks": [{"type": "command", "command": post}]}]
    return {"hooks": hooks}


def session(claude: Path, root: Path, setup: str, n: int, peer_exe: Path | None) -> float:
    home, ws, data = root / "home", root / "ws", root / "data"
    for d in (home, ws, data):
        d.mkdir(parents=True)
    exe = shutil.which("task-orchestrator") or str(Path(sys.executable).parent / "task-orchestrator")
    env = {
        **os.environ,
        "HOME": str(home),
        "ANTHROPIC_API_KEY": "sk-ant-bench-dummy",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "TASK_ORCHESTRATOR_DATA_DIR": str(data),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # hook processes keep their bytecode, as installed
    for var in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"):
        env.pop(var, None)
    settings = None
    if setup == "floor: true hooks":
        settings = _command_hooks("true", "true")
    elif setup == "two python -c pass hooks":
        py = shlex.quote(sys.executable)
        settings = _command_hooks(f"{py} -c pass", f"{py} -c pass")
    elif setup == "cc-safety-net (PreToolUse)":
        peer_home = root / "peer-home"
        peer_home.mkdir()
        settings = _command_hooks(
            f"HOME={shlex.quote(str(peer_home))} {shlex.quote(str(peer_exe))} hook -cc", None
        )
    elif setup.startswith("task-orchestrator"):
        transport = "command" if "command" in setup else "mcp_tool"
        hooked = "server only" not in setup
        subprocess.run(
            [
                str(claude),
                "mcp",
                "add",
                "task-orchestrator",
                "-e",
                f"TASK_ORCHESTRATOR_DATA_DIR={data}",
                "--",
                exe,
                "serve",
            ],
            cwd=ws,
            env=env,
            check=True,
            capture_output=True,
        )
        if hooked:
            subprocess.run(
                [exe, "hooks", "install", "--transport", transport],
                cwd=ws,
                env=env,
                check=True,
                capture_output=True,
            )
    if settings is not None:
        (ws / ".claude").mkdir()
        (ws / ".claude" / "settings.json").write_text(json.dumps(settings))
    script = [("tool", "Bash", {"command": f"echo step {i}", "description": "echo"}) for i in range(n)] + [
        ("text", "done")
    ]
    with FakeAnthropic(script) as api:
        env["ANTHROPIC_BASE_URL"] = api.url
        t = time.perf_counter()
        subprocess.run(
            [str(claude), "-p", "go", "--output-format", "json", "--allowedTools", "Bash"],
            cwd=ws,
            env=env,
            check=True,
            capture_output=True,
            timeout=900,
        )
        return time.perf_counter() - t


def main() -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    claude = client()
    if claude is None:
        print("the Claude Code client is not installed; see .ci/run (skipped)")
        emit("e2e_latency", {"skipped": True})
        return
    sizes, reps = ((5,), 1) if args.quick else ((20, 60), 3)
    setups = [
        "no hooks",
        "floor: true hooks",
        "two python -c pass hooks",
        "cc-safety-net (PreToolUse)",
        "task-orchestrator, server only (MCP registered, no hooks)",
        "task-orchestrator, full install (mcp_tool)",
        "task-orchestrator, full install (--transport command)",
    ]
    peer_exe = None if args.quick else peer_hook()
    if peer_exe is None:
        setups.remove("cc-safety-net (PreToolUse)")
        print(
            "cc-safety-net: "
            + ("skipped in --quick" if args.quick else "not installed (no npm?): its row is skipped")
        )
    if args.quick:
        setups.remove("two python -c pass hooks")
    times: dict[tuple[str, int], list[float]] = {(s, n): [] for s in setups for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        session(claude, Path(tmp) / "warm", "no hooks", sizes[0], peer_exe)  # caches, untimed
        for r in range(reps):
            for n in sizes:
                for i, name in enumerate(setups):  # interleaved within each repetition
                    times[(name, n)].append(session(claude, Path(tmp) / f"r{r}n{n}s{i}", name, n, peer_exe))
    figures: dict = {"calls": list(sizes), "repetitions": reps}
    rows = []
    per_call: dict[tuple[str, int], float] = {}
    for name in setups:
        row = [name]
        for n in sizes:
            base = median(times[("no hooks", n)])
            per_call[(name, n)] = (median(times[(name, n)]) - base) / n * 1e3
            row += [f"{median(times[(name, n)]):.2f}", f"{per_call[(name, n)]:.1f}"]
        if len(sizes) == 2:  # session = fixed + per_call * n, from the two sizes
            a, b = sizes
            extra_a = median(times[(name, a)]) - median(times[("no hooks", a)])
            extra_b = median(times[(name, b)]) - median(times[("no hooks", b)])
            slope = (extra_b - extra_a) / (b - a)
            row += [f"{(extra_a - slope * a) * 1e3:.0f}", f"{slope * 1e3:.1f}"]
        rows.append(row)
        figures[name] = {f"ms_per_call_{n}": round(per_call[(name, n)], 1) for n in sizes}
    headers = ["setup"] + [h for n in sizes for h in (f"{n}-call session s", f"ms/call over none ({n})")]
    if len(sizes) == 2:
        headers += ["fixed ms per session", "ms per call (fit)"]
    table(f"Hook overhead in the real client, median of {reps}, interleaved", headers, rows)
    n0 = sizes[0]
    full = per_call.get(("task-orchestrator, full install (mcp_tool)", n0))
    floor = per_call.get(("floor: true hooks", n0))
    if full is not None and floor is not None:
        figures["full_over_floor"] = round(full / floor, 2) if floor > 0 else None
        print(
            f"full install (mcp_tool) / trivial-hook floor, {n0}-call session: "
            f"{full:.1f} / {floor:.1f} ms per call"
        )
    emit("e2e_latency", figures)


if __name__ == "__main__":
    main()
