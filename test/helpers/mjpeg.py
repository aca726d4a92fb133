"""The MJPEG test camera (ros_detect.media.mjpeg_server) as a pytest fixture.

with MjpegServer(fps=15) as cam:       # or the `mjpeg_server` fixture below
    run(["ros-detect", "launch", "webcam", "--source", cam.url])
    cam.stop(); ...wait for what the outage should cause...; cam.start()   # same URL again
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ros_detect.media.mjpeg_server import BOUNDARY, MjpegServer, free_port

__all__ = ["BOUNDARY", "MjpegServer", "free_port", "mjpeg_server"]


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    """A running MJPEG camera at 15 fps; use `from helpers.mjpeg import mjpeg_server` in a test module."""
    with MjpegServer(fps=15.0) as server:
        yield server
