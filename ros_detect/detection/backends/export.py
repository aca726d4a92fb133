"""ONNX export of the whole detector (transform, backbone, RPN, RoI heads, postprocess).

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
from pathlib import Path
from typing import Any

from ros_detect.media.sources import OUTPUT_SIZE

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "image"
DETECTION_OUTPUTS = ["boxes", "scores", "labels"]
FEATURE_PREFIX = "fpn_"  # every graph output after the detections is one FPN level (count depends on the model)
INPUT_SHAPE = (3, OUTPUT_SIZE[1], OUTPUT_SIZE[0])  # 3 x 240 x 427
PADDED = (256, 448)  # the batch size torchvision pads 240x427 to (multiples of 32)


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
