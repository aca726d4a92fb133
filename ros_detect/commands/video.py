"""`ros-detect video [INPUT] -o OUTDIR`: the offline job."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ros_detect.commands.common import add_detector_arguments, detector_config
from ros_detect.media.default_input import default_input
from ros_detect.media.sources import ASPECT_MODES
from ros_detect.pipeline.video_job import VideoJob, run_video

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        nargs="?",
        help="video file, camera index, or stream URL (default: the seed clip, or a synthetic clip offline)",
    )
    parser.add_argument("-o", "--output", default="out", help="output directory (default: out)")
    parser.add_argument(
        "--aspect", default="pad", choices=ASPECT_MODES, help="fit to 427x240 by padding, cropping or stretching"
    )
    parser.add_argument("--start-frame", type=int, default=0)
    parser.add_argument("--stop-frame", type=int, default=None)
    parser.add_argument("--no-video", action="store_true", help="skip annotated.mp4")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_detector_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.input:
        path, kind = args.input, "user"
    else:
        default, kind = default_input()
        path = str(default)
    job = VideoJob(
        input=path,
        output_dir=Path(args.output),
        detector=detector_config(args),
        aspect=args.aspect,
        start_frame=args.start_frame,
        stop_frame=args.stop_frame,
        write_video=not args.no_video,
        progress=not args.no_progress,
        input_kind=kind,
        freeze_heap=True,
    )
    summary = run_video(job)
    lat = summary["latency_ms"]
    print(
        f"{summary['frames_processed']} frames from {path} ({kind}) in {summary['wall_time_s']:.1f} s "
        f"= {summary['fps']:.2f} fps; inference p50 {lat['inference']['p50']} ms; "
        f"main person in {summary['frames_with_main_person']} frames; weights: {summary['weights']}"
    )
    if summary["warning"]:
        print(f"WARNING: {summary['warning']}")
    print(f"outputs in {Path(args.output).resolve()}: {json.dumps(summary['files'])}")
    return 0
