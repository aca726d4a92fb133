"""`ros-detect webcam SOURCE`: camera -> main person -> MQTT + web view in one process, without ROS.

Options only; the pipeline is ros_detect/pipeline/live.py. Same parameter files and `-p` overrides as
`ros-detect launch webcam`, so moving to the ROS graph later changes nothing but the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ros_detect.commands.common import DETECTOR_OPTIONS, add_detector_arguments, param_overrides
from ros_detect.media.sources import ASPECT_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", nargs="?", help="camera index (0), device (/dev/video0) or stream URL (default: camera_source.input)"
    )
    parser.add_argument("--source", dest="source_opt", metavar="INPUT", help="same as INPUT")
    parser.add_argument("-o", "--output", type=Path, help="also write main_person.jsonl, detections.jsonl, "
                        "annotated.mp4 and summary.json here")  # fmt: skip
    parser.add_argument("--no-video", action="store_true", help="with -o: skip annotated.mp4")
    parser.add_argument(
        "--config",
        action="append",
        type=Path,
        help="your parameter file(s), loaded after config/common.yaml and config/webcam.yaml (later wins)",
    )
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NODE.NAME=VALUE",
        help="override one parameter, as in `ros-detect launch` (e.g. mqtt_bridge.host=broker.lan)",
    )  # fmt: skip
    parser.add_argument("--mqtt", action=argparse.BooleanOptionalAction, default=None, help="results to MQTT (on)")
    parser.add_argument(
        "--foxglove", action=argparse.BooleanOptionalAction, default=None, help="Foxglove server + web page (on)"
    )
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = Ctrl-C)")
    parser.add_argument("--aspect", choices=ASPECT_MODES, help="fit to 427x240 by padding, cropping or stretching")
    parser.add_argument(
        "--status-every", type=float, metavar="S",
        help="status line period (default: updating line each second on a terminal, a line every 10 s otherwise; "
        "0 = off)",
    )  # fmt: skip
    add_detector_arguments(parser)
    parser.set_defaults(**dict.fromkeys(DETECTOR_OPTIONS))  # None = not given: the parameter file decides


def run(args: argparse.Namespace) -> int:
    from ros_detect.pipeline.live import LiveOptions, LivePipeline, final_lines
    from ros_detect.pipeline.live_config import plan_live

    plan = plan_live(
        config_files=args.config,
        overrides=param_overrides(args, "camera_source", ("aspect",)),
        outputs={"mqtt": args.mqtt, "foxglove": args.foxglove},
    )
    options = LiveOptions(
        output=args.output,
        write_video=not args.no_video,
        duration_s=args.duration,
        status_every_s=args.status_every,
    )
    report = LivePipeline(plan, options).run()
    for line in final_lines(report):
        print(line)
    return 0
