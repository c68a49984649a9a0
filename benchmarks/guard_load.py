"""Load on the guard service: 8 concurrent Claude Code sessions x 500 hook calls against one
service, beside today's figures: a server per session, and a process per call.

Each session is a process of its own, with its own session id and workspace folder, making its
calls one after another (no pause: a saturation test, far denser than a real session, unless
said otherwise): a PreToolUse for a Bash command (ls, cat, grep, git status, pytest, sed -n, pip
install, echo...; 1 in 20 is one the rules deny, such as ``rm -rf ~`` or ``git reset --hard``),
then, unless denied, a PostToolUse, or a PostToolUseFailure with a command never seen before (so
every failure must be stored). Sessions 0-3 fail 1 call in 4 (pytest assertions, tracebacks,
make errors, all kept for their workspace); sessions 4-7 fail none (1 call in 8 fails overall).

A rule decision is a PreToolUse in a workspace that holds no failure: nothing can match, so the
service answers from the rules and the exact table without a similarity search. Calls in a
workspace that holds failures search once the similarity search is loaded; they are reported
apart ("search"), so that the table shows whether a search for one session delays a rule check
for another.

Setups (A, A2, B and C each on a data directory of their own):

A1 one guard service, one session alone (session 7): the figure without concurrency.
A  the same service, cold, 8 sessions: no failure stored at the start; the first one stored
   loads the similarity search in the background while the sessions run. Timed at the client
   around ``guard_client.request``, the protocol the thin bash client speaks (its own start-up,
   a bash process of a few ms, is not included), which waits 0.8 s for a PreToolUse answer
   before judging in-process: a later answer is counted as an error (a timeout).
A2 one guard service, warm: 200 failures recorded first through PostToolUseFailure events in
   the workspaces of sessions 0-3, the similarity search loaded and caught up.
A3 A2's service again, each session pausing between calls (exponential, 100 ms on average):
   still ~10x denser than a session whose model thinks and whose commands run.
A4 a new service, the 8 sessions pausing as in A3 but none failing: no similarity search
   anywhere, the baseline of A3's rule decisions.
B  a server per session (before issue 31): a process per session holding its own ``Guard``
   (warm-up done, similarity loaded), all on the same data directory, so that their embedded
   Chroma clients take turns on its file lock and reload it after each other's writes. Timed
   in-process (no socket). Bounded in time: a session stops after its time budget.
C  a process per call (``--transport command``, and the thin client's fallback):
   ``python -m task_orchestrator.cli hook pre-tool-use|post-tool-use`` per call; 25 calls a
   session (5 with --quick).

Memory: the resident set (VmRSS, sampled every 50 ms) of what serves the sessions: A the
service; B the 8 per-session processes together; C the hook processes alive at once.

Targets (issue 31), for the one service: p99 of a rule decision <= 5 ms at the client, no
error, no wrong decision, no failure lost, and the memory serving 8 sessions <= 1.25x what one
session's server holds (B's mean per process).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, median, parser, pct, table

from task_orchestrator import guard_client

SESSIONS = 8
FAILING = (0, 1, 2, 3)  # these sessions fail 1 call in 4; the others never
FAIL_EVERY = 4
DENY_EVERY = 20
PRE_WAIT_S = 0.8  # the thin client's wait for a PreToolUse answer (events.EVENTS) before falling back
POST_WAIT_S = 3.0
TARGET_P99_S = 0.005
MEMORY_RATIO = 1.25
PREFILL = 200
PAUSE_S = 0.1  # A3: the mean pause between one call's PostToolUse and the next PreToolUse

SAFE = (
    "ls -la",
    "ls src tests",
    "cat README.md",
    "cat src/{m}.py",
    "grep -rn '{w}' src",
    "git status",
    "git diff --stat",
    "python -m pytest -q",
    "sed -n '{a},{b}p' src/{m}.py",
    "pip install -r requirements.txt",
    "echo '{w} done'",
    "head -n {a} tests/test_{m}.py",
    "wc -l src/*.py",
    "find . -name '*.py' -newer README.md",
    "git log --oneline -{a}",
)
DENIED = ("rm -rf ~", "git reset --hard", "git reset --hard HEAD~1")
MODULES = ("core", "cli", "models", "storage", "utils", "api")
FAILURES = (
    (
        "python -m pytest -q tests/test_{m}.py::test_{w}",
        "Exit code 1\nFAILED tests/test_{m}.py::test_{w} - AssertionError: assert 2 == 3\n1 failed in 0.04s",
    ),
    (
        "python scripts/{w}.py --check",
        'Exit code 1\nTraceback (most recent call last):\n  File "scripts/{w}.py", line 12, in <module>\n'
        "    main()\nValueError: {w}: expected a mapping",
    ),
    ("make {w}", "Exit code 2\nsrc/{m}.c:3: error: expected ';' before '}}'\nmake: *** [{w}] Error 2"),
)


def word(i: int) -> str:
    """A name of letters only, unique per ``i`` (numbers in a command can be normalised away)."""
    out = ""
    while True:
        out = "abcdefghijklmnopqrstuvwxyz"[i % 26] + out
        i = i // 26 - 1
        if i < 0:
            return out


def workload(session: int, n: int, *, tag: str = "", fails: bool = True) -> list[tuple[str, str, str]]:
    """``n`` calls of one session: (command, expected decision, error text or "" for success);
    ``fails``: the sessions in FAILING fail 1 call in FAIL_EVERY (or none)."""
    rng = random.Random(session)
    calls = []
    for k in range(n):
        m, w = rng.choice(MODULES), word(rng.randrange(2000))
        a = rng.randrange(1, 400)
        r = rng.random()
        if r < 1 / DENY_EVERY:
            calls.append((rng.choice(DENIED), "deny", ""))
        elif fails and session in FAILING and r < 1 / DENY_EVERY + 1 / FAIL_EVERY:
            unique = f"{tag}_{word(session)}_{word(k)}"  # never seen before: each must be stored
            cmd, err = rng.choice(FAILURES)
            calls.append((cmd.format(m=m, w=unique), "allow", err.format(m=m, w=unique)))
        else:
            cmd = rng.choice(SAFE).format(m=m, w=w, a=a, b=a + 40)
            calls.append((cmd, "allow", ""))
    return calls


def events(session: int, ws: Path, command: str, error: str, k: int) -> tuple[dict, dict]:
    """The PreToolUse and PostToolUse(Failure) events Claude Code sends for one Bash call."""
    base = {
        "session_id": f"load-session-{session}",
        "transcript_path": "",
        "cwd": str(ws),
        "permission_mode": "default",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "run it"},
        "tool_use_id": f"toolu_{session}_{k}",
    }
    pre = {**base, "hook_event_name": "PreToolUse"}
    if error:
        post = {**base, "hook_event_name": "PostToolUseFailure", "error": error, "is_interrupt": False}
    else:
        post = {
            **base,
            "hook_event_name": "PostToolUse",
            "tool_response": {"stdout": "ok\n", "stderr": "", "interrupted": False, "isImage": False},
        }
    return pre, post


def decision_of(answer: bytes) -> str:
    """allow / advice / ask / deny from a PreToolUse answer; ValueError if it is not one."""
    if not answer.strip():
        return "allow"
    out = json.loads(answer)
    hso = out.get("hookSpecificOutput") if isinstance(out, dict) else None
    if not isinstance(hso, dict) or hso.get("hookEventName") != "PreToolUse":
        raise ValueError(f"not a PreToolUse answer: {answer[:200]!r}")
    return str(hso.get("permissionDecision") or ("advice" if hso.get("additionalContext") else "allow"))


# -- workers: one process per session -----------------------------------------------------------------
def _wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def worker(mode: str, spec: dict) -> dict:
    """Run one session's calls (``mode``: guard, inproc or command) and return its figures."""
    session, ws, data = spec["session"], Path(spec["ws"]), Path(spec["data"])
    calls = workload(session, spec["n"], tag=spec.get("tag", ""), fails=spec.get("fails", True))
    bodies = [events(session, ws, c, e, k) for k, (c, _, e) in enumerate(calls)]
    judge, extra = _judge(mode, data)
    searchable = spec.get("searchable", False)
    deadline = time.monotonic() + spec.get("budget_s", 1e9)
    pause, rng = spec.get("pause_s", 0.0), random.Random(1000 + session)
    pre, post, errors, failed = [], [], {}, []
    wrong = asks = 0
    _wait_for_go()
    cpu = time.process_time()
    for (cmd, expect, err), (pre_event, post_event) in zip(calls, bodies, strict=True):
        if time.monotonic() > deadline:
            break
        if pause:  # the command runs, the model writes the next call
            time.sleep(min(10 * pause, rng.expovariate(1 / pause)))
        t = time.perf_counter()
        try:
            got = decision_of(judge("pre-tool-use", pre_event, PRE_WAIT_S))
        except (guard_client.GuardUnavailable, ValueError, subprocess.SubprocessError) as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            errors[reason] = errors.get(reason, 0) + 1
            got = "error"
        pre.append([time.perf_counter() - t, int(searchable), int(got == "error")])
        wrong += got != "error" and (got == "deny") != (expect == "deny")
        asks += got == "ask"
        if got == "deny" or (got == "error" and expect == "deny"):
            continue  # the command does not run: no PostToolUse
        t = time.perf_counter()
        try:
            answer = judge("post-tool-use", post_event, POST_WAIT_S)
            if answer.strip():
                raise ValueError(f"a PostToolUse answer: {answer[:200]!r}")
            if err and spec.get("similarity", True):
                searchable = True  # this workspace now holds a failure
        except (guard_client.GuardUnavailable, ValueError, subprocess.SubprocessError) as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            errors[reason] = errors.get(reason, 0) + 1
        post.append(time.perf_counter() - t)
        if err:
            failed.append(cmd)
    for reason, count in extra().items():
        errors[reason] = errors.get(reason, 0) + count
    return {
        "session": session,
        "pre": pre,
        "post": post,
        "errors": errors,
        "wrong": wrong,
        "asks": asks,
        "failed": failed,
        "planned": len(calls),
        "cpu_s": time.process_time() - cpu,
        **getattr(judge, "figures", {}),
    }


