"""`ros-detect bench-sources`: one detector serving 1, 2, 4 sources side by side (fair share, latency per source).

The measurement is ros_detect/bench/sources.py; defaults are the deployed detector (config/common.yaml).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ros_detect.commands.common import deployed_detector_defaults


def _counts(text: str) -> tuple[int, ...]:
    counts = tuple(int(x) for x in text.split(",") if x.strip())
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give source counts >= 1, e.g. 1,2,4")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", type=_counts, default=(1, 2, 4), help="source counts to run (default 1,2,4)")
    parser.add_argument("--fps", type=float, default=30.0, help="each source's camera rate (default 30)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per source count (default 20)")
    parser.add_argument("--model", help="torchvision detector (default: detector.model of config/common.yaml)")
    parser.add_argument("--precision", help="scheme (default: detector.precision of config/common.yaml)")
    parser.add_argument("--proposals", type=int, help="RPN proposals (default: config/common.yaml)")
    parser.add_argument("--weights", default="auto", help="auto | DEFAULT | none | PATH")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    parser.add_argument(
        "--smoke", action="store_true", help="quick check that it runs: fp32, 10 proposals, 2 frames per source"
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("bench_results/sources"))


def run(args: argparse.Namespace) -> int:
    from ros_detect.bench import sources

    defaults = deployed_detector_defaults()
    cfg = sources.SourcesBenchConfig(
        counts=args.sources,
        fps=args.fps,
        seconds=args.seconds,
        model=args.model or str(defaults["model"]),
        precision=args.precision or str(defaults.get("precision", "fp32")),
        proposals=args.proposals or int(defaults.get("proposals", 300)),
        weights=args.weights,
        threads=args.threads,
    )
    if args.smoke:
        cfg = sources.SourcesBenchConfig(
            counts=args.sources, fps=args.fps, frames=2, warmup_frames=1, model=args.model or str(defaults["model"]),
            precision=args.precision or "fp32",
            proposals=args.proposals or 10, weights=args.weights, threads=args.threads, distinct_frames=2,
        )  # fmt: skip
    result = sources.run(cfg)
    print(sources.table(result))
    print(f"written: {sources.write(result, args.output)}")
    return 0
