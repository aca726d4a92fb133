"""The rclpy side of the nodes: Image conversion, in-process construction with overrides and a namespace,
user errors without tracebacks, clean SIGTERM, and stats on the wire."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.ros import ros_env

from ros_detect import schema
from ros_detect.errors import InputError

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from ros_detect.nodes.image import bgr_to_image, image_to_bgr, stamp_ns  # noqa: E402


def test_image_roundtrip_is_zero_copy_on_receive() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (240, 427, 3), dtype=np.uint8)
    msg = bgr_to_image(frame, 1_234_567_890_123, "cam")
    assert (msg.width, msg.height, msg.step, msg.encoding) == (427, 240, 427 * 3, "bgr8")
    assert stamp_ns(msg.header) == 1_234_567_890_123 and msg.header.frame_id == "cam"
    back = image_to_bgr(msg)
    assert np.array_equal(back, frame)
    assert np.shares_memory(back, np.frombuffer(msg.data, np.uint8))  # a view, not a copy


def test_image_padded_rows_rgb_and_mono() -> None:
    from sensor_msgs.msg import Image

    frame = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    padded = np.zeros((4, 16), np.uint8)
    padded[:, :15] = frame.reshape(4, 15)
    msg = Image(height=4, width=5, encoding="bgr8", step=16, data=padded.tobytes())
    assert np.array_equal(image_to_bgr(msg), frame)
    rgb = Image(height=4, width=5, encoding="rgb8", step=15, data=frame[:, :, ::-1].tobytes())
    assert np.array_equal(image_to_bgr(rgb), frame)
    mono = Image(height=2, width=2, encoding="mono8", step=2, data=bytes([0, 50, 100, 255]))
    assert image_to_bgr(mono)[1, 1].tolist() == [255, 255, 255]
    with pytest.raises(InputError, match="unsupported image encoding"):
        image_to_bgr(Image(height=1, width=1, encoding="32FC1", step=4, data=bytes(4)))
    with pytest.raises(InputError, match="inconsistent"):
        image_to_bgr(Image(height=4, width=5, encoding="bgr8", step=15, data=bytes(10)))


def test_nodes_construct_in_process_with_overrides_and_namespace(clip_path: Path) -> None:
    import rclpy

    from ros_detect.nodes.common import close_node
    from ros_detect.nodes.main_person import MainPersonNode
    from ros_detect.nodes.video_source import VideoSourceNode

    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(ros_env()["ROS_DOMAIN_ID"]))
    try:
        mp = MainPersonNode(namespace="cam9", parameter_overrides=[Parameter("hold_frames", value=2)], context=ctx)
        assert mp.get_fully_qualified_name() == "/cam9/main_person"
        assert mp.config.hold_frames == 2
        assert mp.pub.topic_name == "/cam9/main_person" and mp.sub.topic_name == "/cam9/detections"
        src = VideoSourceNode(
            namespace="cam9",
            parameter_overrides=[Parameter("input", value=str(clip_path)), Parameter("image_topic", value="frames")],
            context=ctx,
        )
        assert src.image_pub.topic_name == "/cam9/frames" and src.expected_frames == 12
        assert src.source_id == "cam9" and not src.done_future.done()  # in a namespace: the namespace names the source
        for node in (mp, src):
            close_node(node)
        with pytest.raises(InputError, match="no input"):
            VideoSourceNode(context=ctx)
    finally:
        rclpy.shutdown(context=ctx)


def test_node_user_error_is_problem_and_fix(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ros_detect.nodes.video_source", "--ros-args", "-p", f"input:={tmp_path}/none.mp4"],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "error: input video" in proc.stderr and "fix:" in proc.stderr and "Traceback" not in proc.stderr


def test_node_stops_cleanly_on_sigterm_and_publishes_stats() -> None:
    env = ros_env()
    node = subprocess.Popen(
        [sys.executable, "-m", "ros_detect.nodes.main_person", "--ros-args", "-p", "stats_period_s:=0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    listen = textwrap_listener()
    try:
        out = subprocess.run([sys.executable, "-c", listen], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        schema.validate(doc)
        assert doc["node"] == "/main_person" and doc["frames"] == 0
    finally:
        time.sleep(0.2)
        node.send_signal(signal.SIGTERM)
        output, _ = node.communicate(timeout=20)
    assert node.returncode == 0, output
    assert "started /main_person with" in output and "Traceback" not in output


def textwrap_listener() -> str:
    return (
        "import rclpy, sys\n"
        "from std_msgs.msg import String\n"
        "rclpy.init(); n = rclpy.create_node('stats_listener'); got = []\n"
        "n.create_subscription(String, 'stats', lambda m: got.append(m.data), 10)\n"
        "import time; end = time.time() + 30\n"
        "while not got and time.time() < end: rclpy.spin_once(n, timeout_sec=0.1)\n"
        "print(got[-1] if got else ''); sys.exit(0 if got else 1)\n"
    )


def test_incompatible_qos_is_logged(capfd: pytest.CaptureFixture[str]) -> None:
    """A best-effort publisher on `detections` never reaches main_person's reliable subscription: say so."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from ros_detect.nodes.common import close_node
    from ros_detect.nodes.main_person import MainPersonNode
    from ros_detect.nodes.messages import Detections

    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(ros_env()["ROS_DOMAIN_ID"]))
    try:
        mp = MainPersonNode(namespace="qos_test", context=ctx)
        other = rclpy.create_node("best_effort_pub", namespace="qos_test", context=ctx)
        other.create_publisher(Detections, "detections", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(mp)
        executor.add_node(other)
        deadline = time.monotonic() + 10
        logged = ""
        while time.monotonic() < deadline and "has QoS incompatible" not in logged:
            executor.spin_once(timeout_sec=0.1)
            logged += capfd.readouterr().err
        close_node(mp)
        other.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    assert "QoS incompatible" in logged and "/qos_test/detections" in logged


def test_video_source_loop_and_range_keep_seqs_unique(clip_path: Path) -> None:
    """loop restarts at start_frame and keeps counting, so in-flight accounting never sees a seq twice."""
    import rclpy

    from ros_detect.nodes.common import close_node
    from ros_detect.nodes.video_source import VideoSourceNode

    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(ros_env()["ROS_DOMAIN_ID"]))
    try:
        overrides = [
            Parameter("input", value=str(clip_path)),
            Parameter("loop", value=True),
            Parameter("start_frame", value=2),
            Parameter("stop_frame", value=6),
        ]
        src = VideoSourceNode(parameter_overrides=overrides, context=ctx)
        assert src.expected_frames == 4
        seqs = []
        for _ in range(10):
            frame = src._next_frame()
            seqs.append(frame.seq + src.seq_offset)
        assert seqs == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11] and not src.ended
        close_node(src)
    finally:
        rclpy.shutdown(context=ctx)


def test_detector_stops_with_the_fix_when_every_frame_must_fail(tmp_path: Path) -> None:
    """An exported model and frames of another size: the node exits 2 naming problem and fix, not an error
    logged per frame forever (inference runs on the node's own thread, off the executor)."""
    import rclpy
    from sensor_msgs.msg import Image

    env = ros_env(ROS_DETECT_CACHE=str(tmp_path / "cache"))
    args = ["weights:=none", "precision:=onnx-fp32", "proposals:=20", "threads:=1", "stats_period_s:=0.0"]
    cmd = [sys.executable, "-m", "ros_detect.nodes.detector", "--ros-args", *[x for a in args for x in ("-p", a)]]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
    try:
        node = rclpy.create_node("wrong_size_camera", context=ctx)
        pub = node.create_publisher(Image, "image", 10)
        frame = np.zeros((480, 640, 3), np.uint8)
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            if pub.get_subscription_count():
                pub.publish(bgr_to_image(frame, time.time_ns(), "cam"))
            time.sleep(0.2)
        output = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        rclpy.shutdown(context=ctx)
    assert proc.returncode == 2, output[-2000:]
    assert "error: exported models take 427x240 frames, got 640x480" in output
    assert "fix:" in output and "Traceback" not in output
