"""A shell command as what will run: simple commands with argv, redirections and wrappers.

The risk rules judge what executes, not words in the text, so a command line is parsed with
tree-sitter's bash grammar and walked into *simple commands*: lists, pipelines, subshells,
compound statements and command substitutions are split; ``sudo``, ``env``, ``nice``,
``timeout``, ``nohup``, ``command``, ``exec``, ``xargs``, ``parallel`` and ``find
-exec/-execdir/-ok/-delete`` are unwrapped; the code given to ``bash|sh|zsh -c``, ``eval``,
``watch``, and the here-documents, here-strings and literal pipes fed to a shell are parsed in
turn; ``cd`` is followed within the line; ``$HOME``, ``~`` and literal assignments made earlier
in the same line are expanded. Quoted text stays data unless it reaches something that runs it.

Why tree-sitter: it parses the whole bash grammar (heredocs, nested quoting, ``case``, arrays,
process substitution) in ~10 us a command, and its two compiled modules load in ~1.5 ms when
imported without their package ``__init__`` (which pull in ``typing`` and
``importlib.resources``, ~12 ms of a hook process). ``bashlex`` (pure Python) takes ~80 ms to
import and stops at many constructs; ``shlex`` knows no operators. When the grammar is missing
or the text does not parse, ``parse`` says so and the caller falls back to the text rules.
"""

from __future__ import annotations

import os
import posixpath
import re

from task_orchestrator._lazy import LazyRe as _LazyRe

TYPE_CHECKING = False  # typing costs a hook process ~7 ms to import
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

__all__ = ["Cmd", "Parsed", "Word", "parse", "parser_available"]


_MAX_DEPTH = 8
_MAX_ARGS = 4000
_PARSER = None
_PARSER_ERROR: str | None = None


def _load_extension(package: str, name: str):
    """``package.name`` loaded straight from its file, without running ``package/__init__``
    (nor importing ``importlib.util``: ~4 ms of a hook process)."""
    import importlib.machinery
    import sys

    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for entry in sys.path:
        folder = os.path.join(entry or ".", package)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.startswith(name + ".") and file.endswith(suffixes):
                full = f"{package}.{name}"
                path = os.path.join(folder, file)
                loader = importlib.machinery.ExtensionFileLoader(full, path)
                spec = importlib.machinery.ModuleSpec(full, loader, origin=path)
                module = loader.create_module(spec)
                loader.exec_module(module)
                return module
    raise ImportError(f"no compiled {package}.{name} found on sys.path")


def _parser():
    global _PARSER, _PARSER_ERROR
    if _PARSER is None and _PARSER_ERROR is None:
        try:
            try:
                binding = _load_extension("tree_sitter", "_binding")
                grammar = _load_extension("tree_sitter_bash", "_binding")
            except Exception:  # an unusual install layout: the regular imports
                import tree_sitter as binding  # type: ignore[no-redef]
                import tree_sitter_bash as grammar  # type: ignore[no-redef]
            _PARSER = binding.Parser(binding.Language(grammar.language()))
        except Exception as exc:  # no grammar: callers fall back to the text rules
            _PARSER_ERROR = f"{type(exc).__name__}: {exc}"
    return _PARSER


def parser_available() -> bool:
    return _parser() is not None


class Word:
    """One argument: its value where statically known (unknown parts kept as written)."""

    __slots__ = ("filtered", "found_under", "output", "quoted", "selects", "sources", "static", "value")

    def __init__(
        self,
        value: str,
        static: bool = True,
        quoted: bool = False,
        sources: frozenset[str] = frozenset(),
        found_under: tuple[str, ...] = (),
        filtered: bool = False,
    ) -> None:
        self.value, self.static, self.quoted = value, static, quoted
        # Kinds of what produced an unknown part ("network", "decoded"...): "$(curl ...)".
        self.sources = sources
        self.found_under = found_under  # ``{}`` of find -exec: a path under these start paths
        self.filtered = filtered  # ... and find selects by name, type, age...
        self.output: str | None = None  # what a process substitution prints, when known
        self.selects: tuple[str, ...] = ()  # ... the names find's -name/-path tests select

    def __repr__(self) -> str:
        return f"Word({self.value!r}{'' if self.static else ', dynamic'})"


class Cmd:
    """A simple command as it will run."""

    __slots__ = (
        "_prog",
        "argv",
        "assigns",
        "cwd",
        "depth",
        "from_input",
        "line",
        "redirects",
        "stdin",
        "stdin_text",
        "wrappers",
    )

    def __init__(
        self,
        argv: list[Word],
        redirects: list[tuple[str, Word]] | None = None,
        wrappers: tuple[str, ...] = (),
        cwd: str | None = None,
        stdin: str | None = None,
        stdin_text: str | None = None,
        depth: int = 0,
        line: int = 0,
        from_input: bool = False,
        assigns: tuple[str, ...] = (),
    ) -> None:
        self.argv = argv
        self.redirects = redirects if redirects is not None else []
        self.wrappers, self.cwd, self.depth, self.line = wrappers, cwd, depth, line
        self.stdin = stdin  # network / decoded / literal / dynamic / file / heredoc
        self.stdin_text = stdin_text
        self.from_input = from_input  # more arguments come from stdin (xargs, parallel)
        self.assigns = assigns  # NAME=value set for this command, as written
        self._prog: tuple[list[Word], str] | None = None

    def __repr__(self) -> str:
        return f"Cmd({self.args_of_all()!r}, wrappers={self.wrappers!r}, cwd={self.cwd!r})"

    def args_of_all(self) -> list[str]:
        return [w.value for w in self.argv]

    @property
    def prog(self) -> str:
        """The program's name (cached: argv is not changed once the command is built)."""
        known = self._prog
        if known is not None and known[0] is self.argv:
            return known[1]
        if not self.argv:
            name = ""
        else:
            first = self.argv[0]
            if first.value == "<dynamic code>":
                name = first.value
            elif not first.static:  # `$which_python -c ...` is still python; others are unknown
                name = "python" if "python" in first.value.lower() else "<dynamic program>"
            else:
                name = posixpath.basename(first.value)
        self._prog = (self.argv, name)
        return name

    @property
    def args(self) -> list[str]:
        return [w.value for w in self.argv[1:]]


class Parsed:
    """The simple commands of a command line, its rendering for the text rules, and problems."""

    __slots__ = ("commands", "expansions", "lines", "ok", "problems")

    def __init__(self) -> None:
        self.commands: list[Cmd] = []
        self.expansions: list[str] = []  # what was expanded as bash would, for `explain`
        self.lines: list[list[str]] = []  # rendered pipelines, for the text rules
        self.problems: list[str] = []
        self.ok = True


# -- classification of programs ---------------------------------------------------------------
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "busybox"})
INTERPRETERS = {
    "python": "python",
    "python2": "python",
    "python3": "python",
    "pypy": "python",
    "pypy3": "python",
    "node": "node",
    "nodejs": "node",
    "bun": "node",
    "deno": "node",
    "perl": "perl",
    "ruby": "ruby",
    "php": "php",
    "awk": "awk",
    "gawk": "awk",
    "mawk": "awk",
    "nawk": "awk",
}
NETWORK = frozenset(
    {
        "curl",
        "wget",
        "fetch",
        "http",
        "https",
        "aria2c",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "telnet",
        "lwp-download",
        "lwp-request",
        "ftp",
        "tftp",
    }
)
_DECODE_FLAGS = {
    "base64": ("-d", "--decode", "-D"),
    "base32": ("-d", "--decode"),
    "basenc": ("-d", "--decode"),
    "xxd": ("-r",),
    "uudecode": (),
    "gzip": ("-d", "--decompress"),
    "gunzip": (),
    "zcat": (),
    "bzip2": ("-d",),
    "bunzip2": (),
    "bzcat": (),
    "xz": ("-d",),
    "unxz": (),
    "xzcat": (),
    "zstd": ("-d",),
    "unzstd": (),
    "openssl": ("-d", "base64"),
    "rev": (),
    "lzma": ("-d",),
    "unlzma": (),
    "tr": (),
}
_DATA_PROGRAMS = frozenset(
    {
        "echo",
        "printf",
        "alias",
        "grep",
        "egrep",
        "fgrep",
        "rg",
        "ag",
        "ack",
        "jq",
        "sed",
        "awk",
        "gawk",
        "cat",
        "tee",
        "git",
        "sort",
        "cut",
        "tr",
        "wc",
        "head",
        "tail",
        "less",
        "diff",
        "test",
        "[",
        "[[",
    }
)
_WITH_ARG = {
    "sudo": "-u -g -C -D -h -p -U -r -t -T --user --group --chdir --host --prompt --role --type",
    "doas": "-u -C",
    "pkexec": "--user",
    "run0": "-u --user -D --chdir",
    "nice": "-n --adjustment",
    "ionice": "-c -n -p -t --class --classdata",
    "timeout": "-s -k --signal --kill-after",
    "stdbuf": "-i -o -e",
    "chrt": "",
    "taskset": "",
    "flock": "-w -E --timeout --conflict-exit-code",
    "exec": "-a",
    "xargs": "-a -d -E -e -I -i -L -l -n -P -s --arg-file --delimiter --eof --replace "
    "--max-lines --max-args --max-procs --max-chars --process-slot-var",
    "parallel": "-j -S -a --jobs --sshlogin --arg-file --joblog -I --delay --timeout",
    "env": "-u -C -S --unset --chdir --split-string",
    "watch": "-n -d --interval",
    "setsid": "",
    "chronic": "",
    "systemd-run": "-p --property -u --unit -E --setenv -M --machine --description --slice -H --host "
    "--on-active --on-boot --on-startup --on-unit-active --on-unit-inactive --on-calendar --timer-property "
    "--uid --gid --nice --working-directory -d --service-type",
    "nocache": "",
    "eatmydata": "",
    "firejail": "",
    "numactl": "",
    "prlimit": "",
    "torsocks": "",
    "torify": "",
    "proxychains": "-f",
    "proxychains4": "-f",
    "gosu": "",
    "su-exec": "",
    "setpriv": "",
    "dbus-run-session": "",
    "xvfb-run": "-n -s -e -f -p --server-num --server-args --error-file --auth-file",
    "cgexec": "-g",
    "catchsegv": "",
    "valgrind": "",
    "faketime": "",
    "ts": "",
    "sem": "-j --id",
    "unshare": "",
    "nohup": "",
    "time": "",
    "command": "",
    "builtin": "",
    "strace": "-o -e -p -s -u -E -P -a -b -O -S -X",
    "ltrace": "-o -e -p -s -u -E -a -n",
}
WRAPPERS = frozenset(_WITH_ARG) | {"chroot", "caffeinate", "unbuffer"}
# Tests that select some files (-type, -maxdepth, -xdev do not narrow a delete enough).
_NAME_TESTS = frozenset("-name -iname -path -ipath -wholename -iwholename -regex -iregex".split())
_FIND_TESTS = frozenset(
    """
-mtime -mmin -atime -amin -ctime -cmin -newer -anewer -cnewer -size -user -group -uid -gid
-nouser -nogroup -perm -empty -inum -links -samefile -lname -ilname -used -newermt
""".split()
)
_ASSIGN_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_SIMPLE_LINE = re.compile(r"^[\w ./=:,+@%~^*-]*$")


