"""`ros-detect launch video|webcam` end to end: real rclpy nodes, real files, a real MJPEG stream.

Random-init weights (labelled as such in every output) and a small model keep this under a minute;
the graph's plumbing, not detection quality, is under test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.mjpeg import MjpegServer
from helpers.ros import ros_env
from helpers.wait import wait_until

from ros_detect import schema

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

ROS_DETECT = [sys.executable, "-m", "ros_detect.cli"]
FAST = [
    "--weights", "none", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "fp32",
    "--threads", "1", "--proposals", "50", "--score-threshold", "0.01",
    "--no-mqtt", "--no-foxglove",
]  # fmt: skip


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def launched_video(clip_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One graph run (default: one process per node) and one offline `ros-detect video` run on the same clip."""
    out = tmp_path_factory.mktemp("launch-video")
    ref = tmp_path_factory.mktemp("video-ref")
    proc = subprocess.run(
        [*ROS_DETECT, "launch", "video", str(clip_path), "-o", str(out), *FAST],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fast_video = [a for a in FAST if a not in ("--no-mqtt", "--no-foxglove")]
    proc = subprocess.run(
        [*ROS_DETECT, "video", str(clip_path), "-o", str(ref), "--no-progress", *fast_video],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, ref


def test_launch_video_processes_every_frame(launched_video: tuple[Path, Path]) -> None:
    out, _ = launched_video
    summary = json.loads((out / "summary.json").read_text())
    graph = summary["graph"]
    assert graph["processes"] == "multi"
    assert graph["source_stats"]["state"] == "finished"  # the source's final counters, not a stale 1 Hz one
    assert summary["status"] == "complete"
    assert summary["frames_expected"] == 12
    assert graph["frames_published"] == graph["detections_messages"] == graph["main_person_messages"] == 12
    assert graph["frames_dropped"] == 0 and graph["frames_without_image"] == 0
    detections, mains = _lines(out / "detections.jsonl"), _lines(out / "main_person.jsonl")
    assert [d["seq"] for d in detections] == list(range(12))
    assert [m["seq"] for m in mains] == list(range(12))
    for doc in detections + mains:
        schema.validate(doc)
    assert all(m["latency_ms"]["capture_to_main_person"] >= m["latency_ms"]["capture_to_detection"] for m in mains)
    assert summary["weights_trained"] is False and "NOT" in summary["warning"]
    # where the graph's CPU went per result, each node process named (the ended video source included)
    cpu = graph["cpu"]
    assert 1 <= cpu["results"] <= 11 and cpu["cores_busy"] > 0
    assert set(cpu["cpu_ms_per_result"]) >= {"launcher", "video_source", "detector", "main_person"}
    assert all(ms >= 0 for ms in cpu["cpu_ms_per_result"].values()) and cpu["cpu_ms_per_result"]["detector"] > 0


def test_launch_video_writes_the_same_files_as_video(launched_video: tuple[Path, Path]) -> None:
    out, ref = launched_video
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref.iterdir())
    ours, theirs = json.loads((out / "summary.json").read_text()), json.loads((ref / "summary.json").read_text())
    assert set(theirs) <= set(ours), set(theirs) - set(ours)
    assert ours["files"] == theirs["files"]
    import cv2

    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    cap.release()
    # Same model, seed, frames and thread count: the graph must find exactly what the offline job finds.
    for a, b in zip(_lines(out / "detections.jsonl"), _lines(ref / "detections.jsonl"), strict=True):
        assert (a["seq"], a["media_time_s"], a["frame_id"]) == (b["seq"], b["media_time_s"], b["frame_id"])
        assert len(a["detections"]) == len(b["detections"])
        for da, db in zip(a["detections"], b["detections"], strict=True):
            assert da["class_id"] == db["class_id"]
            assert da["score"] == pytest.approx(db["score"], abs=1e-3)
            assert da["box"] == pytest.approx(db["box"], abs=0.5)


def test_launch_video_one_process(clip_path: Path, tmp_path: Path) -> None:
    """Every node in the launcher's process, in a namespace: same counts, frames none dropped."""
    proc = subprocess.run(
        [
            *ROS_DETECT,
            "launch",
            "video",
            str(clip_path),
            "-o",
            str(tmp_path),
            "--stop-frame",
            "5",
            "--processes",
            "one",
            "--namespace",
            "cam_a",
            "--no-video",
            *FAST,
        ],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    graph = summary["graph"]
    assert graph["processes"] == "one" and graph["namespace"] == "cam_a"
    assert graph["cpu"] is None or set(graph["cpu"]["cpu_ms_per_result"]) == {"launcher"}  # one process: all in it
    assert graph["frames_published"] == graph["detections_messages"] == graph["main_person_messages"] == 5
    assert [m["seq"] for m in _lines(tmp_path / "main_person.jsonl")] == list(range(5))
    assert "/cam_a/video_source" in proc.stderr


def test_launch_video_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*ROS_DETECT, "launch", "video", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o"), *FAST],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


class Output:
    """A process' merged stdout/stderr, read on a thread so a test can wait on what it says."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        self._thread.start()

    def text(self) -> str:
        return "".join(self.lines)

    def finish(self) -> str:
        self._thread.join(timeout=30)
        return self.text()


def test_launch_webcam_survives_stream_restart(tmp_path: Path) -> None:
    """Stream stops mid-run and comes back: the graph reconnects, keeps going, stops cleanly on SIGINT, and
    records a main_person result for every detection, the last one in flight at the stop included."""
    # 5 fps: the camera reader keeps up even on a loaded 2-core machine (a reader that lags drains old frames
    # buffered in the socket first, and would only notice the cut late)
    cam = MjpegServer(fps=5.0).start()
    proc = subprocess.Popen(
        [
            *ROS_DETECT, "launch", "webcam", "--source", cam.url, "-o", str(tmp_path), *FAST,
            "-p", "camera_source.reconnect_initial_s=0.2", "-p", "camera_source.reconnect_max_s=1.0",
        ],
        env=ros_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    out = Output(proc)
    mains = tmp_path / "main_person.jsonl"
    try:
        assert wait_until(lambda: len(_lines(mains)) >= 3, 120), out.text()[-3000:]
        cam.stop()
        assert wait_until(lambda: "stopped delivering frames; reconnecting" in out.text(), 60), out.text()[-3000:]
        cam.start()
        assert wait_until(lambda: cam.clients_served >= 2, 60), "camera_source did not reconnect"
        t_back = time.time_ns()
        assert wait_until(lambda: any(_stamp(d) > t_back for d in _lines(mains)), 60), "no results after it"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        cam.stop()
    output = out.finish()
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    docs = _lines(mains)
    for doc in docs:
        schema.validate(doc)
    stamps = [_stamp(doc) for doc in docs]
    assert stamps == sorted(stamps)
    summary = json.loads((tmp_path / "summary.json").read_text())
    counters = summary["graph"]["source_stats"]["counters"]
    assert counters["connects"] >= 2 and counters["disconnects"] >= 1, (counters, output[-3000:])
    assert summary["graph"]["detections_messages"] == summary["graph"]["main_person_messages"] == len(docs)
    assert [d["seq"] for d in _lines(tmp_path / "detections.jsonl")] == [d["seq"] for d in docs]


@pytest.mark.parametrize("processes", ["multi", "one"])
def test_a_failing_node_ends_the_graph_with_its_error(processes: str, clip_path: Path, tmp_path: Path) -> None:
    """A node that dies on a bad parameter does not leave the rest of the graph running: the launcher stops
    every node and exits 2 with that node's error (a summary marked `error` is still written)."""
    proc = subprocess.run(
        [
            *ROS_DETECT, "launch", "video", str(clip_path), "-o", str(tmp_path), "--processes", processes,
            "-p", "video_source.max_in_flight=0", *FAST,
        ],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "'max_in_flight'" in output and "out of range" in output  # the node's own error
    if processes == "multi":
        assert "error: node video_source failed with exit code 2" in proc.stderr
    assert "Traceback" not in output
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "error"


def _stamp(doc: dict) -> int:
    return doc["stamp"]["sec"] * 10**9 + doc["stamp"]["nanosec"]
