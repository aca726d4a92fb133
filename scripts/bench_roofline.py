"""The deployed openvino-int8 against this CPU's measured int8 rate: per model stage its MACs, profiled ms,
achieved GMAC/s and the floor; the frame rate the model's arithmetic allows here, next to the timed one.

Random-init weights with forced proposals (the trained-like RoI count): a timing figure, never an accuracy one.

    PYTHONPATH=. python scripts/bench_roofline.py --out bench_results/roi_stage/roofline_avx512.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from ros_detect.bench.precision import machine_info
from ros_detect.bench.profile import isa_label, profile_backend, summarise
from ros_detect.bench.roofline import best_stage_ms, macs_by_stage, measure_int8_peaks, roofline, roofline_table
from ros_detect.detection.backends.calibration import synthetic_frames
from ros_detect.detection.backends.export import runtime_threads
from ros_detect.detection.detector import Detector, DetectorConfig
from ros_detect.detection.models import ModelSpec, build_float_model
from ros_detect.detection.preprocess import bgr_to_array, to_model_input

TARGET_FPS = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--proposals", type=int, default=300)
    parser.add_argument("--frames", type=int, default=30, help="timed frames (after 3 warm-up)")
    parser.add_argument("--profile-frames", type=int, default=10)
    args = parser.parse_args()

    load_before = os.getloadavg()
    spec = ModelSpec(weights="none", proposals=args.proposals, force_proposals=True)
    frames = synthetic_frames(max(args.frames, args.profile_frames))
    detector = Detector(DetectorConfig(model=spec, precision="openvino-int8", device="cpu", warmup=True))
    threads = runtime_threads()
    for frame in frames[:3]:
        detector.detect(frame)
    times = []
    for frame in frames[: args.frames]:
        t0 = time.perf_counter()
        detector.detect(frame)
        times.append((time.perf_counter() - t0) * 1e3)
    images = [to_model_input(f, detector.backend.input_kind) for f in frames[: args.profile_frames]]
    raw = profile_backend(detector.backend, images)
    profile = summarise(raw)
    head = getattr(detector.backend, "head_variant", None)
    del detector

    model, _ = build_float_model(spec)
    macs = macs_by_stage(model, torch.from_numpy(bgr_to_array(frames[0])))
    peaks = measure_int8_peaks(threads, rois=args.proposals)
    report = roofline(macs, best_stage_ms(raw["per_frame_ms"]), peaks["conv"], peaks["fc"])
    p50, best = statistics.median(times), min(times)
    machine = machine_info()
    report.update(
        {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine,
            "threads": threads,
            "weights": "random-init (NOT A REAL RESULT), forced proposals",
            "proposals": args.proposals,
            "head_variant": head,
            "timed": {
                "frames": len(times),
                "p50_ms": round(p50, 2),
                "min_ms": round(best, 2),
                "fps_at_p50": round(1e3 / p50, 2),
            },
            "profile_stages_ms_median": profile["stages_ms"],
            "target_fps": TARGET_FPS,
            "target_ms": round(1e3 / TARGET_FPS, 2),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    isa = isa_label(machine)
    for line in roofline_table(report, f"{isa}; {threads} threads"):
        print(line)
    print(
        f"timed: Detector.detect p50 {p50:.1f} ms = {1e3 / p50:.2f} fps (fastest {best:.1f} ms); "
        f"target {TARGET_FPS:.0f} fps = {1e3 / TARGET_FPS:.1f} ms per frame for the graph; floor / target = "
        f"{report['compute_floor_ms'] / (1e3 / TARGET_FPS):.2f}"
    )
    print(f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}; written: {args.out}")


if __name__ == "__main__":
    main()
