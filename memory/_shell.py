"""Does a shell command possibly change files or the environment?

The failure memory denies an exact repeat only when nothing that could change its outcome
happened since it failed, so it must tell a read-only command (``ls``, ``cat``, ``grep``,
``git diff``...) from everything else. The command is read by the gate's one shell parser
(``risk/shell.py``); it is read-only only if every simple command in it is a program known
not to write, with arguments that keep it so, and no output is redirected to a file.
Anything not understood counts as a change: a change wrongly assumed only turns a denial
into advice, while a change missed would deny a command that may now succeed.
"""

from __future__ import annotations

import re

__all__ = ["may_change"]

# Programs that read and print, whatever their arguments (argument checks for the others below).
_READ_ONLY = frozenset(
    """
ls ll la dir cat tac head tail wc grep egrep fgrep rg ag ack tree pwd echo printf which type
whereis file stat du df diff cmp comm cut tr nl less more od hexdump strings basename dirname
realpath readlink printenv id whoami groups uname true false test [ [[ cd pushd popd
jq column fold expand unexpand rev seq look zcat zgrep bzcat xzcat md5sum sha1sum
sha256sum sha512sum cksum b2sum lsof ps pgrep free uptime nproc locale getconf man help
apropos whatis ldd nm objdump readelf tput clear cal
""".split()
)
# `sleep`/`wait` are not here on purpose: waiting is how an agent lets something outside the
# workspace change (a server start, a lock release), so a rerun after it may well succeed.
_SYSTEM_BIN = ("/bin/", "/usr/bin/", "/usr/local/bin/", "/sbin/", "/usr/sbin/")
# git subcommands that only read the repository.
_GIT_READ = frozenset(
    """
status diff log show blame grep ls-files ls-tree rev-parse describe shortlog cat-file
rev-list show-ref name-rev merge-base whatchanged reflog help version count-objects
""".split()
)
_PIP_READ = frozenset({"list", "show", "freeze", "check", "help", "search", "index", "inspect"})
_WRAPPERS = frozenset({"time", "nice", "nohup", "command", "builtin", "exec", "stdbuf", "ionice"})
_KEYWORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "(", "time"})
_CLOSERS = frozenset({"fi", "done", "esac", "}", ")", ""})
_HARMLESS_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^]]*\])?\+?=")


