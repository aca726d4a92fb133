"""`ros-detect soak`: run the webcam graph at camera rate for a bounded time and watch its memory and latency.

Starts a loopback MJPEG camera (or uses --source), runs `ros-detect launch webcam` as a child process,
listens to its `main_person` and `stats` topics, and samples the RSS of the launch process tree every
--sample-s seconds once --warmup seconds have passed after the first result. Prints and writes (soak.json)
start/end RSS, the fitted slope, latency per quarter of the run and the frame counts (published, processed,
dropped by latest-frame-wins). Exit 0: memory flat and a clean stop; 1: RSS grew beyond noise, the graph
stopped with an error, or processes were left behind; 2: the graph could not start or died mid-run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ros_detect.bench.soak import MB, RssTrend, flow_counts, format_report, latency_quarters, tree_rss
from ros_detect.errors import ConfigError, InputError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=600.0, help="seconds measured after warm-up (default 600)")
    parser.add_argument(
        "--warmup", type=float, default=180.0, help="seconds after the first result before measuring (default 180)"
    )  # measured: with the full model the allocator settles in ~3 minutes (README "Soak")
    parser.add_argument("--fps", type=float, default=15.0, help="rate of the built-in loopback camera (default 15)")
    parser.add_argument("--source", help="use this camera / stream instead of the built-in one")
    parser.add_argument("--processes", choices=("one", "multi"), default="multi", help="as `ros-detect launch`")
    parser.add_argument("--sample-s", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--tolerance-mb", type=float, default=30.0, help="allowed fitted RSS growth over the run")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for the first result")
    parser.add_argument("-o", "--output", default="soak_out", help="writes soak.json and launch.log here")
    parser.add_argument(
        "launch_args",
        nargs=argparse.REMAINDER,
        help="after --: options for `ros-detect launch webcam` (e.g. -- --weights none --no-mqtt)",
    )


def run(args: argparse.Namespace) -> int:
    for name in ("duration", "fps", "sample_s"):
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be > 0", "pass a positive number")
    if args.warmup < 0:
        raise ConfigError("--warmup must be >= 0", "pass 0 or more seconds")
    launch_args = [a for a in args.launch_args if a != "--"]
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror}", "pass a writable -o") from None

    from ros_detect.media.mjpeg_server import MjpegServer

    if "ROS_DOMAIN_ID" not in os.environ:  # a private graph: other ROS traffic on this machine would skew the figures
        os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    print(f"soak: ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}", flush=True)

    camera = None if args.source else MjpegServer(fps=args.fps).start()
    url = args.source or camera.url  # type: ignore[union-attr]
    cmd = [sys.executable, "-m", "ros_detect.cli", "launch", "webcam", "--source", url]
    cmd += ["--processes", args.processes, *launch_args]
    print(f"soak: {' '.join(cmd[2:])}; log in {out / 'launch.log'}", flush=True)
    with open(out / "launch.log", "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        report = _watch(proc, args)
    finally:
        pids = set(tree_rss(proc.pid))
        launch_rc = _stop(proc)
        if camera is not None:
            camera.stop()
    leftover = _leftovers(pids)
    report.update(
        mode="webcam",
        camera_fps=args.fps if camera else 0.0,
        camera_frames_sent=camera.frames_sent if camera else None,
        processes=args.processes,
        warmup_s=args.warmup,
        launch_args=launch_args,
        launch_exit_code=launch_rc,
        leftover_processes=leftover,
    )
    (out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    print(format_report(report))
    ok = report["rss"]["ok"] and launch_rc == 0 and not leftover and report["main_person_received"] > 0
    if leftover:
        print(f"soak: processes left behind after stopping the graph: {leftover}", file=sys.stderr)
    if launch_rc != 0:
        print(f"soak: the graph exited with code {launch_rc}; see {out / 'launch.log'}", file=sys.stderr)
    print(f"soak: {'PASS' if ok else 'FAIL'}; figures in {out / 'soak.json'}")
    return 0 if ok else 1


def _watch(proc: subprocess.Popen, args: argparse.Namespace) -> dict[str, Any]:
    """Listen to the graph's topics and sample RSS until --duration after warm-up (or the graph dies)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from std_msgs.msg import String

    from ros_detect.nodes.messages import MainPerson, main_person_doc

    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("soak_monitor", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    stats: dict[str, dict[str, Any]] = {}
    latency: list[tuple[float, float]] = []
    state: dict[str, Any] = {"first": None, "received": 0}

    def on_main(msg: MainPerson) -> None:
        doc = main_person_doc(msg)
        now = time.monotonic()
        if state["first"] is None:
            state["first"] = now
        state["received"] += 1
        lat = (doc.get("latency_ms") or {}).get("capture_to_main_person")
        if lat is not None:
            latency.append((now, float(lat)))

    def on_stats(msg: String) -> None:
        doc = json.loads(msg.data)
        stats[doc.get("node", "?")] = doc

    node.create_subscription(MainPerson, "main_person", on_main, QoSProfile(depth=50))
    node.create_subscription(String, "stats", on_stats, QoSProfile(depth=50))
    trend = RssTrend(tolerance_mb=args.tolerance_mb)
    t_start = time.monotonic()
    t_measure: float | None = None
    next_sample = 0.0
    per_process: dict[str, float] = {}
    flow_start: dict[str, Any] = {}
    try:
        while True:
            executor.spin_once(timeout_sec=0.1)
            now = time.monotonic()
            if proc.poll() is not None:
                raise InputError(
                    f"the graph exited early with code {proc.returncode}", f"see {Path(args.output) / 'launch.log'}"
                )
            if state["first"] is None:
                if now - t_start > args.startup_timeout:
                    raise InputError(
                        f"no main_person result within {args.startup_timeout:g} s",
                        "check the camera URL and launch.log; raise --startup-timeout on a slow machine",
                    )
                continue
            if t_measure is None:
                if now - state["first"] < args.warmup:
                    continue
                t_measure = now
                flow_start = flow_counts(stats)
                print(f"soak: warm-up done, measuring {args.duration:g} s", flush=True)
            if now >= next_sample:
                rss = tree_rss(proc.pid)
                trend.add(now - t_measure, sum(r for _, r in rss.values()))
                per_process = {}
                for name, r in rss.values():
                    per_process[name] = round(per_process.get(name, 0.0) + r / MB, 1)
                next_sample = now + args.sample_s
            if now - t_measure >= args.duration:
                break
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    measured = [(t - t_measure, v) for t, v in latency if t >= t_measure]
    return {
        "rss": trend.summary(),
        "rss_samples_mb": [[round(t, 1), round(m, 1)] for t, m in zip(trend.t_s, trend.mb, strict=True)],
        "rss_by_process_end_mb": per_process,
        "latency": latency_quarters(measured),
        "latency_max_ms": round(max((v for _, v in measured), default=0.0), 1),
        "main_person_received": state["received"],
        "startup_s": round(state["first"] - t_start, 1),
        "flow": flow_counts(stats),
        "flow_measured": _delta(flow_counts(stats), flow_start),
        "stats": stats,
    }


def _delta(end: dict[str, Any], start: dict[str, Any]) -> dict[str, Any]:
    """Counts over the measured window only (frames published before the detector listened don't count)."""
    return {k: v - start.get(k, 0) for k, v in end.items() if isinstance(v, int)}


def _stop(proc: subprocess.Popen) -> int:
    """SIGINT (the clean stop of `ros-detect launch`), then SIGKILL if it hangs; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log.error("the graph did not stop within 60 s of SIGINT; killing it")
            proc.kill()
            proc.wait()
    return int(proc.returncode)


def _leftovers(pids: set[int]) -> list[int]:
    """Processes of the graph still alive a few seconds after it stopped (orphaned nodes)."""
    import psutil

    deadline = time.monotonic() + 5.0
    alive = [p for p in pids if psutil.pid_exists(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if _running(p)]
    return sorted(alive)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
