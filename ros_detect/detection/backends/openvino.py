"""OpenVINO backends on the whole exported graph: openvino-fp32 (the ONNX export read by OpenVINO, f32
precision hint) and openvino-int8-legacy (NNCF post-training quantisation of that model, calibrated).
The deployed openvino-int8 splits the graph instead (openvino_split.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends import export
from ros_detect.detection.backends.cache import CacheEntry, cached_entry
from ros_detect.detection.backends.export import INPUT_NAME, ONNX_FILE, ExportedGraphBackend
from ros_detect.detection.backends.registry import BuildContext

MODEL_FILE = "model.xml"


class OpenVinoBackend(ExportedGraphBackend):
    def __init__(self, cache_entry: CacheEntry, threads: int, precision_hint: str | None) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision_hint:
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(cache_entry.path / MODEL_FILE)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.ports = {o.get_any_name(): o for o in self.compiled.outputs}
        super().__init__(cache_entry, list(self.ports))

    def run(self, image: np.ndarray, names: list[str]) -> list[np.ndarray]:
        self.request.infer({INPUT_NAME: image})
        return [self.request.get_tensor(self.ports[n]).data.copy() for n in names]


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
