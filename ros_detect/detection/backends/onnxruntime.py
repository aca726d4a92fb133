"""ONNX Runtime backends: onnx-fp32 (the export as is) and onnx-int8 (static QDQ quantisation).

onnx-int8 quantises weights per channel, Conv + Gemm only: dynamic quantisation with the default op set
measured 3.4x slower than fp32. Quantisation pre-processing needs `skip_symbolic_shape=True` (symbolic
shape inference fails on the NMS loop).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends import export
from ros_detect.detection.backends.cache import CacheEntry
from ros_detect.detection.backends.export import (
    DETECTION_OUTPUTS,
    INPUT_NAME,
    ONNX_FILE,
    ExportedGraphBackend,
    graph_input,
)
from ros_detect.detection.backends.registry import BuildContext, ProfiledNode

PROVIDERS = ["CPUExecutionProvider"]
RUN_EVENT = ("Session", "model_run")  # one InferenceSession.run in a profiling trace
# ONNX Runtime's control-flow nodes: their time is the time of the subgraph nodes it also reports
CONTROL_FLOW_OPS = {"If", "Loop", "Scan"}


def trace_node_times(trace: list[dict[str, Any]]) -> list[list[ProfiledNode]]:
    """Per run (`model_run` event) the node kernel times of an ONNX Runtime profiling trace (Chrome trace JSON)."""
    runs = sorted(
        (e["ts"], e["ts"] + e["dur"]) for e in trace if e.get("cat") == "Session" and e["name"] == "model_run"
    )
    out: list[list[ProfiledNode]] = [[] for _ in runs]
    for e in trace:
        name, args = e.get("name", ""), e.get("args") or {}
        if e.get("cat") != "Node" or not name.endswith("_kernel_time") or args.get("op_name") in CONTROL_FLOW_OPS:
            continue
        for i, (start, end) in enumerate(runs):
            if start <= e["ts"] <= end:
                out[i].append(ProfiledNode(name.removesuffix("_kernel_time"), e["dur"] / 1e3, args.get("op_name", "")))
                break
    return out


class OnnxRuntimeBackend(ExportedGraphBackend):
    profiler = "onnxruntime profiling"

    def __init__(self, cache_entry: CacheEntry, threads: int) -> None:
        import onnxruntime as ort

        self.threads = threads
        self.session = ort.InferenceSession(str(cache_entry.path / ONNX_FILE), self._options(), providers=PROVIDERS)
        super().__init__(cache_entry, [o.name for o in self.session.get_outputs()])

    def _options(self, profile_prefix: str | None = None) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if profile_prefix:
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
        return opts

    def run(self, image: np.ndarray, names: list[str]) -> list[np.ndarray]:
        return self.session.run(names, {INPUT_NAME: image})

    def profile(self, images: list[np.ndarray]) -> list[list[ProfiledNode]]:
        """Node times of one run per image, from a second session with ONNX Runtime's profiling on."""
        import onnxruntime as ort

        with tempfile.TemporaryDirectory(prefix="ort-profile-") as tmp:
            opts = self._options(str(Path(tmp) / "profile"))
            session = ort.InferenceSession(str(self.cache_entry.path / ONNX_FILE), opts, providers=PROVIDERS)
            for image in [images[0], *images]:  # the first run warms the new session up: left out
                session.run(DETECTION_OUTPUTS, {INPUT_NAME: graph_input(image)})
            trace = json.loads(Path(session.end_profiling()).read_text())
        return trace_node_times(trace)[1:]


def build_onnx_fp32(model: Any, spec: Any, ctx: BuildContext) -> OnnxRuntimeBackend:
    export.require_exportable(spec, ctx, "onnx-fp32")
    return OnnxRuntimeBackend(export.onnx_export_entry(model, ctx), export.runtime_threads())


def build_onnx_int8(model: Any, spec: Any, ctx: BuildContext) -> OnnxRuntimeBackend:
    export.require_exportable(spec, ctx, "onnx-int8")

    def quantize(tmp: Path, calibration: list[np.ndarray]) -> None:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        pre = tmp / "pre.onnx"
        fp32 = export.onnx_export_entry(model, ctx).path / ONNX_FILE
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        inputs = iter(calibration)

        class Reader(CalibrationDataReader):
            def get_next(self) -> dict[str, np.ndarray] | None:
                x = next(inputs, None)
                return None if x is None else {INPUT_NAME: x}

        quantize_static(
            str(pre),
            str(tmp / ONNX_FILE),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            op_types_to_quantize=["Conv", "Gemm"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        pre.unlink()
        for extra in tmp.glob("*.data"):
            extra.unlink()

    return OnnxRuntimeBackend(export.calibrated_entry(ctx, "onnx-int8", quantize), export.runtime_threads())
