"""`ros-detect bench-pipeline`: the performance targets (graph fps, speed-up vs seed, efficiency, latency).

The measurements are ros_detect/bench/pipeline.py; the graph runs are `ros-detect launch` processes started
here, at the CLI's level, and handed to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ros_detect.bench.pipeline import PerfConfig, graph_video_figures, graph_webcam_figures, print_checks
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
    parser.add_argument(
        "--profile-frames",
        type=int,
        default=PerfConfig.profile_frames,
        help="frames profiled by the backend's own profiler, grouped by model stage (0: no profile; default 3)",
    )
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
        profile_frames=args.profile_frames,
    )
    if args.smoke:
        cfg = dataclasses.replace(
            cfg,
            frames=6,
            seed_frames=1,
            webcam_seconds=8.0,
            webcam_min_results=3,
            profile_frames=min(1, cfg.profile_frames),
        )
    return cfg


def _launch(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ros_detect.cli", "launch", *args], capture_output=True, text=True, timeout=timeout_s
    )


def _detector_params(cfg: PerfConfig, trained: bool) -> list[str]:
    params = ["--precision", cfg.precision, "--proposals", str(cfg.proposals), "--weights", cfg.weights]
    if cfg.threads:
        params += ["--threads", str(cfg.threads)]
    if not trained:
        params += ["-p", "detector.force_proposals=true"]
    return params


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def graph_video(cfg: PerfConfig, trained: bool, work: Path) -> dict[str, Any]:
    """`ros-detect launch video` on the first `frames` frames; fps from the graph's own summary."""
    out = work / "graph_video"
    # One process per node: OpenVINO releases the GIL, and in one process the other nodes' Python work
    # competes with it (measured 2.55 vs 1.64 fps, README "ROS 2 graph").
    args = ["video", cfg.input, "-o", str(out), "--stop-frame", str(cfg.frames), "--no-foxglove", "--no-mqtt"]
    args += ["--processes", "multi"]
    proc = _launch([*args, "--no-video", *_detector_params(cfg, trained)], timeout_s=60 + cfg.frames * 30)
    if proc.returncode != 0:
        raise RuntimeError(f"graph video run failed ({proc.returncode}): {proc.stderr[-1500:]}")
    summary = json.loads((out / "summary.json").read_text())
    return graph_video_figures(summary, _jsonl(out / "main_person.jsonl"), cfg.frames)


def graph_webcam(cfg: PerfConfig, trained: bool, work: Path) -> dict[str, Any]:
    """`ros-detect launch webcam` fed by an MJPEG camera at `webcam_fps`; capture -> main_person latency."""
    from ros_detect.media.mjpeg_server import MjpegServer

    out = work / "graph_webcam"
    with MjpegServer(fps=cfg.webcam_fps, video=cfg.input) as camera:
        args = ["webcam", "--source", camera.url, "-o", str(out), "--duration", str(cfg.webcam_seconds)]
        args += ["--min-results", str(cfg.webcam_min_results), "--processes", "multi"]
        proc = _launch(
            [*args, "--no-video", "--no-foxglove", "--no-mqtt", *_detector_params(cfg, trained)],
            timeout_s=cfg.webcam_seconds + 900,  # a safety net: the run ends on its own
        )
        sent = camera.frames_sent
    if proc.returncode not in (0, 130):
        raise RuntimeError(f"graph webcam run failed ({proc.returncode}): {proc.stderr[-1500:]}")
    docs, dets = _jsonl(out / "main_person.jsonl"), _jsonl(out / "detections.jsonl")
    return graph_webcam_figures(docs, dets, cfg.webcam_fps, sent)


def run(args: argparse.Namespace) -> int:
    from ros_detect.bench import pipeline as perf

    report = perf.run(perf_config(args), graph_video, graph_webcam)
    print_checks(report)
    print(f"written: {args.output / 'pipeline.json'}")
    return 0
