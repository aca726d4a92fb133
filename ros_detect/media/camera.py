"""A live camera (index, /dev/videoN, stream URL) that reconnects with exponential backoff.

Shared by the camera_source node and the ROS-free live pipeline (`ros-detect webcam`): `frames()` yields
every frame as it arrives, numbered across reconnections; when the device or stream disappears it
reopens it, waiting reconnect_initial_s, doubling up to reconnect_max_s, until `stopping()` says stop.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ros_detect.errors import ConfigError, RosDetectError
from ros_detect.media.sources import ASPECT_MODES, OUTPUT_SIZE, Frame, VideoSource, source_id

OPEN_FAILURE_LOG_EVERY_S = 10.0  # a camera that stays away is reported this often, not on every retry


class Logger(Protocol):  # logging.Logger and rclpy's node logger both fit
    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...


@dataclass(frozen=True)
class CameraConfig:
    """The camera_source parameters (config/webcam.yaml section `camera_source`)."""

    input: str = "0"
    source_id: str = ""  # "" = derived from the input
    aspect: str = "pad"
    max_fps: float = 0.0  # 0 = as the camera delivers
    open_timeout_s: float = 5.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 5.0

    def check(self) -> CameraConfig:
        """Raise ConfigError naming the parameter and a valid value."""
        rules = {
            "max_fps": (self.max_fps >= 0, "0 (as the camera delivers) or a positive rate"),
            "open_timeout_s": (self.open_timeout_s > 0, "a positive number of seconds, e.g. 5.0"),
            "reconnect_initial_s": (self.reconnect_initial_s > 0, "a positive number of seconds, e.g. 0.5"),
            "reconnect_max_s": (self.reconnect_max_s >= self.reconnect_initial_s, "at least reconnect_initial_s"),
        }
        for name, (ok, expected) in rules.items():
            if not ok:
                raise ConfigError(
                    f"camera_source: parameter '{name}' = {getattr(self, name)!r} is out of range",
                    f"set '{name}' to {expected}",
                )
        if self.aspect not in ASPECT_MODES:
            raise ConfigError(f"unknown aspect mode {self.aspect!r}", f"choose one of: {', '.join(ASPECT_MODES)}")
        if not str(self.input):
            raise ConfigError("no camera input", "pass a camera index (0), a device (/dev/video0) or a stream URL")
        return self

    @property
    def effective_source_id(self) -> str:
        return self.source_id or source_id(str(self.input))


class ReconnectingCamera:
    """Reads a live source frame by frame and reopens it when it goes away; counts what happened."""

    def __init__(self, config: CameraConfig, log: Logger | None = None) -> None:
        self.config = config.check()
        self.log: Logger = log or logging.getLogger(__name__)
        self.source_id = config.effective_source_id
        self.state = "starting"  # starting | running | reconnecting | finished (stats@1 states)
        self.seq = 0  # frames yielded, across reconnections
        self.connects = 0
        self.disconnects = 0
        self.open_failures = 0
        self.skipped = 0  # thinned out by max_fps
        self.source_size = (0, 0)  # of the last connection, before resizing
        self.fps = 0.0  # as the source reports it (0 = not known yet)
        self._source: VideoSource | None = None
        self._last_open_warning = float("-inf")

    def open(self) -> VideoSource:
        """One attempt to open the source (raises the InputError that says why it failed)."""
        c = self.config
        return VideoSource(str(c.input), OUTPUT_SIZE, c.aspect, open_timeout_s=c.open_timeout_s)

    def frames(self, stopping: Callable[[], bool], wait: Callable[[float], Any] = time.sleep) -> Iterator[Frame]:
        """Every frame until `stopping()`; `wait(seconds)` sleeps between retries (an Event's wait ends early)."""
        c = self.config
        delay = c.reconnect_initial_s
        min_period = 1.0 / c.max_fps if c.max_fps > 0 else 0.0
        while not stopping():
            try:
                self._source = self.open()
            except RosDetectError as exc:
                self.open_failures += 1
                self.state = "reconnecting"
                now = time.monotonic()
                if now - self._last_open_warning >= OPEN_FAILURE_LOG_EVERY_S:
                    self._last_open_warning = now
                    self.log.warning(f"{exc.problem}; retrying in {delay:.1f} s")
                wait(delay)
                delay = min(delay * 2, c.reconnect_max_s)
                continue
            self.connects += 1
            self.source_size, self.fps = self._source.source_size, self._source.fps
            self.log.info(f"reading {c.input} (connection {self.connects})")
            delay = c.reconnect_initial_s
            self.state = "running"
            last = 0.0
            try:
                for frame in self._source:
                    if stopping():
                        break
                    if min_period and time.monotonic() - last < min_period:
                        self.skipped += 1
                        continue
                    last = time.monotonic()
                    yield dataclasses.replace(frame, seq=self.seq)
                    self.seq += 1
            finally:
                self._source.close()
                self._source = None
            if not stopping():
                self.disconnects += 1
                self.state = "reconnecting"
                self.log.warning(f"{c.input} stopped delivering frames; reconnecting")
                wait(delay)
        self.state = "finished"

    def counters(self) -> dict[str, int]:
        """The camera_source node's stats counters."""
        return {
            "published": self.seq,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "open_failures": self.open_failures,
            "skipped_max_fps": self.skipped,
        }
