"""Building torchvision detectors through the weights API, at the output resolution."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ros_detect.detection.weights import ResolvedWeights, load_state_dict, resolve_weights
from ros_detect.errors import ConfigError, WeightsError
from ros_detect.frame import OUTPUT_HEIGHT, OUTPUT_WIDTH

log = logging.getLogger(__name__)

REFERENCE_MODEL = "fasterrcnn_resnet50_fpn"
# name -> (torchvision builder name, weights enum name)
MODELS: dict[str, tuple[str, str]] = {
    "fasterrcnn_resnet50_fpn": ("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights"),
    "fasterrcnn_resnet50_fpn_v2": ("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights"),
    "fasterrcnn_mobilenet_v3_large_fpn": (
        "fasterrcnn_mobilenet_v3_large_fpn",
        "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
    ),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
    ),
}
# torchvision's default GeneralizedRCNNTransform sizes: what the seed code ran at.
SEED_MIN_SIZE, SEED_MAX_SIZE = 800, 1333


@dataclass(frozen=True)
class ModelSpec:
    """Everything that determines the float model's weights and graph."""

    name: str = REFERENCE_MODEL
    weights: str = "auto"
    min_size: int = OUTPUT_HEIGHT  # no upscaling inside the model
    max_size: int = OUTPUT_WIDTH
    proposals: int = 1000  # RPN proposals kept after NMS at test time
    score_threshold: float = 0.5
    detections_per_image: int = 100
    force_proposals: bool = False  # benchmark-only: make a random-init RPN keep `proposals`
    seed: int = 0  # random-init weights are reproducible


def weights_enum_class(name: str) -> Any:
    from torchvision.models import detection

    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}", f"choose one of: {', '.join(MODELS)}")
    return getattr(detection, MODELS[name][1])


def coco_categories() -> list[str]:
    """The 91-entry COCO label list torchvision's detectors use (ships with torchvision)."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    return list(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def build_float_model(spec: ModelSpec) -> tuple[Any, ResolvedWeights]:
    """Build the fp32 eval-mode model described by `spec`; return it and what weights it holds."""
    import torch
    from torchvision.models import detection

    if spec.proposals < 1:
        raise ConfigError(f"proposals must be >= 1, got {spec.proposals}", "use e.g. 1000 (torchvision default) or 300")
    if spec.min_size < 32 or spec.max_size < spec.min_size:
        raise ConfigError(
            f"bad model input size min_size={spec.min_size} max_size={spec.max_size}",
            "use min_size >= 32 and max_size >= min_size (e.g. 240 and 427)",
        )
    if not 0.0 <= spec.score_threshold <= 1.0:
        raise ConfigError(f"score_threshold must be in [0, 1], got {spec.score_threshold}", "use e.g. 0.5")
    resolved = resolve_weights(spec.weights, weights_enum_class(spec.name))
    builder = getattr(detection, MODELS[spec.name][0])
    kwargs: dict[str, Any] = {
        "min_size": spec.min_size,
        "max_size": spec.max_size,
        "rpn_pre_nms_top_n_test": max(1000, spec.proposals),
        "rpn_post_nms_top_n_test": spec.proposals,
        "box_score_thresh": spec.score_threshold,
        "box_detections_per_img": spec.detections_per_image,
    }
    if resolved.kind == "pretrained":
        model = builder(weights=resolved.enum, **kwargs)
    else:
        torch.manual_seed(spec.seed)
        model = builder(weights=None, weights_backbone=None, num_classes=91, **kwargs)
        if resolved.kind == "checkpoint":
            state = load_state_dict(resolved.path)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                first = str(exc).splitlines()[0][:160]
                raise WeightsError(
                    f"weights file {resolved.path} does not fit model {spec.name}: {first}",
                    f"pass a checkpoint of {spec.name} (91 COCO classes) or choose the matching --model",
                ) from exc
    if spec.force_proposals:
        model.rpn.nms_thresh = 1.0  # keep every proposal up to `proposals`: a trained-like workload
    model.eval()
    return model, resolved
