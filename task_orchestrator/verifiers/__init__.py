"""Verifier registry: built-ins, the ``@verifier`` decorator and entry-point plugins.

A verifier is a function ``(VerifyInput) -> list[Finding]``. Register one with::

    from task_orchestrator.verifiers import verifier, VerifyInput
    from task_orchestrator import Finding

    @verifier("no_shouting")
    def no_shouting(inp: VerifyInput) -> list[Finding]:
        text = inp.text
        return [Finding(verifier="no_shouting", message="output is all caps")] if text.isupper() else []

or from another package, without touching this code, through the entry-point group
``task_orchestrator.verifiers`` (``name = "pkg.module:function"``). Settings
(``TASK_ORCHESTRATOR_VERIFIERS``) or the task context choose which run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from task_orchestrator.errors import ConfigurationError
from task_orchestrator.findings import Finding

__all__ = ["Verifier", "VerifyInput", "available", "get", "run_verifiers", "verifier"]

ENTRY_POINT_GROUP = "task_orchestrator.verifiers"


@dataclass
class VerifyInput:
    output: Any
    task: str = ""
    action: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    output_schema: type[BaseModel] | None = None
    workspace_override: Path | None = None
    settings: Any = None
    #: The provider router (for the LLM judge); None outside a task.
    router: Any = None
    task_id: str = ""

    @property
    def workspace(self) -> Path:
        """The directory paths are checked against (settings.workspace, else the cwd)."""
        if self.workspace_override is not None:
            return self.workspace_override.resolve()
        if self.settings is not None:
            return self.settings.workspace_dir
        return Path.cwd().resolve()

    @property
    def text(self) -> str:
        if self.output is None:
            return ""
        if isinstance(self.output, str):
            return self.output
        if isinstance(self.output, BaseModel):
            return self.output.model_dump_json()
        try:
            return json.dumps(self.output, default=str)
        except (TypeError, ValueError):
            return str(self.output)


Verifier = Callable[[VerifyInput], list[Finding]]
_REGISTRY: dict[str, Verifier] = {}
_entry_points_loaded = False


def verifier(name: str) -> Callable[[Verifier], Verifier]:
    """Register ``fn`` under ``name`` (a later registration of the same name replaces it)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigurationError(f"verifier name {name!r} must be letters, digits, '_' or '-'")

    def deco(fn: Verifier) -> Verifier:
        _REGISTRY[name] = fn
        return fn

    return deco


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            fn = ep.load()
        except Exception as exc:
            raise ConfigurationError(
                f"verifier plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if not callable(fn):
            raise ConfigurationError(f"verifier plugin {ep.name!r} ({ep.value}) is not callable")
        _REGISTRY[ep.name] = fn


def available() -> list[str]:
    from task_orchestrator.verifiers import builtin, judge, semantic, transcript  # noqa: F401 - registers the built-ins

    _load_entry_points()
    return sorted(_REGISTRY)


def get(name: str) -> Verifier:
    names = available()
    if name not in _REGISTRY:
        raise ConfigurationError(f"unknown verifier {name!r}; available: {', '.join(names)}")
    return _REGISTRY[name]


def run_verifiers(names: list[str], inp: VerifyInput) -> list[Finding]:
    """Run each verifier; a verifier that crashes is itself a finding (never a silent pass)."""
    findings: list[Finding] = []
    for name in names:
        fn = get(name)
        try:
            result = fn(inp)
        except Exception as exc:
            findings.append(
                Finding(
                    verifier=name,
                    severity="error",
                    message=f"verifier crashed: {type(exc).__name__}: {exc}",
                    suggestion="fix or disable this verifier; its verdict is unknown",
                )
            )
            continue
        for f in result or []:
            findings.append(f if isinstance(f, Finding) else Finding.model_validate(f))
    return findings
