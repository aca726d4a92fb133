#!/usr/bin/env python3
"""Benchmark: one foxglove_bridge serving 1, 2 and 4 sources, each fed at `--rate` fps by the stand-in pipeline
(ros_detect/nodes/fake_pipeline.py, 427x240 frames), one web client subscribed to every channel and reading.

Per source: results and frames the client receives per second, and capture -> client latency (p50/p99) of the
main_person documents and of the JPEG frames; for the bridge: CPU (% of one core) and RSS. Every configuration
runs in one invocation on one machine, so the rows compare; the CPU's model and ISA are recorded with them.
Writes docs/bench_web_view_sources.json.

    .venv/bin/python scripts/bench_web_view_sources.py [--rate 10] [--window 20] [--sources 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import psutil

from ros_detect.bench.bridge_graph import BridgeGraph
from ros_detect.bench.foxglove_client import FoxgloveClient
from ros_detect.bench.precision import machine_info
from ros_detect.percentiles import percentiles

REPO = Path(__file__).resolve().parents[1]
KINDS = ("image", "annotations", "detections", "main_person", "bridge_stats")


def run(n: int, rate: float, window: float) -> dict:
    names = [f"cam{i + 1}" for i in range(n)]
    with BridgeGraph(rate=rate, duration=window + 300, sources=names) as graph:
        bridge = psutil.Process(graph.procs[0].pid)
        client = FoxgloveClient.open(graph.ws_url)
        try:
            topics = [f"/{s}/{k}" for s in names for k in KINDS]
            client.wait_for_channels(topics, timeout=60)
            client.subscribe(topics)
            for s in names:  # discovery and start-up are over for every source
                client.wait_for_data(f"/{s}/main_person", count=5, timeout=120)
            wall_minus_mono = time.time_ns() - time.monotonic_ns()
            bridge.cpu_percent()
            received = client.collect(window)
            cpu = bridge.cpu_percent()
            rss_mb = bridge.memory_info().rss / 2**20
        finally:
            client.close()

    def latency_ms(topic: str) -> list[float]:
        return [(r.received_at * 1e9 + wall_minus_mono - r.log_time) / 1e6 for r in received if r.topic == topic]

    per_source = {}
    for s in names:
        main, image = latency_ms(f"/{s}/main_person"), latency_ms(f"/{s}/image")
        per_source[s] = {
            "main_person_fps": round(len(main) / window, 2),
            "image_fps": round(len(image) / window, 2),
            "main_person_latency_ms": percentiles(main, (50, 99), mean=False),
            "image_latency_ms": percentiles(image, (50, 99), mean=False),
        }
    bridge_figures = {"bridge_cpu_percent": round(cpu, 1), "bridge_rss_mb": round(rss_mb, 1)}
    return {"sources": n, **bridge_figures, "per_source": per_source}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10.0, help="fps of every source (default 10)")
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured per configuration (default 20)")
    ap.add_argument("--sources", type=int, nargs="+", default=[1, 2, 4], help="source counts (default 1 2 4)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "bench_web_view_sources.json")
    args = ap.parse_args()
    runs = [run(n, args.rate, args.window) for n in args.sources]
    machine = machine_info()
    result = {"machine": machine, "rate_fps": args.rate, "window_s": args.window, "runs": runs}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{machine['cpu']} ({machine['cores']} cores; ISA {', '.join(machine['isa'])}), {args.rate:g} fps per source")
    print("sources | bridge CPU % | RSS MB | per source: results/s, frames/s, result latency p50/p99 ms, frame p50/p99")
    for r in runs:
        worst = min(r["per_source"].values(), key=lambda p: p["main_person_fps"])
        lat, img = worst["main_person_latency_ms"], worst["image_latency_ms"]
        print(
            f"{r['sources']:>7} | {r['bridge_cpu_percent']:>12} | {r['bridge_rss_mb']:>6} | "
            f"{worst['main_person_fps']}, {worst['image_fps']}, {lat['p50']:.1f}/{lat['p99']:.1f}, "
            f"{img['p50']:.1f}/{img['p99']:.1f} (slowest source)"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
