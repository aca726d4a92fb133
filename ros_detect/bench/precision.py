"""`ros-detect bench`: every precision scheme side by side, in one run, on the same frames.

Each (scheme, proposals, threads) is measured in a fresh subprocess (bench_worker.py) so load
time and peak RSS belong to that scheme alone; the parent compares every output with the fp32
reference of the same run. Python API: `run_bench(BenchConfig(...))` returns the report dict.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.bench.metrics import (
    FrameOutput,
    detection_map_vs_reference,
    feature_sqnr,
    main_person_agreement,
    main_person_track,
    percentile_summary,
    proxy_person_class,
)
from ros_detect.bench.profile import summarise as summarise_profile
from ros_detect.bench.report import print_table, write_csv, write_plot
from ros_detect.detection.backends.calibration import frames_from_video, synthetic_frames
from ros_detect.detection.backends.registry import SCHEMES
from ros_detect.detection.cpu_isa import cpu_flags
from ros_detect.errors import ConfigError
from ros_detect.frame import OUTPUT_SIZE
from ros_detect.paths import cache_dir

log = logging.getLogger(__name__)

REFERENCE, SEED = "fp32", "seed"
DEFAULT_SWEEP_SCHEMES = ["fp32", "int8-static", "openvino-int8"]
NOT_ACCURACY = "random-init weights: agreement and SQNR measure numerical fidelity to fp32, NOT accuracy"


@dataclass
class BenchConfig:
    output_dir: Path = Path("bench_results")
    input: str | None = None  # video; None = the default input (seed clip if cached, else synthetic)
    frames: int = 20
    thread_counts: list[int] = field(default_factory=lambda: [1, 0])  # 0 = all cores
    thread_frames: int = 8  # frames timed at the non-default thread counts
    schemes: list[str] = field(default_factory=lambda: list(SCHEMES))
    proposals: int = 1000
    proposal_sweep: list[int] = field(default_factory=lambda: [300, 100])
    sweep_schemes: list[str] = field(default_factory=lambda: list(DEFAULT_SWEEP_SCHEMES))
    weights: str = "auto"
    force_proposals: bool | None = None  # None: on when the weights are random-init
    score_threshold: float = 0.05  # torchvision's default; mAP needs the low-score detections
    calibration_frames: int = 16
    calibration_input: str | None = None
    feature_frames: int = 3
    cache_dir: Path | None = None
    rebuild: bool = False
    coco_images: str | None = None
    coco_annotations: str | None = None
    coco_limit: int = 0
    job_timeout_s: float = 3600.0
    smoke: bool = False
    profile_frames: int = 2  # frames run again under the backend's own profiler after the timed ones (0: none)


@dataclass
class Variant:
    name: str
    scheme: str
    proposals: int


def smoke_config(output_dir: Path, schemes: list[str] | None = None) -> BenchConfig:
    """A tiny run for tests / `make test`: 2 frames, one thread setting, 100 proposals."""
    return BenchConfig(
        output_dir=output_dir,
        frames=2,
        thread_counts=[0],
        thread_frames=0,
        proposals=100,
        proposal_sweep=[],
        schemes=schemes or ["fp32", "int8-dynamic", "onnx-fp32"],
        calibration_frames=2,
        feature_frames=1,
        weights="none",
        smoke=True,
        job_timeout_s=600,
        profile_frames=1,
    )


ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")  # int8/bf16 speed


def machine_info() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    flags = cpu_flags()
    isa = [f for f in ISA_FLAGS if f in flags]
    versions = {}
    for mod in ("torch", "torchvision", "onnxruntime", "openvino", "nncf"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "isa": isa,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _variants(cfg: BenchConfig) -> list[Variant]:
    unknown = [s for s in cfg.schemes + cfg.sweep_schemes if s not in SCHEMES]
    if unknown:
        raise ConfigError(f"unknown scheme(s) {', '.join(unknown)}", f"choose from: {', '.join(SCHEMES)}")
    schemes = [REFERENCE] + [s for s in dict.fromkeys(cfg.schemes) if s != REFERENCE]
    variants = [Variant(s, s, cfg.proposals) for s in schemes]
    for p in cfg.proposal_sweep:
        if p != cfg.proposals:
            variants += [Variant(f"{s}@p{p}", s, p) for s in cfg.sweep_schemes if s in schemes]
    return variants


def _load_frames(cfg: BenchConfig) -> tuple[np.ndarray, np.ndarray, str]:
    path = cfg.input
    if path is None:
        cached = cache_dir() / "london-walk.mp4"
        path = str(cached) if cached.is_file() else None
    if path:
        frames = frames_from_video(path, cfg.frames, stride=1)
        calib = frames_from_video(cfg.calibration_input or path, cfg.calibration_frames)
        source = path
    else:
        frames = synthetic_frames(cfg.frames)
        calib = synthetic_frames(cfg.calibration_frames, start=1000)
        source = "synthetic street clip (ros_detect.media.synthetic)"
    if len(frames) < 1:
        raise ConfigError(f"no frames could be read from {path}", "pass a readable video with --input")
    return np.stack(frames), np.stack(calib), source


def _run_worker(job: dict[str, Any], work: Path, cfg: BenchConfig, cache_root: Path) -> dict[str, Any]:
    tag = job["tag"]
    job_file, log_file = work / f"{tag}.job.json", work / f"{tag}.log"
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "ROS_DETECT_CACHE": str(cache_root), "PYTHONUNBUFFERED": "1"}
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        with open(log_file, "w") as logf:
            proc = subprocess.run(
                [sys.executable, "-m", "ros_detect.bench.worker", str(job_file)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=cfg.job_timeout_s,
            )
        result = (
            json.loads(Path(job["result"]).read_text())
            if Path(job["result"]).is_file()
            else {"status": "failed", "error": f"worker exited {proc.returncode} without a result (see {log_file})"}
        )
    except subprocess.TimeoutExpired:
        result = {"status": "failed", "error": f"timed out after {cfg.job_timeout_s:.0f} s"}
    result["process_wall_s"] = round(time.perf_counter() - t0, 2)
    result["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def _outputs(npz: Path, n: int) -> tuple[list[FrameOutput], list[dict[str, np.ndarray]]]:
    data = np.load(npz)
    outs = [FrameOutput(data[f"boxes_{i}"], data[f"scores_{i}"], data[f"labels_{i}"]) for i in range(n)]
    feats: list[dict[str, np.ndarray]] = []
    i = 0
    while any(k.startswith(f"feat_{i}_") for k in data.files):
        feats.append({k.split("_", 2)[2]: data[k] for k in data.files if k.startswith(f"feat_{i}_")})
        i += 1
    return outs, feats


def run_bench(cfg: BenchConfig, progress: Any = print) -> dict[str, Any]:
    """Measure every scheme; write results.json, results.csv, latency_vs_agreement.png; return the report."""
    from ros_detect.detection.models import weights_enum_class
    from ros_detect.detection.weights import resolve_weights

    out = Path(cfg.output_dir)
    work = out / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cache_root = Path(cfg.cache_dir) if cfg.cache_dir else cache_dir() / "bench-cache"
    resolved = resolve_weights(cfg.weights, weights_enum_class("fasterrcnn_resnet50_fpn"))
    force = (not resolved.trained) if cfg.force_proposals is None else cfg.force_proposals
    frames, calib, source = _load_frames(cfg)
    np.save(work / "frames.npy", frames)
    np.save(work / "calibration.npy", calib)
    cores = os.cpu_count() or 1
    threads = list(dict.fromkeys(t if t > 0 else cores for t in cfg.thread_counts)) or [cores]
    main_threads = max(threads)
    variants = _variants(cfg)
    progress(
        f"bench: {len(variants)} variants x threads {threads} on {len(frames)} frames of {source}; "
        f"weights {resolved.label}; proposals {cfg.proposals} (sweep {cfg.proposal_sweep}); "
        f"forced trained-like proposal load: {force}"
    )
    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "input": source,
        "frames": len(frames),
        "weights": resolved.label,
        "trained": resolved.trained,
        "force_proposals": force,
        "threads": threads,
        "main_threads": main_threads,
        "note": None if resolved.trained else NOT_ACCURACY,
        "variants": [],
    }
    t_start = time.perf_counter()
    for v in variants:
        entry: dict[str, Any] = {
            "name": v.name,
            "scheme": v.scheme,
            "proposals": v.proposals,
            "description": SCHEMES[v.scheme].description,
            "runs": {},
        }
        base = {
            "scheme": v.scheme,
            "proposals": v.proposals,
            "weights": cfg.weights,
            "force_proposals": force,
            "score_threshold": cfg.score_threshold,
            "frames": str(work / "frames.npy"),
            "calibration": str(work / "calibration.npy"),
            "device": "cpu",
        }
        if SCHEMES[v.scheme].cached:  # in-memory schemes have no separate build step
            if cfg.rebuild:
                for old in (cache_root / "models").glob(f"{v.scheme}-*"):
                    shutil.rmtree(old, ignore_errors=True)
            tag = f"{v.name}-build"
            progress(f"  {v.name}: build/cache check ...")
            entry["build"] = _run_worker(
                {
                    **base,
                    "tag": tag,
                    "mode": "build",
                    "threads": main_threads,
                    "n_frames": 1,
                    "result": str(work / f"{tag}.json"),
                },
                work,
                cfg,
                cache_root,
            )
            if entry["build"]["status"] != "ok":
                entry.update(status=entry["build"]["status"], error=entry["build"].get("error"))
                progress(f"  {v.name}: {entry['status']}: {entry['error']}")
                report["variants"].append(entry)
                continue
        for t in sorted(threads, reverse=True):  # the main (all-core) run first: it carries the outputs
            n = len(frames) if t == main_threads else min(len(frames), cfg.thread_frames)
            if n < 1:
                continue
            tag = f"{v.name}-t{t}"
            job = {
                **base,
                "tag": tag,
                "mode": "run",
                "threads": t,
                "n_frames": n,
                "feature_frames": cfg.feature_frames if t == main_threads else 0,
                "profile_frames": cfg.profile_frames if t == main_threads else 0,
                "result": str(work / f"{tag}.json"),
                "outputs": str(work / f"{tag}.npz"),
            }
            if t == main_threads and cfg.coco_images and cfg.coco_annotations:
                job["coco"] = {"images": cfg.coco_images, "annotations": cfg.coco_annotations, "limit": cfg.coco_limit}
            result = _run_worker(job, work, cfg, cache_root)
            entry["runs"][str(t)] = result
            if result["status"] != "ok":
                entry.update(status=result["status"], error=result.get("error"))
                break
            progress(
                f"  {v.name} threads={t}: p50 {np.median(result['latency_ms']):.0f} ms/frame "
                f"(load {result['load_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB)"
            )
        entry.setdefault("status", "ok")
        if entry["status"] != "ok":
            progress(f"  {v.name}: {entry['status']}: {entry.get('error')}")
        report["variants"].append(entry)
    report["bench_wall_s"] = round(time.perf_counter() - t_start, 1)
    (work / "raw_report.json").write_text(json.dumps(report, default=float))
    return _finish(report, out, cfg, progress)


def resummarise(output_dir: Path, progress: Any = print) -> dict[str, Any]:
    """Recompute the summaries, table, CSV and plot from a finished run's raw measurements."""
    report = json.loads((Path(output_dir) / "runs" / "raw_report.json").read_text())
    cfg = BenchConfig(**{k: v for k, v in report["config"].items() if k in BenchConfig.__dataclass_fields__})
    return _finish(report, Path(output_dir), cfg, progress)


