"""`ros-detect bench`: every precision scheme side by side on the same frames (see README "Benchmark")."""

from __future__ import annotations

import argparse
from pathlib import Path

from ros_detect.detection.backends.registry import SCHEMES


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str) -> list[str]:
    return list(SCHEMES) if text == "all" else [x.strip() for x in text.split(",") if x.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="bench_results", help="output directory (JSON, CSV, PNG)")
    parser.add_argument("--input", help="video to take frames from (default: seed clip if cached, else synthetic)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run: 2 frames, 1 thread count, 3 schemes, 100 proposals"
    )
    parser.add_argument("--schemes", default=None, help=f"comma list or 'all' (default all): {', '.join(SCHEMES)}")
    parser.add_argument("--frames", type=int, default=None, help="frames timed at all cores (default 20)")
    parser.add_argument("--threads", default=None, help="thread counts, 0 = all cores (default 1,0)")
    parser.add_argument("--thread-frames", type=int, default=None, help="frames timed at other thread counts")
    parser.add_argument("--proposals", type=int, default=None, help="RPN proposals of the main comparison (1000)")
    parser.add_argument("--proposal-sweep", default=None, help="extra proposal counts (default 300,100)")
    parser.add_argument("--sweep-schemes", default=None, help="schemes run at the sweep counts")
    parser.add_argument("--weights", default=None, help="auto | DEFAULT | none | checkpoint.pth")
    parser.add_argument("--no-force-proposals", action="store_true", help="do not force 1000-like RPN load")
    parser.add_argument("--calibration-frames", type=int, default=None, help="frames for static int8 (16)")
    parser.add_argument("--calibration-input", help="video to calibrate on (default: --input)")
    parser.add_argument("--cache-dir", help="where built models are cached (default: ~/.cache/ros_detect/bench-cache)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild cached models (measures cold build)")
    parser.add_argument("--coco-images", help="COCO-format image directory (mAP with pretrained weights)")
    parser.add_argument("--coco-annotations", help="COCO-format annotation JSON")
    parser.add_argument("--coco-limit", type=int, default=0, help="evaluate only the first N images")
    parser.add_argument(
        "--profile-frames",
        type=int,
        default=None,
        help="frames profiled per scheme by the backend's own profiler, grouped by model stage (0: none; default 2)",
    )
    parser.add_argument("--resummarise", action="store_true", help="redo table/JSON/CSV/PNG from OUTPUT/runs")


def config_from_args(args: argparse.Namespace):
    from ros_detect.bench.precision import BenchConfig, smoke_config

    out = Path(args.output)
    cfg = smoke_config(out) if args.smoke else BenchConfig(output_dir=out)
    overrides = {
        "input": args.input,
        "frames": args.frames,
        "thread_frames": args.thread_frames,
        "proposals": args.proposals,
        "weights": args.weights,
        "calibration_frames": args.calibration_frames,
        "calibration_input": args.calibration_input,
        "cache_dir": Path(args.cache_dir) if args.cache_dir else None,
        "coco_images": args.coco_images,
        "coco_annotations": args.coco_annotations,
        "schemes": _names(args.schemes) if args.schemes else None,
        "thread_counts": _ints(args.threads) if args.threads else None,
        "proposal_sweep": _ints(args.proposal_sweep) if args.proposal_sweep is not None else None,
        "sweep_schemes": _names(args.sweep_schemes) if args.sweep_schemes else None,
        "profile_frames": args.profile_frames,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    cfg.rebuild = args.rebuild
    cfg.coco_limit = args.coco_limit
    if args.no_force_proposals:
        cfg.force_proposals = False
    return cfg


def run(args: argparse.Namespace) -> int:
    from ros_detect.bench.precision import resummarise, run_bench

    report = resummarise(Path(args.output)) if args.resummarise else run_bench(config_from_args(args))
    print(f"results: {', '.join(report['files'].values())}")
    failed = [v["name"] for v in report["variants"] if v.get("status") == "failed"]
    return 1 if failed else 0
