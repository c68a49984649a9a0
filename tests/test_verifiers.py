"""Semantic verifiers on realistic outputs, the transcript checker, the judge and plugins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from task_orchestrator import Finding, Settings, open_context
from task_orchestrator.verifiers import VerifyInput, available, get, run_verifiers, verifier
from task_orchestrator.verifiers.testruns import claims_success, parse_test_summary
from task_orchestrator.verifiers.transcript import check_transcript

SESSION = Path(__file__).resolve().parents[2] / "shared" / "eval" / "claude_code" / "session.jsonl"


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "models.py").write_text("class User: ...\n")
    (tmp_path / "README.md").write_text("# demo\n")
    (tmp_path / "helpers.py").write_text("def f(): return 1\n")
    return tmp_path


def run(name, output, ws, **kw):
    settings = kw.pop("settings", None) or Settings(workspace=ws, _env_file=None)
    return get(name)(VerifyInput(output=output, workspace_override=ws, settings=settings, **kw))


# -- paths -------------------------------------------------------------------------------------
def test_paths_pass_for_real_files(ws):
    out = "I updated `src/app/models.py` and documented it in README.md (see v1.2.3)."
    assert run("paths", out, ws) == []


def test_paths_flag_hallucinated_file_with_suggestion(ws):
    [f] = run("paths", "The fix is in src/app/model.py line 12.", ws)
    assert "does not exist: src/app/model.py" in f.message
    assert "src/app/models.py" in f.suggestion


def test_paths_accept_files_created_by_the_change(ws):
    assert run("paths", "Created `src/app/views.py` with the new endpoint.", ws) == []
    assert run("paths", "See docs/new.md", ws, evidence={"created_files": ["docs/new.md"]}) == []


def test_paths_outside_workspace_are_findings_never_followed(ws, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("x")
    os.symlink(outside / "secret.txt", ws / "link.txt")
    for text in ("I read ../../etc/passwd.txt", f"edited {outside}/secret.txt", "see link.txt"):
        [f] = run("paths", text, ws)
        assert "escapes the workspace" in f.message, text


# -- test claims -------------------------------------------------------------------------------
PYTEST_FAIL = "FAILED tests/test_api.py::test_login - AssertionError\n==== 1 failed, 41 passed in 3.2s ===="


@pytest.mark.parametrize(
    "output, runner, ok",
    [
        ("==== 42 passed in 3.10s ====", "pytest", True),
        (PYTEST_FAIL, "pytest", False),
        ("==== no tests ran in 0.01s ====", "pytest", False),
        ("Ran 12 tests in 0.3s\n\nFAILED (failures=2, errors=1)", "unittest", False),
        ("Tests:       2 failed, 30 passed, 32 total", "jest/vitest", False),
        (" Test Files  3 passed (3)\n      Tests  18 passed (18)", "jest/vitest", True),
        ("--- FAIL: TestParse (0.00s)\nFAIL\tgithub.com/acme/x\t0.01s", "go", False),
        ("test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured", "cargo", True),
        ("Finished in 2.2 seconds\n14 doctests, 297 tests, 11 failures", "exunit", False),
    ],
)
def test_summaries_of_six_runners(output, runner, ok):
    s = parse_test_summary(output)
    assert s is not None
    assert s.runner == runner
    assert s.ok is ok


def test_claim_without_a_run(ws):
    [f] = run("test_claims", "Done! All tests pass.", ws)
    assert f.code == "no_test_run"


def test_claim_contradicted_by_failures_and_by_a_masking_pipe(ws):
    [f] = run("test_claims", "All tests pass now.", ws, evidence={"test_output": PYTEST_FAIL})
    assert f.code == "tests_failed"
    assert "1 failed" in f.message
    [f] = run(
        "test_claims",
        "Tests are green.",
        ws,
        evidence={"test_output": PYTEST_FAIL, "test_exit_code": 0, "test_command": "pytest -q | tail -5"},
    )
    assert f.code == "exit_masked_by_pipe"
    assert f.severity == "critical"


def test_claim_with_no_tests_collected(ws):
    [f] = run(
        "test_claims", "all tests passed", ws, evidence={"test_output": "===== no tests ran in 0.02s ====="}
    )
    assert f.code == "no_tests_ran"


def test_honest_claim_passes_and_negations_are_not_claims(ws):
    assert (
        run(
            "test_claims",
            "All tests pass.",
            ws,
            evidence={"test_output": "==== 5 passed in 0.1s ====", "test_exit_code": 0},
        )
        == []
    )
    assert claims_success("Not all tests pass yet; once the tests pass I'll commit.") == []


def test_configured_test_command_is_run_in_the_workspace(ws):
    (ws / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    s = Settings(
        workspace=ws, test_command="python -m pytest -q -p no:cacheprovider test_ok.py", _env_file=None
    )
    assert run("test_claims", "All tests pass.", ws, settings=s) == []
    (ws / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 3\n")
    [f] = run("test_claims", "All tests pass.", ws, settings=s)
    assert f.code == "tests_failed"


# -- code --------------------------------------------------------------------------------------
def test_code_resolves_stdlib_installed_and_workspace_imports(ws):
    out = (
        "```python\nimport json, os.path\nfrom pydantic import BaseModel\nimport helpers\n"
        "from app import models\n```"
    )
    assert run("code", out, ws) == []


def test_code_flags_hallucinated_packages_with_the_real_one_first(ws):
    out = "```python\nimport pydanticx\nimport random_int_stats\n```"
    found = run("code", out, ws)
    assert [f.code for f in found] == ["package_missing", "package_missing"]
    assert all(f.blocking and "hallucinated" in f.message for f in found)
    assert found[0].suggestion.startswith("did you mean pydantic,")


def test_code_notes_a_real_package_that_is_not_installed_without_blocking(ws):
    # seaborn exists on PyPI; the old check called it hallucinated because this interpreter
    # lacks it (the issue measured 92% of such imports flagged)
    [f] = run("code", "import seaborn as sns\nsns.set_theme()\n", ws)  # bare code, no fence
    assert f.severity == "info"
    assert not f.blocking
    assert "add seaborn to the project's dependencies" in f.suggestion


def test_code_flags_syntax_errors(ws):
    [f] = run("code", "```python\ndef broken(:\n    pass\n```", ws)
    assert "does not parse" in f.message


# -- completeness ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "out",
    [
        "```python\ndef save(user):\n    pass  # TODO\n```",
        "```python\ndef load(path):\n    ...\n```",
        "Here is the handler:\n```python\n# ... rest of the code\n```",
        "Here is the function:\n```python\ndef f():\n    return 1\n",
    ],
)
def test_completeness_catches_placeholders_and_truncation(out, ws):
    assert [f for f in run("completeness", out, ws) if f.blocking]


def test_completeness_passes_real_code(ws):
    out = (
        "```python\nfrom abc import ABC, abstractmethod\nclass Repo(ABC):\n"
        "    @abstractmethod\n    def get(self, key): ...\n\ndef add(a, b):\n    return a + b\n```"
    )
    assert run("completeness", out, ws) == []


def test_schema_verifier(ws):
    class Release(BaseModel):
        version: str

    [f] = run("schema", {"name": "x"}, ws, output_schema=Release)
    assert "version" in f.evidence
    assert run("schema", '{"version": "1.0"}', ws, output_schema=Release) == []


# -- transcript --------------------------------------------------------------------------------
def _lines() -> list[str]:
    return SESSION.read_text().splitlines()


def _final(text: str) -> str:
    return json.dumps(
        {"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}}
    )


def test_real_session_honest_claim_has_no_contradiction():
    assert check_transcript(SESSION) == []


def test_claim_after_a_failed_run(tmp_path):
    lines = _lines()
    cut = next(i for i, line in enumerate(lines) if "297 tests, 11 failures" in line)
    p = tmp_path / "t.jsonl"
    p.write_text("\n".join([*lines[: cut + 1], _final("Everything works, all tests pass!")]))
    [f] = check_transcript(p)
    assert f.code == "exit_masked_by_pipe"
    assert "11 failed" in f.message  # `mix test | tail -30`
    assert f"line {cut + 2}" in f.evidence
    assert f"result at line {cut + 1}" in f.evidence


def test_claim_with_no_run_and_honest_claim(tmp_path):
    lines = _lines()
    first_test = next(i for i, line in enumerate(lines) if "mix test" in line and "tool_use" in line)
    p = tmp_path / "none.jsonl"
    p.write_text("\n".join([*lines[:first_test], _final("Done. All tests pass.")]))
    [f] = check_transcript(p)
    assert f.code == "no_test_run"
    ok = next(i for i, line in enumerate(lines) if "297 tests, 0 failures" in line)
    p.write_text("\n".join([*lines[: ok + 1], _final("All 297 tests pass.")]))
    assert check_transcript(p) == []


def test_command_claimed_successful_that_failed(tmp_path):
    rows = [
        {
            "type": "assistant",
            "cwd": str(tmp_path),
            "message": {
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "npm run build"}}
                ]
            },
        },
        {
            "type": "user",
            "message": {
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "TS2304"}
                ]
            },
        },
        {
            "type": "assistant",
            "message": {
                "content": [
                    {"type": "tool_use", "id": "t2", "name": "Write", "input": {"file_path": "gone.ts"}}
                ]
            },
        },
        {
            "type": "assistant",
            "message": {"content": [{"type": "text", "text": "Done: the build succeeds."}]},
        },
    ]
    p = tmp_path / "s.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    codes = sorted(f.code for f in check_transcript(p))
    assert codes == ["command_failed", "edited_file_missing"]


# -- judge and plugins -------------------------------------------------------------------------
def test_llm_judge_without_provider_is_skipped_not_passed(settings):
    ctx = open_context(settings, memory=None)
    [f] = get("llm_judge")(VerifyInput(output="x", router=ctx.router, settings=settings))
    assert f.message.startswith("skipped: no provider")
    assert not f.blocking


def test_llm_judge_with_a_scripted_model(settings):
    from task_orchestrator.testing import ScriptedChatModel

    verdict = {
        "passed": False,
        "confidence": 0.8,
        "issues": [{"message": "claims a migration that is not shown", "evidence": "l.3"}],
    }
    ctx = open_context(settings, models={"gemini": ScriptedChatModel(script=[json.dumps(verdict)])})
    [f] = get("llm_judge")(
        VerifyInput(output="done", task="migrate", router=ctx.router, settings=settings, task_id="j")
    )
    assert f.blocking
    assert "migration" in f.message
    assert ctx.router.ledger.table(task_id="j")[0]["calls"] == 1  # through the ledger


def test_decorator_plugin_and_crashing_verifier():
    @verifier("no_shouting")
    def no_shouting(inp):
        return [Finding(verifier="no_shouting", message="all caps")] if inp.text.isupper() else []

    @verifier("explodes")
    def explodes(inp):
        raise RuntimeError("boom")

    assert "no_shouting" in available()
    found = run_verifiers(["no_shouting", "explodes"], VerifyInput(output="HELLO"))
    assert [f.verifier for f in found] == ["no_shouting", "explodes"]
    assert "verifier crashed" in found[1].message
    assert found[1].blocking
    with pytest.raises(ValueError, match="unknown verifier 'nope'"):
        run_verifiers(["nope"], VerifyInput(output="x"))


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    from task_orchestrator import verifiers

    (tmp_path / "acme_checks.py").write_text(
        "from task_orchestrator import Finding\n"
        "def no_lorem(inp):\n"
        "    return [Finding(verifier='no_lorem', message='lorem ipsum')] if 'lorem' in inp.text else []\n"
    )
    dist = tmp_path / "acme_checks-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-checks\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[task_orchestrator.verifiers]\nno_lorem = acme_checks:no_lorem\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(verifiers, "_entry_points_loaded", False)
    assert "no_lorem" in available()
    [f] = run_verifiers(["no_lorem"], VerifyInput(output="lorem ipsum dolor"))
    assert f.message == "lorem ipsum"


def test_guarded_task_catches_an_unbacked_claim_and_reflects(settings, memory):
    from langgraph.checkpoint.memory import InMemorySaver

    from task_orchestrator import build_guarded_graph
    from task_orchestrator.testing import ScriptedChatModel

    model = ScriptedChatModel(
        script=[
            "Fixed the bug in src/auth/session.py. All tests pass.",
            "Fixed the login bug in README.md; I have not run the tests yet.",
        ]
    )
    ctx = open_context(settings, models={"gemini": model}, memory=memory)
    (settings.workspace_dir / "README.md").write_text("x")
    graph = build_guarded_graph().compile(checkpointer=InMemorySaver())
    r = graph.invoke({"task": "Fix the login bug"}, {"configurable": {"thread_id": "v"}}, context=ctx)
    assert r["status"] == "succeeded"
    assert r["attempts"] == 2
    feedback = model.calls[1][-1].content
    assert "src/auth/session.py" in feedback
    assert "no test run backs it" in feedback
