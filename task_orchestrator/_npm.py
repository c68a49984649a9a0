"""A pinned npm package in a cache folder, for the real-client tests and the peer benchmark."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["npm_tool"]


def npm_tool(package: str, version: str, cache: Path, executable: str, timeout: float = 900) -> Path | None:
    """``cache/executable`` after ``npm install package@version`` there; None without npm or
    when the install fails (callers skip with a message)."""
    exe = cache / executable
    if exe.exists():
        return exe
    if not shutil.which("npm"):
        return None
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), f"{package}@{version}"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return exe if proc.returncode == 0 and exe.exists() else None
