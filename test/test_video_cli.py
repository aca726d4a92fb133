"""End-to-end `ros-detect video` runs on generated clips, and its bad-input behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from helpers.wait import count_lines, wait_until

from ros_detect import schema
from ros_detect.detection.weights import RANDOM_INIT_LABEL

# Each test runs a real job: about a minute on an idle 2-core machine, many times that at load 20. The
# limits below are safety nets for a job that hangs; a passing test ends when its job does.
pytestmark = pytest.mark.timeout(1800)
CLI = [sys.executable, "-m", "ros_detect.cli"]
FAST = ["--weights", "none", "--precision", "fp32", "--proposals", "100", "--threads", "2", "--no-progress"]


def run_cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def video_run(clip_path: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("video_out")
    proc = run_cli("video", str(clip_path), "-o", str(out), *FAST)
    return proc, out


def test_every_frame_gives_one_line(video_run):
    proc, out = video_run
    assert proc.returncode == 0, proc.stderr
    main_lines = (out / "main_person.jsonl").read_text().splitlines()
    det_lines = (out / "detections.jsonl").read_text().splitlines()
    assert len(main_lines) == len(det_lines) == 12
    for i, (m, d) in enumerate(zip(main_lines, det_lines, strict=True)):
        mdoc, ddoc = json.loads(m), json.loads(d)
        schema.validate(mdoc)
        schema.validate(ddoc)
        assert mdoc["seq"] == ddoc["seq"] == i
        assert mdoc["stamp"] == ddoc["stamp"]
        assert mdoc["weights"] == ddoc["weights"] == RANDOM_INIT_LABEL  # every document says it is untrained


def test_annotated_video_is_427x240_with_all_frames(video_run):
    _, out = video_run
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    try:
        assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (427, 240)
        ok, first = cap.read()
        count = 1 if ok else 0
        while cap.read()[0]:
            count += 1
    finally:
        cap.release()
    assert count == 12
    # The untrained-weights banner is painted on every frame (white strip at the top).
    assert first[2:14, :200].mean() > 150


def test_summary_labels_untrained_weights(video_run):
    proc, out = video_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["frames_processed"] == summary["frames_expected"] == 12
    assert summary["weights_trained"] is False and "NOT" in summary["weights"]
    assert "NOT real" in summary["warning"]
    assert summary["latency_ms"]["inference"]["p50"] > 0 and summary["latency_ms"]["inference"]["p90"] > 0
    assert summary["output_size"] == [427, 240] and summary["fps"] > 0
    assert "WARNING" in proc.stdout and "NOT" in proc.stdout
    assert "random-init" in proc.stderr.lower() or "random-initialised" in proc.stderr.lower()


def test_missing_input_is_one_clear_line(tmp_path):
    proc = run_cli("video", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o"), *FAST)
    assert proc.returncode == 2
    assert "error: input video" in proc.stderr and "does not exist" in proc.stderr and "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_a_video(tmp_path):
    bogus = tmp_path / "x.mp4"
    bogus.write_bytes(os.urandom(4096))
    proc = run_cli("video", str(bogus), "-o", str(tmp_path / "o"), *FAST)
    assert proc.returncode == 2 and "cannot decode" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_output_dir(clip_path, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("video", str(clip_path), "-o", str(blocker / "sub"), *FAST)
    assert proc.returncode == 2 and "not writable" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "option, match", [(["--model", "yolo"], "unknown model"), (["--precision", "int3"], "unknown precision")]
)
def test_unknown_model_or_precision(clip_path, tmp_path, option, match):
    proc = run_cli("video", str(clip_path), "-o", str(tmp_path / "o"), *FAST, *option)
    assert proc.returncode == 2 and match in proc.stderr and "choose one of" in proc.stderr


def test_truncated_video_keeps_processed_frames(tmp_path):
    # An AVI (MJPG) cut in half keeps its full frame count in the header, so the cut is detectable.
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 360))
    from ros_detect.media.synthetic import render_frame

    for i in range(20):
        writer.write(render_frame(i))
    writer.release()
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o"
    proc = run_cli("video", str(cut), "-o", str(out), *FAST, "--no-video")
    lines = (out / "main_person.jsonl").read_text().splitlines() if (out / "main_person.jsonl").exists() else []
    summary = json.loads((out / "summary.json").read_text())
    assert proc.returncode == 2, proc.stderr
    assert "truncated or corrupt" in proc.stderr
    assert 0 < len(lines) < 20 and summary["frames_processed"] == len(lines) and summary["truncated"] is True


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_keeps_results(tmp_path, sig):
    import signal

    from ros_detect.media.synthetic import generate_clip

    clip = generate_clip(tmp_path / "long.mp4", frames=300, fps=25.0)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [*CLI, "video", str(clip), "-o", str(out), *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines_file = out / "main_person.jsonl"
    assert wait_until(lambda: proc.poll() is not None or count_lines(lines_file) >= 2, 300), "no results yet"
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    summary = json.loads((out / "summary.json").read_text())
    lines = lines_file.read_text().splitlines()
    assert summary["status"] == "interrupted" and 2 <= summary["frames_processed"] == len(lines) < 300
    assert all(json.loads(line)["seq"] == i for i, line in enumerate(lines))


def test_stream_that_never_answers_fails_fast(tmp_path):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/stream.mjpg"
        proc = run_cli("video", url, "-o", str(tmp_path / "o"), *FAST, timeout=600)
    finally:
        server.close()
    assert proc.returncode == 2 and "cannot open stream" in proc.stderr and "Traceback" not in proc.stderr


def test_stream_stopping_mid_run_keeps_frames_and_fails(tmp_path):
    from helpers.mjpeg import MjpegServer

    out = tmp_path / "o"
    with MjpegServer(fps=10) as cam:
        proc = subprocess.Popen(
            [*CLI, "video", cam.url, "-o", str(out), *FAST, "--no-video"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Every frame of a live stream is processed in this job, so cut the camera after a few frames:
        # frames already in the socket buffer are still processed, then the job must end.
        wait_until(lambda: cam.frames_sent >= 8 or proc.poll() is not None, 300)
    try:
        _, stderr = proc.communicate(timeout=1200)
    finally:
        proc.kill()
    lines = (out / "main_person.jsonl").read_text().splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert proc.returncode == 2 and "stopped after" in stderr and "Traceback" not in stderr
    assert summary["status"] == "stream-ended" and summary["frames_processed"] == len(lines) >= 1


def test_default_precision_comes_from_the_shipped_config(clip_path, tmp_path):
    """With no --precision/--proposals the job runs the deployed scheme of config/video.yaml end to end."""
    from ros_detect.commands.common import deployed_detector_defaults

    defaults = deployed_detector_defaults()
    out = tmp_path / "o"
    proc = run_cli(
        "video", str(clip_path), "-o", str(out), "--weights", "none", "--stop-frame", "3", "--no-progress", timeout=1200
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["precision"] == defaults["precision"] == "openvino-int8"
    assert summary["proposals"] == defaults["proposals"] == 300
    assert summary["frames_processed"] == 3
    for line in (out / "detections.jsonl").read_text().splitlines():
        doc = json.loads(line)
        schema.validate(doc)
        assert doc["precision"] == "openvino-int8"
