"""A stand-in for the detection graph in bridge tests: publishes image / detections / main_person / stats.

Run as a process (`python test/helpers/fake_pipeline.py --rate 10 --duration 30`); it stops by itself after
`--duration` seconds and prints one JSON line with what it published. Frames are deterministic: a dark blue
background, a light grey "person" that moves right one step per frame (box = `person_box(seq)`), and a
fixed orange-labelled "chair" detection. Documents are built with ros_detect.schema, so they are
exactly what the real detector and main_person nodes publish.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from ros_detect import schema
from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.schema import Detection

W, H = 427, 240
BACKGROUND_BGR = (120, 40, 20)  # dark blue
PERSON_BGR = (200, 200, 200)  # light grey
CHAIR_BOX = [300.0, 150.0, 400.0, 230.0]
FRAME_ID = "fake_cam"


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


def docs(seq: int, stamp_ns: int, weights: str = RANDOM_INIT_LABEL) -> tuple[dict, dict]:
    box = person_box(seq)
    det = schema.detections_doc(
        seq=seq,
        stamp_ns=stamp_ns,
        frame_id=FRAME_ID,
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
        frame_id=FRAME_ID,
        image_size=(W, H),
        weights=det["weights"],
        box=box,
        score=0.93,
        track_id=1,
        held=False,
        latency_ms={"capture_to_detection": 55.0, "capture_to_main_person": 56.0},
    )
    return det, main


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("--synthetic", action="store_true", help="demo feed: synthetic street + ground-truth boxes")
    ap.add_argument("--weights", default=RANDOM_INIT_LABEL, help="weights label of the documents")
    args = ap.parse_args()

    import rclpy
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.executors import ExternalShutdownException
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from ros_detect.graph.stats import StatsWindow
    from ros_detect.nodes.image import bgr_to_image

    published = 0
    t0 = time.monotonic()
    try:
        with rclpy.init():
            node = rclpy.create_node("fake_pipeline")
            pub_image = node.create_publisher(Image, "image", 10)
            pub_det = node.create_publisher(String, "detections", 10)
            pub_main = node.create_publisher(String, "main_person", 10)
            pub_stats = node.create_publisher(String, "stats", 10)
            window = StatsWindow("/fake_main_person")

            def tick() -> None:
                nonlocal published
                seq = published
                stamp = time.time_ns()
                if args.synthetic:
                    frame, det, main_doc = synthetic_docs(seq, stamp)
                else:
                    frame, (det, main_doc) = render(seq, args.noise), docs(seq, stamp, args.weights)
                pub_image.publish(bgr_to_image(frame, stamp, det["frame_id"]))
                pub_det.publish(String(data=schema.dumps(det)))
                pub_main.publish(String(data=schema.dumps(main_doc)))
                window.record(latency_ms=main_doc["latency_ms"], stage_ms=det["timing_ms"], frame_id=det["frame_id"])
                published += 1

            node.create_timer(1.0 / args.rate, tick)
            node.create_timer(1.0, lambda: pub_stats.publish(String(data=schema.dumps(window.doc()))))
            while rclpy.ok() and time.monotonic() - t0 < args.duration:
                rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException, RCLError):
        pass  # SIGTERM/SIGINT: rclpy shuts the context down, possibly mid-spin (RCLError)
    elapsed = time.monotonic() - t0
    print(json.dumps({"published": published, "elapsed_s": round(elapsed, 3), "fps": published / elapsed}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
