"""foxglove_bridge: serves image, annotations, results and stats to Foxglove / the zero-install page.

Thin rclpy wrapper over ros_detect.foxglove.relay: callbacks only queue messages (bounded, drop and
count), so a slow web client never slows the pipeline. The image subscription is best effort: the bridge
is a viewer and must never hold back a reliable publisher. `jpeg_quality` is live.

Several graphs on one machine: with `port_fallback` a taken port moves the server to the next free one, and
the URLs served are logged as a warning. A bridge that cannot start reports `failed` on `stats` and exits 2;
the launchers keep the detection pipeline running without it (ros_detect/graph/plan.py).

With `sources` (e.g. [cam1, cam2]) one server carries every source's topics (`cam1/image`, ...), each on
a channel named after its resolved ROS topic (`/cam1/image`, ...).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.errors import RosDetectError
from ros_detect.foxglove.channels import check_jpeg_quality
from ros_detect.foxglove.relay import FoxgloveRelay, RelayConfig
from ros_detect.foxglove.topics import SourceTopics
from ros_detect.foxglove.web import WebPageServer
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.graph.sources import check_sources, source_topic
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    NodeScaffold,
    ParamSpec,
    log_parameters,
    reliable,
    report_failed_start,
    run_node,
)
from ros_detect.nodes.image import image_to_bgr, stamp_ns
from ros_detect.nodes.messages import Detections, MainPerson, to_json

PARAMS: ParamSpec = {
    **COMMON_PARAMS,
    "host": ("127.0.0.1", "interface to bind; anything but loopback exposes the view to the network"),
    "port": (8765, "Foxglove WebSocket port (0 = any free port)"),
    "port_fallback": (True, "port or http_port taken: serve on the next free port and log the URL (false: fail)"),
    "http_port": (8766, "port of the zero-install web page (0 = any free port, -1 = no page)"),
    "jpeg_quality": (80, "JPEG quality 1..100 of the image channel"),
    "image_topic": ("image", "sensor_msgs/Image input"),
    "detections_topic": ("detections", "ros_detect_interfaces/Detections input"),
    "main_person_topic": ("main_person", "ros_detect_interfaces/MainPerson input"),
    "image_queue": (2, "frames waiting for the JPEG encoder; older ones are dropped and counted"),
    "doc_queue": (64, "JSON documents waiting to be forwarded; older ones are dropped and counted"),
    "client_backlog": (64, "messages buffered per WebSocket client before its oldest are dropped"),
    "sources": (
        [],
        "namespaces of the sources to serve on one server, e.g. [cam1, cam2]: topics cam1/image, ... on channels "
        "/cam1/image, ...; empty = this node's own topics on channels /image, ...",
    ),
}
PARAMS = with_deployed_defaults("foxglove_bridge", PARAMS)  # values from config/; types, meaning here
LIVE = {"jpeg_quality": (lambda v: 1 <= v <= 100, "1..100, e.g. 80")}
DOC_DEPTH = 50  # reliable document subscriptions (qos_overrides change it)


class FoxgloveBridgeNode(NodeScaffold, Node):
    PARAMS = PARAMS
    LIVE = LIVE

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "foxglove_bridge")
        super().__init__(**kwargs)
        p = self.setup_parameters()
        sources: list[str] = p["sources"]
        self.page: WebPageServer | None = None
        try:
            self.relay = FoxgloveRelay(
                RelayConfig(
                    host=p["host"],
                    port=p["port"],
                    port_fallback=p["port_fallback"],
                    jpeg_quality=p["jpeg_quality"],
                    image_queue=p["image_queue"],
                    doc_queue=p["doc_queue"],
                    client_backlog=p["client_backlog"],
                    node=self.get_fully_qualified_name(),
                ),
                sources={src: self._channel_names(src, p) for src in sources} or None,
                graph=self._channel_names("", p) if sources else None,
            ).start()
            if p["http_port"] >= 0:
                self.page = WebPageServer(
                    p["host"], p["http_port"], ws_port=self.relay.port, fallback=p["port_fallback"]
                )
        except RosDetectError:
            self.close()
            report_failed_start(self, p["stats_topic"])  # the error itself: run_node prints it, exit 2
            raise
        try:
            self.start_stats(source=self.relay.publish_stats)
            for src in sources or [""]:
                self._subscribe(src, p)
            if sources:  # heartbeats of the nodes serving every source (in this node's namespace)
                self.subscription(String, p["stats_topic"], self._on_graph_stats, reliable(DOC_DEPTH))
        except Exception:
            self.close()
            raise
        log_parameters(self, p)
        page = f", web page {self.page.url}" if self.page else ""
        served = f"; sources {', '.join(sources)} on channels /<source>/..." if sources else ""
        moved = [f"port {self.relay.asked_port}"] if self.relay.asked_port is not None else []
        if self.page is not None and self.page.asked_port is not None:
            moved.append(f"http_port {self.page.asked_port}")
        if moved:  # loudly: a user following the defaults looks at 8765/8766 first
            self.get_logger().warning(
                f"Foxglove WebSocket server {self.relay.url}{page}{served} ({' and '.join(moved)} taken, by another "
                "graph's bridge?); set foxglove_bridge.port / http_port to choose"
            )
        else:
            self.get_logger().info(f"Foxglove WebSocket server {self.relay.url}{page}{served}")

    def check(self, values: dict[str, Any]) -> None:
        for src in check_sources(values["sources"]):
            for key in ("image_topic", "detections_topic", "main_person_topic", "stats_topic"):
                source_topic(src, values[key])

    def _channel_names(self, src: str, p: dict[str, Any]) -> SourceTopics:
        """A source's channels, named after the resolved ROS topics they carry (remappings included)."""

        def resolved(topic: str) -> str:
            return self.resolve_topic_name(source_topic(src, topic))

        return SourceTopics(
            image=resolved(p["image_topic"]),
            annotations=resolved("annotations"),
            detections=resolved(p["detections_topic"]),
            main_person=resolved(p["main_person_topic"]),
            stats=resolved(p["stats_topic"]),
            bridge_stats=resolved("bridge_stats"),
        )

    def _subscribe(self, src: str, p: dict[str, Any]) -> None:
        # a viewer: rclpy's sensor-data profile (best effort, depth 5), never holds back a reliable publisher
        self.subscription(
            Image, source_topic(src, p["image_topic"]), lambda msg: self._on_image(msg, src), qos_profile_sensor_data
        )
        # Foxglove channels carry the JSON documents: typed results are converted on arrival
        for key, msg_type, handler in (
            ("detections_topic", Detections, lambda msg: self.relay.on_detections(to_json(msg), src)),
            ("main_person_topic", MainPerson, lambda msg: self.relay.on_main_person(to_json(msg), src)),
            ("stats_topic", String, lambda msg: self.relay.on_stats(msg.data, src)),
        ):
            self.subscription(msg_type, source_topic(src, p[key]), handler, reliable(DOC_DEPTH))

    def apply_parameter(self, name: str, value: Any) -> None:
        if name == "jpeg_quality":
            check_jpeg_quality(value)
            self.relay.config = dataclasses.replace(self.relay.config, jpeg_quality=value)

    def _on_image(self, msg: Image, src: str = "") -> None:
        # image_to_bgr is a view of msg.data: the queue holds the message's buffer, no pixel copy here.
        self.relay.on_image(image_to_bgr(msg), stamp_ns(msg.header), msg.header.frame_id, src)

    def _on_graph_stats(self, msg: String) -> None:
        self.relay.on_stats(msg.data, None)

    def close(self) -> None:
        if self.page is not None:
            self.page.close()
            self.page = None
        relay = getattr(self, "relay", None)  # None: it could not start
        if relay is not None:
            relay.close()


def main(args: list[str] | None = None) -> int:
    return run_node(FoxgloveBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
