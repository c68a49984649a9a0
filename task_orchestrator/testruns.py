"""Recognise test commands, parse test-runner summaries, and spot success claims."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TestSummary", "claims_success", "is_check_command", "is_test_command",
           "parse_test_summary", "pipe_masks_exit"]

_TEST_CMD = re.compile(
    r"\b(?:pytest|py\.test|python\d?(?:\.\d+)?\s+-m\s+(?:pytest|unittest)|tox|nox|"
    r"(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test|jest|vitest|go\s+test|cargo\s+(?:test|nextest)|"
    r"mix\s+test|make\s+(?:test|check)|rspec|phpunit|ctest|gradle\w*\s+test|mvn\s+test|"
    r"dotnet\s+test|swift\s+test)\b"
)
# Commands that check the state of the code: failing is their job, re-running them after a
# fix is the normal loop, so a failure of one is information, not a mistake to block.
_CHECK_CMD = re.compile(
    r"\b(?:(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?(?:build|lint|typecheck|check|format)|tsc|mypy|pyright|"
    r"ruff|flake8|pylint|black\s+--check|eslint|prettier\s+--check|cargo\s+(?:build|check|clippy)|"
    r"go\s+(?:build|vet)|mix\s+(?:compile|format|credo|dialyzer)|make(?:\s+\w+)?|gradle\w*\s+build|"
    r"mvn\s+(?:compile|package|verify)|dotnet\s+build|pre-commit\s+run)\b"
)
_CLAIM = re.compile(
    r"(?<!not )(?<!n't )\b(?:all\s+(?:the\s+)?(?:\d+\s+)?tests?\s+(?:now\s+)?pass\w*|"
    r"tests?\s+(?:all\s+|now\s+|are\s+(?:all\s+)?(?:now\s+)?)?(?:pass(?:es|ed|ing)?|green)|"
    r"all\s+(?:green|passing)|(?:test\s+)?suite\s+(?:is\s+)?(?:passes|passing|green)|"
    r"\d+\s+tests?,?\s+(?:all\s+)?passing|0\s+failures|no\s+(?:test\s+)?failures)\b",
    re.IGNORECASE,
)
_MASKING_PIPE = re.compile(r"\|\s*(?:tail|head|grep|tee|less|more|cut|sed|awk)\b")


def is_test_command(command: str) -> bool:
    return bool(_TEST_CMD.search(command))


def is_check_command(command: str) -> bool:
    """A test, build, lint or type-check run: state-dependent, meant to be re-run."""
    return is_test_command(command) or bool(_CHECK_CMD.search(command))


def claims_success(text: str) -> list[str]:
    """The sentences of ``text`` that claim tests pass."""
    out = []
    for m in _CLAIM.finditer(text):
        before = text[max(0, m.start() - 30):m.start()]
        if re.search(r"\b(?:not|no|never|if|until|once|whether|unless)\b[^.!?\n]*$|n't\s*$",
                     before, re.IGNORECASE):
            continue  # "not all tests pass", "once the tests pass", ...
        out.append(m.group(0))
    return out


def pipe_masks_exit(command: str) -> bool:
    """The test command's exit status is lost in a pipe (no pipefail)."""
    return bool(_MASKING_PIPE.search(command)) and "pipefail" not in command


@dataclass(frozen=True)
class TestSummary:
    runner: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    no_tests: bool = False

    @property
    def ok(self) -> bool:
        return not self.no_tests and self.failed == 0 and self.errors == 0

    def describe(self) -> str:
        if self.no_tests:
            return f"{self.runner}: no tests ran"
        return f"{self.runner}: {self.passed} passed, {self.failed} failed, {self.errors} errors"


def _n(m: re.Match[str] | None, group: int | str = 1) -> int:
    return int(m.group(group)) if m and m.group(group) else 0


def parse_test_summary(output: str) -> TestSummary | None:
    """The last recognisable summary of pytest, unittest, jest/vitest, go, cargo or ExUnit."""
    text = output[-20_000:]
    # ExUnit: "14 doctests, 297 tests, 11 failures"
    m = list(re.finditer(r"(?:(\d+) doctests?, )?(?:(\d+) propert(?:y|ies), )?(\d+) tests?, "
                         r"(\d+) failures?", text))
    if m:
        last = m[-1]
        total = _n(last, 1) + _n(last, 2) + _n(last, 3)
        return TestSummary("exunit", passed=total - _n(last, 4), failed=_n(last, 4),
                           no_tests=total == 0)
    # cargo: "test result: ok. 5 passed; 0 failed"
    m = list(re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", text))
    if m:
        p = sum(_n(x, 1) for x in m)
        f = sum(_n(x, 2) for x in m)
        return TestSummary("cargo", passed=p, failed=f, no_tests=p + f == 0)
    # jest: "Tests:       1 failed, 4 passed, 5 total"; vitest: "Tests  1 failed | 4 passed (5)"
    m = list(re.finditer(r"^\s*Tests:?\s+(.*?(?:total|\(\d+\)))\s*$", text, re.MULTILINE))
    if m:
        line = m[-1].group(1)
        f = _n(re.search(r"(\d+) failed", line))
        p = _n(re.search(r"(\d+) passed", line))
        return TestSummary("jest/vitest", passed=p, failed=f, no_tests=p + f == 0)
    if re.search(r"No tests found|No test files found", text):
        return TestSummary("jest/vitest", no_tests=True)
    # pytest: "=== 3 failed, 10 passed in 1.2s ===" or "-q": "10 passed in 0.5s"
    m = list(re.finditer(r"^[=\s]*((?:\d+ \w+(?:, )?)+|no tests ran)(?: in [\d.]+s)?.*$",
                         text, re.MULTILINE))
    m = [x for x in m if re.search(r"passed|failed|error|no tests ran|skipped|deselected",
                                   x.group(1))]
    if m:
        line = m[-1].group(1)
        return TestSummary(
            "pytest", passed=_n(re.search(r"(\d+) passed", line)),
            failed=_n(re.search(r"(\d+) failed", line)),
            errors=_n(re.search(r"(\d+) errors?", line)),
            no_tests="no tests ran" in line or not re.search(r"passed|failed|error", line),
        )
    # unittest: "Ran 5 tests in 0.01s" then "OK" or "FAILED (failures=1, errors=2)"
    m = list(re.finditer(r"^Ran (\d+) tests? in [\d.]+s", text, re.MULTILINE))
    if m:
        ran = _n(m[-1])
        tail = text[m[-1].end():]
        f = _n(re.search(r"failures=(\d+)", tail))
        e = _n(re.search(r"errors=(\d+)", tail))
        return TestSummary("unittest", passed=ran - f - e, failed=f, errors=e, no_tests=ran == 0)
    # go test: "ok  pkg 0.1s" / "FAIL pkg" / "--- FAIL: TestX"
    oks = re.findall(r"^ok\s+\S+", text, re.MULTILINE)
    fails = re.findall(r"^(?:--- FAIL:|FAIL\s+\S+)", text, re.MULTILINE)
    if oks or fails:
        return TestSummary("go", passed=len(oks), failed=len(fails))
    if re.search(r"\[no test files\]", text):
        return TestSummary("go", no_tests=True)
    return None
