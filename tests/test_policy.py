"""Policies users change per rule id, and ``explain`` (issue 32): a project file committed with
the repository, a user file, folders to delete in, custom rules with examples, and errors that
name the file and line and never switch a rule off."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from task_orchestrator.risk.explain import explain, explain_data
from task_orchestrator.risk.text import judge, rule_level


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    (h / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / ".config"))
    monkeypatch.delenv("TASK_ORCHESTRATOR_POLICY", raising=False)
    return h


@pytest.fixture
def project(home):
    p = home / "project"
    p.mkdir()
    return p


def write(path, body):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))


def test_a_project_allows_a_rule_for_its_repository_only(home, project):
    other = home / "other"
    other.mkdir()
    write(project / ".task-orchestrator.toml", '[rules]\n"git.force-push" = "allow"\n')
    assert rule_level("git push --force origin feature", cwd=str(project))[0] in ("low", "medium")
    assert rule_level("git push --force origin feature", cwd=str(other))[0] == "high"
    sub = project / "src"
    sub.mkdir()
    assert rule_level("git push --force origin feature", cwd=str(sub))[0] in (
        "low",
        "medium",
    )  # parents count


def test_the_pyproject_table_works_too(project):
    write(project / "pyproject.toml", '[project]\nname = "x"\n')
    assert rule_level("pkill -f server", cwd=str(project))[0] == "medium"
    write(  # the table added to an existing file is seen at once
        project / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.task-orchestrator.rules]\n"system.kills-processes" = "deny"\n',
    )
    assert rule_level("pkill -f server", cwd=str(project))[0] == "critical"


def test_a_project_cannot_lower_a_critical_rule_and_says_where(project):
    write(
        project / ".task-orchestrator.toml",
        '[rules]\n"git.force-push" = "allow"\n"deletes.recursive-home" = "allow"\n',
    )
    j = judge("rm -rf ~", cwd=str(project))
    assert j.level == "critical"  # the rule still holds
    err = str(j.policy.errors[0])
    assert ".task-orchestrator.toml:3" in err and "deletes.recursive-home" in err and "user policy" in err
    # nothing of a broken file is applied, not even its valid lines
    assert rule_level("git push --force origin feature", cwd=str(project))[0] == "high"


def test_the_user_policy_can_lower_a_critical_rule_to_ask(home, project):
    write(
        home / ".config" / "task-orchestrator" / "policy.toml", '[rules]\n"deletes.recursive-home" = "ask"\n'
    )
    assert rule_level("rm -rf ~", cwd=str(project))[0] == "high"


def test_a_project_cannot_loosen_what_the_user_denied(home, project):
    write(home / ".config" / "task-orchestrator" / "policy.toml", '[rules]\n"git.force-push" = "deny"\n')
    write(project / ".task-orchestrator.toml", '[rules]\n"git.force-push" = "allow"\n')
    assert rule_level("git push --force origin main", cwd=str(project))[0] == "critical"


def test_folders_the_agent_may_delete_in(home, project):
    assert rule_level("rm -rf /data/shared-cache/build", cwd=str(project))[0] == "high"
    write(project / ".task-orchestrator.toml", 'delete_ok = ["/data/shared-cache"]\n')
    assert rule_level("rm -rf /data/shared-cache/build", cwd=str(project))[0] in ("low", "medium")
    assert rule_level("rm -rf /data/other", cwd=str(project))[0] == "high"
    assert rule_level("rm -rf ~", cwd=str(project))[0] == "critical"


def test_a_delete_ok_that_reaches_a_home_is_refused(project):
    write(project / ".task-orchestrator.toml", 'delete_ok = ["~"]\n')
    j = judge("rm -rf ~", cwd=str(project))
    assert j.level == "critical" and "delete_ok" in str(j.policy.errors[0])


def test_a_custom_rule_with_its_examples(project):
    write(
        project / ".task-orchestrator.toml",
        """
        [[custom]]
        id = "team.no-terraform-destroy"
        level = "critical"
        reason = "terraform destroy tears down shared infrastructure"
        program = "terraform"
        args = ["destroy"]
        matches = ["terraform destroy -auto-approve"]
        passes = ["terraform plan"]
        """,
    )
    j = judge("cd infra && terraform destroy -auto-approve", cwd=str(project))
    assert j.level == "critical" and ("team.no-terraform-destroy" in [f[2] for f in j.findings])
    assert judge("terraform plan", cwd=str(project)).level in ("low", "medium")


def test_a_custom_rule_whose_example_fails_is_an_error_with_its_line(project):
    write(
        project / ".task-orchestrator.toml",
        """
        [rules]
        "git.force-push" = "allow"

        [[custom]]
        id = "team.no-drop"
        pattern = "DROP TABLE"
        matches = ["psql -c 'drop table users'"]
        """,
    )
    j = judge("git push --force origin main", cwd=str(project))
    assert j.level == "high"  # the file is not applied
    err = str(j.policy.errors[0])
    assert ".task-orchestrator.toml:6" in err and "does not match its own example" in err


def test_unknown_rule_ids_and_bad_toml_name_the_line(project):
    write(project / ".task-orchestrator.toml", '[rules]\n"git.force-pushes" = "allow"\n')
    err = str(judge("ls", cwd=str(project)).policy.errors[0])
    assert ":2" in err and "unknown rule id" in err and "git.force-push" in err
    write(project / ".task-orchestrator.toml", '[rules\n"git.force-push" = "allow"\n')
    err = str(judge("ls", cwd=str(project)).policy.errors[0])
    assert ".task-orchestrator.toml:1" in err


def test_an_agent_editing_the_policy_is_asked(project):
    assert rule_level("echo '[rules]' >> .task-orchestrator.toml", cwd=str(project))[0] == "high"
    from task_orchestrator.risk.engine import tool_path_risk

    assert tool_path_risk("Write", str(project / ".task-orchestrator.toml"), str(project))[0][0] == "high"


# explain: how the command was read, every expansion, findings with rule ids, the policy line
TRICKS = {
    "rm${IFS}-rf${IFS}/": ("rm -rf /", "$IFS"),
    "{rm,-rf,~}": ("rm -rf", "braces"),
    "/???/r? -rf ~": ("rm", "glob"),
    "r\\\nm -rf ~": ("rm -rf", "backslash-newline"),
    "alias x='rm -rf'\nx ~": ("rm -rf", "alias"),
    'f(){ rm -rf "$1"; }; f ~': ("rm -rf", "function f"),
    'set -- rm -rf ~; "$@"': ("rm -rf", "set --"),
    "$(printf 'r%s' m) -rf /": ("rm -rf /", "$(printf"),
    "c=grm; ${c#g} -rf /": ("rm -rf /", "${c#g}"),
    "echo cm0gLXJmIH4= | base64 -d | sh": ("rm -rf", "decoded input"),
    "git -c alias.x='!rm -rf ~' x": ("rm -rf", ""),
    "printf 'all:\\n\\trm -rf ~\\n' | make -f -": ("rm -rf", ""),
    "tar -cf /dev/null x --checkpoint=1 --checkpoint-action=exec='rm -rf ~'": ("rm -rf", ""),
    "ssh prod 'rm -rf /'": ("rm -rf /", ""),
    "env -S 'rm -rf ~'": ("rm -rf", ""),
    "chronic rm -rf ~": ("rm -rf", ""),
}


@pytest.mark.parametrize("command", TRICKS, ids=list(TRICKS))
def test_explain_shows_how_each_trick_was_read(command, project):
    data = explain_data(command, str(project))
    shown, expansion = TRICKS[command]
    assert any(shown in e["command"] for e in data["read_as"]), data["read_as"]
    if expansion:
        assert any(expansion in e for e in data["expansions"]), data["expansions"]
    assert data["decision"] == "deny"
    assert all(f["rule"] and f["to_change"] for f in data["findings"])


def test_explain_names_the_policy_that_changed_a_decision(project):
    write(project / ".task-orchestrator.toml", '[rules]\n"git.force-push" = "allow"\n')
    text = explain("git push --force origin main", str(project))
    assert "decision: allow" in text and ".task-orchestrator.toml:2" in text


def test_explain_from_the_command_line(project):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "task_orchestrator.cli",
            "explain",
            "{rm,-rf,~}",
            "--cwd",
            str(project),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["decision"] == "deny" and data["findings"][0]["rule"] == "deletes.recursive-home"
    rules = subprocess.run(
        [sys.executable, "-m", "task_orchestrator.cli", "explain", "--rules"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "git.force-push" in rules.stdout and "deletes:" in rules.stdout
