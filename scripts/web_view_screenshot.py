#!/usr/bin/env python3
"""Take docs/web_view.png: the zero-install page in headless Chromium, served by the real foxglove_bridge node.

The feed is the synthetic street clip with its ground-truth person boxes (ros_detect/nodes/fake_pipeline.py
--synthetic), because pretrained weights cannot be downloaded on the build machines: the picture shows
what the view looks like, not a detector result. Needs `bash scripts/setup.sh --test` (chromium, npm ci).

    .venv/bin/python scripts/web_view_screenshot.py [OUT.png] [--sources cam1 cam2]

With --sources, the bridge serves that many namespaces (each its own stretch of the clip) and the shot is the
grid of cameras (docs/web_view_2cams.png), plus OUT-selected.png with the last camera picked in the selector.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ros_detect.bench.bridge_graph import BridgeGraph

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description="Take a screenshot of the zero-install page.")
    ap.add_argument("out", nargs="?", type=Path, help="PNG to write (default docs/web_view.png or web_view_2cams.png)")
    ap.add_argument("--sources", nargs="+", default=[], help="namespaces the bridge serves (default: none)")
    args = ap.parse_args()
    out = args.out or REPO / "docs" / ("web_view_2cams.png" if args.sources else "web_view.png")
    logs = Path(tempfile.mkdtemp(prefix="web_view_"))
    with BridgeGraph(rate=10, duration=60, synthetic=True, sources=args.sources, log_dir=logs) as g:
        cmd = ["node", str(REPO / "web" / "test" / "view.mjs"), g.page_url, str(out), "30", "40000", "1"]
        proc = subprocess.run([*cmd, ",".join(args.sources)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(proc.stderr, f"logs in {logs}", file=sys.stderr)
        return 1
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, view in (result.get("grid") or {"": result}).items():
        print(f"wrote {out}: {name or 'page'} seq {view['state']['lastDrawn']['seq']}, {view['stats']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
