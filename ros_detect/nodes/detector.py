"""detector: `image` -> `detections` (one JSON document per processed frame, also when empty).

Frame facts the Image message cannot carry (seq, media time, decode time) come from the source's
`frame_info` side topic, matched by capture stamp; without it (a foreign camera driver, an image-only
bag) frames are numbered in arrival order. Frames older than max_age_ms are dropped and counted
(webcam mode); frames replaced under latest-wins QoS (a frame_info whose image never came) are counted too.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.detection.detector import Detector, DetectorConfig, freeze_heap
from ros_detect.detection.models import REFERENCE_MODEL, ModelSpec
from ros_detect.errors import RosDetectError
from ros_detect.graph.flow import FrameInfoTracker
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    StatsPublisher,
    declare_parameters,
    log_parameters,
    make_qos,
    publisher_events,
    subscribe,
)
from ros_detect.nodes.image import image_to_bgr, stamp_ns
from ros_detect.nodes.messages import JSON_TOPICS_PARAM, Detections, ResultPublisher, detections_msg
from ros_detect.schema import detections_doc

NAME = "detector"
FRAME_INFO_WAIT_S = 0.05
PARAMS = {
    "model": (REFERENCE_MODEL, "torchvision detector name"),
    "weights": ("auto", "auto | DEFAULT | none | /path/to/checkpoint.pth"),
    "precision": ("fp32", "precision scheme (fp32, seed, ...)"),
    "device": ("auto", "auto | cpu | cuda | cuda:N"),
    "threads": (0, "torch intra-op threads; 0 = all cores"),
    "proposals": (ModelSpec.proposals, "RPN proposals kept per frame"),
    "score_threshold": (ModelSpec.score_threshold, "minimum detection score"),
    "seed": (ModelSpec.seed, "seed of random-init weights (weights=none)"),
    "force_proposals": (False, "benchmarks on random-init weights: keep `proposals` like a trained RPN"),
    "max_age_ms": (0.0, "drop frames older than this when their turn comes (0 = never; webcam mode)"),
    "image_topic": ("image", "input sensor_msgs/Image topic"),
    "frame_info_topic": ("frame_info", "per-frame seq/media time from the source (optional)"),
    "detections_topic": ("detections", "output ros_detect_interfaces/Detections (JSON: ros_detect/detections@1)"),
    **JSON_TOPICS_PARAM,
    "image_reliability": ("reliable", "reliable (video: every frame) | best_effort (webcam: latest wins)"),
    "image_depth": (10, "image subscription depth (>= source max_in_flight in video mode; 1 = latest wins)"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here


class DetectorNode(Node):
    """Callbacks only queue; one inference thread works the queue.

    Inference never runs in an executor callback: a multi-threaded executor whose callback group is busy
    while messages wait spins the main thread at 100% of a core (seen: a third of the CPU taken from
    inference on two cores, and GIL stalls of 0.4 s in preprocessing). The executor stays free for
    frame_info, stats and parameters.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = declare_parameters(self, PARAMS)
        self.params = p
        config = DetectorConfig(
            model=ModelSpec(
                name=p["model"],
                weights=p["weights"],
                proposals=p["proposals"],
                score_threshold=p["score_threshold"],
                seed=p["seed"],
                force_proposals=p["force_proposals"],
            ),
            precision=p["precision"],
            device=p["device"],
            threads=p["threads"],
        )
        self.detector = Detector(config)  # slow (model build): done before subscribing
        freeze_heap()  # no full garbage-collection pause in the middle of a frame later
        self.info = FrameInfoTracker()  # also counts frames replaced before they got here (latest wins)
        self.arrival_seq = 0
        self.stale = 0
        self.pub = ResultPublisher(
            self,
            Detections,
            p["detections_topic"],
            10,
            p["json_topics"],
            event_callbacks=publisher_events(self, p["detections_topic"]),
        )
        self.stats = StatsPublisher(self, p["stats_topic"], p["stats_period_s"])
        self.stats.extra = lambda w: w.set_counter("stale", self.stale)
        self._info_lock = threading.Lock()
        # frame_info keeps flowing while a frame is in inference, so the tracker sees every frame the
        # source published and counts the ones replaced
        info_qos = make_qos("reliable", 100)
        self.info_sub = self.create_subscription(String, p["frame_info_topic"], self._on_info, info_qos)
        # images wait here for the inference thread; in webcam mode (depth 1) a newer frame replaces the
        # waiting one (the tracker counts it from its frame_info)
        self._queue: deque[Image] = deque(maxlen=p["image_depth"])
        self._wake = threading.Condition()
        self._stop = False
        self.done_future = Future()  # fails with the error that makes every frame fail; run_node reports it
        self.image_sub = subscribe(
            self,
            Image,
            p["image_topic"],
            self._on_image,
            make_qos(p["image_reliability"], p["image_depth"], "image_depth"),
        )
        self._worker = threading.Thread(target=self._work, name="inference", daemon=True)
        self._worker.start()
        log_parameters(self, p | {"weights_resolved": self.detector.weights_label})

    def _on_info(self, msg: String) -> None:
        try:
            info = json.loads(msg.data)
            stamp = int(info["stamp_ns"])
            with self._info_lock:
                dropped = self.info.on_info(stamp, info)
        except (ValueError, KeyError, TypeError):
            self.get_logger().warning("malformed frame_info message ignored")
            return
        if dropped:
            self.stats.window.drop(dropped)

    def _on_image(self, msg: Image) -> None:
        with self._wake:
            self._queue.append(msg)
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                msg = self._queue.popleft()
            try:
                self._process(msg)
            except RosDetectError as exc:  # a setting that fails every frame (e.g. image size): stop the node
                self.done_future.set_exception(exc)
                return
            except Exception as exc:  # one bad frame must not end the inference thread
                self.get_logger().error(f"frame not processed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop the inference thread (a frame in inference finishes first, bounded)."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._worker.join(timeout=5.0)

    def _process(self, msg: Image) -> None:
        t_start = time.time_ns()
        capture_ns = stamp_ns(msg.header)
        frame_id = msg.header.frame_id or "source"
        # The image can overtake its frame_info (two topics), e.g. right after a restart: when a source
        # publishes frame_info, give it a moment so the frame keeps the source's numbering.
        deadline = time.monotonic() + FRAME_INFO_WAIT_S if self.info_sub.get_publisher_count() else 0.0
        while not self.info.cache.has(capture_ns) and time.monotonic() < deadline:
            time.sleep(0.002)
        with self._info_lock:
            info, dropped = self.info.on_image(capture_ns, frame_id)
        if dropped:
            self.stats.window.drop(dropped)
        if info is not None:
            seq, media_time_s, decode_ms = int(info["seq"]), info.get("media_time_s"), float(info["decode_ms"])
        else:
            seq, media_time_s, decode_ms = self.arrival_seq, None, 0.0
        self.arrival_seq += 1
        wait_ms = (t_start - capture_ns) / 1e6
        if self.params["max_age_ms"] > 0 and wait_ms > self.params["max_age_ms"]:
            self.stale += 1
            self.stats.window.drop()
            return
        try:
            frame = image_to_bgr(msg)
        except Exception as exc:
            self.get_logger().error(f"cannot use image on '{self.image_sub.topic_name}': {exc}")
            return
        detections, timing = self.detector.detect(frame)
        timing_ms = {"decode": decode_ms, **timing, "wait": max(0.0, wait_ms)}
        doc = detections_doc(
            seq=seq,
            stamp_ns=capture_ns,
            frame_id=frame_id,
            image_size=(int(msg.width), int(msg.height)),
            model=self.detector.model_name,
            precision=self.detector.precision,
            weights=self.detector.weights_label,
            detections=detections,
            timing_ms=timing_ms,
            media_time_s=media_time_s,
        )
        self.pub.publish(detections_msg(doc), doc)
        self.stats.window.record(
            latency_ms={"capture_to_detection": (time.time_ns() - capture_ns) / 1e6},
            stage_ms=timing_ms,
            frame_id=frame_id,
        )


def main(args: list[str] | None = None) -> int:
    from ros_detect.nodes.common import run_node

    return run_node(DetectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
