"""video_source: every frame of a file on `image`, none dropped, at most K frames in flight.

The node counts results coming back on `result_topic` (main_person by default, seq matched) and
publishes the next frame as soon as one returns, so the detector never waits for a frame and memory
stays bounded however long the file is. With exit_on_end it finishes once the last result is back.

It starts publishing once the detector is *active* (its lifecycle state, asked through the detector's
`get_state` service) and subscribed to `image`, and a result publisher is up; it pauses while the detector
is deactivated, so no frame is sent into a detector that would not process it.
"""

from __future__ import annotations

import time
from typing import Any

from lifecycle_msgs.msg import State
from lifecycle_msgs.srv import GetState
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.errors import ConfigError, InputError
from ros_detect.graph.flow import InFlightWindow, Pacer, frame_info_doc
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.media.sources import ASPECT_MODES, OUTPUT_SIZE, Frame, VideoSource, source_id
from ros_detect.nodes.common import COMMON_PARAMS, NodeScaffold, log_parameters, reliable, string_msg
from ros_detect.nodes.image import bgr_to_image
from ros_detect.nodes.messages import MainPerson

NAME = "video_source"
PARAMS = {
    "input": ("", "video file to publish"),
    "source_id": ("", "frame_id and MQTT topic level; empty = the namespace (cam1), else derived from the input"),
    "aspect": ("pad", f"fit to 427x240: {' | '.join(ASPECT_MODES)}"),
    "start_frame": (0, "first frame index"),
    "stop_frame": (-1, "stop before this frame index; -1 = end of file"),
    "loop": (False, "restart at start_frame at the end of the file (never finishes)"),
    "rate": (0.0, "0 = as fast as the detector allows; 1.0 = real time; 2.0 = twice real time"),
    "max_in_flight": (3, "frames published whose result has not come back yet (K)"),
    "result_timeout_s": (60.0, "a result missing this long is counted lost and its slot freed (0 = wait forever)"),
    "exit_on_end": (True, "finish once the last frame's result came back"),
    "wait_for_graph_s": (120.0, "wait this long for an active detector and a publisher on result_topic"),
    "detector_node": (
        "detector",
        "lifecycle node whose `active` state gates publishing (relative names resolve in this node's namespace; "
        "'' = any node subscribed to both image and frame_info)",
    ),
    "min_image_subscribers": (1, "first frame once this many image subscriptions are matched (launchers set it)"),
    "image_topic": ("image", "output sensor_msgs/Image topic"),
    "frame_info_topic": ("frame_info", "per-frame seq and media time (std_msgs/String JSON)"),
    "result_topic": ("main_person", "results counted to keep max_in_flight (ros_detect_interfaces/MainPerson)"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here
RULES = {
    "max_in_flight": (lambda v: v >= 1, "1 or more, e.g. 3"),
    "start_frame": (lambda v: v >= 0, "0 or a later frame index"),
    "result_timeout_s": (lambda v: v >= 0, "0 (wait forever) or a positive number of seconds"),
}
LIVE = {"rate": (lambda v: v >= 0, "0 (as fast as the detector) or a positive speed, e.g. 1.0")}
STATE_POLL_S = 1.0  # how often the detector's lifecycle state is asked


class VideoSourceNode(NodeScaffold, Node):
    PARAMS = PARAMS
    RULES = RULES
    LIVE = LIVE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = self.setup_parameters()
        if not p["input"]:
            raise InputError("video_source has no input", "set the `input` parameter (launch: input:=/path/video.mp4)")
        self.source_id = p["source_id"] or source_id(p["input"], self.get_namespace())
        # every frame arrives: reliable, and a history that holds every frame in flight
        self.image_pub = self.publisher(Image, p["image_topic"], reliable(max(10, p["max_in_flight"])))
        depth = self.image_pub.qos_profile.depth
        if depth < p["max_in_flight"]:
            name = f"qos_overrides.{self.image_pub.topic_name}.publisher.depth"
            raise ConfigError(
                f"video_source: {name} = {depth} is below max_in_flight = {p['max_in_flight']} (frames would be lost)",
                f"set {name} to {p['max_in_flight']} or more, or lower max_in_flight",
            )
        self.source = self._open()
        self.expected_frames = self.source.expected_frames
        self.window = InFlightWindow(p["max_in_flight"], p["result_timeout_s"])
        self.pacer = Pacer(p["rate"])
        self.frames = iter(self.source)
        self.pending: Frame | None = None  # read but not yet due (pacing)
        self.seq_offset = 0  # grows by one file length per loop, so seqs stay unique
        self.ended = False
        self.started = False
        self.detector_active: bool | None = None  # None: not known yet
        self.t_created = time.monotonic()
        self.done_future = Future()

        self.info_pub = self.publisher(String, p["frame_info_topic"], reliable(100))
        self.result_sub = self.subscription(MainPerson, p["result_topic"], self._on_result, reliable(100))
        self.state_client = (
            self.create_client(GetState, f"{p['detector_node']}/get_state") if p["detector_node"] else None
        )
        self._state_call: Future | None = None
        self._state_asked = 0.0
        self.start_stats()
        self.stats.window.frame_id = self.source_id
        self.stats.extra = self._refresh_counters
        self.timer = self.create_timer(self._tick_period(), self._tick)
        log_parameters(self, p | {"source_id": self.source_id, "expected_frames": self.expected_frames})

    def _tick_period(self) -> float:
        return 0.01 if self.params["rate"] > 0 else 0.05

    def apply_parameter(self, name: str, value: Any) -> None:
        if name == "rate":  # the new speed counts from the next frame
            self.pacer = Pacer(value)
            self.timer.cancel()
            self.destroy_timer(self.timer)
            self.timer = self.create_timer(self._tick_period(), self._tick)

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
    def _poll_detector_state(self) -> None:
        """Ask the detector's lifecycle state now and then (one request at a time, answered asynchronously)."""
        if self.state_client is None:
            return
        call = self._state_call
        if call is not None and call.done():
            response = call.result()
            active = response is not None and response.current_state.id == State.PRIMARY_STATE_ACTIVE
            if self.started and active != self.detector_active:
                self.get_logger().info("detector active: publishing" if active else "detector not active: paused")
            self.detector_active = active
            self._state_call = None
        now = time.monotonic()
        due = self._state_call is None and now - self._state_asked >= STATE_POLL_S
        if due and self.state_client.service_is_ready():
            self._state_asked = now
            self._state_call = self.state_client.call_async(GetState.Request())

    def _graph_ready(self) -> bool:
        """The detector is active and subscribed to image and frame_info, and a result publisher is up.

        Not just "someone subscribes to image": a recorder or the Foxglove bridge starts long before the
        detector has loaded its model, and frames published then would never come back. Without a lifecycle
        detector (detector_node '') the detector is a node subscribed to both image and frame_info.
        Discovered is not yet matched: a frame (or its frame_info) published before the detector's reader is
        matched never reaches it, so every discovered subscription must be matched too.
        """
        if self.count_publishers(self.result_sub.topic_name) < 1:
            return False
        if self.image_pub.get_subscription_count() < self.params["min_image_subscribers"]:
            return False  # a consumer started with the graph (bridge, recorder) would miss the first frames
        on_image = _nodes_on(self, self.image_pub.topic_name)
        on_info = _nodes_on(self, self.info_pub.topic_name)
        matched = self.image_pub.get_subscription_count(), self.info_pub.get_subscription_count()
        if matched[0] < len(on_image) or matched[1] < len(on_info):
            return False
        if self.state_client is None:
            return bool(on_image & on_info)
        detector = self.state_client.service_name.rsplit("/", 1)[0]  # resolved: /ns/detector
        on_both = {f"{ns.rstrip('/')}/{name}" for ns, name in on_image & on_info}
        return bool(self.detector_active) and detector in on_both

    def _tick(self) -> None:
        self._poll_detector_state()
        if not self.started:
            if not self._graph_ready():
                waited = time.monotonic() - self.t_created
                if waited > self.params["wait_for_graph_s"]:
                    # an error, not "finished": the launch must fail, not report every frame processed
                    self.done_future.set_exception(
                        ConfigError(
                            f"video_source: no active detector / main_person after {waited:.0f} s (detector "
                            f"'{self.params['detector_node']}' active: {self.detector_active}; image subscriptions "
                            f"matched: {self.image_pub.get_subscription_count()} of "
                            f"{self.params['min_image_subscribers']}; publishers on "
                            f"'{self.result_sub.topic_name}': {self.count_publishers(self.result_sub.topic_name)})",
                            "start detector and main_person with it (the launch files do), or raise wait_for_graph_s",
                        )
                    )
                    self._finish()
                return
            self.started = True
            self.get_logger().info("detector active and main_person up: publishing frames")
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
        while self.started and self.detector_active is not False and not self.ended and self.window.has_room():
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