def _home() -> str:
    return os.environ.get("HOME") or posixpath.expanduser("~") or "/root"


def _tilde(value: str, ctx: _Ctx) -> str:
    """``~``, ``~/x``, ``~+`` ($PWD), ``~-``, ``~user`` (that user's home)."""
    head, sep, rest = value.partition("/")
    if head == "~":
        base = _home()
    elif head == "~+" and ctx.cwd:
        base = ctx.cwd
    elif re.match(r"^~[a-z_][\w.-]*$", head):
        base = "/root" if head == "~root" else f"/home/{head[1:]}"
    else:
        return value
    return base + sep + rest


_KNOWN_OUTPUT = _LazyRe(r"^(?:\$\(|`)\s*(?:pwd|git\s+rev-parse\s+--show-toplevel)\s*(?:\)|`)$")


def stage_kind(cmd: Cmd) -> str:
    """What a pipeline stage hands to the next one."""
    prog, args = cmd.prog, cmd.args
    if prog in NETWORK:
        return "network"
    if prog in _DECODE_FLAGS:
        flags = _DECODE_FLAGS[prog]
        if not flags or any(
            a in flags
            or (
                a.startswith("-") and not a.startswith("--") and any(f[1:] in a for f in flags if len(f) == 2)
            )
            for a in args
        ):
            return "decoded"
    if prog in ("echo", "printf"):
        if all(w.static for w in cmd.argv[1:]) and not cmd.from_input:  # xargs echo: input
            return "literal"
        return "network" if any("network" in w.sources for w in cmd.argv) else "dynamic"
    if prog == "cat" and cmd.stdin_text is not None:
        return "literal"
    if prog == "cat" and cmd.args:
        return "file"
    return "dynamic"


