"""ONNX export of the whole detector (transform, backbone, RPN, RoI heads, postprocess), and what the
runtimes that run the exported graph (onnxruntime.py, openvino.py) share.

The legacy TorchScript-based exporter (`dynamo=False`, opset 17) is used: the dynamo exporter
fails on torchvision's `batched_nms`. The graph is exported for the fixed 3x240x427 input the
pipeline always feeds (sources resize every frame to 427x240), so no dynamic axes are needed;
other input sizes are rejected by the runtime backends with a clear error.

Besides boxes/scores/labels the graph also outputs the five FPN feature maps: they are computed
anyway, the runtime fetches them only when the benchmark asks (feature-level SQNR vs fp32).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends.cache import CacheEntry, cached_entry
from ros_detect.detection.backends.calibration import calibration_set
from ros_detect.detection.backends.registry import FEATURE_PREFIX, BuildContext
from ros_detect.detection.preprocess import InputKind, bgr_to_array
from ros_detect.errors import ConfigError
from ros_detect.frame import OUTPUT_HEIGHT, OUTPUT_WIDTH

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "image"
DETECTION_OUTPUTS = ["boxes", "scores", "labels"]
# every graph output after the detections is one FPN level named FEATURE_PREFIX + level (count depends on the model)
INPUT_SHAPE = (3, OUTPUT_HEIGHT, OUTPUT_WIDTH)  # 3 x 240 x 427
PADDED = (256, 448)  # the batch size torchvision pads 240x427 to (multiples of 32)
ONNX_FILE = "model.onnx"


def _wrapper(model: Any) -> Any:
    import torch
    from torchvision.models.detection.image_list import ImageList

    class DetectorWithFeatures(torch.nn.Module):
        def __init__(self, detector: Any) -> None:
            super().__init__()
            self.detector = detector

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            det = self.detector
            # At the native size torchvision's resize is the identity (scale 1.0), but its traced ONNX form
            # rounds the width to 426 and resamples the whole frame: normalise and pad here instead.
            x = det.transform.normalize(image)
            x = torch.nn.functional.pad(x, (0, PADDED[1] - INPUT_SHAPE[2], 0, PADDED[0] - INPUT_SHAPE[1]))[None]
            images = ImageList(x, [(INPUT_SHAPE[1], INPUT_SHAPE[2])])
            features = det.backbone(images.tensors)
            proposals, _ = det.rpn(images, features)
            out = det.roi_heads(features, proposals, images.image_sizes)[0][0]
            return (out["boxes"], out["scores"], out["labels"], *features.values())

    return DetectorWithFeatures(model).eval()


def feature_output_names(model: Any) -> list[str]:
    """One output name per FPN level of this model's backbone (ResNet-50 FPN: 5, MobileNet FPN: 3)."""
    import torch

    with torch.no_grad():
        levels = model.backbone(torch.zeros(1, 3, *PADDED)).keys()
    return [f"{FEATURE_PREFIX}{k}" for k in levels]


def export_onnx(model: Any, path: Path, example: Any) -> Path:
    """Export `model` (eval, fp32) to `path` traced on `example` (a 3x240x427 float tensor)."""
    import torch

    if tuple(example.shape) != INPUT_SHAPE:
        raise ValueError(f"export example must be {INPUT_SHAPE}, got {tuple(example.shape)}")
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about python values are expected for a fixed shape
        torch.onnx.export(
            _wrapper(model),
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=DETECTION_OUTPUTS + feature_output_names(model),
            do_constant_folding=True,
        )
    return path


def onnx_export_entry(model: Any, ctx: BuildContext) -> CacheEntry:
    """The cached fp32 ONNX export (ONNX_FILE): the onnx-fp32 scheme's model and every exported scheme's start."""
    import torch

    def build(tmp: Path) -> dict[str, Any]:
        example = torch.rand(INPUT_SHAPE, generator=torch.Generator().manual_seed(0))
        export_onnx(model, tmp / ONNX_FILE, example)
        return {"scheme": "onnx-fp32", "opset": OPSET, "input_shape": list(INPUT_SHAPE)}

    return cached_entry(ctx, "onnx-fp32", build)


def require_exportable(spec: Any, ctx: BuildContext, scheme: str) -> None:
    """Refuse, with the fix, what the fixed-size exported graph cannot run."""
    if ctx.device != "cpu":
        raise ConfigError(f"precision {scheme} runs on CPU only here", "use device=cpu, or fp16/fp32 on CUDA")
    if (spec.min_size, spec.max_size) != (INPUT_SHAPE[1], INPUT_SHAPE[2]):
        raise ConfigError(
            f"precision {scheme} exports a fixed 427x240 graph but the model is set to {spec.min_size}/{spec.max_size}",
            "use the native input size (min_size 240, max_size 427) or an eager scheme (fp32, seed)",
        )


def runtime_threads() -> int:
    """Intra-op threads for a runtime: torch's count, which the Detector has set from its `threads` option."""
    import torch

    return int(torch.get_num_threads())


def calibrated_entry(
    ctx: BuildContext,
    scheme: str,
    quantize: Callable[[Path, list[np.ndarray]], None],
    meta: dict[str, Any] | None = None,
) -> CacheEntry:
    """The cache entry of a calibrated scheme: `quantize(tmpdir, inputs)` writes the model into tmpdir from the
    calibration frames preprocessed exactly as the Detector feeds the graph; one entry per calibration set.
    `meta` adds to what the entry records (e.g. how a part was built)."""
    frames, calibration_id = calibration_set(ctx)

    def build(tmp: Path) -> dict[str, Any]:
        quantize(tmp, [bgr_to_array(f) for f in frames])
        return {"scheme": scheme, "calibration": calibration_id, "calibration_frames": len(frames)} | (meta or {})

    return cached_entry(ctx, scheme, build, calibration_id)


class ExportedGraphBackend:
    """A runtime running the exported graph: numpy in, named outputs out (detections, then FPN levels)."""

    input_kind: InputKind = "array"
    eager_model = None  # nothing runs in eager PyTorch

    def __init__(self, cache_entry: CacheEntry, output_names: list[str]) -> None:
        self.cache_entry = cache_entry
        self.feature_names = [name for name in output_names if name.startswith(FEATURE_PREFIX)]

    def run(self, image: np.ndarray, names: list[str]) -> list[np.ndarray]:
        """The graph outputs `names` for one 3x240x427 float32 input."""
        raise NotImplementedError

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, labels = self.run(graph_input(image), DETECTION_OUTPUTS)
        return boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64)

    def features(self, image: Any) -> dict[str, np.ndarray]:
        feats = self.run(graph_input(image), self.feature_names)
        return {name: f[0] for name, f in zip(self.feature_names, feats, strict=True)}  # drop the batch axis

    def size_bytes(self) -> int:
        return self.cache_entry.size_bytes


def graph_input(image: Any) -> np.ndarray:
    """A 3x240x427 image (numpy, or a tensor) as the graph's contiguous float32 input; other sizes refused."""
    x = image.numpy() if hasattr(image, "numpy") else np.asarray(image)
    if tuple(x.shape) != INPUT_SHAPE:
        raise ConfigError(
            f"exported models take 427x240 frames, got {x.shape[2]}x{x.shape[1]}",
            "resize frames to 427x240 (the sources do) or use an eager precision (fp32, int8-static)",
        )
    return np.ascontiguousarray(x, dtype=np.float32)
