"""bench/roofline.py: MACs per model stage, achieved rate against the measured peak, the frame-rate ceiling."""

from __future__ import annotations

import pytest

from ros_detect.bench.roofline import best_stage_ms, macs_by_stage, roofline, roofline_table


@pytest.mark.unit
def test_roofline_rates_floors_and_ceilings() -> None:
    macs = {"backbone": 10.0, "fpn": 5.0, "rpn": 5.0, "box_head": 4.0}
    stage_ms = {"backbone": 40.0, "fpn": 20.0, "rpn": 25.0, "roi_align": 5.0, "box_head": 20.0, "postprocess": 2.0}
    report = roofline(macs, stage_ms, peak_conv=400.0, peak_fc=200.0)
    backbone, head = report["stages"]["backbone"], report["stages"]["box_head"]
    assert backbone == {"gmac": 10.0, "ms": 40.0, "gmac_per_s": 250.0, "of_peak": 0.625, "floor_ms": 25.0}
    assert head["gmac_per_s"] == 200.0 and head["of_peak"] == 1.0 and head["floor_ms"] == 20.0  # against fc6's rate
    assert report["compute_floor_ms"] == 25.0 + 12.5 + 12.5 + 20.0 and report["fps_ceiling_compute"] == 14.29
    assert report["other_stages_ms"] == 7.0 and report["fps_ceiling_with_other_stages"] == round(1e3 / 77.0, 2)
    lines = roofline_table(report, "test CPU, ISA avx2")
    assert "test CPU, ISA avx2" in lines[0] and any(line.startswith("box_head") for line in lines)
    assert "at most 14.3 fps" in lines[-1]


@pytest.mark.unit
def test_best_stage_ms_takes_each_stage_fastest_frame() -> None:
    frames = [{"backbone": 30.0, "rpn": 9.0}, {"backbone": 27.0, "rpn": 12.0}]
    assert best_stage_ms(frames) == {"backbone": 27.0, "rpn": 9.0}


def test_macs_of_the_reference_model_at_300_forced_proposals() -> None:
    import torch

    from ros_detect.detection.models import ModelSpec, build_float_model

    model, _ = build_float_model(ModelSpec(weights="none", proposals=300, force_proposals=True))
    macs = macs_by_stage(model, torch.rand(3, 240, 427))
    # the box head is exact arithmetic: 300 RoIs x (fc6 12544x1024 + fc7 1024x1024 + cls 1024x91 + bbox 1024x364)
    assert macs["box_head"] == pytest.approx(300 * (12544 + 1024 + 91 + 364) * 1024 / 1e9)
    assert macs["backbone"] == pytest.approx(9.34, abs=0.05)  # ResNet-50 on the padded 256x448 input
    assert macs["fpn"] > 5 and macs["rpn"] > 5
