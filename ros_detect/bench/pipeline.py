"""Pipeline performance measurements behind `ros-detect bench-pipeline` (targets: >= 15 fps, >= 30x seed).

Every figure is measured in one run on the same frames: the detector alone, the seed setup, the ROS
graph in video mode and in webcam mode. The graph runs are `ros-detect launch` processes that the
command (ros_detect/commands/bench_pipeline.py) starts and passes in; this module measures the detector,
turns the graph's output files into figures and checks them against the targets. On random-initialised
weights the RPN is forced to keep the deployed proposal count (`force_proposals`), or latency would be
understated ~2x.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.bench.metrics import INT8_FEATURE_SQNR_MIN_DB
from ros_detect.bench.profile import isa_label, profile_or_error, profile_table
from ros_detect.bench.profile import summarise as summarise_profile
from ros_detect.detection.backends.export import runtime_threads
from ros_detect.detection.detector import Detector, DetectorConfig, freeze_heap
from ros_detect.detection.models import REFERENCE_MODEL, ModelSpec, weights_enum_class
from ros_detect.detection.preprocess import to_model_input
from ros_detect.detection.weights import resolve_weights
from ros_detect.media.sources import VideoSource
from ros_detect.percentiles import percentiles
from ros_detect.schema import stamp_to_ns


@dataclass(frozen=True)
class PerfConfig:
    input: str
    frames: int = 60  # frames for the detector-alone and graph video runs
    seed_frames: int = 8  # the seed setup is ~30x slower: fewer frames, same content
    precision: str = "fp32"
    proposals: int = 1000
    weights: str = "auto"
    threads: int = 0
    webcam_fps: float = 30.0  # a webcam's usual rate; the frame waits ~half a period for the detector
    webcam_seconds: float = 30.0
    webcam_min_results: int = 10  # the webcam run lasts webcam_seconds and at least this many results
    out_dir: Path = Path("bench_results/pipeline")
    profile_frames: int = 3  # frames run under the backend's own profiler after the detector-alone run (0: none)


def load_frames(path: str, count: int) -> list[np.ndarray]:
    with VideoSource(path, stop_frame=count) as source:
        return [frame.image for frame in source]


def weights_are_trained(cfg: PerfConfig) -> bool:
    return resolve_weights(cfg.weights, weights_enum_class(REFERENCE_MODEL)).trained


def _spec(cfg: PerfConfig, trained: bool) -> ModelSpec:
    return ModelSpec(weights=cfg.weights, proposals=cfg.proposals, force_proposals=not trained)


def detector_alone(
    cfg: PerfConfig, precision: str, frames: list[np.ndarray], warmup: int = 2, profile_frames: int = 0
) -> dict[str, Any]:
    """Frames one after the other through Detector.detect (preprocess + inference + postprocess); then, when
    `profile_frames`, that many frames again under the backend's own profiler (grouped by model stage)."""
    trained = weights_are_trained(cfg)
    detector = Detector(DetectorConfig(model=_spec(cfg, trained), precision=precision, threads=cfg.threads))
    freeze_heap()  # as the detector node does
    for frame in frames[:warmup]:
        detector.detect(frame)
    per_frame: list[float] = []
    t0 = time.perf_counter()
    for frame in frames:
        t = time.perf_counter()
        detector.detect(frame)
        per_frame.append((time.perf_counter() - t) * 1e3)
    wall = time.perf_counter() - t0
    profile, profile_error = None, None
    if profile_frames:  # after the timed frames, on the backend's separate profiling instance
        images = [to_model_input(f, detector.backend.input_kind) for f in frames[:profile_frames]]
        raw, profile_error = profile_or_error(detector.backend, images)
        profile = summarise_profile(raw) if raw else None
    return {
        "precision": detector.precision,
        "frames": len(frames),
        "fps": round(len(frames) / wall, 3),
        "latency_ms": percentiles(per_frame),
        "weights": detector.weights_label,
        "trained": trained,
        "proposals": detector.spec.proposals,
        "forced_proposals": detector.spec.force_proposals,
        "load_s": round(detector.load_time_s, 2),
        "head_variant": getattr(detector.backend, "head_variant", None),  # the split's box head, by CPU
        "threads": runtime_threads(),  # the intra-op threads the Detector set (torch's and the runtimes')
        "profile": profile,
        "profile_error": profile_error,
    }


