"""Normalise actions so that a repeat hashes to the same signature.

Rules (applied in this order; each removes what varies between runs but never
what changes the meaning of the action):

1. Secrets are redacted first (see ``redact``), so a rotated token is still a repeat.
2. Whitespace: leading/trailing stripped, runs of spaces/tabs/newlines become one space.
3. UUIDs -> ``<UUID>``; ISO-8601 timestamps and dates -> ``<TS>``; Unix epoch
   timestamps (10 or 13 digits) -> ``<TS>``.
4. Temp paths (``/tmp/...``, ``/var/tmp/...``, ``/private/var/folders/...``,
   ``/var/folders/...``, ``$TMPDIR/...``) -> ``<TMP>`` (the whole path component run).
5. Hex ids of 8+ characters containing at least one digit and one letter a-f
   (commit SHAs, container ids, hashes) -> ``<HEX>``.
6. Line/column numbers: ``file.py:12`` / ``file.py:12:5`` -> ``file.py:<N>``,
   ``line 42`` -> ``line <N>``.
7. Text (task/prompt) actions are also lower-cased and lose trailing punctuation;
   commands keep case (``-R`` and ``-r`` differ).
8. Tool calls become ``tool_name {canonical JSON of arguments}`` with keys sorted and
   every string value normalised by rules 1-6.

Numbers other than those above are kept: ``head -n 5`` and ``head -n 500`` differ.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from task_orchestrator.memory.redact import redact

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any

try:  # the BLAKE2 module alone: hashlib would also load OpenSSL (~2.5 ms on the hook's path)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - CPython always has it
    from hashlib import blake2b

__all__ = ["normalize", "normalize_tool_call", "signature"]

# One pass over the text; at each position the first alternative that matches wins, in the
# order of the rules above.
_VARYING = re.compile(
    r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
    r"|(?P<ts>\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    r"|(?<![\w.])1\d{9}(?:\d{3})?(?![\w.]))"
    r"|(?P<tmp>(?:/private)?/var/folders/[^\s'\"]*|/(?:var/)?tmp/[^\s'\"]*|\$\{?TMPDIR\}?/[^\s'\"]*)"
    r"|(?P<hex>\b[0-9a-fA-F]{8,}\b)"
    r"|(?P<line>\b[Ll]ine\s+\d+\b)"
)
# Every alternative of _VARYING needs one of these cues; most commands have none, and checking
# them one by one (substring tests first, small regexes after) is ~3x cheaper than scanning with
# _VARYING, and ~2x cheaper than one alternation of the cues (tested to give the same result on
# arbitrary text). A UUID, a hex id and a 10/13-digit epoch of ASCII digits all hold 8 hex digits
# in a row; `\d` also matches other scripts' digits, hence the epoch cue of its own.
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_DATE_OR_EPOCH = re.compile(r"-\d\d-\d\d|1\d{9}")
_LINE_NO = re.compile(r"[Ll]ine\s+\d")


def _may_vary(text: str) -> bool:
    return (
        "/tmp/" in text
        or "/var/folders/" in text
        or "TMPDIR" in text
        or ("ine" in text and _LINE_NO.search(text) is not None)
        or _HEX8.search(text) is not None
        or _DATE_OR_EPOCH.search(text) is not None
    )


_FILE_LINE = re.compile(r"(\.\w{1,8}):\d+(?::\d+)?\b")
_TOKENS = {"uuid": "<UUID>", "ts": "<TS>", "tmp": "<TMP>", "hex": "<HEX>"}


def _replace(m: re.Match[str]) -> str:
    kind = m.lastgroup
    if kind == "line":
        return m.group(0).split()[0] + " <N>"
    if kind == "hex":
        token = m.group(0)
        # an id mixes digits and letters; a plain number or word stays as it is
        if token.isdigit() or token.isalpha():
            return token
    return _TOKENS[kind]  # type: ignore[index]


def _common(text: str) -> str:
    text = redact(text)
    if _may_vary(text):
        text = _VARYING.sub(_replace, text)
    if ":" in text:
        text = _FILE_LINE.sub(r"\1:<N>", text)
    return " ".join(text.split())


@lru_cache(maxsize=8192)
def normalize(action: str, action_kind: str = "command") -> str:
    """The normalised form of a shell command, a tool call string, or a task text."""
    return _normalize(action, action_kind)


def _normalize(action: str, action_kind: str = "command") -> str:
    if action_kind == "text":
        return _common(action).lower().rstrip(".!?;: ")
    if action_kind == "tool_call":
        name, _, args = action.strip().partition(" ")
        try:
            return normalize_tool_call(name, json.loads(args) if args else {})
        except (json.JSONDecodeError, TypeError):
            return _common(action)
    return _common(action)


def _norm_value(value: Any) -> Any:
    if isinstance(value, str):
        return _common(value)
    if isinstance(value, dict):
        return {str(k): _norm_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_norm_value(v) for v in value]
    return value


def normalize_tool_call(tool: str, arguments: dict[str, Any]) -> str:
    args = json.dumps(_norm_value(arguments), sort_keys=True, separators=(",", ":"), default=str)
    return f"{tool.strip()} {args}"


@lru_cache(maxsize=8192)
def signature(action: str, action_kind: str = "command") -> str:
    """128-bit hash of the normalised action: the exact-cache key."""
    norm = _normalize(action, action_kind)  # not through normalize's cache: this one is enough
    return blake2b(f"{action_kind}\0{norm}".encode(), digest_size=16).hexdigest()
