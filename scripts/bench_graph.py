#!/usr/bin/env python3
"""One process (executor) vs one process per node: throughput of `ros-detect launch video`, side by side.

    .venv/bin/python scripts/bench_graph.py [--frames 24] [--repeat 2] [--model ...] [--threads 0]

Runs are interleaved (one, multi, one, multi, ...) so load from other programs hits both alike.
Random-init weights: the figures are about the graph, not detection quality.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ros_detect.graph.isolation import isolated_ros_env
from ros_detect.media.synthetic import generate_clip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--model", default="fasterrcnn_resnet50_fpn")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-graph-"))
    clip = generate_clip(tmp / "clip.mp4", frames=args.frames)
    env = isolated_ros_env()
    results: dict[str, list[dict]] = {"one": [], "multi": []}
    for i in range(args.repeat):
        for mode in ("one", "multi"):
            out = tmp / f"{mode}{i}"
            cmd = [sys.executable, "-m", "ros_detect.cli", "launch", "video", str(clip), "-o", str(out), "--no-video"]
            cmd += ["--processes", mode, "--weights", "none", "--model", args.model, "--threads", str(args.threads)]
            cmd += ["--no-foxglove", "--no-mqtt"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            peak_rss = _wait_sampling_rss(proc)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            s = json.loads((out / "summary.json").read_text())
            # CPU time of every process of the run (node processes are waited for by the launcher):
            # less sensitive than wall time to other programs on a shared machine.
            s["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            s["peak_rss_gb"] = peak_rss / 2**30
            results[mode].append(s)
            print(
                f"run {i} {mode:5s}: {s['fps']:.2f} fps, inference p50 {s['latency_ms']['inference']['p50']} ms, "
                f"CPU {s['cpu_s']:.1f} s, peak RSS {s['peak_rss_gb']:.2f} GB, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"\n{args.frames} frames, {args.model}, threads={args.threads or 'all'}, {os.cpu_count()} cpu")
    print(f"{'':22s}{'one process':>14s}{'per node':>14s}")
    for label, key in (
        ("CPU s per run (median)", "cpu"),
        ("peak RSS, all procs GB", "rss"),
        ("fps (wall, median)", None),
        ("inference p50 ms", "inference"),
        ("capture->main p50 ms", "total"),
    ):
        row = []
        for mode in ("one", "multi"):
            vals = [
                r["fps"]
                if key is None
                else r["cpu_s"]
                if key == "cpu"
                else r["peak_rss_gb"]
                if key == "rss"
                else r["latency_ms"][key]["p50"]
                for r in results[mode]
            ]
            row.append(statistics.median(vals))
        print(f"{label:22s}{row[0]:>14.2f}{row[1]:>14.2f}")
    return 0


def _wait_sampling_rss(proc: subprocess.Popen) -> int:
    """Wait for `proc`; return the peak of the summed RSS of it and its descendants (sampled every 0.2 s)."""
    import psutil

    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"run failed with code {proc.returncode}")
    return peak


if __name__ == "__main__":
    sys.exit(main())
