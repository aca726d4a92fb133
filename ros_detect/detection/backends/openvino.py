"""OpenVINO backends on the whole exported graph: openvino-fp32 (the ONNX export read by OpenVINO, f32
precision hint) and openvino-int8-legacy (NNCF post-training quantisation of that model, calibrated).
The deployed openvino-int8 splits the graph instead (openvino_split.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends import export
from ros_detect.detection.backends.cache import CacheEntry, cached_entry
from ros_detect.detection.backends.export import INPUT_NAME, ONNX_FILE, ExportedGraphBackend, graph_input
from ros_detect.detection.backends.registry import BuildContext, ProfiledNode

MODEL_FILE = "model.xml"


def compile_cpu(path: Path, threads: int, precision_hint: str | None, perf_count: bool = False) -> Any:
    """An OpenVINO IR compiled for the CPU in LATENCY mode, one stream; `perf_count` turns on OpenVINO's
    per-node profiler (PERF_COUNT), for the benchmark's profile only: the timed models run without it."""
    import openvino as ov

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if precision_hint:
        config["INFERENCE_PRECISION_HINT"] = precision_hint
    if perf_count:
        config["PERF_COUNT"] = True
    core = ov.Core()
    return core.compile_model(core.read_model(str(path)), "CPU", config)


def scoped_names(compiled: Any) -> dict[str, str]:
    """Runtime node name -> a name with the exporter's module scope ("/rpn/Add_2/fq_output_0") for the nodes
    OpenVINO named anew when it fused them ("Multiply_20418"), from the original layers each one holds."""
    out = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        name = op.get_friendly_name()
        info = op.get_rt_info()
        if "/" in name or "originalLayersNames" not in info:
            continue
        scoped = [n for n in info["originalLayersNames"].astype(str).split(",") if n.startswith("/")]
        if scoped:
            out[name] = scoped[0]
    return out


def node_times(request: Any, names: dict[str, str]) -> list[ProfiledNode]:
    """The last inference of a PERF_COUNT request, node by node (nodes that did not run left out); `names`
    from scoped_names() of its compiled model."""
    return [
        ProfiledNode(
            names.get(p.node_name, p.node_name), p.real_time.total_seconds() * 1e3, f"{p.node_type} / {p.exec_type}"
        )
        for p in request.profiling_info
        if p.real_time.total_seconds() > 0
    ]


class OpenVinoBackend(ExportedGraphBackend):
    profiler = "openvino PERF_COUNT"

    def __init__(self, cache_entry: CacheEntry, threads: int, precision_hint: str | None) -> None:
        self.compile_args = (cache_entry.path / MODEL_FILE, threads, precision_hint)
        self.compiled = compile_cpu(*self.compile_args)
        self.request = self.compiled.create_infer_request()
        self.ports = {o.get_any_name(): o for o in self.compiled.outputs}
        super().__init__(cache_entry, list(self.ports))

    def run(self, image: np.ndarray, names: list[str]) -> list[np.ndarray]:
        self.request.infer({INPUT_NAME: image})
        return [self.request.get_tensor(self.ports[n]).data.copy() for n in names]

    def profile(self, images: list[np.ndarray]) -> list[list[ProfiledNode]]:
        """Per-node times of one inference per image, on a second compiled model with PERF_COUNT on."""
        compiled = compile_cpu(*self.compile_args, perf_count=True)
        request, names = compiled.create_infer_request(), scoped_names(compiled)
        request.infer({INPUT_NAME: graph_input(images[0])})  # warm-up: a new model's first run sets kernels up
        out = []
        for image in images:
            request.infer({INPUT_NAME: graph_input(image)})
            out.append(node_times(request, names))
        return out


def _fp32_model(model: Any, ctx: BuildContext) -> Any:
    import openvino as ov

    return ov.convert_model(str(export.onnx_export_entry(model, ctx).path / ONNX_FILE))


def build_openvino_fp32(model: Any, spec: Any, ctx: BuildContext) -> OpenVinoBackend:
    import openvino as ov

    export.require_exportable(spec, ctx, "openvino-fp32")

    def build(tmp: Path) -> dict[str, Any]:
        ov.save_model(_fp32_model(model, ctx), str(tmp / MODEL_FILE), compress_to_fp16=False)
        return {"scheme": "openvino-fp32", "openvino": ov.__version__}

    return OpenVinoBackend(cached_entry(ctx, "openvino-fp32", build), export.runtime_threads(), "f32")


def build_openvino_int8(model: Any, spec: Any, ctx: BuildContext) -> OpenVinoBackend:
    import openvino as ov

    export.require_exportable(spec, ctx, "openvino-int8-legacy")

    def quantize(tmp: Path, calibration: list[np.ndarray]) -> None:
        import nncf

        quantized = nncf.quantize(
            _fp32_model(model, ctx),
            nncf.Dataset(calibration),
            subset_size=len(calibration),
            preset=nncf.QuantizationPreset.PERFORMANCE,
        )
        ov.save_model(quantized, str(tmp / MODEL_FILE), compress_to_fp16=False)

    # cache name kept from when this was the deployed openvino-int8: models built then are reused
    entry = export.calibrated_entry(ctx, "openvino-int8", quantize)
    return OpenVinoBackend(entry, export.runtime_threads(), None)
