"""Soak figures: RSS of a process tree over time, its trend, latency over time, and the verdict (no rclpy).

"No growth beyond noise": a least-squares line through the RSS samples taken after warm-up; the growth it
predicts over the measured window must stay under `tolerance_mb` or 3x the samples' scatter around the
line, whichever is larger. Latency is split into quarters of the run, so a queue that builds up (latency
rising with time) shows as a rising row, whatever the machine's speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ros_detect.percentiles import percentiles

MB = 1024 * 1024


def tree_rss(pid: int) -> dict[int, tuple[str, int]]:
    """RSS in bytes of a process and all its descendants: {pid: (name, rss)}; vanished processes are skipped."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out: dict[int, tuple[str, int]] = {}
    for proc in procs:
        try:
            out[proc.pid] = (_label(proc), int(proc.memory_info().rss))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _label(proc: Any) -> str:
    """A short name: the node module for `python -c "from ros_detect.nodes.X import main"`, else the exe name."""
    cmd = " ".join(proc.cmdline())
    if "ros_detect.nodes." in cmd:
        return cmd.split("ros_detect.nodes.", 1)[1].split()[0].split(".")[0]
    if "ros_detect.cli" in cmd or "ros-detect" in cmd:
        return "launch"
    return proc.name()


@dataclass
class RssTrend:
    """RSS samples (seconds since the measured window began, MB) and their linear trend."""

    tolerance_mb: float = 30.0
    t_s: list[float] = field(default_factory=list)
    mb: list[float] = field(default_factory=list)

    def add(self, t_s: float, rss_bytes: int) -> None:
        self.t_s.append(float(t_s))
        self.mb.append(rss_bytes / MB)

    def summary(self) -> dict[str, Any]:
        n = len(self.mb)
        if n < 3:
            return {"samples": n, "verdict": "too few samples", "ok": False}
        t, y = np.asarray(self.t_s), np.asarray(self.mb)
        slope, intercept = np.polyfit(t, y, 1)  # MB per second
        residual = y - (slope * t + intercept)
        span_s = float(t[-1] - t[0])
        growth = float(slope * span_s)
        noise = float(3.0 * residual.std())
        limit = max(self.tolerance_mb, noise)
        ok = growth <= limit
        return {
            "samples": n,
            "window_s": round(span_s, 1),
            "start_mb": round(float(np.median(y[:3])), 1),
            "end_mb": round(float(np.median(y[-3:])), 1),
            "min_mb": round(float(y.min()), 1),
            "max_mb": round(float(y.max()), 1),
            "slope_mb_per_min": round(float(slope * 60.0), 3),
            "fitted_growth_mb": round(growth, 1),
            "noise_mb": round(noise, 1),
            "limit_mb": round(limit, 1),
            "ok": bool(ok),
            "verdict": "no growth beyond noise" if ok else f"RSS grew {growth:.1f} MB > {limit:.1f} MB",
        }


def latency_quarters(points: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """(seconds since start, latency ms) -> p50/p99/max for each quarter of the run, in time order."""
    if not points:
        return []
    pts = sorted(points)
    t0, t1 = pts[0][0], pts[-1][0]
    edges = np.linspace(t0, t1, 5)
    out = []
    for q in range(4):
        lo, hi = edges[q], edges[q + 1]
        vals = [v for t, v in pts if lo <= t < hi or (q == 3 and t == hi)]
        out.append(
            {
                "from_s": round(float(lo - t0), 1),
                "to_s": round(float(hi - t0), 1),
                "n": len(vals),
                **{f"{k}_ms": v for k, v in percentiles(vals, (50, 99), digits=1, mean=False, high=True).items()},
            }
        )
    return out


def flow_counts(stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """From each node's latest stats@1 document: frames published, processed, dropped (stale + replaced)."""

    def find(suffix: str) -> dict[str, Any]:
        return next((doc for node, doc in stats.items() if node.endswith(suffix)), {})

    cam, det, main = find("_source"), find("/detector"), find("/main_person")
    return {
        "published": int(cam.get("counters", {}).get("published", cam.get("frames", 0))),
        "source_reconnects": int(cam.get("counters", {}).get("disconnects", 0)),
        "detector_frames": int(det.get("frames", 0)),
        "detector_dropped": int(det.get("dropped", 0)),
        "detector_stale": int(det.get("counters", {}).get("stale", 0)),
        "main_person_frames": int(main.get("frames", 0)),
        "nodes_reporting": sorted(stats),
    }


def format_report(report: dict[str, Any]) -> str:
    rss, flow = report["rss"], report.get("flow_measured") or report["flow"]
    lines = [
        f"soak: {report['mode']} graph, camera {report['camera_fps']:g} fps, {report['processes']} process(es), "
        f"measured {rss.get('window_s', 0)} s after {report['warmup_s']:g} s warm-up",
        f"RSS (process tree): start {rss.get('start_mb')} MB, end {rss.get('end_mb')} MB, "
        f"min {rss.get('min_mb')}, max {rss.get('max_mb')}, slope {rss.get('slope_mb_per_min')} MB/min, "
        f"fitted growth {rss.get('fitted_growth_mb')} MB (limit {rss.get('limit_mb')} MB): {rss['verdict']}",
        f"frames while measured: published {flow['published']}, detector processed {flow['detector_frames']}, "
        f"dropped {flow['detector_dropped']} (latest frame wins), main_person {report['main_person_received']} "
        f"received",
        "capture->main_person latency by quarter:  "
        + "  ".join(
            f"[{q['from_s']:g}-{q['to_s']:g} s] p50 {q['p50_ms']} p99 {q['p99_ms']} ms" for q in report["latency"]
        ),
    ]
    per = report.get("rss_by_process_end_mb") or {}
    if per:
        lines.append("RSS at end by process: " + ", ".join(f"{k} {v} MB" for k, v in sorted(per.items())))
    return "\n".join(lines)
