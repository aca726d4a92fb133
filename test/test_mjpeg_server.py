"""The MJPEG test camera (ros_detect.media.mjpeg_server): what `serve-mjpeg`, `soak` and the graph tests rely on."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from helpers.mjpeg import BOUNDARY, MjpegServer, free_port
from helpers.wait import wait_until

from ros_detect.errors import ConfigError


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def _stream_ends(resp) -> bool:
    """Read what was in flight; True when the server closed the stream (EOF or reset), False on a timeout."""
    try:
        while resp.read(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_stream_is_read_by_opencv_and_counted() -> None:
    with MjpegServer(fps=20.0, size=(320, 180)) as cam:
        assert cam.url == f"http://127.0.0.1:{cam.port}/stream.mjpg" and cam.port > 0
        cap = cv2.VideoCapture(cam.url)
        try:
            frames = [cap.read() for _ in range(3)]
        finally:
            cap.release()
        assert all(ok for ok, _ in frames)
        assert frames[0][1].shape == (180, 320, 3) and np.asarray(frames[0][1]).std() > 5  # a real picture
        assert wait_until(lambda: cam.frames_sent >= 3, 10) and cam.clients_served >= 1


def test_multipart_framing_and_404_elsewhere() -> None:
    with MjpegServer(fps=10.0) as cam:
        with urllib.request.urlopen(cam.url, timeout=10) as resp:
            assert resp.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
            head = resp.read(200)
        assert head.startswith(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n".encode())
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(cam.url.replace("/stream.mjpg", "/other"), timeout=10)
        assert err.value.code == 404


def test_stop_cuts_open_streams_and_restart_keeps_the_port() -> None:
    cam = MjpegServer(fps=10.0).start()
    try:
        port = cam.port
        resp = urllib.request.urlopen(cam.url, timeout=10)
        resp.read(100)
        cam.stop()  # returns once every stream is closed: no wait for the next frame
        assert _refused(port)
        assert _stream_ends(resp), "an open stream kept going after stop()"
        cam.start()
        assert cam.port == port
        with urllib.request.urlopen(cam.url, timeout=10) as again:
            assert again.read(len(BOUNDARY) + 2) == f"--{BOUNDARY}".encode()
    finally:
        cam.stop()


@pytest.mark.unit
def test_bad_rate_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="fps"):
        MjpegServer(fps=0)


def test_serve_mjpeg_command_serves_the_synthetic_clip() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ros_detect.cli", "serve-mjpeg", "--port", str(port), "--fps", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/stream.mjpg" in first, first
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=10) as resp:
            assert resp.read(len(BOUNDARY) + 2) == f"--{BOUNDARY}".encode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
