"""Precision / backend schemes behind one `precision` option.

Each scheme turns the float model into a Backend with the same contract, so the detector,
the nodes and the benchmark treat them alike. Builders are looked up lazily ("module:function")
so importing this module stays cheap and optional runtimes are only imported when chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ros_detect.core.errors import ConfigError


class Backend(Protocol):
    """Runs one RGB float image (3xHxW, values 0..1, torch tensor) through a detector."""

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return boxes (Nx4 float, x1y1x2y2 in input pixels), scores (N), class ids (N)."""
        ...


@dataclass
class BuildContext:
    """What a scheme may need besides the float model."""

    device: str = "cpu"
    cache_dir: Path | None = None
    calibration_frames: Callable[[], list[np.ndarray]] | None = None  # BGR uint8 frames
    cache_key: str = ""  # identifies float weights + model spec, for on-disk caches
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scheme:
    name: str
    description: str
    builder: str  # "module:function" taking (model, spec, ctx) -> Backend
    spec_overrides: dict[str, Any] = field(default_factory=dict)
    needs_calibration: bool = False

    def build(self, model: Any, spec: Any, ctx: BuildContext) -> Backend:
        module_name, func_name = self.builder.split(":")
        return getattr(importlib.import_module(module_name), func_name)(model, spec, ctx)


SCHEMES: dict[str, Scheme] = {}


def register(scheme: Scheme) -> None:
    SCHEMES[scheme.name] = scheme


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ConfigError(f"unknown precision {name!r}", f"choose one of: {', '.join(SCHEMES)}") from None


class EagerBackend:
    """Plain PyTorch eager execution, optionally under autocast (bf16/fp16)."""

    def __init__(self, model: Any, device: str = "cpu", autocast_dtype: Any = None, channels_last: bool = False):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.autocast_dtype = autocast_dtype

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            image = image.to(self.device, non_blocking=True)
            if self.autocast_dtype is not None:
                with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                    out = self.model([image])[0]
            else:
                out = self.model([image])[0]
        return (
            out["boxes"].float().cpu().numpy(),
            out["scores"].float().cpu().numpy(),
            out["labels"].cpu().numpy(),
        )


def build_eager_fp32(model: Any, spec: Any, ctx: BuildContext) -> Backend:
    return EagerBackend(model, ctx.device)


register(Scheme("fp32", "fp32 eager PyTorch at native 427x240 resolution (reference)", f"{__name__}:build_eager_fp32"))
register(
    Scheme(
        "seed",
        "the original setup: fp32 eager, torchvision's default transform upscaling to 800 px",
        f"{__name__}:build_eager_fp32",
        spec_overrides={"min_size": 800, "max_size": 1333},
    )
)
