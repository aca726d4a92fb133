"""detector: `image` -> `detections` (one JSON document per processed frame, also when empty); a lifecycle node.

Lifecycle (rclpy.lifecycle, `ros2 lifecycle get|set /detector`): `configure` builds or loads the model (on its
own thread: a stop request ends the node at once, however long the build), `activate` starts processing frames,
`deactivate` stops taking frames (the frame in inference finishes first), `cleanup` releases the model,
`shutdown` ends the node process (exit 0). With `autostart` (default) the node configures and activates itself,
so launch files and `ros-detect launch` need no lifecycle manager.

Frame facts the Image message cannot carry (seq, media time, decode time) come from the source's
`frame_info` side topic, matched by capture stamp; without it (a foreign camera driver, an image-only
bag) frames are numbered in arrival order. Frames older than max_age_ms are dropped and counted
(webcam mode); frames replaced under latest-wins QoS (a frame_info whose image never came) are counted too.

Several sources, one model (`sources: [cam1, cam2]`): one subscription per source (`cam1/image`,
`cam1/frame_info`), results on that source's `cam1/detections`; the frames wait in a FairQueue
(ros_detect/pipeline/fair.py: latest wins per source, oldest-waiting source first) and the stats
heartbeat carries each source's own fps, drops and latency under `sources`.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import threading
import time
import traceback
from functools import partial
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ros_detect.detection.detector import Detector, DetectorConfig, freeze_heap
from ros_detect.detection.models import REFERENCE_MODEL, ModelSpec
from ros_detect.errors import ConfigError, RosDetectError
from ros_detect.graph.flow import FrameInfoTracker
from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.graph.sources import check_sources, source_topic
from ros_detect.media.sources import Frame
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    NodeScaffold,
    log_parameters,
    reliable,
    wait_unless_stopped,
)
from ros_detect.nodes.image import image_to_bgr, stamp_ns
from ros_detect.nodes.messages import JSON_TOPICS_PARAM, Detections, ResultPublisher, detections_msg
from ros_detect.pipeline.fair import FairQueue, SourceStats
from ros_detect.pipeline.stages import detect_frame

NAME = "detector"
FRAME_INFO_WAIT_S = 0.05
DEACTIVATE_WAIT_S = 10.0  # longest deactivate waits for the frame in inference
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
    "sources": (
        [],
        "namespaces of the sources this one model serves, e.g. [cam1, cam2]: reads <src>/image (+ frame_info), "
        "writes <src>/detections, fair turns (oldest-waiting source first, latest frame wins); [] = its own topics",
    ),
    **JSON_TOPICS_PARAM,
    "autostart": (True, "configure and activate at start-up; false: wait for `ros2 lifecycle set`"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here
LIVE = {
    "score_threshold": (lambda v: 0.0 <= v <= 1.0, "a score in [0, 1], e.g. 0.5"),
    "max_age_ms": (lambda v: v >= 0, "0 (never drop) or a positive age in milliseconds, e.g. 500.0"),
}


@dataclasses.dataclass
class Lane:
    """One source's endpoints and frame bookkeeping (a single-source detector has one, named '')."""

    name: str
    pub: ResultPublisher
    info: FrameInfoTracker = dataclasses.field(default_factory=FrameInfoTracker)
    image_sub: Any = None
    info_sub: Any = None
    arrival_seq: int = 0
    stale: int = 0

    def topic(self, base: str) -> str:
        return source_topic(self.name, base)