class _Ctx:
    __slots__ = ("aliases", "arrays", "cwd", "depth", "functions", "positional", "remote", "taint", "vars")

    def __init__(
        self,
        cwd: str | None,
        depth: int,
        variables: dict[str, str],
        taint: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.cwd, self.depth, self.vars = cwd, depth, variables
        self.taint = taint if taint is not None else {}  # what made a run-time variable
        self.aliases: dict[str, str] = {}
        self.functions: dict[str, tuple[_Walker, object]] = {}  # name -> its walker, body node
        self.arrays: dict[str, list[str]] = {}
        self.positional: list[Word] | None = None  # $1 $2 ... "$@", when set in the line
        self.remote = False  # commands of `ssh host CMD`: they run on another machine

    def child(self, depth: int | None = None) -> _Ctx:
        c = _Ctx(self.cwd, self.depth if depth is None else depth, dict(self.vars), dict(self.taint))
        c.aliases, c.functions, c.arrays = dict(self.aliases), dict(self.functions), dict(self.arrays)
        c.positional, c.remote = self.positional, self.remote
        return c


class _Walker:
    def __init__(self, source: bytes, out: Parsed) -> None:
        self.src, self.out = source, out
        self.producer: Cmd | None = None  # the pipeline stage before the one being walked
        self.defined: list[tuple[object, _Ctx]] = []  # function bodies, and where defined
        self.called: set[int] = set()  # ids of the bodies some command called

    def uncalled(self, ctx: _Ctx) -> None:
        """A function never called in the line may be called later: its body is judged once,
        its arguments unknown."""
        for body, where in self.defined:
            if id(body) not in self.called:
                self.called.add(id(body))
                self.statement(body, where.child(where.depth + 1))

    def call(self, body, argv: list[Word], ctx: _Ctx, line: int, name: str) -> None:
        """A function called in the line: its body, with these arguments as $1 $2 ... "$@"."""
        self.called.add(id(body))
        if ctx.depth >= _MAX_DEPTH:
            self.out.problems.append("nesting too deep to follow")
            self.out.ok = False
            return
        inner = ctx.child(ctx.depth + 1)
        inner.positional = list(argv[1:])
        self.note(
            f"{name} -> the body of function {name} with arguments {' '.join(w.value for w in argv[1:])}"
        )
        start = len(self.out.commands)
        self.statement(body, inner, None, line)
        for c in self.out.commands[start:]:
            c.wrappers = (f"function {name}", *c.wrappers)

    def text(self, node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- words ------------------------------------------------------------------------------
    def word(self, node, ctx: _Ctx, split: bool = False) -> Word:
        """One word's value. ``split``: the word is unquoted, so what its expansions produce
        is split on ``$IFS`` (the places are marked with ``_SPLIT`` for ``fields``)."""
        t = node.type
        if t == "word":
            raw = self.text(node)
            value = re.sub(r"\\(.)", r"\1", raw, flags=re.S)
            if value.startswith("~") and not raw.startswith("\\"):
                value = _tilde(value, ctx)
            return Word(value)
        if t == "raw_string":
            return Word(self.text(node)[1:-1], quoted=True)
        if t == "ansi_c_string":
            body = self.text(node)[2:-1]
            try:
                body = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
            except UnicodeDecodeError:
                pass
            if body != self.text(node)[2:-1]:
                self.note(f"{self.text(node)} -> {body!r}")
            return Word(body, quoted=True)
        if t in ("string", "translated_string"):
            return self._string(node, ctx)
        if t == "concatenation":
            parts = [self.word(c, ctx, split) for c in node.named_children]
            w = Word(
                "".join(p.value for p in parts),
                all(p.static for p in parts),
                any(p.quoted for p in parts),
                frozenset().union(*(p.sources for p in parts)),
            )
            return w
        if t == "simple_expansion":
            return self._split(self._var(self.text(node)[1:], ctx, self.text(node)), ctx, split)
        if t == "expansion":
            return self._split(self._param(node, ctx), ctx, split)
        if t in ("command_substitution", "process_substitution"):
            known = _KNOWN_OUTPUT.match(self.text(node))
            start = len(self.out.commands)
            found = self.substitution(node, ctx)
            if known and ctx.cwd:  # $(pwd), `git rev-parse --show-toplevel`: where we are
                return Word(ctx.cwd)
            printed = _printed(self.out.commands[start:], ctx.depth + 1)
            if printed is not None and t == "command_substitution":
                self.note(f"{self.text(node)} -> {printed!r}")
                w = self._split(Word(printed), ctx, split)
                if "decoded" in found:  # known here, and still a payload someone encoded
                    w.sources = frozenset({"decoded"})
                return w
            w = Word(self.text(node), static=False, sources=frozenset(found))
            w.output = printed
            return w
        if t in ("number", "string_content"):
            return Word(self.text(node))
        # $(( $(...) )), arrays, subscripts: what runs inside still runs
        kinds: set[str] = set()
        for sub in _descendants(node, ("command_substitution", "process_substitution")):
            kinds |= self.substitution(sub, ctx)
        return Word(self.text(node), static=False, sources=frozenset(kinds))

    def _split(self, w: Word, ctx: _Ctx, split: bool) -> Word:
        """An unquoted expansion's value with the places ``$IFS`` splits it at marked."""
        if split and w.static:
            ifs = ctx.vars.get("IFS", " \t\n")
            if ifs and any(ch in w.value for ch in ifs):
                return Word("".join(_SPLIT if ch in ifs else ch for ch in w.value))
        return w

    def note(self, text: str) -> None:
        if len(self.out.expansions) < 64:
            self.out.expansions.append(text)

    def fields(self, node, ctx: _Ctx) -> list[Word]:
        """The arguments one word becomes: ``"$@"`` and arrays, unquoted expansions split
        on ``$IFS``, braces expanded."""
        spread = self._spread(node, ctx)
        if spread is not None:
            return spread
        w = self.word(node, ctx, split=True)
        if _SPLIT in w.value:
            out = [
                Word(_tilde(v, ctx) if v.startswith("~") else v, w.static, w.quoted, w.sources)
                for v in w.value.split(_SPLIT)
                if v
            ]
            self.note(f"{self.text(node)} -> {' '.join(v.value for v in out)} (split on $IFS)")
            return out
        if w.static and not w.quoted and re.search(r"\{[^{}]*,[^{}]*\}", w.value):
            out = [Word(_tilde(v, ctx) if v.startswith("~") else v) for v in _braces(w.value)]
            self.note(f"{self.text(node)} -> {' '.join(v.value for v in out)} (braces)")
            return out
        return [w]

    def _spread(self, node, ctx: _Ctx) -> list[Word] | None:
        """``"$@"``, ``$*``, ``"${a[@]}"``: several words, when their values are known."""
        inner = node
        if node.type == "string" and node.named_child_count == 1:
            inner = node.named_children[0]
        text = self.text(inner)
        if text in ("$@", "$*", "${@}", "${*}"):
            if ctx.positional is None:
                return None
            self.note(f"{self.text(node)} -> {' '.join(w.value for w in ctx.positional)} (set --)")
            return [Word(w.value, w.static, w.quoted, w.sources) for w in ctx.positional]
        m = re.match(r"^\$\{(\w+)\[[@*]\]\}$", text)
        if m and m.group(1) in ctx.arrays:
            values = ctx.arrays[m.group(1)]
            self.note(f"{self.text(node)} -> {' '.join(values)} (array)")
            return [Word(v) for v in values]
        return None

    def _string(self, node, ctx: _Ctx) -> Word:
        pieces: list[str] = []
        static, sources = True, frozenset[str]()
        pos = node.start_byte + 1
        for child in node.named_children:
            if child.start_byte > pos:
                pieces.append(self.src[pos : child.start_byte].decode("utf-8", "replace"))
            if child.type == "string_content":
                pieces.append(re.sub(r"\\([\"\\$`])", r"\1", self.text(child)))
            else:
                w = self.word(child, ctx)
                pieces.append(w.value)
                static = static and w.static
                sources |= w.sources
            pos = child.end_byte
        end = node.end_byte - 1
        if end > pos:
            pieces.append(self.src[pos:end].decode("utf-8", "replace"))
        return Word("".join(pieces), static, True, sources)

    def _var(self, name: str, ctx: _Ctx, written: str) -> Word:
        if name in ctx.vars:
            return Word(ctx.vars[name])
        if name in ctx.arrays:  # $a is ${a[0]}
            return Word(ctx.arrays[name][0] if ctx.arrays[name] else "")
        if name == "HOME":
            return Word(_home())
        if name == "PWD" and ctx.cwd:
            return Word(ctx.cwd)
        if name == "IFS":
            return Word(" \t\n")
        if ctx.positional is not None:
            if name.isdigit() and name != "0":
                n = int(name)
                return ctx.positional[n - 1] if n <= len(ctx.positional) else Word("")
            if name in ("@", "*"):
                return Word(" ".join(w.value for w in ctx.positional), all(w.static for w in ctx.positional))
            if name == "#":
                return Word(str(len(ctx.positional)))
        return Word(written, static=False, sources=ctx.taint.get(name, frozenset()))

    def _param(self, node, ctx: _Ctx) -> Word:
        """``${...}``: the parameter operations bash applies, on values known in the line."""
        written = self.text(node)
        value = _parameter(written[2:-1], self, ctx)
        if value is None:
            kinds: set[str] = set()
            for sub in _descendants(node, ("command_substitution", "process_substitution")):
                kinds |= self.substitution(sub, ctx)
            m = re.match(r"^\$\{(\w+)\}$", written)
            if m:
                return self._var(m.group(1), ctx, written)
            name = re.match(r"^\$\{[!#]?(\w+)", written)
            taint = ctx.taint.get(name.group(1), frozenset()) if name else frozenset()
            return Word(written, static=False, sources=frozenset(kinds) | taint)
        if not re.match(r"^\$\{\w+\}$", written):
            self.note(f"{written} -> {value!r}")
        return Word(value)

    def substitution(self, node, ctx: _Ctx) -> set[str]:
        """Walk the commands inside ``$(...)``/``<(...)``; the kinds of what they print."""
        start = len(self.out.commands)
        inner = ctx.child(ctx.depth + 1)
        for child in node.named_children:
            self.statement(child, inner)
        return {stage_kind(c) for c in self.out.commands[start:]}

    # -- statements -------------------------------------------------------------------------
    def statement(
        self, node, ctx: _Ctx, stdin: tuple[str, str | None] | None = None, line: int | None = None
    ) -> None:
        t = node.type
        if ctx.depth > _MAX_DEPTH:
            self.out.problems.append("nesting too deep to follow")
            self.out.ok = False
            return
        if t == "ERROR" or node.is_missing:
            self.out.problems.append(f"could not parse {self.text(node)[:60]!r}")
            self.out.ok = False
            return
        if t == "command":
            self.command(node, ctx, [], stdin, line)
        elif t == "pipeline":
            self.pipeline(node, ctx, stdin, line)
        elif t == "redirected_statement":
            self.redirected(node, ctx, stdin, line)
        elif t == "variable_assignment":
            self.assignment(node, ctx, ctx.vars)
            self._record(
                Cmd(
                    [Word(":")],
                    assigns=(self.text(node),),
                    cwd=ctx.cwd,
                    depth=ctx.depth,
                    line=self._line(line),
                ),
                self.text(node),
            )
        elif t in ("declaration_command", "unset_command"):
            words = [Word(self.text(node).split(None, 1)[0])]
            for child in node.named_children:
                if child.type == "variable_assignment":
                    self.assignment(child, ctx, ctx.vars)
                    words.append(Word(self.text(child)))
                elif child.type in ("word", "variable_name"):
                    words.append(Word(self.text(child)))
                elif child.type in ("command_substitution", "process_substitution"):
                    self.substitution(child, ctx)
            self._record(Cmd(words, cwd=ctx.cwd, depth=ctx.depth, line=self._line(line)), self.text(node))
        elif t == "subshell":
            inner = ctx.child()
            for child in node.named_children:
                self.statement(child, inner)
        elif t == "for_statement":
            var = node.child_by_field_name("variable")
            values: list[Word] = []
            for child in node.named_children:
                if child.type in ("command_substitution", "process_substitution"):
                    self.substitution(child, ctx)
                    values.append(Word(self.text(child), static=False))
                elif child.type not in ("do_group", "variable_name", "comment"):
                    values.extend(self.fields(child, ctx))
            body = [c for c in node.named_children if c.type == "do_group"]
            # each literal value in turn (at most 8), else once with the variable unknown
            runs = values if values and len(values) <= 8 and all(v.static for v in values) else [None]
            for value in runs:
                inner = ctx.child()
                if var is not None and value is not None:
                    inner.vars[self.text(var)] = value.value
                for b in body:
                    self.statement(b, inner)
        elif t == "comment" or t in ("heredoc_body", "heredoc_start", "heredoc_end"):
            return
        elif t in ("command_substitution", "process_substitution"):
            self.substitution(node, ctx)
        elif t == "function_definition":
            name = node.child_by_field_name("name")
            body = node.child_by_field_name("body")
            if name is not None and body is not None:
                ctx.functions[self.text(name)] = (self, body)
                self.defined.append((body, ctx))
        elif t in (
            "test_command",
            "binary_expression",
            "unary_expression",
            "string",
            "concatenation",
            "arithmetic_expansion",
            "expansion",
            "simple_expansion",
        ):
            for sub in _descendants(node, ("command_substitution", "process_substitution")):
                self.substitution(sub, ctx)
        else:  # program, list, compound statements, if/while/case/function bodies...
            for child in node.named_children:
                if child.type in ("variable_name", "word") and t in ("case_statement", "function_definition"):
                    continue
                self.statement(child, ctx)

    def pipeline(self, node, ctx: _Ctx, stdin=None, line: int | None = None) -> None:
        line = self._line(line)  # a pipeline nested in a stage stays on that stage's line
        feed: tuple[str, str | None] | None = stdin
        self.producer = None
        for child in node.named_children:
            start = len(self.out.commands)
            self.statement(child, ctx.child(), feed, line)
            stage = [c for c in self.out.commands[start:] if c.depth == ctx.depth]
            self.producer = stage[-1] if stage else None
            feed = _feed_of(self.producer)

    def _new_line(self) -> int:
        self.out.lines.append([])
        return len(self.out.lines) - 1

    def redirected(self, node, ctx: _Ctx, stdin, line) -> None:
        body = node.child_by_field_name("body")
        redirects: list[tuple[str, Word]] = []
        feed = stdin
        pipelines = []
        for child in node.named_children:
            if child is body or child == body:
                continue
            if child.type == "file_redirect":
                redirects.append(self._redirect(child, ctx))
                feed = _stdin_of(redirects[-1]) or feed
            elif child.type == "heredoc_redirect":
                text = "".join(self.text(c) for c in child.named_children if c.type == "heredoc_body")
                feed = ("heredoc", text)
                for body_node in child.named_children:  # an unquoted delimiter expands $(...)
                    if body_node.type == "heredoc_body":
                        for sub in _descendants(body_node, ("command_substitution",)):
                            self.substitution(sub, ctx)
                for sub in child.named_children:
                    if sub.type == "file_redirect":
                        redirects.append(self._redirect(sub, ctx))
                    elif sub.type in ("pipeline", "command", "list", "redirected_statement"):
                        pipelines.append(sub)
            elif child.type == "herestring_redirect":
                words = [self.word(c, ctx) for c in child.named_children]
                text = " ".join(w.value for w in words)
                feed = ("heredoc" if all(w.static for w in words) else "dynamic", text)
        if body is None:  # `> file` alone truncates it
            if redirects:
                self._truncates(redirects, ctx, line)
            return
        if pipelines:  # cat <<EOF | sh : the body feeds the first stage of the pipeline
            line = self._new_line()
            start = len(self.out.commands)
            self._with_redirects(body, ctx, redirects, feed, line)
            first = [c for c in self.out.commands[start:] if c.depth == ctx.depth]
            for sub in pipelines:
                self.statement(sub, ctx.child(), _feed_of(first[-1] if first else None), line)
            return
        self._with_redirects(body, ctx, redirects, feed, line)

    def _with_redirects(self, body, ctx, redirects, feed, line) -> None:
        start = len(self.out.commands)
        if body.type == "command":
            self.command(body, ctx, redirects, feed, line)
            return
        self.statement(body, ctx, feed, line)
        for c in self.out.commands[start:]:  # a group's redirections apply to all inside
            if c.depth == ctx.depth:
                c.redirects.extend(redirects)
        if len(self.out.commands) == start and redirects:  # `> file` alone truncates it
            self._truncates(redirects, ctx, line)

    def _redirect(self, node, ctx: _Ctx) -> tuple[str, Word]:
        op = ""
        target: Word | None = None
        for child in node.children:
            if not child.is_named and child.type not in ("(", ")") and not op:
                op = child.type
            elif child.is_named and child.type != "file_descriptor" and target is None:
                target = self.word(child, ctx)
        return op, target or Word("")

    def assignment(self, node, ctx: _Ctx, into: dict[str, str]) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is None:
            return
        key = self.text(name)
        for sub in _descendants(name, ("command_substitution", "process_substitution")):
            self.substitution(sub, ctx)  # arr[$(...)]=1 runs it too
        if value is None:
            into[key] = ""
            return
        if value.type == "array":
            items = [f for c in value.named_children for f in self.fields(c, ctx)]
            into.pop(key, None)
            if all(w.static for w in items):
                ctx.arrays[key] = [w.value for w in items]
            return
        w = self.word(value, ctx)
        if w.static:
            into[key] = w.value
            ctx.taint.pop(key, None)
        else:
            into.pop(key, None)
            if w.sources:
                ctx.taint[key] = w.sources

    def _truncates(self, redirects: list[tuple[str, Word]], ctx: _Ctx, line: int | None) -> None:
        """Redirections with no command (``> file``): a no-op command that writes them."""
        self._record(
            Cmd([Word(":")], list(redirects), cwd=ctx.cwd, depth=ctx.depth, line=self._line(line)),
            " ".join(f"{op} {w.value}" for op, w in redirects),
        )

    def _record(self, cmd: Cmd, rendered: str) -> None:
        self.out.commands.append(cmd)
        self.out.lines[cmd.line].append(rendered)

    def _line(self, line: int | None) -> int:
        return self._new_line() if line is None else line

    def command(self, node, ctx: _Ctx, redirects, stdin, line) -> None:
        argv: list[Word] = []
        env: dict[str, str] = {}
        assigns: list[str] = []
        count = node.named_child_count
        if count > _MAX_ARGS:  # (node.named_children would build them all)
            self.out.problems.append(f"a command too long to follow ({count} words)")
            self.out.ok = False
            children = [node.named_child(i) for i in range(_MAX_ARGS)]
        else:
            children = node.named_children
        for child in children:
            if child.type == "variable_assignment":
                self.assignment(child, ctx, env)
                assigns.append(self.text(child))
            elif child.type == "command_name":
                name = self.text(child)
                if name in ctx.aliases and not argv and ctx.depth < _MAX_DEPTH:
                    rest = self.src[child.end_byte : node.end_byte].decode("utf-8", "replace")
                    self.note(f"{name} -> {ctx.aliases[name]} (alias)")
                    self.code(
                        ctx.aliases[name] + rest, True, ctx, self._line(line), (f"alias {name}",), frozenset()
                    )
                    return
                for c in child.named_children:
                    argv.extend(self.fields(c, ctx))
            elif child.type == "file_redirect":
                redirects = [*redirects, self._redirect(child, ctx)]
                stdin = _stdin_of(redirects[-1]) or stdin
            elif child.type == "herestring_redirect":
                words = [self.word(c, ctx) for c in child.named_children]
                stdin = ("heredoc", " ".join(w.value for w in words))
            elif child.type == "comment":
                continue
            else:
                argv.extend(self.fields(child, ctx))
        if not argv:
            ctx.vars.update(env)
            self.out.lines[self._line(line)].append(" ".join(assigns))
            return
        line = self._line(line)
        self.unwrap(argv, ctx, redirects, stdin, line, (), assigns=tuple(assigns))

    # -- unwrapping -------------------------------------------------------------------------
    def unwrap(
        self,
        argv: list[Word],
        ctx: _Ctx,
        redirects,
        stdin,
        line: int,
        wrappers: tuple[str, ...],
        from_input: bool = False,
        assigns: tuple[str, ...] = (),
    ) -> None:
        while argv:
            if argv[0].static and not argv[0].quoted and any(ch in argv[0].value for ch in "*?["):
                argv = self._glob_program(argv)
            prog = posixpath.basename(argv[0].value)
            if argv[0].static and argv[0].value in ctx.functions and not wrappers:
                owner, body = ctx.functions[argv[0].value]
                call = [Word(argv[0].value + "()"), *argv[1:]]  # not the program of that name
                self._record(Cmd(call, list(redirects), wrappers, ctx.cwd, depth=ctx.depth, line=line), prog)
                owner.call(body, argv, ctx, line, argv[0].value)
                return
            inner = _runner(prog, argv) if argv[0].static else None
            if inner is not None:  # uv run, poetry run, npx, busybox...: the command inside
                wrappers = (*wrappers, prog)
                argv = inner
                continue
            code = _code_of_wrapper(prog, argv) if argv[0].static else None
            if code is not None:  # su -c, script -c, tmux new, git submodule foreach...
                self._record(Cmd(argv, list(redirects), wrappers, ctx.cwd, depth=ctx.depth, line=line), prog)
                self.code(code.value, code.static, ctx, line, (*wrappers, prog), code.sources)
                return
            if prog == "env" and argv[0].static:
                split = _split_string(argv)
                if split is not None:  # env -S 'rm -rf ~' runs its string's words
                    self._record(
                        Cmd(argv, list(redirects), wrappers, ctx.cwd, depth=ctx.depth, line=line), prog
                    )
                    self.code(split.value, split.static, ctx, line, (*wrappers, "env -S"), split.sources)
                    return
            if prog == "rimraf" and argv[0].static:
                argv = [Word("rm"), Word("-rf"), *argv[1:]]
                wrappers = (*wrappers, "rimraf")
                break
            if prog in WRAPPERS and argv[0].static:
                rest = self._after_wrapper(prog, argv)
                if prog == "command" and argv[1:2] and argv[1].value in ("-v", "-V"):
                    break
                if prog in ("xargs", "parallel"):
                    from_input = True
                    if not rest:
                        rest = [Word("echo")]
                    producer, self.producer = self.producer, None
                    rest = [*rest, *_input_words(producer, stdin)]
                if prog == "watch" and rest:
                    self.code(
                        " ".join(w.value for w in rest),
                        all(w.static for w in rest),
                        ctx,
                        line,
                        (*wrappers, prog),
                        frozenset(),
                    )
                    return
                if prog == "env":
                    for w in argv[1:]:
                        m = _ASSIGN_RE.match(w.value)
                        if m and w.static:
                            ctx.vars[m.group(1)] = m.group(2)
                wrappers = (*wrappers, prog)
                if not rest:
                    if prog in ("sudo", "doas", "pkexec", "run0") and any(
                        w.value in ("-s", "-i", "--shell", "--login") for w in argv[1:]
                    ):
                        rest = [Word("sh")]
                    else:
                        break
                argv = rest
                continue
            break
        if from_input:
            stdin = None  # xargs/parallel read the pipe, the program gets arguments
        cmd = Cmd(
            argv,
            list(redirects),
            wrappers,
            ctx.cwd,
            stdin[0] if stdin else None,
            stdin[1] if stdin else None,
            ctx.depth,
            line,
            from_input,
            assigns,
        )
        self.out.commands.append(cmd)
        self.out.lines[line].append(_render(cmd))
        prog = cmd.prog
        if argv[0].static:
            self._behalf(cmd, ctx, line)
        if prog == "cd" and not wrappers:
            self._cd(cmd, ctx)
        elif prog == "find" and argv[0].static:
            self._find(cmd, ctx, line)
        elif prog in SHELLS or prog in ("eval", "source", "."):
            self._shell(cmd, ctx, line)
        elif prog == "trap" and len(argv) > 2:  # the action runs later
            self.code(argv[1].value, argv[1].static, ctx, line, (*wrappers, "trap"), argv[1].sources)

    def _glob_program(self, argv: list[Word]) -> list[Word]:
        """``/bin/r? -rf ~``: a glob in the command's place is expanded as bash would (the
        first match runs, the others become its arguments); where nothing here matches, the
        names a PATH lookup could give are tried, a program the rules know first."""
        import glob
        from fnmatch import fnmatchcase

        pattern = argv[0].value
        matches = sorted(glob.glob(pattern))[:32] if pattern.startswith("/") else []
        base = posixpath.basename(pattern)
        known = sorted(n for n in _KNOWN_PROGRAMS if fnmatchcase(n, base))
        risky = [m for m in matches if posixpath.basename(m) in _KNOWN_PROGRAMS] or known
        if risky:
            first = (
                risky[0] if "/" in risky[0] else posixpath.join(posixpath.dirname(pattern) or "", risky[0])
            )
            self.note(
                f"{pattern} -> {first} (glob; could also be {', '.join(risky[1:4]) or 'nothing else known'})"
            )
            return [Word(first), *[Word(m) for m in matches if m != first], *argv[1:]]
        if matches:
            self.note(f"{pattern} -> {' '.join(matches[:4])} (glob)")
            return [Word(m) for m in matches] + argv[1:]
        return argv

    def _behalf(self, cmd: Cmd, ctx: _Ctx, line: int) -> None:
        """What a command changes in the shell, and the commands other programs run on its
        behalf: ``set --``, ``alias``, ``printf -v``, ``read <<<``; git's configured programs,
        ``make -f -``, archivers' exec options, ``ssh host CMD``."""
        prog, argv = cmd.prog, cmd.argv
        args = argv[1:]
        values = [w.value for w in args]
        if prog == "set" and args and (values[0] == "--" or not values[0].startswith(("-", "+"))):
            ctx.positional = args[1:] if values[0] == "--" else list(args)
            self.note(f"set {' '.join(values)} -> $@ = {' '.join(w.value for w in ctx.positional)}")
        elif prog == "alias":
            for w in args:
                m = _ASSIGN_RE.match(w.value) if w.static else None
                if m:  # judged where the line uses it (each Bash call is a new shell)
                    ctx.aliases[m.group(1)] = m.group(2)
        elif prog == "printf" and values[:1] == ["-v"] and len(args) >= 3:
            if all(w.static for w in args):
                ctx.vars[values[1]] = _format(values[2], values[3:])
                self.note(f"printf -v {values[1]} -> {ctx.vars[values[1]]!r}")
        elif prog == "read" and cmd.stdin == "heredoc" and cmd.stdin_text is not None:
            names = [v for v in values if not v.startswith("-")]
            words = cmd.stdin_text.split(None, max(0, len(names) - 1)) if names else []
            for n, name in enumerate(names):
                ctx.vars[name] = words[n] if n < len(words) else ""
            if names:
                self.note(f"read {' '.join(names)} <<< {cmd.stdin_text!r}")
        elif prog == "git":
            for key, w in _git_programs(cmd, ctx):
                self.code(w.value, w.static, ctx, line, (*cmd.wrappers, f"git {key}"), w.sources)
        elif prog in ("make", "gmake") and any(
            v in ("-f-", "--file=-", "--makefile=-", "-f/dev/stdin", "--file=/dev/stdin")
            or (
                v in ("-f", "--file", "--makefile")
                and n + 1 < len(values)
                and values[n + 1] in ("-", "/dev/stdin")
            )
            for n, v in enumerate(values)
        ):
            if cmd.stdin_text is not None and cmd.stdin in ("literal", "heredoc", "decoded"):
                for recipe in _recipes(cmd.stdin_text):
                    self.code(recipe, True, ctx, line, (*cmd.wrappers, "make -f -"), frozenset())
            elif cmd.stdin in ("network", "decoded", "dynamic"):
                self.code(
                    "$(" + prog + ")", False, ctx, line, (*cmd.wrappers, "make -f -"), frozenset({cmd.stdin})
                )
        elif prog in ("tar", "gtar", "bsdtar", "zip", "rsync", "ssh", "scp", "sftp"):
            for option, w in _exec_options(prog, args):
                self.code(w.value, w.static, ctx, line, (*cmd.wrappers, f"{prog} {option}"), w.sources)
            if prog == "ssh":
                remote = _ssh_command(args)
                if remote:
                    where = ctx.child()
                    where.cwd, where.remote = _home(), True  # the remote user's home, most likely
                    host = next(w.value for w in args if not w.value.startswith("-") and w not in remote)
                    text = " ".join(w.value for w in remote)
                    self.code(
                        text,
                        all(w.static for w in remote),
                        where,
                        line,
                        (*cmd.wrappers, f"ssh {host}"),
                        frozenset().union(*(w.sources for w in remote)),
                    )

    def _after_wrapper(self, prog: str, argv: list[Word]) -> list[Word]:
        with_arg = set(_WITH_ARG.get(prog, "").split())
        i = 1
        if prog in ("chroot",):
            i = 2
        while i < len(argv):
            v = argv[i].value
            if v == "--":
                i += 1
                break
            if prog == "env" and _ASSIGN_RE.match(v):
                i += 1
                continue
            if v.startswith("-") and len(v) > 1:
                if v in with_arg:
                    i += 2
                else:
                    i += 1
                continue
            if prog == "timeout":
                i += 1  # the duration
            elif prog in ("flock",):
                i += 1  # the lock file
            elif prog in ("chrt", "taskset", "gosu", "su-exec", "faketime"):
                i += 1
            break
        return argv[i:]

    def _cd(self, cmd: Cmd, ctx: _Ctx) -> None:
        args = [w for w in cmd.argv[1:] if not w.value.startswith("-") or w.value == "-"]
        if not args:
            ctx.cwd = _home()
            return
        w = args[0]
        if not w.static or w.value == "-":
            ctx.cwd = None
            return
        base = ctx.cwd
        if posixpath.isabs(w.value):
            ctx.cwd = posixpath.normpath(w.value)
        elif base:
            ctx.cwd = posixpath.normpath(posixpath.join(base, w.value))
        else:
            ctx.cwd = None

    def _find(self, cmd: Cmd, ctx: _Ctx, line: int) -> None:
        args = cmd.argv[1:]
        starts, filtered, i = _find_starts(args)
        while i < len(args):
            v = args[i].value
            if v in ("-exec", "-execdir", "-ok", "-okdir"):
                j = i + 1
                inner: list[Word] = []
                while j < len(args) and args[j].value not in (";", "+"):
                    w = args[j]
                    # `{}.bak` names files derived from each match: a selection of its own
                    inner.append(
                        Word(
                            w.value,
                            w.static,
                            w.quoted,
                            w.sources,
                            tuple(starts),
                            filtered or w.value.strip("'\"") != "{}",
                        )
                        if "{}" in w.value
                        else w
                    )
                    j += 1
                names = _find_names(args)
                for w in inner:
                    if w.found_under:
                        w.selects = names
                if inner:  # -ok asks on find's stdin: piped `yes` answers for the user
                    feed = (cmd.stdin, cmd.stdin_text) if v.startswith("-ok") and cmd.stdin else None
                    self.unwrap(inner, ctx.child(), [], feed, line, (*cmd.wrappers, "find " + v))
                i = j + 1
                continue
            if v == "-delete":
                target = [Word(s, s != "$?", found_under=(s,), filtered=filtered) for s in starts]
                self.out.commands.append(
                    Cmd(
                        [Word("rm"), *target],
                        [],
                        (*cmd.wrappers, "find -delete"),
                        ctx.cwd,
                        depth=ctx.depth,
                        line=line,
                    )
                )
            i += 1

    def _shell(self, cmd: Cmd, ctx: _Ctx, line: int) -> None:
        args = cmd.argv[1:]
        if cmd.prog == "eval":
            if args:
                self.code(
                    " ".join(w.value for w in args),
                    all(w.static for w in args),
                    ctx,
                    line,
                    (*cmd.wrappers, "eval"),
                    frozenset().union(*(w.sources for w in args)),
                )
            return
        script = next((w for w in args if not w.value.startswith(("-", "+"))), None)
        if script is not None and not script.static and script.value.startswith("<("):
            # bash <(curl ...), source <(printf 'rm -rf ~'): the substitution is the script
            if script.output is not None:
                self.code(script.output, True, ctx, line, (*cmd.wrappers, cmd.prog + " <(...)"), frozenset())
            return
        if cmd.prog in ("source", "."):
            return
        i = 0
        while i < len(args):
            v = args[i].value
            if v in ("-o", "+o", "-O", "+O"):
                i += 2
                continue
            if v.startswith("-") and not v.startswith("--") and "c" in v[1:]:
                if i + 1 < len(args):
                    w = args[i + 1]
                    self.code(
                        w.value,
                        w.static,
                        ctx,
                        line,
                        (*cmd.wrappers, cmd.prog + " -c"),
                        w.sources,
                        positional=args[i + 2 :],
                    )
                return
            if v.startswith(("-", "+")):
                i += 1
                continue
            return  # a script file (judged by its path) and its arguments
        # no script: the shell runs what it reads
        if cmd.stdin in ("literal", "heredoc", "decoded") and cmd.stdin_text is not None:
            if cmd.stdin == "decoded":
                self.note(f"decoded input of {cmd.prog} -> {cmd.stdin_text[:200]!r}")
            self.code(cmd.stdin_text, True, ctx, line, (*cmd.wrappers, cmd.prog + " <<<"), frozenset())

    def code(
        self,
        text: str,
        static: bool,
        ctx: _Ctx,
        line: int,
        wrappers: tuple[str, ...],
        sources: frozenset[str],
        positional: list[Word] | None = None,
    ) -> None:
        """Shell code handed to a shell, eval or watch: parsed in turn when known."""
        unknown = not static and (not re.match(r"^\s*[\w./-]", text) or sources & {"network", "decoded"})
        if unknown or "decoded" in sources:
            # Code made at run time (command output, a variable as the whole command), or
            # decoded text: judged as such; decoded text known here is read too.
            marker = Word("<dynamic code>", False, sources=sources)
            self.out.commands.append(Cmd([marker], [], wrappers, ctx.cwd, depth=ctx.depth + 1, line=line))
            if unknown:
                return
        inner = ctx.child(ctx.depth + 1)
        for n, w in enumerate(positional or []):  # sh -c 'rm -rf "$0"' ~
            if w.static:
                inner.vars[str(n)] = w.value
        _parse_into(text, inner, self.out, wrappers)


_RUN_WITH_ARG = frozenset(
    "--with --with-requirements --with-editable --python -p --project "
    "--directory --env-file --extra --group --package --index "
    "--index-url --from -w -n --name --prefix --cwd -C --filter "
    "--workspace -e --env".split()
)


def _runner(prog: str, argv: list[Word]) -> list[Word] | None:
    """The command a project runner starts: ``uv run X``, ``poetry run X``, ``npx X``..."""
    args = argv[1:]
    values = [w.value for w in args]
    start = None
    if (
        prog in ("uv", "poetry", "pipenv", "pdm", "hatch", "rye", "conda", "mamba", "micromamba", "pixi")
        and "run" in values[:3]
    ):
        start = values.index("run") + 1
    elif prog in ("npm", "pnpm", "yarn", "bun") and values[:1] and values[0] in ("exec", "x", "dlx"):
        start = 1
    elif prog in ("npx", "bunx", "uvx", "pipx") or prog == "busybox":
        start = 1 if prog == "pipx" and values[:1] == ["run"] else 0
        if prog == "pipx" and values[:1] != ["run"]:
            return None
    if start is None:
        return None
    i = start
    while i < len(args) and args[i].value.startswith("-"):
        if args[i].value == "--":
            i += 1
            break
        i += 2 if args[i].value in _RUN_WITH_ARG else 1
    return args[i:] or None


def _code_of_wrapper(prog: str, argv: list[Word]) -> Word | None:
    """Shell code a wrapper hands to a shell: ``su -c``, ``script -c``, ``tmux new``..."""
    args = argv[1:]
    values = [w.value for w in args]
    if prog in ("su", "runuser", "script", "sg", "flock"):
        for i, v in enumerate(values[:-1]):
            if v in ("-c", "--command", "--session-command") or (
                prog == "script" and v.startswith("-") and v.endswith("c")
            ):
                return args[i + 1]
        if prog == "runuser" and "--" in values:
            rest = args[values.index("--") + 1 :]
            return Word(" ".join(w.value for w in rest), all(w.static for w in rest)) if rest else None
        return None
    if (
        prog == "tmux"
        and values[:1]
        and values[0]
        in (
            "new",
            "new-session",
            "new-window",
            "neww",
            "split-window",
            "splitw",
            "respawn-pane",
            "run-shell",
            "run",
        )
    ):
        rest = [w for w in args[1:] if not w.value.startswith("-")]
        with_arg = {"-s", "-n", "-c", "-t", "-e", "-F", "-x", "-y", "-l"}
        rest, skip = [], False
        for w in args[1:]:
            if skip:
                skip = False
            elif w.value in with_arg:
                skip = True
            elif not w.value.startswith("-"):
                rest.append(w)
        return Word(" ".join(w.value for w in rest), all(w.static for w in rest)) if rest else None
    if prog == "screen":
        if {"-x", "-r", "-R", "-X", "-ls", "-list", "-wipe", "-Q"} & set(values):
            return None  # attaches to or talks to a session: no new command
        rest, skip = [], False
        for w in args:
            if skip:
                skip = False
            elif not rest and w.value in ("-S", "-c", "-Logfile", "-p", "-t", "-X", "-T"):
                skip = True
            elif rest or not w.value.startswith("-"):
                rest.append(w)
        return (
            Word(
                " ".join(
                    w.value if not w.quoted else "'" + w.value.replace("'", "'\\''") + "'" for w in rest
                ),
                all(w.static for w in rest),
            )
            if rest
            else None
        )
    if prog == "git" and "submodule" in values[:3] and "foreach" in values:
        rest = [w for w in args[values.index("foreach") + 1 :] if w.value != "--recursive"]
        return Word(" ".join(w.value for w in rest), all(w.static for w in rest)) if rest else None
    return None


def _feed_of(stage: Cmd | None) -> tuple[str, str | None]:
    """What a pipeline stage hands to the next: its kind, and the text when it is literal
    (what ``echo``/``printf`` print, the here-document ``cat`` passes on)."""
    if stage is None:
        return "dynamic", None
    kind = stage_kind(stage)
    if (
        kind == "decoded"
        and stage.stdin_text is not None
        and stage.stdin in ("literal", "heredoc", "decoded")
    ):
        return kind, _decode(stage, stage.stdin_text)  # echo cm0gLXJmIH4= | base64 -d: known
    if kind != "literal":
        return kind, None
    if stage.prog == "cat":
        return kind, stage.stdin_text
    return kind, _escapes(" ".join(w.value for w in stage.argv[1:] if not re.match(r"^-[neE]+$", w.value)))


def _input_words(producer: Cmd | None, stdin: tuple[str, str | None] | None) -> list[Word]:
    """What xargs will append: the paths a find or ls lists, the words echo prints."""
    if stdin is not None and stdin[0] == "heredoc" and stdin[1] is not None:
        return [Word(v) for v in stdin[1].split()]
    if producer is None:
        return []
    if producer.prog == "find":  # `find X ... | xargs rm`: the paths find lists under X
        starts, filtered, _ = _find_starts(producer.argv[1:])
        w = Word("{}", found_under=tuple(starts), filtered=filtered)
        w.selects = _find_names(producer.argv[1:])
        return [w]
    if producer.prog in ("ls", "dir"):
        paths = [w.value for w in producer.argv[1:] if not w.value.startswith("-")] or ["."]
        return [Word(p.rstrip("/") + "/*", all(w.static for w in producer.argv)) for p in paths]
    if producer.prog in ("echo", "printf") and all(w.static for w in producer.argv):
        words = [w.value for w in producer.argv[1:] if not re.match(r"^-[neE]+$", w.value)]
        return [Word(v) for v in _escapes(" ".join(words)).split()]
    return []


def _find_starts(args: list[Word]) -> tuple[list[str], bool, int]:
    """find's start paths, whether it selects by name/type/age..., and where its tests begin."""
    starts: list[str] = []
    i = 0
    while i < len(args) and (args[i].value in ("-H", "-L", "-P") or args[i].value.startswith("-O")):
        i += 1
    while i < len(args) and not args[i].value.startswith(("-", "(", "!", ")")):
        starts.append(args[i].value if args[i].static else "$?")
        i += 1
    tests = [w.value for w in args[i:]]
    from fnmatch import fnmatchcase

    selective = 0
    for k, t in enumerate(tests):
        arg = tests[k + 1] if k + 1 < len(tests) else ""
        negated = k > 0 and tests[k - 1] in ("!", "-not")
        if t in _NAME_TESTS:
            if arg.strip("'\"") in ("*", ".*", "*.*", "") or negated:  # matches (nearly) all
                continue
            if t in ("-name", "-iname") and fnmatchcase(".git", arg):
                return [s.rstrip("/") + "/.git" for s in starts or ["."]], False, i
            selective += 1
        elif (t in _FIND_TESTS and not negated) or (
            t in ("-type", "-xtype") and arg not in ("f", "d", "f,d", "d,f")
        ):
            selective += 1
    # every alternative of an -o must select something for the whole to be a selection
    alternatives = 1 + sum(t in ("-o", "-or") for t in tests)
    return starts or ["."], selective >= alternatives, i


def _braces(value: str, limit: int = 64) -> list[str]:
    """``a{b,c}d`` -> ``abd acd`` (nested, at most ``limit`` results)."""
    m = re.search(r"\{([^{}]*,[^{}]*)\}", value)
    if not m:
        return [value]
    out: list[str] = []
    for option in m.group(1).split(","):
        out.extend(_braces(value[: m.start()] + option + value[m.end() :], limit))
        if len(out) >= limit:
            break
    return out[:limit]


def _descendants(node, types: tuple[str, ...]) -> Iterator:
    for child in node.named_children:
        if child.type in types:
            yield child
        else:
            yield from _descendants(child, types)


def _render(cmd: Cmd) -> str:
    """The simple command as the text rules see it: data arguments of data programs blanked."""
    blank = cmd.prog in _DATA_PROGRAMS
    words = [*cmd.assigns, cmd.prog] + [
        ("_" if blank else '"' + w.value.replace('"', "'") + '"') if w.quoted else w.value
        for w in cmd.argv[1:]
    ]
    words += [f"{op} {w.value}" for op, w in cmd.redirects]
    return " ".join(words)


def _parse_into(text: str, ctx: _Ctx, out: Parsed, wrappers: tuple[str, ...] = ()) -> None:
    parser = _parser()
    if parser is None:
        out.ok = False
        out.problems.append(f"no shell parser ({_PARSER_ERROR})")
        return
    text = _canonical_text(text, out)
    source = text.encode("utf-8", "replace")
    tree = parser.parse(source)
    walker = _Walker(source, out)
    start = len(out.commands)
    if tree.root_node.has_error:
        out.ok = False
        out.problems.append("the shell grammar does not accept this command")
    walker.statement(tree.root_node, ctx)
    walker.uncalled(ctx)
    if wrappers:
        for c in out.commands[start:]:
            c.wrappers = (*wrappers, *c.wrappers)


def parse(command: str, cwd: str | None = None) -> Parsed:
    """The simple commands ``command`` would run, started in ``cwd`` (absolute, if known)."""
    out = Parsed()
    ctx = _Ctx(posixpath.normpath(cwd) if cwd and posixpath.isabs(cwd) else None, 0, {})
    if _SIMPLE_LINE.match(command) and command.strip() and "=" not in command.split()[0]:
        # No quotes, operators or expansions: split on spaces, no grammar needed.
        words = command.split()
        if len(words) > _MAX_ARGS:
            out.problems.append(f"a command too long to follow ({len(words)} words)")
            out.ok = False
            words = words[:_MAX_ARGS]
        argv = [Word(_tilde(w, ctx) if w.startswith("~") else w) for w in words]
        walker = _Walker(b"", out)
        walker.unwrap(argv, ctx, [], None, walker._new_line(), ())
        return out
    _parse_into(command, ctx, out)
    return out


# -- what bash computes before it runs a command ------------------------------------------------
_SPLIT = "\x00"  # where $IFS splits an unquoted expansion (NUL never occurs in a bash word)


def _echo_output(cmd: Cmd) -> str | None:
    """What a static ``echo``/``printf`` prints (None for anything else)."""
    if cmd.from_input or cmd.redirects or not all(w.static for w in cmd.argv):
        return None
    args = cmd.args
    if cmd.prog == "echo":
        newline, escapes = True, False
        while args and re.match(r"^-[neE]+$", args[0]):
            newline = newline and "n" not in args[0]
            escapes = "e" in args[0] or (escapes and "E" not in args[0])
            args = args[1:]
        text = " ".join(args)
        return (_escapes(text) if escapes else text) + ("\n" if newline else "")
    if cmd.prog == "printf":
        if args[:1] == ["-v"]:
            return None
        if args[:1] == ["--"]:
            args = args[1:]
        return _format(args[0], args[1:]) if args else None
    return None


def _escapes(text: str) -> str:
    r"""``\n``, ``\t``, ``\x41``, ``\0101`` as ``echo -e``, ``printf %b`` and ``$'...'`` print them."""
    try:
        return re.sub(
            r"\\(x[0-9a-fA-F]{1,2}|0?[0-7]{1,3}|[ntr\\abefv])",
            lambda m: (
                m.group(0).encode("latin-1", "backslashreplace").decode("unicode_escape")
                if not m.group(1)[0] == "0" or len(m.group(1)) == 1
                else chr(int(m.group(1), 8))
            ),
            text,
        )
    except (UnicodeDecodeError, ValueError):
        return text


def _format(fmt: str, args: list[str]) -> str:
    """printf's format applied to its arguments (reused until they are all consumed)."""
    out: list[str] = []
    todo = list(args)
    for _ in range(64):
        used = False

        def one(m: re.Match) -> str:
            nonlocal used
            spec = m.group(1)
            if spec == "%":
                return "%"
            used = True
            arg = todo.pop(0) if todo else ""
            if spec == "b":
                return _escapes(arg)
            if spec == "c":
                return arg[:1]
            if spec in ("d", "i"):
                return str(int(arg)) if re.match(r"^-?\d+$", arg) else "0"
            return arg

        out.append(re.sub(r"%[-+ 0#]*\d*(?:\.\d+)?([sbcdi%q])", one, _escapes(fmt)))
        if not todo or not used:
            break
    return "".join(out)


def _decode(cmd: Cmd, text: str) -> str | None:
    """What a decoder prints for ``text`` on its input: base64/base32 -d, ``xxd -r -p``, rev,
    ``tr`` of literal sets; None when it cannot be known here."""
    import base64
    import binascii

    prog, args = cmd.prog, cmd.args
    if [a for a in args if not a.startswith("-")] and prog not in ("tr", "openssl"):
        return None  # decodes a file, not its input
    try:
        if prog in ("base64", "base32", "basenc") or (prog == "openssl" and "base64" in args):
            packed = re.sub(r"\s+", "", text)
            raw = (
                base64.b32decode(packed + "=" * (-len(packed) % 8))
                if prog == "base32" or "--base32" in args
                else base64.b64decode(packed + "=" * (-len(packed) % 4))
            )
        elif prog == "xxd" and any(a.startswith("-") and "p" in a for a in args):
            raw = binascii.unhexlify(re.sub(r"\s+", "", text))
        elif prog == "rev":
            return "\n".join(line[::-1] for line in text.split("\n"))
        elif prog == "tr":
            sets = [a for a in args if not a.startswith("-")]
            if len(sets) != 2 or any(a.startswith("-") for a in args):
                return None
            src, dst = _tr_set(sets[0]), _tr_set(sets[1])
            if not src or not dst:
                return None
            dst += dst[-1] * max(0, len(src) - len(dst))
            return text.translate(str.maketrans(src, dst[: len(src)]))
        else:
            return None
        return raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _tr_set(spec: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)[:512]


def _printed(cmds: list[Cmd], depth: int) -> str | None:
    """What the commands of a substitution print, when that is known without running them:
    static echo/printf, and decoders of literal text; trailing newlines removed as ``$(...)``
    does."""
    top = [c for c in cmds if c.depth == depth]
    if not top or len(cmds) != len(top):
        return None
    last = top[-1]
    if (
        last.prog in _DECODE_FLAGS
        and last.stdin_text is not None
        and last.stdin in ("literal", "heredoc", "decoded")
    ):
        text = _decode(last, last.stdin_text)
        return None if text is None else text.rstrip("\n")
    outputs = [_echo_output(c) for c in top]
    if any(o is None for o in outputs):
        return None
    return "".join(o or "" for o in outputs).rstrip("\n")


_PARAM = _LazyRe(
    r"^(?P<bang>!)?(?P<name>\w+|[@*#])(?:\[(?P<index>[^\]]*)\])?(?P<op>:?[-=?+]|:|##?|%%?|//?|/#|/%|,,?|\^\^?)?(?P<rest>.*)$",
    re.S,
)


def _parameter(inner: str, walker: _Walker, ctx: _Ctx) -> str | None:
    """``${inner}`` on values known in the line, or None."""
    from fnmatch import fnmatchcase

    if inner.startswith("#") and re.match(r"^#\w+$", inner):
        known = _parameter(inner[1:], walker, ctx)
        return None if known is None else str(len(known))
    m = _PARAM.match(inner)
    if not m or "$" in m.group("rest") or "`" in m.group("rest"):
        return None
    name, op, rest = m.group("name"), m.group("op") or "", m.group("rest")
    if m.group("bang"):  # ${!ref}: the variable named by ref's value
        target = _parameter(name, walker, ctx)
        if target is None or not re.match(r"^\w+$", target) or op or m.group("index"):
            return None
        name = target
    index = m.group("index")
    if index is not None:
        values = ctx.arrays.get(name)
        if values is None:
            return None
        if index in ("@", "*"):
            value: str | None = " ".join(values)
        elif index.isdigit():
            value = values[int(index)] if int(index) < len(values) else ""
        else:
            return None
    else:
        w = walker._var(name, ctx, "$" + name)
        value = w.value if w.static else None
    if not op:
        return value if not rest else None
    if op in (":-", "-", ":=", "="):
        if value is None:
            return None  # set or not at run time: unknown
        return value if value or op in ("-", "=") else _unquote(rest)
    if op in (":?", "?"):
        return value
    if op in (":+", "+"):
        return None if value is None else (_unquote(rest) if value else "")
    if value is None:
        return None
    if op == ":":
        parts = rest.split(":")
        try:
            offset = int(parts[0].strip().strip("()"))
            length = int(parts[1].strip().strip("()")) if len(parts) > 1 else None
        except ValueError:
            return None
        start = offset if offset >= 0 else max(0, len(value) + offset)
        if length is None:
            return value[start:]
        return value[start : start + length] if length >= 0 else value[start : len(value) + length]
    if op in ("#", "##", "%", "%%"):
        pattern = _unquote(rest)
        # shortest match first for # and %, longest first for ## and %%
        sizes = range(len(value), -1, -1) if len(op) == 2 else range(len(value) + 1)
        for i in sizes:
            if op[0] == "#" and fnmatchcase(value[:i], pattern):
                return value[i:]
            if op[0] == "%" and fnmatchcase(value[len(value) - i :], pattern):
                return value[: len(value) - i]
        return value
    if op in (",", ",,"):
        return value.lower() if op == ",," else value[:1].lower() + value[1:]
    if op in ("^", "^^"):
        return value.upper() if op == "^^" else value[:1].upper() + value[1:]
    if op in ("/", "//", "/#", "/%"):
        pattern, _, replacement = rest.partition("/")
        pattern, replacement = _unquote(pattern), _unquote(replacement)
        if not any(ch in pattern for ch in "*?["):
            if op == "/#":
                return replacement + value[len(pattern) :] if value.startswith(pattern) else value
            if op == "/%":
                return (
                    value[: len(value) - len(pattern)] + replacement
                    if pattern and value.endswith(pattern)
                    else value
                )
            return value.replace(pattern, replacement, -1 if op == "//" else 1) if pattern else value
        return None
    return None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return re.sub(r"\\(.)", r"\1", text)


_BRACE_COMMAND = _LazyRe(
    r"(^|[;&|(\n]\s*|\bthen\s+|\bdo\s+|\belse\s+)\{([^{}\s'\"$`]*,[^{}\s'\"`]*)\}(?=$|[\s;&|)])"
)


def _canonical_text(text: str, out: Parsed) -> str:
    """What bash does to the text before it splits words: a backslash-newline joins lines
    (outside single quotes), and ``{rm,-rf,~}`` in a command's place is brace-expanded into
    its words (the grammar takes it for a group)."""
    if "\\\n" in text:
        pieces: list[str] = []
        quote = ""
        i = 0
        while i < len(text):
            ch = text[i]
            if quote == "'":
                if ch == "'":
                    quote = ""
            elif ch == "\\" and i + 1 < len(text):
                if text[i + 1] == "\n":
                    i += 2
                    continue
                pieces.append(text[i : i + 2])
                i += 2
                continue
            elif ch == "'" and quote != '"':
                quote = "'"
            elif ch == '"':
                quote = "" if quote == '"' else '"'
            pieces.append(ch)
            i += 1
        joined = "".join(pieces)
        if joined != text:
            out.expansions.append("backslash-newline removed: " + joined[:200])
            text = joined
    if "$IFS" in text:
        text = re.sub(r"\$IFS(?![\w])", "${IFS}", text)
    if "{" in text and "," in text:

        def words(m: re.Match) -> str:
            expanded = " ".join(v for v in _braces("{" + m.group(2) + "}") if v)
            out.expansions.append(f"{{{m.group(2)}}} -> {expanded} (braces)")
            return m.group(1) + expanded

        text = _BRACE_COMMAND.sub(words, text)
    return text


def _stdin_of(redirect: tuple[str, Word]) -> tuple[str, str | None] | None:
    """``< <(curl ...)``: a command's input is what the substitution prints."""
    op, w = redirect
    if op != "<" or not w.value.startswith("<("):
        return None
    for kind in ("network", "decoded"):
        if kind in w.sources:
            return kind, w.output
    return ("literal", w.output) if w.output is not None else ("dynamic", None)


def _split_string(argv: list[Word]) -> Word | None:
    """The string of ``env -S STRING`` / ``-SSTRING`` / ``--split-string=STRING``."""
    for i, w in enumerate(argv[1:], 1):
        v = w.value
        if v in ("-S", "--split-string") and i + 1 < len(argv):
            return argv[i + 1]
        if v.startswith("--split-string="):
            return Word(v.split("=", 1)[1], w.static, w.quoted, w.sources)
        m = re.match(r"^-[iv0]*S(.*)$", v, re.S)
        if m:  # -S'...', -vS '...'
            if m.group(1):
                return Word(m.group(1), w.static, w.quoted, w.sources)
            return argv[i + 1] if i + 1 < len(argv) else None
        if not v.startswith("-") and not _ASSIGN_RE.match(v):
            return None
    return None


_KNOWN_PROGRAMS = frozenset(
    "rm rmdir unlink shred dd mkfs mkfs.ext4 mkfs.ext3 mkfs.xfs mkfs.vfat wipefs fdisk parted git curl wget "
    "nc ncat socat bash sh zsh dash ksh chmod chown chgrp mv cp scp rsync ssh sudo python python3 perl "
    "ruby node eval kill pkill killall shutdown reboot truncate find xargs base64 crontab".split()
)
# git settings and variables whose value is a program git runs (through a shell)
_GIT_PROGRAM_KEY = _LazyRe(
    r"^(?:alias\.[\w.-]+|core\.(?:pager|editor|sshcommand|fsmonitor|askpass|gitproxy|hookspath)|"
    r"diff\.(?:external|[\w.-]+\.(?:textconv|command))|merge\.[\w.-]+\.driver|"
    r"filter\.[\w.-]+\.(?:clean|smudge|process)|pager\.[\w.-]+|sequence\.editor|"
    r"gpg\.(?:[\w-]+\.)?program|credential\.(?:[^=]+\.)?helper|uploadpack\.packobjectshook|"
    r"remote\.[\w.-]+\.(?:uploadpack|receivepack)|(?:diff|merge)tool\.[\w.-]+\.cmd|"
    r"sendemail\.[\w.-]*cmd|web\.browser|browser\.[\w.-]+\.cmd|man\.[\w.-]+\.cmd|"
    r"core\.(?:attributesfile)|include\.path|includeif\..*\.path)$",
    re.I,
)
_GIT_PROGRAM_ENV = frozenset(
    "GIT_SSH_COMMAND GIT_SSH GIT_PAGER GIT_EDITOR GIT_SEQUENCE_EDITOR GIT_EXTERNAL_DIFF GIT_ASKPASS "
    "SSH_ASKPASS GIT_PROXY_COMMAND PAGER EDITOR VISUAL".split()
)
_GIT_GLOBAL_WITH_ARG = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env"})


def _git_programs(cmd: Cmd, ctx: _Ctx) -> list[tuple[str, Word]]:
    """Programs a git command would run because of settings given on its line or in its
    environment (``-c core.pager=...``, ``!``-aliases, ``GIT_SSH_COMMAND``), or settings it
    writes (``git config alias.x '!...'``, run by a later git)."""
    found: list[tuple[str, Word]] = []

    def add(key: str, w: Word) -> None:
        value = w.value
        low = key.lower()
        if low.startswith(("core.fsmonitor", "pager.")) and value.strip().lower() in (
            "",
            "true",
            "false",
            "yes",
            "no",
            "on",
            "off",
            "0",
            "1",
        ):
            return
        if low.startswith(("include.", "includeif.", "core.hookspath", "core.attributesfile")):
            found.append(
                (key, Word("<git settings from " + value + ">", False, sources=frozenset({"dynamic"})))
            )
            return
        if low.startswith("alias."):
            if not value.startswith("!"):
                value = "git " + value
            else:
                value = value[1:]
        elif low.startswith("credential.") and not value.startswith("!"):
            return  # a helper's name (store, cache, osxkeychain): git runs git-credential-NAME
        elif value.startswith("!"):
            value = value[1:]
        found.append((key, Word(value, w.static, w.quoted, w.sources)))

    env: dict[str, Word] = {}
    for written in cmd.assigns:
        m = _ASSIGN_RE.match(written)
        if m:
            env[m.group(1)] = Word(_unquote(m.group(2)))
    for name in _GIT_PROGRAM_ENV:
        if name in ctx.vars and name not in env:
            env[name] = Word(ctx.vars[name])
    for name, w in env.items():
        if name in _GIT_PROGRAM_ENV and w.value:
            found.append((name, w))
    if "GIT_CONFIG_PARAMETERS" in env:
        for key, value in re.findall(r"'([^'=]+)=?'?=?'([^']*)'", env["GIT_CONFIG_PARAMETERS"].value):
            if _GIT_PROGRAM_KEY.match(key):
                add(key, Word(value))
    for name, w in env.items():
        m = re.match(r"^GIT_CONFIG_KEY_(\d+)$", name)
        if m and _GIT_PROGRAM_KEY.match(w.value) and f"GIT_CONFIG_VALUE_{m.group(1)}" in env:
            add(w.value, env[f"GIT_CONFIG_VALUE_{m.group(1)}"])
    args = cmd.argv[1:]
    i = 0
    while i < len(args) and args[i].value.startswith("-"):
        v = args[i].value
        if v == "-c" and i + 1 < len(args):
            key, _, value = args[i + 1].value.partition("=")
            if _GIT_PROGRAM_KEY.match(key):
                a = args[i + 1]
                add(key, Word(value, a.static, a.quoted, a.sources))
        i += 2 if v in _GIT_GLOBAL_WITH_ARG else 1
    if i < len(args) and args[i].value == "config":
        rest = [w for w in args[i + 1 :] if not w.value.startswith("-")]
        if len(rest) >= 2 and _GIT_PROGRAM_KEY.match(rest[0].value):
            add(rest[0].value, rest[1])
    return found


def _recipes(makefile: str) -> list[str]:
    """The recipe lines of a makefile given as text (tab-indented, or after ``target: ;``)."""
    out: list[str] = []
    for line in makefile.replace("\\\n", " ").split("\n"):
        if line.startswith("\t"):
            out.append(line.lstrip("\t").lstrip("@+-"))
        else:
            m = re.match(r"^[^#=\t][^=]*?:[^=;]*;(.*)$", line)
            if m and m.group(1).strip():
                out.append(m.group(1).strip().lstrip("@+-"))
    return [r.replace("$$", "$") for r in out if r.strip()][:32]


_EXEC_OPTIONS = {
    "tar": (
        "--checkpoint-action",
        "--to-command",
        "-I",
        "--use-compress-program",
        "--info-script",
        "-F",
        "--new-volume-script",
        "--rsh-command",
    ),
    "zip": ("-TT", "--unzip-command"),
    "rsync": ("-e", "--rsh", "--rsync-path"),
    "ssh": ("-o",),
    "scp": ("-o", "-S"),
    "sftp": ("-o", "-S"),
}


def _exec_options(prog: str, args: list[Word]) -> list[tuple[str, Word]]:
    """Commands given to a program in its options: ``tar --checkpoint-action=exec=CMD``,
    ``tar -I CMD``, ``zip -TT CMD``, ``rsync -e CMD``, ``ssh -o ProxyCommand=CMD``."""
    options = _EXEC_OPTIONS.get("tar" if prog in ("gtar", "bsdtar") else prog, ())
    out: list[tuple[str, Word]] = []
    for i, w in enumerate(args):
        v = w.value
        name, value = None, None
        for opt in options:
            if v == opt and i + 1 < len(args):
                name, value = opt, args[i + 1]
            elif v.startswith(opt + "=") and opt.startswith("--"):
                name, value = opt, Word(v.split("=", 1)[1], w.static, w.quoted, w.sources)
            elif opt in ("-I", "-o", "-e") and v.startswith(opt) and len(v) > 2 and not v.startswith("--"):
                name, value = opt, Word(v[2:], w.static, w.quoted, w.sources)
            if name:
                break
        if value is None:
            continue
        text = value.value
        if name == "--checkpoint-action":
            if not text.startswith("exec="):
                continue
            text = text[5:]
        if name == "-o":
            m = re.match(
                r"^(ProxyCommand|LocalCommand|KnownHostsCommand|RemoteCommand)\s*[= ]\s*(.*)$",
                text,
                re.I | re.S,
            )
            if not m:
                continue
            name, text = f"-o {m.group(1)}", m.group(2)
        out.append((name or "", Word(text, value.static, value.quoted, value.sources)))
    return out


_SSH_WITH_ARG = frozenset("-B -b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w".split())


def _ssh_command(args: list[Word]) -> list[Word]:
    """The words of ``ssh [options] host CMD...``: the command run on that host."""
    i, host = 0, False
    while i < len(args):  # options may come after the host too
        v = args[i].value
        if v == "--":
            i += 1
            if not host and i < len(args):
                i += 1  # the host
            break
        if not v.startswith("-") or v == "-":
            if host:
                break
            host = True
            i += 1
            continue
        i += 2 if v in _SSH_WITH_ARG else 1
    return args[i:] if host or i < len(args) else []


def _find_names(args: list[Word]) -> tuple[str, ...]:
    """The names and paths find's -name/-iname/-path tests select."""
    values = [w.value for w in args]
    return tuple(
        values[i + 1].strip("'\"")
        for i, v in enumerate(values[:-1])
        if v in ("-name", "-iname", "-path", "-ipath", "-wholename")
    )
