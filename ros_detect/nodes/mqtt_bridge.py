"""mqtt_bridge: forwards `main_person`, `detections` (typed, sent as their JSON documents) and `stats` to MQTT.

Thin rclpy wrapper over ros_detect.mqtt.client: callbacks only hand the JSON string to a bounded
buffer; paho's own thread talks to the broker, so a slow or absent broker never slows the pipeline.
If the broker is on loopback and nothing listens, ros_detect.mqtt.broker starts one (autostart_broker); a
broker already listening there (another graph's) is shared, each graph on its own topics
(`<prefix>/<source_id>/...`). An unreachable broker is retried (state `reconnecting`, results buffered); a
bridge that cannot start at all (bad TLS files) reports `failed` on `stats` and exits 2, and the launchers
keep the detection pipeline running without it.
The bridge's own health (connected, buffered, dropped, ...) goes out on `stats` like every node's.
`forward` and `detections_max_hz` are live (`ros2 param set /mqtt_bridge forward "[main_person]"`).
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from typing import Any

from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from std_msgs.msg import String

from ros_detect.errors import ConfigError, RosDetectError
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.graph.stats import StatsWindow
from ros_detect.mqtt.broker import LocalBroker, ensure_local_broker
from ros_detect.mqtt.client import MqttPublisher
from ros_detect.mqtt.config import STREAMS, MqttConfig, from_mapping
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    NodeScaffold,
    ParamSpec,
    log_parameters,
    reliable,
    report_failed_start,
    run_node,
)
from ros_detect.nodes.messages import STREAM_TYPES, to_json
from ros_detect.schema import stamp_to_ns

NAME = "mqtt_bridge"
_D = MqttConfig()
_HELP = {
    "host": "MQTT broker host",
    "port": "MQTT broker port (1883 plain, 8883 TLS)",
    "client_id": "MQTT client id ('' = ros_detect-<source_id>-<pid>)",
    "qos": "MQTT QoS of every message (0, 1 = at least once, 2)",
    "retain": "retain result messages (status is always retained)",
    "keepalive_s": "MQTT keepalive seconds (the Last Will fires after 1.5x this on a silent network loss)",
    "username": "broker user name ('' = anonymous)",
    "password": "broker password (never logged)",
    "tls": "use TLS (also switched on by any TLS file)",
    "ca_file": "PEM CA certificate(s) to verify the broker ('' = system CAs when tls)",
    "cert_file": "PEM client certificate (with key_file)",
    "key_file": "PEM client private key (with cert_file)",
    "tls_insecure": "skip the broker host-name check (test setups only)",
    "topic_prefix": "first topic level(s): <prefix>/<source_id>/{main_person,detections,stats,status}",
    "source_id": "topic level for the source ('' = frame_id of the first result)",
    "forward": "streams to forward: main_person, detections, stats",
    "detections_max_hz": "at most this many detections messages per second (0 = all)",
    "buffer_size": "messages kept while the broker is away; the oldest is dropped first (counted)",
    "reconnect_min_s": "first reconnect delay; doubles up to reconnect_max_s",
    "reconnect_max_s": "longest reconnect delay",
    "connect_timeout_s": "TCP/TLS connect timeout",
    "autostart_broker": "loopback host with nothing listening: auto (mosquitto, else embedded) | mosquitto | "
    "embedded | none",
}
PARAMS: ParamSpec = {
    **{
        f.name: (list(getattr(_D, f.name)) if f.name == "forward" else getattr(_D, f.name), _HELP[f.name])
        for f in fields(MqttConfig)
    },
    "main_person_topic": ("main_person", "ros_detect_interfaces/MainPerson input"),
    "detections_topic": ("detections", "ros_detect_interfaces/Detections input"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here
LIVE = {
    "forward": (lambda v: set(v) <= set(STREAMS), f"a list of streams from {', '.join(STREAMS)}"),
    "detections_max_hz": (lambda v: v >= 0, "0 (every frame) or a rate in Hz, e.g. 5.0"),
}
DEPTH = 100  # reliable subscriptions: covers bursts while the executor is busy (qos_overrides change it)


class MqttBridgeNode(NodeScaffold, Node):
    PARAMS = PARAMS
    LIVE = LIVE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        try:
            p = self.setup_parameters()
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            raise ConfigError(
                f"mqtt_bridge: {exc}", "give the parameter the type shown in config/common.yaml"
            ) from None
        self.config = from_mapping(p)
        log_parameters(self, {**p, "password": "***" if p["password"] else ""})
        self.broker: LocalBroker | None = None
        try:
            self.broker = ensure_local_broker(
                self.config.host, self.config.port, self.config.autostart_broker, self.get_logger()
            )
        except RosDetectError as exc:  # keep running: the client's retry loop says what is missing
            self.get_logger().error(f"MQTT: {exc.problem} (fix: {exc.fix})")
        self.mqtt = MqttPublisher(self.config, self.get_logger())
        try:
            self.mqtt.start()  # bad TLS files raise here: do not leave a broker behind
        except Exception as exc:
            if self.broker is not None:
                self.broker.stop()
            if isinstance(exc, RosDetectError):  # a user error: run_node prints it, exit 2
                report_failed_start(self, p["stats_topic"])
            raise

        self.start_stats(StatsWindow(self.get_fully_qualified_name()))
        self.stats.extra = self._refresh_stats
        # every stream is subscribed, so `forward` can change live; the client drops what is not forwarded
        for stream, name in (
            ("main_person", p["main_person_topic"]),
            ("detections", p["detections_topic"]),
            ("stats", p["stats_topic"]),
        ):
            self.subscription(STREAM_TYPES.get(stream, String), name, self._callback(stream), reliable(DEPTH))

    def apply_parameter(self, name: str, value: Any) -> None:
        self.mqtt.set_forwarding(tuple(self.params["forward"]), self.params["detections_max_hz"])
        self.config = self.mqtt.config

    def _callback(self, stream: str):
        def on_message(msg: Any) -> None:
            if stream != "main_person" and stream not in self.mqtt.config.forward:
                return  # not forwarded now (`forward` is live): no JSON conversion either
            data = msg.data if stream == "stats" else to_json(msg)  # MQTT carries the JSON documents
            if stream == "main_person":
                self._on_main_person(data)
            if self.mqtt.source_id is None and stream != "stats":
                self._learn_source(data)
            self.mqtt.submit(stream, data)

        return on_message

    def _on_main_person(self, data: str) -> None:
        """Count frames and capture -> bridge latency for the bridge's own stats."""
        try:
            doc = json.loads(data)
            latency = {"capture_to_bridge": (time.time_ns() - stamp_to_ns(doc["stamp"])) / 1e6}
            self.stats.window.record(latency_ms=latency, frame_id=doc.get("frame_id"))
        except (ValueError, KeyError, TypeError) as exc:
            self.get_logger().warning(f"malformed main_person message (forwarded anyway): {exc}")

    def _learn_source(self, data: str) -> None:
        try:
            frame_id = json.loads(data).get("frame_id")
            if frame_id:
                self.mqtt.set_source(str(frame_id))
        except (ValueError, AttributeError) as exc:
            self.get_logger().warning(f"MQTT: cannot take the topic level from frame_id: {exc}")
        except Exception as exc:  # never let the MQTT side take the ROS executor down
            self.get_logger().error(f"MQTT: cannot start the client: {exc}")

    def _refresh_stats(self, window: StatsWindow) -> None:
        snap = self.mqtt.snapshot()
        window.state = self.mqtt.state
        window.dropped = snap.pop("dropped")
        for key, value in snap.items():
            window.set_counter(key, value)

    def close(self) -> None:
        self.mqtt.close()
        if self.broker is not None:
            self.get_logger().info(f"MQTT: stopping the {self.broker.kind} broker this bridge started")
            self.broker.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(MqttBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
