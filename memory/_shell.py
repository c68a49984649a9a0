"""Does a shell command possibly change files or the environment? Standard library only.

The failure memory denies an exact repeat only when nothing that could change its outcome
happened since it failed, so it must tell a read-only command (``ls``, ``cat``, ``grep``,
``git diff``...) from everything else. The answer is conservative: a command is read-only
only if every simple command in it (lists, pipelines, subshells, ``$(...)``, backticks) is
a program known not to write, with arguments that keep it so, and no output is redirected
to a file. Anything not understood counts as a change: a change wrongly assumed only turns
a denial into advice, while a change missed would deny a command that may now succeed.

Imported by the ``command`` hook, so it costs no third-party import.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["may_change", "simple_commands"]

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
_MAX_DEPTH = 16
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
_HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*(['\"]?)([A-Za-z_][\w.-]*)\1")
_SUBST = re.compile(r"\$\(|`|<\(|>\(")
_REDIRECT_CHARS = frozenset("<>&|")
_SEPARATOR_CHARS = frozenset(";&|()")


def _strip_heredocs(command: str) -> str | None:
    """The command without here-document bodies (data, not commands); None when a body has
    no terminator line (a ``<<`` that was not a here-document after all)."""
    lines = command.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        for m in _HEREDOC.finditer(line):
            end = m.group(2)
            while i < len(lines) and lines[i].strip() != end:
                i += 1  # a line of the body
            if i >= len(lines):
                return None
            i += 1  # the terminator
    return "\n".join(out)


def _substitutions(text: str) -> tuple[str, list[str]] | None:
    """``text`` with every ``$(...)``, ``<(...)``, ``>(...)`` and backtick part replaced by a
    placeholder word, and those parts; None if they are unbalanced (not understood)."""
    if not _SUBST.search(text):
        return text, []
    out: list[str] = []
    inner: list[str] = []
    i, n = 0, len(text)
    quote = ""
    while i < n:
        c = text[i]
        if quote == "'":
            out.append(c)
            if c == "'":
                quote = ""
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            out.append(text[i : i + 2])
            i += 2
            continue
        if c == "'" and not quote:
            quote = "'"
        elif c == '"':
            quote = "" if quote == '"' else '"'
        if c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                return None
            inner.append(text[i + 1 : j])
            out.append("__SUBST__")
            i = j + 1
            continue
        if c in "$<>" and i + 1 < n and text[i + 1] == "(" and not (c == "$" and text[i + 2 : i + 3] == "("):
            depth, j = 1, i + 2
            while j < n and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            if depth:
                return None
            inner.append(text[i + 2 : j - 1])
            out.append("__SUBST__")
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out), inner


def _statements(text: str) -> str:
    """Unquoted newlines become ``;`` (they end a command), a backslash-newline joins lines,
    and a comment (``#`` at the start of a word, outside quotes) is dropped to its line's end."""
    out: list[str] = []
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            out.append(c)
            if c == "\\" and quote == '"' and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == quote:
                quote = ""
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            out.append(" " if text[i + 1] == "\n" else text[i : i + 2])
            i += 2
            continue
        if c in "'\"":
            quote = c
        elif c == "\n":
            out.append(" ; ")
            i += 1
            continue
        elif c == "#" and (not out or out[-1][-1:] in " \t;&|()"):
            while i < n and text[i] != "\n":
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def simple_commands(command: str, _depth: int = 0) -> list[tuple[list[str], list[str]]] | None:
    """[(argv, redirection targets written)] of every simple command, inner ones included;
    None when the command cannot be split (unbalanced quotes or substitutions, a here-document
    without its end, nesting deeper than any real command)."""
    if _depth > _MAX_DEPTH:
        return None
    stripped = _strip_heredocs(command)
    if stripped is None:
        return None
    subst = _substitutions(stripped)
    if subst is None:
        return None
    text, inner = subst
    try:
        lexer = shlex.shlex(_statements(text), posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        lexer.commenters = ""
        tokens = list(lexer)
    except ValueError:
        return None
    out: list[tuple[list[str], list[str]]] = []
    argv: list[str] = []
    writes: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok and set(tok) <= _REDIRECT_CHARS and ("<" in tok or ">" in tok):  # >, >>, >|, 2>&1
            target = tokens[i + 1] if i + 1 < len(tokens) else ""
            if argv and argv[-1].isdigit():
                argv.pop()  # the file descriptor of `2>`
            if ">" in tok and not (tok.endswith("&") and (target.isdigit() or target == "-")):
                writes.append(target)
            i += 2
            continue
        if tok and set(tok) <= _SEPARATOR_CHARS:
            out.append((argv, writes))
            argv, writes = [], []
        else:
            argv.append(tok)
        i += 1
    out.append((argv, writes))
    for part in inner:
        nested = simple_commands(part, _depth + 1)
        if nested is None:
            return None
        out += nested
    return [(a, w) for a, w in out if a or w]


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


def may_change(command: str) -> bool:
    """True unless every part of ``command`` is known not to write files or the environment."""
    try:
        parts = simple_commands(command)
    except RecursionError:
        return True
    if parts is None:
        return True
    for argv, writes in parts:
        if any(t not in _HARMLESS_TARGETS for t in writes):
            return True
        if not _argv_read_only(argv):
            return True
    return False
