"""Check a Claude Code transcript: do the final message's claims survive its own tool results?"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from task_orchestrator.findings import Finding
from task_orchestrator.verifiers import VerifyInput, verifier
from task_orchestrator.verifiers.testruns import (
    claims_success,
    is_test_command,
    parse_test_summary,
    pipe_masks_exit,
)

__all__ = ["Transcript", "check_transcript", "read_transcript"]

_DONE = re.compile(r"\b(?:all done|done|complete[d]?|finished|implemented|fixed|ready)\b", re.I)
_CMD_CLAIM = re.compile(
    r"\b(build|lint|format|typecheck|type[- ]check|compile|install|deploy|commit|push|migration)"
    r"\w*\s+(?:now\s+)?(?:succeed\w*|pass\w*|is\s+clean|are\s+clean|work\w*|ok)\b|\ball\s+clean\b",
    re.I,
)
_CMD_WORDS = {
    "build": r"build",
    "lint": r"lint|credo|ruff|eslint|flake8",
    "format": r"format|fmt",
    "typecheck": r"mypy|pyright|tsc|dialyzer|typecheck",
    "type-check": r"mypy|pyright|tsc",
    "compile": r"compile|build|make",
    "install": r"install",
    "deploy": r"deploy",
    "commit": r"git\s+commit",
    "push": r"git\s+push",
    "migration": r"migrat",
    "all clean": r"lint|format|credo|check|ruff|eslint|mypy|tsc",
}


@dataclass
class ToolCall:
    line: int
    name: str
    input: dict[str, Any]
    result_line: int | None = None
    is_error: bool = False
    output: str = ""


@dataclass
class Transcript:
    calls: list[ToolCall] = field(default_factory=list)
    final_text: str = ""
    final_line: int = 0
    cwd: str | None = None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            _text(c.get("text", c.get("content", ""))) if isinstance(c, dict) else str(c) for c in content
        )
    return str(content or "")


def read_transcript(path: Path | str) -> Transcript:
    t = Transcript()
    by_id: dict[str, ToolCall] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if not isinstance(row, dict):
                continue
            t.cwd = row.get("cwd") or t.cwd
            msg = row.get("message")
            if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
                continue
            for block in msg["content"]:
                if not isinstance(block, dict):
                    continue
                kind = block.get("type")
                if row.get("type") == "assistant" and kind == "tool_use":
                    call = ToolCall(lineno, str(block.get("name")), block.get("input") or {})
                    by_id[str(block.get("id"))] = call
                    t.calls.append(call)
                elif row.get("type") == "assistant" and kind == "text" and block.get("text"):
                    t.final_text, t.final_line = block["text"], lineno
                elif kind == "tool_result" and str(block.get("tool_use_id")) in by_id:
                    call = by_id[str(block["tool_use_id"])]
                    call.result_line = lineno
                    call.is_error = bool(block.get("is_error"))
                    call.output = _text(block.get("content"))[-20_000:]
    return t


def _bash_before(t: Transcript, pattern: re.Pattern[str] | None = None) -> list[ToolCall]:
    return [
        c
        for c in t.calls
        if c.name == "Bash"
        and c.line < t.final_line
        and (pattern is None or pattern.search(str(c.input.get("command", ""))))
    ]


def check_transcript(path: Path | str | Transcript) -> list[Finding]:
    """Findings for completion claims in the last assistant message that the transcript
    contradicts (``path``: a transcript file, or one already read)."""
    t = path if isinstance(path, Transcript) else read_transcript(path)
    if not t.final_text:
        return []
    findings: list[Finding] = []
    claim_at = f"line {t.final_line}"
    claims = claims_success(t.final_text)
    if claims:
        # the last test run, from the end: a runner that is not installed ran no tests (not a
        # failure, and not the last run)
        last, missing, summary = None, None, None
        for call in reversed(_bash_before(t)):
            if not is_test_command(str(call.input.get("command", ""))):
                continue
            summary = parse_test_summary(call.output)
            if summary is not None and summary.missing:
                missing = missing or call
                continue
            last = call
            break
        if last is None:
            why = (
                "no test run happened"
                if missing is None
                else f"the test runner was not installed (line {missing.line})"
            )
            findings.append(
                Finding(
                    verifier="transcript",
                    code="no_test_run",
                    message=f"the final message claims {claims[0]!r} but {why}",
                    evidence=claim_at,
                    suggestion="run the tests before claiming they pass",
                )
            )
        else:
            cmd = str(last.input.get("command", ""))
            failed = (summary is not None and not summary.ok) or (summary is None and last.is_error)
            if failed:
                masked = not last.is_error and pipe_masks_exit(cmd)
                what = summary.describe() if summary else "the command failed"
                findings.append(
                    Finding(
                        verifier="transcript",
                        code="exit_masked_by_pipe" if masked else "tests_failed",
                        severity="critical" if masked else "error",
                        message=(
                            f"the final message claims {claims[0]!r} but the last test run "
                            f"(line {last.line}: `{cmd[:80]}`) reports {what}"
                            + ("; its exit status was hidden by a pipe" if masked else "")
                        ),
                        evidence=f"{claim_at}; result at line {last.result_line}: "
                        f"{last.output.strip()[-200:]}",
                        suggestion="fix the failures and run the tests again",
                    )
                )
    if _DONE.search(t.final_text) and t.cwd and Path(t.cwd).is_dir():
        for c in t.calls:
            if c.name in ("Write", "Edit", "MultiEdit", "NotebookEdit") and c.line < t.final_line:
                fp = str(c.input.get("file_path") or c.input.get("notebook_path") or "")
                if fp and not Path(t.cwd, fp).exists():
                    findings.append(
                        Finding(
                            verifier="transcript",
                            code="edited_file_missing",
                            message=f"the session edited {fp} (line {c.line}) but it does not exist",
                            evidence=claim_at,
                        )
                    )
    for m in _CMD_CLAIM.finditer(t.final_text):
        word = (m.group(1) or "all clean").lower()
        pattern = re.compile(_CMD_WORDS.get(word, re.escape(word)), re.I)
        runs = _bash_before(t, pattern)
        if runs and runs[-1].is_error:
            last = runs[-1]
            findings.append(
                Finding(
                    verifier="transcript",
                    code="command_failed",
                    message=(
                        f"the final message says {m.group(0)!r} but `"
                        f"{str(last.input.get('command', ''))[:80]}` failed (line {last.line})"
                    ),
                    evidence=f"{claim_at}; result at line {last.result_line}: {last.output.strip()[-200:]}",
                )
            )
    findings += _final_packages(t.final_text, t.cwd)
    return findings


def _final_packages(text: str, cwd: str | None) -> list[Finding]:
    """Packages the final message's code imports that do not exist (errors) or imitate a
    popular one (warnings), judged in the session's workspace."""
    if "import" not in text:
        return []
    from task_orchestrator.packages import check_imports
    from task_orchestrator.verifiers.semantic import package_findings

    return [f for f in package_findings(check_imports(text, cwd), "transcript") if f.severity != "info"]


@verifier("transcript")
def transcript(inp: VerifyInput) -> list[Finding]:
    """Runs ``check_transcript`` on ``evidence["transcript_path"]`` when one is given."""
    path = inp.evidence.get("transcript_path")
    return check_transcript(path) if path else []
