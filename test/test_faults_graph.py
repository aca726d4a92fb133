"""A node of the webcam graph killed mid-run: the others keep running and log it; a restarted node resumes the flow.

Each node is its own process (as under ros2 launch or systemd); the detector gets SIGKILL (a crash: no
goodbye on the wire, so the others notice when its DDS lease expires, ~20 s with Fast DDS). A listener in
this process counts main_person results and the camera's stats heartbeats.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.mjpeg import MjpegServer
from helpers.ros import ros_env

from ros_detect import schema

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

DETECTOR = [
    "-p", "weights:=none", "-p", "model:=fasterrcnn_mobilenet_v3_large_320_fpn", "-p", "threads:=1",
    "-p", "precision:=fp32", "-p", "proposals:=100", "-p", "image_reliability:=best_effort", "-p", "image_depth:=1",
]  # fmt: skip


class Listener:
    """main_person documents (with receive time) and the latest stats per node, on a private rclpy context."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String

        from ros_detect.nodes.messages import MainPerson

        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node("fault_listener", context=self.ctx)
        self.mains: list[tuple[float, dict[str, Any]]] = []
        self.stats: dict[str, dict[str, Any]] = {}
        self.node.create_subscription(MainPerson, "main_person", self._on_main, 50)
        self.node.create_subscription(String, "stats", lambda m: self._on_stats(json.loads(m.data)), 50)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_main(self, msg: Any) -> None:
        from ros_detect.nodes.messages import main_person_doc

        self.mains.append((time.monotonic(), main_person_doc(msg)))

    def _on_stats(self, doc: dict[str, Any]) -> None:
        self.stats[doc["node"]] = doc

    def _spin(self) -> None:
        while self.ctx.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:  # context shut down under us
                return

    def published(self) -> int:
        return int(self.stats.get("/camera_source", {}).get("counters", {}).get("published", 0))

    def close(self) -> None:
        import rclpy

        rclpy.shutdown(context=self.ctx)
        self._thread.join(timeout=5)
        self.executor.shutdown(timeout_sec=1)


def _wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, procs: list[subprocess.Popen]) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if predicate():
            return time.monotonic()
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode} while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_killed_detector_others_keep_running_log_it_and_restart_resumes(tmp_path: Path) -> None:
    env = ros_env()
    cam = MjpegServer(fps=10.0).start()
    logs: dict[str, Path] = {}

    def spawn(name: str, *args: str) -> subprocess.Popen:
        logs[name] = tmp_path / f"{name}.log"
        cmd = [sys.executable, "-m", f"ros_detect.nodes.{name}", "--ros-args", *args]
        with open(logs[name], "a") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    listener = Listener(int(env["ROS_DOMAIN_ID"]))
    procs: list[subprocess.Popen] = []
    try:
        main = spawn("main_person", "-p", "stats_period_s:=0.5")
        camera = spawn("camera_source", "-p", f"input:={cam.url}", "-p", "stats_period_s:=0.5")
        detector = spawn("detector", *DETECTOR)
        procs = [main, camera, detector]
        _wait_for(lambda: len(listener.mains) >= 3, 180, "the first main_person results", procs)

        detector.send_signal(signal.SIGKILL)
        detector.wait(timeout=10)
        t_kill = time.monotonic()
        procs = [main, camera]
        _wait_for(
            lambda: "detections': a publisher went away" in logs["main_person"].read_text(),
            60,
            "main_person to log that the detector went away",
            procs,
        )
        published_at_loss = listener.published()
        results_at_loss = len(listener.mains)
        # the rest keeps running: the camera keeps publishing (20 more frames, in its heartbeats), nothing
        # crashes, no results without a detector
        _wait_for(lambda: listener.published() >= published_at_loss + 20, 60, "the camera to keep publishing", procs)
        assert main.poll() is None and camera.poll() is None
        assert len(listener.mains) == results_at_loss

        detector = spawn("detector", *DETECTOR)
        procs = [main, camera, detector]
        t_restart = time.monotonic()
        _wait_for(lambda: len(listener.mains) >= results_at_loss + 8, 180, "results after the restart", procs)
        _wait_for(
            lambda: "detections': a publisher is back" in logs["main_person"].read_text(),
            30,
            "main_person to log that the detector is back",
            procs,
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = {}
        for proc in procs:
            try:
                codes[proc.args[2]] = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[proc.args[2]] = "hung"
        listener.close()
        cam.stop()
    assert set(codes.values()) == {0}, codes
    for name, log in logs.items():
        assert "Traceback" not in log.read_text(), f"{name}: {log.read_text()[-2000:]}"
    before = [doc for t, doc in listener.mains if t < t_kill]
    after = [doc for t, doc in listener.mains if t > t_restart]
    assert before and len(after) >= 3
    for doc in before + after:
        schema.validate(doc)
    # The camera never restarted: the resumed results continue its frame numbering. Images that overtake
    # their frame_info while the restarted detector's subscriptions are still matching are numbered in
    # arrival order (documented); every matched one continues the camera's numbering, in order.
    last_before = max(d["seq"] for d in before)
    continued = [d["seq"] for d in after if d["seq"] > last_before]
    assert len(continued) >= 3 and continued == sorted(continued), [d["seq"] for d in after]
