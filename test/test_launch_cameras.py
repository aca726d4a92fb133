"""`ros-detect launch webcam URL1 URL2`: two cameras, one detector, each camera's results on its own topics."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
from helpers.mjpeg import MjpegServer
from helpers.ros import ros_env
from helpers.wait import wait_until

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

ROS_DETECT = [sys.executable, "-m", "ros_detect.cli"]
FAST = [
    "--weights", "none", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "fp32",
    "--threads", "1", "--proposals", "50", "--no-mqtt", "--no-foxglove",
]  # fmt: skip


@pytest.mark.parametrize("processes", ["multi", "one"])
def test_two_cameras_one_detector(processes: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from ros_detect.nodes.messages import MainPerson, main_person_doc

    env = ros_env()
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # this process joins the graph's domain
    with MjpegServer(fps=5.0) as cam1, MjpegServer(fps=5.0) as cam2:
        proc = subprocess.Popen(
            [*ROS_DETECT, "launch", "webcam", cam1.url, f"door={cam2.url}", "--processes", processes, *FAST],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        ctx = Context()
        rclpy.init(context=ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
        executor = SingleThreadedExecutor(context=ctx)
        got: dict[str, list[dict]] = {"cam1": [], "door": []}
        try:
            node = rclpy.create_node("observer", context=ctx)
            for name, docs in got.items():
                topic = f"/{name}/main_person"
                node.create_subscription(MainPerson, topic, lambda m, d=docs: d.append(main_person_doc(m)), 10)
            executor.add_node(node)

            def both_answered() -> bool:
                executor.spin_once(timeout_sec=0.1)
                return all(len(docs) >= 2 for docs in got.values()) or proc.poll() is not None

            assert wait_until(both_answered, 240, interval_s=0.0), "".join(lines)[-4000:]
            assert proc.poll() is None, "".join(lines)[-4000:]
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            executor.shutdown(timeout_sec=2)
            rclpy.shutdown(context=ctx)
        reader.join(timeout=30)
    output = "".join(lines)
    assert proc.returncode == 0, output[-4000:]
    assert "2 cameras, one detector" in output and "Traceback" not in output
    assert {d["frame_id"] for d in got["cam1"]} == {"cam1"} and {d["frame_id"] for d in got["door"]} == {"door"}
