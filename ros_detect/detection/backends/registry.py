"""What a backend is (the `Backend` protocol) and the precision schemes that build one.

One option, `precision`, picks a scheme; the scheme turns the float torchvision model into a Backend.
The detector, the nodes and the benchmark use nothing but the protocol, so schemes are interchangeable
and the output schema never depends on the scheme. Builders are named "module:function" and imported
when their scheme is chosen: importing this module stays cheap, and torch quantisation, ONNX Runtime,
OpenVINO and NNCF load only for the schemes that use them.

One module per runtime: eager.py (fp32, seed, bf16, fp16), torch_int8.py, onnxruntime.py, openvino.py,
openvino_split.py (OpenVINO front + head with host RoIAlign);
export.py (the ONNX graph both exported runtimes start from), cache.py (built models on disk),
calibration.py (frames for static quantisation). docs/precision.md describes every scheme.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ros_detect.detection.preprocess import InputKind, to_model_input
from ros_detect.errors import ConfigError

if TYPE_CHECKING:
    from ros_detect.detection.backends.cache import CacheEntry

FEATURE_PREFIX = "fpn_"  # features() names each FPN level "fpn_<level>" ("fpn_0" ... "fpn_pool")


class ProfiledNode(NamedTuple):
    """One node of a runtime's own profile of one inference (OpenVINO PERF_COUNT, ONNX Runtime profiling,
    torch.profiler module scopes, or a host stage a backend times itself)."""

    name: str  # the node or scope name, e.g. "/detector/backbone/body/layer1/layer1.0/conv1/Conv"
    ms: float  # wall ms of this node alone (nested scopes excluded)
    kind: str = ""  # what ran: op type / kernel ("Convolution / brgemm_avx512_i8"), when the runtime says


@runtime_checkable
class Backend(Protocol):
    """A built detector: one preprocessed RGB frame in, torchvision-style detections out.

    `infer` returns boxes (Nx4 float32, x1y1x2y2 in input pixels), scores (N float32) and class ids
    (N int64, COCO ids of torchvision's 91-entry list); rows a detector cannot produce (label 0, a score
    outside [0, 1]) are dropped by the Detector, so a runtime may return them for an empty result.
    """

    input_kind: InputKind  # what infer() and features() take; the Detector preprocesses accordingly
    cache_entry: CacheEntry | None  # the built model on disk it runs (None: built in memory at every start)
    eager_model: Any  # the torch module run eagerly (None for exported runtimes): the benchmark times its stages

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections for one image of `input_kind`."""
        ...

    def features(self, image: Any) -> dict[str, np.ndarray] | None:
        """Backbone+FPN outputs (CxHxW float32 per level, named FEATURE_PREFIX + level) for the fidelity
        benchmark; None when the backend cannot expose them."""
        ...

    def size_bytes(self) -> int:
        """Bytes of the model as stored: the cached artifact, or the serialised state of an in-memory model."""
        ...


# Optional on a Backend (the benchmark checks with getattr): `profiler` names the runtime's profiler and
# `profile(images) -> list[list[ProfiledNode]]` runs one profiled inference per image (same input kind as
# infer) on a separate profiling instance, so the timed inference never runs with the profiler on.


def backend_features(backend: Backend, frame_bgr: np.ndarray) -> dict[str, np.ndarray] | None:
    """Backbone+FPN outputs for one BGR frame, preprocessed as the Detector does for this backend."""
    return backend.features(to_model_input(frame_bgr, backend.input_kind))


@dataclass
class BuildContext:
    """What a scheme may need besides the float model."""

    device: str = "cpu"
    cache_dir: Path | None = None  # None: ros_detect.paths.cache_dir() / "models"
    calibration_frames: Callable[[], list[np.ndarray]] | None = None  # BGR uint8 frames; None: the default set
    calibration_count: int | None = None  # size of the default calibration set (None: calibration's default)
    cache_key: str = ""  # identifies float weights + model spec, for on-disk caches


@dataclass(frozen=True)
class Scheme:
    name: str
    description: str
    builder: str  # "module:function" taking (model, spec, ctx) -> Backend
    spec_overrides: dict[str, Any] = field(default_factory=dict)  # ModelSpec fields this scheme fixes
    cached: bool = True  # builds a model kept on disk (False: built in memory at every start)

    def build(self, model: Any, spec: Any, ctx: BuildContext) -> Backend:
        module_name, func_name = self.builder.split(":")
        return getattr(importlib.import_module(module_name), func_name)(model, spec, ctx)


def _builder(module: str, function: str) -> str:
    return f"ros_detect.detection.backends.{module}:{function}"


# The registry. Calibrated schemes take frames from BuildContext.calibration_frames (calibration.py).
SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        Scheme(
            "fp32",
            "fp32 eager PyTorch at native 427x240 resolution (reference)",
            _builder("eager", "build_fp32"),
            cached=False,
        ),
        Scheme(
            "seed",
            "the original setup: fp32 eager, torchvision's default transform upscaling to 800 px",
            _builder("eager", "build_fp32"),
            spec_overrides={"min_size": 800, "max_size": 1333},
            cached=False,
        ),
        Scheme(
            "bf16",
            "bf16 autocast + channels_last (CPU with AVX-512 BF16/AMX, or CUDA)",
            _builder("eager", "build_bf16"),
            cached=False,
        ),
        Scheme("fp16", "fp16 autocast + channels_last (CUDA only)", _builder("eager", "build_fp16"), cached=False),
        Scheme(
            "int8-dynamic",
            "dynamic int8 Linear layers of the box head (x86)",
            _builder("torch_int8", "build_int8_dynamic"),
        ),
        Scheme(
            "int8-static",
            "FX static int8 backbone+FPN (calibrated) + dynamic int8 box head (x86)",
            _builder("torch_int8", "build_int8_static"),
        ),
        Scheme(
            "onnx-fp32",
            "ONNX Runtime fp32 (exported graph, fixed 427x240 input)",
            _builder("onnxruntime", "build_onnx_fp32"),
        ),
        Scheme(
            "onnx-int8",
            "ONNX Runtime static QDQ int8, per-channel Conv+Gemm (calibrated; fixed 427x240)",
            _builder("onnxruntime", "build_onnx_int8"),
        ),
        Scheme(
            "openvino-fp32",
            "OpenVINO f32 from the ONNX export (fixed 427x240)",
            _builder("openvino", "build_openvino_fp32"),
        ),
        Scheme(
            "openvino-fp32-split",
            "openvino-int8's split pipeline at f32: OpenVINO front and box head, host RoIAlign (fixed 427x240)",
            _builder("openvino_split", "build_openvino_split_fp32"),
        ),
        Scheme(
            "openvino-int8",
            "OpenVINO int8 (NNCF, calibrated) split pipeline: backbone+FPN+RPN and box head in OpenVINO (head int8 "
            "with VNNI, f32 on AVX2-only CPUs), RoIAlign + final NMS on the host (fixed 427x240)",
            _builder("openvino_split", "build_openvino_split_int8"),
        ),
        Scheme(
            "openvino-int8-legacy",
            "OpenVINO int8 via NNCF post-training quantisation of the whole ONNX export (calibrated; fixed 427x240)",
            _builder("openvino", "build_openvino_int8"),
        ),
    )
}


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ConfigError(f"unknown precision {name!r}", f"choose one of: {', '.join(SCHEMES)}") from None
