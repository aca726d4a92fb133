"""Options shared by every subcommand that builds a detector."""

from __future__ import annotations

import argparse
from typing import Any

from ros_detect.detection.detector import DetectorConfig
from ros_detect.detection.models import MODELS, ModelSpec
from ros_detect.graph.params import parse_override
from ros_detect.graph.plan import deployed_defaults

# Detector options that graph-style commands (launch, webcam) turn into `detector.<name>` overrides.
DETECTOR_OPTIONS = ("weights", "model", "precision", "device", "threads", "proposals", "score_threshold")


def deployed_detector_defaults() -> dict[str, Any]:
    """The detector's deployed defaults (config/common.yaml): the CLI and the ROS graph share one set."""
    return deployed_defaults("detector")


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    d = deployed_detector_defaults()
    g = parser.add_argument_group("detector (defaults from config/common.yaml)")
    g.add_argument(
        "--weights", default=d["weights"], help=f"auto | DEFAULT | none | /path/to/checkpoint.pth ({d['weights']})"
    )
    g.add_argument("--model", default=d["model"], help=f"one of: {', '.join(MODELS)} ({d['model']})")
    g.add_argument("--precision", default=d["precision"], help=f"precision scheme, see README ({d['precision']})")
    g.add_argument("--device", default=d["device"], help="auto | cpu | cuda | cuda:N")
    g.add_argument("--threads", type=int, default=int(d["threads"]), help="torch threads (0 = all cores)")
    g.add_argument(
        "--proposals", type=int, default=int(d["proposals"]), help=f"RPN proposals per frame ({d['proposals']})"
    )
    g.add_argument("--score-threshold", type=float, default=float(d["score_threshold"]), help="minimum detection score")


def detector_config(args: argparse.Namespace) -> DetectorConfig:
    return DetectorConfig(
        model=ModelSpec(
            name=args.model, weights=args.weights, proposals=args.proposals, score_threshold=args.score_threshold
        ),
        precision=args.precision,
        device=args.device,
        threads=args.threads,
    )


def param_overrides(
    args: argparse.Namespace, source: str, source_options: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """{node: {param: value}} from `-p NODE.NAME=VALUE`, INPUT / --source and the named options.

    An option left at None was not given: the parameter file decides. `-p` comes first, so a named option
    given on the command line wins, as in `ros-detect launch`.
    """
    out: dict[str, dict[str, Any]] = {}
    for text in args.param:
        node, name, value = parse_override(text)
        out.setdefault(node, {})[name] = value
    given = getattr(args, "input", None) or getattr(args, "source_opt", None)
    if given:
        out.setdefault(source, {})["input"] = str(given)
    for opt in source_options:
        value = getattr(args, opt, None)
        if value is not None:
            out.setdefault(source, {})[opt] = value
    for opt in DETECTOR_OPTIONS:
        value = getattr(args, opt)
        if value is not None:
            out.setdefault("detector", {})[opt] = value
    if args.score_threshold is not None:
        out.setdefault("main_person", {}).setdefault("min_score", min(0.5, args.score_threshold))
    return out
