"""Eager PyTorch backends: fp32 (and the seed setup), bf16 and fp16 autocast; the base of torch_int8.py."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ros_detect.detection.backends.registry import FEATURE_PREFIX, BuildContext, ProfiledNode
from ros_detect.detection.preprocess import InputKind
from ros_detect.errors import ConfigError

if TYPE_CHECKING:
    from ros_detect.detection.backends.cache import CacheEntry


class EagerBackend:
    """The torchvision model run eagerly, optionally under autocast (bf16/fp16) and channels_last."""

    input_kind: InputKind = "tensor"
    profiler = "torch.profiler modules"

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

    def profile(self, images: list[Any]) -> list[list[ProfiledNode]]:
        """Per image: wall ms of every module alone (its sub-modules excluded), from torch.profiler scopes
        named after the module path ("backbone.body.layer1.0.conv1", "roi_heads.box_roi_pool"); the root's
        own time (transform postprocess, output dicts) is "detector"."""
        from torch.profiler import ProfilerActivity, profile

        out = []
        with module_scopes(self.eager_model, "detector"):
            for image in images:
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    self.infer(image)
                out.append(exclusive_scope_times(prof.events(), SCOPE_PREFIX))
        return out

    def size_bytes(self) -> int:
        buf = io.BytesIO()
        self.torch.save(self.eager_model.state_dict(), buf)
        return buf.getbuffer().nbytes


SCOPE_PREFIX = "module:"  # marks the profiler scopes module_scopes() opens, among torch's own events


@contextlib.contextmanager
def module_scopes(model: Any, root: str) -> Iterator[None]:
    """Inside the block every module's forward runs in a torch.profiler scope "module:<path>" (root: `root`)."""
    import torch

    open_scopes: list[Any] = []
    handles = []
    for path, module in model.named_modules():
        name = f"{SCOPE_PREFIX}{path or root}"

        def enter(_m: Any, _a: Any, name: str = name) -> None:
            scope = torch.profiler.record_function(name)
            scope.__enter__()
            open_scopes.append(scope)

        def leave(_m: Any, _a: Any, _o: Any) -> None:
            open_scopes.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def exclusive_scope_times(events: Any, prefix: str) -> list[ProfiledNode]:
    """Wall ms of each profiler scope named `prefix`... minus the scopes nested in it (one module's own time)."""
    mine = [e for e in events if e.name.startswith(prefix)]
    scopes = sorted(
        ((e.time_range.start, e.time_range.end, e.name.removeprefix(prefix)) for e in mine), key=lambda s: (s[0], -s[1])
    )
    own: dict[int, float] = {}
    stack: list[int] = []
    for i, (start, end, _) in enumerate(scopes):
        while stack and scopes[stack[-1]][1] <= start:
            stack.pop()
        own[i] = end - start
        if stack:
            own[stack[-1]] -= end - start  # time in a child scope is not the parent's own
        stack.append(i)
    totals: dict[str, float] = {}
    for i, (_, _, name) in enumerate(scopes):
        totals[name] = totals.get(name, 0.0) + own[i] / 1e3  # profiler times are in us
    return [ProfiledNode(name, ms, "torch module") for name, ms in totals.items()]


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
