"""camera_source: a camera index, /dev/videoN or stream URL on `image`; latest frame wins.

A reader thread blocks on the capture and publishes each frame as it arrives (publishing from a
thread is safe in rclpy), with sensor-data QoS by default (best effort, depth 1; the `qos_overrides`
parameters change it), so a busy detector only ever sees the newest frame. `max_fps` is live. When the
device or stream disappears the thread reconnects with exponential backoff (reconnect_initial_s doubling
up to reconnect_max_s; ros_detect/media/camera.py, shared with the ROS-free `ros-detect webcam`) and
reports `reconnecting` in stats.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.graph.flow import frame_info_doc
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.media.camera import CameraConfig, ReconnectingCamera
from ros_detect.media.sources import ASPECT_MODES, source_id
from ros_detect.nodes.common import COMMON_PARAMS, NodeScaffold, latest_wins, log_parameters, reliable, string_msg
from ros_detect.nodes.image import bgr_to_image

NAME = "camera_source"
PARAMS = {
    "input": ("0", "camera index, /dev/videoN, or stream URL (http://, rtsp://, ...)"),
    "source_id": ("", "frame_id and MQTT topic level; empty = the namespace (cam1), else derived from the input"),
    "aspect": ("pad", f"fit to 427x240: {' | '.join(ASPECT_MODES)}"),
    "max_fps": (0.0, "publish at most this many frames per second (0 = as the camera delivers)"),
    "open_timeout_s": (5.0, "give up opening / reading after this long, then reconnect"),
    "reconnect_initial_s": (0.5, "first retry delay after the source disappears"),
    "reconnect_max_s": (5.0, "retry delay cap (the delay doubles up to this)"),
    "image_topic": ("image", "output sensor_msgs/Image topic"),
    "frame_info_topic": ("frame_info", "per-frame seq (std_msgs/String JSON)"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here
# ranges: CameraConfig.check() (through check()), at start-up and on every change
LIVE = {"max_fps": (lambda v: True, "")}


class CameraSourceNode(NodeScaffold, Node):
    PARAMS = PARAMS
    LIVE = LIVE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = self.setup_parameters()
        config = self._config(p)
        if not config.source_id:  # in a namespace: the namespace names the source (cam1, cam2, ...)
            config = dataclasses.replace(config, source_id=source_id(str(config.input), self.get_namespace()))
        self.camera = ReconnectingCamera(config, self.get_logger())
        self.source_id = self.camera.source_id
        self.seq = 0
        self.image_pub = self.publisher(Image, p["image_topic"], latest_wins())
        self.info_pub = self.publisher(String, p["frame_info_topic"], reliable(100))
        self.start_stats()
        self.stats.window.frame_id = self.source_id
        self.stats.extra = self._refresh_counters
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera_reader", daemon=True)
        log_parameters(self, p | {"source_id": self.source_id})
        self._thread.start()

    @staticmethod
    def _config(values: dict[str, Any]) -> CameraConfig:
        return CameraConfig(**{k: values[k] for k in CameraConfig.__dataclass_fields__}).check()

    def check(self, values: dict[str, Any]) -> None:
        self._config(values)  # CameraConfig.check(): ConfigError naming the parameter

    def apply_parameter(self, name: str, value: Any) -> None:
        if name == "max_fps":  # the reader reads it at every frame
            self.camera.config = dataclasses.replace(self.camera.config, max_fps=value)

    def _run(self) -> None:
        for frame in self.camera.frames(self._stopping, self._stop.wait):
            self.stats.window.state = "running"
            try:
                self._publish(frame)
            except Exception:
                if not self._stopping():
                    raise
                break  # Ctrl-C/SIGTERM shut the context down between the check and the publish

    def _stopping(self) -> bool:
        """close() was called, or the context is already shut down."""
        return self._stop.is_set() or not self.context.ok()

    def _publish(self, frame: Any) -> None:
        info = frame_info_doc(self.seq, frame.stamp_ns, self.source_id, None, frame.decode_ms)
        self.info_pub.publish(string_msg(info))
        self.image_pub.publish(bgr_to_image(frame.image, frame.stamp_ns, self.source_id))
        self.seq += 1
        self.stats.window.record(stage_ms={"decode": frame.decode_ms}, frame_id=self.source_id)

    def _refresh_counters(self, window: Any) -> None:
        if self.camera.state == "reconnecting":
            window.state = "reconnecting"
        for name, value in self.camera.counters().items():
            window.set_counter(name, value)
        window.set_counter("published", self.seq)  # frames actually published (the camera counts read ones)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.params["open_timeout_s"] + 1.0)


def main(args: list[str] | None = None) -> int:
    from ros_detect.nodes.common import run_node

    return run_node(CameraSourceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
