"""A stand-in for the detection graph: publishes image / detections / main_person / stats from
ros_detect/bench/fake_feed.py at a fixed rate, for the web view's benchmarks, screenshots and tests.

    python -m ros_detect.nodes.fake_pipeline --rate 10 --duration 30 [--noise | --synthetic] [--weights LABEL ...]
                                             [--sources cam1 cam2]

With `--sources`, each source publishes the same topics under its namespace (`cam1/image`, ...), with its own
frame_id (`fake_cam_cam1`), seq (source i starts at 33*i) and weights label (one per source, or one for all).
It stops by itself after `--duration` seconds (or on SIGTERM/SIGINT) and prints one JSON line with what it
published. Not part of the detection graph: `ros-detect launch` never starts it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ros_detect import schema
from ros_detect.bench.fake_feed import SOURCE_SEQ_OFFSET, docs, render, source_frame_id, synthetic_docs
from ros_detect.detection.weights import RANDOM_INIT_LABEL


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("--synthetic", action="store_true", help="demo feed: synthetic street + ground-truth boxes")
    ap.add_argument("--weights", nargs="+", default=[RANDOM_INIT_LABEL], help="weights label(s) of the documents")
    ap.add_argument("--sources", nargs="*", default=[], help="namespaces to publish under (default: none)")
    args = ap.parse_args()
    sources = args.sources or [""]
    if len(args.weights) not in (1, len(sources)):
        ap.error("give one --weights label, or one per source")
    labels = args.weights * len(sources) if len(args.weights) == 1 else args.weights
    weights = dict(zip(sources, labels, strict=True))

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
            lanes = []
            for i, src in enumerate(sources):
                ns = f"{src}/" if src else ""
                lanes.append(
                    (
                        src,
                        i * SOURCE_SEQ_OFFSET,
                        node.create_publisher(Image, ns + "image", 10),
                        node.create_publisher(Detections, ns + "detections", 10),
                        node.create_publisher(MainPerson, ns + "main_person", 10),
                        node.create_publisher(String, ns + "stats", 10),
                        StatsWindow(f"/{ns}fake_main_person"),
                    )
                )

            def tick() -> None:
                nonlocal published
                stamp = time.time_ns()
                for src, offset, pub_image, pub_det, pub_main, _, window in lanes:
                    seq = published + offset
                    if args.synthetic:
                        frame, det, main_doc = synthetic_docs(seq, stamp)
                    else:
                        frame = render(seq, args.noise)
                        det, main_doc = docs(seq, stamp, weights[src], source_frame_id(src))
                    pub_image.publish(bgr_to_image(frame, stamp, det["frame_id"]))
                    pub_det.publish(detections_msg(det))
                    pub_main.publish(main_person_msg(main_doc))
                    window.record(
                        latency_ms=main_doc["latency_ms"], stage_ms=det["timing_ms"], frame_id=det["frame_id"]
                    )
                published += 1

            def heartbeat() -> None:
                for *_, pub_stats, window in lanes:
                    pub_stats.publish(String(data=schema.dumps(window.doc())))

            node.create_timer(1.0 / args.rate, tick)
            node.create_timer(1.0, heartbeat)
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
