"""The in-process launcher's own node: watches the graph's results, and with -o OUTDIR records them.

It counts every `detections` and `main_person` message, so the launcher can hold the source until these
subscriptions are matched (nothing published is missed) and, on a stop, let main_person answer every
detection before stopping it. With a GraphRecorder it also writes the `ros-detect video` files.
"""

from __future__ import annotations

import json
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.nodes.common import make_qos
from ros_detect.nodes.image import image_to_bgr, stamp_ns
from ros_detect.nodes.messages import Detections, MainPerson, detections_doc, main_person_doc
from ros_detect.pipeline.recorder import GraphRecorder

# covers every frame in flight in video mode and a burst of results while the launcher is busy
DEPTH = 50


class OutputsNode(Node):
    """Subscribes detections, main_person, stats, and image when recording video (relative names, so it
    follows the namespace)."""

    def __init__(
        self, recorder: GraphRecorder | None = None, image_reliability: str = "reliable", **kwargs: Any
    ) -> None:
        super().__init__(kwargs.pop("node_name", "ros_detect_outputs"), **kwargs)
        self.recorder = recorder
        self.detections = 0
        self.main_person = 0
        self.last_stats: dict[str, dict[str, Any]] = {}
        results_qos = make_qos("reliable", DEPTH)
        self.results = [
            self.create_subscription(Detections, "detections", self._on_detections, results_qos),
            self.create_subscription(MainPerson, "main_person", self._on_main_person, results_qos),
        ]
        self.create_subscription(String, "stats", self._on_stats, make_qos("reliable", DEPTH))
        if recorder is not None and recorder.video is not None:
            self.create_subscription(Image, "image", self._on_image, make_qos(image_reliability, DEPTH))

    def unmatched_results(self) -> list[str]:
        """Result topics with no publisher matched yet: whatever is published there now would be missed."""
        return [sub.topic_name for sub in self.results if sub.get_publisher_count() < 1]

    def subscribers_of(self, topic: str) -> set[str]:
        """Names of the nodes subscribed to `topic` (relative to this node's namespace)."""
        return {info.node_name for info in self.get_subscriptions_info_by_topic(self.resolve_topic_name(topic))}

    def _on_image(self, msg: Image) -> None:
        self.recorder.on_image(stamp_ns(msg.header), image_to_bgr(msg))

    def _on_detections(self, msg: Detections) -> None:
        self.detections += 1
        if self.recorder is not None:
            self.recorder.on_detections(detections_doc(msg))

    def _on_main_person(self, msg: MainPerson) -> None:
        self.main_person += 1
        if self.recorder is not None:
            self.recorder.on_main_person(main_person_doc(msg))

    def _on_stats(self, msg: String) -> None:
        doc = json.loads(msg.data)
        self.last_stats[doc.get("node", "?")] = doc

    def source_stats(self) -> dict[str, Any] | None:
        """The latest stats of the graph's source node (video_source or camera_source)."""
        for node, doc in self.last_stats.items():
            if node.endswith("_source"):
                return doc
        return None
