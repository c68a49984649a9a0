"""Draw the guarded task graph to docs/guarded_graph.png, offline.

LangGraph's ``draw_mermaid_png()`` calls a web service; this renders the same Mermaid
source with mermaid.js from the npm registry in Debian's headless Chromium instead.

    python scripts/draw_graph.py [--out docs/guarded_graph.png]
"""

from __future__ import annotations

import argparse
import html
import subprocess
import sys
import tempfile
from pathlib import Path

from headless import HEADLESS_CHROMIUM_FLAGS
from headless import chromium as find_chromium

from task_orchestrator import build_guarded_graph

MERMAID = "mermaid@11"
CACHE = Path.home() / ".cache" / "task-orchestrator-mermaid"


def mermaid_js() -> Path:
    js = CACHE / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    if not js.exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), MERMAID], check=True
        )
    return js


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/guarded_graph.png")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    source = build_guarded_graph().compile().get_graph().draw_mermaid()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "graph.html"
        page.write_text(
            '<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0;background:#fff}'
            f'</style></head><body><pre class="mermaid">{html.escape(source)}</pre>'
            f"<script>{mermaid_js().read_text()}</script>"
            "<script>mermaid.initialize({startOnLoad: true});</script></body></html>"
        )
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                chromium,
                *HEADLESS_CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                "--window-size=520,880",
                "--virtual-time-budget=5000",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
