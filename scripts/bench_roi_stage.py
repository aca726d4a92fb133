"""Side by side on the same frames: openvino-int8 (split pipeline) vs openvino-int8-legacy (single exported graph).

Per frame wall and CPU ms (interleaved rounds, medians), the split's stage shares, fc6's kernel in both, FPN SQNR
vs eager fp32, and the split's cost at several proposal counts (one front built for the largest count serves
every smaller one: see SplitBackend.proposal_limit). Random-init weights with forced proposals: a timing and
fidelity figure, never an accuracy one.

    PYTHONPATH=. python scripts/bench_roi_stage.py --out bench_results/roi_stage/roi_stage.json
    PYTHONPATH=. python scripts/bench_roi_stage.py --summarise bench_results/roi_stage/*.json   # tables, one per ISA
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ros_detect.bench.metrics import feature_sqnr
from ros_detect.bench.precision import machine_info
from ros_detect.bench.profile import isa_label, profile_backend, profile_table, split_by_isa, summarise
from ros_detect.detection.backends.calibration import synthetic_frames
from ros_detect.detection.backends.registry import backend_features
from ros_detect.detection.detector import Detector, DetectorConfig
from ros_detect.detection.models import ModelSpec
from ros_detect.detection.preprocess import bgr_to_array


def detector(scheme: str, proposals: int) -> Detector:
    spec = ModelSpec(weights="none", proposals=proposals, force_proposals=True, score_threshold=0.05)
    return Detector(DetectorConfig(model=spec, precision=scheme, device="cpu", warmup=True))


def fc6_kernels(model_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, str]:
    """Kernel ("exec type") of the runtime nodes carrying fc6, from OpenVINO's PERF_COUNT after one inference."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(model_path)), "CPU", {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    request.infer(inputs)
    return {p.node_name: f"{p.node_type} / {p.exec_type}" for p in request.profiling_info if "fc6" in p.node_name}


