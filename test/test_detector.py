"""Detector output contract on a random-initialised reference model."""

from __future__ import annotations

import pytest
import torch

from ros_detect import schema
from ros_detect.detection.models import ModelSpec, build_float_model
from ros_detect.detection.weights import RANDOM_INIT_LABEL, resolve_weights
from ros_detect.errors import ConfigError, WeightsError
from ros_detect.media.sources import Frame, resize_to_output
from ros_detect.media.synthetic import render_frame
from ros_detect.pipeline.stages import detect_frame


def test_detector_contract(random_detector):
    frame = resize_to_output(render_frame(0))
    detections, timing = random_detector.detect(frame)
    assert set(timing) == {"preprocess", "inference", "postprocess"}
    assert detections, "score_threshold=0 on a random model should still yield boxes"
    for d in detections:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 <= x2 <= 427 and 0 <= y1 <= y2 <= 240
        assert 0 <= d.score <= 1 and 0 <= d.class_id < 91 and d.label
    assert {d.label for d in detections} <= set(random_detector.categories)


def test_detections_doc_is_schema_valid_and_labelled_untrained(random_detector):
    frame = Frame(seq=5, stamp_ns=1_000, image=resize_to_output(render_frame(5)), decode_ms=1.5, media_time_s=0.2)
    doc, detections = detect_frame(random_detector, frame, "walk")
    schema.validate(doc)
    assert doc["weights"] == RANDOM_INIT_LABEL and not random_detector.trained
    assert doc["image_size"] == [427, 240] and doc["seq"] == 5 and len(doc["detections"]) == len(detections)
    assert doc["timing_ms"]["decode"] == 1.5


def test_model_runs_at_native_resolution(random_detector):
    transform = random_detector.backend.eager_model.transform
    assert (transform.min_size, transform.max_size) == ((240,), 427)
    image = torch.rand(3, 240, 427)
    resized, _ = transform([image])
    assert tuple(resized.image_sizes[0]) == (240, 427), "the model must not upscale 240 -> 800"


@pytest.mark.unit
def test_random_init_is_reproducible():
    a, _ = build_float_model(ModelSpec(weights="none", seed=3))
    b, _ = build_float_model(ModelSpec(weights="none", seed=3))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_checkpoint_round_trip_and_wrong_architecture(tmp_path):
    model, _ = build_float_model(ModelSpec(weights="none", seed=1))
    good = tmp_path / "frcnn.pth"
    torch.save({"model": model.state_dict()}, good)
    loaded, resolved = build_float_model(ModelSpec(weights=str(good)))
    assert resolved.kind == "checkpoint" and resolved.label == "checkpoint:frcnn.pth"
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(loaded.state_dict()[key], model.state_dict()[key])
    wrong = tmp_path / "mobilenet.pth"
    other, _ = build_float_model(ModelSpec(name="fasterrcnn_mobilenet_v3_large_320_fpn", weights="none"))
    torch.save(other.state_dict(), wrong)
    with pytest.raises(WeightsError, match="does not fit model fasterrcnn_resnet50_fpn"):
        build_float_model(ModelSpec(weights=str(wrong)))


@pytest.mark.unit
def test_bad_weights_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        build_float_model(ModelSpec(weights=str(tmp_path / "missing.pth")))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="cannot read weights file"):
        build_float_model(ModelSpec(weights=str(garbage)))


@pytest.mark.unit
def test_default_weights_offline_fail_fast_with_fix(monkeypatch, tmp_path):
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    from ros_detect.detection import weights

    monkeypatch.setattr(weights, "url_reachable", lambda url, timeout_s=3.0: False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError, match="--weights /path/to/"):
        resolve_weights("DEFAULT", FasterRCNN_ResNet50_FPN_Weights)
    assert resolve_weights("auto", FasterRCNN_ResNet50_FPN_Weights).kind == "random"
    cached = tmp_path / "checkpoints" / weights.hub_checkpoint_path(FasterRCNN_ResNet50_FPN_Weights.DEFAULT).name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert resolve_weights("auto", FasterRCNN_ResNet50_FPN_Weights).kind == "pretrained"


def test_url_reachable_is_fast_when_unreachable():
    import time

    from ros_detect.detection.weights import url_reachable

    t0 = time.monotonic()
    assert not url_reachable("http://127.0.0.1:9/x", timeout_s=1.0)  # discard port: refused at once
    assert time.monotonic() - t0 < 2.0


@pytest.mark.unit
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "yolo"}, "unknown model"),
        ({"proposals": 0}, "proposals"),
        ({"score_threshold": 2.0}, "score_threshold"),
        ({"min_size": 500, "max_size": 400}, "min_size"),
    ],
)
def test_bad_model_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_float_model(ModelSpec(weights="none", **kwargs))


@pytest.mark.unit
def test_unknown_precision_and_device(monkeypatch):
    from ros_detect.detection.detector import Detector, DetectorConfig, select_device

    with pytest.raises(ConfigError, match="unknown precision"):
        Detector(DetectorConfig(model=ModelSpec(weights="none"), precision="int3"))
    with pytest.raises(ConfigError, match="unknown device"):
        select_device("tpu")
    # auto follows CUDA's availability; an explicit cuda without CUDA is refused with the fix
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == "cpu" and select_device("") == "cpu" and select_device("CPU") == "cpu"
    with pytest.raises(ConfigError, match="CUDA is not available") as exc:
        select_device("cuda:1")
    assert "device=auto or cpu" in exc.value.fix
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == "cuda" and select_device("cuda:1") == "cuda:1"
