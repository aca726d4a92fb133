"""The detector: BGR frame in, list of Detection (all COCO classes) out, with stage timings."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_detect.detection.backends.registry import Backend, BuildContext, get_scheme
from ros_detect.detection.models import ModelSpec, build_float_model, coco_categories
from ros_detect.detection.preprocess import to_model_input
from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.errors import ConfigError
from ros_detect.frame import OUTPUT_HEIGHT, OUTPUT_WIDTH
from ros_detect.paths import cache_dir
from ros_detect.schema import Detection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorConfig:
    model: ModelSpec = dataclasses.field(default_factory=ModelSpec)
    precision: str = "fp32"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default (all cores)
    warmup: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DetectorConfig:
        """The detector's configuration from its node parameters (the `detector` section of config/*.yaml)."""
        spec = ModelSpec(
            name=params["model"],
            weights=params["weights"],
            proposals=params["proposals"],
            score_threshold=params["score_threshold"],
            seed=params["seed"],
            force_proposals=params["force_proposals"],
        )
        return cls(model=spec, precision=params["precision"], device=params["device"], threads=params["threads"])


def select_device(option: str) -> str:
    import torch

    option = (option or "auto").lower()
    if option == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if option.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {option!r} requested but CUDA is not available", "use device=auto or cpu")
    if option != "cpu" and not option.startswith("cuda"):
        raise ConfigError(f"unknown device {option!r}", "use auto, cpu, cuda or cuda:N")
    return option


def freeze_heap() -> None:
    """Exempt everything built so far (the model: ~350k objects) from Python's cyclic garbage collector.

    A full collection walks every tracked object: ~150 ms idle, up to ~400 ms on a busy machine, landing in
    the middle of a frame. Processes that keep one detector for their lifetime call this once it is built.
    """
    gc.collect()
    gc.freeze()


class Detector:
    """Builds the model for a precision scheme once, then detects frame by frame."""

    def __init__(self, config: DetectorConfig, calibration_frames: Any = None) -> None:
        import torch

        t0 = time.perf_counter()
        scheme = get_scheme(config.precision)
        if config.threads < 0:
            raise ConfigError(f"threads must be >= 0, got {config.threads}", "use 0 for all cores or a positive count")
        if config.threads:
            torch.set_num_threads(config.threads)
        self.config = config
        self.device = select_device(config.device)
        spec = dataclasses.replace(config.model, **scheme.spec_overrides)
        self.spec = spec
        float_model, resolved = build_float_model(spec)
        self.weights = resolved
        self.weights_label = resolved.label
        self.model_name = spec.name
        self.precision = scheme.name
        self.categories = coco_categories()
        self.invalid_rows = 0  # backend output rows dropped by sane_rows (see there)
        ctx = BuildContext(
            device=self.device,
            cache_dir=cache_dir() / "models",
            calibration_frames=calibration_frames,
            cache_key=self._cache_key(spec, resolved),
        )
        self.backend: Backend = scheme.build(float_model, spec, ctx)
        self.load_time_s = time.perf_counter() - t0
        self.warmup_time_s = 0.0
        if config.warmup:
            t1 = time.perf_counter()
            height = spec.min_size if spec.min_size <= 480 else OUTPUT_HEIGHT  # the seed scheme still gets 427x240
            self.detect(np.zeros((height, OUTPUT_WIDTH, 3), np.uint8))
            self.warmup_time_s = time.perf_counter() - t1
        if not resolved.trained:
            log.warning("Detector runs on %s: detections are meaningless.", RANDOM_INIT_LABEL)
        log.info(
            "Detector ready: model=%s precision=%s device=%s weights=%s proposals=%d load=%.2fs warmup=%.2fs",
            spec.name,
            scheme.name,
            self.device,
            resolved.label,
            spec.proposals,
            self.load_time_s,
            self.warmup_time_s,
        )

    @staticmethod
    def _cache_key(spec: ModelSpec, resolved: Any) -> str:
        ident = f"{spec.name}|{resolved.label}|{resolved.path.stat().st_mtime_ns if resolved.path else ''}|{spec.seed}"
        ident += f"|{spec.min_size}x{spec.max_size}|p{spec.proposals}|s{spec.score_threshold}|f{spec.force_proposals}"
        return hashlib.sha1(ident.encode()).hexdigest()[:16]

    @property
    def trained(self) -> bool:
        return self.weights.trained

    def detect(self, frame_bgr: np.ndarray) -> tuple[list[Detection], dict[str, float]]:
        """Detect in one BGR frame; boxes come back in the frame's pixel coordinates."""
        t0 = time.perf_counter()
        image = to_model_input(frame_bgr, self.backend.input_kind)
        t1 = time.perf_counter()
        boxes, scores, labels = self.backend.infer(image)
        t2 = time.perf_counter()
        sane = sane_rows(boxes, scores, labels)
        if not sane.all():
            if self.invalid_rows == 0:  # routine with OpenVINO on frames without detections: not a warning
                log.debug("%s: dropped output rows no detector produces (label 0, bad score)", self.precision)
            self.invalid_rows += int((~sane).sum())
        keep = sane & (scores >= self.spec.score_threshold)
        h, w = frame_bgr.shape[:2]
        boxes = np.clip(boxes[keep], 0, [w, h, w, h])
        detections = [
            Detection(tuple(float(v) for v in box), float(score), int(label), self._label(int(label)))
            for box, score, label in zip(boxes, scores[keep], labels[keep], strict=False)
        ]
        t3 = time.perf_counter()
        timing = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
        return detections, timing

    def _label(self, class_id: int) -> str:
        return self.categories[class_id] if 0 <= class_id < len(self.categories) else str(class_id)


def sane_rows(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mask of output rows a torchvision detector can produce: finite box, score in [0, 1], label >= 1.

    OpenVINO (2026.4) answers an empty detection set of the exported graph with one row of uninitialised
    memory (seen: label 0, scores 1e30 or 4e-44); torchvision never outputs the background label 0.
    """
    return (labels >= 1) & np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0) & np.isfinite(boxes).all(axis=1)
