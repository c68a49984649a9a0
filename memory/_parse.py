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

    __slots__ = ("filtered", "found_under", "quoted", "sources", "static", "value")

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

    def __repr__(self) -> str:
        return f"Word({self.value!r}{'' if self.static else ', dynamic'})"


class Cmd:
    """A simple command as it will run."""

    __slots__ = (
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

    def __repr__(self) -> str:
        return f"Cmd({self.args_of_all()!r}, wrappers={self.wrappers!r}, cwd={self.cwd!r})"

    def args_of_all(self) -> list[str]:
        return [w.value for w in self.argv]

    @property
    def prog(self) -> str:
        if not self.argv:
            return ""
        first = self.argv[0]
        if first.value == "<dynamic code>":
            return first.value
        if not first.static:  # `$which_python -c ...` is still python; others are unknown
            return "python" if "python" in first.value.lower() else "<dynamic program>"
        return posixpath.basename(first.value)

    @property
    def args(self) -> list[str]:
        return [w.value for w in self.argv[1:]]


class Parsed:
    """The simple commands of a command line, its rendering for the text rules, and problems."""

    __slots__ = ("commands", "lines", "ok", "problems")

    def __init__(self) -> None:
        self.commands: list[Cmd] = []
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


_KNOWN_OUTPUT = re.compile(r"^(?:\$\(|`)\s*(?:pwd|git\s+rev-parse\s+--show-toplevel)\s*(?:\)|`)$")


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
    __slots__ = ("cwd", "depth", "taint", "vars")

    def __init__(
        self,
        cwd: str | None,
        depth: int,
        variables: dict[str, str],
        taint: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.cwd, self.depth, self.vars = cwd, depth, variables
        self.taint = taint if taint is not None else {}  # what made a run-time variable

    def child(self, depth: int | None = None) -> _Ctx:
        return _Ctx(self.cwd, self.depth if depth is None else depth, dict(self.vars), dict(self.taint))


class _Walker:
    def __init__(self, source: bytes, out: Parsed) -> None:
        self.src, self.out = source, out
        self.producer: Cmd | None = None  # the pipeline stage before the one being walked

    def text(self, node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- words ------------------------------------------------------------------------------
    def word(self, node, ctx: _Ctx) -> Word:
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
            return Word(body, quoted=True)
        if t in ("string", "translated_string"):
            return self._string(node, ctx)
        if t == "concatenation":
            parts = [self.word(c, ctx) for c in node.named_children]
            return Word(
                "".join(p.value for p in parts),
                all(p.static for p in parts),
                any(p.quoted for p in parts),
                frozenset().union(*(p.sources for p in parts)),
            )
        if t == "simple_expansion":
            return self._var(self.text(node)[1:], ctx, self.text(node))
        if t == "expansion":
            names = [c for c in node.named_children if c.type == "variable_name"]
            if len(names) == 1 and node.named_child_count == 1:
                return self._var(self.text(names[0]), ctx, self.text(node))
        if t in ("command_substitution", "process_substitution"):
            known = _KNOWN_OUTPUT.match(self.text(node))
            found = self.substitution(node, ctx)
            if known and ctx.cwd:  # $(pwd), `git rev-parse --show-toplevel`: where we are
                return Word(ctx.cwd)
            return Word(self.text(node), static=False, sources=frozenset(found))
        if t in ("number", "string_content"):
            return Word(self.text(node))
        # ${x:-$(...)}, $(( $(...) )), arrays, subscripts: what runs inside still runs
        kinds: set[str] = set()
        for sub in _descendants(node, ("command_substitution", "process_substitution")):
            kinds |= self.substitution(sub, ctx)
        return Word(self.text(node), static=False, sources=frozenset(kinds))

    def fields(self, node, ctx: _Ctx) -> list[Word]:
        """The arguments one word becomes: unquoted variables split, braces expanded."""
        w = self.word(node, ctx)
        if node.type in ("simple_expansion", "expansion") and w.static:
            return [Word(part) for part in w.value.split()] or [Word("")]
        if w.static and not w.quoted and re.search(r"\{[^{}]*,[^{}]*\}", w.value):
            return [Word(_tilde(v, ctx) if v.startswith("~") else v) for v in _braces(w.value)]
        return [w]

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
        if name == "HOME":
            return Word(_home())
        if name == "PWD" and ctx.cwd:
            return Word(ctx.cwd)
        return Word(written, static=False, sources=ctx.taint.get(name, frozenset()))

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
                for c in child.named_children:
                    argv.extend(self.fields(c, ctx))
            elif child.type == "file_redirect":
                redirects = [*redirects, self._redirect(child, ctx)]
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
            prog = posixpath.basename(argv[0].value)
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
                split = next(
                    (argv[i + 1] for i, w in enumerate(argv[:-1]) if w.value in ("-S", "--split-string")),
                    None,
                )
                if split is not None and split.static:
                    argv = [Word(v) for v in split.value.split()] + argv[
                        [w.value for w in argv].index(split.value) + 1 :
                    ]
                    wrappers = (*wrappers, "env -S")
                    continue
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
        if prog == "cd" and not wrappers:
            self._cd(cmd, ctx)
        elif prog == "find" and argv[0].static:
            self._find(cmd, ctx, line)
        elif prog in SHELLS or prog == "eval":
            self._shell(cmd, ctx, line)
        elif prog == "trap" and len(argv) > 2:  # the action runs later
            self.code(argv[1].value, argv[1].static, ctx, line, (*wrappers, "trap"), argv[1].sources)

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
            elif prog in ("chrt", "taskset"):
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
        if cmd.stdin in ("literal", "heredoc") and cmd.stdin_text is not None:
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
        if not static and (not re.match(r"^\s*[\w./-]", text) or sources & {"network", "decoded"}):
            # Code made at run time (command output, or a variable as the whole command).
            self.out.commands.append(
                Cmd(
                    [Word("<dynamic code>", False, sources=sources)],
                    [],
                    wrappers,
                    ctx.cwd,
                    depth=ctx.depth + 1,
                    line=line,
                )
            )
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
    if kind != "literal":
        return kind, None
    if stage.prog == "cat":
        return kind, stage.stdin_text
    return kind, _printf(" ".join(w.value for w in stage.argv[1:] if not re.match(r"^-[neE]+$", w.value)))


def _input_words(producer: Cmd | None, stdin: tuple[str, str | None] | None) -> list[Word]:
    """What xargs will append: the paths a find or ls lists, the words echo prints."""
    if stdin is not None and stdin[0] == "heredoc" and stdin[1] is not None:
        return [Word(v) for v in stdin[1].split()]
    if producer is None:
        return []
    if producer.prog == "find":  # `find X ... | xargs rm`: the paths find lists under X
        starts, filtered, _ = _find_starts(producer.argv[1:])
        return [Word("{}", found_under=tuple(starts), filtered=filtered)]
    if producer.prog in ("ls", "dir"):
        paths = [w.value for w in producer.argv[1:] if not w.value.startswith("-")] or ["."]
        return [Word(p.rstrip("/") + "/*", all(w.static for w in producer.argv)) for p in paths]
    if producer.prog in ("echo", "printf") and all(w.static for w in producer.argv):
        words = [w.value for w in producer.argv[1:] if not re.match(r"^-[neE]+$", w.value)]
        return [Word(v) for v in _printf(" ".join(words)).split()]
    return []


def _printf(text: str) -> str:
    r"""``\n``, ``\t``... as printf and ``echo -e`` print them."""
    return re.sub(r"\\([ntr])", lambda m: {"n": "\n", "t": "\t", "r": "\r"}[m.group(1)], text)


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
    source = text.encode("utf-8", "replace")
    tree = parser.parse(source)
    walker = _Walker(source, out)
    start = len(out.commands)
    if tree.root_node.has_error:
        out.ok = False
        out.problems.append("the shell grammar does not accept this command")
    walker.statement(tree.root_node, ctx)
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
