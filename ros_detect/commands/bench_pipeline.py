"""`ros-detect bench-pipeline`: the performance targets (graph fps, speed-up vs seed, efficiency, latency)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ros_detect.bench.pipeline import PerfConfig, print_checks
from ros_detect.commands.common import deployed_detector_defaults
from ros_detect.media.default_input import default_input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", help="video file (default: the seed clip, or the synthetic clip offline)")
    parser.add_argument("--frames", type=int, default=60, help="frames for the detector and graph runs (default 60)")
    parser.add_argument("--seed-frames", type=int, default=8, help="frames for the slow seed setup (default 8)")
    parser.add_argument("--precision", help="scheme to measure (default: detector.precision of config/common.yaml)")
    parser.add_argument("--proposals", type=int, help="RPN proposals (default: config/common.yaml)")
    parser.add_argument("--weights", default="auto", help="auto | DEFAULT | none | PATH")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--webcam-fps", type=float, default=PerfConfig.webcam_fps, help="camera rate of the webcam run (default 30)"
    )
    parser.add_argument("--webcam-seconds", type=float, default=30.0)
    parser.add_argument("--smoke", action="store_true", help="a few frames: checks it runs, not the figures")
    parser.add_argument("-o", "--output", type=Path, default=Path("bench_results/pipeline"))


def perf_config(args: argparse.Namespace) -> PerfConfig:
    defaults = deployed_detector_defaults()
    cfg = PerfConfig(
        input=args.input or str(default_input()[0]),
        frames=args.frames,
        seed_frames=args.seed_frames,
        precision=args.precision or str(defaults.get("precision", "fp32")),
        proposals=args.proposals or int(defaults.get("proposals", 1000)),
        weights=args.weights,
        threads=args.threads,
        webcam_fps=args.webcam_fps,
        webcam_seconds=args.webcam_seconds,
        out_dir=args.output,
    )
    if args.smoke:
        cfg = dataclasses.replace(cfg, frames=6, seed_frames=1, webcam_seconds=8.0)
    return cfg


def run(args: argparse.Namespace) -> int:
    from ros_detect.bench import pipeline as perf

    report = perf.run(perf_config(args))
    print_checks(report)
    print(f"written: {args.output / 'pipeline.json'}")
    return 0
