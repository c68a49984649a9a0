"""Hook overhead per Bash call as the real Claude Code client sees it, every setup in one run.

The same scripted session (N harmless Bash calls against a scripted Messages API on
loopback) runs with: no hooks; the client's own floor (`true` PreToolUse + PostToolUse
command hooks); two `python -c pass` command hooks; cc-safety-net (npm, pinned, PreToolUse
only, its own HOME; skipped with a message without npm); task-orchestrator's full install
(`claude mcp add ... serve` and `hooks install`: PreToolUse + PostToolUse/PostToolUseFailure +
Stop, command hooks running the thin client against the guard service) and with `--transport
command` (a Python process per hook call); and the MCP server registered with no hooks (what
registering the server alone costs a session while the guard service runs). Each setup keeps
one data directory for the whole run, so its guard service stays up between sessions, as a
user's does; each setup is warmed by one untimed session. Setups are interleaved within each
repetition; overhead per call = (median session - median without hooks) / N, for 20- and
60-call sessions (a fit of the two gives the fixed cost per session and the cost per call).
Needs the pinned client: $CLAUDE_CODE_BIN or ~/.cache/task-orchestrator-e2e (see .ci/run).
``--quick``: 5 calls, once, no peer, no `python -c pass` row.
"""

from __future__ import annotations

import contextlib
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

from task_orchestrator import guard_client  # noqa: E402
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


def session(claude: Path, root: Path, setup: str, n: int, peer_exe: Path | None, data: Path) -> float:
    """Seconds for one `claude -p` session of ``n`` Bash calls with ``setup``'s hooks; ``data``:
    the setup's data directory, kept across its sessions."""
    home, ws = root / "home", root / "ws"
    for d in (home, ws, data):
        d.mkdir(parents=True, exist_ok=True)
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
        transport = "command" if "command" in setup else "guard"
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
        "task-orchestrator, full install (guard service)",
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
        data = {name: Path(tmp) / f"data{i}" for i, name in enumerate(setups)}
        try:
            for i, name in enumerate(setups):  # caches, and the guard services, untimed
                session(claude, Path(tmp) / f"warm{i}", name, sizes[0], peer_exe, data[name])
            for r in range(reps):
                for n in sizes:
                    for i, name in enumerate(setups):  # interleaved within each repetition
                        root = Path(tmp) / f"r{r}n{n}s{i}"
                        times[(name, n)].append(session(claude, root, name, n, peer_exe, data[name]))
        finally:
            for d in data.values():  # the guard services end with the benchmark
                with contextlib.suppress(guard_client.GuardUnavailable):
                    guard_client.request(d, "shutdown", timeout=10)
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
    full_name = "task-orchestrator, full install (guard service)"
    for n in sizes:
        full, floor = per_call[(full_name, n)], per_call[("floor: true hooks", n)]
        ratio = full / floor if floor > 0 else float("inf")
        figures[f"full_over_floor_{n}"] = round(ratio, 2)
        peer = per_call.get(("cc-safety-net (PreToolUse)", n))
        versus = (
            "" if peer is None else f"; cc-safety-net {peer:.1f} ({'faster' if full < peer else 'SLOWER'})"
        )
        print(
            f"{n}-call session: full install {full:.1f} ms per call, floor {floor:.1f}: {ratio:.2f}x "
            f"(target <= 3x: {'ok' if ratio <= 3 else 'MISSED'}){versus}"
        )
    server = "task-orchestrator, server only (MCP registered, no hooks)"
    added = median(times[(server, sizes[0])]) - median(times[("no hooks", sizes[0])])
    figures["server_registration_ms"] = round(added * 1e3)
    print(
        f"registering the MCP server (guard service running) adds {added * 1e3:.0f} ms to a "
        f"{sizes[0]}-call session (target <= 150 ms: {'ok' if added <= 0.150 else 'MISSED'})"
    )
    emit("e2e_latency", figures)


if __name__ == "__main__":
    main()
