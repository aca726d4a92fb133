"""A stand-in for the detection graph: publishes image / detections / main_person / stats from
ros_detect/bench/fake_feed.py at a fixed rate, for the web view's benchmarks, screenshots and tests.

    python -m ros_detect.nodes.fake_pipeline --rate 10 --duration 30 [--noise | --synthetic] [--weights LABEL]

It stops by itself after `--duration` seconds (or on SIGTERM/SIGINT) and prints one JSON line with what it
published. Not part of the detection graph: `ros-detect launch` never starts it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ros_detect import schema
from ros_detect.bench.fake_feed import docs, render, synthetic_docs
from ros_detect.detection.weights import RANDOM_INIT_LABEL


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
    from ros_detect.nodes.messages import Detections, MainPerson, detections_msg, main_person_msg

    published = 0
    t0 = time.monotonic()
    try:
        with rclpy.init():
            node = rclpy.create_node("fake_pipeline")
            pub_image = node.create_publisher(Image, "image", 10)
            pub_det = node.create_publisher(Detections, "detections", 10)
            pub_main = node.create_publisher(MainPerson, "main_person", 10)
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
                pub_det.publish(detections_msg(det))
                pub_main.publish(main_person_msg(main_doc))
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
