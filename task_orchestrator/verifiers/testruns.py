"""Recognise test commands, parse test-runner summaries, and spot success claims."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "TestSummary",
    "claims_success",
    "is_check_command",
    "is_test_command",
    "parse_test_summary",
    "pipe_masks_exit",
    "test_runner",
]

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
    r"\d+\s+tests?,?\s+(?:all\s+)?passing|0\s+failures|no\s+(?:test\s+)?failures|"
    # the phrasings of real runs: "ran the existing tests and they passed", "it passes the
    # existing tests", "no regressions"
    r"ran\s+(?:the\s+|all\s+)?(?:existing\s+|relevant\s+|full\s+|original\s+)?(?:unit\s+)?"
    r"tests?(?:\s+suite)?[^.!?\n]{0,40}?\s+(?:and|,)\s+(?:they\s+|it\s+|all\s+)*"
    r"(?:pass(?:ed|es)?|succeed(?:ed)?)|"
    r"pass(?:es|ed)?\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:existing|relevant|original|full)\s+"
    r"(?:unit\s+)?tests?|no\s+regressions?|tests?\s+(?:still\s+)?pass\s+(?:successfully|cleanly))\b",
    re.IGNORECASE,
)
_MASKING_PIPE = re.compile(r"\|\s*(?:tail|head|grep|tee|less|more|cut|sed|awk)\b")


_MAKE_TEST = re.compile(r"^(?:test|tests|check|unittest|test-\S+|tests-\S+|check-\S+)$")


def _script_runner(script: str, rest: list[str]) -> str | None:
    """Runners that are scripts (run as programs or by python): Django's runtests.py and
    ``manage.py test``, SymPy's bin/test."""
    if script.endswith("runtests.py"):
        return "sympy" if "sympy" in script else "django"
    if script.endswith("bin/test"):
        return "sympy"
    if script.endswith("manage.py") and rest[:1] == ["test"]:
        return "django"
    return None


def _runner_of(prog: str, args: list[str], first: str) -> str | None:
    """The runner a simple command is, by what executes (not a word in its text)."""
    operands = [a for a in args if not a.startswith("-")]
    if prog in ("pytest", "py.test"):
        return "pytest"
    found = _script_runner(first, operands)
    if found:
        return found
    if re.match(r"^(?:python|pypy)[\d.]*$", prog):
        for i, a in enumerate(args):
            if a == "-m" and i + 1 < len(args):
                mod = args[i + 1]
                return {
                    "pytest": "pytest",
                    "unittest": "unittest",
                    "nose": "nose",
                    "nose2": "nose2",
                    "tox": "tox",
                    "django": "django",
                }.get(mod)
            if a.startswith("-m") and len(a) > 2:
                return {"pytest": "pytest", "unittest": "unittest"}.get(a[2:])
        script = operands[0] if operands else ""
        found = _script_runner(script, operands[1:])
        if found:
            return found
        if script.endswith("setup.py") and "test" in operands[1:2]:
            return "setuptools"
        name = script.rsplit("/", 1)[-1]
        if re.match(r"^(?:test_\w*|\w+_test|run_?tests?|tests?)\.py$", name) or "/tests/" in script:
            return "python"  # a test module or a test script run directly
        return None
    if prog in (
        "tox",
        "nox",
        "jest",
        "vitest",
        "mocha",
        "ava",
        "rspec",
        "phpunit",
        "ctest",
        "nextest",
        "karma",
        "tap",
        "busted",
        "prove",
    ):
        return prog
    if prog == "make" and any(_MAKE_TEST.match(o) for o in operands):
        return "make"
    if prog in ("npm", "pnpm", "yarn", "bun") and (
        operands[:1] in (["test"], ["t"])
        or (operands[:1] == ["run"] and operands[1:2] and operands[1].startswith("test"))
    ):
        return prog
    if prog == "go" and operands[:1] == ["test"]:
        return "go"
    if prog == "cargo" and operands[:1] and operands[0] in ("test", "nextest", "t"):
        return "cargo"
    if prog == "mix" and operands[:1] == ["test"]:
        return "exunit"
    if prog in (
        "gradle",
        "gradlew",
        "mvn",
        "mvnw",
        "dotnet",
        "swift",
        "dart",
        "flutter",
        "deno",
        "bazel",
        "bazelisk",
        "sbt",
        "lein",
    ) and any(o in ("test", "check", "verify") for o in operands[:2]):
        return prog
    if prog == "bundle" and operands[:2] in (["exec", "rspec"], ["exec", "rake"]):
        return "rspec"
    return None


def test_runner(command: str) -> str | None:
    """The test runner ``command`` runs, parsed as the shell will run it (heredoc bodies and
    quoted text are data: ``pip install pytest`` or ``cat > test_x.py <<EOF`` is no test run);
    None when it runs none."""
    try:
        from task_orchestrator.risk.shell import parse

        parsed = parse(command)
    except Exception:
        parsed = None
    if parsed is None or (not parsed.ok and not parsed.commands):
        m = _TEST_CMD.search(command)
        return m.group(0).split()[0] if m else None
    for cmd in parsed.commands:
        if not cmd.argv or not cmd.argv[0].static:
            continue
        found = _runner_of(cmd.prog, cmd.args, cmd.argv[0].value)
        if found:
            return found
    return None


