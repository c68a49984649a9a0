"""The structural rules over parsed commands: ``judge_commands`` runs each pack's rules
(``risk/packs/``: deletes, git, permissions, system, cloud, network and credentials,
interpreters; installs in ``risk/installs.py``) over every simple command ``shell.parse``
found (wrappers removed, ``cd`` followed, expansions made), and ``tool_path_risk`` judges
Read/Write/Edit calls on their path. Each finding is (level, reason, rule id); the rules,
their levels, reasons and examples are listed in the packs (``risk/catalog.py``). Levels:

- critical (denied by default): destroys data or credentials with no way back, or runs code
  nobody has read: recursive deletes of the root, a home, a system tree or the workspace,
  device writes and disk tools, losing uncommitted work, credentials sent to the network,
  network, decoded or computed code run by a shell, reverse shells;
- high (asks): what a careful engineer would confirm: deletes outside the workspace, writes
  to system files, force pushes, credential reads, raw network connections...;
- medium (allowed, reported): ``sudo``, reverting one file, ``kill``;
- low: everything routine, e.g. ``rm -rf build/ node_modules``, ``find . -name '*.pyc'
  -delete``, ``git push --force-with-lease``.
"""

from __future__ import annotations

import posixpath
import re

from task_orchestrator.risk.installs import install_findings
from task_orchestrator.risk.packs.cloud import _cloud
from task_orchestrator.risk.packs.deletes import _moves, _rm, _shred, _sync_delete
from task_orchestrator.risk.packs.git import _git
from task_orchestrator.risk.packs.interpreters import (
    _COMPUTED_PROGRAM,
    _code_secrets,
    _inline_code,
    _python,
    _runs_file,
    _script,
)
from task_orchestrator.risk.packs.network import (
    _credentials,
    _downloads,
    _remote_access,
    _remote_copy,
    _sends,
)
from task_orchestrator.risk.packs.permissions import _perms
from task_orchestrator.risk.packs.system import _DISK_TOOLS, _history, _system_change, _timestomp, _writes
from task_orchestrator.risk.paths import (
    _CLASS_NAME,
    _POLICY_FILE,
    _STARTUP,
    CREDENTIAL_PATH,
    Finding,
    _place,
    _targets,
    path_class,
)
from task_orchestrator.risk.shell import INTERPRETERS, NETWORK, SHELLS, Parsed

__all__ = ["CREDENTIAL_PATH", "judge_commands", "path_class", "tool_path_risk"]


_INSTALLERS = frozenset({"pip", "pip3", "uv", "poetry", "pipx", "npm", "pnpm", "yarn", "bun"})


