"""`ros-detect foxglove-layout [--sources cam1 cam2] [-o FILE]`: a Foxglove / Lichtblick layout for the bridge."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ros_detect.foxglove.layout import layout_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources",
        nargs="+",
        default=[],
        metavar="NS",
        help="namespaces the bridge serves (its `sources` parameter), side by side; default: one camera, no namespace",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the layout here (default: standard output)")


def run(args: argparse.Namespace) -> int:
    text = layout_json(args.sources)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}: import it with Layout menu -> Import from file...", file=sys.stderr)
    return 0
