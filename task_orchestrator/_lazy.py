"""Module-level lazy imports (PEP 562) for packages whose entry points must start fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable

TYPE_CHECKING = False  # importing typing costs ~2 ms on the command hook's path
if TYPE_CHECKING:
    from typing import Any


def lazy_getattr(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``package.where[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name in where:
            module = where[name]  # a submodule, or an absolute module name
            return getattr(importlib.import_module(module if "." in module else f".{module}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
