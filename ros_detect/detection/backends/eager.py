"""Eager PyTorch backends: fp32 (and the seed setup), bf16 and fp16 autocast; the base of torch_int8.py."""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from ros_detect.detection.backends.registry import FEATURE_PREFIX, BuildContext
from ros_detect.detection.preprocess import InputKind
from ros_detect.errors import ConfigError

if TYPE_CHECKING:
    from ros_detect.detection.backends.cache import CacheEntry


class EagerBackend:
    """The torchvision model run eagerly, optionally under autocast (bf16/fp16) and channels_last."""

    input_kind: InputKind = "tensor"

    def __init__(
        self,
        model: Any,
        device: str = "cpu",
        autocast_dtype: Any = None,
        channels_last: bool = False,
        cache_entry: CacheEntry | None = None,
    ) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.eager_model = model.to(self.device)
        if channels_last:
            self.eager_model = self.eager_model.to(memory_format=torch.channels_last)
        self.autocast_dtype = autocast_dtype
        self.cache_entry = cache_entry  # set by schemes that quantise once and keep the result (torch_int8.py)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.torch.inference_mode():
            image = image.to(self.device, non_blocking=True)
            with self._autocast():
                out = self.eager_model([image])[0]
        return (
            out["boxes"].float().cpu().numpy(),
            out["scores"].float().cpu().numpy(),
            out["labels"].cpu().numpy(),
        )

    def features(self, image: Any) -> dict[str, np.ndarray]:
        model = self.eager_model
        with self.torch.inference_mode():
            x = model.transform([image.to(self.device)])[0].tensors
            with self._autocast():
                feats = model.backbone(x)
        return {f"{FEATURE_PREFIX}{k}": v.float().cpu().numpy()[0] for k, v in feats.items()}  # drop the batch axis

    def size_bytes(self) -> int:
        buf = io.BytesIO()
        self.torch.save(self.eager_model.state_dict(), buf)
        return buf.getbuffer().nbytes


def build_fp32(model: Any, spec: Any, ctx: BuildContext) -> EagerBackend:
    return EagerBackend(model, ctx.device)


def cpu_has_bf16() -> bool:
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def build_bf16(model: Any, spec: Any, ctx: BuildContext) -> EagerBackend:
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


def build_fp16(model: Any, spec: Any, ctx: BuildContext) -> EagerBackend:
    import torch

    if not ctx.device.startswith("cuda"):
        raise ConfigError(
            "precision fp16 runs on CUDA only (CPU fp16 kernels are emulated and slow)",
            "use device=cuda on a GPU machine, or precision bf16 / int8-static / openvino-int8 on CPU",
        )
    return EagerBackend(model, ctx.device, autocast_dtype=torch.float16, channels_last=True)
