"""The benchmark's backend profile: node names of every runtime -> model stages, and the tables that show it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ros_detect.bench.profile import (
    STAGES,
    group_by_stage,
    isa_label,
    markdown_table,
    profile_backend,
    profile_or_error,
    profile_table,
    split_by_isa,
    stage_of,
    summarise,
)
from ros_detect.detection.backends.eager import exclusive_scope_times
from ros_detect.detection.backends.onnxruntime import trace_node_times
from ros_detect.detection.backends.registry import ProfiledNode

pytestmark = pytest.mark.unit

# Node names as each runtime reports them (OpenVINO PERF_COUNT of the split front/head and of the single
# exported graph, ONNX Runtime's profiling trace, torch.profiler module scopes, the split's host stages).
NAMES = {
    "backbone": [
        "/backbone/body/layer2/layer2.1/conv3/Conv/WithoutBiases",  # openvino-int8 front
        "/detector/backbone/body/conv1/Conv",  # legacy graph, onnx-fp32
        "/detector/backbone/body/layer1/layer1.0/relu_2/Relu/fq_output_0",
        "backbone.body.layer4.0.downsample.0",  # torch module
        "backbone",  # int8-static's FX graph module: its own (quantise/dequantise) time
        "/backbone/body/layer3/layer3.0/conv1/Conv/WithoutBiases",  # legacy graph (OpenVINO)
    ],
    "fpn": [
        "/backbone/fpn/layer_blocks.0/layer_blocks.0.0/Conv/WithoutBiases",
        "/backbone/fpn/Resize_2",
        "/detector/backbone/fpn/extra_blocks/MaxPool",
        "backbone.fpn.inner_blocks.0.0",
        "fpn_0_original",  # the legacy graph's P2 conv, named after the FPN output it also exports
        "fpn_0_nchwc",  # the same in ONNX Runtime
    ],
    "rpn": [
        "/rpn/head/conv/conv.0/conv.0.0_1/Conv/WithoutBiases",
        "/rpn/head/bbox_pred/Conv/WithoutBiases",  # the RPN's bbox_pred is not the box head's
        "/detector/rpn/anchor_generator/ConstantOfShape",
        "/rpn/Add_2/fq_output_0",  # an OpenVINO fused node under the name of the layer it holds
        "rpn.head.bbox_pred",
        "rpn",
        "/rpn/head/conv/conv.0/conv.0.1/Relu_output_0_nchwc",  # ONNX Runtime's layout-converted conv
    ],
    "roi_align": [
        "/detector/roi_heads/box_roi_pool/RoiAlign_1",
        "/detector/roi_heads/box_roi_pool/ScatterElements",
        "/detector/roi_heads/box_roi_pool/NonZero_2",
        "roi_heads.box_roi_pool",
        "roi_align",  # the split pipeline's host stage
        "/roi_heads/box_roi_pool/ScatterElements_1",  # legacy graph (OpenVINO)
    ],
    "box_head": [
        "/box_head/fc6/MatMul/DequantizationMultiply",  # split head (OpenVINO)
        "/box_predictor/cls_score/MatMul/DequantizationMultiply",
        "rows/fq_output_0",  # the split head quantising its input rows
        "/detector/roi_heads/box_head/fc6/Gemm",
        "/detector/roi_heads/box_predictor/bbox_pred/Gemm",
        "roi_heads.box_head.fc7",
        "roi_heads.box_predictor.cls_score",
        "/roi_heads/box_head/fc6/Gemm",  # legacy graph (OpenVINO)
        "fused /roi_heads/box_head/fc6/Gemm",  # ONNX Runtime
    ],
    "postprocess": [
        "/detector/roi_heads/NonMaxSuppression",
        "/detector/roi_heads/Softmax",
        "roi_heads",  # the torch module's own time: postprocess_detections
        "postprocess",  # the split pipeline's host stage
    ],
    "other": [
        "/detector/transform/Sub",
        "transform",
        "detector",
        "image",
        "Multiply_19475",
        "If_1765",
        "/Concat_5",
        "reorder_token_12",
    ],
}


@pytest.mark.parametrize("stage", list(NAMES))
def test_stage_of_maps_every_runtimes_node_names(stage: str):
    assert stage in STAGES
    wrong = {name: stage_of(name) for name in NAMES[stage] if stage_of(name) != stage}
    assert not wrong, f"expected {stage}: {wrong}"


def test_group_by_stage_sums_ms_and_lists_every_stage():
    nodes = [ProfiledNode(n, 1.5) for names in NAMES.values() for n in names]
    grouped = group_by_stage(nodes)
    assert list(grouped) == list(STAGES)
    assert grouped == {stage: pytest.approx(1.5 * len(NAMES[stage])) for stage in STAGES}
    assert group_by_stage([])["other"] == 0.0


def _event(cat: str, name: str, ts: int, dur: int, op: str = "") -> dict:
    return {"cat": cat, "name": name, "ts": ts, "dur": dur, "ph": "X", "args": {"op_name": op} if op else {}}


def test_onnxruntime_trace_split_per_run_without_control_flow_double_counting():
    trace = [
        _event("Session", "model_loading_uri", 0, 500),
        _event("Session", "model_run", 1000, 900),
        _event("Node", "/detector/backbone/body/conv1/Conv_fence_before", 1010, 0, "Conv"),
        _event("Node", "/detector/backbone/body/conv1/Conv_kernel_time", 1010, 400, "FusedConv"),
        _event("Node", "/detector/roi_heads/If_3_kernel_time", 1500, 300, "If"),  # its subgraph's nodes follow
        _event("Node", "/detector/roi_heads/box_roi_pool/RoiAlign_kernel_time", 1510, 250, "RoiAlign"),
        _event("Session", "model_run", 3000, 500),
        _event("Node", "/detector/backbone/body/conv1/Conv_kernel_time", 3010, 300, "FusedConv"),
    ]
    runs = trace_node_times(trace)
    assert [[(n.name, n.ms, n.kind) for n in run] for run in runs] == [
        [
            ("/detector/backbone/body/conv1/Conv", 0.4, "FusedConv"),
            ("/detector/roi_heads/box_roi_pool/RoiAlign", 0.25, "RoiAlign"),
        ],
        [("/detector/backbone/body/conv1/Conv", 0.3, "FusedConv")],
    ]
    assert group_by_stage(runs[0])["roi_align"] == pytest.approx(0.25)


def _scope(name: str, start: int, end: int) -> SimpleNamespace:
    return SimpleNamespace(name=name, time_range=SimpleNamespace(start=start, end=end))


def test_torch_scope_times_exclude_nested_scopes():
    events = [
        _scope("module:detector", 0, 10_000),
        _scope("module:backbone", 100, 6_100),
        _scope("module:backbone.body", 100, 4_100),
        _scope("aten::conv2d", 200, 300),  # torch's own events are not scopes
        _scope("module:roi_heads", 7_000, 9_000),
        _scope("module:roi_heads.box_roi_pool", 7_000, 7_500),
        _scope("module:roi_heads.box_head.fc6", 7_500, 8_000),
        _scope("module:roi_heads.box_head.fc6", 8_000, 8_200),  # a module called twice: summed
    ]
    own = {n.name: n.ms for n in exclusive_scope_times(events, "module:")}
    assert own == pytest.approx(
        {
            "detector": 10.0 - 6.0 - 2.0,
            "backbone": 2.0,
            "backbone.body": 4.0,
            "roi_heads": 2.0 - 0.5 - 0.7,
            "roi_heads.box_roi_pool": 0.5,
            "roi_heads.box_head.fc6": 0.7,
        }
    )


MACHINE_AVX2 = {"cpu": "AMD EPYC", "cores": 2, "isa": ["avx2"]}
MACHINE_VNNI = {"cpu": "AMD EPYC", "cores": 2, "isa": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]}


def test_summary_and_tables_name_the_isa():
    raw = {
        "profiler": "openvino PERF_COUNT + host",
        "per_frame_ms": [
            {**dict.fromkeys(STAGES, 0.0), "backbone": 60.0, "roi_align": 5.0, "box_head": 35.0},
            {**dict.fromkeys(STAGES, 0.0), "backbone": 80.0, "roi_align": 7.0, "box_head": 13.0},
        ],
    }
    summary = summarise(raw)
    assert summary["stages_ms"]["backbone"] == 70.0 and summary["total_ms"] == 100.0  # medians per stage
    assert summary["share"]["roi_align"] == pytest.approx(0.06)
    lines = profile_table([("openvino-int8", summary)], MACHINE_AVX2, 2)
    assert "ISA avx2" in lines[0] and "2 threads" in lines[0]
    assert lines[2].startswith("openvino-int8") and "70.0" in lines[2]
    md = markdown_table([("openvino-int8", summary)], MACHINE_VNNI)
    assert "avx512_vnni" in md[0] and "| roi_align | 6.0 ms (6 %) |" in md
    assert isa_label({"cpu": "x", "cores": 4, "isa": []}) == "x, 4 cores, ISA unknown"


def test_split_by_isa_never_puts_two_isas_in_one_group():
    reports = [{"machine": MACHINE_AVX2, "n": 1}, {"machine": MACHINE_VNNI, "n": 2}, {"machine": MACHINE_AVX2, "n": 3}]
    groups = split_by_isa(reports)
    assert [[r["n"] for r in g] for g in groups.values()] == [[1, 3], [2]]
    assert next(iter(groups)) == "avx2"


class _StubBackend:
    profiler = "stub"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def profile(self, images):
        if self.fail:
            raise RuntimeError("PERF_COUNT unsupported")
        return [[ProfiledNode("/backbone/body/conv1/Conv", 4.0, "Convolution"), ProfiledNode("roi_align", 1.0)]]


def test_profile_backend_records_stages_and_top_nodes_and_a_failure_loses_nothing():
    raw = profile_backend(_StubBackend(), ["image"])
    assert raw["profiler"] == "stub" and raw["per_frame_ms"][0]["backbone"] == 4.0
    assert raw["top_nodes"][0] == {
        "name": "/backbone/body/conv1/Conv",
        "kind": "Convolution",
        "stage": "backbone",
        "ms": 4.0,
    }
    assert profile_backend(object(), ["image"]) is None, "a backend without a profiler hook has no profile"
    assert profile_or_error(_StubBackend(fail=True), ["image"]) == (None, "RuntimeError: PERF_COUNT unsupported")
