"""Test runs recognised by what executes, and their summaries read on real output.

The outputs are tails of real runs in ../shared/eval/agent_runs/swebench_gemini3_dev.jsonl
(mini-swe-agent + gemini-3-pro on SWE-bench Verified)."""

from __future__ import annotations

import json

import pytest

from task_orchestrator import hooks
from task_orchestrator.verifiers.testruns import claims_success, parse_test_summary
from task_orchestrator.verifiers.testruns import test_runner as runner_of


@pytest.mark.parametrize(
    "command, runner",
    [
        ("./tests/runtests.py queries ordering", "django"),
        ("python3 tests/runtests.py migrations.test_multidb", "django"),
        ("python manage.py test app", "django"),
        ("bin/test sympy/matrices/expressions/tests/test_matexpr.py", "sympy"),
        ("python sympy/testing/runtests.py sympy/physics/units/tests/test_unitsystem.py", "sympy"),
        ("cd /testbed && python -m pytest -q tests/x.py 2>&1 | tail -20", "pytest"),
        ("pytest astropy/timeseries/tests/test_sampled.py", "pytest"),
        ("python -m unittest discover", "unittest"),
        ("python3 sympy/crypto/tests/test_crypto.py", "python"),
        ("tox -e py311", "tox"),
        ("npm test", "npm"),
        ("pnpm run test:unit", "pnpm"),
        ("npx jest --ci", "jest"),
        ("make test", "make"),
        ("go test ./...", "go"),
        ("cargo test --all", "cargo"),
        ("mix test", "exunit"),
        ("bundle exec rspec", "rspec"),
        ("./gradlew test", "gradlew"),
        ("mvn -q test", "mvn"),
        ("dotnet test", "dotnet"),
    ],
)
def test_runners_are_recognised_by_what_executes(command, runner):
    assert runner_of(command) == runner


@pytest.mark.parametrize(
    "command",
    [
        "pip install pytest",
        "git checkout setup.py tox.ini",
        "echo 'run pytest later'",
        "cat <<'EOF' > test_fix.py\nimport pytest\nEOF",
        "grep -rn pytest setup.cfg",
        "python reproduce_issue.py",
        "make build",
    ],
)
def test_words_in_data_are_not_test_runs(command):
    assert runner_of(command) is None


@pytest.mark.parametrize(
    "output, ok, passed, failed",
    [
        (
            "\nRan 26 tests in 0.037s\n\nOK (skipped=2)\nDestroying test database for alias 'default'...\n",
            True,
            26,
            0,
        ),
        ("Ran 390 tests in 0.642s\n\nOK (skipped=9, expected failures=2)\nDestroying test dat", True, 390, 0),
        (
            "No such file or directory: 'psql': 'psql'\n\n---------------------------------------------"
            "-------------------------\nRan 13 tests in 0.134s\n\nFAILED (errors=6, skipped=2)\n",
            False,
            7,
            0,
        ),
        (
            "sympy/matrices/expressions/tests/test_indexing.py[9] .........              [OK]\n\n"
            "================== tests finished: 9 passed, in 0.03 seconds ===================\n",
            True,
            9,
            0,
        ),
        (
            '    assert python(Eq(x, y)) == "e = Eq(x, y)"\nAssertionError\n\n=== tests finished: 9 '
            "passed, 1 failed, 1 expected to fail, in 0.23 seconds ====\nDO *NOT* COMMIT!\n",
            False,
            9,
            1,
        ),
        (
            "FAILED astropy/timeseries/tests/test_sampled.py::test_initialization_with_time_delta\n"
            "============================== 1 failed in 0.15s ===============================\n",
            False,
            0,
            1,
        ),
        (
            "\x1b[32m======================== \x1b[32m\x1b[1m201 passed\x1b[0m, \x1b[33m4 skipped\x1b[0m"
            "\x1b[32m in 0.59s\x1b[0m\x1b[32m ========================\x1b[0m\n",
            True,
            201,
            0,
        ),
    ],
)
def test_real_summaries(output, ok, passed, failed):
    s = parse_test_summary(output)
    assert s is not None and (s.ok, s.passed, s.failed) == (ok, passed, failed), s


def test_a_missing_runner_is_no_run_not_a_failure():
    s = parse_test_summary("\n/usr/bin/python3: No module named pytest\n")
    assert s.missing
    assert s.no_tests
    assert not s.failed
    assert parse_test_summary("bash: pytest: command not found").missing


@pytest.mark.parametrize(
    "text",
    [
        "I ran the existing tests and they passed.",
        "The change passes the existing tests.",
        "All green.",
        "No regressions.",
        "All tests pass.",
    ],
)
def test_claims_in_their_real_phrasings(text):
    assert claims_success(text)


def _transcript(tmp_path, steps, final):
    rows = []
    for i, (cmd, rc, out) in enumerate(steps):
        rows.append(
            {
                "type": "assistant",
                "message": {
                    "content": [
                        {"type": "tool_use", "id": f"t{i}", "name": "Bash", "input": {"command": cmd}}
                    ]
                },
            }
        )
        rows.append(
            {
                "type": "user",
                "message": {
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"t{i}",
                            "is_error": bool(rc),
                            "content": (f"Exit code {rc}\n" if rc else "") + out,
                        }
                    ]
                },
            }
        )
    rows.append({"type": "assistant", "message": {"content": [{"type": "text", "text": final}]}})
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return {"transcript_path": str(path)}


def test_a_missing_pytest_then_a_passing_django_run_is_not_blocked(tmp_path):
    event = _transcript(
        tmp_path,
        [
            ("python -m pytest tests/queries", 1, "/usr/bin/python3: No module named pytest\n"),
            ("./tests/runtests.py queries", 0, "Ran 26 tests in 0.037s\n\nOK (skipped=2)\n"),
        ],
        "I ran the existing tests and they passed.",
    )
    assert hooks.stop(event) is None


def test_only_a_missing_runner_is_told_as_no_run(tmp_path):
    event = _transcript(
        tmp_path,
        [("python -m pytest tests/", 1, "/usr/bin/python3: No module named pytest\n")],
        "All tests pass.",
    )
    out = hooks.stop(event)
    assert out["decision"] == "block"
    assert "not installed" in out["reason"]


@pytest.mark.parametrize(
    "steps",
    [
        [("bin/test sympy/printing", 1, "=== tests finished: 9 passed, 1 failed, in 0.2 seconds ===")],
        [("python -m pytest -q | tail -3", 0, "1 failed, 4 passed in 2s")],
        [("python reproduce.py", 0, "ok")],
    ],
)
def test_contradicted_claims_are_still_blocked(tmp_path, steps):
    assert hooks.stop(_transcript(tmp_path, steps, "All tests pass."))["decision"] == "block"


def test_honest_claims_are_not_blocked(tmp_path):
    event = _transcript(
        tmp_path,
        [("bin/test sympy/printing", 0, "=== tests finished: 9 passed, in 0.2 seconds ===")],
        "All tests pass.",
    )
    assert hooks.stop(event) is None
