"""Agreement and error measures between a scheme's outputs and the fp32 reference."""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_detect.percentiles import percentiles
from ros_detect.schema import PERSON_CLASS_ID, Detection
from ros_detect.selection.main_person import MainPersonConfig, MainPersonSelector
from ros_detect.selection.tracking import box_iou

# The fidelity bound for int8 schemes on random-init weights (backbone + FPN outputs vs fp32): int8 keeps
# ~8 bits per tensor (~40 dB at best) and the chain of ~50 quantised convs costs a few dB per stage.
INT8_FEATURE_SQNR_MIN_DB = 15.0


@dataclass
class FrameOutput:
    """Raw detector output for one frame (boxes x1y1x2y2 in frame pixels)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def sqnr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """Signal-to-quantisation-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - other)^2)."""
    ref = np.asarray(reference, np.float64).ravel()
    noise = float(np.sum((ref - np.asarray(other, np.float64).ravel()) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-30) / noise)


def feature_sqnr(reference: list[dict[str, np.ndarray]], other: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """SQNR per FPN level and over all levels, pooled over frames. Empty when shapes differ."""
    if not reference or len(reference) != len(other):
        return {}
    out: dict[str, float] = {}
    for key in reference[0]:
        if any(key not in o or o[key].shape != r[key].shape for r, o in zip(reference, other, strict=True)):
            return {}
        out[key] = sqnr_db(
            np.concatenate([r[key].ravel() for r in reference]), np.concatenate([o[key].ravel() for o in other])
        )
    keys = list(reference[0])
    out["all"] = sqnr_db(
        np.concatenate([r[k].ravel() for r in reference for k in keys]),
        np.concatenate([o[k].ravel() for o in other for k in keys]),
    )
    return out


def proxy_person_class(outputs: list[FrameOutput], trained: bool) -> int:
    """The class the main-person selector follows: person with real weights; on random-init weights
    (which never score 'person' reliably) the reference's most frequent class, so agreement still
    compares the same selection logic. Not an accuracy figure."""
    if trained:
        return PERSON_CLASS_ID
    labels = np.concatenate([o.labels for o in outputs]) if outputs else np.zeros(0, int)
    return int(np.bincount(labels.astype(int)).argmax()) if labels.size else PERSON_CLASS_ID


def main_person_track(
    outputs: list[FrameOutput], image_size: tuple[int, int], person_class: int, min_score: float
) -> list[list[float] | None]:
    """The main-person box per frame, as the pipeline's selector would choose it."""
    selector = MainPersonSelector(MainPersonConfig(min_score=min_score))
    boxes: list[list[float] | None] = []
    for out in outputs:
        dets = [
            Detection(tuple(float(v) for v in box), float(score), PERSON_CLASS_ID, "person")
            for box, score, label in zip(out.boxes, out.scores, out.labels, strict=True)
            if int(label) == person_class
        ]
        boxes.append(selector.update(dets, image_size).box)
    return boxes


def main_person_agreement(
    reference: list[list[float] | None], other: list[list[float] | None], match_iou: float = 0.5
) -> dict[str, Any]:
    """Per-frame IoU of the chosen main person; a frame matches when both agree on absence or IoU >= match_iou."""
    ious: list[float | None] = []
    matches = 0
    for ref, box in zip(reference, other, strict=True):
        if ref is None and box is None:
            ious.append(None)
            matches += 1
            continue
        iou = box_iou(ref, box) if ref is not None and box is not None else 0.0
        ious.append(round(iou, 4))
        matches += iou >= match_iou
    present = [v for v in ious if v is not None]
    n = len(reference)
    return {
        "frames": n,
        "frames_with_main_person_ref": sum(r is not None for r in reference),
        "match_fraction": round(matches / n, 4) if n else None,
        "mean_iou": round(float(np.mean(present)), 4) if present else None,
        "fraction_iou_ge_0.9": round(sum(v >= 0.9 for v in present) / len(present), 4) if present else None,
        "per_frame_iou": ious,
    }


def detection_map_vs_reference(
    reference: list[FrameOutput], other: list[FrameOutput], gt_min_score: float
) -> dict[str, float | None]:
    """COCO mAP of `other` treating `reference` detections (score >= gt_min_score) as ground truth."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results, categories = [], [], [], set()
    for i, (ref, out) in enumerate(zip(reference, other, strict=True)):
        images.append({"id": i, "width": 427, "height": 240})
        for box, score, label in zip(ref.boxes, ref.scores, ref.labels, strict=True):
            if score >= gt_min_score:
                w, h = float(box[2] - box[0]), float(box[3] - box[1])
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i,
                        "category_id": int(label),
                        "bbox": [float(box[0]), float(box[1]), w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
                categories.add(int(label))
        for box, score, label in zip(out.boxes, out.scores, out.labels, strict=True):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(label),
                    "score": float(score),
                    "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                }
            )
            categories.add(int(label))
    if not annotations:
        return {"map": None, "ap50": None, "gt_boxes": 0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in sorted(categories)],
        }
        gt.createIndex()
        dt = gt.loadRes(results) if results else None
        if dt is None:
            return {"map": 0.0, "ap50": 0.0, "gt_boxes": len(annotations)}
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": round(float(ev.stats[0]), 4), "ap50": round(float(ev.stats[1]), 4), "gt_boxes": len(annotations)}


def percentile_summary(values: list[float]) -> dict[str, float | None]:
    """The benchmark's latency summary: min (least disturbed by other processes on a shared machine), p50, p90,
    mean, in ms to 0.01."""
    return percentiles(values, (50, 90), digits=2, low=True)
