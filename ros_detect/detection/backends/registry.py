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

from ros_detect.errors import ConfigError


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

# Quantised and exported schemes (backends/torch_quant.py, runtimes.py); see README "Precision schemes".
_Q, _R = "ros_detect.detection.backends.torch_quant", "ros_detect.detection.backends.runtimes"
register(Scheme("bf16", "bf16 autocast + channels_last (CPU with AVX-512 BF16/AMX, or CUDA)", f"{_Q}:build_bf16"))
register(Scheme("fp16", "fp16 autocast + channels_last (CUDA only)", f"{_Q}:build_fp16"))
register(Scheme("int8-dynamic", "dynamic int8 Linear layers of the box head (x86)", f"{_Q}:build_int8_dynamic"))
register(
    Scheme(
        "int8-static",
        "FX static int8 backbone+FPN (calibrated) + dynamic int8 box head (x86)",
        f"{_Q}:build_int8_static",
        needs_calibration=True,
    )
)
register(Scheme("onnx-fp32", "ONNX Runtime fp32 (exported graph, fixed 427x240 input)", f"{_R}:build_onnx_fp32"))
register(
    Scheme(
        "onnx-int8",
        "ONNX Runtime static QDQ int8, per-channel Conv+Gemm (calibrated; fixed 427x240)",
        f"{_R}:build_onnx_int8",
        needs_calibration=True,
    )
)
register(Scheme("openvino-fp32", "OpenVINO f32 from the ONNX export (fixed 427x240)", f"{_R}:build_openvino_fp32"))
register(
    Scheme(
        "openvino-int8",
        "OpenVINO int8 via NNCF post-training quantisation of the ONNX export (calibrated; fixed 427x240)",
        f"{_R}:build_openvino_int8",
        needs_calibration=True,
    )
)
