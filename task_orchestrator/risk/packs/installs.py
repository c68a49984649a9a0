"""Installs: package names an install would fetch that do not exist, look like a popular
package, or come from an index the snapshot cannot vouch for."""

from task_orchestrator.risk.catalog import rule

RULES = [
    rule(
        "installs.unknown-package",
        "critical",
        "installs a package that does not exist in the public index",
        ["pip install totally-made-up-pkg-xyz123"],
        ["pip install requests"],
    ),
    rule(
        "installs.lookalike-name",
        "high",
        "installs a name one typo away from a popular package",
        ["pip install numpi"],
        ["pip install requests"],
    ),
    rule(
        "installs.other-index",
        "high",
        "installs an unknown name while another package index is configured",
        ["pip install --index-url https://pypi.internal.example/simple totally-made-up-pkg-xyz123"],
        ["pip install --index-url https://pypi.internal.example/simple requests"],
    ),
    # matched only when the package snapshot cannot be read (tests/test_rule_catalog.py breaks it)
    rule(
        "installs.check-failed",
        "medium",
        "the package check could not run",
        ["pip install requests"],
        ["pip --version"],
        repo="broken-snapshot",
    ),
]