def _strip_prefix(argv: list[str]) -> list[str]:
    """Drop keywords, variable assignments and wrappers that run the rest unchanged."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _KEYWORDS or _ASSIGN.match(word):
            i += 1
        elif word in _WRAPPERS:
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
        elif word == "timeout":
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
            i += 1  # the duration
        else:
            break
    return argv[i:]


def _xargs_inner(args: list[str]) -> list[str]:
    i = 0
    with_value = {"-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a", "--max-args", "--delimiter"}
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in with_value else 1
    return args[i:]


def _short_flags(args: list[str]) -> set[str]:
    """The letters of every short-option cluster (``-Ei`` -> E, i)."""
    return {ch for a in args if a.startswith("-") and not a.startswith("--") for ch in a[1:]}


_SED_WRITES = re.compile(r"(?:^|[;}\n])\s*[wWe](?:\s|$)|/[gpIiMme0-9]*[we](?:\s|$)")


def _argv_read_only(argv: list[str]) -> bool:
    argv = _strip_prefix(argv)
    if not argv:
        return True  # a bare assignment or keyword: changes nothing on disk
    if "/" in argv[0] and not argv[0].startswith(_SYSTEM_BIN):
        return False  # ./test, bin/diff: a program of the workspace, not the system tool
    prog, args = argv[0].rsplit("/", 1)[-1], argv[1:]
    flags = _short_flags(args)
    if prog in _CLOSERS:
        return True
    if prog == "for" or prog == "case" or prog == "select":
        return prog == "for"  # `for x in a b`: the loop's words; its body is split apart
    if prog == "xargs":
        return _argv_read_only(_xargs_inner(args))
    if prog == "find":
        return not any(
            a in ("-delete", "-exec", "-execdir", "-ok", "-okdir") or a.startswith("-fprint") or a == "-fls"
            for a in args
        )
    if prog == "sed":
        return not ({"i", "f"} & flags) and not any(
            a.startswith(("--in-place", "--file")) or _SED_WRITES.search(a) for a in args
        )
    if prog in ("awk", "gawk", "mawk"):
        return not ({"i", "f"} & flags) and not any(
            ("system" in a or ">" in a or "|" in a or a.startswith("--")) for a in args
        )
    if prog == "sort":
        return "o" not in flags and not any(a.startswith("--output") for a in args)
    if prog == "tee":
        return all(a.startswith("-") or a in _HARMLESS_TARGETS for a in args)
    if prog == "uniq":
        return len([a for a in args if not a.startswith("-")]) <= 1
    if prog in ("tree", "jq"):
        return "o" not in flags and not any(a.startswith("--output") for a in args)
    if prog in ("rg", "grep", "egrep", "fgrep", "ag", "ack"):
        return not any(a.startswith("--pre") for a in args)
    if prog == "git":
        return _git_read_only(args)
    if prog in ("pip", "pip3") or (prog.startswith("python") and args[:2] in (["-m", "pip"],)):
        rest = args[2:] if prog.startswith("python") else args
        return bool(rest) and (rest[0] in _PIP_READ or rest[0] in ("--version", "-V"))
    if prog.startswith("python") or prog in ("node", "ruby", "perl"):
        return bool(args) and all(a in ("--version", "-V", "-VV") for a in args)
    if prog == "env":
        return not [a for a in args if not a.startswith("-") and not _ASSIGN.match(a)]
    if prog in ("hostname", "date"):
        return not [a for a in args if not a.startswith(("-", "+"))] and not (
            {"s"} & flags or any(a.startswith("--set") for a in args)
        )
    if prog == "history":
        return not ({"w", "a", "c", "d", "r", "n"} & flags)
    return prog in _READ_ONLY


def _git_read_only(args: list[str]) -> bool:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "-c" or args[i].startswith("--config-env"):
            return False  # a config value can run a program (core.fsmonitor, core.pager...)
        i += 2 if args[i] in ("-C", "--git-dir", "--work-tree") else 1
    sub = args[i] if i < len(args) else ""
    rest = args[i + 1 :]
    if any(a.startswith(("--output", "-o")) and sub in ("diff", "log", "show", "format-patch") for a in rest):
        return False
    if sub in _GIT_READ:
        return not (sub == "reflog" and rest[:1] in (["expire"], ["delete"]))
    if sub in ("branch", "tag"):
        return not rest or all(
            a.startswith("-") and a not in ("-d", "-D", "-m", "-M", "-c", "-C", "-f") for a in rest
        )
    if sub in ("remote", "stash"):
        return rest[:1] in ([], ["-v"], ["list"], ["show"]) and (sub == "remote" or bool(rest))
    if sub == "config":
        return any(a in ("--get", "--list", "-l", "--get-all") for a in rest)
    return False


def may_change(command: str, cwd: str | None = None) -> bool:
    """True unless every simple command of ``command`` (as ``risk.shell`` reads it: lists,
    pipelines, subshells, substitutions, wrappers, ``find -exec``...) is known not to write
    files or the environment, with no output redirected to a file."""
    from task_orchestrator.risk.shell import parse

    try:
        parsed = parse(command, cwd)
    except RecursionError:
        return True
    if not parsed.ok:
        return True  # not understood: counts as a change
    for cmd in parsed.commands:
        for op, target in cmd.redirects:
            if ">" not in op:
                continue
            if (op in (">&", "<&") and target.value.isdigit()) or target.value in _HARMLESS_TARGETS:
                continue
            return True
        if cmd.prog in ("<dynamic code>", "<dynamic program>"):
            return True
        if cmd.prog == ":" and cmd.assigns:
            continue  # NAME=value alone: gone with the shell
        if not _argv_read_only([w.value for w in cmd.argv]):
            return True
    return False
