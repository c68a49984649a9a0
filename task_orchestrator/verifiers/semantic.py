"""Deterministic verifiers for "confident but wrong" output: paths, test claims, code, completeness."""

from __future__ import annotations

import ast
import difflib
import os
import re
import shlex
import subprocess
from functools import lru_cache
from pathlib import Path

from task_orchestrator.findings import Finding
from task_orchestrator.packages import PackageVerdict, check_imports, python_fences
from task_orchestrator.verifiers import VerifyInput, verifier
from task_orchestrator.verifiers.testruns import claims_success, parse_test_summary, pipe_masks_exit

__all__ = ["check_path", "code", "completeness", "package_findings", "paths", "python_blocks", "test_claims"]

PYTHON_TAG_NAMES = ("python", "py", "python3", "py3")

# -- paths ------------------------------------------------------------------------------------
_EXT = (
    "py|pyi|js|mjs|cjs|ts|tsx|jsx|go|rs|ex|exs|erl|rb|java|kt|scala|c|h|cc|cpp|hpp|cs|swift|"
    "m|php|md|rst|txt|toml|yaml|yml|json|cfg|ini|sh|bash|zsh|html|css|scss|sql|lock|xml|"
    "gradle|proto|graphql|vue|svelte|ipynb|csv|env|dockerfile|mk"
)
_PATH = re.compile(
    rf"(?<![\w/.:@-])((?:\.{{1,2}}/|/|~/)?(?:[\w.@+-]+/)*[\w.@+-]+\.(?:{_EXT}))(?::\d+(?::\d+)?)?"
    rf"(?![\w/])|`((?:\.{{1,2}}/|/)?(?:[\w.@+-]+/)+[\w.@+-]*)`",
    re.IGNORECASE,
)
_CREATED = re.compile(
    r"(?:creat(?:e|ed|ing)|add(?:ed)?|new file:?|wrote|writing)\s+(?:a\s+)?(?:new\s+)?(?:file\s+)?"
    r"`?((?:[\w.@+-]+/)*[\w.@+-]+\.\w+)`?|^\+\+\+ b/(\S+)",
    re.IGNORECASE | re.MULTILINE,
)


def check_path(raw: str, workspace: Path) -> tuple[str, str] | None:
    """None if ``raw`` is inside the workspace; else (problem, detail). Never reads the file."""
    if raw.startswith("~"):
        return "outside", "home-directory path"
    root = workspace.resolve()
    candidate = Path(raw) if os.path.isabs(raw) else root / raw
    lexical = Path(os.path.normpath(candidate))
    if lexical != root and root not in lexical.parents:
        return "outside", f"resolves to {lexical}, outside the workspace {root}"
    real = Path(os.path.realpath(lexical))  # follows symlinks to see where they lead
    if real != root and root not in real.parents:
        return "outside", f"a symlink leads to {real}, outside the workspace"
    if not lexical.exists():
        return "missing", f"{raw} does not exist in {root}"
    return None


def _cited_paths(text: str) -> list[str]:
    found: dict[str, None] = {}
    for m in _PATH.finditer(text):
        raw = (m.group(1) or m.group(2) or "").rstrip(".,;:)")
        if not raw or "://" in text[max(0, m.start() - 8) : m.start() + 3]:
            continue
        if re.fullmatch(r"[\d.]+", raw.rsplit("/", 1)[-1].rsplit(".", 1)[0]):
            continue  # version numbers such as 1.2.3
        found[raw] = None
    return list(found)