def _finish(report: dict[str, Any], out: Path, cfg: BenchConfig, progress: Any) -> dict[str, Any]:
    _summarise(report, out / "runs", cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    write_csv(report, out / "results.csv")
    write_plot(report, out / "latency_vs_agreement.png")
    report["files"] = {k: str(out / k) for k in ("results.json", "results.csv", "latency_vs_agreement.png")}
    print_table(report, progress)
    return report


def _summarise(report: dict[str, Any], work: Path, cfg: BenchConfig) -> None:
    """Latency/throughput summaries, agreement with fp32 and speed-ups, computed in this run."""
    main_t = str(report["main_threads"])
    n = report["frames"]
    ok = [v for v in report["variants"] if v["status"] == "ok" and main_t in v["runs"]]
    outputs = {v["name"]: _outputs(work / f"{v['name']}-t{main_t}.npz", n) for v in ok}
    ref = outputs.get(REFERENCE)
    person = proxy_person_class(ref[0], report["trained"]) if ref else 1
    min_score = 0.5 if report["trained"] else cfg.score_threshold
    report["main_person_class"] = person
    ref_track = main_person_track(ref[0], OUTPUT_SIZE, person, min_score) if ref else None
    for v in ok:
        main = v["runs"][main_t]
        v["latency_ms"] = percentile_summary(main["latency_ms"])
        v["cpu_ms_per_frame"] = percentile_summary(main["cpu_ms"])
        v["stages_ms"] = {k: percentile_summary([s[k] for s in main["stages_ms"]]) for k in main["stages_ms"][0]}
        if main.get("substages_ms"):
            v["substages_ms"] = {
                k: percentile_summary([s.get(k, 0.0) for s in main["substages_ms"]]) for k in main["substages_ms"][0]
            }
        if main.get("profile"):
            v["profile"] = summarise_profile(main["profile"])
        if main.get("profile_error"):
            v["profile_error"] = main["profile_error"]
        v["fps"] = {t: round(1000.0 / float(np.mean(r["latency_ms"])), 3) for t, r in v["runs"].items()}
        v["cpu_ms_by_threads"] = {t: round(float(np.mean(r["cpu_ms"])), 1) for t, r in v["runs"].items()}
        v["peak_rss_mb"] = main["peak_rss_mb"]
        v["head_variant"] = main.get("head_variant")
        v["size_mb"] = round(main["size_bytes"] / 2**20, 1)
        build = v.get("build", {})
        v["load"] = {
            "cached_load_s": main["load_s"],
            "warmup_s": main["warmup_s"],
            "process_start_s": main["import_s"],
            "build_s": build.get("build_s") if build else None,
            "cold_load_s": build.get("load_s")
            if build and not build.get("cache_hit")
            else (None if build else main["load_s"]),
            "cache_hit_at_start": build.get("cache_hit") if build else None,
        }
        v["schema_valid"] = main.get("schema_valid", False)
        v["coco"] = main.get("coco")
        if ref:
            outs, feats = outputs[v["name"]]
            track = main_person_track(outs, OUTPUT_SIZE, person, min_score)
            v["agreement"] = main_person_agreement(ref_track, track)
            v["detection_map_vs_fp32"] = detection_map_vs_reference(ref[0], outs, min_score)
            v["sqnr_db"] = {k: round(x, 2) for k, x in feature_sqnr(ref[1], feats).items()}
    by_name = {v["name"]: v for v in ok}
    for v in ok:
        for base_name, key in ((SEED, "speedup_vs_seed"), (REFERENCE, "speedup_vs_fp32")):
            b = by_name.get(base_name)
            if b:
                v[key] = round(b["latency_ms"]["p50"] / v["latency_ms"]["p50"], 2)
                v[f"{key}_min"] = round(b["latency_ms"]["min"] / v["latency_ms"]["min"], 2)
                if "1" in v["cpu_ms_by_threads"] and "1" in b["cpu_ms_by_threads"]:  # CPU work: robust to other load
                    v[f"{key}_cpu1"] = round(b["cpu_ms_by_threads"]["1"] / v["cpu_ms_by_threads"]["1"], 2)
                v[f"{key}_fps_by_threads"] = {t: round(v["fps"][t] / b["fps"][t], 2) for t in v["fps"] if t in b["fps"]}
