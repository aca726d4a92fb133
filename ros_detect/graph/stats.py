"""The `ros_detect/stats@1` heartbeat: a sliding window of per-frame figures turned into one document.

Nodes call `record()` once per frame and `doc()` about once a second; no rclpy here, so the
window logic is testable in milliseconds. Schema: ros_detect/schemas/stats.schema.json.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ros_detect.percentiles import percentiles
from ros_detect.schema import STATS_SCHEMA, stamp_from_ns

__all__ = ["STATS_SCHEMA", "LossLog", "StatsWindow"]
STATES = ("starting", "running", "reconnecting", "finished", "failed")  # failed: a sink that could not start


@dataclass
class _Sample:
    t: float  # monotonic seconds
    latency_ms: dict[str, float]
    stage_ms: dict[str, float]


@dataclass
class StatsWindow:
    """Counts frames since start and keeps the last `window_s` seconds of latency/stage samples."""

    node: str
    window_s: float = 2.0
    frames: int = 0
    dropped: int = 0
    frame_id: str | None = None
    state: str = "starting"
    counters: dict[str, int] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] | None = None  # a node serving several sources: their own figures
    _samples: deque = field(default_factory=deque, repr=False)

    def record(
        self,
        *,
        latency_ms: dict[str, float] | None = None,
        stage_ms: dict[str, float] | None = None,
        frame_id: str | None = None,
        now: float | None = None,
    ) -> None:
        """One frame handled; latency/stage figures are optional."""
        now = time.monotonic() if now is None else now
        self.frames += 1
        if frame_id is not None:
            self.frame_id = frame_id
        if self.state == "starting":
            self.state = "running"
        self._samples.append(_Sample(now, dict(latency_ms or {}), dict(stage_ms or {})))
        self._trim(now)

    def drop(self, count: int = 1) -> None:
        self.dropped += int(count)

    def count(self, name: str, increment: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + int(increment)

    def set_counter(self, name: str, value: int) -> None:
        self.counters[name] = int(value)

    def _trim(self, now: float) -> None:
        while self._samples and now - self._samples[0].t > self.window_s:
            self._samples.popleft()

    def fps(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        n = len(self._samples)
        if n < 2:
            return 0.0 if n == 0 or now - self._samples[0].t > self.window_s else 1.0 / self.window_s
        span = self._samples[-1].t - self._samples[0].t
        return (n - 1) / span if span > 0 else 0.0

    def doc(self, now: float | None = None, wall_ns: int | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        self._trim(now)
        latency: dict[str, list[float]] = {}
        stages: dict[str, list[float]] = {}
        for s in self._samples:
            for k, v in s.latency_ms.items():
                latency.setdefault(k, []).append(v)
            for k, v in s.stage_ms.items():
                stages.setdefault(k, []).append(v)
        return {
            "schema": STATS_SCHEMA,
            "node": self.node,
            "stamp": stamp_from_ns(time.time_ns() if wall_ns is None else wall_ns),
            "frame_id": self.frame_id,
            "state": self.state,
            "window_s": float(self.window_s),
            "frames": int(self.frames),
            "fps": round(self.fps(now), 3),
            "dropped": int(self.dropped),
            "latency_ms": {k: percentiles(v, (50, 99), mean=False) for k, v in latency.items()},
            "stage_ms": {k: round(float(np.median(v)), 3) for k, v in stages.items()},
            "counters": {k: int(v) for k, v in self.counters.items()},
        } | ({"sources": self.sources} if self.sources is not None else {})


@dataclass
class LossLog:
    """Messages lost on one subscription, reported at most once per `period_s` however many are lost.

    `add()` returns (lost since the last report, total, seconds since the last report) when a report is due:
    at the first loss, then at the first loss after each period, so a steady loss of frames (latest wins in
    webcam mode) gives one log line per period instead of one per frame.
    """

    period_s: float = 10.0
    total: int = 0
    pending: int = 0
    _last_report: float | None = None

    def add(self, count: int, now: float | None = None) -> tuple[int, int, float] | None:
        now = time.monotonic() if now is None else now
        self.total += int(count)
        self.pending += int(count)
        if self._last_report is not None and now - self._last_report < self.period_s:
            return None
        span = 0.0 if self._last_report is None else now - self._last_report
        report = (self.pending, self.total, span)
        self.pending = 0
        self._last_report = now
        return report