def is_test_command(command: str) -> bool:
    return test_runner(command) is not None


def is_check_command(command: str) -> bool:
    """A test, build, lint or type-check run: state-dependent, meant to be re-run."""
    return is_test_command(command) or bool(_CHECK_CMD.search(command))


def claims_success(text: str) -> list[str]:
    """The sentences of ``text`` that claim tests pass."""
    out = []
    for m in _CLAIM.finditer(text):
        before = text[max(0, m.start() - 30) : m.start()]
        if re.search(
            r"\b(?:not|no|never|if|until|once|whether|unless)\b[^.!?\n]*$|n't\s*$", before, re.IGNORECASE
        ):
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
    missing: bool = False  # the runner itself is not installed: the tests did not run

    @property
    def ok(self) -> bool:
        return not self.no_tests and self.failed == 0 and self.errors == 0

    def describe(self) -> str:
        if self.missing:
            return f"{self.runner}: the test runner is not installed (no tests ran)"
        if self.no_tests:
            return f"{self.runner}: no tests ran"
        return f"{self.runner}: {self.passed} passed, {self.failed} failed, {self.errors} errors"


def _n(m: re.Match[str] | None, group: int | str = 1) -> int:
    return int(m.group(group)) if m and m.group(group) else 0


def _from_counts(runner: str, line: str, errors: str, no_tests: bool) -> TestSummary:
    """A summary from a line of counts ("9 passed, 1 failed, ..."); ``errors``: the pattern
    of the runner's error count."""
    return TestSummary(
        runner,
        passed=_n(re.search(r"(\d+) passed", line)),
        failed=_n(re.search(r"(\d+) failed", line)),
        errors=_n(re.search(errors, line)),
        no_tests=no_tests,
    )


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_MISSING = re.compile(
    r"No module named '?(pytest|nose2?|django|tox)\b|"
    r"(?:^|\s)(pytest|py\.test|tox|nox|jest|vitest|rspec|phpunit): "
    r"(?:command )?not found|command not found: (pytest|tox|jest|vitest)",
    re.MULTILINE,
)


def parse_test_summary(output: str) -> TestSummary | None:
    """The last recognisable summary of pytest, unittest (and Django's runtests.py), SymPy's
    bin/test, jest/vitest, go, cargo or ExUnit; ANSI colours are ignored, expected failures
    and skips are not failures, and a runner that is not installed ran no tests."""
    text = _ANSI.sub("", output[-20_000:])
    missing = _MISSING.search(text)
    if missing and not re.search(r"\d+ passed|^Ran \d+ tests?|tests finished:", text, re.M):
        return TestSummary(next(g for g in missing.groups() if g), no_tests=True, missing=True)
    # SymPy bin/test: "tests finished: 5 passed, 1 failed, 2 expected to fail, in 0.5 seconds"
    m = list(re.finditer(r"tests finished: (.*?), in [\d.]+ seconds", text))
    if m:
        line = m[-1].group(1)
        return _from_counts(
            "sympy", line, r"(\d+) exceptions?", no_tests=not re.search(r"passed|failed|exception", line)
        )
    # ExUnit: "14 doctests, 297 tests, 11 failures"
    m = list(
        re.finditer(
            r"(?:(\d+) doctests?, )?(?:(\d+) propert(?:y|ies), )?(\d+) tests?, "
            r"(\d+) failures?",
            text,
        )
    )
    if m:
        last = m[-1]
        total = _n(last, 1) + _n(last, 2) + _n(last, 3)
        return TestSummary("exunit", passed=total - _n(last, 4), failed=_n(last, 4), no_tests=total == 0)
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
    m = list(re.finditer(r"^[=\s]*((?:\d+ \w+(?:, )?)+|no tests ran)(?: in [\d.]+s)?.*$", text, re.MULTILINE))
    m = [x for x in m if re.search(r"passed|failed|error|no tests ran|skipped|deselected", x.group(1))]
    if m:
        line = m[-1].group(1)
        return _from_counts(
            "pytest",
            line,
            r"(\d+) errors?",
            no_tests="no tests ran" in line or not re.search(r"passed|failed|error", line),
        )
    # unittest: "Ran 5 tests in 0.01s" then "OK" or "FAILED (failures=1, errors=2)"
    m = list(re.finditer(r"^Ran (\d+) tests? in [\d.]+s", text, re.MULTILINE))
    if m:
        ran = _n(m[-1])
        tail = text[m[-1].end() :]
        f = _n(re.search(r"(?<!expected )(?<!unexpected )failures=(\d+)", tail))
        f += _n(re.search(r"unexpected successes=(\d+)", tail))
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
