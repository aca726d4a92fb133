#!/usr/bin/env python3
"""Benchmark: does a web client that stops reading slow the pipeline down?

Runs the real graph (`ros-detect launch video CLIP --loop`, one process, foxglove_bridge on) and counts
`main_person` messages on ROS from this process. Windows alternate between "no web client" and "a client
subscribed to every channel that never reads" (plus one with a healthy client), so drift in a shared
machine's load hits both sides alike. A last run without the bridge (`--no-foxglove`) is the baseline.
Then a high-rate stress run: the fake pipeline (ros_detect/nodes/fake_pipeline.py) at 30 fps with
incompressible frames, where the figure is what a healthy web client still receives while another one is stuck.

Random-init weights (no pretrained weights on the build machines) with a trained-like proposal count
(detector.force_proposals): fps is the pipeline's throughput under a realistic load, detections are
meaningless. Writes docs/bench_web_view.{json,png}.

    .venv/bin/python scripts/bench_web_view.py [--clip PATH] [--window 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psutil

from ros_detect.bench.bridge_graph import BridgeGraph, free_port, wait_port
from ros_detect.bench.foxglove_client import FoxgloveClient
from ros_detect.graph.isolation import isolated_ros_env

REPO = Path(__file__).resolve().parents[1]

ALL = ["/image", "/annotations", "/detections", "/main_person", "/stats", "/bridge_stats"]


class Counter:
    """Counts main_person messages on ROS (its own node, in a thread)."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from ros_detect.nodes.messages import MainPerson

        self.times: list[float] = []
        self.ctx = rclpy.context.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("bench_counter", context=self.ctx)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(MainPerson, "main_person", lambda _m: self.times.append(time.monotonic()), qos)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def fps(self, t0: float, t1: float) -> float:
        return sum(t0 <= t < t1 for t in self.times) / (t1 - t0)

    def wait_first(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.times and time.monotonic() < deadline:
            time.sleep(0.2)
        if not self.times:
            raise TimeoutError("no main_person message: the graph did not start")

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


MODEL = "fasterrcnn_resnet50_fpn"


def launch(clip: Path, foxglove: bool, ws_port: int, http_port: int, duration: float, log: Path) -> subprocess.Popen:
    cmd = [str(REPO / ".venv" / "bin" / "ros-detect"), "launch", "video", str(clip), "--loop", "--weights", "none"]
    cmd += ["--model", MODEL, "-p", "detector.force_proposals=true"]  # trained-like load on random-init weights
    cmd += ["--duration", str(duration), "--foxglove" if foxglove else "--no-foxglove", "--no-mqtt"]
    cmd += ["-p", f"foxglove_bridge.port={ws_port}", "-p", f"foxglove_bridge.http_port={http_port}"]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=os.environ.copy())


def real_pipeline(clip: Path, window: float, rounds: int, out: Path) -> dict:
    os.environ.update(isolated_ros_env())  # this process's counter node and the launched graph share it
    counter = Counter()
    windows: dict[str, list[float]] = {"no web client": [], "healthy client": [], "stalled client": []}
    ws_port, http_port = free_port(), free_port()
    total = 90 + window * (2 * rounds + 1) + 30
    proc = launch(clip, True, ws_port, http_port, total, out / "launch_bridge.log")
    try:
        wait_port(http_port, proc, timeout=120)
        counter.wait_first(180)
        time.sleep(window / 2)  # warm-up: first frames are slower
        for _ in range(rounds):
            t0 = time.monotonic()
            time.sleep(window)
            windows["no web client"].append(counter.fps(t0, time.monotonic()))
            stalled = FoxgloveClient.open(f"ws://127.0.0.1:{ws_port}", rcvbuf=4096, max_queue=1)
            stalled.wait_for_channels(ALL)
            stalled.subscribe(ALL)
            t0 = time.monotonic()
            time.sleep(window)
            windows["stalled client"].append(counter.fps(t0, time.monotonic()))
            stalled.ws.socket.close()  # vanish without a close handshake, as a crashed tab would
        healthy = FoxgloveClient.open(f"ws://127.0.0.1:{ws_port}")
        healthy.wait_for_channels(ALL)
        healthy.subscribe(ALL)
        t0 = time.monotonic()
        got = healthy.collect(window)
        windows["healthy client"].append(counter.fps(t0, time.monotonic()))
        healthy_images = sum(r.topic == "/image" for r in got) / window
        healthy.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    base_http = free_port()
    proc = launch(clip, False, free_port(), base_http, 90 + window + 30, out / "launch_nobridge.log")
    try:
        n0 = len(counter.times)
        deadline = time.monotonic() + 180
        while len(counter.times) == n0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(window / 2)
        t0 = time.monotonic()
        time.sleep(window)
        baseline = counter.fps(t0, time.monotonic())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        counter.close()
    return {
        "pipeline_fps": {k: round(statistics.mean(v), 3) for k, v in windows.items() if v},
        "pipeline_fps_windows": {k: [round(x, 3) for x in v] for k, v in windows.items()},
        "pipeline_fps_without_bridge": round(baseline, 3),
        "healthy_client_image_fps": round(healthy_images, 3),
        "window_s": window,
        "model": MODEL,
    }