def judge_commands(parsed: Parsed, workspace: str | None, again) -> list[Finding]:
    """Findings of the structural rules over every simple command of ``parsed``.

    ``again(text)``: the findings of a nested command line (a string a program will run).
    """
    out: list[Finding] = []
    stashed = False
    sinks = {
        c.line for c in parsed.commands if (c.prog in NETWORK or c.prog == "ssh") and c.stdin is not None
    }
    interactive = {c.line for c in parsed.commands if c.prog in SHELLS and (not c.args or "-i" in c.args)}
    downloaded: dict[str, str] = {}
    for cmd in parsed.commands:
        prog = cmd.prog
        if not cmd.argv:
            continue
        ran = _runs_file(cmd)
        source = downloaded.get(_place(ran, cmd.cwd)) if ran else None
        if source is not None:
            out.append(
                (
                    "critical",
                    f"runs a file downloaded in the same command ({ran} from {source})",
                    "exec.downloaded-then-run",
                )
            )
        if prog in NETWORK:
            for path, url in _downloads(cmd):
                downloaded[_place(path, cmd.cwd)] = url
        if cmd.argv[0].static and "decoded" in cmd.argv[0].sources:
            out.append(
                (
                    "critical",
                    f"runs a decoded payload as a command ({cmd.argv[0].value[:40]})",
                    "exec.decoded-code",
                )
            )
        if prog == "<dynamic code>":
            kinds = cmd.argv[0].sources
            if "network" in kinds:
                out.append(("critical", "runs code downloaded from the network", "exec.network-code"))
            elif "decoded" in kinds:
                out.append(("critical", "decodes and executes a payload", "exec.decoded-code"))
            else:  # eval "$(pyenv init -)" and the like: reported, not asked
                out.append(
                    ("medium", f"runs code known only at run time ({cmd.wrappers[-1]})", "exec.run-time-code")
                )
            continue
        if (
            prog == "<dynamic program>"
            and _COMPUTED_PROGRAM.match(cmd.argv[0].value)
            and not (cmd.wrappers[-1:] == ("env",) and len(cmd.argv) > 1)  # env $(cat vars) prog
        ):
            # $(...) as the whole program name: what runs is decided when it runs
            out.append(
                (
                    "high",
                    f"runs a program named only at run time ({cmd.argv[0].value[:60]})",
                    "exec.run-time-program",
                )
            )
        elif prog == "<dynamic program>" and any(re.match(r"^-[a-zA-Z]*[rRf]", a) for a in cmd.args):
            # $X -rf ~: an unknown program, flags of a delete, and a target that matters
            hits = [
                (c, v)
                for c, v in _targets(
                    cmd, [w for w in cmd.argv[1:] if not w.value.startswith("-")], cmd.cwd, workspace
                )
                if c in ("root", "home", "system", "device")
            ]
            if hits:
                what = f"{_CLASS_NAME[hits[0][0]]} ({hits[0][1]})"
                out.append(
                    ("high", f"a program known only at run time acts on {what}", "exec.run-time-program")
                )
        if prog in ("rm", "unlink"):
            out.extend(_rm(cmd, workspace))
        elif prog in ("scp", "sftp", "rsync"):
            out.extend(_remote_copy(cmd))
            if prog == "rsync":
                out.extend(_sync_delete(cmd, workspace))
        elif prog == "mv":
            out.extend(_moves(cmd, workspace))
        elif prog in ("shred", "srm", "wipe"):
            out.extend(_shred(cmd, workspace))
        elif prog == "git":
            out.extend(_git(cmd, workspace, stashed))
            stashed = stashed or (
                "stash" in cmd.args and not {"list", "show", "clear", "drop", "pop", "apply"} & set(cmd.args)
            )
        elif prog in ("chmod", "chown", "chgrp"):
            out.extend(_perms(cmd, workspace))
        elif prog.split(".")[0] in _DISK_TOOLS or (
            prog == "diskutil"
            and any(a.startswith(("erase", "partition", "zero", "secureErase")) for a in cmd.args)
        ):
            out.append(("critical", f"{prog} rewrites a disk or partition", "system.disk-tool"))
        elif prog in ("nc", "ncat", "netcat", "socat", "telnet"):
            args = cmd.args
            runs = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-e", "-c", "--exec", "--sh-exec")]
            runs += [a.split(":", 1)[1] for a in args if a.startswith(("exec:", "EXEC:"))]
            if (
                any(posixpath.basename(r.split()[0]) in SHELLS for r in runs if r.split())
                or any(posixpath.basename(a) in SHELLS for a in args)
                or cmd.line in interactive
            ):
                out.append(
                    (
                        "critical",
                        f"{prog} hands a shell to the network (reverse shell)",
                        "network.reverse-shell",
                    )
                )
            elif runs:
                out.append(
                    ("high", f"{prog} runs a command for the network ({runs[0]})", "network.raw-connection")
                )
            else:
                out.append(("high", f"{prog}: raw network connection or listener", "network.raw-connection"))
        elif (
            prog in SHELLS
            and cmd.stdin in ("network", "decoded", "dynamic")
            and not [a for a in cmd.args if not a.startswith("-")]
        ):
            out.append(
                {
                    "network": ("critical", "pipes code from the network into a shell", "exec.network-code"),
                    "decoded": (
                        "critical",
                        "decodes a payload and pipes it into a shell",
                        "exec.decoded-code",
                    ),
                    "dynamic": ("critical", "pipes generated text into a shell", "exec.computed-code"),
                }[cmd.stdin]
            )
        elif (
            prog in SHELLS
            and cmd.wrappers
            and cmd.wrappers[-1]
            in (
                "xargs",
                "find -exec",
                "find -execdir",
                "find -ok",
                "find -okdir",
                "env",
                "flock",
                "nice",
                "timeout",
                "stdbuf",
                "setsid",
            )
            and not cmd.args
        ):
            out.append(
                ("high", f"starts an interactive shell through {cmd.wrappers[-1]}", "exec.wrapped-shell")
            )
        runs_file = prog in SHELLS or prog in ("source", ".") or prog in INTERPRETERS
        if runs_file and any("network" in w.sources for w in cmd.argv[1:]):
            out.append(("critical", "runs code downloaded from the network", "exec.network-code"))
        script = (
            cmd.argv[0]
            if not runs_file
            else next((w for w in cmd.argv[1:] if not w.value.startswith("-")), None)
        )
        if (
            script is not None
            and script.static
            and path_class(script.value, cmd.cwd, workspace) == "temp"
            and "/" in script.value
        ) or (
            script is not None
            and re.match(r"^(?:~|/home/[^/]+|/Users/[^/]+|/root)?/Downloads/", script.value)
        ):
            out.append(
                ("high", f"executes a file from a temp or download folder ({script.value})", "exec.temp-file")
            )
        as_root = bool({"sudo", "doas", "pkexec"} & set(cmd.wrappers))
        if as_root and (prog == "su" or (prog in SHELLS and not cmd.args and cmd.stdin is None)):
            out.append(("high", "opens a root shell", "system.root-shell"))
        sockets = [op for op, w in cmd.redirects if "/dev/tcp/" in w.value or "/dev/udp/" in w.value]
        if prog in SHELLS or prog in ("source", "."):
            out.extend(
                ("critical", "shell wired to a network socket (reverse shell)", "network.reverse-shell")
                for _ in sockets
            )
        lang = INTERPRETERS.get(prog) or INTERPRETERS.get(re.sub(r"[\d.]+$", "", prog))
        if lang:
            code = _inline_code(cmd, lang)
            if (
                code is None
                and cmd.stdin in ("network", "decoded", "dynamic")
                and not [a for a in cmd.args if not a.startswith("-") or a.startswith("-m")]
            ):
                kind = {"network": "exec.network-code", "decoded": "exec.decoded-code"}.get(
                    cmd.stdin, "exec.computed-code"
                )
                out.append(("critical", f"pipes {cmd.stdin} code into {prog}", kind))
            elif code:
                out.extend(
                    _python(code, cmd, workspace, again)
                    if lang == "python"
                    else _script(code, cmd, workspace, again)
                )
                out.extend(_code_secrets(code, lang))
        if prog == "trap" and "DEBUG" in cmd.args[1:]:
            out.append(("high", "runs a command before every command (trap DEBUG)", "system.trap"))
        elif "trap" in cmd.wrappers and (
            prog in SHELLS or prog in INTERPRETERS or "/" in (cmd.argv[0].value if cmd.argv else "")
        ):
            out.append(("high", f"a trap starts a program when the shell exits ({prog})", "system.trap"))
        out.extend(_system_change(cmd))
        out.extend(_cloud(cmd))
        out.extend(_sends(cmd))
        out.extend(_history(cmd))
        out.extend(_timestomp(cmd, workspace))
        out.extend(_remote_access(cmd))
        out.extend(_writes(cmd, workspace))
        out.extend(_credentials(cmd, cmd.line in sinks, workspace))
        if prog in _INSTALLERS or prog.startswith("python"):
            out.extend(install_findings(cmd))
        if as_root:
            out.append(("medium", "runs as root", "system.as-root"))
        if "systemd-run" in cmd.wrappers:
            out.append(
                (
                    "high",
                    f"runs {prog} as a transient system service or timer (systemd-run)",
                    "system.transient-service",
                )
            )
        if prog not in SHELLS and any(op in (">", ">>", "&>") for op in sockets):
            out.append(("high", "writes to a network socket (/dev/tcp)", "network.raw-connection"))
    reasons = " ".join(f[1] for f in out)
    if " to root" in reasons and ("sets setgid" in reasons or "sets setuid" in reasons):
        out.append(("high", "makes a root-owned setuid/setgid file", "permissions.root-setuid"))
    return [f for f in out if f[0] != "low"]


def tool_path_risk(tool: str, path: str, cwd: str | None) -> list[Finding]:
    """Read, Grep, Glob, Write, Edit and NotebookEdit calls judged on the path they touch."""
    if not path:
        return []
    value = posixpath.expanduser(path) if path.startswith("~") else path
    ws = cwd if cwd and posixpath.isabs(cwd) else None
    cls = path_class(value, ws, ws)
    writes = tool in ("Write", "Edit", "MultiEdit", "NotebookEdit")
    if writes and _POLICY_FILE.search(value):
        return [("high", f"changes the risk gate's policy ({path})", "system.changes-gate-policy")]
    if CREDENTIAL_PATH.search(value.rstrip("/")):
        rule = "credentials.writes" if writes else "credentials.reads"
        return [("high", f"{'writes' if writes else 'reads'} a credential or key file ({path})", rule)]
    if not writes:
        return []
    if cls == "device":
        return [("critical", f"writes to a block device ({path})", "system.writes-block-device")]
    if _STARTUP.search(value):
        return [("high", f"changes a shell start-up file ({path})", "system.start-up-code")]
    if cls in ("system", "root"):
        return [("high", f"writes a system path ({path})", "system.writes-system-path")]
    return []
