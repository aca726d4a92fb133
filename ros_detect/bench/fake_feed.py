"""A deterministic stand-in for the detection graph's output: frames and their detections / main_person documents.

Published by ros_detect/nodes/fake_pipeline.py for the web view's benchmarks, screenshots and tests. Frames are
deterministic: a dark blue background, a light grey "person" that moves right one step per frame
(box = `person_box(seq)`), and a fixed orange-labelled "chair" detection. Documents are built with
ros_detect.schema, so they are exactly what the real detector and main_person nodes publish.
"""

from __future__ import annotations

import time

import numpy as np

from ros_detect import schema
from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.frame import OUTPUT_SIZE
from ros_detect.schema import Detection

W, H = OUTPUT_SIZE
BACKGROUND_BGR = (120, 40, 20)  # dark blue
PERSON_BGR = (200, 200, 200)  # light grey
CHAIR_BOX = [300.0, 150.0, 400.0, 230.0]
FRAME_ID = "fake_cam"
SOURCE_SEQ_OFFSET = 33  # several sources: source i starts at seq 33*i, so its person stands ~100 px further right


def source_frame_id(source: str) -> str:
    """The frame_id of a source's fake camera (FRAME_ID without sources)."""
    return f"{FRAME_ID}_{source}" if source else FRAME_ID


def person_box(seq: int) -> list[float]:
    x1 = 40.0 + (seq * 3) % 200
    return [x1, 40.0, x1 + 80.0, 220.0]


def render(seq: int, noise: bool = False) -> np.ndarray:
    frame = np.empty((H, W, 3), np.uint8)
    frame[:] = BACKGROUND_BGR
    if noise:  # incompressible frames (~100 kB JPEG) fill a stalled client's socket fast
        frame[:] = np.random.default_rng(seq).integers(0, 256, (H, W, 3), dtype=np.uint8)
    x1, y1, x2, y2 = (int(v) for v in person_box(seq))
    frame[y1:y2, x1:x2] = PERSON_BGR
    return frame


def docs(seq: int, stamp_ns: int, weights: str = RANDOM_INIT_LABEL, frame_id: str = FRAME_ID) -> tuple[dict, dict]:
    box = person_box(seq)
    det = schema.detections_doc(
        seq=seq,
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        image_size=(W, H),
        model="fake",
        precision="fp32",
        weights=weights,
        detections=[Detection(tuple(box), 0.93, 1, "person"), Detection(tuple(CHAIR_BOX), 0.61, 62, "chair")],
        timing_ms={"decode": 1.0, "preprocess": 2.0, "inference": 50.0, "postprocess": 1.0},
    )
    main = schema.main_person_doc(
        seq=seq,
        stamp=det["stamp"],
        frame_id=frame_id,
        image_size=(W, H),
        weights=det["weights"],
        box=box,
        score=0.93,
        track_id=1,
        held=False,
        latency_ms={"capture_to_detection": 55.0, "capture_to_main_person": 56.0},
    )
    return det, main


def main_person_payload(seq: int) -> str:
    """Frame `seq`'s main_person document stamped now, as the one-line JSON payload of a topic or MQTT message."""
    return schema.dumps(docs(seq, time.time_ns())[1])


def synthetic_docs(seq: int, stamp_ns: int) -> tuple[np.ndarray, dict, dict]:
    """Demo feed for docs/screenshots: the synthetic street clip with its ground-truth person boxes as
    "detections" (score 1.00, model "ground-truth"); the main person is the largest box. Not a model result."""
    from ros_detect.media.synthetic import ground_truth_boxes, render_frame

    frame = render_frame(seq, size=(W, H))
    boxes = sorted(ground_truth_boxes(seq, size=(W, H)), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    det = schema.detections_doc(
        seq=seq,
        stamp_ns=stamp_ns,
        frame_id="synthetic_street",
        image_size=(W, H),
        model="ground-truth",
        precision="n/a",
        weights="none (synthetic ground truth, NOT A MODEL RESULT)",
        detections=[Detection(tuple(b), 1.0, 1, "person") for b in boxes],
        timing_ms={},
    )
    main = schema.main_person_doc(
        seq=seq,
        stamp=det["stamp"],
        frame_id="synthetic_street",
        image_size=(W, H),
        weights=det["weights"],
        box=[round(v, 2) for v in boxes[-1]] if boxes else None,
        score=1.0 if boxes else None,
        track_id=1 if boxes else None,
        held=False,
        latency_ms=None,
    )
    return frame, det, main
