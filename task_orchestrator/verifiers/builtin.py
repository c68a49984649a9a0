"""Built-in deterministic verifiers."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from task_orchestrator.findings import Finding
from task_orchestrator.verifiers import VerifyInput, verifier

__all__ = ["non_empty", "schema"]


@verifier("non_empty")
def non_empty(inp: VerifyInput) -> list[Finding]:
    """The work produced an answer: not None, not blank, not an empty container."""
    out = inp.output
    empty = (
        out is None
        or (isinstance(out, str) and not out.strip())
        or (isinstance(out, list | dict | tuple) and not out)
    )
    if empty:
        return [
            Finding(
                verifier="non_empty",
                message="the output is empty",
                evidence=repr(out)[:80],
                suggestion="produce a complete answer",
            )
        ]
    return []


@verifier("schema")
def schema(inp: VerifyInput) -> list[Finding]:
    """Structured output validates against the task's pydantic model (if the task has one)."""
    model = inp.output_schema
    if model is None:
        return []
    out = inp.output
    try:
        if isinstance(out, model):
            return []
        if isinstance(out, BaseModel):
            out = out.model_dump()
        if isinstance(out, str):
            model.model_validate_json(out)
        else:
            model.model_validate(out)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        return [
            Finding(
                verifier="schema",
                message=f"output does not match {model.__name__}: {exc.error_count()} error(s)",
                evidence=errors[:1000],
                suggestion=f"return JSON matching {json.dumps(model.model_json_schema())[:600]}",
            )
        ]
    return []