def _judge(mode: str, data: Path):
    """(judge(verb, event, wait_s) -> answer bytes, extra() -> more errors) for one mode."""
    if mode == "guard":

        def over_socket(verb: str, event: dict, wait_s: float) -> bytes:
            return guard_client.request(data, verb, json.dumps(event).encode(), timeout=wait_s)

        return over_socket, dict

    if mode == "command":
        exe = [sys.executable, "-m", "task_orchestrator.cli", "hook"]

        def per_process(verb: str, event: dict, wait_s: float) -> bytes:
            p = subprocess.run(
                [*exe, verb], input=json.dumps(event).encode(), capture_output=True, timeout=10, check=False
            )
            if p.returncode or b"task-orchestrator:" in p.stderr:
                raise ValueError(f"exit {p.returncode}: {p.stderr[-300:]!r}")
            return p.stdout

        return per_process, dict

    # inproc: what a per-session server held, judged in this process
    import logging

    from task_orchestrator.guard import Guard
    from task_orchestrator.memory.store import ChromaIndex
    from task_orchestrator.settings import Settings

    reloads: list[float] = []
    opened = ChromaIndex._open_embedded

    def counted(self: ChromaIndex) -> None:  # another process wrote: this one reloads the index
        t = time.perf_counter()
        opened(self)
        reloads.append(time.perf_counter() - t)

    ChromaIndex._open_embedded = counted  # type: ignore[method-assign]
    warnings: dict[str, int] = {}

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            key = f"log: {record.getMessage()[:60]}"
            warnings[key] = warnings.get(key, 0) + 1

    logging.getLogger("task_orchestrator").addHandler(Count(logging.WARNING))
    stderr = sys.stderr

    class Lines:  # the hooks say on stderr what failed (and go on): each such line is an error
        def write(self, text: str) -> int:
            if text.startswith("task-orchestrator:"):
                key = f"stderr: {text[19:80]}"
                warnings[key] = warnings.get(key, 0) + 1
            return stderr.write(text)

        def flush(self) -> None:
            stderr.flush()

    t = time.perf_counter()
    guard = Guard(data, settings=Settings(data_dir=data, _env_file=None))
    guard.warm_up()
    guard.similarity.load_now()
    loaded = time.perf_counter() - t
    opened_before = len(reloads)
    sys.stderr = Lines()  # type: ignore[assignment]

    def in_process(verb: str, event: dict, wait_s: float) -> bytes:
        return guard.hook(verb, event)

    def extra() -> dict[str, int]:
        in_process.figures = {  # type: ignore[attr-defined]
            "load_s": round(loaded, 2),
            "reloads": len(reloads) - opened_before,
            "reload_s": round(sum(reloads[opened_before:]), 2),
            "similarity": guard.similarity.state,
        }
        return warnings

    return in_process, extra


