"""Path classes of the risk gate: what a path is to the agent (the root, a home, a system
path, the workspace, its .git, inside it, temp, outside, a device), the one credential
pattern anchored to a path, start-up places, and the words find selects."""

from __future__ import annotations

import posixpath
import re
from contextvars import ContextVar

from task_orchestrator._lazy import LazyRe as _LazyRe
from task_orchestrator.risk.shell import Cmd, Word, _home
from task_orchestrator.risk.text import CREDENTIAL_NAMES, RISK_ORDER

Finding = tuple[str, str, str]  # (level, reason, rule id): the rules are listed in risk/packs/


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


_CRED_NAME = _LazyRe(
    r"^['\"]?\*?(?:id_(?:rsa|dsa|ecdsa|ed25519)|\.netrc|\.pgpass|\.gnupg|"
    r"\.git-credentials|credentials?(?:\.\w+)?|tokens?|\.aws|\.ssh|\*?\.pem|"
    r"\*?\.key|\*?\.kdbx|\*?\.p12|\*?\.pfx|\.env|shadow|secrets?(?:\.\w+)?|"
    r"\.vault-token|\.kube|kubeconfig|Login Data|\*?\.keychain(?:-db)?)\*?['\"]?$"
    r"|/(?:\.ssh|\.aws|\.gnupg|\.oci|\.kube)(?:/|$)"
)


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


def _place(path: str, cwd: str | None) -> str:
    return posixpath.normpath(posixpath.join(cwd or "", path))


# user@host:path, rsync://, scp://: a remote side of a copy
_REMOTE = _LazyRe(r"^(?:[\w.-]+@)?[\w.-]+:(?!//)|^(?:rsync|sftp|scp)://")
