"""The system: its configuration, services, accounts, logs, disks, start-up code, root shells,
and commands the gate cannot read."""

from __future__ import annotations

import re

from task_orchestrator.risk.catalog import rule, text_rule
from task_orchestrator.risk.paths import (
    _HISTORY_VARS,
    _POLICY_FILE,
    _PRELOAD,
    _STARTUP,
    _STARTUP_ENTRY,
    CREDENTIAL_PATH,
    Finding,
    _flags,
    _in_project,
    _targets,
    path_class,
)
from task_orchestrator.risk.shell import Cmd, Word

RULES = [
    rule(
        "system.configuration",
        "high",
        "changes the system's configuration (services, firewall, kernel, schedule)",
        ["systemctl stop ufw", "crontab jobs.txt", "sysctl kernel.x=1"],
        ["systemctl status ufw", "crontab -l"],
    ),
    rule(
        "system.hides-history",
        "high",
        "hides shell history",
        ["history -c", "unset HISTFILE"],
        ["history 10"],
    ),
    rule(
        "system.start-up-code",
        "high",
        "installs code that runs at start-up or login",
        [
            "echo x >> ~/.bashrc",
            "cp a.plist ~/Library/LaunchAgents/",
            "echo x >> ~/.kshrc",
            "export LD_PRELOAD=/tmp/x.so",
        ],
        ["cat ~/.bashrc"],
    ),
    rule(
        "system.writes-block-device",
        "critical",
        "writes to a block device",
        ["dd if=/dev/zero of=/dev/sda", "cat img > /dev/nvme0n1"],
        ["dd if=/dev/zero of=disk.img bs=1M count=1"],
    ),
    rule(
        "system.writes-system-path",
        "high",
        "writes a system path",
        ["echo x > /etc/hosts"],
        ["echo x > ./hosts"],
    ),
    rule(
        "system.disk-tool",
        "critical",
        "rewrites a disk or partition",
        ["mkfs.ext4 /dev/sdb1", "wipefs -a /dev/sdb"],
        ["lsblk"],
    ),
    rule("system.root-shell", "high", "opens a root shell", ["sudo su", "sudo bash"], ["sudo ls"]),
    rule("system.as-root", "medium", "runs as root", ["sudo apt-get update"], ["apt-cache policy"]),
    rule(
        "system.trap",
        "high",
        "a trap runs a program before every command or when the shell exits",
        ["trap 'curl -s x.example' DEBUG", "trap 'bash /tmp/x' EXIT"],
        ["trap 'rm -f tmp.txt' EXIT"],
    ),
    rule(
        "system.transient-service",
        "high",
        "runs a command as a transient system service or timer (systemd-run)",
        ["systemd-run --user ./server"],
        ["systemctl --user status x"],
    ),
    rule(
        "system.changes-gate-policy",
        "high",
        "changes the risk gate's own policy file",
        ["echo '[rules]' > .task-orchestrator.toml", "cp p.toml ~/.config/task-orchestrator/policy.toml"],
        ["cat .task-orchestrator.toml"],
    ),
    rule(
        "analysis.unreadable",
        "high",
        "the command could not be analysed: a human should look at it",
        ["true " + "x " * 4001],
        ["echo ok"],
    ),
    rule(
        "analysis.partly-parsed",
        "low",
        "the shell grammar did not accept the command: judged on its text as well",
        ["echo ("],
        ["echo ok"],
    ),
    text_rule("system.text-disk-tool", ["mkfs.ext4 /dev/sdb1"], ["mkdir x"]),
    text_rule("system.fork-bomb", [":(){ :|:& };:"], ["echo hi"]),
    text_rule("system.text-shutdown", ["shutdown -h now"], ["echo shutdown"]),
    text_rule("system.kills-processes", ["pkill -f server"], ["echo kill"]),
    text_rule("system.production-database", ["psql -c 'DROP TABLE users' prod"], ["psql -c 'select 1' prod"]),
    text_rule("system.destructive-database", ["psql -c 'DROP TABLE users'"], ["psql -c 'select 1'"]),
    text_rule("system.history-tampering", ["unset HISTFILE"], ["echo $HISTFILE"]),
    text_rule("system.clears-logs", ["> /var/log/syslog"], ["tail /var/log/syslog"]),
    text_rule("system.disables-security", ["setenforce 0"], ["getenforce"]),
    text_rule("system.timestomps", ["date 010100002020"], ["date +%s"]),
    rule(
        "system.timestomps-file",
        "high",
        "sets a file's times to a chosen date outside the workspace (hides when it changed)",
        ["touch -m -t 197001010000.00 /tmp/x.txt", "touch -r /bin/ls ~/.ssh/authorized_keys"],
        ["touch -t 200510071138 old_file.dat", "touch /tmp/x.txt"],
    ),
    text_rule("system.text-persistence", ["crontab -r"], ["crontab -l"]),
    text_rule("system.scheduled-command", ["at now + 1 minute"], ["cat notes"]),
    text_rule("system.accounts", ["useradd bob"], ["id bob"]),
    text_rule("system.text-as-root", ["sudo ls"], ["ls"]),
    text_rule("system.reads-process-memory", ["gdb -p 1234"], ["gdb ./a.out"]),
    text_rule("system.encrypts-files", ["zip -P secret out.zip f"], ["zip out.zip f"]),
    text_rule("system.container-escape", ["docker run -v /:/host alpine"], ["docker run alpine"]),
    text_rule("system.kernel-tampering", ["swapoff -a"], ["free -m"]),
    text_rule("system.captures-input", ["screencapture x.png"], ["echo screencapture"]),
    text_rule("system.text-writes-system-path", ["echo x >/etc/hosts"], ["echo x > hosts"]),
    text_rule("system.hides-files", ["chflags hidden x"], ["chflags nohidden x"]),
]


