"""Policies: what a project and a user change in the gate, per rule id.

Two files are read, both optional:

- the **project policy**, committed with the repository: ``.task-orchestrator.toml`` (top
  level) or the ``[tool.task-orchestrator]`` table of ``pyproject.toml``, in the command's
  folder or the nearest parent that has one;
- the **user policy**: ``$XDG_CONFIG_HOME/task-orchestrator/policy.toml`` (``~/.config/...``),
  or the file ``TASK_ORCHESTRATOR_POLICY`` names.

Each may set, per rule id, ``"allow"``, ``"ask"`` or ``"deny"`` (``[rules]``); folders the agent
may delete in (``delete_ok = [...]``, deletes there are routine); and custom rules
(``[[custom]]``: an id, a level, a reason, a program with the words it must have, target
classes, or a regular expression, and examples it must and must not match). Examples are
checked when the file is loaded.

The project file lives in the repository the agent works in, and the agent can edit it. So
a project policy may add rules, raise levels and allow rules below critical, but it never
turns a critical rule into an allow or an ask: only the user policy can. A broken file
(bad TOML, an unknown rule id, a custom rule whose examples fail) is not applied at all, and
its error names the file and line: every rule keeps its default, nothing is silently off.
"""

from __future__ import annotations

import os
import posixpath
import re

__all__ = ["Custom", "Policy", "PolicyError", "load_policy", "user_policy_path"]

DECISIONS = {"allow": "low", "ask": "high", "deny": "critical"}
_LEVELS = ("low", "medium", "high", "critical")
_CACHE: dict[tuple, Policy] = {}
_SECTION = "tool.task-orchestrator"


class PolicyError(ValueError):
    """A policy file that cannot be applied: where, and why."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class Custom:
    """A rule a policy adds."""

    __slots__ = ("args", "id", "level", "line", "origin", "pattern", "program", "reason", "targets")

    def __init__(self, spec: dict, origin: str, line: int | None) -> None:
        self.id = str(spec["id"])
        self.level = str(spec.get("level", "high"))
        self.reason = str(spec.get("reason", self.id))
        self.program = spec.get("program")
        self.args = [str(a) for a in spec.get("args", [])]
        self.targets = [str(t) for t in spec.get("targets", [])]
        source = spec.get("pattern")
        self.pattern = re.compile(source) if source else None
        self.origin, self.line = origin, line

    def matches(self, command: str, parsed) -> bool:
        if self.pattern is not None and not self.program:
            return bool(self.pattern.search(command))
        from task_orchestrator.risk.paths import path_class

        for cmd in parsed.commands:
            if self.program and cmd.prog != self.program:
                continue
            args = cmd.args
            flags = {f"-{ch}" for a in args if a.startswith("-") and not a.startswith("--") for ch in a[1:]}
            if not all(a in args or a in flags for a in self.args):
                continue
            if self.targets:
                classes = {path_class(a, cmd.cwd, cmd.cwd) for a in args if not a.startswith("-")}
                if not classes & set(self.targets):
                    continue
            if self.pattern is not None and not self.pattern.search(" ".join(cmd.args_of_all())):
                continue
            return True
        return False


class Policy:
    """The merged policy for a folder: rule decisions, folders to delete in, custom rules."""

    __slots__ = ("custom", "delete_ok", "errors", "files", "rules")

    def __init__(self) -> None:
        self.rules: dict[str, tuple[str, str, int | None]] = {}  # id -> (decision, file, line)
        self.delete_ok: list[tuple[str, str, int | None]] = []  # (folder, file, line)
        self.custom: list[Custom] = []
        self.errors: list[PolicyError] = []
        self.files: list[str] = []

    def apply(self, findings: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], list[str]]:
        """Findings with the policy's decisions applied, and a note for each change."""
        out, notes = [], []
        for level, reason, rule in findings:
            setting = self.rules.get(rule)
            if setting is None:
                out.append((level, reason, rule))
                continue
            decision, origin, line = setting
            new = DECISIONS[decision]
            where = f"{origin}:{line}" if line else origin
            notes.append(f"{rule}: {level} -> {decision} by {where}")
            if new != "low":
                out.append((new, reason, rule))
        return out, notes


