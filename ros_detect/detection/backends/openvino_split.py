"""openvino-int8: the detector split in two OpenVINO models with RoIAlign and the final postprocess on the host.

    image -> front (OpenVINO): normalise + pad, backbone + FPN, RPN (anchors, decode, top-k, NMS)
             outputs only `proposals` (sorted) and `table` (the pooled FPN levels stacked channels-last)
          -> host (torch): multi-level RoIAlign as a sparse interpolation matrix (detection/roi_pool.py)
          -> head (OpenVINO): fc6 (columns in the rows' (h, w, c) order), fc7, cls_score, bbox_pred; any RoI count
          -> host (torch): torchvision's RoIHeads.postprocess_detections (decode, clip, threshold, NMS)

Why: in the single exported graph RoIAlign is a per-level ROIAlign + ScatterElementsUpdate chain that
OpenVINO runs in bf16 on AVX-512 BF16 CPUs (about 60% of the time), and NNCF's activation quantiser lands
before the ScatterElementsUpdate merge, so fc6 stays float. Split, fc6 is a plain int8 MatMul and the
RoIAlign costs a few ms. Without VNNI an int8 MatMul is slower than f32, so there the head stays f32
(`head_variant`). docs/precision.md and docs/benchmarks.md give the figures.

Host torch ops run on ONE torch thread, set around those ops only and restored afterwards (torch's count
stays what the Detector's `threads` option set for everything else): they take a few ms, and an OpenMP
team woken beside OpenVINO's threads on a busy 2-core machine turned 2 ms into 100-250 ms (measured).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends import export
from ros_detect.detection.backends.cache import CacheEntry, cached_entry
from ros_detect.detection.backends.export import INPUT_NAME, INPUT_SHAPE, PADDED
from ros_detect.detection.backends.openvino import compile_cpu, node_times, scoped_names
from ros_detect.detection.backends.registry import FEATURE_PREFIX, BuildContext, ProfiledNode
from ros_detect.detection.cpu_isa import cpu_flags, has_vnni
from ros_detect.detection.roi_pool import RoiPooler, fc6_weight_for_rows

FRONT_FILE, HEAD_FILE = "front.xml", "head.xml"
PROPOSALS, TABLE, ROWS = "proposals", "table", "rows"
LOGITS, DELTAS = "class_logits", "box_regression"
HOST_THREADS = 1
HOST_STAGES = ("roi_align", "postprocess")  # the stages run in torch on the host (named as bench/profile.py's)
IMAGE_SIZE = (INPUT_SHAPE[1], INPUT_SHAPE[2])  # (240, 427)
# How the box head is built, by CPU (docs/benchmarks.md "AVX2-only CPUs"): "int8" quantises activations and
# weights (an int8 GEMM: fast with VNNI); without VNNI OpenVINO's int8 FullyConnected is a slow generic kernel
# and the f32 head measured fastest, at exact f32 fidelity ("int8-weights", weight-only compression, sits between).
HEAD_VARIANTS = ("int8", "int8-weights", "fp32")


def head_variant(flags: frozenset[str] | set[str]) -> str:
    """The box head variant for a CPU with these /proc/cpuinfo flags."""
    return "int8" if has_vnni(flags) else "fp32"


def split_cache_scheme(variant: str) -> str:
    """The cache entry name of the split int8 scheme with this head: one entry per variant, so a cache built on
    a CPU of one kind is never loaded with the wrong head on another."""
    if variant not in HEAD_VARIANTS:
        raise ValueError(f"unknown head variant {variant!r}, expected one of {HEAD_VARIANTS}")
    return f"openvino-split-int8-head-{variant}"


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch intra-op threads = `count` inside the block, the previous count restored after it."""
    import torch

    previous = torch.get_num_threads()
    if previous != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if previous != count:
            torch.set_num_threads(previous)


def level_shapes(model: Any) -> dict[str, tuple[int, int]]:
    """(H, W) of every FPN level for the padded input."""
    import torch

    with torch.no_grad():
        return {k: tuple(v.shape[-2:]) for k, v in model.backbone(torch.zeros(1, 3, *PADDED)).items()}


def pooled_levels(model: Any) -> list[str]:
    """The levels the box head pools: its pooler's names that the backbone has (as MultiScaleRoIAlign filters)."""
    shapes = level_shapes(model)
    return [k for k in model.roi_heads.box_roi_pool.featmap_names if k in shapes]


