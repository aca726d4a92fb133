"""Node parameters as `ros2 param` users meet them: every one typed and described; read-only ones refused with the
reason; live ones applied (the change is observable) or refused with the reason; standard QoS overrides; message
loss counted and summarised instead of logged per message."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.ros_inprocess import LifecycleClient, SpinningContext, set_parameter
from helpers.wait import wait_until

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402

from ros_detect.graph.stats import LossLog  # noqa: E402

FAST = {"weights": "none", "model": "fasterrcnn_mobilenet_v3_large_320_fpn", "threads": 1, "proposals": 20}
DEAD_STREAM = "http://127.0.0.1:9/none.mjpg"  # nothing listens: the camera keeps reconnecting, harmlessly


def construct(ctx: SpinningContext, module: str, cls: str, **params: Any) -> Any:
    import importlib

    node_class = getattr(importlib.import_module(f"ros_detect.nodes.{module}"), cls)
    overrides = [Parameter(k, value=v) for k, v in {"stats_period_s": 0.0, **params}.items()]
    return ctx.add(node_class(parameter_overrides=overrides, context=ctx.ctx))


@pytest.fixture
def ctx():
    context = SpinningContext()
    yield context
    context.close()


def all_nodes(ctx: SpinningContext, clip_path: Path) -> dict[str, Any]:
    return {
        "detector": construct(ctx, "detector", "DetectorNode", autostart=False, **FAST),
        "main_person": construct(ctx, "main_person", "MainPersonNode"),
        "video_source": construct(ctx, "video_source", "VideoSourceNode", input=str(clip_path), detector_node=""),
        "camera_source": construct(ctx, "camera_source", "CameraSourceNode", input=DEAD_STREAM, open_timeout_s=0.5),
        "mqtt_bridge": construct(ctx, "mqtt_bridge", "MqttBridgeNode", autostart_broker="none", port=1),
        "foxglove_bridge": construct(ctx, "foxglove_bridge", "FoxgloveBridgeNode", port=0, http_port=-1),
    }


def test_every_parameter_is_typed_described_and_read_only_unless_live(ctx: SpinningContext, clip_path: Path) -> None:
    for name, node in all_nodes(ctx, clip_path).items():
        for param in node.PARAMS:
            d = node.describe_parameter(param)
            assert d.description and d.type != ParameterType.PARAMETER_NOT_SET, (name, param)
            assert d.read_only == (param not in node.LIVE), (name, param)
        for param in node._parameters:  # rclpy's standard QoS overrides: read-only too
            if param.startswith("qos_overrides."):
                assert node.describe_parameter(param).read_only, (name, param)


def test_a_read_only_parameter_is_refused_with_the_reason(ctx: SpinningContext, clip_path: Path) -> None:
    """`ros2 param set /detector proposals 100` used to report success and change nothing."""
    det = construct(ctx, "detector", "DetectorNode", autostart=False, **FAST)
    construct(ctx, "main_person", "MainPersonNode")
    cli = ctx.node("param_cli")
    result = set_parameter(cli, "/detector", "proposals", 100)
    assert not result.successful and "read-only" in result.reason
    assert det.get_parameter("proposals").value == 20
    result = set_parameter(cli, "/main_person", "detections_topic", "other")
    assert not result.successful and "read-only" in result.reason
    result = set_parameter(cli, "/main_person", "qos_overrides./detections.subscription.depth", 1)
    assert not result.successful and "read-only" in result.reason


def test_detector_score_threshold_and_max_age_are_live(ctx: SpinningContext) -> None:
    import numpy as np
    from sensor_msgs.msg import Image

    from ros_detect.nodes.image import bgr_to_image
    from ros_detect.nodes.messages import Detections, detections_doc

    det = construct(ctx, "detector", "DetectorNode", score_threshold=0.0, **FAST)
    cli = ctx.node("param_cli")
    docs: list[dict[str, Any]] = []
    cli.create_subscription(Detections, "detections", lambda m: docs.append(detections_doc(m)), 10)
    pub = cli.create_publisher(Image, "image", 10)
    frame = np.random.default_rng(1).integers(0, 255, (240, 427, 3), dtype=np.uint8)
    assert wait_until(lambda: LifecycleClient(cli, "/detector").state() == "active", 180)

    def detections_of_next_frame() -> list[dict[str, Any]]:
        count = len(docs)
        assert wait_until(pub.get_subscription_count, 30)
        pub.publish(bgr_to_image(frame, time.time_ns(), "cam"))
        assert wait_until(lambda: len(docs) > count, 60)
        return docs[-1]["detections"]

    scores = [d["score"] for d in detections_of_next_frame()]
    assert scores and min(scores) < 0.5  # random-init weights, built with threshold 0: low scores come out
    assert set_parameter(cli, "/detector", "score_threshold", 0.5).successful
    assert all(d["score"] >= 0.5 for d in detections_of_next_frame())
    result = set_parameter(cli, "/detector", "score_threshold", 1.5)
    assert not result.successful and "score_threshold" in result.reason and "[0, 1]" in result.reason

    assert set_parameter(cli, "/detector", "max_age_ms", 0.001).successful  # every frame is too old now
    pub.publish(bgr_to_image(frame, time.time_ns(), "cam"))
    assert wait_until(lambda: det.stale >= 1, 60)
    result = set_parameter(cli, "/detector", "max_age_ms", -1.0)
    assert not result.successful and "max_age_ms" in result.reason


def test_main_person_selection_settings_are_live(ctx: SpinningContext) -> None:
    from ros_detect import schema
    from ros_detect.nodes.messages import Detections, MainPerson, detections_msg, main_person_doc
    from ros_detect.schema import Detection

    construct(ctx, "main_person", "MainPersonNode")
    cli = ctx.node("param_cli")
    pub = cli.create_publisher(Detections, "detections", 10)
    out: list[dict[str, Any]] = []
    cli.create_subscription(MainPerson, "main_person", lambda m: out.append(main_person_doc(m)), 10)

    def main_box(seq: int, frame_id: str, score: float) -> list[float] | None:
        person = Detection((100.0, 40.0, 180.0, 220.0), score, 1, "person")
        doc = schema.detections_doc(
            seq=seq, stamp_ns=time.time_ns(), frame_id=frame_id, image_size=(427, 240), model="m", precision="fp32",
            weights="w", detections=[person] if score > 0 else [], timing_ms={},
        )  # fmt: skip
        count = len(out)
        assert wait_until(pub.get_subscription_count, 30)
        pub.publish(detections_msg(doc))
        assert wait_until(lambda: len(out) > count, 30)
        return out[-1]["box"]

    assert main_box(0, "a", 0.6) is not None  # min_score 0.5
    assert set_parameter(cli, "/main_person", "min_score", 0.7).successful
    assert main_box(0, "b", 0.6) is None
    # hold_frames: a missed frame reports the last box while held; 0 = never
    assert main_box(1, "b", 0.9) is not None and main_box(2, "b", 0.0) is not None
    assert set_parameter(cli, "/main_person", "hold_frames", 0).successful
    assert main_box(3, "b", 0.9) is not None and main_box(4, "b", 0.0) is None
    result = set_parameter(cli, "/main_person", "dropout_frames", -1)  # must stay >= hold_frames
    assert not result.successful and "dropout_frames" in result.reason
    result = set_parameter(cli, "/main_person", "smoothing", "lots")
    assert not result.successful


def test_bridge_and_source_settings_are_live(ctx: SpinningContext, clip_path: Path) -> None:
    from ros_detect import schema
    from ros_detect.nodes.messages import Detections, detections_msg

    mqtt = construct(ctx, "mqtt_bridge", "MqttBridgeNode", autostart_broker="none", port=1)
    fox = construct(ctx, "foxglove_bridge", "FoxgloveBridgeNode", port=0, http_port=-1)
    src = construct(ctx, "video_source", "VideoSourceNode", input=str(clip_path), detector_node="")
    cam = construct(ctx, "camera_source", "CameraSourceNode", input=DEAD_STREAM, open_timeout_s=0.5)
    cli = ctx.node("param_cli")
    pub = cli.create_publisher(Detections, "detections", 10)
    doc = schema.detections_doc(
        seq=0, stamp_ns=time.time_ns(), frame_id="cam", image_size=(427, 240), model="m", precision="fp32",
        weights="w", detections=[], timing_ms={},
    )  # fmt: skip

    def forwarded_after_one_detections_message() -> int:
        before = mqtt.mqtt.counters["received"]
        assert wait_until(lambda: pub.get_subscription_count() >= 2, 30)  # mqtt + foxglove bridges
        pub.publish(detections_msg(doc))
        wait_until(lambda: mqtt.mqtt.counters["received"] > before, 5)  # bounded: a message not forwarded never counts
        return mqtt.mqtt.counters["received"] - before

    assert forwarded_after_one_detections_message() == 1
    assert set_parameter(cli, "/mqtt_bridge", "forward", ["main_person", "stats"]).successful
    assert forwarded_after_one_detections_message() == 0
    result = set_parameter(cli, "/mqtt_bridge", "forward", ["main_person", "video"])
    assert not result.successful and "forward" in result.reason
    assert set_parameter(cli, "/mqtt_bridge", "forward", ["detections"]).successful
    assert set_parameter(cli, "/mqtt_bridge", "detections_max_hz", 0.001).successful
    assert forwarded_after_one_detections_message() == 1  # the first goes out, the next waits 1000 s
    limited = mqtt.mqtt.counters["rate_limited"]
    assert forwarded_after_one_detections_message() == 0 and mqtt.mqtt.counters["rate_limited"] == limited + 1

    assert set_parameter(cli, "/foxglove_bridge", "jpeg_quality", 30).successful
    assert fox.relay.config.jpeg_quality == 30  # the encoder reads it per frame
    assert not set_parameter(cli, "/foxglove_bridge", "jpeg_quality", 0).successful

    assert set_parameter(cli, "/video_source", "rate", 2.0).successful
    assert src.pacer.rate == 2.0 and src.timer.timer_period_ns == 10_000_000
    assert src.pacer.delay(0.0, now=100.0) == 0.0 and src.pacer.delay(1.0, now=100.0) == pytest.approx(0.5)
    assert not set_parameter(cli, "/video_source", "rate", -1.0).successful

    assert set_parameter(cli, "/camera_source", "max_fps", 5.0).successful and cam.params["max_fps"] == 5.0


def test_qos_overrides_change_the_endpoints(ctx: SpinningContext, clip_path: Path) -> None:
    """rclpy's standard `qos_overrides.<topic>.<publisher|subscription>.<policy>` parameters; the defaults of
    the modes (video: reliable depth 10; webcam camera: best effort depth 1) without them."""
    src = construct(
        ctx, "video_source", "VideoSourceNode", input=str(clip_path), detector_node="",
        **{"qos_overrides./image.publisher.reliability": "best_effort", "qos_overrides./image.publisher.depth": 4},
    )  # fmt: skip
    info = src.get_publishers_info_by_topic("/image")
    assert [i.qos_profile.reliability for i in info] == [ReliabilityPolicy.BEST_EFFORT]
    assert src.image_pub.qos_profile.depth == 4
    assert src.get_parameter("qos_overrides./image.publisher.depth").value == 4
    # a bare node's endpoints have the QoS config/ deploys: the detector subscribes reliably, depth 10 (the video
    # graph; webcam.yaml overrides it), the camera publishes best effort, depth 1
    from ros_detect.graph.plan import deployed_defaults

    assert deployed_defaults("detector")["qos_overrides./image.subscription.reliability"] == "reliable"
    assert deployed_defaults("detector")["qos_overrides./image.subscription.depth"] == 10
    assert deployed_defaults("camera_source")["qos_overrides./image.publisher.reliability"] == "best_effort"
    assert deployed_defaults("camera_source")["qos_overrides./image.publisher.depth"] == 1
    det = construct(ctx, "detector", "DetectorNode", autostart=False, **FAST)
    assert LifecycleClient(ctx.node("cli"), "/detector").set("configure")
    assert det.image_sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE and det.image_sub.qos_profile.depth == 10
    cam = construct(ctx, "camera_source", "CameraSourceNode", input=DEAD_STREAM, open_timeout_s=0.5)
    info = cam.get_publishers_info_by_topic("/image")
    assert ReliabilityPolicy.BEST_EFFORT in [i.qos_profile.reliability for i in info]
    assert cam.image_pub.qos_profile.depth == 1


def test_a_qos_override_without_the_namespace_applies_in_any_namespace(ctx: SpinningContext) -> None:
    """Parameter files hold `qos_overrides./image...` (like `/**/detector` sections, namespace-independent); a node
    in /door applies it to /door/image; the fully resolved key wins when both are given."""
    from ros_detect.nodes.main_person import MainPersonNode

    plain = "qos_overrides./detections.subscription"
    node = ctx.add(
        MainPersonNode(
            namespace="door",
            context=ctx.ctx,
            parameter_overrides=[
                Parameter(f"{plain}.reliability", value="best_effort"),
                Parameter(f"{plain}.depth", value=3),
                Parameter("qos_overrides./door/detections.subscription.depth", value=7),
            ],
        )
    )
    info = node.get_subscriptions_info_by_topic("/door/detections")
    assert [i.qos_profile.reliability for i in info] == [ReliabilityPolicy.BEST_EFFORT]
    assert node.sub.qos_profile.depth == 7
    assert node.get_parameter("qos_overrides./door/detections.subscription.reliability").value == "best_effort"


@pytest.mark.unit
def test_loss_log_reports_at_most_once_per_period() -> None:
    log = LossLog(period_s=10.0)
    assert log.add(1, now=100.0) == (1, 1, 0.0)  # the first loss is reported at once
    assert [log.add(1, now=100.0 + i * 0.5) for i in range(1, 20)] == [None] * 19
    assert log.add(2, now=110.0) == (21, 22, 10.0)  # then one summary per period
    assert log.add(1, now=111.0) is None and log.total == 23


def test_lost_images_are_counted_in_stats_and_summarised_not_logged_per_message(
    ctx: SpinningContext, capfd: pytest.CaptureFixture[str]
) -> None:
    """Webcam mode: latest-wins QoS loses frames by design (36-64 WARN lines in 40 s before)."""
    from ros_detect.nodes.common import subscription_events

    fox = construct(ctx, "foxglove_bridge", "FoxgloveBridgeNode", port=0, http_port=-1)
    events = subscription_events(fox, "/image", counters=fox.stats.counters, by_design=lambda: True)
    capfd.readouterr()
    for total in range(1, 51):  # 50 frames replaced, as the middleware reports them
        events.message_lost(SimpleNamespace(total_count=total, total_count_change=1))
    logged = [line for line in capfd.readouterr().err.splitlines() if "lost" in line]
    assert len(logged) == 1 and "INFO" in logged[0] and "latest wins" in logged[0], logged
    doc = fox.stats.current()
    assert doc["counters"]["image_lost"] == 50
    from ros_detect import schema

    schema.validate(doc)
    # the effective QoS decides, overrides included: webcam.yaml makes the detector's image subscription best effort
    webcam_qos = {"qos_overrides./image.subscription.reliability": "best_effort"}
    det = construct(ctx, "detector", "DetectorNode", autostart=False, **FAST, **webcam_qos)
    assert LifecycleClient(ctx.node("cli"), "/detector").set("configure")
    capfd.readouterr()
    on_lost = next(h.callback for h in det.image_sub.event_handlers if h.callback.__name__ == "on_lost")
    on_lost(SimpleNamespace(total_count=3, total_count_change=3))  # as the middleware reports it
    logged = capfd.readouterr().err
    assert "lost" in logged and "latest wins" in logged and "WARN" not in logged, logged
    assert det.stats.current()["counters"]["image_lost"] == 3
    # on a reliable subscription a loss is a problem: WARN
    events = subscription_events(fox, "/detections", counters=fox.stats.counters)
    events.message_lost(SimpleNamespace(total_count=1, total_count_change=1))
    assert "WARN" in capfd.readouterr().err
