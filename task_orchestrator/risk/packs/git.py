"""Git: losing uncommitted work (judged on the repository's state), rewriting or dropping
history, force pushes."""

from __future__ import annotations

import os
import posixpath

from task_orchestrator.risk.catalog import rule, text_rule
from task_orchestrator.risk.paths import Finding
from task_orchestrator.risk.shell import Cmd

RULES = [
    rule(
        "git.discards-changes",
        "critical",
        "discards uncommitted changes the repository holds",
        ["git reset --hard", "git checkout -f", "git switch -f main", "git checkout -- .", "git restore :/"],
        ["git status", "git checkout -b x"],
        repo="dirty",
    ),
    rule(
        "git.discards-unread-state",
        "high",
        "would discard uncommitted changes, and the repository's state could not be read",
        ["git checkout -f", "git clean -fdx"],
        ["git checkout -b x"],
    ),
    rule(
        "git.reset-hard-clean",
        "medium",
        "git reset --hard with nothing uncommitted to lose",
        ["git reset --hard"],
        ["git reset --soft HEAD~1"],
        repo="clean",
    ),
    rule(
        "git.reverts-files",
        "medium",
        "reverts uncommitted changes to named files",
        ["git checkout -- src/app.py", "git restore src/app.py"],
        ["git checkout main"],
    ),
    rule(
        "git.removes-whole-tree",
        "critical",
        "removes or resets the whole working tree",
        ["git rm -r .", "git read-tree -u --reset HEAD"],
        ["git rm --cached -r ."],
    ),
    rule(
        "git.deletes-untracked",
        "critical",
        "git clean deletes untracked (or ignored) files the workspace holds",
        ["git clean -fd", "git clean -fdx"],
        ["git clean -n", "git clean -fdn"],
        repo="dirty",
    ),
    rule(
        "git.drops-stash",
        "critical",
        "drops stashed changes",
        ["git stash clear", "git stash drop"],
        ["git stash list"],
        repo="dirty",
    ),
    rule(
        "git.force-push",
        "high",
        "force push rewrites a remote branch",
        ["git push --force origin main", "git push origin +main"],
        ["git push --force-with-lease origin feature"],
    ),
    rule(
        "git.deletes-remote-branch",
        "medium",
        "git push --delete removes a remote branch",
        ["git push origin --delete old"],
        ["git push origin main"],
    ),
    rule(
        "git.deletes-unmerged-branch",
        "high",
        "git branch -D deletes a branch with unmerged commits",
        ["git branch -D feature"],
        ["git branch -d feature"],
    ),
    rule(
        "git.rewrites-history",
        "high",
        "rewrites history (filter-branch, filter-repo)",
        ["git filter-branch --tree-filter true HEAD"],
        ["git log"],
    ),
    rule(
        "git.drops-history",
        "high",
        "drops history (reflog expire, update-ref -d, gc --prune=now)",
        ["git reflog expire --expire=now --all", "git gc --prune=now"],
        ["git reflog", "git gc"],
    ),
    text_rule("git.text-force-push", ["git push -f origin main"], ["git push origin main"]),
    text_rule("git.text-history-rewrite", ["git rebase -i HEAD~3", "git reset --hard"], ["git log"]),
]


_MAIN_BRANCHES = frozenset({"main", "master", "trunk", "develop", "production", "release"})


_STATE_CACHE: dict[tuple[str, bool], tuple[float, dict[str, int] | None]] = {}


