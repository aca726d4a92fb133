"""`ros-detect bench --smoke` end to end, and the agreement/accuracy measures it reports."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ros_detect.bench.coco import coco_map
from ros_detect.bench.metrics import (
    FrameOutput,
    detection_map_vs_reference,
    feature_sqnr,
    main_person_agreement,
    main_person_track,
    proxy_person_class,
    sqnr_db,
)
from ros_detect.bench.precision import resummarise
from ros_detect.bench.profile import STAGES
from ros_detect.schema import Detection


def test_bench_smoke_writes_table_json_csv_plot(tmp_path):
    out = tmp_path / "bench"
    env = {**os.environ, "ROS_DETECT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "ros_detect.cli", "bench", "--smoke", "-o", str(out), "--schemes", "fp32,int8-dynamic"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,  # a bound, not a wait: the loaded 2-core machine has taken 7 min
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "forced trained-like proposal load: True" in proc.stdout and "proposals 100" in proc.stdout
    assert "NOT accuracy" in proc.stdout and "x seed" in proc.stdout
    report = json.loads((out / "results.json").read_text())
    assert report["machine"]["cores"] == os.cpu_count() and report["force_proposals"] is True
    by_name = {v["name"]: v for v in report["variants"]}
    assert set(by_name) == {"fp32", "int8-dynamic"}
    for v in by_name.values():
        assert v["status"] == "ok" and v["schema_valid"] is True
        assert v["latency_ms"]["p50"] > 0 and v["peak_rss_mb"] > 100 and v["size_mb"] > 10
        assert v["load"]["cached_load_s"] > 0
        assert "head_variant" in v and v["head_variant"] is None  # only the split openvino-int8 has a box head variant
        assert len(v["agreement"]["per_frame_iou"]) == report["frames"] == 2
    # the backend's own profile (torch.profiler module scopes for these eager schemes), grouped by stage
    for v in by_name.values():
        profile = v["profile"]
        assert profile["profiler"] == "torch.profiler modules" and profile["frames"] == 1
        assert set(profile["stages_ms"]) == set(STAGES) and profile["total_ms"] > 0
        for stage in ("backbone", "fpn", "rpn", "roi_align", "box_head", "postprocess"):
            assert profile["stages_ms"][stage] > 0, (v["name"], stage, profile["stages_ms"])
        assert profile["top_nodes"] and all(n["stage"] in STAGES for n in profile["top_nodes"])
    assert "where inference time goes" in proc.stdout and "ISA " in proc.stdout
    fp32 = by_name["fp32"]
    assert fp32["speedup_vs_fp32"] == 1.0 and fp32["detection_map_vs_fp32"]["map"] == pytest.approx(1.0)
    assert fp32["agreement"]["match_fraction"] == 1.0
    assert by_name["int8-dynamic"]["load"]["cache_hit_at_start"] is False  # cold build measured in this run
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["variant"] for r in rows] == ["fp32", "int8-dynamic"]
    assert float(rows[0]["profile_roi_align_ms"]) > 0 and "head_variant" in rows[0]
    png = (out / "latency_vs_agreement.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    again = resummarise(out, progress=lambda _line: None)  # summaries are reproducible from the raw runs
    assert [v["latency_ms"] for v in again["variants"]] == [v["latency_ms"] for v in report["variants"]]


def _out(boxes, scores, labels) -> FrameOutput:
    return FrameOutput(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), np.array(labels))


@pytest.mark.unit
def test_sqnr_values():
    ref = np.ones(100)
    assert sqnr_db(ref, ref) == math.inf
    assert sqnr_db(ref, ref * 1.1) == pytest.approx(20.0)  # noise 0.1 of the signal amplitude
    feats = [{"a": np.ones((2, 2)), "b": np.ones(3)}]
    assert feature_sqnr(feats, [{"a": np.ones((2, 2)) * 1.01, "b": np.ones(3)}])["a"] == pytest.approx(40.0)
    assert feature_sqnr(feats, [{"a": np.ones((3, 2)), "b": np.ones(3)}]) == {}, "different shapes: not comparable"


@pytest.mark.unit
def test_main_person_agreement_counts_matches_and_iou():
    frames = [_out([[100, 20, 200, 230]], [0.9], [1]), _out([[100, 20, 200, 230]], [0.9], [1])]
    shifted = [_out([[100, 20, 200, 230]], [0.9], [1]), _out([[150, 20, 250, 230]], [0.9], [1])]
    ref_track = main_person_track(frames, (427, 240), 1, 0.5)
    other_track = main_person_track(shifted, (427, 240), 1, 0.5)
    agreement = main_person_agreement(ref_track, other_track)
    assert agreement["per_frame_iou"][0] == 1.0 and agreement["per_frame_iou"][1] < 0.9
    assert agreement["frames_with_main_person_ref"] == 2
    empty = main_person_agreement([None, [0, 0, 10, 10]], [None, None])
    assert empty["match_fraction"] == 0.5 and empty["per_frame_iou"] == [None, 0.0]


@pytest.mark.unit
def test_proxy_class_is_person_with_real_weights_else_reference_majority():
    outs = [_out([[0, 0, 5, 5]] * 3, [0.3] * 3, [7, 7, 3])]
    assert proxy_person_class(outs, trained=True) == 1
    assert proxy_person_class(outs, trained=False) == 7


@pytest.mark.unit
def test_detection_map_vs_reference():
    ref = [_out([[10, 10, 100, 200], [200, 30, 300, 220]], [0.9, 0.8], [1, 3])]
    assert detection_map_vs_reference(ref, ref, 0.5)["map"] == pytest.approx(1.0)
    worse = [_out([[10, 10, 100, 200], [250, 30, 350, 220]], [0.9, 0.8], [1, 3])]
    assert detection_map_vs_reference(ref, worse, 0.5)["map"] < 0.6


class _StubDetector:
    """Returns fixed boxes in letterboxed 427x240 coordinates."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, frame):
        assert frame.shape == (240, 427, 3)
        return [Detection(tuple(b), 0.9, 1, "person") for b in self.boxes], {}


@pytest.mark.unit
def test_coco_map_maps_letterboxed_boxes_back(tmp_path):
    # 640x480 image -> scale 0.5, letterboxed with 53 px side bars (427 - 320) // 2.
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((480, 640, 3), np.uint8))
    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 40, 200, 400], "area": 80000, "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(annotations))
    detector = _StubDetector([[53 + 50, 20, 53 + 150, 220]])
    result = coco_map(detector, str(tmp_path), str(tmp_path / "ann.json"))
    assert result["map_person"] == pytest.approx(1.0) and result["images"] == 1
    miss = coco_map(_StubDetector([[0, 0, 40, 40]]), str(tmp_path), str(tmp_path / "ann.json"))
    assert miss["map_person"] == 0.0
