"""Schemes that run outside eager PyTorch: ONNX Runtime and OpenVINO, fp32 and int8.

All four start from the same ONNX export (ros_detect/detection/backends/export.py, fixed 3x240x427 input) and
return the Backend contract of precision.py, so the detector's output schema does not change.
- onnx-int8: ONNX Runtime static QDQ, per-channel weights, Conv + Gemm only (dynamic
  quantisation with the default op set measured 3.4x slower than fp32). Quantisation
  pre-processing needs `skip_symbolic_shape=True` (symbolic shape inference fails on the NMS loop).
- openvino-int8: NNCF post-training quantisation of the OpenVINO model read from the ONNX file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends.cache import dir_size, entry_dir, get_calibration, load_or_build
from ros_detect.detection.backends.export import DETECTION_OUTPUTS, FEATURE_PREFIX, INPUT_NAME, INPUT_SHAPE, export_onnx
from ros_detect.detection.backends.registry import BuildContext
from ros_detect.errors import ConfigError

log = logging.getLogger(__name__)


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())  # the Detector has applied its `threads` option here already


def _check_spec(spec: Any, ctx: BuildContext, scheme: str) -> None:
    if ctx.device != "cpu":
        raise ConfigError(f"precision {scheme} runs on CPU only here", "use device=cpu, or fp16/fp32 on CUDA")
    if (spec.min_size, spec.max_size) != (INPUT_SHAPE[1], INPUT_SHAPE[2]):
        raise ConfigError(
            f"precision {scheme} exports a fixed 427x240 graph but the model is set to {spec.min_size}/{spec.max_size}",
            "use the native input size (min_size 240, max_size 427) or an eager scheme (fp32, seed)",
        )


def _as_input(image: Any) -> np.ndarray:
    x = image.numpy() if hasattr(image, "numpy") else np.asarray(image)
    if tuple(x.shape) != INPUT_SHAPE:
        raise ConfigError(
            f"exported models take 427x240 frames, got {x.shape[2]}x{x.shape[1]}",
            "resize frames to 427x240 (the sources do) or use an eager precision (fp32, int8-static)",
        )
    return np.ascontiguousarray(x, dtype=np.float32)


def _calibration_inputs(frames: list[np.ndarray]) -> list[np.ndarray]:
    from ros_detect.detection.detector import bgr_to_array  # the preprocessing Detector uses with these backends

    return [bgr_to_array(f) for f in frames]


class _CachedBackend:
    numpy_input = True  # infer() takes a 3xHxW float32 array (Detector then skips torch in preprocessing)
    cache_entry: Path
    cache_hit: bool
    build_s: float
    size_bytes: int

    def _set_cache(self, entry: Path, meta: dict[str, Any]) -> None:
        self.cache_entry, self.cache_hit = entry, bool(meta["cache_hit"])
        self.build_s, self.size_bytes = float(meta.get("build_s", 0.0)), dir_size(entry)


class OnnxRuntimeBackend(_CachedBackend):
    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.feature_names = [o.name for o in self.session.get_outputs() if o.name.startswith(FEATURE_PREFIX)]

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, labels = self.session.run(DETECTION_OUTPUTS, {INPUT_NAME: _as_input(image)})
        return boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64)

    def features(self, image: Any) -> dict[str, np.ndarray]:
        feats = self.session.run(self.feature_names, {INPUT_NAME: _as_input(image)})
        return {name: f[0] for name, f in zip(self.feature_names, feats, strict=True)}  # drop the batch axis


class OpenVinoBackend(_CachedBackend):
    def __init__(self, xml: Path, threads: int, precision_hint: str | None) -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision_hint:
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(xml)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.ports = {o.get_any_name(): o for o in self.compiled.outputs}
        self.feature_names = [name for name in self.ports if name.startswith(FEATURE_PREFIX)]

    def _run(self, image: Any, names: list[str]) -> list[np.ndarray]:
        self.request.infer({INPUT_NAME: _as_input(image)})
        return [self.request.get_tensor(self.ports[n]).data.copy() for n in names]

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, labels = self._run(image, DETECTION_OUTPUTS)
        return boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64)

    def features(self, image: Any) -> dict[str, np.ndarray]:
        feats = self._run(image, self.feature_names)
        return {name: f[0] for name, f in zip(self.feature_names, feats, strict=True)}  # drop the batch axis


def _onnx_fp32_entry(model: Any, ctx: BuildContext) -> tuple[Path, dict[str, Any]]:
    import torch

    def build(tmp: Path) -> dict[str, Any]:
        example = torch.rand(INPUT_SHAPE, generator=torch.Generator().manual_seed(0))
        export_onnx(model, tmp / "model.onnx", example)
        return {"scheme": "onnx-fp32", "opset": 17, "input_shape": list(INPUT_SHAPE)}

    return load_or_build(entry_dir(ctx, "onnx-fp32"), build, ctx)


def build_onnx_fp32(model: Any, spec: Any, ctx: BuildContext) -> OnnxRuntimeBackend:
    _check_spec(spec, ctx, "onnx-fp32")
    entry, meta = _onnx_fp32_entry(model, ctx)
    backend = OnnxRuntimeBackend(entry / "model.onnx", _threads())
    backend._set_cache(entry, meta)
    return backend


def build_onnx_int8(model: Any, spec: Any, ctx: BuildContext) -> OnnxRuntimeBackend:
    _check_spec(spec, ctx, "onnx-int8")
    frames, calib_id = get_calibration(ctx)

    def build(tmp: Path) -> dict[str, Any]:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        fp32_entry, _ = _onnx_fp32_entry(model, ctx)
        pre = tmp / "pre.onnx"
        quant_pre_process(str(fp32_entry / "model.onnx"), str(pre), skip_symbolic_shape=True)
        inputs = iter(_calibration_inputs(frames))

        class Reader(CalibrationDataReader):
            def get_next(self) -> dict[str, np.ndarray] | None:
                x = next(inputs, None)
                return None if x is None else {INPUT_NAME: x}

        quantize_static(
            str(pre),
            str(tmp / "model.onnx"),
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
        return {"scheme": "onnx-int8", "calibration": calib_id, "calibration_frames": len(frames)}

    entry, meta = load_or_build(entry_dir(ctx, "onnx-int8", calib_id), build, ctx)
    backend = OnnxRuntimeBackend(entry / "model.onnx", _threads())
    backend._set_cache(entry, meta)
    return backend


def _openvino_fp32_model(model: Any, ctx: BuildContext) -> Any:
    import openvino as ov

    fp32_entry, _ = _onnx_fp32_entry(model, ctx)
    return ov.convert_model(str(fp32_entry / "model.onnx"))


def build_openvino_fp32(model: Any, spec: Any, ctx: BuildContext) -> OpenVinoBackend:
    import openvino as ov

    _check_spec(spec, ctx, "openvino-fp32")

    def build(tmp: Path) -> dict[str, Any]:
        ov.save_model(_openvino_fp32_model(model, ctx), str(tmp / "model.xml"), compress_to_fp16=False)
        return {"scheme": "openvino-fp32", "openvino": ov.__version__}

    entry, meta = load_or_build(entry_dir(ctx, "openvino-fp32"), build, ctx)
    backend = OpenVinoBackend(entry / "model.xml", _threads(), "f32")
    backend._set_cache(entry, meta)
    return backend


def build_openvino_int8(model: Any, spec: Any, ctx: BuildContext) -> OpenVinoBackend:
    import openvino as ov

    _check_spec(spec, ctx, "openvino-int8")
    frames, calib_id = get_calibration(ctx)

    def build(tmp: Path) -> dict[str, Any]:
        import nncf

        quantized = nncf.quantize(
            _openvino_fp32_model(model, ctx),
            nncf.Dataset(_calibration_inputs(frames)),
            subset_size=len(frames),
            preset=nncf.QuantizationPreset.PERFORMANCE,
        )
        ov.save_model(quantized, str(tmp / "model.xml"), compress_to_fp16=False)
        return {"scheme": "openvino-int8", "calibration": calib_id, "calibration_frames": len(frames)}

    entry, meta = load_or_build(entry_dir(ctx, "openvino-int8", calib_id), build, ctx)
    backend = OpenVinoBackend(entry / "model.xml", _threads(), None)
    backend._set_cache(entry, meta)
    return backend