def git_state(cwd: str | None, ignored: bool = False) -> dict[str, int] | None:
    """What uncommitted work a repository holds: counts of changed tracked files, untracked
    (and, with ``ignored``, ignored) files, and stashes. None when it cannot be read within
    ~0.3 s (no repository, no git, a huge tree). Runs ``git status`` with no optional locks
    and no fsmonitor program; cached for 2 s per folder."""
    import subprocess
    import time

    if not cwd or not posixpath.isabs(cwd):
        return None
    key = (cwd, ignored)
    hit = _STATE_CACHE.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < 2.0:
        return hit[1]
    argv = ["git", "-C", cwd, "-c", "core.fsmonitor=false", "status", "--porcelain=v2", "--show-stash", "-z"]
    if ignored:
        argv.append("--ignored=traditional")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    state: dict[str, int] | None
    try:
        done = subprocess.run(argv, capture_output=True, timeout=0.3, env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            state = None
        else:
            state = {"tracked": 0, "untracked": 0, "ignored": 0, "stashes": 0}
            for entry in done.stdout.decode("utf-8", "replace").split("\0"):
                if entry.startswith(("1 ", "2 ", "u ")):
                    state["tracked"] += 1
                elif entry.startswith("? "):
                    state["untracked"] += 1
                elif entry.startswith("! "):
                    state["ignored"] += 1
                elif entry.startswith("# stash "):
                    state["stashes"] = int(entry.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError):
        state = None
    if len(_STATE_CACHE) > 64:
        _STATE_CACHE.clear()
    _STATE_CACHE[key] = (now, state)
    return state


def _at_stake(
    what: str, count: int | None, action: str, rule: str, known_level: str = "high"
) -> list[Finding]:
    """A command that throws away uncommitted work: critical when the repository shows
    some, nothing when it shows none, ``known_level`` when it cannot be read."""
    if count is None:
        unread = "git.discards-unread-state" if known_level == "high" else rule
        return [(known_level, f"{action} (the repository's state could not be read)", unread)]
    if count:
        return [("critical", f"{action}: {count} {what} would be lost for good", rule)]
    return []


def _git(cmd: Cmd, ws: str | None, stashed: bool = False) -> list[Finding]:
    args = cmd.args
    i = 0
    where = cmd.cwd
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "-C" and i + 1 < len(args):
            where = (
                posixpath.normpath(posixpath.join(where or "", args[i + 1]))
                if (where or args[i + 1].startswith("/"))
                else None
            )
        elif args[i] in ("--git-dir", "--work-tree") or args[i].startswith(("--git-dir=", "--work-tree=")):
            where = None  # another repository than the folder's
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(args):
        return []
    if any(a.startswith(("GIT_DIR=", "GIT_WORK_TREE=")) for a in cmd.assigns):
        where = None
    sub, rest = args[i], args[i + 1 :]
    flags = set(rest)
    paths = rest[rest.index("--") + 1 :] if "--" in rest else []
    roots = {".", "*", ":/", "./", ":/*", ws or ".", cmd.cwd or "."}
    whole = lambda ps: any(p.rstrip("/") in roots or p in roots for p in ps)  # noqa: E731
    read: list[dict[str, int] | None] = []  # the repository's state, read on first need

    def count(kind: str, ignored: bool = False) -> int | None:
        if not read or ignored:
            read[:] = [git_state(where, ignored)]
        state = read[0]
        if state is None:
            return None
        return sum(state[k] for k in kind.split("+"))

    if sub == "reset" and "--hard" in flags:
        found = _at_stake(
            "changed files",
            count("tracked"),
            "git reset --hard discards uncommitted changes",
            "git.discards-changes",
            "critical",
        )
        return found or [
            ("medium", "git reset --hard (nothing uncommitted to lose now)", "git.reset-hard-clean")
        ]
    if sub == "checkout":
        if whole(paths) or (not paths and whole(rest)):
            return _at_stake(
                "changed files",
                count("tracked"),
                "git checkout of the whole tree discards uncommitted changes",
                "git.discards-changes",
                "critical",
            )
        if "-f" in flags or "--force" in flags:
            return _at_stake(
                "changed files",
                count("tracked"),
                "git checkout --force discards uncommitted changes",
                "git.discards-changes",
            )
        if paths:
            return [
                (
                    "medium",
                    "git checkout -- reverts uncommitted changes to " + ", ".join(paths),
                    "git.reverts-files",
                )
            ]
        return []
    if sub == "switch" and ({"-f", "--force", "--discard-changes"} & flags):
        return _at_stake(
            "changed files",
            count("tracked"),
            "git switch --discard-changes drops uncommitted changes",
            "git.discards-changes",
        )
    if sub == "rm" and "--cached" not in flags and whole([a for a in rest if not a.startswith("-")]):
        return [("critical", "git rm of the whole tree deletes the working files", "git.removes-whole-tree")]
    if sub == "read-tree" and "--reset" in flags and "-u" in flags:
        return [
            ("critical", "git read-tree -u --reset discards uncommitted changes", "git.removes-whole-tree")
        ]
    if sub == "restore":
        if ("--staged" in flags or "-S" in flags) and not ({"--worktree", "-W"} & flags):
            return []
        targets = [a for a in rest if not a.startswith("-")]
        if whole(targets):
            return _at_stake(
                "changed files",
                count("tracked"),
                "git restore of the whole tree discards uncommitted changes",
                "git.discards-changes",
                "critical",
            )
        return [
            (
                "medium",
                "git restore reverts uncommitted changes to " + ", ".join(targets),
                "git.reverts-files",
            )
        ]
    if sub == "clean":
        short = {c for a in rest if a.startswith("-") and not a.startswith("--") for c in a[1:]}
        if ("f" in short or "--force" in flags) and "n" not in short and "--dry-run" not in flags:
            ignored = "x" in short or "X" in short
            kinds = "untracked+ignored" if ignored else "untracked"
            return _at_stake(
                "untracked files" + (" or ignored files" if ignored else ""),
                count(kinds, ignored),
                "git clean deletes untracked files",
                "git.deletes-untracked",
            )
        return []
    if sub == "stash" and rest[:1] in (["clear"], ["drop"]):
        n = count("stashes")
        if stashed and n is not None:
            n += count("tracked+untracked") or 0  # stashed earlier in this line, then dropped
        what = "every stash" if rest[:1] == ["clear"] else "a stash"
        return _at_stake("stashed changes", n, f"git stash {rest[0]} drops {what}", "git.drops-stash")
    if sub == "push":
        lease = any(a.startswith(("--force-with-lease", "--force-if-includes")) for a in rest)
        force = not lease and (
            "--force" in flags or "-f" in flags or any(a.startswith("+") for a in rest) or "--mirror" in flags
        )
        if force:  # asked, not denied: the remote keeps a reflog, and a human may mean it
            refs = {a.lstrip("+").split(":")[-1] for a in rest if not a.startswith("-")}
            shared = " of a shared branch" if refs & _MAIN_BRANCHES else ""
            return [("high", f"force push rewrites a remote branch{shared}", "git.force-push")]
        if "--delete" in flags or "-d" in flags:
            return [("medium", "git push --delete removes a remote branch", "git.deletes-remote-branch")]
        return []
    if sub == "branch" and ("-D" in flags or ({"--delete", "-d"} & flags and {"--force", "-f"} & flags)):
        return [
            ("high", "git branch -D deletes a branch with unmerged commits", "git.deletes-unmerged-branch")
        ]
    if sub in ("filter-branch", "filter-repo"):
        return [("high", f"git {sub} rewrites history", "git.rewrites-history")]
    if (sub == "reflog" and rest[:1] == ["expire"]) or (sub == "update-ref" and "-d" in flags):
        return [("high", f"git {sub} drops history", "git.drops-history")]
    if sub == "gc" and any(a.startswith("--prune=now") for a in rest):
        return [("high", "git gc --prune=now drops unreachable commits", "git.drops-history")]
    return []
