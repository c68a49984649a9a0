"""The ``task-orchestrator`` command.

Imports are deferred to each subcommand: ``hook pre-tool-use`` runs once per Claude Code
tool call and must start with the standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = ["main"]


def _service():
    from task_orchestrator.service import Service

    return Service()


def _table(title: str, columns: list[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")  # a long path wraps in 80 columns, never cut
    for r in rows:
        t.add_row(*(Text(str(x)) for x in r))
    Console().print(t)


def _say(text: str) -> None:
    """Print ``text`` wrapped to the terminal's width (80 when not a terminal): a long path
    continues on the next line, whole."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    for line in text.split("\n"):
        indent = "  " if line.startswith("  ") else ""
        print(
            textwrap.fill(
                line.strip(),
                width=max(40, width),
                initial_indent=indent,
                subsequent_indent=indent,
                break_long_words=True,
                break_on_hyphens=False,
            )
        )


def _cmd_demo(args: argparse.Namespace) -> int:
    from task_orchestrator.demo import run_demo

    outcome = run_demo(Path(args.data_dir) if args.data_dir else None)
    return 0 if all(v == "succeeded" for v in outcome.values()) else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    if args.in_process:
        from task_orchestrator.mcp_server import main as serve_here

        serve_here()
        return 0
    from task_orchestrator.mcp_relay import main as relay

    return relay()


def _cmd_guard(args: argparse.Namespace) -> int:
    from task_orchestrator import guard_client

    data_dir = guard_client.data_dir_of()
    if args.action == "run":
        from task_orchestrator.guard import main as run

        return run(
            ["--data-dir", str(data_dir)] + ([] if args.idle_s is None else ["--idle-s", str(args.idle_s)])
        )
    if args.action == "start":
        guard_client.spawn_soon(data_dir, every_s=0)
        if not guard_client.wait_until_up(data_dir, 30.0):
            print(f"task-orchestrator: the guard service did not start; see {data_dir / 'guard' / 'log'}")
            return 1
    elif args.action == "stop":
        return 0 if _stop_guard(data_dir) else 1
    return _print_guard_status(data_dir, as_json=args.json)


def _stop_guard(data_dir: Path) -> bool:
    import time

    from task_orchestrator import guard_client

    try:
        pid = guard_client.read_endpoint(data_dir).pid
        guard_client.request(data_dir, "shutdown", timeout=5.0)
    except guard_client.GuardUnavailable as exc:
        print(f"no guard service answers for {data_dir} ({exc})")
        return True
    for _ in range(200):  # it finishes the requests under way, lets go of its lock, and exits
        if not guard_client.holds_lock(data_dir) and _exited(pid):
            print(f"stopped the guard service (pid {pid})")
            return True
        time.sleep(0.05)
    print(f"the guard service (pid {pid}) has not exited after 10 s")
    return False


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited: gone, or a zombie its parent (a ``serve`` relay that started
    it, say) has not reaped yet."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: its lock, let go, says it stopped serving
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _print_guard_status(data_dir: Path, *, as_json: bool) -> int:
    from task_orchestrator import guard_client

    try:
        st = json.loads(guard_client.request(data_dir, "status", timeout=5.0))
    except guard_client.GuardUnavailable as exc:
        st = {"running": False, "why": str(exc), "data_dir": str(data_dir)}
    else:
        st = {"running": True, **st}
    if as_json:
        print(json.dumps(st, indent=2))
        return 0
    if not st["running"]:
        _say(f"guard service: not running ({st['why']}); the first hook that needs it starts it")
        return 0
    calls = ", ".join(f"{k} {v}" for k, v in sorted(st["calls"].items())) or "none"
    fallbacks = ", ".join(f"{k} {v}" for k, v in sorted(st["fallbacks_24h"].items())) or "none"
    _say(
        f"guard service: running, pid {st['pid']}, version {st['version']}, up {st['uptime_s']:.0f} s\n"
        f"  data dir: {st['data_dir']}\n"
        f"  sessions served: {st['sessions']}; calls: {calls}\n"
        f"  hooks judged in-process in the last 24 h (why): {fallbacks}\n"
        f"  similarity search: {st['similarity']} ({st['similarity_skipped_busy']} skipped while "
        f"another ran); MCP sessions open: {st['mcp_sessions']}\n"
        f"  exits after {st['idle_exit_s']:.0f} s idle"
    )
    return 0


def _cmd_hook(args: argparse.Namespace) -> int:
    from task_orchestrator.hooks import main as hook

    return hook(args.event)


