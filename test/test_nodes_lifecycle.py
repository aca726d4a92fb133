"""The detector as a lifecycle node, driven the way `ros2 lifecycle set /detector ...` drives it (its services):
transitions, frames processed only while active, the model released on cleanup, the process ending on shutdown;
autostart; and video_source publishing only to an active detector."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.ros_inprocess import LifecycleClient, SpinningContext
from helpers.wait import wait_until

from ros_detect import schema

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

from rclpy.parameter import Parameter  # noqa: E402

FAST = {
    "weights": "none",
    "model": "fasterrcnn_mobilenet_v3_large_320_fpn",
    "threads": 1,
    "proposals": 20,
    "stats_period_s": 0.0,
}
BUILD_S = 180.0  # a random-init mobilenet on a loaded machine


def detector(ctx: SpinningContext, **params: Any) -> Any:
    from ros_detect.nodes.detector import DetectorNode

    overrides = [Parameter(k, value=v) for k, v in {**FAST, **params}.items()]
    return ctx.add(DetectorNode(parameter_overrides=overrides, context=ctx.ctx))


class Camera:
    """Publishes frames on `image` and collects `detections` documents."""

    def __init__(self, ctx: SpinningContext) -> None:
        from sensor_msgs.msg import Image

        from ros_detect.nodes.messages import Detections, detections_doc

        self.node = ctx.node("test_camera")
        self.pub = self.node.create_publisher(Image, "image", 10)
        self.docs: list[dict[str, Any]] = []
        self.node.create_subscription(Detections, "detections", lambda m: self.docs.append(detections_doc(m)), 10)
        self.frame = np.random.default_rng(0).integers(0, 255, (240, 427, 3), dtype=np.uint8)

    def send(self) -> None:
        from ros_detect.nodes.image import bgr_to_image

        assert wait_until(self.pub.get_subscription_count, 30), "no subscriber on image"
        self.pub.publish(bgr_to_image(self.frame, time.time_ns(), "cam"))


def test_transitions_and_frames_processed_only_while_active() -> None:
    ctx = SpinningContext()
    try:
        node = detector(ctx, autostart=False)
        camera = Camera(ctx)
        life = LifecycleClient(camera.node, "/detector")
        assert life.state() == "unconfigured" and node.detector is None and node.image_sub is None

        assert life.set("configure")
        assert life.state() == "inactive" and node.detector is not None
        camera.send()
        assert wait_until(lambda: node.inactive_dropped >= 1, 30)  # taken in, not processed
        assert camera.docs == []

        assert life.set("activate") and life.state() == "active"
        camera.send()
        assert wait_until(lambda: camera.docs, 60), "no detections while active"
        schema.validate(camera.docs[0])

        assert life.set("deactivate") and life.state() == "inactive"
        dropped, processed = node.inactive_dropped, len(camera.docs)
        camera.send()
        assert wait_until(lambda: node.inactive_dropped > dropped, 30)
        assert len(camera.docs) == processed

        assert life.set("cleanup") and life.state() == "unconfigured"
        assert node.detector is None and node.image_sub is None  # model and subscriptions released

        assert not node.done_future.done()
        assert life.set("shutdown") and life.state() == "finalized"
        assert node.done_future.done() and node.done_future.exception() is None  # run_node: exit 0
    finally:
        ctx.close()


def test_autostart_configures_and_activates_itself_and_refuses_invalid_transitions() -> None:
    ctx = SpinningContext()
    try:
        node = detector(ctx)  # autostart defaults to true: launch files need no lifecycle manager
        life = LifecycleClient(ctx.node("lifecycle_cli"), "/detector")
        assert wait_until(lambda: life.state() == "active", BUILD_S), life.state()
        assert node.detector is not None
        assert not life.set("configure")  # not a transition from active
        assert life.state() == "active"
    finally:
        ctx.close()


def test_video_source_publishes_only_to_an_active_detector(clip_path: Path) -> None:
    """An inactive detector is subscribed to image and frame_info, and main_person is up: the old "who
    subscribes" heuristic would start publishing into it. video_source waits for the lifecycle state."""
    from ros_detect.nodes.main_person import MainPersonNode
    from ros_detect.nodes.video_source import VideoSourceNode

    ctx = SpinningContext()
    try:
        node = detector(ctx, autostart=False)
        ctx.add(MainPersonNode(parameter_overrides=[Parameter("stats_period_s", value=0.0)], context=ctx.ctx))
        life = LifecycleClient(ctx.node("lifecycle_cli"), "/detector")
        assert life.set("configure")
        source = ctx.add(
            VideoSourceNode(
                parameter_overrides=[Parameter("input", value=str(clip_path)), Parameter("stats_period_s", value=0.0)],
                context=ctx.ctx,
            )
        )
        # it has asked the detector's state and the detector is subscribed: still nothing is published
        assert wait_until(lambda: source.detector_active is False, 60)
        assert wait_until(lambda: source.image_pub.get_subscription_count() >= 1, 60)
        assert source.window.sent == 0 and not source.started

        assert life.set("activate")
        assert wait_until(lambda: source.done_future.done(), BUILD_S), source.stats.current()
        assert source.window.sent == source.window.returned == source.expected_frames == 12
        assert source.window.lost == 0 and node.inactive_dropped == 0
    finally:
        ctx.close()
