"""The one allow / ask / deny / advise decision, shared by every entry point.

The guard node, the ``check_action`` MCP tool, the ``mcp_tool`` PreToolUse hook and the
``command`` hook all gather the same facts (the risk rules' level, the exact and similar past
failures, what the session did since) and hand them to ``decide``. Standard library only, so
the ``command`` hook can use it without pydantic, numpy or Chroma.

How past failures count (issue 15, measured on real agent runs in benchmarks/replay.py):

- An exact repeat of a failure this session learned is denied only when nothing that could
  change its outcome happened since it failed: no Write/Edit, no command that may change
  files or the environment (memory/_shell.py decides, conservatively), the same working
  directory, and an unchanged workspace fingerprint. Otherwise it runs, and the model gets
  the lesson as context: "this failed before with X; you changed Y since".
- A failure from another session, and any similar (not exact) past failure, is advice. It is
  asked about only where the learned predictor (``FailurePredictor``) is confident it will
  fail the same way again.
- A failure recorded on purpose (the ``record_failure`` tool, ``FailureMemory.record``, a
  guarded task that failed all its attempts) carries no session: it is a standing rule, and
  its exact repeats are denied until it is forgotten.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from task_orchestrator.memory._failures import depends_on_outside
from task_orchestrator.memory.normalize import blake2b
from task_orchestrator.risk.text import decision_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "PREDICTOR_PATH",
    "PREDICTOR_SHA256",
    "FailurePredictor",
    "SessionState",
    "Verdict",
    "decide",
    "features",
    "load_predictor",
]

PREDICTOR_PATH = Path(__file__).parent / "data" / "failure_predictor.json"
# pinned by scripts/fit_failure_predictor.py when it writes the artifact
PREDICTOR_SHA256 = "cb48cd499b54dc91d5ebf6bc7e01f90e7d97161d2da5af8cf5dae4d9b5748cff"
_RANK = {"allow": 0, "ask": 1, "deny": 2}


class SessionState:
    """What the caller knows about the session a check comes from.

    ``session`` empty means unknown (an MCP ``check_action`` call, a Python caller): then no
    learned failure is denied, since nothing says whether anything changed.
    """

    __slots__ = ("changes", "cwd", "last_change", "session", "steps")

    def __init__(
        self, session: str = "", *, steps: int = 0, changes: int = 0, last_change: str = "", cwd: str = ""
    ) -> None:
        self.session, self.steps, self.changes = session, steps, changes
        self.last_change, self.cwd = last_change, cwd


FEATURES = (
    "bias",
    "exact",
    "distance",
    "environment",
    "code",
    "same_session",
    "no_change",
    "log_steps_since",
    "log_changes_since",
    "log_times_failed",
    "log_successes_after",
)


def features(
    record: dict[str, Any], distance: float, exact: bool, state: SessionState, successes_after: int
) -> list[float]:
    """O(1) features of a match between a command about to run and a past failure."""
    same = bool(state.session) and record.get("session") == state.session
    steps = max(0, state.steps - int(record.get("steps_at") or 0)) if same else 0
    changes = max(0, state.changes - int(record.get("changes_at") or 0)) if same else 0
    cls = record.get("failure_class") or ""
    return [
        1.0,
        float(exact),
        float(distance),
        float(cls == "environment"),
        float(cls == "code"),
        float(same),
        float(same and changes == 0),
        math.log1p(steps),
        math.log1p(changes),
        math.log1p(int(record.get("count") or 1)),
        math.log1p(successes_after),
    ]


class FailurePredictor:
    """Logistic regression: the chance a match fails the same way again (shipped, fitted by
    scripts/fit_failure_predictor.py on the development agent runs)."""

    def __init__(self, weights: list[float], ask_threshold: float, meta: dict[str, Any] | None = None):
        if len(weights) != len(FEATURES):
            raise ValueError(f"the predictor needs {len(FEATURES)} weights, got {len(weights)}")
        self.weights, self.ask_threshold, self.meta = list(weights), ask_threshold, meta or {}

    def probability(self, x: list[float]) -> float:
        z = sum(w * v for w, v in zip(self.weights, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "features": list(FEATURES),
                    "weights": [round(w, 6) for w in self.weights],
                    "ask_threshold": self.ask_threshold,
                    **self.meta,
                },
                indent=1,
            )
            + "\n"
        )


_LOADED: dict[tuple[str, str], FailurePredictor | None] = {}


def load_predictor(path: Path = PREDICTOR_PATH, sha256: str | None = None) -> FailurePredictor | None:
    """The shipped predictor, checked against its pinned hash; None (advice only, never an ask
    from a prediction) if it is missing or altered, with a warning on stderr."""
    pinned = PREDICTOR_SHA256 if sha256 is None else sha256
    key = (str(path), pinned)
    if key in _LOADED:
        return _LOADED[key]
    model = None
    try:
        import hashlib  # here, not at import: it loads OpenSSL (~2.5 ms on the hook's path)

        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if pinned and digest != pinned:
            raise ValueError(f"sha256 {digest}, expected {pinned}")
        data = json.loads(raw)
        if data.get("features") != list(FEATURES):
            raise ValueError("its features do not match this version")
        model = FailurePredictor(
            data["weights"],
            float(data["ask_threshold"]),
            {k: v for k, v in data.items() if k not in ("features", "weights", "ask_threshold")},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        import sys

        print(
            f"task-orchestrator: failure predictor {path} not used ({exc}); past failures give advice only",
            file=sys.stderr,
        )
    _LOADED[key] = model
    return model


class Verdict:
    """The decision, why, and the advice for the model (Claude Code's additionalContext)."""

    __slots__ = ("context", "decision", "level", "reasons", "sources")

    def __init__(self) -> None:
        self.decision = "allow"
        self.reasons: list[str] = []
        self.context: list[str] = []
        self.level = "low"
        self.sources: set[str] = set()  # rules | memory | policy: what raised the decision

    def raise_to(self, decision: str, reason: str, source: str) -> None:
        self.reasons.append(reason)
        if _RANK[decision] > _RANK[self.decision]:
            self.decision = decision
        if decision != "allow":
            self.sources.add(source)


def _err(record: dict[str, Any]) -> str:
    lines = str(record.get("error") or "").strip().splitlines()
    return (lines[-1] if lines else str(record.get("kind") or "failed"))[:200]


def _lesson(record: dict[str, Any]) -> str:
    lesson = str(record.get("lesson") or "").strip()
    if not lesson:
        return ""
    return " Lesson: " + (lesson if lesson.endswith((".", "!", "?")) else lesson + ".")


def _stale(record: dict[str, Any]) -> bool:
    """An environment failure whose missing path exists now no longer applies."""
    if record.get("failure_class") != "environment":
        return False
    from task_orchestrator.memory._failures import missing_path

    path = missing_path(str(record.get("error") or ""))
    if not path or "\n" in path:
        return False
    base = str(record.get("cwd") or "")
    if not os.path.isabs(path) and not base:
        return False
    try:
        return os.path.exists(os.path.join(base, os.path.expanduser(path)))
    except (OSError, ValueError):
        return False


def _since(record: dict[str, Any], state: SessionState, fingerprint_changed: bool) -> str:
    """What changed since the failure, in words for the model."""
    if not record.get("session"):
        return "it was recorded as a standing failure"
    if record.get("session") != state.session:
        return "it failed in an earlier session"
    changes = state.changes - int(record.get("changes_at") or 0)
    if changes > 0:
        last = f" (last: `{state.last_change[:120]}`)" if state.last_change else ""
        return f"you ran {changes} command(s) or edit(s) that may change files{last}"
    if record.get("cwd") and state.cwd and record.get("cwd") != state.cwd:
        return f"you are now in {state.cwd}, not {record.get('cwd')}"
    if fingerprint_changed:
        return "files in the workspace changed since"
    return "nothing has changed since"


def same_text(a: str, b: str) -> bool:
    """The same command up to whitespace (normalisation masks hashes, numbers and temporary
    paths to find repeats; a denial needs the very same text)."""
    return a.split() == b.split()


def decide(
    *,
    action: str = "",
    level: str = "low",
    risk_reasons: list[str] | None = None,
    risk: Any = None,
    exact: dict[str, Any] | None,
    similar: Any,
    state: SessionState,
    ask_at: str,
    deny_at: str,
    approval_policy: str = "on_risk",
    successes_after: int = 0,
    predictor: Any = None,
    fingerprint: Any = None,
) -> Verdict:
    """Judge one action.

    ``action`` is the (redacted) text about to run; ``exact``/``similar`` are stored failure
    rows (dicts as ``FailureTable`` returns them) with the similar ones' distances (``similar``
    may be a function returning them, called only when the exact repeat was not denied);
    ``successes_after`` counts successes of the exact repeat's command since it failed;
    ``fingerprint()`` computes the workspace fingerprint now (called only when a denial
    depends on it). ``risk()``, if given, returns (level, reasons) instead of ``level`` and
    ``risk_reasons`` and is called only when the memory has not denied already (compiling the
    rules costs the command hook ~10 ms; an exact repeat needs none). ``predictor`` is a
    ``FailurePredictor`` or a function returning one (read only when a match needs it). A
    failure caused by a missing path that exists now is stale.
    """
    v = Verdict()

    loaded: list[FailurePredictor | None] = []

    def model() -> FailurePredictor | None:
        if not loaded:
            loaded.append(predictor() if callable(predictor) else predictor)
        return loaded[0]

    def ask_or_advise(note: str, x: list[float]) -> None:
        """Ask where the predictor is confident it fails the same way; else advise."""
        m = model()
        p = m.probability(x) if m else 0.0
        if m and p >= m.ask_threshold:
            v.raise_to("ask", f"{note} Likely to fail the same way (p={p:.2f}).", "memory")
        else:
            v.context.append(note)

    if exact is not None and _stale(exact):
        exact = None
    if exact is not None:
        same = bool(state.session) and exact.get("session") == state.session
        unchanged = (
            same
            and state.changes == int(exact.get("changes_at") or 0)
            and (not exact.get("cwd") or not state.cwd or exact.get("cwd") == state.cwd)
            and (not action or same_text(action, str(exact.get("action") or "")))
        )
        fp_changed = False
        if unchanged and exact.get("fingerprint") and fingerprint is not None:
            now = fingerprint()
            fp_changed = bool(now) and now != exact.get("fingerprint")
            unchanged = not fp_changed
        if unchanged and depends_on_outside(str(exact.get("error") or "")):
            unchanged = False  # a service, the network or a lock: waiting may be the fix
        what = f"this exact action failed before ({exact.get('count', 1)}x): {_err(exact)}.{_lesson(exact)}"
        if not exact.get("session"):
            v.raise_to(
                "deny", f"exact repeat of a recorded failure: {what} Try a different approach.", "memory"
            )
        elif unchanged:
            v.raise_to(
                "deny",
                f"{what} Nothing that could change its outcome happened since it "
                "failed (only read-only commands ran), so it would fail the same "
                "way: change the code, the command or the environment first.",
                "memory",
            )
        else:
            ask_or_advise(
                f"{what} Since then {_since(exact, state, fp_changed)}.",
                features(exact, 0.0, True, state, successes_after),
            )
    near = [] if v.decision == "deny" else (similar() if callable(similar) else similar)
    for row, distance in near:
        if _stale(row):
            continue
        if exact is not None and row.get("id") == exact.get("id"):
            continue
        ask_or_advise(
            f"similar (distance {distance:.2f}) to a past failure: "
            f"`{str(row.get('action'))[:160]}` -> {_err(row)}.{_lesson(row)}",
            features(row, distance, False, state, 0),
        )
    if v.decision == "deny" and risk is not None:
        v.level = ""  # denied on the memory alone: the rules were not needed
    else:
        if risk is not None:
            level, risk_reasons = risk()
        v.level = level
        by_risk = decision_for(level, ask_at, deny_at)
        if by_risk != "allow":
            v.raise_to(by_risk, f"risk {level}: " + ", ".join(risk_reasons or []), "rules")
            v.reasons.insert(0, v.reasons.pop())  # the rules' reason first, as before
    if approval_policy == "always" and v.decision == "allow":
        v.raise_to("ask", "approval policy is 'always'", "policy")
    return v


def workspace_root(cwd: str) -> str:
    """The workspace a directory belongs to: its git root, else the directory itself."""
    if not cwd:
        return ""
    path = os.path.realpath(cwd)
    probe = path
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return path
        probe = parent


_SKIP_DIRS = frozenset(
    {
        ".git",
        "node_modules",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "_build",
        "deps",
        "target",
        "dist",
        "build",
        ".hypothesis",
        ".idea",
        ".cache",
    }
)


def workspace_fingerprint(root: str, *, exclude: tuple[str, ...] = (), max_entries: int = 20_000) -> str:
    """A hash of every file's path, size and modification time under ``root`` (plus git's
    HEAD and index), or "" when it cannot be read or is too big to read quickly. ``exclude``:
    directories left out (the data directory, which changes with every decision logged)."""
    if not root or not os.path.isdir(root):
        return ""
    skip = {os.path.realpath(e) for e in exclude if e}
    h = blake2b(digest_size=16)
    seen = 0
    stack = [root]
    try:
        for extra in (".git/HEAD", ".git/index"):
            p = os.path.join(root, extra)
            if os.path.exists(p):
                st = os.stat(p)
                h.update(f"{extra}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        while stack:
            d = stack.pop()
            with os.scandir(d) as it:
                for entry in sorted(it, key=lambda e: e.name):
                    seen += 1
                    if seen > max_entries:
                        return ""
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in _SKIP_DIRS and not (
                            skip and os.path.realpath(entry.path) in skip
                        ):
                            stack.append(entry.path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                    h.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError:
        return ""
    return h.hexdigest()
