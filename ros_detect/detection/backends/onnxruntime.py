"""ONNX Runtime backends: onnx-fp32 (the export as is) and onnx-int8 (static QDQ quantisation).

onnx-int8 quantises weights per channel, Conv + Gemm only: dynamic quantisation with the default op set
measured 3.4x slower than fp32. Quantisation pre-processing needs `skip_symbolic_shape=True` (symbolic
shape inference fails on the NMS loop).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends import export
from ros_detect.detection.backends.cache import CacheEntry
from ros_detect.detection.backends.export import INPUT_NAME, ONNX_FILE, ExportedGraphBackend
from ros_detect.detection.backends.registry import BuildContext


class OnnxRuntimeBackend(ExportedGraphBackend):
    def __init__(self, cache_entry: CacheEntry, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = cache_entry.path / ONNX_FILE
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        super().__init__(cache_entry, [o.name for o in self.session.get_outputs()])

    def run(self, image: np.ndarray, names: list[str]) -> list[np.ndarray]:
        return self.session.run(names, {INPUT_NAME: image})


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