def _status_kb(pid: int) -> int:
    """The resident set of ``pid`` in KiB (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# -- the driver -------------------------------------------------------------------------------
class Memory(threading.Thread):
    """The summed VmRSS of ``pids()`` every 50 ms: peak, last, and the largest single process."""

    def __init__(self, pids) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self.last, self.single = pids, 0, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.sample()

    def sample(self) -> None:
        each = [_status_kb(p) for p in self.pids()]
        self.last = sum(each)
        self.peak = max(self.peak, self.last)
        self.single = max([self.single, *each])

    def stop(self) -> None:
        self.done.set()
        self.join()


def children(parents: set[int]) -> list[int]:
    """The processes whose parent is one of ``parents`` (the hook processes of C)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) in parents:
                    out.append(int(d.name))
    return out


class Bench:
    """The sessions' workspaces, and every service and worker process started (to stop them)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.services: list[tuple[Path, int]] = []
        self.ws = []
        for i in range(SESSIONS):
            ws = root / "ws" / f"session{i}"
            for rel, text in (
                ("README.md", "# demo\n"),
                ("requirements.txt", "requests\n"),
                ("src/core.py", "x = 1\n"),
                ("tests/test_core.py", "def test_x():\n    assert True\n"),
            ):
                (ws / rel).parent.mkdir(parents=True, exist_ok=True)
                (ws / rel).write_text(text)
            self.ws.append(ws)

    def env(self, data: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["TASK_ORCHESTRATOR_DATA_DIR"] = str(data)
        env["TASK_ORCHESTRATOR_GUARD_IDLE_S"] = "600"  # a service left behind by a crash goes away
        return env

    def sessions(
        self, mode: str, data: Path, specs: list[dict], memory, ready_s: float, run_s: float
    ) -> tuple[list[dict], Memory, float]:
        """Start one worker per spec, let them go at once, and collect their figures."""
        procs = []
        for spec in specs:
            spec = {**spec, "data": str(data), "ws": str(self.ws[spec["session"]])}
            with open(self.root / f"{mode}-{spec['session']}.err", "wb") as err:
                p = subprocess.Popen(
                    [sys.executable, __file__, "--worker", mode, "--spec", json.dumps(spec)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    cwd=spec["ws"],
                    env=self.env(data),
                )
            procs.append(p)
            self.procs.append(p)
        deadline = time.monotonic() + ready_s
        waiting = {p.stdout: p for p in procs}
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(waiting)} {mode} sessions were not ready after {ready_s:.0f} s")
            for f in select.select(list(waiting), [], [], left)[0]:
                line = f.readline()
                if line.strip() != b"ready":
                    p = waiting[f]
                    raise RuntimeError(f"a {mode} session failed to start: {line!r} (see {p.args[-1]})")
                del waiting[f]
        sampler = Memory(lambda: memory(procs))
        sampler.start()
        t = time.perf_counter()
        for p in procs:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=max(10.0, run_s - (time.perf_counter() - t)))
            if p.returncode:
                raise RuntimeError(f"a {mode} session exited with {p.returncode}")
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        wall = time.perf_counter() - t
        sampler.stop()
        return results, sampler, wall

    # -- A: one guard service --------------------------------------------------------------------
    def start_service(self, data: Path) -> int:
        data.mkdir(parents=True)
        os.environ.update(self.env(data))  # spawn hands the service this process's environment
        guard_client.spawn(data)
        if not guard_client.wait_until_up(data, 60):
            raise RuntimeError(f"the guard service did not start: {(data / 'guard' / 'log').read_text()}")
        pid = guard_client.read_endpoint(data).pid
        self.services.append((data, pid))
        return pid

    def service(self, name: str, prefill: int) -> tuple[Path, int]:
        """A service of its own data directory, with ``prefill`` failures stored and the
        similarity search loaded and caught up when there are any."""
        data = self.root / name
        pid = self.start_service(data)
        if prefill:  # recorded as the hooks record them, in the workspaces of the failing sessions
            for i in range(prefill):
                s = FAILING[i % len(FAILING)]
                cmd, err = FAILURES[i % len(FAILURES)]
                w = f"seen{word(i)}"
                _, post = events(s, self.ws[s], cmd.format(m="core", w=w), err.format(m="core", w=w), i)
                guard_client.request(data, "post-tool-use", json.dumps(post).encode(), timeout=10)
            deadline = time.monotonic() + 180
            while (state := self.status(data)["similarity"]) != "loaded":
                if time.monotonic() > deadline or state.startswith("failed"):
                    raise RuntimeError(f"the similarity search did not load: {state}")
                time.sleep(0.1)
            for s in FAILING:  # the first search embeds what the hooks stored
                pre, _ = events(s, self.ws[s], "ls -la", "", 0)
                guard_client.request(data, "pre-tool-use", json.dumps(pre).encode(), timeout=120)
        settle(pid)
        return data, pid

    def against(
        self,
        data: Path,
        pid: int,
        n: int,
        *,
        warm: bool,
        tag: str,
        pause_s: float = 0.0,
        sessions: tuple[int, ...] = tuple(range(SESSIONS)),
        fails: bool = True,
    ) -> dict:
        """``sessions`` at once against the service ``pid`` of ``data``."""
        base, cpu = self.status(data)["calls"], cpu_ticks(pid)
        specs = [
            {
                "session": s,
                "n": n,
                "searchable": warm and s in FAILING,
                "tag": tag,
                "pause_s": pause_s,
                "fails": fails,
            }
            for s in sessions
        ]
        results, mem, wall = self.sessions("guard", data, specs, lambda _: [pid], ready_s=60, run_s=900)
        cpu = cpu_ticks(pid) - cpu
        status = self.status(data)
        lost = self.lost(data, results)
        served = {k: v - base.get(k, 0) for k, v in status["calls"].items()}
        return summary(results, mem, wall, lost) | {
            "service_cpu_ms_per_request": round(cpu * 10 / max(1, sum(served.values())), 2),
            "end_mb": round(_status_kb(pid) / 1024, 1),
            "similarity": status["similarity"],
            "served": served,
            "refused": status["refused"],
        }

    def status(self, data: Path) -> dict:
        return json.loads(guard_client.request(data, "status", timeout=10))

    def lost(self, data: Path, results: list[dict]) -> int:
        from task_orchestrator.memory._table import FailureTable

        table_ = FailureTable(data / "memory.sqlite", readonly=True)
        try:
            stored = {r["action"] for r in table_.list(limit=1_000_000)}
        finally:
            table_.close()
        return sum(cmd not in stored for r in results for cmd in r["failed"])

    def stop_services(self) -> None:
        for data, pid in self.services:
            with contextlib.suppress(guard_client.GuardUnavailable):
                guard_client.request(data, "shutdown", timeout=10)
            deadline = time.monotonic() + 20
            while guard_client.endpoint_path(data).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            while time.monotonic() < deadline:  # spawned by this process: reap it
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        break
                    time.sleep(0.05)
                    continue
                break
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        self.services.clear()

    # -- B: a server per session ------------------------------------------------------------------
    def per_session(self, n: int, sessions: list[int], budget_s: float) -> dict:
        data = self.root / "b"
        data.mkdir()
        specs = [{"session": s, "n": n, "searchable": False, "budget_s": budget_s} for s in sessions]
        results, mem, wall = self.sessions(
            "inproc",
            data,
            specs,
            lambda procs: [p.pid for p in procs],
            ready_s=60 + 30 * len(sessions),
            run_s=budget_s + 60,
        )
        out = summary(results, mem, wall, self.lost(data, results))
        out["one_mb"] = round(mem.peak / len(sessions) / 1024, 1)
        out["reloads"] = sum(r["reloads"] for r in results)
        out["reload_s"] = round(sum(r["reload_s"] for r in results), 1)
        out["load_s"] = max(r["load_s"] for r in results)
        out["stopped_early"] = sum(len(r["pre"]) < r["planned"] for r in results)
        return out

    # -- C: a process per call ---------------------------------------------------------------------
    def per_call(self, n: int) -> dict:
        data = self.root / "c"
        data.mkdir()
        pre, _ = events(0, self.ws[0], "ls -la", "", 0)  # untimed: writes the bytecode caches
        subprocess.run(
            [sys.executable, "-m", "task_orchestrator.cli", "hook", "pre-tool-use"],
            input=json.dumps(pre).encode(),
            capture_output=True,
            env=self.env(data),
            check=True,
        )
        specs = [{"session": s, "n": n, "similarity": False} for s in range(SESSIONS)]
        results, mem, wall = self.sessions(
            "command", data, specs, lambda procs: children({p.pid for p in procs}), ready_s=60, run_s=600
        )
        out = summary(results, mem, wall, self.lost(data, results))
        out["one_mb"] = round(mem.single / 1024, 1)
        return out

    def kill_workers(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.communicate(timeout=10)
        self.procs.clear()


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` in clock ticks (10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def settle(pid: int, quiet_s: float = 0.5, timeout: float = 60) -> None:
    """Wait until the service has finished warming up (its CPU time stops growing)."""
    deadline = time.monotonic() + timeout
    last = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_ticks(pid)
        if now - last <= 1:  # clock ticks (10 ms)
            return
        last = now


def summary(results: list[dict], mem: Memory, wall: float, lost: int) -> dict:
    pre = [c for r in results for c in r["pre"]]
    rule = [lat for lat, searchable, _ in pre if not searchable] or [float("nan")]
    search = [lat for lat, searchable, _ in pre if searchable]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    ms = 1e3
    return {
        "sessions": len(results),
        "pre_calls": len(pre),
        "rule_calls": len(pre) - len(search),
        "post_calls": sum(len(r["post"]) for r in results),
        "rule_p50_ms": round(pct(rule, 50) * ms, 2),
        "rule_p95_ms": round(pct(rule, 95) * ms, 2),
        "rule_p99_ms": round(pct(rule, 99) * ms, 2),
        "rule_max_ms": round(max(rule) * ms, 2),
        "search_calls": len(search),
        "search_p50_ms": round(pct(search, 50) * ms, 2) if search else None,
        "search_p99_ms": round(pct(search, 99) * ms, 2) if search else None,
        "all_p99_ms": round(pct([lat for lat, _, _ in pre], 99) * ms, 2),
        "post_p50_ms": round(median([x for r in results for x in r["post"]]) * ms, 2),
        "errors": sum(errors.values()),
        "rule_errors": sum(err for _, searchable, err in pre if not searchable),
        "search_errors": sum(err for _, searchable, err in pre if searchable),
        "error_kinds": errors,
        "wrong": sum(r["wrong"] for r in results),
        "asks": sum(r["asks"] for r in results),
        "failures": sum(len(r["failed"]) for r in results),
        "lost": lost,
        "peak_mb": round(mem.peak / 1024, 1),
        "wall_s": round(wall, 1),
        "calls_per_s": round((len(pre) + sum(len(r["post"]) for r in results)) / wall, 1),
        "client_cpu_ms_per_call": round(
            sum(r["cpu_s"] for r in results) * 1e3 / max(1, len(pre) + sum(len(r["post"]) for r in results)),
            2,
        ),
        "loadavg_1m_after": float(Path("/proc/loadavg").read_text().split()[0]),
    }


def verdict(row: dict, one_mb: float) -> str:
    missed = []
    if not row["rule_p99_ms"] <= TARGET_P99_S * 1e3:
        missed.append("p99")
    if row["errors"] or row["wrong"]:
        missed.append("errors")
    if row["lost"]:
        missed.append("lost")
    if row["peak_mb"] > MEMORY_RATIO * one_mb:
        missed.append("memory")
    return "ok" if not missed else f"MISSED ({', '.join(missed)})"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--worker", choices=("guard", "inproc", "command"), help="(internal) one session")
    p.add_argument("--spec", help="(internal) the session's parameters, JSON")
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.spec))), flush=True)
        return
    n_a = 50 if args.quick else 500
    b_sessions = [0, 4] if args.quick else list(range(SESSIONS))
    b_budget = 20.0 if args.quick else 120.0
    n_c = 5 if args.quick else 25
    root = Path(tempfile.mkdtemp(prefix="guard_load."))
    bench = Bench(root)
    try:
        data, pid = bench.service("a", prefill=0)
        a1 = bench.against(data, pid, n_a, warm=False, tag="a", sessions=(SESSIONS - 1,))
        a = bench.against(data, pid, n_a, warm=False, tag="a")
        bench.stop_services()
        data, pid = bench.service("a2", prefill=PREFILL)
        a2 = bench.against(data, pid, n_a, warm=True, tag="b")
        a3 = bench.against(data, pid, n_a, warm=True, tag="c", pause_s=PAUSE_S)
        bench.stop_services()
        data, pid = bench.service("a4", prefill=0)
        a4 = bench.against(data, pid, n_a, warm=False, tag="d", pause_s=PAUSE_S, fails=False)
        bench.stop_services()
        b = bench.per_session(n_a, b_sessions, b_budget)
        c = bench.per_call(n_c)
    finally:
        bench.stop_services()
        bench.kill_workers()
        shutil.rmtree(root, ignore_errors=True)
    one = b["one_mb"]  # what one session's server holds
    rows = []
    for name, r, ref in (
        ("A1 one guard service, one session alone (client)", a1, one),
        ("A  one guard service, cold (client)", a, one),
        (f"A2 one guard service, {PREFILL} failures, similarity warm (client)", a2, one),
        (f"A3 = A2's service, sessions pausing {PAUSE_S * 1e3:.0f} ms on average (client)", a3, one),
        ("A4 one guard service, no session fails, pausing as A3 (client)", a4, one),
        (f"B  a server per session x{len(b_sessions)}, same data dir (in-process)", b, one),
        ("C  a process per call (wall)", c, c["one_mb"]),
    ):
        search = f"{r['search_p50_ms']} / {r['search_p99_ms']}" if r["search_calls"] else "-"
        rows.append(
            [
                name,
                f"{r['pre_calls']} ({r['rule_calls']})",
                f"{r['rule_p50_ms']} / {r['rule_p95_ms']} / {r['rule_p99_ms']}",
                search,
                r["errors"],
                r["wrong"],
                f"{r['lost']}/{r['failures']}",
                f"{r['peak_mb']:.0f} ({r['peak_mb'] / ref:.2f}x one)",
                verdict(r, ref),
            ]
        )
    table(
        f"guard service under load: {SESSIONS} sessions at once, PreToolUse + PostToolUse per call",
        [
            "setup",
            "PreToolUse (rule)",
            "rule decision p50 / p95 / p99 ms",
            "search p50 / p99 ms",
            "errors",
            "wrong",
            "lost",
            "memory MB",
            "p99 <= 5 ms, 0 errors, 0 lost, memory of 8 ~ one",
        ],
        rows,
    )
    served = {"A1": a1, "A": a, "A2": a2, "A3": a3, "A4": a4}
    print(
        f"\none session's server (B, per process): {one} MB; one hook process (C): {c['one_mb']} MB\n"
        f"B: {b['reloads']} Chroma reloads ({b['reload_s']} s), {b['stopped_early']} of "
        f"{len(b_sessions)} sessions stopped at the {b_budget:.0f} s budget\n"
        "service CPU ms per request: "
        + ", ".join(f"{k} {r['service_cpu_ms_per_request']}" for k, r in served.items())
        + "\ntimeouts of rule / search decisions: "
        + ", ".join(f"{k} {r['rule_errors']}/{r['search_errors']}" for k, r in served.items())
        + "\n1-min load average after each setup (2 cores): "
        + ", ".join(f"{k} {r['loadavg_1m_after']}" for k, r in {**served, "B": b, "C": c}.items())
    )
    emit(
        "guard_load",
        {
            "quick": args.quick,
            "one_server_mb": one,
            "a1_alone": a1,
            "a_cold": a,
            "a2_warm": a2,
            "a3_paced": a3,
            "a4_paced_no_failures": a4,
            "pause_s": PAUSE_S,
            "b_per_session": b,
            "c_per_call": c,
            "target_p99_ms": TARGET_P99_S * 1e3,
            "a_ok": verdict(a, one) == "ok",
            "a2_ok": verdict(a2, one) == "ok",
            "a3_ok": verdict(a3, one) == "ok",
            "a4_ok": verdict(a4, one) == "ok",
        },
    )


if __name__ == "__main__":
    main()
