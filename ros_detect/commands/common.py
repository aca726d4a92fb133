"""Options shared by every subcommand that builds a detector."""

from __future__ import annotations

import argparse

from ros_detect.core.detector import DetectorConfig
from ros_detect.core.models import MODELS, REFERENCE_MODEL, ModelSpec


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("detector")
    g.add_argument("--weights", default="auto", help="auto (default) | DEFAULT | none | /path/to/checkpoint.pth")
    g.add_argument("--model", default=REFERENCE_MODEL, help=f"one of: {', '.join(MODELS)}")
    g.add_argument("--precision", default="fp32", help="precision scheme (see README: fp32, seed, ...)")
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    g.add_argument("--proposals", type=int, default=ModelSpec.proposals, help="RPN proposals kept per frame")
    g.add_argument("--score-threshold", type=float, default=ModelSpec.score_threshold, help="minimum detection score")


def detector_config(args: argparse.Namespace) -> DetectorConfig:
    return DetectorConfig(
        model=ModelSpec(
            name=args.model, weights=args.weights, proposals=args.proposals, score_threshold=args.score_threshold
        ),
        precision=args.precision,
        device=args.device,
        threads=args.threads,
    )
