"""Frame sources (video file, camera index/device, stream URL) resized once to the output size.

Aspect handling is explicit: `pad` (default) letterboxes into 427x240 without distortion,
`crop` fills the frame and cuts the excess centrally, `stretch` resizes to exactly 427x240.
A 16:9 input (the common case: 1280x720, 1920x1080) needs none of them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ros_detect.errors import ConfigError, InputError
from ros_detect.frame import OUTPUT_SIZE

log = logging.getLogger(__name__)

ASPECT_MODES = ("pad", "crop", "stretch")


@dataclass
class Frame:
    seq: int  # index of the frame in the source, from 0 (counts undecodable frames too)
    stamp_ns: int  # capture time: wall clock when the frame was read (drives latency figures)
    image: np.ndarray  # HxWx3 uint8 BGR at the output size
    decode_ms: float  # read + decode + resize (live sources: decode + resize, not the wait for the frame)
    media_time_s: float | None = None  # position in a file; None for live sources


def resize_to_output(image: np.ndarray, size: tuple[int, int] = OUTPUT_SIZE, aspect: str = "pad") -> np.ndarray:
    """Resize a BGR image to `size` (w, h); INTER_AREA when shrinking, INTER_LINEAR when growing."""
    out_w, out_h = size
    h, w = image.shape[:2]
    if (w, h) == (out_w, out_h):
        return image
    if aspect not in ASPECT_MODES:
        raise ConfigError(f"unknown aspect mode {aspect!r}", f"choose one of: {', '.join(ASPECT_MODES)}")

    def _resize(img: np.ndarray, tw: int, th: int) -> np.ndarray:
        interp = cv2.INTER_AREA if tw < img.shape[1] or th < img.shape[0] else cv2.INTER_LINEAR
        return cv2.resize(img, (tw, th), interpolation=interp)

    if aspect == "stretch":
        return _resize(image, out_w, out_h)
    scale = (min if aspect == "pad" else max)(out_w / w, out_h / h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    resized = _resize(image, tw, th)
    if aspect == "crop":
        x0, y0 = (tw - out_w) // 2, (th - out_h) // 2
        return np.ascontiguousarray(resized[y0 : y0 + out_h, x0 : x0 + out_w])
    canvas = np.zeros((out_h, out_w, 3), np.uint8)
    x0, y0 = (out_w - tw) // 2, (out_h - th) // 2
    canvas[y0 : y0 + th, x0 : x0 + tw] = resized
    return canvas


def is_stream_url(spec: str) -> bool:
    return "://" in spec


def parse_camera(spec: str) -> int | str | None:
    """A camera index ("0") or device path ("/dev/video0"); None if `spec` is neither."""
    if spec.isdigit():
        return int(spec)
    if spec.startswith("/dev/"):
        return spec
    return None


def source_id(spec: str, namespace: str = "") -> str:
    """A short, topic-safe id for a source (used as frame_id and MQTT topic level): the graph's ROS namespace
    when it has one (cameras in /cam1 and /cam2 never share MQTT topics, even on the same input kind), else
    derived from the input."""
    if namespace.strip("/"):
        return _topic_safe(namespace.strip("/"))
    camera = parse_camera(spec)
    if camera is not None:
        return f"camera{camera}" if isinstance(camera, int) else Path(camera).name
    base = Path(spec.split("?")[0].rstrip("/")).stem if not is_stream_url(spec) else spec.split("://", 1)[1]
    return _topic_safe(base)


def _topic_safe(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")
    return safe[:64] or "source"


class VideoSource:
    """Reads every frame of a file (or stream) in order; counts frames that fail to decode."""

    def __init__(
        self,
        spec: str,
        size: tuple[int, int] = OUTPUT_SIZE,
        aspect: str = "pad",
        start_frame: int = 0,
        stop_frame: int | None = None,
        open_timeout_s: float = 10.0,
        max_consecutive_failures: int = 25,
    ) -> None:
        if aspect not in ASPECT_MODES:
            raise ConfigError(f"unknown aspect mode {aspect!r}", f"choose one of: {', '.join(ASPECT_MODES)}")
        if start_frame < 0 or (stop_frame is not None and stop_frame <= start_frame):
            raise ConfigError(
                f"bad frame range start={start_frame} stop={stop_frame}", "use 0 <= start < stop (or no stop)"
            )
        self.spec = spec
        self.size = size
        self.aspect = aspect
        self.start_frame = start_frame
        self.stop_frame = stop_frame
        self.max_consecutive_failures = max_consecutive_failures
        self.failed_frames = 0
        self.trailing_failures = 0  # failures not followed by any good frame: a cut-off file
        self.cap = self._open(spec, open_timeout_s)
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not (0 < self.fps < 1000):
            self.fps = 30.0
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # A camera, or a URL without a frame count (MJPEG, RTSP), is live; a file served over HTTP is not.
        self.is_live = parse_camera(spec) is not None or (is_stream_url(spec) and count <= 0)
        self.frame_count = count if count > 0 and not self.is_live else None
        if start_frame and not self.is_live:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, start_frame)
        self.source_size = (
            int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )

    @property
    def expected_frames(self) -> int | None:
        if self.frame_count is None:
            return None
        stop = min(self.stop_frame, self.frame_count) if self.stop_frame is not None else self.frame_count
        return max(0, stop - self.start_frame)

    def _open(self, spec: str, timeout_s: float) -> cv2.VideoCapture:
        camera = parse_camera(spec)
        if camera is None and not is_stream_url(spec):
            path = Path(spec)
            if not path.exists():
                raise InputError(
                    f"input video {spec} does not exist", "check the path (or pass a camera index / stream URL)"
                )
            if not path.is_file() or not os.access(path, os.R_OK):
                raise InputError(f"input {spec} is not a readable file", "pass a readable video file")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(timeout_s * 1000),
        ]
        if camera is None:  # FFmpeg: one decoding thread; frames come one at a time beside the detector's threads
            params += [cv2.CAP_PROP_N_THREADS, 1]
        cap = cv2.VideoCapture(camera if camera is not None else spec, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            if camera is not None:
                raise InputError(f"cannot open camera {spec}", "check it is plugged in and not used by another program")
            if is_stream_url(spec):
                raise InputError(f"cannot open stream {spec}", "check the URL and that the server is running")
            raise InputError(
                f"cannot decode {spec} as a video", "pass a video file OpenCV/FFmpeg can read (mp4, avi, mkv ...)"
            )
        return cap

    def __iter__(self) -> Iterator[Frame]:
        seq = self.start_frame
        consecutive_failures = 0
        while self.stop_frame is None or seq < self.stop_frame:
            t0 = time.perf_counter()
            ok = self.cap.grab()  # read() = grab() + retrieve(); a live source blocks here until a frame arrives
            stamp_ns = time.time_ns()  # capture time: the frame is here, decoding it is part of the latency
            if self.is_live:
                t0 = time.perf_counter()  # decode_ms: decoding, not the wait for the camera's next frame
            ok, image = self.cap.retrieve() if ok else (False, None)
            if not ok or image is None:
                # Past the known end, or a live source that stopped: end of input.
                if self.frame_count is None or seq >= self.frame_count:
                    break
                # Mid-file decode failure: skip it, keep numbering honest, give up on a run of them.
                self.failed_frames += 1
                consecutive_failures += 1
                log.warning("frame %d of %s failed to decode; skipping it", seq, self.spec)
                if consecutive_failures >= self.max_consecutive_failures:
                    log.error("%d consecutive frames failed to decode; stopping", consecutive_failures)
                    break
                seq += 1
                self.trailing_failures = consecutive_failures
                continue
            consecutive_failures = self.trailing_failures = 0
            media_time_s = None if self.is_live else round(seq / self.fps, 4)
            frame = resize_to_output(image, self.size, self.aspect)
            yield Frame(seq, stamp_ns, frame, (time.perf_counter() - t0) * 1e3, media_time_s)
            seq += 1

    def close(self) -> None:
        self.cap.release()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
