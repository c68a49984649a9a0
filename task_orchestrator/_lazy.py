"""Module-level lazy imports (PEP 562) for packages whose entry points must start fast."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any


class LazyRe:
    """A regular expression compiled on first use: a hook process compiles only the patterns
    its command needs (the risk gate's parser, path classes, rule packs and text rules)."""

    __slots__ = ("_args", "_re")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._re: re.Pattern[str] | None = None

    @property
    def compiled(self) -> bool:
        return self._re is not None

    def forget(self) -> None:
        self._re = None

    def __getattr__(self, name: str):
        if self._re is None:
            self._re = re.compile(*self._args)
        return getattr(self._re, name)


def lazy_getattr(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``package.where[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name in where:
            module = where[name]  # a submodule, or an absolute module name
            return getattr(importlib.import_module(module if "." in module else f".{module}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
