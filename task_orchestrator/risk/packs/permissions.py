"""Permissions: setuid and setgid, world-writable and recursive changes, ownership of system paths."""

from __future__ import annotations

import re

from task_orchestrator.risk.catalog import rule, text_rule
from task_orchestrator.risk.paths import _CLASS_NAME, Finding, _flags, _targets
from task_orchestrator.risk.shell import Cmd

RULES = [
    rule(
        "permissions.setuid",
        "high",
        "sets setuid",
        ["chmod u+s ./tool", "chmod 4755 ./tool"],
        ["chmod u+x ./tool"],
    ),
    rule("permissions.setgid", "medium", "sets setgid", ["chmod g+s ./shared"], ["chmod g+w ./shared"]),
    rule(
        "permissions.to-root",
        "medium",
        "gives a file to root",
        ["chown root:root ./tool"],
        ["chown dev ./tool"],
    ),
    rule(
        "permissions.recursive-system",
        "critical",
        "recursive permission change of the root, a home or a system path",
        ["chown -R dev /etc", "chmod -R 700 ~"],
        ["chown -R dev ./build"],
    ),
    rule(
        "permissions.world-writable-system",
        "critical",
        "makes the root, a home or a system path world-writable",
        ["chmod 777 /etc/passwd"],
        ["chmod 644 /etc/passwd"],
    ),
    rule(
        "permissions.world-writable",
        "medium",
        "world-writable permissions",
        ["chmod 777 build/out"],
        ["chmod 755 build/out"],
    ),
    rule(
        "permissions.recursive",
        "medium",
        "recursive permission change outside the workspace or of all of it",
        ["chmod -R 755 ../other"],
        ["chmod -R 755 ./build"],
    ),
    rule(
        "permissions.chown-system",
        "high",
        "changes the owner of a system path",
        ["chown dev /etc/hosts"],
        ["chown dev ./hosts"],
    ),
    rule(
        "permissions.root-setuid",
        "high",
        "makes a root-owned setuid/setgid file",
        ["chown root ./tool && chmod u+s ./tool"],
        ["chown root ./tool"],
    ),
    text_rule("permissions.escalates", ["setcap cap_net_raw+ep ./x", "sudo su"], ["getcap ./x"]),
    text_rule("permissions.switches-user", ["su postgres"], ["sum file.txt"]),
    text_rule("permissions.text-world-writable", ["chmod 777 x"], ["chmod 755 x"]),
    text_rule("permissions.text-recursive", ["chown -R dev x"], ["chown dev x"]),
    text_rule("permissions.searches-setuid", ["find / -perm -4000"], ["find . -perm 644"]),
]


def _perms(cmd: Cmd, ws: str | None) -> list[Finding]:
    flags, operands = _flags(cmd.argv[1:])
    recursive = "-R" in flags or "--recursive" in flags
    spec = operands[0].value if operands else ""
    out: list[Finding] = []
    world = False
    if cmd.prog == "chmod":
        if re.match(r"^(?:[ua]*\+[rwxX]*s|[4567][0-7]{3}$)", spec):
            out.append(("high", f"chmod {spec} sets setuid", "permissions.setuid"))
        elif re.match(r"^(?:[go]*\+[rwxX]*s|2[0-7]{3}$)", spec):
            out.append(("medium", f"chmod {spec} sets setgid", "permissions.setgid"))
        world = bool(re.match(r"^0?[0-7]{2}[2367]$|^[ugo]*[oa][ugo]*[+=][rwxXst]*w", spec))
    elif re.match(r"^(?:root|0)(?::|$)", spec):
        out.append(("medium", f"{cmd.prog} to root", "permissions.to-root"))
    for cls, value in _targets(cmd, operands[1:], cmd.cwd, ws):
        if cls in ("root", "home", "system") and recursive and cmd.prog != "chgrp":
            out.append(
                (
                    "critical",
                    f"recursive {cmd.prog} of {_CLASS_NAME[cls]} ({value})",
                    "permissions.recursive-system",
                )
            )
        elif cls in ("root", "home", "system") and world:
            out.append(
                (
                    "critical",
                    f"world-writable {_CLASS_NAME[cls]} ({value})",
                    "permissions.world-writable-system",
                )
            )
        elif world:
            out.append(("medium", f"world-writable permissions ({value})", "permissions.world-writable"))
        elif recursive and cls in ("outside", "home-file", "unknown-root", "workspace"):
            out.append(
                ("medium", f"recursive {cmd.prog} of {_CLASS_NAME[cls]} ({value})", "permissions.recursive")
            )
        elif cls == "system" and cmd.prog == "chown":
            out.append(("high", f"{cmd.prog} of a system path ({value})", "permissions.chown-system"))
    return out