def _cmd_hooks(args: argparse.Namespace) -> int:
    from task_orchestrator.hooks_install import install, mcp_tool_hooks, on_path, settings_path, uninstall

    path = settings_path(args.scope)
    portable = args.scope == "project" and on_path(args.transport)
    moved = ""
    if args.action == "install" and args.scope == "project" and not portable:
        # the hooks must name this machine's path: not in the settings a team commits
        other, path = path, settings_path("local")
        if not args.dry_run and uninstall(other):
            moved = f"removed our hooks from {other}"
        print(
            "task-orchestrator-hook is not on PATH here, so the hooks name its path on this machine: "
            f"they go to {path} (this machine's project settings, not committed). Put the "
            "task-orchestrator install on PATH (uv tool install ...) for hooks a team can commit."
        )
    elif args.action == "install" and portable and not args.dry_run and uninstall(settings_path("local")):
        moved = f"removed our hooks from {settings_path('local')} (the project settings name them now)"
    migrating = args.action == "install" and mcp_tool_hooks(path)
    if args.action == "install":
        diff = install(path, args.transport, dry_run=args.dry_run, portable=portable)
    else:
        diff = uninstall(path, dry_run=args.dry_run)
        if args.scope == "project":
            local = settings_path("local")
            diff = "\n".join(d for d in (diff, uninstall(local, dry_run=args.dry_run)) if d)
    if moved:
        print(moved)
    print(diff or f"{path}: nothing to change")
    if not args.dry_run and diff:
        print(f"{'updated' if args.action == 'install' else 'removed our hooks from'} {path}")
    if migrating:
        print(
            f"replaced {migrating} mcp_tool hook(s) of an older version: those let every call run "
            "when the MCP server was not connected; the command hooks fail closed"
        )
    if args.action == "install" and args.transport == "guard":
        print(
            "the hooks ask the guard service (started on demand, one per user and data directory) "
            "and judge in-process when it cannot answer: they need no MCP server. The MCP server "
            "(claude mcp add task-orchestrator -- task-orchestrator serve) adds the tools "
            "(check_action, run_task, approvals, status...)"
        )
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from task_orchestrator import guard_client

    svc = _service()
    try:
        st = svc.status()
    finally:
        svc.close()
    if args.json:
        try:
            st["guard"] = json.loads(guard_client.request(guard_client.data_dir_of(), "status", timeout=5.0))
        except guard_client.GuardUnavailable as exc:
            st["guard"] = {"running": False, "why": str(exc)}
        print(json.dumps(st, indent=2, default=str))
        return 0
    _table(
        "circuit breakers",
        ["provider", "state", "failures", "retry in s", "last error"],
        [
            [
                b["provider"],
                b["state"],
                b["failures"],
                "" if b["retry_in_s"] is None else f"{b['retry_in_s']:.0f}",
                b["last_error"] or "",
            ]
            for b in st["breakers"]
        ],
    )
    from task_orchestrator.pacing import USAGE_COLUMNS, usage_row

    _table(
        "pacing (requests per window and per day; shared by every process of the data dir)",
        USAGE_COLUMNS,
        [usage_row(p) for p in st["pacing"]],
    )
    b = st["budget"]
    _table(
        "budget",
        ["spent today (USD)", "daily budget", "task budget"],
        [[f"{b['spent_today_usd']:.4f}", b["daily_budget_usd"], b["task_budget_usd"]]],
    )
    m = st["memory"]
    _table(
        "memory",
        ["failures", "shared lessons", "per workspace (workspaces)", "cap", "pending approvals"],
        [
            [
                m["failures"],
                m["shared_lessons"],
                f"{m['workspace_failures']} ({m['workspaces']})",
                m["cap"],
                st["pending_approvals"],
            ]
        ],
    )
    _say(f"data dir: {st['data_dir']}")
    print()
    return _print_guard_status(guard_client.data_dir_of(), as_json=False)


def _cmd_approvals(args: argparse.Namespace) -> int:
    svc = _service()
    try:
        if args.action in (None, "list"):
            if getattr(args, "json", False):
                print(json.dumps(svc.pending(), default=str))
                return 0
            _table(
                "waiting for approval",
                ["thread id", "action", "why"],
                [
                    [p["thread_id"], p["request"]["action"][:80], "; ".join(p["request"]["why"])]
                    for p in svc.pending()
                ],
            )
            return 0
        if args.action == "recover":
            r = svc.recover(args.thread_id)
        else:
            decision: dict[str, object] = {"decision": args.action, "by": "cli", "note": args.note or ""}
            if args.action == "edit":
                try:
                    decision["input"] = json.loads(args.input)
                except ValueError as exc:
                    raise SystemExit(f"--input must be the edited tool input as JSON: {exc}") from None
            r = svc.resume(args.thread_id, decision)
        print(json.dumps(_result_object(r), default=str, indent=2))
        return 0
    finally:
        svc.close()


