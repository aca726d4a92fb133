"""foxglove_bridge: serves image, annotations, results and stats to Foxglove / the zero-install page.

Thin rclpy wrapper over ros_detect.foxglove.relay: callbacks only queue messages (bounded, drop and
count), so a slow web client never slows the pipeline. The image subscription is best effort: the bridge
is a viewer and must never hold back a reliable publisher.
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.foxglove.relay import FoxgloveRelay, RelayConfig
from ros_detect.foxglove.web import WebPageServer
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    ParamSpec,
    declare_parameters,
    log_parameters,
    make_qos,
    run_node,
    string_msg,
    subscription_events,
)
from ros_detect.nodes.image import image_to_bgr, stamp_ns
from ros_detect.nodes.messages import Detections, MainPerson, to_json

PARAMS: ParamSpec = {
    **COMMON_PARAMS,
    "host": ("127.0.0.1", "interface to bind; anything but loopback exposes the view to the network"),
    "port": (8765, "Foxglove WebSocket port (0 = any free port)"),
    "http_port": (8766, "port of the zero-install web page (0 = any free port, -1 = no page)"),
    "jpeg_quality": (80, "JPEG quality 1..100 of the image channel"),
    "image_topic": ("image", "sensor_msgs/Image input"),
    "detections_topic": ("detections", "ros_detect_interfaces/Detections input"),
    "main_person_topic": ("main_person", "ros_detect_interfaces/MainPerson input"),
    "image_queue": (2, "frames waiting for the JPEG encoder; older ones are dropped and counted"),
    "doc_queue": (64, "JSON documents waiting to be forwarded; older ones are dropped and counted"),
    "client_backlog": (64, "messages buffered per WebSocket client before its oldest are dropped"),
    "doc_depth": (50, "QoS depth of the detections/main_person/stats subscriptions (reliable)"),
}
PARAMS = with_deployed_defaults("foxglove_bridge", PARAMS)  # values from config/; types, meaning here


class FoxgloveBridgeNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "foxglove_bridge")
        super().__init__(**kwargs)
        p = declare_parameters(self, PARAMS)
        self.params = p
        self.relay = FoxgloveRelay(
            RelayConfig(
                host=p["host"],
                port=p["port"],
                jpeg_quality=p["jpeg_quality"],
                image_queue=p["image_queue"],
                doc_queue=p["doc_queue"],
                client_backlog=p["client_backlog"],
                node=self.get_fully_qualified_name(),
            )
        ).start()
        self.page: WebPageServer | None = None
        try:
            if p["http_port"] >= 0:
                self.page = WebPageServer(p["host"], p["http_port"], ws_port=self.relay.port)
        except Exception:
            self.relay.close()
            raise

        docs_qos = make_qos("reliable", p["doc_depth"], "doc_depth")
        keys = ("image_topic", "detections_topic", "main_person_topic", "stats_topic")
        topics = {k: self.resolve_topic_name(p[k]) for k in keys}  # absolute names for log lines
        self.create_subscription(
            Image,
            p["image_topic"],
            self._on_image,
            qos_profile_sensor_data,
            event_callbacks=subscription_events(self, topics["image_topic"]),
        )
        # Foxglove channels carry the JSON documents: typed results are converted on arrival
        for key, msg_type, handler in (
            ("detections_topic", Detections, lambda msg: self.relay.on_detections(to_json(msg))),
            ("main_person_topic", MainPerson, lambda msg: self.relay.on_main_person(to_json(msg))),
            ("stats_topic", String, lambda msg: self.relay.on_stats(msg.data)),
        ):
            self.create_subscription(
                msg_type,
                p[key],
                handler,
                docs_qos,
                event_callbacks=subscription_events(self, topics[key]),
            )
        self.stats_pub = self.create_publisher(String, p["stats_topic"], 10)
        if p["stats_period_s"] > 0:
            self.create_timer(p["stats_period_s"], self._publish_stats)
        log_parameters(self, p)
        page = f", web page {self.page.url}" if self.page else ""
        self.get_logger().info(f"Foxglove WebSocket server {self.relay.url}{page}")

    def _on_image(self, msg: Image) -> None:
        # image_to_bgr is a view of msg.data: the queue holds the message's buffer, no pixel copy here.
        self.relay.on_image(image_to_bgr(msg), stamp_ns(msg.header), msg.header.frame_id)

    def _publish_stats(self) -> None:
        self.stats_pub.publish(string_msg(self.relay.publish_stats()))

    def close(self) -> None:
        if self.page is not None:
            self.page.close()
            self.page = None
        self.relay.close()


def main(args: list[str] | None = None) -> int:
    return run_node(FoxgloveBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