# Programs that change the host's configuration, services, kernel, accounts or schedule: a
# coding agent's work never needs them, so a human confirms. None: any use; a set: the
# subcommands or flags that change something (the rest only read).
_SYSTEM_CHANGE: dict[str, frozenset[str] | None] = {
    "systemctl": frozenset(
        "stop disable mask kill isolate set-default enable daemon-reload "
        "link edit revert set-property".split()
    ),
    "service": frozenset({"stop", "disable"}),
    "launchctl": frozenset(
        "load unload bootstrap bootout submit remove disable enable setenv asuser kickstart".split()
    ),
    "sysctl": frozenset({"-w", "--write", "-p", "--load"}),
    "defaults": frozenset({"write", "delete", "import", "rename"}),
    "auditctl": frozenset({"-D", "-e", "-W", "-w", "-a", "-A", "-d", "-R", "-b", "-f"}),
    "ufw": frozenset("disable delete reset allow deny reject limit logging default".split()),
    "iptables": frozenset(
        "-F -X -D -A -I -P -R -Z -N -E --flush --delete --append --insert --policy".split()
    ),
    "ip6tables": frozenset("-F -X -D -A -I -P -R -Z -N -E --flush --policy".split()),
    "nft": frozenset({"flush", "delete", "add", "insert", "replace", "create", "destroy"}),
    "pfctl": frozenset({"-d", "-F", "-f", "-e"}),
    "setenforce": None,
    "modprobe": None,
    "insmod": None,
    "rmmod": None,
    "kextload": None,
    "kextunload": None,
    "kmutil": frozenset({"load", "unload"}),
    "swapoff": None,
    "chflags": None,
    "spctl": frozenset({"--master-disable", "--disable", "--add", "--global-disable"}),
    "csrutil": frozenset({"disable"}),
    "tccutil": frozenset({"reset"}),
    "update-rc.d": None,
    "chkconfig": None,
    "rc-update": frozenset({"add", "del"}),
    "sysrc": None,
    "crontab": frozenset({"-r", "-", "-i"}),
    "at": None,
    "atrun": None,
    "useradd": None,
    "userdel": None,
    "usermod": None,
    "adduser": None,
    "deluser": None,
    "groupadd": None,
    "groupdel": None,
    "groupmod": None,
    "chpasswd": None,
    "chage": None,
    "visudo": None,
    "sysadminctl": None,
    "dseditgroup": frozenset({"-o"}),
    "dscl": frozenset({"-create", "-delete", "-append", "-passwd", "-merge", "-change"}),
    "pw": frozenset("useradd usermod userdel groupadd groupmod groupdel lock".split()),
    "timedatectl": frozenset({"set-time", "set-timezone", "set-ntp"}),
    "hostnamectl": frozenset({"set-hostname", "hostname"}),
    "scutil": frozenset({"--set"}),
    "networksetup": None,
    "nvram": None,
    "pmset": None,
    "systemsetup": None,
    "journalctl": frozenset({"--vacuum-size", "--vacuum-time", "--vacuum-files", "--rotate", "--flush"}),
    "log": frozenset({"erase", "config"}),
    "shutdown": None,
    "reboot": None,
    "halt": None,
    "poweroff": None,
    "init": frozenset({"0", "6"}),
    "sfltool": None,
    "profiles": frozenset({"install", "remove"}),
}


