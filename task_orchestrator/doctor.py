"""``task-orchestrator doctor``: check an install end to end, and say how to fix each miss.

Checks, in order: the CLI and its bytecode; the hook client on PATH; the guard service
(started if it is not running); where the hooks are installed (user, project and local
settings, the Claude Code plugin) and which transport they use, and that their programs
exist; the MCP server's registration and whether it answers ``tools/list``; the Claude Code
client's version. Each line is ``ok``, ``warn`` or ``MISS``, with the fix; the exit code is 1
when something is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["Check", "run_checks"]

TESTED_CLAUDE_CODE = (2, 1, 330)  # the client the end-to-end tests pin


class Check:
    __slots__ = ("fix", "name", "state", "what")

    def __init__(self, name: str, state: str, what: str, fix: str = "") -> None:
        self.name, self.state, self.what, self.fix = name, state, what, fix

    def line(self) -> str:
        text = f"{self.state:<4} {self.name}: {self.what}"
        return text + (f"\n     fix: {self.fix}" if self.fix and self.state != "ok" else "")

    def as_dict(self) -> dict:
        return {"check": self.name, "state": self.state, "what": self.what, "fix": self.fix}


def _cli_check() -> list[Check]:
    from task_orchestrator._version import __version__

    python = sys.version.split()[0]
    out = [Check("cli", "ok", f"task-orchestrator {__version__} (Python {python}, {sys.prefix})")]
    import task_orchestrator.risk.shell as shell_module

    source = Path(shell_module.__file__)
    cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
    if cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime:
        out.append(Check("bytecode", "ok", "compiled: a hook process does not recompile the package"))
    else:
        out.append(
            Check(
                "bytecode",
                "warn",
                "not compiled: every hook process that judges in-process recompiles the package (~2x slower)",
                "uv tool install --reinstall --compile-bytecode task-orchestrator (or: python -m compileall "
                f"{source.parent.parent})",
            )
        )
    return out


def _client_check() -> Check:
    from task_orchestrator.hooks_install import CLIENT, _beside_python, on_path

    here = _beside_python(CLIENT)
    if here is None:
        return Check("hook client", "MISS", f"{CLIENT} is not installed", "reinstall task-orchestrator")
    if on_path("guard"):
        return Check("hook client", "ok", f"{CLIENT} on PATH ({here})")
    return Check(
        "hook client",
        "warn",
        f"{CLIENT} is at {here} but not on PATH: the plugin's hooks and committed project hooks "
        "cannot find it",
        f"add {here.parent} to PATH (uv tool install and pipx put it there)",
    )


def _guard_check(data_dir: Path) -> Check:
    from task_orchestrator import guard_client
    from task_orchestrator._version import __version__

    try:
        st = json.loads(guard_client.request(data_dir, "status", timeout=5.0))
        started = ""
    except guard_client.GuardUnavailable:
        try:
            guard_client.spawn(data_dir)
        except Exception as exc:  # spawning failed: say why
            return Check("guard service", "MISS", f"cannot be started ({exc})", "task-orchestrator guard run")
        if not guard_client.wait_until_up(data_dir, 30):
            return Check(
                "guard service",
                "MISS",
                "did not come up within 30 s; the hooks judge in-process meanwhile (slower)",
                "run `task-orchestrator guard run` to see its error",
            )
        st = json.loads(guard_client.request(data_dir, "status", timeout=5.0))
        started = " (started by doctor)"
    version = st.get("version")
    state = "ok" if version == __version__ else "warn"
    return Check(
        "guard service",
        state,
        f"answering, pid {st.get('pid')}, version {version}{started}, data dir {st.get('data_dir')}",
        "task-orchestrator guard stop (the next hook starts this version)",
    )


def _program_of(command: str) -> str:
    try:
        return shlex.split(command)[0]
    except (ValueError, IndexError):
        return ""


def _hooks_checks(project: Path) -> list[Check]:
    from task_orchestrator.hooks_install import our_hooks, settings_path

    out: list[Check] = []
    found = 0
    for scope in ("user", "project", "local"):
        path = settings_path(scope, project)  # type: ignore[arg-type]
        try:
            ours = our_hooks(path)
        except (OSError, ValueError) as exc:
            why = f"{path} cannot be read ({exc})"
            out.append(Check(f"hooks ({scope})", "MISS", why, f"fix the JSON of {path}"))
            continue
        if not ours:
            continue
        found += 1
        if any(h.get("type") == "mcp_tool" for h in ours):
            out.append(
                Check(
                    f"hooks ({scope})",
                    "MISS",
                    f"{path}: mcp_tool hooks of an older version (they let every call run when the MCP "
                    "server is not connected)",
                    "task-orchestrator hooks install" + (" --user" if scope == "user" else ""),
                )
            )
            continue
        guard = any("task-orchestrator-hook" in h.get("command", "") for h in ours)
        transport = "guard" if guard else "command"
        programs = {_program_of(h.get("command", "")) for h in ours}
        missing = [p for p in programs if p and not (Path(p).exists() if "/" in p else shutil.which(p))]
        if missing:
            out.append(
                Check(
                    f"hooks ({scope})",
                    "MISS",
                    f"{path}: {len(ours)} hooks ({transport}) run {missing[0]}, which is not there",
                    "task-orchestrator hooks install" + (" --user" if scope == "user" else ""),
                )
            )
        else:
            out.append(Check(f"hooks ({scope})", "ok", f"{path}: {len(ours)} hooks, transport {transport}"))
    plugins = Path.home() / ".claude" / "plugins" / "installed_plugins.json"
    try:
        installed = json.loads(plugins.read_text()) if plugins.exists() else {}
    except (OSError, ValueError):
        installed = {}
    names = [k for k in (installed.get("plugins") or installed) if str(k).startswith("task-orchestrator@")]
    if names:
        found += 1
        out.append(Check("hooks (plugin)", "ok", f"Claude Code plugin {names[0]} installed"))
    if not found:
        out.append(
            Check(
                "hooks",
                "MISS",
                "no hooks of task-orchestrator in the user, project or local settings, and no plugin",
                "claude plugin install task-orchestrator@task-orchestrator (after claude plugin marketplace "
                "add), or task-orchestrator hooks install",
            )
        )
    elif found > 1:
        out.append(
            Check(
                "hooks",
                "warn",
                "installed in more than one place: every tool call is judged once per place",
                "keep one: task-orchestrator hooks uninstall [--user], "
                "or claude plugin disable task-orchestrator",
            )
        )
    return out


def _mcp_registered(project: Path) -> str | None:
    for path, keys in (
        (Path.home() / ".claude.json", ("mcpServers",)),
        (project / ".mcp.json", ("mcpServers",)),
    ):
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            continue
        servers = dict(data.get(keys[0]) or {})
        for proj, cfg in (data.get("projects") or {}).items():
            if Path(proj) == project and isinstance(cfg, dict):
                servers.update(cfg.get("mcpServers") or {})
        for name, cfg in servers.items():
            if "task-orchestrator" in name or "task-orchestrator" in json.dumps(cfg):
                return f"{name} in {path}"
    plugins = Path.home() / ".claude" / "plugins" / "installed_plugins.json"
    if plugins.exists() and "task-orchestrator@" in plugins.read_text(errors="replace"):
        return "plugin:task-orchestrator:task-orchestrator (the plugin's .mcp.json)"
    return None


def _mcp_answers(timeout: float = 60.0) -> tuple[bool, str]:
    """Start ``task-orchestrator serve`` and ask for its tools over stdio."""
    exe = shutil.which("task-orchestrator") or str(Path(sys.executable).parent / "task-orchestrator")
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "doctor", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    try:
        proc = subprocess.Popen(
            [exe, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    except OSError as exc:
        return False, f"cannot start {exe} serve ({exc})"
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n".join(json.dumps(m) for m in messages) + "\n")
        proc.stdin.flush()
        import selectors
        import time

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:
                break
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if reply.get("id") == 2:
                tools = reply.get("result", {}).get("tools", [])
                return bool(tools), f"answers tools/list: {len(tools)} tools"
        return False, f"no answer to tools/list within {timeout:.0f} s"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _mcp_check(project: Path) -> Check:
    registered = _mcp_registered(project)
    ok, said = _mcp_answers()
    if not ok:
        fix = "run `task-orchestrator serve` to see its error"
        return Check("mcp server", "MISS", f"task-orchestrator serve: {said}", fix)
    if registered is None:
        return Check(
            "mcp server",
            "warn",
            f"not registered with Claude Code (the hooks do not need it; its tools do); {said}",
            "claude mcp add task-orchestrator -- task-orchestrator serve (the plugin registers it too)",
        )
    return Check("mcp server", "ok", f"registered as {registered}; {said}")


def _claude_check() -> Check:
    exe = os.environ.get("CLAUDE_CODE_BIN") or shutil.which("claude")
    if not exe:
        fix = "install Claude Code, or set CLAUDE_CODE_BIN"
        return Check("claude code", "warn", "the claude command is not on PATH", fix)
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("claude code", "warn", f"{exe} --version failed ({exc})")
    import re

    m = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    if not m:
        return Check("claude code", "warn", f"cannot read the version of {exe}: {out.strip()[:60]!r}")
    version = tuple(int(x) for x in m.groups())
    tested = ".".join(map(str, TESTED_CLAUDE_CODE))
    if version < TESTED_CLAUDE_CODE:
        return Check(
            "claude code",
            "warn",
            f"{m.group(0)}: older than {tested}, the version the hooks are tested with "
            "(PostToolUseFailure hooks, plugins, `defer`)",
            "update Claude Code (claude update)",
        )
    return Check("claude code", "ok", f"{m.group(0)} (hooks tested with {tested})")


def run_checks(project: Path | None = None, data_dir: Path | None = None) -> list[Check]:
    from task_orchestrator import guard_client

    project = (project or Path.cwd()).resolve()
    checks: list[Check] = []
    checks += _cli_check()
    checks.append(_client_check())
    checks.append(_guard_check(data_dir or guard_client.data_dir_of()))
    checks += _hooks_checks(project)
    checks.append(_mcp_check(project))
    checks.append(_claude_check())
    return checks
