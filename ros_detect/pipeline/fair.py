"""One detector, several sources: which waiting frame gets the model next (no rclpy, testable in milliseconds).

`FairQueue` keeps a short queue per source (depth 1 = latest wins: a newer frame replaces the waiting one,
counted as superseded) and serves the sources **oldest-waiting first**: the source that has waited longest
for the model since its first unserved frame arrived. A replaced frame does not restart its source's wait,
so a source flooding at 30 fps cannot keep pushing its wait time forward and overtake the others; a source
just served goes to the back. With every source busy this is round-robin (each gets 1/N of the detector),
no source waits more than N-1 inferences, and the frame served is always the newest its source has. (Picking
the oldest *frame* instead starves a source whose frames happen to arrive just before each decision.)

`SourceStats` turns what happened to each source's frames into the per-source part of the stats document.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ros_detect.graph.stats import StatsWindow

T = TypeVar("T")


@dataclass
class Waiting(Generic[T]):
    source: str
    item: T
    waited_s: float  # how long its source waited for this turn (since its first unserved frame)


class FairQueue(Generic[T]):
    """Frames of N sources waiting for one consumer; `put` never blocks, `take` serves oldest-waiting first.

    `cond` guards the queue; an owner may pass its own Condition to wait on the queue together with its own
    state (its lock must be reentrant, as `threading.Condition()`'s default RLock is).
    """

    def __init__(self, depth: int = 1, cond: threading.Condition | None = None) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self.cond = cond or threading.Condition()
        self._slots: dict[str, deque[T]] = {}
        self._turns: OrderedDict[str, float] = OrderedDict()  # sources with frames -> waiting since (monotonic)
        self.superseded: dict[str, int] = {}  # frames replaced by a newer one of the same source before their turn
        self.received: dict[str, int] = {}

    def put(self, source: str, item: T, now: float | None = None) -> bool:
        """Queue `item`; False when it replaced an older frame of `source` (counted as superseded)."""
        now = time.monotonic() if now is None else now
        with self.cond:
            slot = self._slots.setdefault(source, deque())
            replaced = len(slot) >= self.depth
            if replaced:
                slot.popleft()
                self.superseded[source] = self.superseded.get(source, 0) + 1
            slot.append(item)
            self.received[source] = self.received.get(source, 0) + 1
            self._turns.setdefault(source, now)  # a replacement keeps its source's place in line
            self.cond.notify_all()
            return not replaced

    def take(self, now: float | None = None) -> Waiting[T] | None:
        """The next frame of the source waiting longest, or None at once when nothing waits."""
        now = time.monotonic() if now is None else now
        with self.cond:
            if not self._turns:
                return None
            source, since = self._turns.popitem(last=False)
            slot = self._slots[source]
            item = slot.popleft()
            if slot:  # more frames of this source (depth > 1): it waits again, behind the others
                self._turns[source] = now
            return Waiting(source, item, max(0.0, now - since))

    def clear(self) -> int:
        """Forget every waiting frame; returns how many there were."""
        with self.cond:
            count = sum(len(slot) for slot in self._slots.values())
            for slot in self._slots.values():
                slot.clear()
            self._turns.clear()
            return count

    def waiting(self, source: str | None = None) -> int:
        with self.cond:
            if source is not None:
                return len(self._slots.get(source, ()))
            return sum(len(slot) for slot in self._slots.values())

    def __bool__(self) -> bool:
        with self.cond:
            return bool(self._turns)


@dataclass
class SourceStats:
    """Per-source figures of a node serving several sources: one StatsWindow (fps, latency) per source."""

    window_s: float = 2.0
    windows: dict[str, StatsWindow] = field(default_factory=dict)

    def window(self, source: str) -> StatsWindow:
        if source not in self.windows:
            self.windows[source] = StatsWindow(source, self.window_s)
        return self.windows[source]

    def record(self, source: str, latency_ms: dict[str, float], frame_id: str | None, now: float | None = None) -> None:
        self.window(source).record(latency_ms=latency_ms, frame_id=frame_id, now=now)

    def drop(self, source: str, count: int = 1) -> None:
        self.window(source).drop(count)

    def docs(self, now: float | None = None) -> dict[str, dict]:
        """{source: {frame_id, frames, fps, dropped, latency_ms, counters}}: the stats document's `sources`."""
        out = {}
        for source, window in self.windows.items():
            doc = window.doc(now)
            out[source] = {k: doc[k] for k in ("frame_id", "frames", "fps", "dropped", "latency_ms", "counters")}
        return out
