"""What a hook call costs by how task-orchestrator was installed (issue 33).

    python benchmarks/install_cost.py --build          # installs both into a temp folder (~2 min, PyPI)
    python benchmarks/install_cost.py --uv-bin DIR --pip-bin DIR

Each install's in-process hook (``task-orchestrator hook pre-tool-use``, what the thin client
falls back to, and the ``--transport command`` hooks) judges the same Claude Code PreToolUse
JSON, A/B interleaved, its own data folder, ``PYTHONDONTWRITEBYTECODE`` unset (as a user's
shell has it): ``uv tool install --compile-bytecode`` (the README's command), ``uv tool
install`` without it (no bytecode: every process compiles), and ``pip install`` into a venv
(pip compiles at install). ``python -c pass`` is the floor. Ends with one JSON line; not part
of ``run_all.py`` (it downloads the dependencies).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, parser, table

ROOT = Path(__file__).resolve().parent.parent
EVENT = {
    "session_id": "install-cost",
    "transcript_path": "",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": "git status && ls -la src", "description": "look"},
}


def build(where: Path) -> dict[str, Path]:
    """Three installs of this checkout: uv with and without bytecode, pip in a venv."""
    uv = shutil.which("uv")
    if uv is None:
        subprocess.run([sys.executable, "-m", "venv", str(where / "uv-venv")], check=True)
        subprocess.run([str(where / "uv-venv" / "bin" / "pip"), "install", "-q", "uv"], check=True)
        uv = str(where / "uv-venv" / "bin" / "uv")
    out = {}
    for name, extra in (("uv --compile-bytecode", ["--compile-bytecode"]), ("uv (no bytecode)", [])):
        tag = "uvc" if extra else "uvn"
        env = {
            **os.environ,
            "UV_TOOL_DIR": str(where / tag / "tools"),
            "UV_TOOL_BIN_DIR": str(where / tag / "bin"),
            "UV_CACHE_DIR": str(where / "uv-cache"),
        }
        subprocess.run(
            [uv, "tool", "install", *extra, "--python", sys.executable, str(ROOT)],
            check=True,
            env=env,
            capture_output=True,
        )
        out[name] = where / tag / "bin"
    subprocess.run([sys.executable, "-m", "venv", str(where / "pip-venv")], check=True)
    subprocess.run([str(where / "pip-venv" / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
    out["pip install (venv)"] = where / "pip-venv" / "bin"
    return out


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--build", action="store_true", help="install this checkout three ways first")
    p.add_argument("--uv-bin", type=Path, help="bin folder of a `uv tool install --compile-bytecode`")
    p.add_argument("--pip-bin", type=Path, help="bin folder of a venv with `pip install`")
    p.add_argument("--runs", type=int, default=40)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="install-cost-"))
    if args.build:
        installs = build(tmp)
    else:
        given = (("uv --compile-bytecode", args.uv_bin), ("pip install (venv)", args.pip_bin))
        installs = {k: v for k, v in given if v}
    if not installs:
        print("nothing to measure: give --build, or --uv-bin and --pip-bin")
        return
    ws = tmp / "ws"
    ws.mkdir()
    event = json.dumps({**EVENT, "cwd": str(ws)})
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base["HOME"] = str(tmp / "home")
    runs = max(5, 10 if args.quick else args.runs)
    times: dict[str, list[float]] = {k: [] for k in [*installs, "python -c pass"]}

    def once(name: str, argv: list[str], env: dict) -> None:
        t = time.perf_counter()
        subprocess.run(argv, input=event, capture_output=True, text=True, env=env, cwd=ws, timeout=60)
        times[name].append(time.perf_counter() - t)

    commands = {
        name: (
            [str(binary / "task-orchestrator"), "hook", "pre-tool-use"],
            {**base, "TASK_ORCHESTRATOR_DATA_DIR": str(tmp / f"data-{i}")},
        )
        for i, (name, binary) in enumerate(installs.items())
    }
    for argv, env in commands.values():  # first runs: stores created, caches warm
        for _ in range(3):
            subprocess.run(argv, input=event, capture_output=True, text=True, env=env, cwd=ws, timeout=60)
    for _ in range(runs):  # interleaved, so a drift of the machine hits every install alike
        for name, (argv, env) in commands.items():
            once(name, argv, env)
        once("python -c pass", [sys.executable, "-c", "pass"], base)
    floor = median(times["python -c pass"])
    rows = [[k, len(v), f"{median(v) * 1000:.1f}", f"{median(v) / floor:.2f}x"] for k, v in times.items()]
    columns = ["install", "n", "median", "/ python -c pass"]
    table("in-process hook per call, by install (ms, median)", columns, rows)
    shutil.rmtree(tmp, ignore_errors=True)
    emit("install_cost", {k: round(median(v) * 1000, 1) for k, v in times.items()})


if __name__ == "__main__":
    main()
