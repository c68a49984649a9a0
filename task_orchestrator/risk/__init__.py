"""The risk gate: a command read the way bash runs it, judged by named rules a policy tunes.

- ``shell``: the one shell parser (tree-sitter's bash grammar), expanding what bash expands
  before a simple command runs;
- ``engine``: the structural rules over the simple commands (program, flags, targets);
- ``text``: text rules over the parsed command, and the whole of the judgement
  (``rule_level``); they judge a command the parser does not understand on its text;
- ``assessor``: the ``RiskAssessor`` of the guarded graph (rules, then outcome statistics);
- ``installs``: package names an install would fetch.

Names are imported lazily: the command hook imports only what its command needs.
"""

from __future__ import annotations

from task_orchestrator._lazy import lazy_getattr

__all__ = ["RuleRiskAssessor", "parse", "rule_level"]

__getattr__ = lazy_getattr(__name__, {"RuleRiskAssessor": "assessor", "parse": "shell", "rule_level": "text"})