class DetectorNode(NodeScaffold, LifecycleNode):
    """Callbacks only queue; one inference thread works the queue while the node is active.

    Inference never runs in an executor callback: a multi-threaded executor whose callback group is busy
    while messages wait spins the main thread at 100% of a core (seen: a third of the CPU taken from
    inference on two cores, and GIL stalls of 0.4 s in preprocessing). The executor stays free for
    frame_info, stats, parameters and lifecycle requests. The model is built on a thread of its own too.
    """

    PARAMS = PARAMS
    LIVE = LIVE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = self.setup_parameters()
        self.detector: Detector | None = None
        self.built_threshold = 0.0  # detections below the model's built-in threshold never come out of it
        self.inactive_dropped = 0
        self.multi = bool(p["sources"])
        # one lane per source; the trackers also count frames replaced before they got here (latest wins)
        self.lanes: dict[str, Lane] = {}
        for name in check_sources(p["sources"]) if self.multi else [""]:
            topic = source_topic(name, p["detections_topic"])
            # managed (lifecycle) publishers: detections go out only while active
            pub = ResultPublisher(self, Detections, topic, reliable(10), p["json_topics"], lifecycle=True)
            self.lanes[name] = Lane(name, pub)
        self.pub = next(iter(self.lanes.values())).pub  # the single-source graph's publisher
        self.per_source = SourceStats()
        self.start_stats()
        self.stats.extra = self._refresh_counters
        self._info_ready = threading.Condition()  # guards the lanes' trackers; notified on every frame_info
        self._wake = threading.Condition()  # guards _queue, _active, _busy, _stop
        # images wait here for the inference thread, per source; with a depth-1 subscription (webcam, latest
        # wins) a newer frame replaces the waiting one (the tracker counts it from its frame_info)
        self._queue: FairQueue[Image] = FairQueue(10, self._wake)
        self._active = False
        self._busy = False
        self._stop = False
        self._cancel = threading.Event()  # close(): abandon a model build in progress
        self.done_future = Future()  # fails with the error that makes every frame fail; run_node reports it
        self._worker = threading.Thread(target=self._work, name="inference", daemon=True)
        self._worker.start()
        log_parameters(self, p)
        self._autostart: threading.Thread | None = None
        if p["autostart"]:  # off the executor, so parameters and `ros2 lifecycle get` answer during the build
            self._autostart = threading.Thread(target=self._start_up, name="autostart", daemon=True)
            self._autostart.start()

    @property
    def image_sub(self) -> Any:
        """The (first) source's image subscription; None while unconfigured."""
        return next(iter(self.lanes.values())).image_sub

    @property
    def stale(self) -> int:
        return sum(lane.stale for lane in self.lanes.values())

    # -- lifecycle ----------------------------------------------------------------------------------
    def _start_up(self) -> None:
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS and not self._cancel.is_set():
            self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.params
        self.get_logger().info(f"configuring: loading {p['model']} ({p['precision']}); Ctrl-C stops at any moment")
        try:
            detector = self._build()
        except RosDetectError as exc:
            self.get_logger().error(f"configure failed: {exc.problem} (fix: {exc.fix})")
            if p["autostart"]:  # the node cannot do its job: end the process with problem + fix, exit 2
                self._fail(exc)
            return TransitionCallbackReturn.FAILURE
        except Exception as exc:
            self.get_logger().error(f"configure failed:\n{traceback.format_exc()}")
            if p["autostart"]:
                self._fail(exc)
            return TransitionCallbackReturn.ERROR
        if detector is None:
            return TransitionCallbackReturn.FAILURE  # stopped during the build
        self.detector = detector
        self.built_threshold = detector.spec.score_threshold
        for lane in self.lanes.values():
            info_topic, image_topic = lane.topic(p["frame_info_topic"]), lane.topic(p["image_topic"])
            lane.info_sub = self.subscription(
                String, info_topic, partial(self._on_info, lane), reliable(100), configured=p["frame_info_topic"]
            )
            # video: every frame (reliable, depth >= the source's max_in_flight); webcam: qos_overrides make it
            # best effort, depth 1 (latest wins) in config/webcam.yaml; `qos_overrides./image` serves every source
            lane.image_sub = self.subscription(
                Image, image_topic, partial(self._on_image, lane.name), reliable(10), configured=p["image_topic"]
            )
        qos = next(iter(self.lanes.values())).image_sub.qos_profile
        with self._wake:
            self._queue = FairQueue(max(1, qos.depth), self._wake)
        served = f" for {len(self.lanes)} sources {list(self.lanes)} (oldest-waiting first)" if self.multi else ""
        self.get_logger().info(
            f"configured: {detector.model_name} {detector.precision} on {detector.device}, weights "
            f"{detector.weights_label}, image QoS {qos.reliability.name.lower()} depth {qos.depth}{served}"
        )
        return super().on_configure(state)

    def _build(self) -> Detector | None:
        """Build or load the model on its own thread; None if a stop request came first.

        A build cannot be interrupted half-way (torch, OpenVINO); the waiting can. The process then exits and
        the thread ends with it; a build cache entry only appears, by a rename, once complete.
        """
        p = self.params
        config = DetectorConfig.from_params(p)
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def build() -> None:
            try:
                outcome["detector"] = Detector(config)
                freeze_heap()  # no full garbage-collection pause in the middle of a frame later
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=build, name="model_build", daemon=True).start()
        if not wait_unless_stopped(done, self._cancel):
            self.get_logger().info("stop requested: model build abandoned")
            return None
        if "error" in outcome:
            raise outcome["error"]
        return outcome["detector"]

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # the detections publisher first: the next frame can go out
        with self._wake:
            self._active = True
            self._wake.notify_all()
        self.get_logger().info("active: processing frames")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._pause()
        self.get_logger().info("inactive: frames are no longer taken")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("cleaned up: model released")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._pause()
        self._release()
        self.get_logger().info("shut down: the node process ends")
        if not self.done_future.done():
            self.done_future.set_result(True)  # run_node stops spinning: exit 0
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._pause()
        self._release()
        return super().on_error(state)

    def _pause(self) -> None:
        """Stop taking frames; the one in inference finishes (bounded) and goes out first."""
        with self._wake:
            self._active = False
            self._wake.wait_for(lambda: not self._busy, timeout=DEACTIVATE_WAIT_S)

    def _release(self) -> None:
        for lane in self.lanes.values():
            for sub in (lane.image_sub, lane.info_sub):
                if sub is not None:
                    self.destroy_subscription(sub)
            lane.image_sub = lane.info_sub = None
        with self._wake:
            self.inactive_dropped += self._queue.clear()
        if self.detector is not None:
            self.detector = None
            gc.unfreeze()  # the model was frozen out of the collector (freeze_heap): let it go
            gc.collect()

    def _fail(self, exc: BaseException) -> None:
        if not self.done_future.done():
            self.done_future.set_exception(exc)

    # -- parameters ---------------------------------------------------------------------------------
    def check(self, values: dict[str, Any]) -> None:
        built = getattr(self, "detector", None) is not None  # not yet while the parameters are declared
        if built and values["score_threshold"] < self.built_threshold:
            raise ConfigError(
                f"score_threshold {values['score_threshold']} is below {self.built_threshold}, the threshold "
                "the model was built with (it never outputs lower scores)",
                "raise it live, or set it and rebuild: ros2 lifecycle set /detector deactivate, cleanup, "
                "configure, activate (or restart the node with -p score_threshold:=...)",
            )

    def apply_parameter(self, name: str, value: Any) -> None:
        detector = self.detector
        if name == "score_threshold" and detector is not None:
            detector.spec = dataclasses.replace(detector.spec, score_threshold=value)

    # -- frames -------------------------------------------------------------------------------------
    def _on_info(self, lane: Lane, msg: String) -> None:
        try:
            info = json.loads(msg.data)
            stamp = int(info["stamp_ns"])
            with self._info_ready:
                dropped = lane.info.on_info(stamp, info)
                self._info_ready.notify_all()
        except (ValueError, KeyError, TypeError):
            self.get_logger().warning("malformed frame_info message ignored")
            return
        if dropped:
            self._drop(lane, dropped)

    def _on_image(self, source: str, msg: Image) -> None:
        with self._wake:
            if not self._active:
                self.inactive_dropped += 1
                return
            self._queue.put(source, msg)

    def _drop(self, lane: Lane, count: int = 1) -> None:
        self.stats.window.drop(count)
        if self.multi:
            self.per_source.drop(lane.name, count)

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stop or (self._active and bool(self._queue)))
                if self._stop:
                    return
                turn = self._queue.take()
                self._busy = True
            try:
                if turn is not None:
                    self._process(self.lanes[turn.source], turn.item)
            except RosDetectError as exc:  # a setting that fails every frame (e.g. image size): stop the node
                self._fail(exc)
                return
            except Exception as exc:  # one bad frame must not end the inference thread
                self.get_logger().error(f"frame not processed: {type(exc).__name__}: {exc}")
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def close(self) -> None:
        """Abandon a model build, stop the inference thread (a frame in inference finishes first, bounded)."""
        self._cancel.set()
        if self._autostart is not None:
            self._autostart.join(timeout=5.0)  # its configure returns within a poll once cancelled
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        self._worker.join(timeout=5.0)

    def _frame_info(self, lane: Lane, capture_ns: int, frame_id: str) -> tuple[dict[str, Any] | None, int]:
        """This frame's frame_info (None if it never comes) and the frames it proves dropped.

        The image can overtake its frame_info (two topics), e.g. right after a restart: when a source publishes
        frame_info, give it a moment so the frame keeps the source's numbering."""
        info_sub = lane.info_sub
        wait_s = FRAME_INFO_WAIT_S if info_sub is not None and info_sub.get_publisher_count() else 0.0
        with self._info_ready:
            self._info_ready.wait_for(lambda: lane.info.cache.has(capture_ns), timeout=wait_s)
            return lane.info.on_image(capture_ns, frame_id)

    def _process(self, lane: Lane, msg: Image) -> None:
        detector = self.detector
        if detector is None:
            return
        t_start = time.time_ns()
        capture_ns = stamp_ns(msg.header)
        frame_id = msg.header.frame_id or "source"
        info, dropped = self._frame_info(lane, capture_ns, frame_id)
        if dropped:
            self._drop(lane, dropped)
        if info is not None:
            seq, media_time_s, decode_ms = int(info["seq"]), info.get("media_time_s"), float(info["decode_ms"])
        else:
            seq, media_time_s, decode_ms = lane.arrival_seq, None, 0.0
        lane.arrival_seq += 1
        wait_ms = (t_start - capture_ns) / 1e6
        if self.params["max_age_ms"] > 0 and wait_ms > self.params["max_age_ms"]:
            lane.stale += 1
            self._drop(lane)
            return
        try:
            image = image_to_bgr(msg)
        except Exception as exc:
            self.get_logger().error(f"cannot use image on '{lane.image_sub.topic_name}': {exc}")
            return
        frame = Frame(seq=seq, stamp_ns=capture_ns, image=image, decode_ms=decode_ms, media_time_s=media_time_s)
        doc, _ = detect_frame(detector, frame, frame_id)
        doc["timing_ms"]["wait"] = round(max(0.0, wait_ms), 3)  # the time this frame waited for the detector
        lane.pub.publish(detections_msg(doc), doc)
        latency = {"capture_to_detection": (time.time_ns() - capture_ns) / 1e6}
        self.stats.window.record(latency_ms=latency, stage_ms=doc["timing_ms"], frame_id=frame_id)
        if self.multi:
            self.per_source.record(lane.name, latency, frame_id)

    def _refresh_counters(self, window: Any) -> None:
        window.set_counter("stale", self.stale)
        window.set_counter("inactive_dropped", self.inactive_dropped)
        if not self.multi:
            return
        with self._wake:
            received, superseded = dict(self._queue.received), dict(self._queue.superseded)
        for name, lane in self.lanes.items():
            per = self.per_source.window(name)
            per.set_counter("received", received.get(name, 0))
            per.set_counter("superseded", superseded.get(name, 0))
            per.set_counter("stale", lane.stale)
        window.sources = self.per_source.docs()


def main(args: list[str] | None = None) -> int:
    from ros_detect.nodes.common import run_node

    return run_node(DetectorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