def pooler_of(model: Any) -> RoiPooler:
    shapes = level_shapes(model)
    return RoiPooler.of_model(model, [shapes[k] for k in pooled_levels(model)], IMAGE_SIZE)


def _front(model: Any) -> Any:
    import torch
    from torchvision.models.detection.image_list import ImageList

    levels = pooled_levels(model)

    class Front(torch.nn.Module):
        def __init__(self, detector: Any) -> None:
            super().__init__()
            self.detector = detector

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            det = self.detector
            x = det.transform.normalize(image)  # as export._wrapper: torchvision's traced resize would resample
            x = torch.nn.functional.pad(x, (0, PADDED[1] - INPUT_SHAPE[2], 0, PADDED[0] - INPUT_SHAPE[1]))[None]
            features = det.backbone(x)
            proposals, _ = det.rpn(ImageList(x, [IMAGE_SIZE]), features)
            # permute the 4-D outputs directly (a batch index first costs a Gather + generic Transpose)
            table = torch.cat([features[k].permute(0, 2, 3, 1).reshape(-1, features[k].shape[1]) for k in levels], 0)
            return proposals[0], table

    return Front(model).eval()


def front_model(model: Any, tmp: Path) -> Any:
    """The front as an OpenVINO model (fp32), via the ONNX exporter the other exported schemes use."""
    import openvino as ov
    import torch

    path = tmp / "front.onnx"
    example = torch.rand(INPUT_SHAPE, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about python values are expected for a fixed shape
        torch.onnx.export(
            _front(model),
            (example,),
            str(path),
            dynamo=False,
            opset_version=export.OPSET,
            input_names=[INPUT_NAME],
            output_names=[PROPOSALS, TABLE],
            do_constant_folding=True,
        )
    front = ov.convert_model(str(path))
    path.unlink()
    return front


def head_model(model: Any) -> Any:
    """fc6 -> fc7 -> cls_score, bbox_pred as an OpenVINO model on (R, P*P*C) rows, R dynamic."""
    import openvino as ov
    import openvino.opset13 as ops

    head, predictor = model.roi_heads.box_head, model.roi_heads.box_predictor
    pooler = model.roi_heads.box_roi_pool
    size = pooler.output_size[0] if not isinstance(pooler.output_size, int) else pooler.output_size
    in_features = head.fc6.weight.shape[1]
    channels = in_features // (size * size)

    def const(t: Any) -> Any:
        return ops.constant(t.detach().float().numpy())

    def linear(x: Any, layer: Any, name: str, weight: Any = None) -> Any:
        y = ops.matmul(x, const(layer.weight if weight is None else weight), False, True, name=f"/{name}/MatMul")
        return ops.add(y, const(layer.bias), name=f"/{name}/Add")

    rows = ops.parameter([-1, in_features], ov.Type.f32, name=ROWS)
    x = ops.relu(linear(rows, head.fc6, "box_head/fc6", fc6_weight_for_rows(head.fc6.weight, channels, size)))
    x = ops.relu(linear(x, head.fc7, "box_head/fc7"))
    logits = linear(x, predictor.cls_score, "box_predictor/cls_score")
    deltas = linear(x, predictor.bbox_pred, "box_predictor/bbox_pred")
    logits.output(0).get_tensor().set_names({LOGITS})
    deltas.output(0).get_tensor().set_names({DELTAS})
    return ov.Model([logits.output(0), deltas.output(0)], [rows], "box_head")


def _postprocessor(model: Any) -> Any:
    """A RoIHeads holding only what postprocess_detections reads (not the box head's weights)."""
    from torchvision.models.detection.roi_heads import RoIHeads

    heads = model.roi_heads
    return RoIHeads(
        None, None, None, 0.5, 0.5, 512, 0.25, heads.box_coder.weights, heads.score_thresh, heads.nms_thresh,
        heads.detections_per_img,
    )  # fmt: skip


class SplitBackend:
    """Front and head in OpenVINO, RoIAlign and postprocess in torch on one thread (see the module doc)."""

    input_kind = "array"
    eager_model = None  # no eager torch module: the stages are timed in `stage_ms`
    profiler = "openvino PERF_COUNT + host"

    def __init__(
        self, cache_entry: CacheEntry, model: Any, threads: int, precision_hint: str | None, head_variant: str
    ) -> None:
        self.cache_entry = cache_entry
        self.head_variant = head_variant  # recorded by the benchmarks next to the figures
        self.front_args = (threads, precision_hint)
        # an f32 head computes in f32 even where OpenVINO would pick bf16 by default
        self.head_args = (threads, "f32" if head_variant == "fp32" else precision_hint)
        self.front = compile_cpu(cache_entry.path / FRONT_FILE, *self.front_args)
        self.head = compile_cpu(cache_entry.path / HEAD_FILE, *self.head_args)
        self.front_request = self.front.create_infer_request()
        self.head_request = self.head.create_infer_request()
        self.pooler = pooler_of(model)
        self.postprocessor = _postprocessor(model)
        shapes, pooled = level_shapes(model), pooled_levels(model)
        self.levels = [(f"{FEATURE_PREFIX}{k}", shapes[k]) for k in pooled]
        # levels the RoI heads never pool (torchvision's LastLevelMaxPool "pool"): derived for features()
        self.extra_levels = [f"{FEATURE_PREFIX}{k}" for k in shapes if k not in pooled]
        self.stage_ms: dict[str, float] = {}  # wall and CPU ms per stage of the last infer() (benchmark profile)
        # Benchmark knob: pool only the first N proposals. The front's list is score-sorted and torchvision keeps
        # a prefix of it (pre-NMS top-k >= 1000 either way), so this equals a model built for N proposals.
        self.proposal_limit: int | None = None

    def _run_front(self, image: Any, request: Any = None) -> tuple[np.ndarray, np.ndarray]:
        request = self.front_request if request is None else request
        request.infer({INPUT_NAME: export.graph_input(image)})
        proposals = request.get_tensor(PROPOSALS).data.copy()
        return proposals, request.get_tensor(TABLE).data  # table: a view until the next infer

    def infer(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._infer(image, self.front_request, self.head_request)

    def _infer(self, image: Any, front_request: Any, head_request: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch

        clock = _StageClock()
        proposals, table = self._run_front(image, front_request)
        proposals = proposals[: self.proposal_limit]
        clock.lap("front")
        if proposals.shape[0] == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        boxes = torch.from_numpy(proposals)
        with torch_threads(HOST_THREADS), torch.inference_mode():
            rows = self.pooler.rows(torch.from_numpy(table), boxes)
            clock.lap("roi_align")
            head_request.infer({ROWS: rows.numpy()}, share_inputs=True)
            logits = torch.from_numpy(head_request.get_tensor(LOGITS).data)
            deltas = torch.from_numpy(head_request.get_tensor(DELTAS).data)
            clock.lap("box_head")
            out_boxes, scores, labels = self.postprocessor.postprocess_detections(logits, deltas, [boxes], [IMAGE_SIZE])
            clock.lap("postprocess")
        self.stage_ms = clock.ms
        return out_boxes[0].numpy(), scores[0].numpy(), labels[0].numpy()

    def profile(self, images: list[Any]) -> list[list[ProfiledNode]]:
        """Per image: the front's and the head's nodes from OpenVINO's PERF_COUNT (second compiled copies
        with the profiler on) and the host stages as this backend times them (RoIAlign, postprocess)."""
        front = compile_cpu(self.cache_entry.path / FRONT_FILE, *self.front_args, perf_count=True)
        head = compile_cpu(self.cache_entry.path / HEAD_FILE, *self.head_args, perf_count=True)
        front_request, head_request = front.create_infer_request(), head.create_infer_request()
        names = scoped_names(front) | scoped_names(head)
        timed = dict(self.stage_ms)  # the last timed inference's stages stay what they were
        out = []
        try:
            self._infer(images[0], front_request, head_request)  # warm-up: a new model's first run sets kernels up
            for image in images:
                self.stage_ms = {}
                self._infer(image, front_request, head_request)
                host = [ProfiledNode(stage, self.stage_ms.get(stage, 0.0), "host torch") for stage in HOST_STAGES]
                out.append(node_times(front_request, names) + node_times(head_request, names) + host)
        finally:
            self.stage_ms = timed
        return out

    def features(self, image: Any) -> dict[str, np.ndarray]:
        """FPN levels CxHxW from the front's table (what inference computes anyway); the max-pooled extra
        level is derived exactly as torchvision's LastLevelMaxPool (max_pool2d, kernel 1, stride 2)."""
        import torch

        _, table = self._run_front(image)
        out: dict[str, np.ndarray] = {}
        start = 0
        for name, (h, w) in self.levels:
            out[name] = np.ascontiguousarray(table[start : start + h * w].reshape(h, w, -1).transpose(2, 0, 1))
            start += h * w
        for name in self.extra_levels:
            last = torch.from_numpy(out[self.levels[-1][0]])
            out[name] = torch.nn.functional.max_pool2d(last[None], 1, 2, 0)[0].numpy()
        return out

    def size_bytes(self) -> int:
        return self.cache_entry.size_bytes


class _StageClock:
    """Wall and process-CPU ms between laps."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.ms[stage] = (wall - self.wall) * 1e3
        self.ms[f"{stage}_cpu"] = (cpu - self.cpu) * 1e3
        self.wall, self.cpu = wall, cpu


def _head_calibration_rows(front: Any, model: Any, calibration: list[np.ndarray]) -> list[np.ndarray]:
    """What the deployed head sees: rows pooled from the (quantised) front's outputs on the calibration frames."""
    import openvino as ov
    import torch

    compiled = ov.Core().compile_model(front, "CPU", {"INFERENCE_NUM_THREADS": export.runtime_threads()})
    pooler = pooler_of(model)
    samples = []
    with torch_threads(HOST_THREADS), torch.inference_mode():
        for image in calibration:
            result = compiled({INPUT_NAME: image})
            boxes = torch.from_numpy(result[PROPOSALS].copy())
            if boxes.shape[0]:
                samples.append(pooler.rows(torch.from_numpy(result[TABLE].copy()), boxes).numpy())
    return samples


def build_openvino_split_int8(model: Any, spec: Any, ctx: BuildContext, variant: str | None = None) -> SplitBackend:
    """The front quantised by NNCF (the preset of the legacy export); the head as `variant` (default: the one
    this CPU runs fastest, `head_variant`): int8 calibrated on the int8 front, int8 weights only, or f32."""
    import openvino as ov

    export.require_exportable(spec, ctx, "openvino-int8")
    variant = variant or head_variant(cpu_flags())

    def quantize(tmp: Path, calibration: list[np.ndarray]) -> None:
        import nncf

        def int8(ov_model: Any, samples: list[Any]) -> Any:
            preset = nncf.QuantizationPreset.PERFORMANCE
            return nncf.quantize(ov_model, nncf.Dataset(samples), subset_size=len(samples), preset=preset)

        front = int8(front_model(model, tmp), calibration)
        ov.save_model(front, str(tmp / FRONT_FILE), compress_to_fp16=False)
        head = head_model(model)
        if variant == "int8":
            head = int8(head, _head_calibration_rows(front, model, calibration))
        elif variant == "int8-weights":
            head = nncf.compress_weights(head, mode=nncf.CompressWeightsMode.INT8_ASYM)
        ov.save_model(head, str(tmp / HEAD_FILE), compress_to_fp16=False)

    # a cache name of its own: entries of the single-graph export ("openvino-int8-...") stay the legacy scheme's
    entry = export.calibrated_entry(ctx, split_cache_scheme(variant), quantize, {"head": variant})
    return SplitBackend(entry, model, export.runtime_threads(), None, variant)


def build_openvino_split_fp32(model: Any, spec: Any, ctx: BuildContext) -> SplitBackend:
    """The same split at f32 (f32 precision hint): detections as the openvino-fp32 export's."""
    import openvino as ov

    export.require_exportable(spec, ctx, "openvino-fp32-split")

    def build(tmp: Path) -> dict[str, Any]:
        ov.save_model(front_model(model, tmp), str(tmp / FRONT_FILE), compress_to_fp16=False)
        ov.save_model(head_model(model), str(tmp / HEAD_FILE), compress_to_fp16=False)
        return {"scheme": "openvino-fp32-split", "openvino": ov.__version__}

    entry = cached_entry(ctx, "openvino-split-fp32", build)
    return SplitBackend(entry, model, export.runtime_threads(), "f32", "fp32")