def user_policy_path() -> str:
    named = os.environ.get("TASK_ORCHESTRATOR_POLICY")
    if named:
        return named
    base = os.environ.get("XDG_CONFIG_HOME") or posixpath.join(os.environ.get("HOME") or "~", ".config")
    return posixpath.join(base, "task-orchestrator", "policy.toml")


_FOUND: dict[str, tuple[tuple, str | None]] = {}
_HAS_TABLE: dict[tuple, bool] = {}


def _project_file(cwd: str | None) -> str | None:
    """The nearest ``.task-orchestrator.toml``, or ``pyproject.toml`` with our table. Looked
    up again only when a folder on the way changed (a file added or removed changes its
    folder's mtime) or the pyproject.toml found changed: the guard service judges many calls."""
    if not cwd or not posixpath.isabs(cwd):
        return None
    stamps: list[tuple[int, int] | None] = []
    folder = cwd
    for _ in range(40):
        for path in (folder, posixpath.join(folder, "pyproject.toml")):
            try:
                st = os.stat(path)
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append(None)
        parent = posixpath.dirname(folder)
        if parent == folder:
            break
        folder = parent
    hit = _FOUND.get(cwd)
    if hit is not None and hit[0] == tuple(stamps):
        return hit[1]
    if len(_FOUND) > 256:
        _FOUND.clear()
    found = _find_project_file(cwd)
    _FOUND[cwd] = (tuple(stamps), found)
    return found


def _has_table(path: str) -> bool:
    stamp = _stamp(path)
    if stamp is None:
        return False
    known = _HAS_TABLE.get(stamp)
    if known is None:
        with open(path, "rb") as f:
            known = b"[tool.task-orchestrator" in f.read(1 << 20)
        if len(_HAS_TABLE) > 256:
            _HAS_TABLE.clear()
        _HAS_TABLE[stamp] = known
    return known


def _find_project_file(cwd: str) -> str | None:
    folder = cwd if posixpath.isabs(cwd) else None
    seen = 0
    while folder and seen < 40:
        for name in (".task-orchestrator.toml", "pyproject.toml"):
            path = posixpath.join(folder, name)
            try:
                if name == "pyproject.toml":
                    if not _has_table(path):
                        continue
                elif not os.path.isfile(path):
                    continue
                return path
            except OSError:
                continue
        parent = posixpath.dirname(folder)
        if parent == folder:
            break
        folder, seen = parent, seen + 1
    return None


