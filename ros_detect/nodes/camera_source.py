"""camera_source: a camera index, /dev/videoN or stream URL on `image`; latest frame wins.

A reader thread blocks on the capture and publishes each frame as it arrives (publishing from a
thread is safe in rclpy), with sensor-data QoS by default, so a busy detector only ever sees the newest
frame. When the device or stream disappears the thread reconnects with exponential backoff
(reconnect_initial_s doubling up to reconnect_max_s) and reports `reconnecting` in stats.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.errors import RosDetectError
from ros_detect.graph.flow import frame_info_doc
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.media.sources import ASPECT_MODES, OUTPUT_SIZE, VideoSource, source_id
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    StatsPublisher,
    check_parameters,
    declare_parameters,
    log_parameters,
    make_qos,
    publisher_events,
    string_msg,
)
from ros_detect.nodes.image import bgr_to_image

NAME = "camera_source"
PARAMS = {
    "input": ("0", "camera index, /dev/videoN, or stream URL (http://, rtsp://, ...)"),
    "source_id": ("", "frame_id and MQTT topic level; empty = derived from the input"),
    "aspect": ("pad", f"fit to 427x240: {' | '.join(ASPECT_MODES)}"),
    "max_fps": (0.0, "publish at most this many frames per second (0 = as the camera delivers)"),
    "open_timeout_s": (5.0, "give up opening / reading after this long, then reconnect"),
    "reconnect_initial_s": (0.5, "first retry delay after the source disappears"),
    "reconnect_max_s": (5.0, "retry delay cap (the delay doubles up to this)"),
    "image_topic": ("image", "output sensor_msgs/Image topic"),
    "frame_info_topic": ("frame_info", "per-frame seq (std_msgs/String JSON)"),
    "image_reliability": ("best_effort", "best_effort (REP-2003 sensor data) | reliable"),
    "image_depth": (1, "publisher history depth (1 = latest wins)"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here


class CameraSourceNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = declare_parameters(self, PARAMS)
        check_parameters(
            self,
            p,
            {
                "max_fps": (lambda v: v >= 0, "0 (as the camera delivers) or a positive rate"),
                "open_timeout_s": (lambda v: v > 0, "a positive number of seconds, e.g. 5.0"),
                "reconnect_initial_s": (lambda v: v > 0, "a positive number of seconds, e.g. 0.5"),
                "reconnect_max_s": (lambda v: v >= p["reconnect_initial_s"], "at least reconnect_initial_s, e.g. 5.0"),
            },
        )
        self.params = p
        self.source_id = p["source_id"] or source_id(p["input"])
        self.seq = 0
        self.connects = 0
        self.disconnects = 0
        self.open_failures = 0
        self.skipped = 0
        self.image_pub = self.create_publisher(
            Image,
            p["image_topic"],
            make_qos(p["image_reliability"], p["image_depth"], "image_depth"),
            event_callbacks=publisher_events(self, p["image_topic"]),
        )
        self.info_pub = self.create_publisher(String, p["frame_info_topic"], make_qos("reliable", 100))
        self.stats = StatsPublisher(self, p["stats_topic"], p["stats_period_s"])
        self.stats.window.frame_id = self.source_id
        self.stats.extra = self._refresh_counters
        self._stop = threading.Event()
        self._source: VideoSource | None = None
        self._thread = threading.Thread(target=self._run, name="camera_reader", daemon=True)
        log_parameters(self, p | {"source_id": self.source_id})
        self._thread.start()

    def _run(self) -> None:
        p = self.params
        delay = p["reconnect_initial_s"]
        min_period = 1.0 / p["max_fps"] if p["max_fps"] > 0 else 0.0
        while not self._stopping():
            try:
                self._source = VideoSource(p["input"], OUTPUT_SIZE, p["aspect"], open_timeout_s=p["open_timeout_s"])
            except RosDetectError as exc:
                self.open_failures += 1
                self.stats.window.state = "reconnecting"
                self.get_logger().warning(f"{exc.problem}; retrying in {delay:.1f} s", throttle_duration_sec=10.0)
                self._stop.wait(delay)
                delay = min(delay * 2, p["reconnect_max_s"])
                continue
            self.connects += 1
            self.get_logger().info(f"reading {p['input']} (connection {self.connects})")
            delay = p["reconnect_initial_s"]
            self.stats.window.state = "running"
            last = 0.0
            for frame in self._source:
                if self._stopping():
                    break
                if min_period and time.monotonic() - last < min_period:
                    self.skipped += 1
                    continue
                last = time.monotonic()
                try:
                    self._publish(frame)
                except Exception:
                    if not self._stopping():
                        raise
                    break  # Ctrl-C/SIGTERM shut the context down between the check and the publish
            self._source.close()
            self._source = None
            if not self._stopping():
                self.disconnects += 1
                self.stats.window.state = "reconnecting"
                self.get_logger().warning(f"{p['input']} stopped delivering frames; reconnecting")
                self._stop.wait(delay)

    def _stopping(self) -> bool:
        """close() was called, or rclpy's signal handler already shut the context down."""
        return self._stop.is_set() or not self.context.ok()

    def _publish(self, frame: Any) -> None:
        info = frame_info_doc(self.seq, frame.stamp_ns, self.source_id, None, frame.decode_ms)
        self.info_pub.publish(string_msg(info))
        self.image_pub.publish(bgr_to_image(frame.image, frame.stamp_ns, self.source_id))
        self.seq += 1
        self.stats.window.record(stage_ms={"decode": frame.decode_ms}, frame_id=self.source_id)

    def _refresh_counters(self, window: Any) -> None:
        window.set_counter("published", self.seq)
        window.set_counter("connects", self.connects)
        window.set_counter("disconnects", self.disconnects)
        window.set_counter("open_failures", self.open_failures)
        window.set_counter("skipped_max_fps", self.skipped)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.params["open_timeout_s"] + 1.0)


def main(args: list[str] | None = None) -> int:
    from ros_detect.nodes.common import run_node

    return run_node(CameraSourceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
