"""How close each model stage runs to what this CPU can do: multiply-accumulates per stage over its profiled time,
against the int8 rate the CPU reaches on the model's own layer shapes.

The MACs come from torch's FlopCounterMode on the float model with the deployed proposal count (2 FLOPs =
1 MAC); the time per stage from the backend's own profile (bench/profile.py), its fastest frame. The peak is
measured (fastest of repeated runs), not taken from a data sheet: OpenVINO int8 (NNCF) on the two shapes
that carry most of the work, the 3x3 256->256 convolution on the P2 level (FPN output and RPN head) and fc6
(RoIs x 12544 -> 1024). The floor of a stage is its MACs at that rate; the sum of the floors bounds the
frame rate of the whole model on this CPU.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# stage -> the model's modules whose MACs it holds (RoIAlign and postprocess do no multiply-accumulates)
STAGE_MODULES = {
    "backbone": ("backbone.body",),
    "fpn": ("backbone.fpn",),
    "rpn": ("rpn",),
    "box_head": ("roi_heads.box_head", "roi_heads.box_predictor"),
}
CONV_STAGES = ("backbone", "fpn", "rpn")  # measured against the int8 convolution rate; box_head against fc6's
P2_SHAPE = (256, 64, 112)  # channels, H, W of the P2 level for the padded 256x448 input
FC6_SHAPE = (12544, 1024)  # in, out features of the box head's first layer


def macs_by_stage(model: Any, image: Any) -> dict[str, float]:
    """GMAC of each stage for one image through the float model (eval mode)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, depth=None)
    with torch.no_grad(), counter:
        model([image])
    # keys are module paths under the root module's class name ("FasterRCNN.backbone.body")
    counts = {key.split(".", 1)[1]: sum(ops.values()) for key, ops in counter.get_flop_counts().items() if "." in key}
    return {stage: sum(counts.get(m, 0) for m in modules) / 2e9 for stage, modules in STAGE_MODULES.items()}


def roofline(macs: dict[str, float], stage_ms: dict[str, float], peak_conv: float, peak_fc: float) -> dict[str, Any]:
    """Per stage: GMAC, profiled ms, achieved GMAC/s, its share of the peak, and the floor in ms; then the
    totals: the model's compute floor and the frame rate it allows, and the floor plus what the profile shows
    for the stages without MACs (RoIAlign, postprocess, other)."""
    stages: dict[str, Any] = {}
    for stage, gmac in macs.items():
        peak = peak_conv if stage in CONV_STAGES else peak_fc
        ms = stage_ms.get(stage, 0.0)
        achieved = gmac / ms * 1e3 if ms > 0 else None
        stages[stage] = {
            "gmac": round(gmac, 3),
            "ms": round(ms, 2),
            "gmac_per_s": round(achieved, 1) if achieved else None,
            "of_peak": round(achieved / peak, 3) if achieved else None,
            "floor_ms": round(gmac / peak * 1e3, 2),
        }
    floor = sum(s["floor_ms"] for s in stages.values())
    rest = sum(ms for stage, ms in stage_ms.items() if stage not in macs)
    return {
        "peak_gmac_per_s": {"int8_conv3x3_p2": round(peak_conv, 1), "int8_fc6": round(peak_fc, 1)},
        "stages": stages,
        "total_gmac": round(sum(macs.values()), 3),
        "profiled_ms": round(sum(stage_ms.values()), 2),
        "compute_floor_ms": round(floor, 2),
        "fps_ceiling_compute": round(1e3 / floor, 2) if floor else None,
        "other_stages_ms": round(rest, 2),
        "fps_ceiling_with_other_stages": round(1e3 / (floor + rest), 2) if floor + rest else None,
    }


def _best_ms(request: Any, inputs: dict[str, np.ndarray], runs: int) -> float:
    """The fastest of `runs` (after 3 warm-up runs): the rate the CPU reaches when nothing else gets in the way,
    compared with the fastest profiled frame (best_stage_ms) so that both sides see the same conditions."""
    for _ in range(3):
        request.infer(inputs)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        request.infer(inputs)
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def best_stage_ms(per_frame_ms: list[dict[str, float]]) -> dict[str, float]:
    """Each stage's fastest time over the profiled frames (bench/profile.py's per_frame_ms)."""
    return {stage: min(frame.get(stage, 0.0) for frame in per_frame_ms) for stage in per_frame_ms[0]}


def measure_int8_peaks(threads: int, rois: int = 300, runs: int = 30) -> dict[str, float]:
    """GMAC/s of OpenVINO int8 (NNCF-quantised) on two 3x3 convolutions over the P2 level and on fc6 with
    `rois` rows, LATENCY hint, `threads` threads: the rates the deployed model's layers can reach here."""
    import nncf
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}

    def int8_rate(model: Any, shape: tuple[int, ...], gmac: float) -> float:
        samples = [rng.random(shape, dtype=np.float32) for _ in range(4)]
        quantised = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples))
        request = core.compile_model(quantised, "CPU", config).create_infer_request()
        return gmac / _best_ms(request, {0: samples[0]}, runs) * 1e3

    c, h, w = P2_SHAPE
    x = ops.parameter([1, c, h, w], ov.Type.f32)
    y = x
    for _ in range(2):  # two layers: the second runs on int8 input as inside the model
        weight = ops.constant((rng.standard_normal((c, c, 3, 3)) * 0.05).astype(np.float32))
        y = ops.relu(ops.convolution(y, weight, [1, 1], [1, 1], [1, 1], [1, 1]))
    conv = int8_rate(ov.Model([y], [x]), (1, c, h, w), 2 * h * w * c * c * 9 / 1e9)

    k, n = FC6_SHAPE
    rows = ops.parameter([rois, k], ov.Type.f32)
    weight = ops.constant((rng.standard_normal((n, k)) * 0.01).astype(np.float32))
    fc = int8_rate(ov.Model([ops.relu(ops.matmul(rows, weight, False, True))], [rows]), (rois, k), rois * k * n / 1e9)
    return {"conv": conv, "fc": fc}


def roofline_table(report: dict[str, Any], isa: str) -> list[str]:
    """Printed lines: per stage GMAC, ms, GMAC/s, % of peak, floor; then the ceilings and the target."""
    peaks = report["peak_gmac_per_s"]
    lines = [
        f"roofline on {isa}: int8 peak measured {peaks['int8_conv3x3_p2']:.0f} GMAC/s (3x3 conv, P2) / "
        f"{peaks['int8_fc6']:.0f} GMAC/s (fc6)",
        f"{'stage':10} {'GMAC':>7} {'ms':>8} {'GMAC/s':>8} {'of peak':>8} {'floor ms':>9}",
    ]
    for stage, s in report["stages"].items():
        rate = f"{s['gmac_per_s']:8.0f}" if s["gmac_per_s"] else f"{'-':>8}"
        share = f"{100 * s['of_peak']:7.0f}%" if s["of_peak"] else f"{'-':>8}"
        lines.append(f"{stage:10} {s['gmac']:7.2f} {s['ms']:8.1f} {rate} {share} {s['floor_ms']:9.1f}")
    lines.append(
        f"{'total':10} {report['total_gmac']:7.2f} {report['profiled_ms']:8.1f} {'':8} {'':8} "
        f"{report['compute_floor_ms']:9.1f}"
    )
    lines.append(
        f"compute floor {report['compute_floor_ms']:.1f} ms = at most {report['fps_ceiling_compute']:.1f} fps; with "
        f"the stages without MACs as profiled (+{report['other_stages_ms']:.1f} ms) at most "
        f"{report['fps_ceiling_with_other_stages']:.1f} fps"
    )
    return lines