def _system_change(cmd: Cmd) -> list[Finding]:
    spec = _SYSTEM_CHANGE.get(cmd.prog)
    if cmd.prog not in _SYSTEM_CHANGE:
        return []
    args = cmd.args
    if cmd.prog == "crontab":  # `crontab file` installs a table; -l only lists it
        installs = [a for a in args if not a.startswith("-")] or "-" in args
        if installs or {"-r", "-i"} & set(args):
            return [("high", "changes the system's configuration (crontab)", "system.configuration")]
        return []
    if cmd.prog == "sysctl" and any("=" in a for a in args):
        return [("high", "changes the system's configuration (sysctl)", "system.configuration")]
    flags = {a.split("=", 1)[0] for a in args}
    if (
        spec is None
        and (
            args or cmd.prog in ("setenforce", "swapoff", "visudo", "reboot", "halt", "poweroff", "shutdown")
        )
    ) or (spec is not None and flags & spec):
        what = next((a for a in args if spec and a.split("=", 1)[0] in spec), "")
        return [
            (
                "high",
                f"changes the system's configuration ({cmd.prog} {what}".rstrip() + ")",
                "system.configuration",
            )
        ]
    return []


def _history(cmd: Cmd) -> list[Finding]:
    """Hiding what was run: history variables, ``history -c``, ``set +o history``."""
    hides = any(_HISTORY_VARS.match(a) for a in cmd.assigns)
    args = cmd.args
    if cmd.prog in ("export", "declare", "typeset", "local", "readonly"):
        hides = hides or any(_HISTORY_VARS.match(a) for a in args)
    elif cmd.prog == "unset":
        hides = any(a.startswith("HIST") or a == "PROMPT_COMMAND" for a in args)
    elif cmd.prog == "history":
        # -c clears everything; -d N drops one entry (not asked)
        hides = any(a.startswith("-") and "c" in a[1:] for a in args)
    elif cmd.prog == "set":
        hides = "+o" in args and "history" in args
    return [("high", "hides shell history", "system.hides-history")] if hides else []


_DISK_TOOLS = frozenset(
    {
        "mkfs",
        "wipefs",
        "fdisk",
        "sfdisk",
        "cfdisk",
        "parted",
        "gdisk",
        "sgdisk",
        "blkdiscard",
        "mkswap",
        "cryptsetup",
        "zpool",
    }
)


