"""Git: losing uncommitted work (judged on the repository's state), rewriting or dropping
history, force pushes."""

from task_orchestrator.risk.catalog import rule, text_rule

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
