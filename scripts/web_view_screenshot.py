#!/usr/bin/env python3
"""Take docs/web_view.png: the zero-install page in headless Chromium, served by the real foxglove_bridge node.

The feed is the synthetic street clip with its ground-truth person boxes (ros_detect/nodes/fake_pipeline.py
--synthetic), because pretrained weights cannot be downloaded on the build machines: the picture shows
what the view looks like, not a detector result. Needs `bash scripts/setup.sh --test` (chromium, npm ci).

    .venv/bin/python scripts/web_view_screenshot.py [OUT.png]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ros_detect.bench.bridge_graph import BridgeGraph

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "web_view.png"
    logs = Path(tempfile.mkdtemp(prefix="web_view_"))
    with BridgeGraph(rate=10, duration=60, synthetic=True, log_dir=logs) as g:
        proc = subprocess.run(
            ["node", str(REPO / "web" / "test" / "view.mjs"), g.page_url, str(out), "30"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if proc.returncode != 0:
        print(proc.stderr, f"logs in {logs}", file=sys.stderr)
        return 1
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"wrote {out}: seq {result['state']['lastDrawn']['seq']}, main box {result['state']['lastDrawn']['mainBox']}")
    print(f"page: {result['stats']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
