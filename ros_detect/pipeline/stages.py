"""The per-frame stages shared by the offline pipeline and the ROS nodes."""

from __future__ import annotations

import time
from typing import Any

from ros_detect.detection.detector import Detector
from ros_detect.media.sources import Frame
from ros_detect.schema import Detection, detections_doc, main_person_doc, stamp_to_ns
from ros_detect.selection.main_person import MainPersonSelector


def detect_frame(
    detector: Detector, frame: Frame, frame_id: str, wait_ms: float | None = None
) -> tuple[dict[str, Any], list[Detection]]:
    """Run the detector on one frame and wrap the result in the detections schema.

    `wait_ms` (live sources: capture -> detector start) goes into `timing_ms.wait`, as the detector node does.
    """
    detections, timing = detector.detect(frame.image)
    if wait_ms is not None:
        timing["wait"] = max(0.0, wait_ms)
    doc = detections_document(detector, frame, frame_id, detections, {"decode": frame.decode_ms, **timing})
    return doc, detections


def detections_document(
    detector: Detector, frame: Frame, frame_id: str, detections: list[Detection], timing_ms: dict[str, float]
) -> dict[str, Any]:
    """The detections document of `detector`'s result for `frame`."""
    h, w = frame.image.shape[:2]
    return detections_doc(
        seq=frame.seq,
        stamp_ns=frame.stamp_ns,
        frame_id=frame_id,
        image_size=(w, h),
        model=detector.model_name,
        precision=detector.precision,
        weights=detector.weights_label,
        detections=detections,
        timing_ms=timing_ms,
        media_time_s=frame.media_time_s,
    )


def select_main_person(
    selector: MainPersonSelector,
    det_doc: dict[str, Any],
    detections: list[Detection] | None = None,
    detection_done_ns: int | None = None,
) -> dict[str, Any]:
    """Main-person document for one detections document (latency measured from capture)."""
    if detections is None:
        detections = [Detection.from_dict(d) for d in det_doc["detections"]]
    image_size = (int(det_doc["image_size"][0]), int(det_doc["image_size"][1]))
    result = selector.update(detections, image_size)
    now_ns = time.time_ns()
    capture_ns = stamp_to_ns(det_doc["stamp"])
    latency = {"capture_to_main_person": (now_ns - capture_ns) / 1e6}
    if detection_done_ns is not None:
        latency["capture_to_detection"] = (detection_done_ns - capture_ns) / 1e6
    return main_person_doc(
        seq=det_doc["seq"],
        stamp=det_doc["stamp"],
        frame_id=det_doc["frame_id"],
        image_size=image_size,
        weights=det_doc["weights"],
        box=result.box,
        score=result.score,
        track_id=result.track_id,
        held=result.held,
        latency_ms=latency,
        media_time_s=det_doc.get("media_time_s"),
    )
