"""Deletes: what a delete, a move or a shred reaches (the root, a home, the system, the
workspace, its .git, outside it), recursive or not."""

from __future__ import annotations

from task_orchestrator.risk.catalog import rule, text_rule
from task_orchestrator.risk.paths import (
    _CLASS_NAME,
    _DELETE_LEVEL,
    _REMOTE,
    Finding,
    _delete_id,
    _flags,
    _targets,
    secret_path,
)
from task_orchestrator.risk.shell import Cmd

RULES = [
    rule(
        "deletes.no-preserve-root",
        "critical",
        "recursive delete with --no-preserve-root",
        ["rm -rf --no-preserve-root /"],
        ["rm -rf /tmp/x"],
    ),
    rule(
        "deletes.recursive-root",
        "critical",
        "recursive delete of the root",
        ["rm -rf /", "rm -rf /*"],
        ["rm -rf ./root"],
    ),
    rule(
        "deletes.recursive-home",
        "critical",
        "recursive delete of a home folder",
        ["rm -rf ~", "rm -rf $HOME/", "rm -fr /home/dev/project/../.."],
        ["rm -rf ~/.cache/pip"],
    ),
    rule(
        "deletes.recursive-system",
        "critical",
        "recursive delete of a system path",
        ["rm -rf /usr/lib", "rm -rf /etc"],
        ["rm -rf /tmp/build"],
    ),
    rule(
        "deletes.recursive-workspace",
        "critical",
        "recursive delete of the workspace itself",
        ["rm -rf .", "rm -rf ./*"],
        ["rm -rf ./dist"],
    ),
    rule(
        "deletes.recursive-git",
        "critical",
        "recursive delete of the repository's .git",
        ["rm -rf .git"],
        ["rm -rf .github/old"],
    ),
    rule(
        "deletes.recursive-device",
        "critical",
        "recursive delete of a device",
        ["rm -rf /dev/sda1"],
        ["rm -rf build/dev"],
    ),
    rule(
        "deletes.recursive-home-file",
        "high",
        "recursive delete of files outside the workspace (home)",
        ["rm -rf ~/Documents"],
        ["rm -rf ~/.cache/x", "rm -rf ./Documents"],
    ),
    rule(
        "deletes.recursive-outside",
        "high",
        "recursive delete outside the workspace",
        ["rm -rf /data/old-project"],
        ["rm -rf ./old-project"],
    ),
    rule(
        "deletes.recursive-unknown-root",
        "high",
        "recursive delete of a path that may expand to /",
        ['rm -rf "$DIR"/'],
        ['rm -rf "$DIR/build"'],
    ),
    rule(
        "deletes.recursive-unknown",
        "medium",
        "recursive delete of a path known only at run time",
        ['rm -rf "$DIR/build"'],
        ["rm -rf build"],
    ),
    rule(
        "deletes.recursive-found-wide",
        "high",
        "recursive delete of matching files anywhere under a wide folder",
        ["find / -name core | xargs rm -rf"],
        ["find . -name core | xargs rm -rf"],
    ),
    rule(
        "deletes.recursive-found-outside",
        "high",
        "recursive delete of matching files outside the workspace",
        ["find ../other -name build | xargs rm -rf"],
        ["find . -name build | xargs rm -rf"],
    ),
    rule("deletes.root", "high", "delete of the root", ["rm -f /"], ["rm -f ./root.txt"]),
    rule("deletes.home", "high", "delete of a home folder", ["rm -f ~"], ["rm -f ~/notes.txt"]),
    rule("deletes.system", "high", "delete of a system path", ["rm -f /etc/hosts"], ["rm -f build/hosts"]),
    rule("deletes.workspace", "high", "delete of the workspace itself", ["rm -f *"], ["rm -f *.pyc"]),
    rule(
        "deletes.git",
        "high",
        "delete of the repository's .git",
        ["rm -f .git/index"],
        ["rm -f .gitignore.bak"],
    ),
    rule(
        "deletes.home-file",
        "medium",
        "delete of files outside the workspace (home)",
        ["rm ~/notes.txt"],
        ["rm notes.txt"],
    ),
    rule(
        "deletes.outside", "medium", "delete outside the workspace", ["rm /data/notes.txt"], ["rm notes.txt"]
    ),
    rule(
        "deletes.unknown-root",
        "medium",
        "delete of a path that may expand to /",
        ['rm -f "$DIR"/'],
        ['rm -f "$DIR/x"'],
    ),
    rule(
        "deletes.found-wide",
        "high",
        "delete of matching files anywhere under a wide folder",
        ["find / -name '*.log' -delete"],
        ["find . -name '*.log' -delete"],
    ),
    rule(
        "deletes.found-outside",
        "medium",
        "delete of matching files outside the workspace",
        ["find ../other -name '*.o' -delete"],
        ["find . -name '*.o' -delete"],
    ),
    rule(
        "deletes.from-input",
        "medium",
        "recursive delete of paths read from input",
        ["cat list.txt | xargs rm -rf"],
        ["cat list.txt | xargs rm -f"],
    ),
    rule(
        "deletes.confirmed-per-file",
        "medium",
        "a delete the program confirms file by file",
        ["rm -ri ~"],
        ["rm -rf ~"],
    ),
    rule(
        "deletes.moves-away",
        "high",
        "moves the root, a home or a system tree away",
        ["mv ~ /tmp/old-home"],
        ["mv a.txt b.txt"],
    ),
    rule(
        "deletes.moves-workspace",
        "medium",
        "moves the workspace or its .git away",
        ["mv .git /tmp/git-backup"],
        ["mv src/a.py src/b.py"],
    ),
    rule(
        "deletes.shred-irreplaceable",
        "critical",
        "overwrites a credential, a home, a system path or the workspace",
        ["shred -u ~/.ssh/id_rsa"],
        ["shred -u build/tmp.bin"],
    ),
    rule(
        "deletes.shred",
        "high",
        "overwrites file contents with no way back",
        ["shred -u build/tmp.bin"],
        ["ls build"],
    ),
    text_rule("deletes.text-recursive-root-home", ["rm -rf ~", "rm -rf /"], ["rm -rf build"]),
    text_rule("deletes.text-recursive", ["rm -r build"], ["rm build.txt"]),
    text_rule("deletes.text-shred", ["shred -u x"], ["echo shredder"]),
]


