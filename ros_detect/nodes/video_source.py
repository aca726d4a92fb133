"""video_source: every frame of a file on `image`, none dropped, at most K frames in flight.

The node counts results coming back on `result_topic` (main_person by default, seq matched) and
publishes the next frame as soon as one returns, so the detector never waits for a frame and memory
stays bounded however long the file is. With exit_on_end it finishes once the last result is back.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.errors import ConfigError, InputError
from ros_detect.graph.flow import InFlightWindow, Pacer, frame_info_doc
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.media.sources import ASPECT_MODES, OUTPUT_SIZE, Frame, VideoSource, source_id
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
from ros_detect.nodes.messages import MainPerson

NAME = "video_source"
PARAMS = {
    "input": ("", "video file to publish"),
    "source_id": ("", "frame_id and MQTT topic level; empty = derived from the input"),
    "aspect": ("pad", f"fit to 427x240: {' | '.join(ASPECT_MODES)}"),
    "start_frame": (0, "first frame index"),
    "stop_frame": (-1, "stop before this frame index; -1 = end of file"),
    "loop": (False, "restart at start_frame at the end of the file (never finishes)"),
    "rate": (0.0, "0 = as fast as the detector allows; 1.0 = real time; 2.0 = twice real time"),
    "max_in_flight": (3, "frames published whose result has not come back yet (K)"),
    "result_timeout_s": (60.0, "a result missing this long is counted lost and its slot freed (0 = wait forever)"),
    "exit_on_end": (True, "finish once the last frame's result came back"),
    "wait_for_graph_s": (120.0, "wait this long for a subscriber on image and a publisher on result_topic"),
    "min_image_subscribers": (1, "first frame once this many image subscriptions are matched (launchers set it)"),
    "image_topic": ("image", "output sensor_msgs/Image topic"),
    "frame_info_topic": ("frame_info", "per-frame seq and media time (std_msgs/String JSON)"),
    "result_topic": ("main_person", "results counted to keep max_in_flight (ros_detect_interfaces/MainPerson)"),
    "image_reliability": ("reliable", "reliable | best_effort"),
    "image_depth": (10, "publisher history depth; must be >= max_in_flight"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here


class VideoSourceNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = declare_parameters(self, PARAMS)
        check_parameters(
            self,
            p,
            {
                "max_in_flight": (lambda v: v >= 1, "1 or more, e.g. 3"),
                "rate": (lambda v: v >= 0, "0 (as fast as the detector) or a positive speed, e.g. 1.0"),
                "start_frame": (lambda v: v >= 0, "0 or a later frame index"),
                "result_timeout_s": (lambda v: v >= 0, "0 (wait forever) or a positive number of seconds"),
            },
        )
        self.params = p
        if not p["input"]:
            raise InputError("video_source has no input", "set the `input` parameter (launch: input:=/path/video.mp4)")
        if p["image_depth"] < p["max_in_flight"]:
            self.get_logger().warning(
                f"image_depth {p['image_depth']} < max_in_flight {p['max_in_flight']}: raising it to match"
            )
            p["image_depth"] = p["max_in_flight"]
        self.source_id = p["source_id"] or source_id(p["input"])
        self.source = self._open()
        self.expected_frames = self.source.expected_frames
        self.window = InFlightWindow(p["max_in_flight"], p["result_timeout_s"])
        self.pacer = Pacer(p["rate"])
        self.frames = iter(self.source)
        self.pending: Frame | None = None  # read but not yet due (pacing)
        self.seq_offset = 0  # grows by one file length per loop, so seqs stay unique
        self.ended = False
        self.started = False
        self.t_created = time.monotonic()
        self.done_future = Future()

        qos = make_qos(p["image_reliability"], p["image_depth"], "image_depth")
        self.image_pub = self.create_publisher(
            Image,
            p["image_topic"],
            qos,
            event_callbacks=publisher_events(self, p["image_topic"]),
        )
        self.info_pub = self.create_publisher(String, p["frame_info_topic"], make_qos("reliable", 100))
        self.result_sub = self.create_subscription(MainPerson, p["result_topic"], self._on_result, 100)
        self.stats = StatsPublisher(self, p["stats_topic"], p["stats_period_s"])
        self.stats.window.frame_id = self.source_id
        self.stats.extra = self._refresh_counters
        self.timer = self.create_timer(0.01 if p["rate"] > 0 else 0.05, self._tick)
        log_parameters(self, p | {"source_id": self.source_id, "expected_frames": self.expected_frames})

    def _open(self) -> VideoSource:
        p = self.params
        source = VideoSource(
            p["input"], OUTPUT_SIZE, p["aspect"], p["start_frame"], None if p["stop_frame"] < 0 else p["stop_frame"]
        )
        if source.is_live:
            source.close()
            raise InputError(
                f"video_source got a live input {p['input']!r}", "use camera_source (webcam launch) for cameras/streams"
            )
        if source.expected_frames == 0:
            source.close()
            raise InputError(f"input {p['input']} has zero frames", "pass a video with at least one frame")
        return source

    # -- flow ---------------------------------------------------------------------------------------
    def _graph_ready(self) -> bool:
        """A detector (a node on both image and frame_info) and a result publisher are up.

        Not just "someone subscribes to image": a recorder or the Foxglove bridge starts long before the
        detector has loaded its model, and frames published then would never come back.
        """
        if self.count_publishers(self.result_sub.topic_name) < 1:
            return False
        if self.image_pub.get_subscription_count() < self.params["min_image_subscribers"]:
            return False  # a consumer started with the graph (bridge, recorder) would miss the first frames
        return bool(_nodes_on(self, self.image_pub.topic_name) & _nodes_on(self, self.info_pub.topic_name))

    def _tick(self) -> None:
        if not self.started:
            if not self._graph_ready():
                waited = time.monotonic() - self.t_created
                if waited > self.params["wait_for_graph_s"]:
                    # an error, not "finished": the launch must fail, not report every frame processed
                    self.done_future.set_exception(
                        ConfigError(
                            f"video_source: no detector/main_person after {waited:.0f} s (image subscriptions "
                            f"matched: {self.image_pub.get_subscription_count()} of "
                            f"{self.params['min_image_subscribers']}; a detector subscribes to both "
                            f"'{self.image_pub.topic_name}' and '{self.info_pub.topic_name}')",
                            "start detector and main_person with it (the launch files do), or raise wait_for_graph_s",
                        )
                    )
                    self._finish()
                return
            self.started = True
            self.get_logger().info("detector and main_person are up: publishing frames")
        for seq in self.window.expire():
            self.get_logger().warning(f"result for frame {seq} did not come back in time; counted lost")
        self._pump()

    def _on_result(self, msg: MainPerson) -> None:
        if msg.header.frame_id != self.source_id:
            return
        self.window.on_result(int(msg.seq))
        self._pump()

    def _pump(self) -> None:
        """Publish frames while the window has room and they are due."""
        while self.started and not self.ended and self.window.has_room():
            frame = self.pending or self._next_frame()
            if frame is None:
                break
            if self.pacer.delay(frame.media_time_s) > 0:
                self.pending = frame
                return
            self.pending = None
            self._publish(frame)
        if self.ended and self.window.in_flight == 0 and not self.done_future.done():
            self._finish()

    def _next_frame(self) -> Frame | None:
        frame = next(self.frames, None)
        if frame is None and self.params["loop"]:
            self.seq_offset += self.source.expected_frames or 0
            self.source.close()
            self.source = self._open()
            self.frames = iter(self.source)
            self.pacer.reset()
            frame = next(self.frames, None)
        if frame is None:
            self.ended = True
            self.get_logger().info(
                f"end of {self.params['input']}: {self.window.sent} frames published, waiting for "
                f"{self.window.in_flight} result(s)"
            )
        return frame

    def _publish(self, frame: Frame) -> None:
        seq = frame.seq + self.seq_offset
        info = frame_info_doc(seq, frame.stamp_ns, self.source_id, frame.media_time_s, frame.decode_ms)
        self.info_pub.publish(string_msg(info))  # before the image, so the detector has it first
        self.window.on_sent(seq)
        self.image_pub.publish(bgr_to_image(frame.image, frame.stamp_ns, self.source_id))
        self.stats.window.record(stage_ms={"decode": frame.decode_ms}, frame_id=self.source_id)

    def _refresh_counters(self, window: Any) -> None:
        window.set_counter("published", self.window.sent)
        window.set_counter("returned", self.window.returned)
        window.set_counter("in_flight", self.window.in_flight)
        window.set_counter("lost", self.window.lost)
        window.set_counter("decode_failures", self.source.failed_frames)
        window.dropped = self.window.lost + self.source.failed_frames
        if self.expected_frames is not None:
            window.set_counter("expected", self.expected_frames)

    def _finish(self) -> None:
        self.stats.window.state = "finished"
        doc = self.stats.publish()
        self.get_logger().info(
            f"finished: {doc['counters'].get('published', 0)} frames published, "
            f"{doc['counters'].get('returned', 0)} results back, {doc['counters'].get('lost', 0)} lost"
        )
        if self.params["exit_on_end"] and not self.done_future.done():
            self.done_future.set_result(True)

    @property
    def finished(self) -> bool:
        return self.stats.window.state == "finished"

    def close(self) -> None:
        self.source.close()


def _nodes_on(node: Node, topic: str) -> set[tuple[str, str]]:
    """(namespace, name) of the nodes subscribed to `topic`."""
    return {(i.node_namespace, i.node_name) for i in node.get_subscriptions_info_by_topic(topic)}


def main(args: list[str] | None = None) -> int:
    from ros_detect.nodes.common import run_node

    return run_node(VideoSourceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
