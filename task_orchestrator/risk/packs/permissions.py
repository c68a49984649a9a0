"""Permissions: setuid and setgid, world-writable and recursive changes, ownership of system paths."""

from task_orchestrator.risk.catalog import rule, text_rule

RULES = [
    rule(
        "permissions.setuid",
        "high",
        "sets setuid",
        ["chmod u+s ./tool", "chmod 4755 ./tool"],
        ["chmod u+x ./tool"],
    ),
    rule("permissions.setgid", "medium", "sets setgid", ["chmod g+s ./shared"], ["chmod g+w ./shared"]),
    rule(
        "permissions.to-root",
        "medium",
        "gives a file to root",
        ["chown root:root ./tool"],
        ["chown dev ./tool"],
    ),
    rule(
        "permissions.recursive-system",
        "critical",
        "recursive permission change of the root, a home or a system path",
        ["chown -R dev /etc", "chmod -R 700 ~"],
        ["chown -R dev ./build"],
    ),
    rule(
        "permissions.world-writable-system",
        "critical",
        "makes the root, a home or a system path world-writable",
        ["chmod 777 /etc/passwd"],
        ["chmod 644 /etc/passwd"],
    ),
    rule(
        "permissions.world-writable",
        "medium",
        "world-writable permissions",
        ["chmod 777 build/out"],
        ["chmod 755 build/out"],
    ),
    rule(
        "permissions.recursive",
        "medium",
        "recursive permission change outside the workspace or of all of it",
        ["chmod -R 755 ../other"],
        ["chmod -R 755 ./build"],
    ),
    rule(
        "permissions.chown-system",
        "high",
        "changes the owner of a system path",
        ["chown dev /etc/hosts"],
        ["chown dev ./hosts"],
    ),
    rule(
        "permissions.root-setuid",
        "high",
        "makes a root-owned setuid/setgid file",
        ["chown root ./tool && chmod u+s ./tool"],
        ["chown root ./tool"],
    ),
    text_rule("permissions.escalates", ["setcap cap_net_raw+ep ./x", "sudo su"], ["getcap ./x"]),
    text_rule("permissions.switches-user", ["su postgres"], ["sum file.txt"]),
    text_rule("permissions.text-world-writable", ["chmod 777 x"], ["chmod 755 x"]),
    text_rule("permissions.text-recursive", ["chown -R dev x"], ["chown dev x"]),
    text_rule("permissions.searches-setuid", ["find / -perm -4000"], ["find . -perm 644"]),
]
