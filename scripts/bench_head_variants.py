"""openvino-int8's box head variants side by side on the same RoI rows, and the split's thread/stream placement.

Head variants (all from one float head, the rows pooled by the cached int8 front on the same frames):
  int8          activations + weights quantised by NNCF (calibrated): the int8 GEMM VNNI CPUs run fast
  int8-weights  weight-only int8 compression (nncf.compress_weights), float compute
  fp32          the float head at f32
Per variant: CPU and wall ms medians (interleaved rounds), fc6's PERF_COUNT kernel, and fidelity vs fp32 (max abs
error of logits and box deltas, detections after postprocess). Optionally the int8 vs fp32 front, and LATENCY
(one request) vs THROUGHPUT (2 streams, 2 frames in flight) for the whole split pipeline over the same frames.
Random-init weights with forced proposals: timing and fidelity figures, never accuracy ones.

    PYTHONPATH=. python scripts/bench_head_variants.py --out bench_results/roi_stage/head_variants_avx2.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ros_detect.bench.precision import machine_info
from ros_detect.detection.backends import openvino_split as split
from ros_detect.detection.backends.calibration import synthetic_frames
from ros_detect.detection.backends.export import INPUT_NAME, graph_input
from ros_detect.detection.detector import Detector, DetectorConfig
from ros_detect.detection.models import ModelSpec, build_float_model
from ros_detect.detection.preprocess import bgr_to_array


def compile_model(model: Any, config: dict[str, Any]) -> Any:
    import openvino as ov

    return ov.Core().compile_model(model, "CPU", config)


def latency_config(hint: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 2}
    return config | ({"INFERENCE_PRECISION_HINT": hint} if hint else {})


def fc6_kernel(model: Any, rows: np.ndarray, hint: str | None) -> str:
    request = compile_model(model, latency_config(hint) | {"PERF_COUNT": True}).create_infer_request()
    request.infer({split.ROWS: rows})
    return ", ".join(f"{p.node_type} / {p.exec_type}" for p in request.profiling_info if "fc6" in p.node_name)


def timed(call: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def medians(samples: list[tuple[float, float]]) -> dict[str, float]:
    return {
        "wall_ms_median": round(statistics.median(s[0] for s in samples), 1),
        "cpu_ms_median": round(statistics.median(s[1] for s in samples), 1),
    }


def detections(backend: Any, logits: np.ndarray, deltas: np.ndarray, boxes: torch.Tensor) -> tuple[Any, ...]:
    out = backend.postprocessor.postprocess_detections(
        torch.from_numpy(logits), torch.from_numpy(deltas), [boxes], [split.IMAGE_SIZE]
    )
    return tuple(t[0].numpy() for t in out)


def same_detections(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0].shape == b[0].shape and (a[2] == b[2]).all() and np.abs(a[0] - b[0]).max(initial=0) < 1e-2


def heads(args: argparse.Namespace, det: Detector, model: Any, images: list[np.ndarray]) -> dict[str, Any]:
    import nncf
    import openvino as ov

    backend = det.backend
    backend.proposal_limit = args.proposals
    samples = []  # (rows, boxes) per frame, as the deployed pipeline pools them
    with split.torch_threads(split.HOST_THREADS), torch.inference_mode():
        for image in images:
            proposals, table = backend._run_front(image)
            boxes = torch.from_numpy(proposals[: args.proposals])
            samples.append((backend.pooler.rows(torch.from_numpy(table), boxes).numpy(), boxes))
    core = ov.Core()
    variants = {
        "int8": (core.read_model(str(backend.cache_entry.path / split.HEAD_FILE)), None),
        "int8-weights": (nncf.compress_weights(split.head_model(model), mode=nncf.CompressWeightsMode.INT8_ASYM), None),
        "int8-weights-sym": (
            nncf.compress_weights(split.head_model(model), mode=nncf.CompressWeightsMode.INT8_SYM),
            None,
        ),
        "fp32": (split.head_model(model), "f32"),
    }
    compiled = {name: compile_model(m, latency_config(hint)) for name, (m, hint) in variants.items()}
    requests = {name: c.create_infer_request() for name, c in compiled.items()}
    outputs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in variants}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for rows, _ in samples:  # warm-up + the outputs for fidelity
        for name, request in requests.items():
            request.infer({split.ROWS: rows})
            outputs[name].append(tuple(request.get_tensor(n).data.copy() for n in (split.LOGITS, split.DELTAS)))
    for _ in range(args.rounds):
        for rows, _ in samples:
            for name, request in requests.items():  # interleaved: the same load for every variant
                times[name].append(timed(lambda r=request, x=rows: r.infer({split.ROWS: x})))
    result = {}
    for name, (m, hint) in variants.items():
        logit_err = max(float(np.abs(o[0] - r[0]).max()) for o, r in zip(outputs[name], outputs["fp32"], strict=True))
        delta_err = max(float(np.abs(o[1] - r[1]).max()) for o, r in zip(outputs[name], outputs["fp32"], strict=True))
        same = [
            same_detections(detections(backend, *o, s[1]), detections(backend, *r, s[1]))
            for o, r, s in zip(outputs[name], outputs["fp32"], samples, strict=True)
        ]
        result[name] = medians(times[name]) | {
            "fc6_kernel": fc6_kernel(m, samples[0][0], hint),
            "max_abs_err_logits_vs_fp32": round(logit_err, 5),
            "max_abs_err_deltas_vs_fp32": round(delta_err, 5),
            "frames_with_identical_detections_vs_fp32": f"{sum(same)}/{len(same)}",
        }
        print(name, result[name], flush=True)
    return result


def fronts(args: argparse.Namespace, det: Detector, model: Any, images: list[np.ndarray]) -> dict[str, Any]:
    import openvino as ov

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = split.front_model(model, Path(tmp))
    int8 = ov.Core().read_model(str(det.backend.cache_entry.path / split.FRONT_FILE))
    compiled = {"int8": compile_model(int8, latency_config()), "fp32": compile_model(fp32, latency_config("f32"))}
    requests = {name: c.create_infer_request() for name, c in compiled.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in requests}
    for image in images[:1]:
        for request in requests.values():
            request.infer({INPUT_NAME: graph_input(image)})
    for _ in range(args.rounds):
        for image in images:
            for name, request in requests.items():
                times[name].append(timed(lambda r=request, x=image: r.infer({INPUT_NAME: graph_input(x)})))
    result = {name: medians(t) for name, t in times.items()}
    print("front", result, flush=True)
    return result


def placement(args: argparse.Namespace, images: list[np.ndarray]) -> dict[str, Any]:
    """Whole split pipeline over the same frames: LATENCY, one frame at a time (today) vs THROUGHPUT with
    2 streams and 2 frames in flight (one Python thread per in-flight frame, each with its own requests).
    The two alternate round by round, so both see the same load."""
    frames = [images[i % len(images)] for i in range(args.placement_frames)]
    det = Detector(DetectorConfig(model=spec(args), precision="openvino-int8", device="cpu", warmup=True))
    backend = det.backend
    backend.proposal_limit = args.proposals
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2}
    front = compile_model(str(backend.cache_entry.path / split.FRONT_FILE), config)
    head = compile_model(str(backend.cache_entry.path / split.HEAD_FILE), config | head_hint(backend))
    workers = []
    for _ in range(2):
        worker = split.SplitBackend.__new__(split.SplitBackend)
        worker.__dict__.update(backend.__dict__)
        worker.front_request, worker.head_request = front.create_infer_request(), head.create_infer_request()
        worker.infer(images[0])  # warm-up
        workers.append(worker)
    modes = {"LATENCY": [backend], "THROUGHPUT": workers}
    rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for _ in range(args.placement_rounds):
        for mode, team in modes.items():
            shares = [frames[i :: len(team)] for i in range(len(team))]  # frame i goes to worker i % count
            threads = [
                threading.Thread(target=lambda w=w, share=share: [w.infer(f) for f in share])
                for w, share in zip(team, shares, strict=True)
            ]
            cpu, wall = time.process_time(), time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            row = {"fps": round(len(frames) / wall, 3), "cpu_ms_per_frame": round(cpu * 1e3 / len(frames), 1)}
            rounds[mode].append(row | {"load_average_1min": round(os.getloadavg()[0], 1)})
            print(mode, row, flush=True)
    return {
        mode: {
            "frames_per_round": len(frames),
            "fps_median": statistics.median(r["fps"] for r in rows),
            "cpu_ms_per_frame_median": statistics.median(r["cpu_ms_per_frame"] for r in rows),
            "rounds": rows,
        }
        for mode, rows in rounds.items()
    }


def head_hint(backend: Any) -> dict[str, str]:
    return {"INFERENCE_PRECISION_HINT": "f32"} if backend.head_variant == "fp32" else {}


LEGACY_GROUPS = {"roi_align": ("box_roi_pool",), "fc6": ("fc6",)}  # node-name parts; the rest is "other"


def legacy_profile(args: argparse.Namespace, images: list[np.ndarray]) -> dict[str, Any]:
    """The single exported graph's (openvino-int8-legacy) own PERF_COUNT profile: CPU-summed ms per group, median
    over frames, and the speed-up removing RoIAlign + fc6 entirely would allow (Amdahl's bound for the split)."""
    legacy_spec = ModelSpec(weights="none", proposals=args.proposals, force_proposals=True, score_threshold=0.05)
    det = Detector(DetectorConfig(model=legacy_spec, precision="openvino-int8-legacy", device="cpu", warmup=False))
    compiled = compile_model(str(det.backend.cache_entry.path / "model.xml"), latency_config() | {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    request.infer({INPUT_NAME: graph_input(images[0])})  # warm-up
    per_frame = []
    kernels: dict[str, set[str]] = {group: set() for group in LEGACY_GROUPS}
    for image in images:
        request.infer({INPUT_NAME: graph_input(image)})
        ms = dict.fromkeys([*LEGACY_GROUPS, "other"], 0.0)
        for p in request.profiling_info:
            group = next((g for g, parts in LEGACY_GROUPS.items() if any(x in p.node_name for x in parts)), "other")
            ms[group] += p.real_time.total_seconds() * 1e3
            if group != "other" and p.real_time.total_seconds() > 0:
                kernels[group].add(f"{p.node_type} / {p.exec_type}")
        per_frame.append(ms)
    ms = {g: round(statistics.median(f[g] for f in per_frame), 1) for g in per_frame[0]}
    total = sum(ms.values())
    share = (ms["roi_align"] + ms["fc6"]) / total
    result = {
        "node_ms_median": ms,
        "roi_align_share": round(ms["roi_align"] / total, 3),
        "fc6_share": round(ms["fc6"] / total, 3),
        "max_speedup_removing_both": round(1 / (1 - share), 2),
        "kernels": {g: sorted(k) for g, k in kernels.items()},
    }
    print("legacy profile", result, flush=True)
    return result


def spec(args: argparse.Namespace) -> ModelSpec:
    return ModelSpec(weights="none", proposals=args.model_proposals, force_proposals=True, score_threshold=0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--proposals", type=int, default=300, help="RoIs pooled per frame")
    parser.add_argument("--model-proposals", type=int, default=1000, help="the cached model's proposal count")
    parser.add_argument("--front", action="store_true", help="also time the int8 vs fp32 front")
    parser.add_argument("--placement-frames", type=int, default=0, help="also time LATENCY vs THROUGHPUT over N")
    parser.add_argument("--placement-rounds", type=int, default=2, help="alternating LATENCY/THROUGHPUT rounds")
    parser.add_argument("--legacy-profile", action="store_true", help="also profile openvino-int8-legacy's nodes")
    parser.add_argument("--no-heads", action="store_true", help="skip the head variants")
    args = parser.parse_args()

    torch.set_num_threads(2)
    load_before = os.getloadavg()
    images = [bgr_to_array(f) for f in synthetic_frames(args.frames)]
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "openvino_capabilities": __import__("openvino").Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"),
        "weights": "random-init (NOT A REAL RESULT), forced proposals",
        "proposals": args.proposals,
        "frames": args.frames,
        "rounds": args.rounds,
        "load_average_before": load_before,
    }
    if args.legacy_profile:
        report["legacy_profile"] = legacy_profile(args, images)
    if not args.no_heads or args.front:
        det = Detector(DetectorConfig(model=spec(args), precision="openvino-int8", device="cpu", warmup=True))
        model, _ = build_float_model(spec(args))
        if not args.no_heads:
            report["head"] = heads(args, det, model, images)
        if args.front:
            report["front"] = fronts(args, det, model, images)
        del det
    if args.placement_frames:
        report["placement"] = placement(args, images)
    report["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    isa = ", ".join(report["machine"]["isa"])
    print(f"\n{report['machine']['cpu']} ({isa}); load {load_before[0]:.1f} -> {report['load_average_after'][0]:.1f}")
    print(f"{'head (' + isa + ')':32} {'wall ms':>9} {'cpu ms':>9}  fc6 kernel")
    for name, r in report.get("head", {}).items():
        print(f"{name:32} {r['wall_ms_median']:9.1f} {r['cpu_ms_median']:9.1f}  {r['fc6_kernel']}")


if __name__ == "__main__":
    main()
