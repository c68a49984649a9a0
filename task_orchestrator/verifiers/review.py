"""A reviewer's look at the change a session leaves behind: the workspace's git state beside
the session's own tool calls.

Three checks, each a note (severity ``warning``), none blocking: on the 261 development runs
of ``benchmarks/replay.py`` none is precise enough to block a stop (BENCHMARKS.md):

- ``scratch_files``: new files in the change that look like scratch work: reproduction or
  debugging scripts at the top of the tree, ``.bak``/``.orig``/``.rej``/``.log`` leftovers,
  images, pickles, archives and other binaries outside test folders;
- ``edited_after_last_test_run``: a changed source file written after the last test run;
- ``no_existing_test_run``: the session never ran the repository's existing tests (no test
  run, or only runs of files the change itself adds).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from task_orchestrator.findings import Finding
from task_orchestrator.verifiers.testruns import test_runner
from task_orchestrator.verifiers.transcript import Transcript, read_transcript

__all__ = ["Change", "git_change", "review", "review_transcript"]

_SCRATCH_NAME = re.compile(
    r"^(?:reproduc\w*|repro\w*|debug\w*|scratch\w*|tmp\w*|temp\w*|check_\w+|verify_\w+|"
    r"try_\w+|demo\w*|playground\w*|sandbox\w*)\.(?:py|js|ts|rb|sh|go|rs|ex|exs|php)$",
    re.I,
)
_SCRATCH_EXT = re.compile(
    r"(?:\.(?:bak|orig|rej|log|tmp|swp|swo|pyc|pyo|png|jpe?g|gif|bmp|pdf|pkl|pickle|npy|npz|"
    r"h5|hdf5|parquet|feather|so|dylib|dll|o|a|zip|tar|tgz|gz|bz2|xz|7z|db|sqlite3?|out)|~)$",
    re.I,
)
_TEST_DIR = re.compile(r"(?:^|/)(?:tests?|testing|spec|__tests__|fixtures?|testdata)(?:/|$)", re.I)
_SOURCE = re.compile(r"\.(?:py|pyx|js|jsx|ts|tsx|go|rs|rb|java|kt|c|cc|cpp|h|hpp|ex|exs|php|cs|swift)$")
_GIT_TIMEOUT_S = 5.0


class Change:
    """What the working tree changes against HEAD, as paths relative to its root."""

    __slots__ = ("added", "modified", "root")

    def __init__(self, root: str, added: list[str], modified: list[str]) -> None:
        self.root = root
        self.added = added  # untracked (not ignored) or staged as new
        self.modified = modified


def git_change(cwd: str) -> Change | None:
    """The change in the git working tree holding ``cwd``; None outside git (or no git)."""
    try:
        top = subprocess.run(
            ["git", "-C", cwd, "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
        if top.returncode:
            return None
        root = top.stdout.strip()
        out = subprocess.run(
            # a repository's own configuration never makes the reviewer (the guard service,
            # for every session of the user) run a program: no fsmonitor hook
            ["git", "-c", "core.fsmonitor=false", "-C", root, "status", "--porcelain=v1", "-z", "-uall"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    added, modified = [], []
    entries = out.stdout.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            i += 1  # the source path of a rename or copy follows
        if status == "??" or "A" in status:
            added.append(path)
        elif "D" not in status:
            modified.append(path)
    return Change(root, added, modified)


def _is_scratch(path: str) -> bool:
    if _TEST_DIR.search(path):
        return False
    name = path.rsplit("/", 1)[-1]
    return bool(_SCRATCH_EXT.search(name)) or ("/" not in path and bool(_SCRATCH_NAME.match(name)))


def _written_paths(call_name: str, tool_input: dict, cwd: str) -> list[str]:
    """Files a tool call writes, as absolute paths (Bash: redirections, ``sed -i``, ``tee``,
    ``cp``/``mv`` targets, as the shell parser reads the command)."""
    if call_name in ("Write", "Edit", "MultiEdit", "NotebookEdit"):
        p = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
        return [os.path.normpath(os.path.join(cwd, p))] if p else []
    if call_name != "Bash":
        return []
    try:
        from task_orchestrator.risk.shell import parse

        parsed = parse(str(tool_input.get("command", "")), cwd)
    except Exception:
        return []
    out = []
    for cmd in parsed.commands:
        here = cmd.cwd or cwd
        targets = [w.value for op, w in cmd.redirects if op in (">", ">>", "&>", ">|")]
        args = cmd.args
        if cmd.prog == "sed" and any(a.startswith("-i") or a == "--in-place" for a in args):
            targets += [a for a in args[1:] if not a.startswith("-") and ("/" in a or "." in a)]
        elif cmd.prog == "tee":
            targets += [a for a in args if not a.startswith("-")]
        elif cmd.prog in ("cp", "mv") and len([a for a in args if not a.startswith("-")]) >= 2:
            targets.append([a for a in args if not a.startswith("-")][-1])
        out += [os.path.normpath(os.path.join(here, t)) for t in targets if t and t != "/dev/null"]
    return out


def review(t: Transcript, change: Change) -> list[Finding]:
    """The reviewer's notes on ``change``, given the session ``t`` that made it."""
    out: list[Finding] = []
    cwd = t.cwd or change.root
    scratch = [p for p in change.added if _is_scratch(p)]
    if scratch:
        out.append(
            Finding(
                verifier="review",
                severity="warning",
                code="scratch_files",
                message=f"the change adds files that look like scratch work: {', '.join(scratch[:5])}"
                + (f" and {len(scratch) - 5} more" if len(scratch) > 5 else ""),
                suggestion="remove them from the change, or say why they belong in it",
            )
        )
    calls = [c for c in t.calls if c.line < (t.final_line or 1 << 60)]
    tests = [
        (i, c)
        for i, c in enumerate(calls)
        if c.name == "Bash" and test_runner(str(c.input.get("command", "")))
    ]
    added = {os.path.normpath(os.path.join(change.root, p)) for p in change.added}
    changed_sources = {
        os.path.normpath(os.path.join(change.root, p))
        for p in change.modified + change.added
        if _SOURCE.search(p) and not _is_scratch(p)
    }
    if tests:
        last = tests[-1][0]
        late = sorted(
            {p for c in calls[last + 1 :] for p in _written_paths(c.name, c.input, cwd)} & changed_sources
        )
        if late:
            rel = [os.path.relpath(p, change.root) for p in late]
            out.append(
                Finding(
                    verifier="review",
                    severity="warning",
                    code="edited_after_last_test_run",
                    message=f"{', '.join(rel[:3])} changed after the last test run "
                    f"(`{str(tests[-1][1].input.get('command', ''))[:80]}`)",
                    suggestion="run the tests again on the final version",
                )
            )
    existing = [
        c
        for _, c in tests
        if not any(
            os.path.normpath(os.path.join(cwd, w)) in added for w in str(c.input.get("command", "")).split()
        )
    ]
    if (change.modified or change.added) and not existing:
        out.append(
            Finding(
                verifier="review",
                severity="warning",
                code="no_existing_test_run",
                message="the session never ran the repository's existing tests"
                + (" (only files the change adds)" if tests else ""),
                suggestion="run the existing tests that cover the changed code",
            )
        )
    return out


def review_transcript(path: Path | str | Transcript, cwd: str | None = None) -> list[Finding]:
    """``review`` of the session at ``path`` (a file, or a transcript already read) and the
    git working tree it ran in."""
    t = path if isinstance(path, Transcript) else read_transcript(path)
    where = cwd or t.cwd
    if not where or not Path(where).is_dir():
        return []
    change = git_change(where)
    if change is None or not (change.added or change.modified):
        return []
    return review(t, change)
