"""A small IoU tracker with constant-velocity prediction (numpy only, so nodes need no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (Nx4) and b (Mx4), x1y1x2y2."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def box_iou(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    return float(iou_matrix(np.asarray([a], float), np.asarray([b], float))[0, 0])


@dataclass
class Track:
    id: int
    box: np.ndarray
    score: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0  # consecutive frames without a matching detection

    @property
    def visible(self) -> bool:
        return self.misses == 0

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity


class IoUTracker:
    """Greedy IoU association against each track's predicted box; tracks coast while missing."""

    def __init__(self, iou_threshold: float = 0.3, max_misses: int = 15, velocity_smoothing: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_misses = max_misses
        self.velocity_smoothing = velocity_smoothing
        self.tracks: dict[int, Track] = {}
        self._next_id = 0

    def reset(self) -> None:
        self.tracks.clear()

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> dict[int, Track]:
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        ids = list(self.tracks)
        predicted = np.array([self.tracks[i].predicted() for i in ids]).reshape(-1, 4)
        ious = iou_matrix(predicted, boxes)
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        for flat in np.argsort(-ious, axis=None):
            ti, di = np.unravel_index(flat, ious.shape)
            if ious[ti, di] < self.iou_threshold:
                break
            if ti in matched_tracks or di in matched_dets:
                continue
            matched_tracks.add(ti)
            matched_dets.add(di)
            track = self.tracks[ids[ti]]
            k = self.velocity_smoothing
            track.velocity = k * track.velocity + (1 - k) * (boxes[di] - track.box) / (track.misses + 1)
            track.box = boxes[di].copy()
            track.score = float(scores[di])
            track.hits += 1
            track.misses = 0
        for ti, tid in enumerate(ids):
            if ti in matched_tracks:
                continue
            track = self.tracks[tid]
            track.misses += 1
            if track.misses > self.max_misses:
                del self.tracks[tid]
            else:
                track.box = track.predicted()  # coast on the last velocity
        for di in range(len(boxes)):
            if di not in matched_dets:
                self.tracks[self._next_id] = Track(self._next_id, boxes[di].copy(), float(scores[di]))
                self._next_id += 1
        return self.tracks
