"""The pure parts of the MQTT publisher: outgoing messages, detections rate limit, reconnect backoff.

Messages wait for the broker in a ros_detect.dropqueue.DropQueue (bounded, the oldest dropped and counted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    stream: str  # main_person | detections | stats | status
    payload: bytes
    qos: int
    retain: bool


class RateLimiter:
    """Lets at most `max_hz` events per second through (0 = all); the rest are counted as skipped."""

    def __init__(self, max_hz: float) -> None:
        self.min_interval = 1.0 / max_hz if max_hz > 0 else 0.0
        self._next = float("-inf")
        self.skipped = 0

    def allow(self, now: float | None = None) -> bool:
        if self.min_interval == 0.0:
            return True
        now = time.monotonic() if now is None else now
        if now < self._next:
            self.skipped += 1
            return False
        # On cadence: keep it from drifting with frame jitter; after a pause: restart it, no catch-up burst.
        on_cadence = now - self._next < self.min_interval
        self._next = (self._next if on_cadence else now) + self.min_interval
        return True


class Backoff:
    """Reconnect delays: min, 2*min, 4*min ... capped at max; reset after a successful connect.

    Mirrors paho-mqtt's `reconnect_delay_set` schedule, so the log can say when the next try happens.
    """

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s = float(min_s)
        self.max_s = float(max_s)
        self._delay: float | None = None
        self.attempts = 0

    def next_delay(self, attempt: bool = True) -> float:
        """The wait before the next try; `attempt=False` for the wait paho makes after a dropped connection."""
        self._delay = self.min_s if self._delay is None else min(self._delay * 2.0, self.max_s)
        self.attempts += int(attempt)
        return self._delay

    def reset(self) -> None:
        self._delay = None
        self.attempts = 0
