"""One benchmark measurement in a fresh process: `python -m ros_detect.bench.worker JOB.json`.

A fresh process per scheme and thread count makes peak RSS and load time belong to that scheme
alone. The job file names the frames (.npy), the scheme and where to write results.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

T_START = time.perf_counter()

import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from ros_detect.detection.backends.registry import Backend


def _stage_hooks(backend: Backend) -> tuple[dict[str, float], list[Any]] | None:
    """Wall time of the eager model's sub-stages (transform, backbone+FPN, RPN, RoI heads)."""
    model = backend.eager_model
    if model is None or not hasattr(model, "roi_heads"):
        return None
    times: dict[str, float] = {}
    starts: dict[str, float] = {}
    handles = []
    for name in ("transform", "backbone", "rpn", "roi_heads"):
        module = getattr(model, name)

        def pre(_m: Any, _a: Any, name: str = name) -> None:
            starts[name] = time.perf_counter()

        def post(_m: Any, _a: Any, _o: Any, name: str = name) -> None:
            times[name] = times.get(name, 0.0) + (time.perf_counter() - starts[name]) * 1e3

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return times, handles


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from ros_detect.detection.backends.registry import backend_features
    from ros_detect.detection.detector import Detector, DetectorConfig
    from ros_detect.detection.models import ModelSpec
    from ros_detect.media.sources import Frame
    from ros_detect.pipeline.stages import detections_document
    from ros_detect.schema import validate

    import_s = time.perf_counter() - T_START
    frames = np.load(job["frames"])[: job["n_frames"]]
    calib = list(np.load(job["calibration"]))
    spec = ModelSpec(
        weights=job["weights"],
        proposals=job["proposals"],
        force_proposals=job["force_proposals"],
        score_threshold=job["score_threshold"],
    )
    config = DetectorConfig(
        model=spec,
        precision=job["scheme"],
        device=job.get("device", "cpu"),
        threads=job["threads"],
        warmup=job["mode"] == "run",
    )
    t0 = time.perf_counter()
    detector = Detector(config, calibration_frames=lambda: calib)
    backend = detector.backend
    result: dict[str, Any] = {
        "status": "ok",
        "import_s": round(import_s, 3),
        "load_s": round(detector.load_time_s, 3),
        "construct_s": round(time.perf_counter() - t0, 3),
        "warmup_s": round(detector.warmup_time_s, 3),
        "cache_hit": None if backend.cache_entry is None else backend.cache_entry.hit,
        "build_s": None if backend.cache_entry is None else backend.cache_entry.build_s,
        "threads": torch.get_num_threads(),
        "proposals": detector.spec.proposals,
        "model_input": [detector.spec.min_size, detector.spec.max_size],
        "weights": detector.weights_label,
        "trained": detector.trained,
        # the split's box head (int8 with VNNI, fp32 without): figures of two heads are not the same scheme
        "head_variant": getattr(backend, "head_variant", None),
    }
    if job["mode"] == "build":
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result
    hooks = _stage_hooks(backend)
    latency, cpu, stages, substages, outputs = [], [], [], [], []
    for frame in frames:
        if hooks:
            hooks[0].clear()
        c0, t0 = time.process_time(), time.perf_counter()
        dets, timing = detector.detect(frame)
        latency.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        stages.append(timing)
        if hooks:
            substages.append(dict(hooks[0]))
        elif getattr(backend, "stage_ms", None):  # a backend that times its own stages (openvino_split)
            substages.append(dict(backend.stage_ms))
        outputs.append(dets)
    if hooks:
        for h in hooks[1]:
            h.remove()
    first = Frame(seq=0, stamp_ns=time.time_ns(), image=frames[0], decode_ms=0.0)
    validate(detections_document(detector, first, "bench", outputs[0], stages[0]))
    result.update(
        latency_ms=latency,
        cpu_ms=cpu,
        stages_ms=stages,
        substages_ms=substages,
        schema_valid=True,
        size_bytes=backend.size_bytes(),
    )
    arrays: dict[str, np.ndarray] = {}
    for i, dets in enumerate(outputs):
        arrays[f"boxes_{i}"] = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        arrays[f"scores_{i}"] = np.array([d.score for d in dets], np.float32)
        arrays[f"labels_{i}"] = np.array([d.class_id for d in dets], np.int64)
    for i in range(min(job.get("feature_frames", 0), len(frames))):
        feats = backend_features(backend, frames[i])
        for k, v in (feats or {}).items():
            arrays[f"feat_{i}_{k}"] = v.astype(np.float32)
    np.savez(job["outputs"], **arrays)
    if job.get("coco"):
        from ros_detect.bench.coco import coco_map

        result["coco"] = coco_map(detector, **job["coco"])
    # peak RSS before the profile: its second, profiling instance of the model is not the scheme's footprint
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if job.get("profile_frames"):  # after every timed frame: the profiler never runs during them
        from ros_detect.bench.profile import profile_or_error
        from ros_detect.detection.preprocess import to_model_input

        images = [to_model_input(f, backend.input_kind) for f in frames[: job["profile_frames"]]]
        result["profile"], result["profile_error"] = profile_or_error(backend, images)
    return result


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    from ros_detect.errors import RosDetectError

    try:
        result = run_job(job)
    except RosDetectError as exc:
        result = {"status": "unsupported", "error": exc.problem, "fix": exc.fix}
    except Exception as exc:  # recorded in the report; the benchmark goes on with the next scheme
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500], "trace": traceback.format_exc()}
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
