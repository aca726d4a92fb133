#!/usr/bin/env python3
"""Execute notebooks/report.ipynb top to bottom in a fresh kernel.

python scripts/run_report.py            # full mode: store the outputs in the notebook
python scripts/run_report.py --smoke    # smoke mode (minutes, offline): outputs to a copy
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "report.ipynb"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few frames per section; do not overwrite the notebook")
    parser.add_argument("--output", type=Path, help="where to write the executed notebook")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    args = parser.parse_args()
    os.environ["ROS_DETECT_REPORT_SMOKE"] = "1" if args.smoke else "0"
    output = args.output or (ROOT / "notebooks" / "report.smoke.ipynb" if args.smoke else NOTEBOOK)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    t0 = time.monotonic()
    try:
        client.execute()
    finally:
        nbformat.write(nb, output)
    print(
        f"executed {NOTEBOOK.name} ({'smoke' if args.smoke else 'full'}) in {time.monotonic() - t0:.0f} s -> {output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
