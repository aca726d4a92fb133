"""Choosing one main person per frame, with stickiness, a hold window and box smoothing.

Merit of a visible person track (all terms in [0, 1]):
    merit = w_size * sqrt(area / frame_area) + w_center * (1 - distance_to_centre / half_diagonal)
            + w_confidence * score
The current main person keeps the role until a challenger's merit beats it by `switch_margin`
for `switch_frames` consecutive frames. A main person missed by the detector is *held* (last
box, `held: true`) for `hold_frames`, reported absent after that, and forgotten once its track
has been missing `dropout_frames`; then the best visible person takes over.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ros_detect.errors import ConfigError
from ros_detect.schema import PERSON_CLASS_ID, Detection
from ros_detect.selection.tracking import IoUTracker, Track


@dataclass(frozen=True)
class MainPersonConfig:
    min_score: float = 0.5  # person detections below this are ignored
    min_area_fraction: float = 0.001  # ignore tiny people (fraction of the frame area)
    weight_size: float = 0.6
    weight_center: float = 0.2
    weight_confidence: float = 0.2
    iou_threshold: float = 0.3  # association of detections to tracks
    switch_margin: float = 0.1  # a challenger must beat the main person's merit by this much ...
    switch_frames: int = 5  # ... for this many consecutive frames
    hold_frames: int = 5  # report the last box (held) for this many missed frames
    dropout_frames: int = 15  # forget the main person after this many missed frames
    smoothing: float = 0.3  # fraction of the previous output box kept (0 = no smoothing)

    def validate(self) -> MainPersonConfig:
        checks = {
            "min_score": 0 <= self.min_score <= 1,
            "min_area_fraction": 0 <= self.min_area_fraction < 1,
            "weight_size": self.weight_size >= 0,
            "weight_center": self.weight_center >= 0,
            "weight_confidence": self.weight_confidence >= 0,
            "iou_threshold": 0 < self.iou_threshold <= 1,
            "switch_margin": self.switch_margin >= 0,
            "switch_frames": self.switch_frames >= 1,
            "hold_frames": self.hold_frames >= 0,
            "dropout_frames": self.dropout_frames >= self.hold_frames,
            "smoothing": 0 <= self.smoothing < 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(
                    f"main-person parameter {name}={getattr(self, name)!r} is out of range",
                    f"see the defaults: {name}={getattr(MainPersonConfig(), name)!r}",
                )
        return self

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class MainPersonResult:
    box: list[float] | None
    score: float | None
    track_id: int | None
    held: bool

    @property
    def present(self) -> bool:
        return self.box is not None


class MainPersonSelector:
    def __init__(self, config: MainPersonConfig | None = None) -> None:
        self.config = (config or MainPersonConfig()).validate()
        self.tracker = IoUTracker(self.config.iou_threshold, max_misses=self.config.dropout_frames)
        self.main_id: int | None = None
        self._challenger_id: int | None = None
        self._challenger_count = 0
        self._smoothed: np.ndarray | None = None

    def reset(self) -> None:
        self.tracker.reset()
        self.main_id = None
        self._challenger_id = None
        self._challenger_count = 0
        self._smoothed = None

    def merit(self, track: Track, image_size: tuple[int, int]) -> float:
        c = self.config
        w, h = image_size
        x1, y1, x2, y2 = track.box
        area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
        size = math.sqrt(min(1.0, area / (w * h)))
        dist = math.hypot((x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2)
        center = max(0.0, 1.0 - dist / (0.5 * math.hypot(w, h)))
        return c.weight_size * size + c.weight_center * center + c.weight_confidence * track.score

    def update(self, detections: list[Detection], image_size: tuple[int, int]) -> MainPersonResult:
        c = self.config
        w, h = image_size
        people = [
            d
            for d in detections
            if d.class_id == PERSON_CLASS_ID
            and d.score >= c.min_score
            and (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) >= c.min_area_fraction * w * h
        ]
        tracks = self.tracker.update(
            np.array([d.box for d in people], float).reshape(-1, 4), np.array([d.score for d in people], float)
        )
        merits = {tid: self.merit(t, image_size) for tid, t in tracks.items() if t.visible}
        if self.main_id not in tracks:
            self.main_id = None
        main = tracks.get(self.main_id) if self.main_id is not None else None

        if main is None or (not main.visible and main.misses > c.hold_frames and merits):
            # No main person, or it is gone past the hold window while someone else is visible.
            self._set_main(max(merits, key=merits.get) if merits else None)
        elif main.visible:
            challengers = {tid: m for tid, m in merits.items() if tid != self.main_id}
            best = max(challengers, key=challengers.get) if challengers else None
            if best is not None and challengers[best] > merits[self.main_id] + c.switch_margin:
                self._challenger_count = self._challenger_count + 1 if best == self._challenger_id else 1
                self._challenger_id = best
                if self._challenger_count >= c.switch_frames:
                    self._set_main(best)
            else:
                self._challenger_id, self._challenger_count = None, 0

        main = tracks.get(self.main_id) if self.main_id is not None else None
        if main is None or main.misses > c.hold_frames:
            return MainPersonResult(None, None, None, False)
        box = np.clip(main.box, 0, [w, h, w, h])
        if self._smoothed is not None and c.smoothing > 0:
            box = c.smoothing * self._smoothed + (1 - c.smoothing) * box
        self._smoothed = box
        return MainPersonResult([float(v) for v in box], main.score, main.id, held=not main.visible)

    def _set_main(self, track_id: int | None) -> None:
        if track_id != self.main_id:
            self._smoothed = None
        self.main_id = track_id
        self._challenger_id, self._challenger_count = None, 0