def _result_object(r: dict) -> dict:
    """What a run prints: the same object for a task, an agent task and a resumed one."""
    out = {k: r.get(k) for k in ("thread_id", "status", "output", "error")}
    if "session_id" in r:  # an agent task
        out.update(
            session_id=r.get("session_id"),
            result=r.get("result"),
            approval=r.get("approval_request") if r.get("status") == "waiting_for_approval" else None,
            findings=r.get("findings") or [],
            cost_usd=r.get("cost_usd"),
        )
        out.pop("output", None)
    return out


def _cmd_agent(args: argparse.Namespace) -> int:
    svc = _service()
    try:
        r = svc.run_agent(args.prompt, workspace=args.workspace, thread_id=args.thread_id)
    finally:
        svc.close()
    obj = _result_object(r)
    if args.json:
        print(json.dumps(obj, default=str))
    else:
        print(json.dumps(obj, default=str, indent=2))
        if obj["status"] == "waiting_for_approval":
            _say(
                f"waiting for a human: task-orchestrator approvals approve {obj['thread_id']} "
                f"(or reject, or edit --input JSON)"
            )
    return 0 if obj["status"] in ("succeeded", "waiting_for_approval") else 1


def _cmd_memory(args: argparse.Namespace) -> int:
    svc = _service()
    try:
        mem = svc.memory
        if args.action == "list":
            _table(
                f"failure memory ({mem.count()} failures)",
                ["id", "count", "action", "lesson"],
                [[r.id[:12], r.count, r.action[:70], r.lesson[:60]] for r in mem.list(limit=args.limit)],
            )
        elif args.action == "search":
            _table(
                f"nearest to {args.query!r}",
                ["id", "distance", "exact", "action", "lesson"],
                [
                    [
                        m.record.id[:12],
                        f"{m.distance:.3f}",
                        m.exact,
                        m.record.action[:60],
                        m.record.lesson[:50],
                    ]
                    for m in svc.search(args.query, k=args.limit)
                ],
            )
        elif args.action == "forget":
            ok = svc.forget(args.record_id)
            print("forgotten" if ok else f"no failure with id {args.record_id}")
            return 0 if ok else 1
        elif args.action == "export":
            out = open(args.file, "w") if args.file != "-" else sys.stdout
            n = 0
            for line in mem.export_jsonl():
                out.write(line + "\n")
                n += 1
            if out is not sys.stdout:
                out.close()
            print(f"exported {n} failures", file=sys.stderr)
        elif args.action == "import":
            from rich.progress import track

            lines = Path(args.file).read_text().splitlines()
            n = mem.import_jsonl(track(lines, description="importing", transient=True))
            print(f"imported {n} failures ({mem.count()} in memory)")
        elif args.action == "reembed":
            from rich.progress import Progress

            _ = mem.index  # a new index (other embedder, wiped server) flags every row
            with Progress(transient=True) as bar:
                task = bar.add_task("embedding", total=mem.store.count(unembedded=True))
                n = mem.reembed_missing(lambda k: bar.advance(task, k))
            print(f"embedded {n} failures with {mem.embedder.name}")
        return 0
    finally:
        svc.close()


