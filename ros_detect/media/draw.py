"""Drawing results onto frames for the annotated video and the web view."""

from __future__ import annotations

import cv2
import numpy as np

from ros_detect.schema import PERSON_CLASS_ID, Detection

MAIN_COLOR = (0, 220, 0)  # BGR
HELD_COLOR = (0, 200, 255)
OTHER_COLOR = (170, 170, 170)
BANNER_COLOR = (0, 0, 255)


def _box(box: list[float] | tuple[float, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
    x1, y1, x2, y2 = (round(v) for v in box)
    return (x1, y1), (x2, y2)


def annotate(
    frame: np.ndarray,
    detections: list[Detection],
    main_person: dict | None,
    banner: str | None = None,
) -> np.ndarray:
    """Return a copy of `frame`: other people faint, the main person highlighted, optional banner."""
    out = frame.copy()
    overlay = out.copy()
    for det in detections:
        if det.class_id == PERSON_CLASS_ID:
            cv2.rectangle(overlay, *_box(det.box), OTHER_COLOR, 1)
    cv2.addWeighted(overlay, 0.6, out, 0.4, 0, dst=out)
    if main_person and main_person.get("present"):
        color = HELD_COLOR if main_person.get("held") else MAIN_COLOR
        p1, p2 = _box(main_person["box"])
        cv2.rectangle(out, p1, p2, color, 2)
        label = f"main #{main_person['track_id']} {main_person['score']:.2f}" + (
            " held" if main_person.get("held") else ""
        )
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        y = max(p1[1], th + 4)
        cv2.rectangle(out, (p1[0], y - th - 4), (p1[0] + tw + 4, y), color, -1)
        cv2.putText(out, label, (p1[0] + 2, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    if banner:
        cv2.rectangle(out, (0, 0), (out.shape[1], 16), (255, 255, 255), -1)
        cv2.putText(out, banner, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, BANNER_COLOR, 1, cv2.LINE_AA)
    return out
