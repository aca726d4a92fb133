"""COCO-style mAP of a detector on a user-supplied COCO-format set (person and all classes).

Images are letterboxed to the deployment size (427x240) exactly as the video sources do, and
boxes are mapped back to the original image before scoring, so the figure is the accuracy of
the pipeline as deployed, not of the model at its training resolution.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import cv2

from ros_detect.errors import InputError
from ros_detect.frame import OUTPUT_SIZE
from ros_detect.media.sources import resize_to_output
from ros_detect.schema import PERSON_CLASS_ID


def _letterbox_params(w: int, h: int) -> tuple[float, float, float]:
    out_w, out_h = OUTPUT_SIZE
    scale = min(out_w / w, out_h / h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    return scale, (out_w - tw) // 2, (out_h - th) // 2


def coco_map(detector: Any, images: str, annotations: str, limit: int = 0) -> dict[str, Any]:
    """mAP@[.5:.95] and AP50 for all classes and for person, via pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ann_path, img_dir = Path(annotations), Path(images)
    if not ann_path.is_file():
        raise InputError(f"COCO annotation file {ann_path} does not exist", "pass --coco-annotations FILE.json")
    if not img_dir.is_dir():
        raise InputError(f"COCO image directory {img_dir} does not exist", "pass --coco-images DIR")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
    ids = sorted(gt.getImgIds())[: limit or None]
    results = []
    for image_id in ids:
        info = gt.loadImgs(image_id)[0]
        image = cv2.imread(str(img_dir / info["file_name"]))
        if image is None:
            raise InputError(f"cannot read COCO image {img_dir / info['file_name']}", "check --coco-images")
        h, w = image.shape[:2]
        scale, x0, y0 = _letterbox_params(w, h)
        dets, _ = detector.detect(resize_to_output(image))
        for d in dets:
            x1, y1, x2, y2 = (
                (d.box[0] - x0) / scale,
                (d.box[1] - y0) / scale,
                (d.box[2] - x0) / scale,
                (d.box[3] - y0) / scale,
            )
            results.append(
                {"image_id": image_id, "category_id": d.class_id, "score": d.score, "bbox": [x1, y1, x2 - x1, y2 - y1]}
            )
    out: dict[str, Any] = {"images": len(ids), "detections": len(results)}
    if not results:
        return {**out, "map_all": 0.0, "ap50_all": 0.0, "map_person": 0.0, "ap50_person": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        for key, cats in (("all", None), ("person", [PERSON_CLASS_ID])):
            ev = COCOeval(gt, dt, "bbox")
            ev.params.imgIds = ids
            if cats:
                ev.params.catIds = cats
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            out[f"map_{key}"], out[f"ap50_{key}"] = round(float(ev.stats[0]), 4), round(float(ev.stats[1]), 4)
    return out
