"""A deterministic synthetic street clip: the offline default input and test data.

Figures are drawn person-like (head, torso, legs) so a pretrained detector has something to
find; with random-initialised weights the content does not matter, only the frame count.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ros_detect.errors import OutputError


def _figure(
    img: np.ndarray, cx: float, foot_y: float, height: float, color: tuple[int, int, int], phase: float
) -> None:
    h = height
    head_r = max(2, int(h * 0.08))
    head_c = (int(cx), int(foot_y - h + head_r))
    torso_top, torso_bot = foot_y - h + 2 * head_r, foot_y - h * 0.45
    half_w = max(2, int(h * 0.12))
    cv2.circle(img, head_c, head_r, (60, 80, 120), -1, cv2.LINE_AA)
    cv2.rectangle(img, (int(cx - half_w), int(torso_top)), (int(cx + half_w), int(torso_bot)), color, -1)
    swing = np.sin(phase) * h * 0.12
    for sign in (-1, 1):
        cv2.line(
            img,
            (int(cx + sign * half_w * 0.5), int(torso_bot)),
            (int(cx + sign * swing), int(foot_y)),
            (40, 40, 40),
            max(2, int(h * 0.07)),
            cv2.LINE_AA,
        )
        cv2.line(
            img,
            (int(cx + sign * half_w), int(torso_top + 4)),
            (int(cx + sign * (half_w + swing * 0.6)), int(torso_bot)),
            color,
            max(2, int(h * 0.05)),
            cv2.LINE_AA,
        )


# (x at frame 0 as a fraction of width, speed px/frame, foot y fraction, height fraction, colour)
WALKERS = [
    (0.50, 0.0, 0.95, 0.70, (40, 40, 180)),  # the main person: big, central, walking in place
    (-0.1, 2.2, 0.80, 0.35, (160, 90, 30)),
    (1.1, -1.6, 0.75, 0.25, (30, 140, 60)),
]


def _walker_positions(index: int, size: tuple[int, int], seed: int) -> list[tuple[float, float, float]]:
    """(centre x, foot y, height) in pixels of each walker at frame `index`."""
    w, h = size
    rng = np.random.default_rng(seed)
    positions = []
    for k, (x0, speed, foot, height, _) in enumerate(WALKERS):
        jitter = rng.normal(0, 0.003)
        cx = (x0 + jitter) * w + speed * index + (np.sin(index / 15 + k) * w * 0.03 if speed == 0 else 0)
        cx = (cx + w * 0.2) % (w * 1.4) - w * 0.2
        positions.append((float(cx), foot * h, height * h))
    return positions


def ground_truth_boxes(index: int, size: tuple[int, int] = (640, 360), seed: int = 0) -> list[tuple[float, ...]]:
    """Person boxes [x1, y1, x2, y2] of frame `index` (clipped to the frame; off-screen walkers omitted)."""
    w, h = size
    boxes = []
    for cx, foot_y, height in _walker_positions(index, size, seed):
        x1, x2 = max(0.0, cx - 0.22 * height), min(float(w), cx + 0.22 * height)
        y1, y2 = max(0.0, foot_y - height), min(float(h), foot_y)
        if x2 - x1 > 2 and y2 - y1 > 2:
            boxes.append((x1, y1, x2, y2))
    return boxes


def render_frame(index: int, size: tuple[int, int] = (640, 360), seed: int = 0) -> np.ndarray:
    """Frame `index` of the synthetic clip (BGR)."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    sky = np.linspace(200, 140, h // 2, dtype=np.uint8)
    img[: h // 2] = np.stack([sky, sky - 10, sky - 40], axis=1)[:, None, :]
    img[h // 2 :] = (90, 95, 100)
    for x in range(-w, w, 80):  # facade blocks scrolling slowly
        x0 = (x + index) % (2 * w) - w // 2
        cv2.rectangle(img, (x0, h // 6), (x0 + 60, h // 2), (110, 120, 140), -1)
    for k, ((cx, foot_y, height), walker) in enumerate(zip(_walker_positions(index, size, seed), WALKERS, strict=True)):
        _figure(img, cx, foot_y, height, walker[4], index / 3 + k)
    return img


def generate_clip(
    path: Path | str, frames: int = 120, fps: float = 24.0, size: tuple[int, int] = (640, 360), seed: int = 0
) -> Path:
    """Write the synthetic clip as MP4 (mp4v) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OutputError(f"cannot write video {path}", "check the directory is writable and OpenCV has an MP4 encoder")
    try:
        for i in range(frames):
            writer.write(render_frame(i, size, seed))
    finally:
        writer.release()
    tmp.replace(path)  # atomic: a half-written clip is never mistaken for a finished one
    return path
