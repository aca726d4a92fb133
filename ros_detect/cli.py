"""The `ros-detect` command. Each subcommand lives in its own module (add_arguments / run)."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from ros_detect.errors import RosDetectError, print_problem

# Python packages that only a ROS 2 install or the `ros` extra provides.
ROS_MODULES = ("rclpy", "rcl_interfaces", "std_msgs", "sensor_msgs", "visualization_msgs", "builtin_interfaces")

# Optional packages -> the pip extra that installs them (setup.py EXTRAS).
EXTRA_OF = {
    "openvino": "quant", "nncf": "quant", "onnx": "quant", "onnxruntime": "quant", "torchao": "quant",
    "paho": "mqtt", "amqtt": "mqtt", "foxglove": "web", "rosbags": "bag", "pycocotools": "eval",
}  # fmt: skip

# name -> (module, one-line help). Modules are imported only when their subcommand runs.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "video": ("ros_detect.commands.video", "detect the main person in every frame of a video file"),
    "bench": ("ros_detect.commands.bench", "benchmark every precision scheme side by side"),
    "webcam": ("ros_detect.commands.webcam", "camera -> main person -> MQTT + web view in one process, no ROS needed"),
    "launch": ("ros_detect.commands.launch", "run the ROS 2 node graph (video | webcam) without ros2 launch"),
    "bench-mqtt": ("ros_detect.commands.bench_mqtt", "capture -> MQTT-receive latency p50/p99"),
    "bench-pipeline": ("ros_detect.commands.bench_pipeline", "graph fps, speed-up vs seed, latency targets"),
    "bench-sources": ("ros_detect.commands.bench_sources", "one detector, N sources: fair share, latency per source"),
    "bag": ("ros_detect.commands.bag", "record or play rosbag2 bags (MCAP / SQLite3) without ros2 bag"),
    "soak": ("ros_detect.commands.soak", "run the webcam graph for a bounded time: RSS trend, latency, drops"),
    "serve-mjpeg": ("ros_detect.commands.serve_mjpeg", "serve a video as an MJPEG webcam on 127.0.0.1"),
    "foxglove-layout": ("ros_detect.commands.foxglove_layout", "print a Foxglove/Lichtblick layout for N cameras"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ros-detect", description="Main-person detection with Faster R-CNN.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(sub_parser)
    return parser


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (systemd, docker, launch) gets the same clean, flushing shutdown as Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except RosDetectError as exc:
        print_problem(exc.problem, exc.fix)
        return 2
    except KeyboardInterrupt:
        print("interrupted (anything already written is on disk)", file=sys.stderr)
        return 130
    except ImportError as exc:
        ros, extra = _missing_ros_module(exc), EXTRA_OF.get((exc.name or "").split(".")[0])
        if ros is not None:
            print_problem(
                f"`ros-detect {args.command}` needs ROS 2 ({ros}), not installed here",
                "pip install 'ros_detect[ros]' (ROS 2 wheels, Linux x86_64) or source a ROS 2 install; "
                "without ROS: ros-detect webcam SOURCE",
            )
            return 2
        if extra is not None:
            hint = " (or a scheme without it: --precision fp32)" if extra == "quant" else ""
            print_problem(f"`ros-detect {args.command}` needs {exc.name}, not installed here",
                          f"pip install 'ros_detect[{extra}]'{hint}")  # fmt: skip
            return 2
        raise


def _missing_ros_module(exc: ImportError) -> str | None:
    """The ROS package an ImportError is about, or None when it is about something else."""
    name = (exc.name or "").split(".")[0]
    if name in ROS_MODULES:
        return name
    return next((m for m in ROS_MODULES if f"'{m}'" in str(exc) or str(exc).startswith(m)), None)


if __name__ == "__main__":
    sys.exit(main())
