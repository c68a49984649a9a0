"""``task-orchestrator explain 'CMD'``: how the gate read a command and why it decided.

It prints the simple commands that would run (after every expansion the gate made as bash
would: braces, ``$IFS``, aliases, functions, ``$(echo ...)``, decoders, git settings...), each
finding with its rule id, level and reason, the decision, what a policy changed, and the
policy line that would change each finding. ``--rules`` lists every rule by pack.
"""

from __future__ import annotations

import json
import posixpath

__all__ = ["explain", "explain_data", "list_rules"]

_DECISION = {"critical": "deny", "high": "ask", "medium": "allow (reported)", "low": "allow"}


def explain_data(command: str, cwd: str | None = None) -> dict:
    """Everything ``explain`` prints, as one JSON-ready object."""
    from task_orchestrator.risk.catalog import RULES
    from task_orchestrator.risk.policy import load_policy, user_policy_path
    from task_orchestrator.risk.shell import _render
    from task_orchestrator.risk.text import judge

    cwd = posixpath.abspath(cwd) if cwd else None
    policy = load_policy(cwd)
    j = judge(command, cwd, policy=policy)
    read: list[dict] = []
    expansions: list[str] = []
    for parsed in j.parsed:
        for cmd in parsed.commands:
            rendered = _render(cmd)
            entry = {"command": rendered, "cwd": cmd.cwd, "via": list(cmd.wrappers)}
            if entry not in read:
                read.append(entry)
        expansions.extend(e for e in parsed.expansions if e not in expansions)
        expansions.extend(f"problem: {p}" for p in parsed.problems if f"problem: {p}" not in expansions)
    project = (
        policy.files[-1]
        if policy.files and not policy.files[-1].startswith(posixpath.dirname(user_policy_path()))
        else None
    )
    findings = []
    for level, reason, rule in j.findings:
        spec = RULES.get(rule)
        where = ".task-orchestrator.toml (or [tool.task-orchestrator] in pyproject.toml)"
        if spec is not None and spec.level == "critical":
            change = f'[rules] "{rule}" = "ask"   # only in the user policy: {user_policy_path()}'
        else:
            change = f'[rules] "{rule}" = "allow"   # in {project or where}, or the user policy'
        findings.append(
            {
                "rule": rule,
                "level": level,
                "decision": _DECISION[level],
                "reason": reason,
                "pack": spec.pack if spec else "custom",
                "to_change": change,
            }
        )
    return {
        "command": command,
        "cwd": cwd,
        "read_as": read,
        "expansions": expansions,
        "findings": findings,
        "level": j.level,
        "decision": _DECISION[j.level].split(" ")[0],
        "policy": {
            "files": policy.files,
            "changes": j.policy_notes,
            "errors": [str(e) for e in policy.errors],
            "delete_ok": [f for f, _, _ in policy.delete_ok],
        },
    }


def explain(command: str, cwd: str | None = None, as_json: bool = False) -> str:
    data = explain_data(command, cwd)
    if as_json:
        return json.dumps(data, indent=2)
    lines = [
        f"command: {command}",
        f"cwd: {data['cwd'] or '(unknown)'}",
        "",
        "read as (the simple commands that would run):",
    ]
    for entry in data["read_as"]:
        via = f"   [via {' > '.join(entry['via'])}]" if entry["via"] else ""
        lines.append(f"  {entry['command']}{via}")
    if data["expansions"]:
        lines += ["", "expanded as bash would:"]
        lines += [f"  {e}" for e in data["expansions"]]
    lines += ["", "findings:" if data["findings"] else "findings: none"]
    for f in data["findings"]:
        lines.append(f"  {f['rule']:<34} {f['level']:<8} {f['reason']}")
    lines += ["", f"decision: {data['decision']} (level {data['level']})"]
    pol = data["policy"]
    if pol["files"]:
        lines.append("policy files: " + ", ".join(pol["files"]))
    for change in pol["changes"]:
        lines.append(f"  policy: {change}")
    for error in pol["errors"]:
        lines.append(f"  policy NOT applied: {error}")
    changeable = [f for f in data["findings"] if f["level"] in ("high", "critical", "medium")]
    if changeable:
        lines += ["", "to change a finding, a policy line:"]
        seen: set[str] = set()
        for f in changeable:
            if f["to_change"] not in seen:
                seen.add(f["to_change"])
                lines.append(f"  {f['to_change']}")
    return "\n".join(lines)


def list_rules(as_json: bool = False) -> str:
    from task_orchestrator.risk.catalog import PACKS, RULES

    if as_json:
        return json.dumps(
            [
                {
                    "id": s.id,
                    "pack": s.pack,
                    "level": s.level,
                    "reason": s.reason,
                    "fallback": s.fallback,
                    "matches": list(s.matches),
                    "passes": list(s.passes),
                }
                for s in RULES.values()
            ],
            indent=2,
        )
    lines = []
    for pack in PACKS:
        lines.append(f"{pack}:")
        for s in RULES.values():
            if s.pack == pack:
                tag = " (text; when the parser cannot read the command)" if s.fallback else ""
                lines.append(f"  {s.id:<40} {s.level:<8} {s.reason}{tag}")
    return "\n".join(lines)