def stress(window: float, out: Path) -> dict:
    """Fake pipeline at 30 fps, ~100 kB frames: what a healthy client receives with and without a stuck one."""
    rate = 30.0
    params = {"jpeg_quality": 95}
    with BridgeGraph(rate=rate, duration=3 * window + 30, noise=True, bridge_params=params, log_dir=out) as g:
        bridge = psutil.Process(g.procs[0].pid)
        healthy = FoxgloveClient.open(g.ws_url)
        healthy.wait_for_channels(ALL)
        healthy.subscribe(["/image", "/main_person"])
        healthy.wait_for_data("/main_person")
        cpu0 = sum(bridge.cpu_times()[:2])
        alone = healthy.collect(window)
        cpu1 = sum(bridge.cpu_times()[:2])
        stalled = FoxgloveClient.open(g.ws_url, rcvbuf=4096, max_queue=1)
        stalled.wait_for_channels(ALL)
        stalled.subscribe(ALL)
        cpu2 = sum(bridge.cpu_times()[:2])
        together = healthy.collect(window)
        cpu3 = sum(bridge.cpu_times()[:2])
        rss = bridge.memory_info().rss
        healthy.close()
        stalled.ws.socket.close()

    def fps(recs: list, topic: str) -> float:
        return round(sum(r.topic == topic for r in recs) / window, 3)

    return {
        "rate": rate,
        "healthy_client_fps_alone": {"image": fps(alone, "/image"), "main_person": fps(alone, "/main_person")},
        "healthy_client_fps_with_stalled": {
            "image": fps(together, "/image"),
            "main_person": fps(together, "/main_person"),
        },
        "bridge_cpu_percent": {
            "alone": round(100 * (cpu1 - cpu0) / window, 1),
            "with_stalled": round(100 * (cpu3 - cpu2) / window, 1),
        },
        "bridge_rss_mb_with_stalled": round(rss / 2**20, 1),
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    real = result.get("real_pipeline")
    if real:
        labels = ["no bridge", *real["pipeline_fps"]]
        values = [real["pipeline_fps_without_bridge"], *real["pipeline_fps"].values()]
        a.bar(labels, values, color=["#999", "#4a90d9", "#5cb85c", "#d9534f"][: len(values)])
        for i, key in enumerate(real["pipeline_fps"], start=1):  # every window as a dot: the spread is the noise
            windows = real["pipeline_fps_windows"][key]
            a.plot([i] * len(windows), windows, "k.", ms=6)
        a.set_ylabel("main_person messages / s")
        a.set_title(f"Real graph, {real['model']} (random-init, 1000 proposals), shared 2 cores", fontsize=8)
        a.tick_params(axis="x", labelsize=8)
    s = result["stress"]
    stress_values = [s["healthy_client_fps_alone"]["image"], s["healthy_client_fps_with_stalled"]["image"]]
    b.bar(["alone", "with a stalled client"], stress_values, color=["#4a90d9", "#d9534f"])
    b.axhline(s["rate"], color="k", lw=0.8, ls="--")
    b.set_ylabel("frames / s at a healthy web client")
    b.set_title(f"Stress: {s['rate']:.0f} fps of ~100 kB frames", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help="video file (default: the project's synthetic clip)")
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    ap.add_argument("--model", default=MODEL, help="detector model of the real graph (a lighter one = more frames)")
    ap.add_argument("--skip-real", action="store_true", help="only the stress run (seconds instead of minutes)")
    args = ap.parse_args()
    globals()["MODEL"] = args.model
    if args.clip is None:
        from ros_detect.media.default_input import default_input

        args.clip = default_input()[0]
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_web_view"
    logs.mkdir(parents=True, exist_ok=True)
    result = {"stress": stress(10.0, logs)}
    if not args.skip_real:
        result["real_pipeline"] = real_pipeline(args.clip, args.window, args.rounds, logs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_web_view.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out / "bench_web_view.png")
    real, s = result.get("real_pipeline"), result["stress"]
    if real:
        print(f"pipeline fps (main_person/s), real graph, {real['model']}, random-init weights:")
        print(f"  {'no bridge':>16} {real['pipeline_fps_without_bridge']:8.2f}")
        for k, v in real["pipeline_fps"].items():
            print(f"  {k:>16} {v:8.2f}   windows {real['pipeline_fps_windows'][k]}")
    print(
        f"stress {s['rate']:.0f} fps: healthy client images/s alone {s['healthy_client_fps_alone']['image']:.1f}, "
        f"with a stalled client {s['healthy_client_fps_with_stalled']['image']:.1f}; bridge CPU "
        f"{s['bridge_cpu_percent']['alone']}% -> {s['bridge_cpu_percent']['with_stalled']}%, "
        f"RSS {s['bridge_rss_mb_with_stalled']} MB"
    )
    print(f"wrote {args.out / 'bench_web_view.json'} and .png (logs in {logs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