def _rm(cmd: Cmd, ws: str | None) -> list[Finding]:
    flags, operands = _flags(cmd.argv[1:])
    # find walks its start paths: unfiltered, it reaches everything under them
    recursive = bool(flags & {"-r", "-R", "--recursive"}) or any(
        w.found_under and not w.filtered for w in operands
    )
    if "--no-preserve-root" in flags:
        return [("critical", "recursive delete with --no-preserve-root", "deletes.no-preserve-root")]
    out = []
    for cls, value in _targets(cmd, operands, cmd.cwd, ws):
        level = _DELETE_LEVEL.get((cls, recursive))
        if level:
            kind = "recursive delete" if recursive else "delete"
            out.append((level, f"{kind} of {_CLASS_NAME[cls]} ({value})", _delete_id(cls, recursive)))
    if cmd.from_input and recursive and not operands:
        out.append(("medium", "recursive delete of paths read from input", "deletes.from-input"))
    confirmed = (
        flags & {"-i", "--interactive"} or any(w.startswith("find -ok") for w in cmd.wrappers)
    ) and cmd.stdin is None
    if confirmed:  # the program asks before each file (and nothing answers for the user)
        out = [
            ("medium", f"{why}, confirmed per file", "deletes.confirmed-per-file")
            if lvl in ("high", "critical")
            else (lvl, f"{why}, confirmed per file", rule)
            for lvl, why, rule in out
        ]
    return out


def _shred(cmd: Cmd, ws: str | None) -> list[Finding]:
    """shred/srm/wipe: overwrites contents with no way back; a key or a folder outside the
    workspace is lost for good."""
    operands = [w for w in cmd.argv[1:] if not w.value.startswith("-")]
    for cls, value in _targets(cmd, operands, cmd.cwd, ws):
        if secret_path(value) or cls in ("root", "home", "system", "device", "workspace", "git"):
            what = "a credential" if secret_path(value) else _CLASS_NAME[cls]
            return [
                ("critical", f"{cmd.prog} destroys {what} for good ({value})", "deletes.shred-irreplaceable")
            ]
    return [("high", f"{cmd.prog} destroys file contents", "deletes.shred")]


def _sync_delete(cmd: Cmd, ws: str | None) -> list[Finding]:
    """``rsync --delete SRC DST`` deletes what DST has and SRC lacks: a delete of DST."""
    if not any(a.startswith(("--delete", "--del")) or a == "--remove-source-files" for a in cmd.args):
        return []
    operands = [w for w in cmd.argv[1:] if not w.value.startswith("-")]
    if len(operands) < 2 or _REMOTE.match(operands[-1].value):
        return []
    cls, value = _targets(cmd, operands[-1:], cmd.cwd, ws)[0]
    level = _DELETE_LEVEL.get((cls, True))
    return (
        [(level, f"rsync --delete empties {_CLASS_NAME[cls]} ({value})", _delete_id(cls, True))]
        if level
        else []
    )


def _moves(cmd: Cmd, ws: str | None) -> list[Finding]:
    """``mv`` of the root, a home folder, a system tree or the workspace away."""
    operands = [w for w in cmd.argv[1:] if not w.value.startswith("-")]
    out: list[Finding] = []
    for cls, value in _targets(cmd, operands[:-1], cmd.cwd, ws):
        if cls in ("root", "home", "system"):
            out.append(("high", f"moves {_CLASS_NAME[cls]} away ({value})", "deletes.moves-away"))
        elif cls in ("workspace", "git"):  # recoverable: moved, not deleted
            out.append(("medium", f"moves {_CLASS_NAME[cls]} away ({value})", "deletes.moves-workspace"))
    return out
