"""What kind of failure a failed command is, and whether two failures are the same.

Standard library only (the ``command`` hook records failures).

- ``environment``: the command could not do its work because of the machine, not the code
  under work: a program or module that is not installed, an option the tool does not know,
  a permission, a package that does not exist, a path that is missing. Worth remembering
  across sessions and workspaces, with a lesson.
- ``code``: the code under work failed: a script's traceback or assertion, failing tests,
  a search that found nothing. Its outcome depends on files the agent is changing, so it is
  never blocked across sessions or by similarity.
- ``other``: anything else that exited non-zero.
"""

from __future__ import annotations

import re

from task_orchestrator.memory.normalize import blake2b

__all__ = ["depends_on_outside", "failure_class", "missing_path", "outcome_key"]

_ENV = re.compile(
    r"command not found|: not found$|No module named|ModuleNotFoundError|"
    r"unrecognized arguments?|unrecognized option|unknown option|invalid option|illegal option|"
    r"no such option|unknown command|is not a \w+ command|Permission denied|Operation not permitted|"
    r"No matching distribution|Could not find a version|externally-managed-environment|"
    r"Could not resolve host|Temporary failure in name resolution|Connection refused|"
    r"No such file or directory|cannot access|can't open file|cannot open|does not exist|"
    r"not a git repository|cannot find the path|No such device",
    re.IGNORECASE | re.MULTILINE,
)
_CODE = re.compile(
    r"Traceback \(most recent call last\)|^\w*(?:Error|Exception|Warning)\b.*:|AssertionError|"
    r"^FAILED\b|\bfailed\b|FAILURES|failures=\d|errors=\d|\d+ (?:failed|errors?)\b|"
    r"SyntaxError|IndentationError|Segmentation fault|core dumped|panicked at|^E\s",
    re.MULTILINE,
)
# The path an error says is missing (ls, cat, python, open() and the like).
_MISSING = re.compile(
    r"(?:cannot access|can't open file|cannot open|No such file or directory)[: ]*"
    "['\"`\u2018]?(?P<path>[^'\"`\u2019:\n]+?)['\"`\u2019]?(?::|$| \\(|\\s+\\[Errno)"
    r"|\[Errno 2\] No such file or directory: ['\"](?P<path2>[^'\"]+)['\"]"
    r"|^[\w.-]+: (?P<path3>[^:\n'\"]+): No such file or directory$",
    re.MULTILINE,
)
_SEARCH_PROGRAMS = re.compile(r"(?:^|[|;&]\s*)(?:grep|egrep|fgrep|rg|ag|ack|find|git\s+grep)\b")

_VARYING = re.compile(
    r"0x[0-9a-fA-F]+|\b[0-9a-f]{7,40}\b|\d+(?:\.\d+)?\s*(?:s|ms|us|seconds?)\b|"
    r"/tmp/\S+|\bline \d+|:\d+(?::\d+)?\b|\d+"
)


def _tail(output: str, lines: int = 6) -> list[str]:
    return [ln.strip() for ln in output.strip().splitlines() if ln.strip()][-lines:]


_OUTSIDE = re.compile(
    r"Connection refused|Connection reset|Could not resolve|Temporary failure in name resolution|"
    r"Network is unreachable|No route to host|timed? ?out|Timeout|Service Unavailable|Bad Gateway|"
    r"\b50[234]\b|rate limit|Too Many Requests|database is locked|Resource temporarily unavailable|"
    r"could not obtain lock|Device or resource busy|Address already in use|already allocated|"
    r"is not running|Cannot connect to the Docker daemon",
    re.IGNORECASE,
)


def depends_on_outside(error: str) -> bool:
    """The failure hinges on something outside the workspace and the session (a server, the
    network, a lock, a port): the same command may succeed later with nothing changed here."""
    return bool(_OUTSIDE.search(error[-3000:]))


def failure_class(command: str, returncode: int | None, output: str) -> str:
    """``environment``, ``code`` or ``other`` (see the module docstring)."""
    tail = "\n".join(_tail(output, 8))
    if not tail.strip() and returncode == 1 and _SEARCH_PROGRAMS.search(command):
        return "code"  # a search that found nothing: the files decide
    if "Traceback (most recent call last)" in output and not re.search(
        r"^(?:ModuleNotFoundError|ImportError): No module named", tail, re.MULTILINE
    ):
        return "code"
    if _ENV.search(tail):
        return "environment"
    if _CODE.search(tail) or _CODE.search(output[-3000:]):
        return "code"
    return "other"


def missing_path(output: str) -> str | None:
    """The path an error says is missing, if it names one."""
    m = _MISSING.search(output)
    if not m:
        return None
    path = (m.group("path") or m.group("path2") or m.group("path3") or "").strip()
    return path or None


def outcome_key(returncode: int | None, output: str) -> str:
    """A key equal for two runs that failed the same way: the exit code and the last lines of
    output with numbers, addresses, durations and temporary paths masked."""
    text = "\n".join(_VARYING.sub("#", ln) for ln in _tail(output))
    return blake2b(f"{returncode}\0{text}".encode(), digest_size=8).hexdigest()