@verifier("paths")
def paths(inp: VerifyInput) -> list[Finding]:
    """Every file path the output cites or edits exists inside the workspace (or is created)."""
    text = inp.text
    created = {a or b for a, b in _CREATED.findall(text)} | set(inp.evidence.get("created_files", []))
    out = []
    for raw in _cited_paths(text):
        problem = check_path(raw, inp.workspace)
        if problem is None:
            continue
        kind, detail = problem
        if kind == "missing" and (raw in created or raw.lstrip("./") in created):
            continue
        if kind == "outside":
            out.append(
                Finding(
                    verifier="paths",
                    severity="error",
                    message=f"path escapes the workspace: {raw}",
                    evidence=detail,
                    suggestion="only touch files inside the project workspace",
                )
            )
        else:
            close = difflib.get_close_matches(raw, _workspace_files(str(inp.workspace)), n=3)
            out.append(
                Finding(
                    verifier="paths",
                    message=f"cited file does not exist: {raw}",
                    evidence=detail,
                    suggestion=(
                        f"did you mean {', '.join(close)}?"
                        if close
                        else "check the path or create the file as part of the change"
                    ),
                )
            )
    return out


@lru_cache(maxsize=32)
def _workspace_files(root: str, limit: int = 5000) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in ("node_modules", "__pycache__", "venv", ".venv", "target", "build", "dist")
        ]
        for f in filenames:
            out.append(os.path.relpath(os.path.join(dirpath, f), root))
            if len(out) >= limit:
                return out
    return out


# -- test claims --------------------------------------------------------------------------------
def run_tests(command: str, workspace: Path, timeout: float) -> tuple[str, int | None]:
    """Run a test command in the workspace: (its output's tail, exit code or None if it never ran)."""
    try:
        proc = subprocess.run(
            shlex.split(command),
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or ""
        if isinstance(partial, bytes):
            partial = partial.decode("utf-8", "replace")
        return f"timed out after {timeout:.0f}s: {partial[-2000:]}", None
    except OSError as exc:
        return f"could not run {command!r}: {exc}", None
    return (proc.stdout + proc.stderr)[-20_000:], proc.returncode


@verifier("test_claims")
def test_claims(inp: VerifyInput) -> list[Finding]:
    """A claim that tests pass must be backed by a test run that passed."""
    claims = claims_success(inp.text)
    if not claims:
        return []
    claim = claims[0]
    ev = inp.evidence
    output, exit_code, command = ev.get("test_output"), ev.get("test_exit_code"), ev.get("test_command", "")
    settings = inp.settings
    if output is None and settings is not None and getattr(settings, "test_command", None):
        command = settings.test_command
        output, exit_code = run_tests(command, inp.workspace, settings.test_timeout_s)
    if output is None:
        return [
            Finding(
                verifier="test_claims",
                code="no_test_run",
                message=(f"claims {claim!r} but no test run backs it"),
                suggestion="run the tests and include their output (or configure test_command)",
            )
        ]
    summary = parse_test_summary(output)
    if summary is None:
        if exit_code not in (None, 0):
            return [
                Finding(
                    verifier="test_claims",
                    code="tests_failed",
                    message=f"claims {claim!r} but the test command exited {exit_code}",
                    evidence=output[-500:],
                )
            ]
        return [
            Finding(
                verifier="test_claims",
                severity="warning",
                message=f"claims {claim!r}; no test summary found in the given output",
                evidence=output[-300:],
            )
        ]
    if summary.no_tests:
        return [
            Finding(
                verifier="test_claims",
                code="no_tests_ran",
                message=f"claims {claim!r} but no tests ran",
                evidence=summary.describe(),
                suggestion="check the test selection/path; 0 tests is not a pass",
            )
        ]
    if not summary.ok:
        masked = exit_code == 0 and pipe_masks_exit(command or "")
        return [
            Finding(
                verifier="test_claims",
                severity="critical" if masked else "error",
                code="exit_masked_by_pipe" if masked else "tests_failed",
                message=(
                    f"claims {claim!r} but tests failed ({summary.describe()})"
                    + (
                        "; the command exited 0 only because its output was piped through "
                        f"`{command.split('|', 1)[1].strip()[:40]}`"
                        if masked
                        else ""
                    )
                ),
                evidence=output[-500:],
                suggestion="fix the failing tests before claiming success",
            )
        ]
    if exit_code not in (None, 0):
        return [
            Finding(
                verifier="test_claims",
                message=f"claims {claim!r}; the summary passed but the command exited {exit_code}",
                evidence=summary.describe(),
            )
        ]
    return []


# -- code ---------------------------------------------------------------------------------------
def python_blocks(inp: VerifyInput) -> list[str]:
    """The fenced blocks tagged as Python, and the ``code`` evidence."""
    blocks = [body for tag, body in python_fences(inp.text) if tag in PYTHON_TAG_NAMES]
    if "code" in inp.evidence:
        blocks.append(str(inp.evidence["code"]))
    return blocks


def package_findings(verdicts: list[PackageVerdict], verifier_name: str = "code") -> list[Finding]:
    """Findings (same format as every verifier) for the verdicts that have something to say."""
    return [
        Finding(
            verifier=verifier_name,
            severity=v.severity,  # type: ignore[arg-type]
            message=v.message(),
            evidence=v.evidence(),
            suggestion=v.suggestion(),
            code=f"package_{v.status}",
        )
        for v in verdicts
        if v.severity
    ]


@verifier("code")
def code(inp: VerifyInput) -> list[Finding]:
    """Python in the output parses, and every package it imports exists: the standard
    library, the workspace's environment and modules, its declared dependencies, then PyPI."""
    out = []
    for block in python_blocks(inp):
        try:
            ast.parse(block)
        except SyntaxError as exc:
            out.append(
                Finding(
                    verifier="code",
                    message=f"Python code does not parse: {exc.msg}",
                    evidence=f"line {exc.lineno}: {(exc.text or '').strip()}",
                )
            )
    text = inp.text
    if "code" in inp.evidence:
        text += f"\n```python\n{inp.evidence['code']}\n```\n"
    out += package_findings(check_imports(text, inp.workspace))
    return out


# -- completeness -----------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"#\s*TODO\b|//\s*TODO\b|\bTODO:\s|implementation (?:goes )?here|your code here|"
    r"rest of (?:the )?(?:code|implementation|file)|\.\.\.\s*(?:rest|existing code|remaining)|"
    r"//\s*\.\.\.|#\s*\.\.\.\s*$|pass\s*#\s*(?:TODO|implement|placeholder)|<placeholder>|"
    r"\[(?:insert|add) [^\]]+ here\]",
    re.IGNORECASE | re.MULTILINE,
)