def _writes(cmd: Cmd, ws: str | None) -> list[Finding]:
    """Redirections and the destinations of cp/mv/tee/dd/install/ln/sed -i."""
    dests: list[Word] = [w for op, w in cmd.redirects if op in (">", ">>", ">|", "&>", "&>>", ">&")]
    prog, args = cmd.prog, cmd.argv[1:]
    _, operands = _flags(args)
    if prog in ("cp", "mv", "install", "ln", "rsync") and len(operands) >= 2:
        dests.append(operands[-1])
    elif prog == "tee":
        dests.extend(operands)
    elif prog == "dd":
        dests.extend(Word(a.value[3:], a.static) for a in args if a.value.startswith("of="))
    elif prog == "sed" and any(a.value.startswith(("-i", "--in-place")) for a in args):
        dests.extend(operands[1:])
    elif prog == "truncate":
        dests.extend(w for w in operands if not re.match(r"^[+-<>/%]?\d+[KMGTkmg]?$", w.value))
    out: list[Finding] = []
    for assign in (*cmd.assigns, *(a for a in cmd.args if cmd.prog == "export")):
        m = _PRELOAD.match(assign)
        if (
            m
            and not m.group(0).startswith("PROMPT_COMMAND")
            and (
                not m.group(0).startswith("NODE_OPTIONS") or "--require" in m.group(1) or "-r " in m.group(1)
            )
        ):
            value = m.group(1).strip("'\"")
            cls = path_class(value.split(":")[0], cmd.cwd, ws) if value else "inside"
            if cls not in ("inside", "workspace", "system") or cmd.prog == "export":
                out.append(
                    ("high", f"installs code that runs at start-up ({assign[:60]})", "system.start-up-code")
                )
    for w in dests:
        v = w.value
        if not w.static or v.isdigit() or v in ("-", ""):
            continue
        cls = path_class(v, cmd.cwd, ws)
        if cls == "device":
            out.append(("critical", f"writes to a block device ({v})", "system.writes-block-device"))
        elif (
            CREDENTIAL_PATH.search(v)
            and re.search(r"(?:^|/)\.env[^/]*$", v)
            and cls in ("inside", "workspace", "temp")
        ):
            out.append(("medium", f"writes the project's .env file ({v})", "credentials.writes-project-env"))
        elif _POLICY_FILE.search(v):
            out.append(("high", f"changes the risk gate's policy ({v})", "system.changes-gate-policy"))
        elif (CREDENTIAL_PATH.search(v) or _STARTUP.search(v)) and _in_project(cls, ws):
            continue  # a key file or a .profile the project itself keeps: not the user's
        elif CREDENTIAL_PATH.search(v):
            out.append(("high", f"writes a credential or key file ({v})", "credentials.writes"))
        elif _STARTUP.search(v) or _STARTUP_ENTRY.search(v):
            out.append(("high", f"installs code that runs at start-up ({v})", "system.start-up-code"))
        elif cls == "system":
            out.append(("high", f"writes a system path ({v})", "system.writes-system-path"))
    return out


def _timestomp(cmd: Cmd, ws: str | None) -> list[Finding]:
    """``touch -t/-d/-r``: a file's times set to a chosen date; routine in the workspace."""
    if cmd.prog != "touch":
        return []
    args = cmd.args
    dated = any(
        a in ("-t", "-d", "-r", "--date", "--reference")
        or a.startswith(("--date=", "--reference="))
        or (re.match(r"^-[acmh]*[tdr]$", a) is not None)
        for a in args
    )
    if not dated:
        return []
    with_arg = {"-t", "-d", "-r", "--date", "--reference"}
    operands, dates, skip = [], [], False
    for w in cmd.argv[1:]:
        if skip:
            skip = False
            dates.append(w)
        elif w.value in with_arg or re.match(r"^-[acmh]*[tdr]$", w.value):
            skip = True
        elif w.value.startswith(("--date=", "--reference=")):
            dates.append(w)
        elif not w.value.startswith("-"):
            operands.append(w)
    if not dates or not all(w.static for w in dates):
        return []  # a date computed when it runs (`date +%m%d0000`): not a chosen one
    known = _targets(cmd, operands, cmd.cwd, ws)
    outside = [v for cls, v in known if cls not in ("inside", "workspace", "unknown", "unknown-root")]
    if not outside:
        return []
    return [("high", f"sets a file's times to a chosen date ({outside[0]})", "system.timestomps-file")]
