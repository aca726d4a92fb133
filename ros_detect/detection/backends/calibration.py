"""Calibration frames from the input domain, and a stable identity for them (part of cache keys).

Static quantisation observes activation ranges on real frames; frames unlike the deployment
input (e.g. random noise) give ranges that clip or waste int8 levels.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.errors import ConfigError
from ros_detect.frame import OUTPUT_HEIGHT, OUTPUT_WIDTH
from ros_detect.media.sources import VideoSource, resize_to_output
from ros_detect.media.synthetic import render_frame
from ros_detect.paths import cache_dir

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_FRAMES = 16


def frames_from_video(path: str | Path, count: int, stride: int = 0, aspect: str = "pad") -> list[np.ndarray]:
    """Up to `count` BGR frames at 427x240, spread over the video (every `stride`-th; 0 = auto)."""
    frames: list[np.ndarray] = []
    with VideoSource(str(path), aspect=aspect) as source:
        total = source.expected_frames or count
        step = stride or max(1, total // max(1, count))
        for frame in source:
            if frame.seq % step == 0:
                frames.append(frame.image)
                if len(frames) >= count:
                    break
    return frames


def synthetic_frames(count: int, start: int = 0) -> list[np.ndarray]:
    return [resize_to_output(render_frame(start + 7 * i)) for i in range(count)]


def calibration_frames(source: str | Path | None = None, count: int = DEFAULT_CALIBRATION_FRAMES) -> list[np.ndarray]:
    """Frames from `source` (a video), else the cached seed clip, else the synthetic street clip."""
    candidates = [Path(source)] if source else [cache_dir() / "london-walk.mp4"]
    for path in candidates:
        if path.is_file():
            try:
                frames = frames_from_video(path, count)
                if frames:
                    return frames
            except Exception as exc:  # a broken calibration video must not stop the detector from starting
                log.warning("cannot take calibration frames from %s (%s); using synthetic frames", path, exc)
    return synthetic_frames(count)


def frames_identity(frames: list[np.ndarray]) -> str:
    """Content hash of the calibration set: a different set means a different cached model."""
    digest = hashlib.sha1(f"{len(frames)}".encode())
    for frame in frames:
        digest.update(str(frame.shape).encode())
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()[:12]


def check_frame_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Calibration must see the deployment size: resize anything else to 427x240."""
    return [f if f.shape[:2] == (OUTPUT_HEIGHT, OUTPUT_WIDTH) else resize_to_output(f) for f in frames]


def calibration_set(ctx: Any) -> tuple[list[np.ndarray], str]:
    """A BuildContext's calibration frames (its provider, else the default set) at 427x240, and their identity."""
    if ctx.calibration_frames is not None:
        frames = list(ctx.calibration_frames())
    else:
        frames = calibration_frames(None, ctx.calibration_count or DEFAULT_CALIBRATION_FRAMES)
    frames = check_frame_size(frames)
    if not frames:
        raise ConfigError("no calibration frames", "pass a readable calibration video or leave the default")
    return frames, frames_identity(frames)
