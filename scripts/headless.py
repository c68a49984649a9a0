"""Debian's chromium, headless, for the repository's own tooling (the report test, the graph
drawing): not part of the library."""

from __future__ import annotations

import shutil

__all__ = ["HEADLESS_CHROMIUM_FLAGS", "chromium"]

#: Rendering local files on a machine without a network or a display: no sandbox (root in
#: containers), no background calls to Google's hosts.
HEADLESS_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str | None:
    """The chromium executable on PATH, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")