def _stamp(path: str | None) -> tuple | None:
    if not path:
        return None
    try:
        st = os.stat(path)
        return (path, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def load_policy(cwd: str | None) -> Policy:
    """The policy for commands run in ``cwd`` (cached until a file changes)."""
    project = _project_file(cwd)
    user = user_policy_path()
    key = (_stamp(project), _stamp(user))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    policy = Policy()
    if key[1] is not None:
        _read(user, policy, user_level=True)
    if key[0] is not None and project:
        _read(project, policy, user_level=False)
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[key] = policy
    return policy


def _line_of(text: str, needle: str) -> int | None:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    return None


def _read(path: str, into: Policy, user_level: bool) -> None:
    """Read one file into ``into``; on any error, nothing of it is applied."""
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8", "replace")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        m = re.search(r"line (\d+)", str(exc))
        into.errors.append(PolicyError(path, int(m.group(1)) if m else None, f"cannot be read: {exc}"))
        return
    if path.endswith("pyproject.toml"):
        data = data.get("tool", {}).get("task-orchestrator", {})
    try:
        staged = _validate(data, path, text, user_level)
    except PolicyError as exc:
        into.errors.append(exc)
        return
    rules, delete_ok, custom = staged
    into.files.append(path)
    for rule, setting in rules.items():
        current = into.rules.get(rule)
        # the project may tighten what the user allowed, not loosen what the user denied
        if (
            current is not None
            and not user_level
            and _LEVELS.index(DECISIONS[setting[0]]) < _LEVELS.index(DECISIONS[current[0]])
        ):
            continue
        into.rules[rule] = setting
    into.delete_ok.extend(delete_ok)
    into.custom.extend(custom)


def _validate(data: dict, path: str, text: str, user_level: bool):
    from task_orchestrator.risk.catalog import RULES as CATALOG

    if not isinstance(data, dict):
        raise PolicyError(path, None, "the policy must be a table")
    known = {"rules", "delete_ok", "custom"}
    for key in data:
        if key not in known:
            raise PolicyError(
                path, _line_of(text, key), f"unknown setting {key!r} (known: {', '.join(sorted(known))})"
            )
    rules: dict[str, tuple[str, str, int | None]] = {}
    raw_rules = data.get("rules", {})
    if not isinstance(raw_rules, dict):
        raise PolicyError(
            path, _line_of(text, "rules"), "`rules` must be a table of rule id = allow|ask|deny"
        )
    custom_ids = {str(c.get("id")) for c in data.get("custom", []) if isinstance(c, dict)}
    for rule, decision in raw_rules.items():
        line = _line_of(text, rule)
        if rule not in CATALOG and rule not in custom_ids:
            near = [r for r in CATALOG if r.split(".")[-1] in rule or rule.split(".")[-1] in r][:3]
            hint = (
                f"; did you mean {', '.join(near)}?"
                if near
                else "; `task-orchestrator explain --rules` lists them"
            )
            raise PolicyError(path, line, f"unknown rule id {rule!r}{hint}")
        if decision not in DECISIONS:
            raise PolicyError(path, line, f"{rule}: {decision!r} is not allow, ask or deny")
        if not user_level and rule in CATALOG and CATALOG[rule].level == "critical" and decision != "deny":
            raise PolicyError(
                path,
                line,
                f"{rule} is critical: a project policy (which the agent can edit) cannot lower it; "
                f"set it in the user policy ({user_policy_path()})",
            )
        rules[rule] = (decision, path, line)
    delete_ok = []
    folders = data.get("delete_ok", [])
    if not isinstance(folders, list):
        raise PolicyError(path, _line_of(text, "delete_ok"), "`delete_ok` must be a list of folders")
    base = posixpath.dirname(path)
    for folder in folders:
        line = _line_of(text, str(folder))
        full = posixpath.normpath(posixpath.join(base, posixpath.expanduser(str(folder))))
        home = (os.environ.get("HOME") or "/root").rstrip("/")
        if full.count("/") < 2 or full in (home, "/home", "/Users") or full == base:
            raise PolicyError(
                path,
                line,
                f"delete_ok {folder!r} is the root, a home, a top-level folder or the workspace itself",
            )
        delete_ok.append((full, path, line))
    custom = []
    specs = data.get("custom", [])
    if not isinstance(specs, list):
        raise PolicyError(path, _line_of(text, "custom"), "`custom` must be an array of tables ([[custom]])")
    for spec in specs:
        line = _line_of(text, str(spec.get("id", "[[custom]]"))) if isinstance(spec, dict) else None
        custom.append(_custom(spec, path, line))
    return rules, delete_ok, custom


def _custom(spec, path: str, line: int | None) -> Custom:
    from task_orchestrator.risk.shell import parse

    if not isinstance(spec, dict) or "id" not in spec:
        raise PolicyError(path, line, "a custom rule needs an id")
    rule_id = str(spec["id"])
    if not re.match(r"^[a-z][a-z0-9-]*\.[a-z0-9.-]+$", rule_id):
        raise PolicyError(
            path, line, f"custom rule id {rule_id!r} must look like 'team.no-terraform-destroy'"
        )
    if spec.get("level", "high") not in _LEVELS:
        raise PolicyError(path, line, f"{rule_id}: level must be one of {', '.join(_LEVELS)}")
    if not spec.get("program") and not spec.get("pattern"):
        raise PolicyError(path, line, f"{rule_id}: give a program (with args/targets) or a pattern")
    unknown = set(spec) - {
        "id",
        "level",
        "reason",
        "program",
        "args",
        "targets",
        "pattern",
        "matches",
        "passes",
    }
    if unknown:
        raise PolicyError(path, line, f"{rule_id}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        rule = Custom(spec, path, line)
    except re.error as exc:
        raise PolicyError(path, line, f"{rule_id}: bad pattern ({exc})") from None
    matches, passes = spec.get("matches", []), spec.get("passes", [])
    if not matches:
        raise PolicyError(path, line, f"{rule_id}: give at least one example it matches (matches = [...])")
    for example in matches:
        if not rule.matches(example, parse(example, posixpath.dirname(path))):
            raise PolicyError(path, line, f"{rule_id}: does not match its own example {example!r}")
    for example in passes:
        if rule.matches(example, parse(example, posixpath.dirname(path))):
            raise PolicyError(path, line, f"{rule_id}: matches {example!r}, which it must not")
    return rule
