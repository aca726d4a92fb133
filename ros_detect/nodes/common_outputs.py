"""The launcher's output node: records the graph's topics into the `ros-detect video` files (-o OUTDIR)."""

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


class OutputsNode(Node):
    """Subscribes image, detections, main_person and stats (relative names, so it follows the namespace)."""

    def __init__(self, recorder: GraphRecorder, image_reliability: str = "reliable", **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "ros_detect_outputs"), **kwargs)
        self.recorder = recorder
        self.last_stats: dict[str, dict[str, Any]] = {}
        depth = 50  # covers every frame in flight in video mode
        self.create_subscription(Detections, "detections", self._on_detections, make_qos("reliable", depth))
        self.create_subscription(MainPerson, "main_person", self._on_main_person, make_qos("reliable", depth))
        self.create_subscription(String, "stats", self._on_stats, make_qos("reliable", depth))
        if recorder.video is not None:
            self.create_subscription(Image, "image", self._on_image, make_qos(image_reliability, depth))

    def _on_image(self, msg: Image) -> None:
        self.recorder.on_image(stamp_ns(msg.header), image_to_bgr(msg))

    def _on_detections(self, msg: Detections) -> None:
        self.recorder.on_detections(detections_doc(msg))

    def _on_main_person(self, msg: MainPerson) -> None:
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
