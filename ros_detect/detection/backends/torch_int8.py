"""Eager-PyTorch int8 schemes: int8-dynamic (box head) and int8-static (backbone + FPN, calibrated).

int8-static uses FX graph mode (torch.ao.quantization, x86 engine) on the backbone + FPN.
It is deprecated in torch 2.14 in favour of PT2E (torchao), but PT2E needs torch.compile to
be fast (minutes of compile on 2 cores at every start) and its x86 quantizer rejects
torchvision's ResNet block, which calls one ReLU module three times. FX works unchanged and
its result is a plain module whose state_dict can be cached. The box head's Linear layers
(the 12544x1024 fc6 holds ~34% of all parameters) are quantised dynamically on top.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ros_detect.detection.backends.cache import cached_entry
from ros_detect.detection.backends.calibration import calibration_set
from ros_detect.detection.backends.eager import EagerBackend
from ros_detect.detection.backends.registry import BuildContext
from ros_detect.detection.preprocess import bgr_to_tensor
from ros_detect.errors import ConfigError

log = logging.getLogger(__name__)


def _require_cpu(ctx: BuildContext, scheme: str) -> None:
    if ctx.device != "cpu":
        raise ConfigError(f"precision {scheme} runs on CPU only", "use device=cpu (or fp16 on CUDA)")


def _set_engine() -> None:
    import torch

    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "x86" if "x86" in engines else "fbgemm"


def quantize_box_head_dynamic(model: Any) -> None:
    """Dynamic int8 Linear layers (weights int8, activations quantised per call) in the box head."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    model.roi_heads = quantize_dynamic(model.roi_heads, {torch.nn.Linear}, dtype=torch.qint8)


def build_int8_dynamic(model: Any, spec: Any, ctx: BuildContext) -> EagerBackend:
    import torch

    _require_cpu(ctx, "int8-dynamic")
    _set_engine()

    def build(tmp: Path) -> dict[str, Any]:
        quantize_box_head_dynamic(model)
        torch.save(model.roi_heads.state_dict(), tmp / "roi_heads.pt")
        return {"scheme": "int8-dynamic"}

    entry = cached_entry(ctx, "int8-dynamic", build)
    if entry.hit:
        quantize_box_head_dynamic(model)
        model.roi_heads.load_state_dict(torch.load(entry.path / "roi_heads.pt", weights_only=True))
    return EagerBackend(model, "cpu", cache_entry=entry)


def _unfreeze_batchnorm(module: Any) -> None:
    """FrozenBatchNorm2d -> eval BatchNorm2d, so FX fuses it into the preceding conv."""
    import torch
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, FrozenBatchNorm2d):
            bn = torch.nn.BatchNorm2d(child.weight.numel(), eps=child.eps)
            bn.weight.data.copy_(child.weight)
            bn.bias.data.copy_(child.bias)
            bn.running_mean.copy_(child.running_mean)
            bn.running_var.copy_(child.running_var)
            bn.eval()
            setattr(module, name, bn)
        else:
            _unfreeze_batchnorm(child)


def _prepare_backbone(backbone: Any, example: Any) -> Any:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    _unfreeze_batchnorm(backbone)
    backbone.eval()
    return prepare_fx(backbone, get_default_qconfig_mapping("x86"), (example,))


def _model_inputs(model: Any, frames: list[Any]) -> list[Any]:
    """Frames as the backbone sees them: normalised, padded batch tensors."""
    import torch

    with torch.inference_mode():
        return [model.transform([bgr_to_tensor(f)])[0].tensors for f in frames]


def build_int8_static(model: Any, spec: Any, ctx: BuildContext) -> EagerBackend:
    import torch
    from torch.ao.quantization.quantize_fx import convert_fx

    _require_cpu(ctx, "int8-static")
    _set_engine()
    frames, calib_id = calibration_set(ctx)
    inputs = _model_inputs(model, frames)

    def build(tmp: Path) -> dict[str, Any]:
        prepared = _prepare_backbone(model.backbone, inputs[0])
        with torch.no_grad():
            for x in inputs:
                prepared(x)
        model.backbone = convert_fx(prepared)
        quantize_box_head_dynamic(model)
        torch.save({"backbone": model.backbone.state_dict(), "roi_heads": model.roi_heads.state_dict()}, tmp / "q.pt")
        return {"scheme": "int8-static", "calibration": calib_id, "calibration_frames": len(frames)}

    entry = cached_entry(ctx, "int8-static", build, calib_id)
    if entry.hit:
        # Rebuild the quantised graph's structure (one observer pass), then load the cached weights and scales.
        prepared = _prepare_backbone(model.backbone, inputs[0])
        with torch.no_grad():
            prepared(inputs[0])
        model.backbone = convert_fx(prepared)
        quantize_box_head_dynamic(model)
        state = torch.load(entry.path / "q.pt", weights_only=True)
        model.backbone.load_state_dict(state["backbone"])
        model.roi_heads.load_state_dict(state["roi_heads"])
    return EagerBackend(model, "cpu", cache_entry=entry)
