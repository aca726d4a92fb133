"""One detector, N sources (`ros-detect bench-sources`): is the detector shared fairly, and how late are results?

N camera threads feed synthetic frames at `fps` each into the FairQueue the detector node uses (latest wins per
source, oldest-waiting source first); one inference thread takes them one at a time through the same Detector.
For 1, 2, 4, ... sources, side by side in one run on one machine: detector fps, each source's fps, its share
`source fps / (detector fps / N)` (1.0 = a fair share), capture -> detection latency p50/p99 per source and the
lowest / highest source fps (none starved). No ROS: the scheduler and the model, not the middleware, are measured
(the ROS test of the detector node checks the same scheduling end to end).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.bench.precision import machine_info
from ros_detect.detection.detector import Detector, DetectorConfig, freeze_heap
from ros_detect.detection.models import REFERENCE_MODEL, ModelSpec, weights_enum_class
from ros_detect.detection.weights import resolve_weights
from ros_detect.frame import OUTPUT_SIZE
from ros_detect.media.synthetic import render_frame
from ros_detect.percentiles import percentiles
from ros_detect.pipeline.fair import FairQueue


@dataclass(frozen=True)
class SourcesBenchConfig:
    counts: tuple[int, ...] = (1, 2, 4)  # sources per run
    fps: float = 30.0  # each source's camera rate
    seconds: float = 20.0  # measured time per run (after the warm-up)
    frames: int = 0  # > 0: end a run after this many inferences per source instead (a quick check)
    warmup_frames: int = 3
    model: str = REFERENCE_MODEL
    precision: str = "fp32"
    proposals: int = 300
    weights: str = "auto"
    threads: int = 0
    distinct_frames: int = 8  # synthetic frames per source, cycled


@dataclass
class _Captured:
    stamp: float  # monotonic capture time
    image: np.ndarray


def _feed(q: FairQueue[_Captured], source: str, frames: list[np.ndarray], fps: float, stop: threading.Event) -> None:
    """A camera: one frame every 1/fps s on its own clock (a late tick is not made up: cameras drop too)."""
    period = 1.0 / fps
    next_t = time.monotonic()
    i = 0
    while not stop.is_set():
        q.put(source, _Captured(time.monotonic(), frames[i % len(frames)]))
        i += 1
        next_t = max(next_t + period, time.monotonic())
        stop.wait(max(0.0, next_t - time.monotonic()))


def run_sources(detector: Detector, count: int, cfg: SourcesBenchConfig) -> dict[str, Any]:
    """`count` sources at cfg.fps each into one detector for cfg.seconds; the figures of that run."""
    names = [f"cam{i + 1}" for i in range(count)]
    frames = {
        name: [render_frame(k * 7 + i, OUTPUT_SIZE, seed=i) for k in range(cfg.distinct_frames)]
        for i, name in enumerate(names)
    }
    q: FairQueue[_Captured] = FairQueue(depth=1)
    stop = threading.Event()
    feeders = [threading.Thread(target=_feed, args=(q, n, frames[n], cfg.fps, stop), daemon=True) for n in names]
    for t in feeders:
        t.start()
    latency: dict[str, list[float]] = {n: [] for n in names}
    waited: dict[str, list[float]] = {n: [] for n in names}
    t0 = time.monotonic()
    end = t0 + cfg.seconds
    try:
        while (sum(map(len, latency.values())) < cfg.frames * count) if cfg.frames else (time.monotonic() < end):
            with q.cond:
                q.cond.wait_for(lambda: bool(q), timeout=1.0)
                turn = q.take()
            if turn is None:
                continue
            detector.detect(turn.item.image)
            latency[turn.source].append((time.monotonic() - turn.item.stamp) * 1e3)
            waited[turn.source].append(turn.waited_s * 1e3)
        wall = time.monotonic() - t0
    finally:
        stop.set()
        for t in feeders:
            t.join(timeout=5.0)
    total = sum(len(v) for v in latency.values())
    detector_fps = total / wall if wall > 0 else 0.0
    fair_share = detector_fps / count if count else 0.0
    per_source = {}
    for n in names:
        fps = len(latency[n]) / wall if wall > 0 else 0.0
        per_source[n] = {
            "frames": len(latency[n]),
            "fps": round(fps, 3),
            "share": round(fps / fair_share, 3) if fair_share > 0 else None,
            "latency_ms": percentiles(latency[n], (50, 99), mean=False),
            "turn_wait_ms": percentiles(waited[n], (50, 99), mean=False),
            "received": q.received.get(n, 0),
            "superseded": q.superseded.get(n, 0),
        }
    source_fps = [s["fps"] for s in per_source.values()]
    return {
        "sources": count,
        "source_camera_fps": cfg.fps,
        "wall_s": round(wall, 3),
        "detector_fps": round(detector_fps, 3),
        "fair_share_fps": round(fair_share, 3),
        "min_source_fps": min(source_fps),
        "max_source_fps": max(source_fps),
        "min_share": min((s["share"] or 0.0) for s in per_source.values()),
        "p99_latency_ms_max": max((s["latency_ms"]["p99"] or 0.0) for s in per_source.values()),
        "per_source": per_source,
    }


def run(cfg: SourcesBenchConfig) -> dict[str, Any]:
    """Every source count of cfg.counts, one after the other on one model (same machine, same run)."""
    trained = resolve_weights(cfg.weights, weights_enum_class(cfg.model)).trained
    spec = ModelSpec(name=cfg.model, weights=cfg.weights, proposals=cfg.proposals, force_proposals=not trained)
    detector = Detector(DetectorConfig(model=spec, precision=cfg.precision, threads=cfg.threads))
    freeze_heap()  # as the detector node does
    warm = render_frame(0, OUTPUT_SIZE)
    for _ in range(cfg.warmup_frames):
        detector.detect(warm)
    runs = [run_sources(detector, n, cfg) for n in cfg.counts]
    return {
        "benchmark": "one detector, N sources (oldest-waiting first, latest frame wins per source)",
        "config": asdict(cfg),
        "model": detector.model_name,
        "precision": detector.precision,
        "weights": detector.weights_label,
        "weights_trained": trained,
        "machine": machine_info(),
        "load_average": list(_load_average()),
        "runs": runs,
    }


def _load_average() -> tuple[float, ...]:
    try:
        return tuple(round(v, 2) for v in __import__("os").getloadavg())
    except OSError:
        return ()


def table(result: dict[str, Any]) -> str:
    """The runs side by side: one row per source count, then each source."""
    m = result["machine"]
    lines = [
        f"one detector, N sources at {result['config']['fps']:g} fps each; {result['model']} {result['precision']} "
        f"{result['config']['proposals']} proposals, weights {result['weights']}",
        f"machine: {m['cpu']}, {m['cores']} cores (ISA {', '.join(m['isa']) or 'unknown'}); load average "
        f"{result['load_average']}",
        f"{'N':>2} {'detector fps':>12} {'fair share':>10} {'min src fps':>11} {'max src fps':>11} "
        f"{'min share':>9} {'worst p99 ms':>12}",
    ]
    for r in result["runs"]:
        lines.append(
            f"{r['sources']:>2} {r['detector_fps']:>12.3f} {r['fair_share_fps']:>10.3f} {r['min_source_fps']:>11.3f} "
            f"{r['max_source_fps']:>11.3f} {r['min_share']:>9.2f} {r['p99_latency_ms_max']:>12.0f}"
        )
    lines.append(
        f"{'N':>2} {'source':>6} {'frames':>6} {'fps':>6} {'share':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'turn wait p99 ms':>16} {'superseded':>10}"
    )
    for r in result["runs"]:
        for name, s in r["per_source"].items():
            lat, turn = s["latency_ms"], s["turn_wait_ms"]
            lines.append(
                f"{r['sources']:>2} {name:>6} {s['frames']:>6} {s['fps']:>6.3f} {s['share'] or 0:>6.2f} "
                f"{lat['p50'] or 0:>7.0f} {lat['p99'] or 0:>7.0f} {turn['p99'] or 0:>16.0f} {s['superseded']:>10}"
            )
    if not result["weights_trained"]:
        lines.append("weights: random-init (NOT A REAL RESULT: timing only, the RPN forced to keep the proposals)")
    return "\n".join(lines)


def write(result: dict[str, Any], out_dir: Path) -> Path:
    from ros_detect.media.writers import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "sources.json"
    write_json(path, result)
    return path
