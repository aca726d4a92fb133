"""Every precision scheme builds, runs, keeps the output schema, stays close to fp32, reloads from cache.

Random-init weights (no downloads here): closeness is numerical fidelity to fp32, not accuracy.
Models are built once into a module-scoped cache directory, with 2 calibration frames.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_detect.bench.metrics import INT8_FEATURE_SQNR_MIN_DB, box_iou, feature_sqnr
from ros_detect.detection.backends.calibration import (
    calibration_frames,
    frames_from_video,
    frames_identity,
    synthetic_frames,
)
from ros_detect.detection.backends.eager import cpu_has_bf16
from ros_detect.detection.backends.openvino_split import head_variant
from ros_detect.detection.backends.registry import SCHEMES, Backend, backend_features
from ros_detect.detection.cpu_isa import cpu_flags
from ros_detect.detection.detector import Detector, DetectorConfig, sane_rows
from ros_detect.detection.models import ModelSpec
from ros_detect.detection.preprocess import to_model_input
from ros_detect.errors import ConfigError
from ros_detect.media.synthetic import generate_clip
from ros_detect.schema import Detection, detections_doc, validate

SPEC = ModelSpec(weights="none", proposals=100, force_proposals=True, score_threshold=0.05)
# Feature-level SQNR vs fp32 (backbone + FPN outputs, random-init weights). int8 keeps ~8 bits of
# signal per tensor (~40 dB at best); the chain of ~50 quantised convs costs a few dB per stage.
SQNR_MIN_DB = {
    "int8-static": INT8_FEATURE_SQNR_MIN_DB,
    "onnx-int8": INT8_FEATURE_SQNR_MIN_DB,
    "openvino-int8": INT8_FEATURE_SQNR_MIN_DB,
    "openvino-int8-legacy": INT8_FEATURE_SQNR_MIN_DB,
    "onnx-fp32": 60.0,  # exporting must not change the float graph's numbers
    "openvino-fp32": 60.0,
    "openvino-fp32-split": 60.0,
}
OPENVINO = ["openvino-fp32", "openvino-fp32-split", "openvino-int8", "openvino-int8-legacy"]
CACHED = ["int8-dynamic", "int8-static", "onnx-fp32", "onnx-int8", *OPENVINO]
EXPORTED = ["onnx-fp32", "onnx-int8", *OPENVINO]  # run the exported graph(s), numpy input
FLOAT_EXPORTS = ("onnx-fp32", "openvino-fp32", "openvino-fp32-split")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROS_DETECT_CACHE", str(tmp_path_factory.mktemp("quant-cache")))
        yield


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(1)


@pytest.fixture(scope="module")
def calib():
    frames = synthetic_frames(2, start=500)
    return lambda: frames


def _run(detector: Detector, frames: list[np.ndarray]) -> tuple[list[list[Detection]], list[dict]]:
    dets = [detector.detect(f)[0] for f in frames]
    feats = [backend_features(detector.backend, f) for f in frames]
    return dets, feats


@pytest.fixture(scope="module")
def reference(env, frames):
    detector = Detector(DetectorConfig(model=SPEC, precision="fp32", device="cpu", warmup=False))
    return _run(detector, frames)


def _arrays(dets: list[Detection]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([d.box for d in dets], np.float32).reshape(-1, 4),
        np.array([d.score for d in dets], np.float32),
        np.array([d.class_id for d in dets]),
    )


@pytest.mark.parametrize("scheme", CACHED)
def test_scheme_builds_runs_matches_fp32_and_reloads(scheme, env, frames, calib, reference):
    config = DetectorConfig(model=SPEC, precision=scheme, device="cpu", warmup=False)
    detector = Detector(config, calibration_frames=calib)
    backend = detector.backend
    assert isinstance(backend, Backend) and backend.cache_entry is not None and backend.cache_entry.hit is False
    assert backend.input_kind == ("array" if scheme in EXPORTED else "tensor")
    assert (backend.eager_model is None) == (scheme in EXPORTED), "eager schemes expose their module for profiling"
    assert backend.size_bytes() > 1_000_000
    dets, feats = _run(detector, frames)

    # Same output schema as every other scheme.
    assert dets[0], "score threshold 0.05 on a random-init model must leave detections to compare"
    for d in dets[0]:
        assert isinstance(d, Detection) and 0 <= d.box[0] <= d.box[2] <= 427 and 0 <= d.box[1] <= d.box[3] <= 240
    doc = detections_doc(
        seq=0,
        stamp_ns=1,
        frame_id="t",
        image_size=(427, 240),
        model=detector.model_name,
        precision=detector.precision,
        weights=detector.weights_label,
        detections=dets[0],
        timing_ms={"inference": 1.0},
    )
    validate(doc)
    assert doc["precision"] == scheme

    # Close to fp32 at the feature level (stated bounds; int8-dynamic leaves the backbone in fp32).
    sqnr = feature_sqnr(reference[1], feats)["all"]
    assert sqnr >= SQNR_MIN_DB.get(scheme, 60.0), f"{scheme}: FPN SQNR {sqnr:.1f} dB vs fp32"
    if scheme in FLOAT_EXPORTS:  # float export: the same strongest detections as eager fp32
        # (near-tied random-init scores may let a few weak boxes swap places, so compare the top 10)
        ref_boxes, boxes = _arrays(reference[0][0])[0][:10], _arrays(dets[0])[0]
        best = [max(box_iou(r, b) for b in boxes) for r in ref_boxes]
        assert np.mean(np.array(best) > 0.9) >= 0.8, best

    # A second start loads the cached model and gives identical outputs.
    reloaded = Detector(config, calibration_frames=calib)
    assert reloaded.backend.cache_entry.hit is True and reloaded.backend.cache_entry.path == backend.cache_entry.path
    again, _ = _run(reloaded, frames)
    for a, b in zip(dets, again, strict=True):
        for x, y in zip(_arrays(a), _arrays(b), strict=True):
            np.testing.assert_array_equal(x, y)


def test_other_calibration_set_is_a_different_cache_entry(tmp_path, monkeypatch, frames):
    """Two calibration sets give two cache entries side by side, and each loads back as it was built."""
    monkeypatch.setenv("ROS_DETECT_CACHE", str(tmp_path))
    small = ModelSpec(name="fasterrcnn_mobilenet_v3_large_320_fpn", weights="none", proposals=50, score_threshold=0.0)
    config = DetectorConfig(model=small, precision="int8-static", device="cpu", warmup=False)
    sets = {"a": synthetic_frames(2, start=500), "b": synthetic_frames(2, start=900)}
    built = {name: Detector(config, calibration_frames=lambda f=f: f) for name, f in sets.items()}
    entries = {name: d.backend.cache_entry for name, d in built.items()}
    assert all(not e.hit for e in entries.values())
    assert entries["a"].path != entries["b"].path and entries["a"].path.parent == entries["b"].path.parent
    assert sorted(p.name for p in entries["a"].path.parent.iterdir()) == sorted(e.path.name for e in entries.values())
    for name, f in sets.items():
        assert entries[name].meta["calibration"] == frames_identity(f)
        reloaded = Detector(config, calibration_frames=lambda f=f: f)
        assert reloaded.backend.cache_entry.hit and reloaded.backend.cache_entry.path == entries[name].path
        want, got = built[name].detect(frames[0])[0], reloaded.detect(frames[0])[0]
        assert want and [(d.box, d.score) for d in got] == [(d.box, d.score) for d in want]


def test_exported_graph_rejects_other_input_sizes(env, calib):
    detector = Detector(DetectorConfig(model=SPEC, precision="onnx-fp32", device="cpu", warmup=False))
    with pytest.raises(ConfigError, match="427x240"):
        detector.detect(np.zeros((360, 640, 3), np.uint8))


@pytest.mark.unit
def test_exported_schemes_refuse_non_native_model_size(env):
    spec = ModelSpec(weights="none", proposals=100, min_size=320, max_size=569)
    with pytest.raises(ConfigError, match="fixed 427x240"):
        Detector(DetectorConfig(model=spec, precision="openvino-fp32", device="cpu", warmup=False))


def test_bf16_runs_or_refuses_clearly(env, frames):
    config = DetectorConfig(model=SPEC, precision="bf16", device="cpu", warmup=False)
    if cpu_has_bf16():
        detections, _ = Detector(config).detect(frames[0])
        assert all(math.isfinite(d.score) for d in detections)
    else:
        with pytest.raises(ConfigError, match="bf16") as exc:
            Detector(config)
        assert "openvino-int8" in exc.value.fix


@pytest.mark.unit
def test_fp16_is_cuda_only(env):
    with pytest.raises(ConfigError, match="CUDA"):
        Detector(DetectorConfig(model=SPEC, precision="fp16", device="cpu", warmup=False))


@pytest.mark.unit
def test_calibration_frames_come_from_video_or_fall_back(tmp_path):
    clip = generate_clip(tmp_path / "c.mp4", frames=12, size=(640, 360))
    frames = frames_from_video(clip, 3)
    assert len(frames) == 3 and frames[0].shape == (240, 427, 3)
    assert len({frames_identity([f]) for f in frames}) == 3, "frames are spread over the clip"
    fallback = calibration_frames(tmp_path / "missing.mp4", 2)
    assert len(fallback) == 2 and fallback[0].shape == (240, 427, 3)


def test_openvino_empty_result_is_empty(env, frames):
    """Nothing above the threshold must give no detections (OpenVINO fills an empty output with one row
    of uninitialised memory; Detector drops rows no detector can produce)."""
    spec = ModelSpec(weights="none", proposals=100, force_proposals=True, score_threshold=0.99)
    detector = Detector(DetectorConfig(model=spec, precision="openvino-fp32", device="cpu", warmup=False))
    for _ in range(3):
        assert detector.detect(frames[0])[0] == []


def test_split_fp32_gives_the_openvino_fp32_export_detections(env, frames, calib):
    """The split pipeline adds no difference of its own: at f32 it matches the single exported graph."""
    import torch

    def infer(scheme: str) -> tuple[np.ndarray, ...]:
        detector = Detector(DetectorConfig(model=SPEC, precision=scheme, device="cpu", warmup=False), calib)
        return detector.backend.infer(to_model_input(frames[0], "array"))

    whole = infer("openvino-fp32")
    threads = torch.get_num_threads()
    split = infer("openvino-fp32-split")
    assert torch.get_num_threads() == threads, "host ops run on one torch thread without changing the global count"
    assert len(whole[0]) > 10
    np.testing.assert_array_equal(split[2], whole[2])
    np.testing.assert_allclose(split[0], whole[0], atol=1e-2)
    np.testing.assert_allclose(split[1], whole[1], atol=1e-4)


def test_split_int8_box_head_runs_the_kernels_of_this_cpus_variant(env, calib):
    """With VNNI fc6 is quantised for real (an int8 kernel; the single-graph export leaves it a bf16/f32
    FullyConnected); without VNNI the head is f32, which measured faster there (docs/benchmarks.md)."""
    import openvino as ov

    detector = Detector(DetectorConfig(model=SPEC, precision="openvino-int8", device="cpu", warmup=False), calib)
    variant = head_variant(cpu_flags())
    assert detector.backend.head_variant == variant
    assert detector.backend.cache_entry.meta["head"] == variant
    core = ov.Core()
    head = core.read_model(str(detector.backend.cache_entry.path / "head.xml"))
    request = core.compile_model(head, "CPU", {"PERF_COUNT": True}).create_infer_request()
    width = head.input(0).get_partial_shape()[1].get_length()
    request.infer({"rows": np.random.default_rng(0).random((20, width), np.float32)})
    kernels = {p.node_name: p.exec_type for p in request.profiling_info if "fc6" in p.node_name}
    assert kernels
    assert any("i8" in k.lower() for k in kernels.values()) == (variant == "int8"), kernels


@pytest.mark.unit
def test_every_scheme_is_registered_with_a_builder_module():
    import importlib

    for scheme in SCHEMES.values():
        module, function = scheme.builder.split(":")
        assert callable(getattr(importlib.import_module(module), function)), scheme.name
    assert {s.name for s in SCHEMES.values() if s.cached} == set(CACHED)
    assert {"openvino-int8", "openvino-int8-legacy"} <= set(SCHEMES), "the deployed split and the export side by side"


@pytest.mark.unit
def test_rows_no_detector_produces_are_dropped():
    boxes = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [1, 1, 2, 2], [np.nan, 0, 1, 1]], np.float32)
    scores = np.array([0.9, 1.7e30, 0.8, 0.7], np.float32)
    labels = np.array([1, 0, 0, 3])
    assert sane_rows(boxes, scores, labels).tolist() == [True, False, False, False]