def timed(backend: Any, image: np.ndarray) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    backend.infer(image)
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def print_tables(reports: list[tuple[str, dict[str, Any]]]) -> None:
    """One table per CPU ISA (figures from different instruction sets are never put side by side)."""
    by_isa = split_by_isa([{**report, "file": name} for name, report in reports])
    for group in by_isa.values():
        machine = group[0]["machine"]
        print(f"\n{isa_label(machine)}")
        for report in group:
            if "head_variant" in report:  # runs before the per-CPU head did not record it
                print(f"{report['file']}: openvino-int8 box head {report['head_variant']}")
            for name, kernels in report.get("fc6", {}).items():
                print(f"{report['file']}: fc6 kernel, {name}: {', '.join(sorted(set(kernels.values())))}")
        print(f"{'file':24} {'variant':28} {'wall ms':>9} {'cpu ms':>9} {'roi share':>10} {'load 1-min':>11}")
        for report in group:
            load = f"{report['load_average_before'][0]:.1f}->{report['load_average_after'][0]:.1f}"
            for name, r in report["results"].items():
                share = r.get("roi_align_cpu_share", "")
                print(
                    f"{report['file'][:24]:24} {name:28} {r['wall_ms_median']:9.1f} {r['cpu_ms_median']:9.1f} "
                    f"{share:>10} {load:>11}"
                )
        for report in group:
            if report.get("profile"):
                print("")
                for line in profile_table(list(report["profile"].items()), machine, report.get("threads")):
                    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--proposals", type=int, default=300)
    parser.add_argument("--curve", type=int, nargs="*", default=[100, 200, 300, 1000])
    parser.add_argument("--profile-frames", type=int, default=2, help="frames under OpenVINO's PERF_COUNT per variant")
    parser.add_argument("--summarise", type=Path, nargs="+", help="print the tables of saved result files instead")
    args = parser.parse_args()
    if args.summarise:
        print_tables([(path.name, json.loads(path.read_text())) for path in args.summarise])
        return
    if args.out is None:
        parser.error("--out is required (or --summarise FILE...)")

    load_before = os.getloadavg()
    frames = synthetic_frames(args.frames)
    images = [bgr_to_array(f) for f in frames]
    builds = {}
    t0 = time.perf_counter()
    legacy = detector("openvino-int8-legacy", args.proposals)
    builds["openvino-int8-legacy"] = {"build_s": legacy.backend.cache_entry.build_s, "load_s": legacy.load_time_s}
    split = detector("openvino-int8", max([*args.curve, args.proposals]))
    builds["openvino-int8"] = {"build_s": split.backend.cache_entry.build_s, "load_s": split.load_time_s}
    reference = detector("fp32", args.proposals)
    print(f"built/loaded in {time.perf_counter() - t0:.0f} s: {builds}", flush=True)

    ref_feats = [backend_features(reference.backend, f) for f in frames]
    sqnr = {
        name: feature_sqnr(ref_feats, [backend_features(d.backend, f) for f in frames])
        for name, d in (("openvino-int8", split), ("openvino-int8-legacy", legacy))
    }
    del reference

    variants = {"openvino-int8-legacy": (legacy.backend, None)}
    variants |= {f"openvino-int8@{n}": (split.backend, n) for n in sorted({*args.curve, args.proposals})}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    stages: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for image in images:
            for name, (backend, limit) in variants.items():  # interleaved: the same load for every variant
                if limit is not None:
                    backend.proposal_limit = limit
                w, c = timed(backend, image)
                wall[name].append(w)
                cpu[name].append(c)
                if limit is not None:
                    stages[name].append(dict(backend.stage_ms))
    load_after = os.getloadavg()
    # the backends' own profiles, after the timed rounds (separate PERF_COUNT-compiled copies)
    split.backend.proposal_limit = args.proposals
    profiles = {
        name: summarise(profile_backend(backend, images[: args.profile_frames]))
        for name, backend in (("openvino-int8-legacy", legacy.backend), (main_name(args), split.backend))
        if args.profile_frames
    }

    def median_stages(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]} if rows else {}

    results = {
        name: {
            "wall_ms_median": round(statistics.median(wall[name]), 1),
            "cpu_ms_median": round(statistics.median(cpu[name]), 1),
            "stage_ms_median": median_stages(stages[name]),
        }
        for name in variants
    }
    for r in results.values():
        st = r["stage_ms_median"]
        if st:
            total_cpu = sum(v for k, v in st.items() if k.endswith("_cpu"))
            r["roi_align_cpu_share"] = round(st["roi_align_cpu"] / total_cpu, 3)
    deployed = main_name(args)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "weights": "random-init (NOT A REAL RESULT), forced proposals",
        "frames": args.frames,
        "rounds": args.rounds,
        "builds": builds,
        "head_variant": split.backend.head_variant,  # int8 | int8-weights | fp32, chosen by the CPU's ISA
        "results": results,
        "ratio_cpu": round(results["openvino-int8-legacy"]["cpu_ms_median"] / results[deployed]["cpu_ms_median"], 2),
        "ratio_wall": round(results["openvino-int8-legacy"]["wall_ms_median"] / results[deployed]["wall_ms_median"], 2),
        "fc6": {
            "openvino-int8": fc6_kernels(
                split.backend.cache_entry.path / "head.xml",
                {"rows": np.random.rand(args.proposals, 12544).astype(np.float32)},
            ),
            "openvino-int8-legacy": fc6_kernels(legacy.backend.cache_entry.path / "model.xml", {"image": images[0]}),
        },
        "fpn_sqnr_db_vs_fp32": {k: round(v.get("all", float("nan")), 1) for k, v in sqnr.items()},
        "threads": torch.get_num_threads(),
        "profile": profiles,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("ratio_cpu", "ratio_wall", "fpn_sqnr_db_vs_fp32", "fc6")}, indent=1))
    print_tables([(args.out.name, report)])


def main_name(args: argparse.Namespace) -> str:
    return f"openvino-int8@{args.proposals}"


if __name__ == "__main__":
    main()