def _cmd_explain(args: argparse.Namespace) -> int:
    from task_orchestrator.risk.explain import explain, list_rules

    if args.rules:
        print(list_rules(as_json=args.json))
        return 0
    if not args.command:
        print("task-orchestrator explain: give a command ('rm -rf ~') or --rules", file=sys.stderr)
        return 2
    print(explain(args.command, args.cwd or os.getcwd(), as_json=args.json))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from task_orchestrator.doctor import run_checks

    checks = run_checks(Path(args.project) if args.project else None)
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        for c in checks:
            _say(c.line())
    return 1 if any(c.state == "MISS" for c in checks) else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from task_orchestrator.report import write_report
    from task_orchestrator.settings import Settings

    out = write_report(args.out, Settings(), days=args.days)
    print(f"report written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(prog="task-orchestrator", description="A safety layer for coding agents.")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run one task offline through every safety node")
    demo.add_argument("--data-dir", help="keep the demo's stores here (default: a temp dir)")
    demo.set_defaults(fn=_cmd_demo)

    serve = sub.add_parser("serve", help="the MCP server on stdio (relayed to the guard service)")
    serve.add_argument(
        "--in-process", action="store_true", help="serve in this process instead of the guard service"
    )
    serve.set_defaults(fn=_cmd_serve)

    from task_orchestrator.events import EVENTS

    hook = sub.add_parser("hook", help="judge a Claude Code hook event in this process (JSON on stdin)")
    hook.add_argument("event", choices=list(EVENTS))
    hook.set_defaults(fn=_cmd_hook)

    guard = sub.add_parser("guard", help="the guard service that answers the hooks of every session")
    guard.add_argument("action", choices=["start", "status", "stop", "run"], nargs="?", default="status")
    guard.add_argument("--json", action="store_true", help="status as JSON")
    guard.add_argument("--idle-s", type=float, help="run: exit after this many seconds idle")
    guard.set_defaults(fn=_cmd_guard)

    hooks = sub.add_parser("hooks", help="install/uninstall the Claude Code hooks")
    hooks.add_argument("action", choices=["install", "uninstall"])
    scope = hooks.add_mutually_exclusive_group()
    scope.add_argument(
        "--project",
        dest="scope",
        action="store_const",
        const="project",
        help=".claude/settings.json (default)",
    )
    scope.add_argument(
        "--user", dest="scope", action="store_const", const="user", help="~/.claude/settings.json"
    )
    hooks.set_defaults(scope="project")
    hooks.add_argument(
        "--transport",
        choices=["guard", "command"],
        default="guard",
        help="guard (default): the thin client and the guard service; command: a Python process per call",
    )
    hooks.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    hooks.set_defaults(fn=_cmd_hooks)

    status = sub.add_parser("status", help="breakers, budget, memory, approvals")
    status.add_argument("--json", action="store_true")
    status.set_defaults(fn=_cmd_status)

    ap = sub.add_parser("approvals", help="tasks waiting for a human decision")
    ap_sub = ap.add_subparsers(dest="action")  # none: list them
    ap_sub.add_parser("list").add_argument("--json", action="store_true", help="print the requests as JSON")
    for decision in ("approve", "reject", "edit"):
        d = ap_sub.add_parser(decision)
        d.add_argument("thread_id")
        d.add_argument("--note")
        if decision == "edit":
            d.add_argument("--input", required=True, help="the edited tool input, as JSON")
    ap_sub.add_parser(
        "recover",
        help="continue a task whose process died mid-run (an approved action that had started is not rerun)",
    ).add_argument("thread_id")
    ap.set_defaults(fn=_cmd_approvals)

    agent = sub.add_parser("agent", help="Claude Code sessions as guarded tasks (unattended, approvals)")
    agent_sub = agent.add_subparsers(dest="action", required=True)
    run = agent_sub.add_parser("run", help="run a headless Claude Code session on PROMPT in a workspace")
    run.add_argument("prompt")
    run.add_argument("--workspace", default=".", help="the folder the session works in (default: here)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--thread-id", help="a UUID for the task (and its session); default: a new one")
    agent.set_defaults(fn=_cmd_agent)

    mem = sub.add_parser("memory", help="the failure memory")
    m_sub = mem.add_subparsers(dest="action", required=True)
    m_sub.add_parser("list").add_argument("--limit", type=int, default=50)
    s = m_sub.add_parser("search")
    s.add_argument("query")
    s.add_argument("--limit", type=int, default=5)
    m_sub.add_parser("forget").add_argument("record_id")
    m_sub.add_parser("export").add_argument("file", nargs="?", default="-")
    m_sub.add_parser("import").add_argument("file")
    m_sub.add_parser("reembed", help="embed every failure whose vector is not in the index yet")
    mem.set_defaults(fn=_cmd_memory)

    doc = sub.add_parser("doctor", help="check this install end to end, and how to fix each miss")
    doc.add_argument("--project", help="the project whose settings to read (default: this folder)")
    doc.add_argument("--json", action="store_true")
    doc.set_defaults(fn=_cmd_doctor)

    ex = sub.add_parser("explain", help="how the gate reads a command, its findings by rule id, the policy")
    ex.add_argument("command", nargs="?", help="a shell command, quoted")
    ex.add_argument("--cwd", help="the folder it would run in (default: this one)")
    ex.add_argument("--json", action="store_true")
    ex.add_argument("--rules", action="store_true", help="list every rule by pack")
    ex.set_defaults(fn=_cmd_explain)

    report = sub.add_parser("report", help="one self-contained HTML page with plots")
    report.add_argument("--out", default="report.html", help="where to write it (report.html)")
    report.add_argument("--days", type=int, default=30, help="the period shown (30 days)")
    report.set_defaults(fn=_cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "hook":  # the per-tool-call path: no argparse
        from task_orchestrator.hooks import main as hook

        return hook(argv[1])
    if argv == ["serve"]:  # each session starts it: the relay imports the standard library only
        from task_orchestrator.mcp_relay import main as relay

        return relay()
    args = build_parser().parse_args(argv)
    from task_orchestrator.errors import TaskOrchestratorError

    try:
        return args.fn(args)
    except (TaskOrchestratorError, ValueError, OSError) as exc:  # the user's to fix; the rest is a bug
        print(f"task-orchestrator: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
