"""Eager-PyTorch precision schemes: bf16, fp16, int8-dynamic, int8-static.

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

from ros_detect.detection.backends.cache import dir_size, entry_dir, get_calibration, load_or_build
from ros_detect.detection.backends.registry import Backend, BuildContext, EagerBackend
from ros_detect.errors import ConfigError

log = logging.getLogger(__name__)


def cpu_has_bf16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def build_bf16(model: Any, spec: Any, ctx: BuildContext) -> Backend:
    import torch

    if ctx.device.startswith("cuda"):
        if not torch.cuda.is_bf16_supported():
            raise ConfigError("this GPU has no bf16 support", "use precision fp16 or fp32")
    elif not cpu_has_bf16():
        raise ConfigError(
            "precision bf16 needs a CPU with native bf16 (AVX-512 BF16 or AMX); this CPU would emulate it, slower "
            "than fp32",
            "use precision openvino-int8, int8-static or fp32 on this machine",
        )
    return EagerBackend(model, ctx.device, autocast_dtype=torch.bfloat16, channels_last=True)


def build_fp16(model: Any, spec: Any, ctx: BuildContext) -> Backend:
    import torch

    if not ctx.device.startswith("cuda"):
        raise ConfigError(
            "precision fp16 runs on CUDA only (CPU fp16 kernels are emulated and slow)",
            "use device=cuda on a GPU machine, or precision bf16 / int8-static / openvino-int8 on CPU",
        )
    return EagerBackend(model, ctx.device, autocast_dtype=torch.float16, channels_last=True)


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


def build_int8_dynamic(model: Any, spec: Any, ctx: BuildContext) -> Backend:
    import torch

    _require_cpu(ctx, "int8-dynamic")
    _set_engine()

    def build(tmp: Path) -> dict[str, Any]:
        quantize_box_head_dynamic(model)
        torch.save(model.roi_heads.state_dict(), tmp / "roi_heads.pt")
        return {"scheme": "int8-dynamic"}

    entry, meta = load_or_build(entry_dir(ctx, "int8-dynamic"), build, ctx)
    if meta["cache_hit"]:
        quantize_box_head_dynamic(model)
        model.roi_heads.load_state_dict(torch.load(entry / "roi_heads.pt", weights_only=True))
    return _QuantBackend(model, entry, meta)


class _QuantBackend(EagerBackend):
    def __init__(self, model: Any, entry: Path, meta: dict[str, Any]) -> None:
        super().__init__(model, "cpu")
        self.cache_entry = entry
        self.cache_hit = bool(meta["cache_hit"])
        self.build_s = float(meta.get("build_s", 0.0))
        self.size_bytes = dir_size(entry)


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

    from ros_detect.detection.detector import bgr_to_tensor

    with torch.inference_mode():
        return [model.transform([bgr_to_tensor(f)])[0].tensors for f in frames]


def build_int8_static(model: Any, spec: Any, ctx: BuildContext) -> Backend:
    import torch
    from torch.ao.quantization.quantize_fx import convert_fx

    _require_cpu(ctx, "int8-static")
    _set_engine()
    frames, calib_id = get_calibration(ctx)
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

    entry, meta = load_or_build(entry_dir(ctx, "int8-static", calib_id), build, ctx)
    if meta["cache_hit"]:
        # Rebuild the quantised graph's structure (one observer pass), then load the cached weights and scales.
        prepared = _prepare_backbone(model.backbone, inputs[0])
        with torch.no_grad():
            prepared(inputs[0])
        model.backbone = convert_fx(prepared)
        quantize_box_head_dynamic(model)
        state = torch.load(entry / "q.pt", weights_only=True)
        model.backbone.load_state_dict(state["backbone"])
        model.roi_heads.load_state_dict(state["roi_heads"])
    return _QuantBackend(model, entry, meta)