def graph_video_figures(summary: dict[str, Any], docs: list[dict[str, Any]], frames_in: int) -> dict[str, Any]:
    """Figures of a video-mode graph run from its summary.json and main_person documents."""
    # Steady-state rate between the first and the last result (capture + capture->main_person): model
    # loading and discovery are not counted, nor are the first K frames published together at start.
    done = sorted(stamp_to_ns(d["stamp"]) + d["latency_ms"]["capture_to_main_person"] * 1e6 for d in docs)
    steady = (len(done) - 1) / ((done[-1] - done[0]) / 1e9) if len(done) > 1 else None
    return {
        "frames_in": frames_in,
        "main_person_messages": len(docs),
        "fps_summary": summary.get("fps"),
        "fps_steady": round(steady, 3) if steady else None,
        "latency_ms": summary.get("latency_ms", {}),
        # CPU ms per result of each node process: what the detector shares its cores with
        "cpu": (summary.get("graph") or {}).get("cpu"),
    }


def graph_webcam_figures(
    docs: list[dict[str, Any]], dets: list[dict[str, Any]], camera_fps: float, frames_sent: int
) -> dict[str, Any]:
    """Figures of a webcam-mode graph run from its main_person and detections documents."""
    steady = docs[len(docs) // 5 :] or docs  # skip the warm-up fifth
    latency = [d["latency_ms"]["capture_to_main_person"] for d in steady if d.get("latency_ms")]
    inference = [d["timing_ms"]["inference"] for d in dets[len(dets) // 5 :] or dets]
    return {
        "camera_fps": camera_fps,
        "frames_sent_by_camera": frames_sent,
        "main_person_messages": len(docs),
        "capture_to_main_person_ms": percentiles(latency),
        "detector_inference_ms": percentiles(inference),
    }


def accuracy_guard(cfg: PerfConfig, frames: list[np.ndarray], trained: bool) -> dict[str, Any]:
    """Default scheme vs fp32 on the same frames: main-person IoU with real weights, else feature SQNR."""
    from ros_detect.bench.metrics import feature_sqnr, main_person_agreement
    from ros_detect.detection.backends.registry import backend_features
    from ros_detect.selection.main_person import MainPersonSelector

    spec = _spec(cfg, trained)
    reference = Detector(DetectorConfig(model=spec, precision="fp32", warmup=False, threads=cfg.threads))
    candidate = Detector(DetectorConfig(model=spec, precision=cfg.precision, warmup=False, threads=cfg.threads))
    if trained:
        boxes = {}
        for name, det in (("fp32", reference), (cfg.precision, candidate)):
            selector = MainPersonSelector()
            boxes[name] = [selector.update(det.detect(f)[0], (f.shape[1], f.shape[0])).box for f in frames]
        agreement = main_person_agreement(boxes["fp32"], boxes[cfg.precision])
        agreement.pop("per_frame_iou")
        return {"measured": "main-person IoU vs fp32 (pretrained weights)", **agreement}
    ref_feats, cand_feats = [], []
    for frame in frames:
        ref_feats.append(backend_features(reference.backend, frame))
        cand_feats.append(backend_features(candidate.backend, frame))
    if any(f is None for f in cand_feats):
        return {"measured": "feature SQNR unavailable for this backend"}
    sqnr = feature_sqnr(ref_feats, cand_feats)
    return {
        "measured": "backbone+FPN feature SQNR vs fp32 (random-init weights; NOT an accuracy figure)",
        "sqnr_db": sqnr,
    }


# A graph run: (config, weights are trained, work directory) -> its figures (graph_*_figures above).
GraphRun = Callable[[PerfConfig, bool, Path], dict[str, Any]]


def run(cfg: PerfConfig, graph_video: GraphRun, graph_webcam: GraphRun, progress: Any = print) -> dict[str, Any]:
    """Every figure on the same frames; the graph runs are given by the caller (they start `ros-detect launch`)."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    frames = load_frames(cfg.input, cfg.frames)
    cfg = dataclasses.replace(cfg, frames=len(frames))
    progress(
        f"bench-pipeline: {len(frames)} frames of {cfg.input}; precision {cfg.precision}, proposals {cfg.proposals}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        alone = detector_alone(cfg, cfg.precision, frames, profile_frames=cfg.profile_frames)
        trained = alone["trained"]
        p50 = alone["latency_ms"]["p50"]
        progress(f"  detector alone: {alone['fps']:.2f} fps (p50 {p50} ms), weights {alone['weights']}")
        seed = detector_alone(cfg, "seed", frames[: cfg.seed_frames], warmup=1)
        progress(f"  seed setup    : {seed['fps']:.3f} fps (p50 {seed['latency_ms']['p50']} ms)")
        video = graph_video(cfg, trained, work)
        progress(
            f"  graph video   : {video['fps_steady']} fps steady, {video['main_person_messages']}/{cfg.frames} results"
        )
        webcam = graph_webcam(cfg, trained, work)
        lat = webcam["capture_to_main_person_ms"]
        progress(f"  graph webcam  : capture->main_person p50 {lat['p50']} ms, p99 {lat['p99']} ms")
        # the detector alone again: the graph is compared with both runs around it (shared machines drift)
        after = detector_alone(cfg, cfg.precision, frames)
        progress(f"  detector alone, after the graph runs: {after['fps']:.2f} fps")
        alone = {**alone, "fps_before": alone["fps"], "fps_after": after["fps"]}
        alone["fps"] = round(2 / (1 / alone["fps_before"] + 1 / alone["fps_after"]), 3)  # mean time per frame
        guard = accuracy_guard(cfg, frames[: min(8, len(frames))], trained)
    checks = _checks(alone, seed, video, webcam, guard, cfg)
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()},
        "weights": alone["weights"],
        "proposals": alone["proposals"],
        "forced_trained_like_proposals": alone["forced_proposals"],
        "detector_alone": alone,
        "seed": seed,
        "graph_video": video,
        "graph_webcam": webcam,
        "accuracy_guard": guard,
        "checks": checks,
    }
    from ros_detect.bench.precision import machine_info

    report["machine"] = machine_info()
    (cfg.out_dir / "pipeline.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def _checks(alone: dict, seed: dict, video: dict, webcam: dict, guard: dict, cfg: PerfConfig) -> list[dict[str, Any]]:
    graph_fps = video["fps_steady"] or 0.0
    lat = webcam["capture_to_main_person_ms"]["p50"] or float("nan")
    det_p50 = webcam["detector_inference_ms"]["p50"] or float("nan")  # the same run's detector, same load
    rows = [
        ("video graph fps (all frames, process per node)", graph_fps, ">= 15", graph_fps >= 15),
        ("graph fps / seed fps", graph_fps / seed["fps"], ">= 30x", graph_fps / seed["fps"] >= 30),
        ("graph fps / detector-alone fps", graph_fps / alone["fps"], ">= 0.95", graph_fps / alone["fps"] >= 0.95),
        ("webcam p50 capture->main_person / detector p50", lat / det_p50, "<= 1.3", lat / det_p50 <= 1.3),
        (
            "frames in == results out (video)",
            video["main_person_messages"],
            f"== {cfg.frames}",
            video["main_person_messages"] == cfg.frames,
        ),
    ]
    out = [{"figure": n, "value": round(float(v), 3), "target": t, "met": bool(ok)} for n, v, t, ok in rows]
    if "sqnr_db" in guard:
        value = guard["sqnr_db"].get("all", float("nan"))
        out.append(
            {
                "figure": "feature SQNR vs fp32 (dB)",
                "value": round(value, 2) if np.isfinite(value) else value,
                "target": f">= {INT8_FEATURE_SQNR_MIN_DB:g}",  # the int8 fidelity bound of the quantisation tests
                "met": bool(value >= INT8_FEATURE_SQNR_MIN_DB),
            }
        )
    elif "fraction_iou_ge_0.9" in guard:
        value = guard["fraction_iou_ge_0.9"] or 0.0
        out.append(
            {
                "figure": "frames with main-person IoU >= 0.9 vs fp32",
                "value": value,
                "target": ">= 0.95",
                "met": bool(value >= 0.95),
            }
        )
    return out


def print_checks(report: dict[str, Any], out: Any = print) -> None:
    forced = report["forced_trained_like_proposals"]
    machine = report.get("machine") or {}
    if machine:  # figures from CPUs with different ISAs are never comparable
        out(f"machine: {isa_label(machine)}")
    out(f"weights: {report['weights']} | proposals {report['proposals']} (forced trained-like load: {forced})")
    head = report["detector_alone"].get("head_variant")
    if head:
        out(f"scheme: {report['detector_alone']['precision']}, box head {head} (chosen by the CPU's ISA)")
    out(f"{'figure':52s} {'value':>10s}  {'target':>8s}  met")
    for row in report["checks"]:
        out(f"{row['figure']:52s} {row['value']:>10}  {row['target']:>8s}  {'yes' if row['met'] else 'NO'}")
    usage = report["graph_video"].get("cpu")
    if usage:
        out("")
        out(f"where the video graph's CPU goes (ms per result, {usage['results']} results; cores busy "
            f"{usage['cores_busy']} of {machine.get('cores', '?')})")
        for name, ms in sorted(usage["cpu_ms_per_result"].items(), key=lambda item: -item[1]):
            out(f"  {name:24s} {ms:9.1f}  {100 * ms / usage['total_cpu_ms_per_result']:4.0f}%")
    alone = report["detector_alone"]
    if alone.get("profile_error"):
        out(f"no profile of the detector ({alone['profile_error']}); the figures above stand")
    if alone.get("profile") and machine:
        out("")
        for line in profile_table([(alone["precision"], alone["profile"])], machine, alone.get("threads")):
            out(line)