def _stub_functions(block: str) -> list[str]:
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decos = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
        if decos & {"abstractmethod", "overload"}:
            continue
        body = [
            b
            for b in node.body
            if not (
                isinstance(b, ast.Expr)
                and isinstance(b.value, ast.Constant)
                and isinstance(b.value.value, str)
            )
        ]  # drop docstrings
        if len(body) == 1 and (
            isinstance(body[0], ast.Pass)
            or (
                isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and body[0].value.value is Ellipsis
            )
        ):
            out.append(node.name)
    return out


@verifier("completeness")
def completeness(inp: VerifyInput) -> list[Finding]:
    """No placeholder bodies or TODO stand-ins, no truncated output."""
    text = inp.text
    out = []
    m = _PLACEHOLDER.search(text)
    if m:
        line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end()) % (len(text) + 1)]
        out.append(
            Finding(
                verifier="completeness",
                message="the output contains a placeholder",
                evidence=line.strip()[:200],
                suggestion="write the real implementation",
            )
        )
    for block in python_blocks(inp):
        stubs = _stub_functions(block)
        if stubs:
            out.append(
                Finding(
                    verifier="completeness",
                    message=f"function body is a stub: {', '.join(stubs)}",
                    suggestion="implement the function instead of `pass`/`...`",
                )
            )
    if text.count("```") % 2:
        out.append(
            Finding(
                verifier="completeness",
                message="output looks truncated: an unclosed code block",
                evidence=text[-120:],
            )
        )
    elif re.search(r"(?:\.\.\.|…|[,(\[{]|\b(?:and|or|the|to|of))\s*$", text.strip()) and len(text) > 40:
        out.append(
            Finding(
                verifier="completeness",
                severity="warning",
                message="output may be truncated (ends mid-sentence)",
                evidence=text.strip()[-120:],
            )
        )
    return out
