"""Flow control of the node graph, kept free of rclpy so it is testable in milliseconds.

* InFlightWindow: the video source publishes a frame only while fewer than K results are missing, so
  no frame is dropped, the detector never idles (K >= 2) and memory stays bounded.
* Pacer: real-time (or scaled) playback of a file.
* FrameInfoCache: the source's per-frame facts (seq, media time) travel on a small `frame_info`
  side topic keyed by capture stamp, because sensor_msgs/Image has no field for a frame index.
* SeqGapCounter: frames lost between source and detector (latest-wins QoS) show up as seq gaps.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any


class InFlightWindow:
    """At most `limit` frames whose results have not come back; results older than `timeout_s` count as lost."""

    def __init__(self, limit: int, timeout_s: float) -> None:
        if limit < 1:
            raise ValueError(f"in-flight limit must be >= 1, got {limit}")
        self.limit = limit
        self.timeout_s = timeout_s
        self._pending: OrderedDict[int, float] = OrderedDict()  # seq -> monotonic send time
        self.sent = 0
        self.returned = 0
        self.lost = 0
        self.unexpected = 0  # results for frames not in flight (duplicates, or another source's)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def has_room(self, now: float | None = None) -> bool:
        self.expire(now)
        return len(self._pending) < self.limit

    def on_sent(self, seq: int, now: float | None = None) -> None:
        self._pending[seq] = time.monotonic() if now is None else now
        self.sent += 1

    def on_result(self, seq: int) -> bool:
        """Mark `seq` done; False if it was not in flight."""
        if self._pending.pop(seq, None) is None:
            self.unexpected += 1
            return False
        self.returned += 1
        return True

    def expire(self, now: float | None = None) -> list[int]:
        """Give up on results missing longer than timeout_s; return their seqs."""
        if self.timeout_s <= 0:
            return []
        now = time.monotonic() if now is None else now
        lost = [seq for seq, t in self._pending.items() if now - t > self.timeout_s]
        for seq in lost:
            del self._pending[seq]
        self.lost += len(lost)
        return lost


class Pacer:
    """When may the frame at media time `t` go out? rate 0 = now; 1 = real time; 2 = twice as fast."""

    def __init__(self, rate: float) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0, got {rate}")
        self.rate = rate
        self._origin: tuple[float, float] | None = None  # (wall monotonic, media time) of the first frame

    def reset(self) -> None:
        self._origin = None

    def delay(self, media_time_s: float | None, now: float | None = None) -> float:
        """Seconds to wait before sending (<= 0: send now)."""
        if self.rate == 0 or media_time_s is None:
            return 0.0
        now = time.monotonic() if now is None else now
        if self._origin is None:
            self._origin = (now, media_time_s)
            return 0.0
        wall0, media0 = self._origin
        return wall0 + (media_time_s - media0) / self.rate - now


class FrameInfoCache:
    """Recent frame_info documents by capture stamp (bounded; the oldest are forgotten)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._by_stamp: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def put(self, stamp_ns: int, info: dict[str, Any]) -> None:
        self._by_stamp[stamp_ns] = info
        while len(self._by_stamp) > self.size:
            self._by_stamp.popitem(last=False)

    def pop(self, stamp_ns: int) -> dict[str, Any] | None:
        return self._by_stamp.pop(stamp_ns, None)

    def has(self, stamp_ns: int) -> bool:
        return stamp_ns in self._by_stamp


class SeqGapCounter:
    """Counts frames that never arrived (seq jumps); a seq going backwards means the source restarted."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.missing = 0

    def update(self, seq: int) -> int:
        gap = 0
        if self.last is not None and seq > self.last + 1:
            gap = seq - self.last - 1
            self.missing += gap
        self.last = seq
        return gap


def frame_info_doc(seq: int, stamp_ns: int, frame_id: str, media_time_s: float | None, decode_ms: float) -> dict:
    """What the source knows about a frame that sensor_msgs/Image cannot carry."""
    return {
        "seq": int(seq),
        "stamp_ns": int(stamp_ns),
        "frame_id": frame_id,
        "media_time_s": media_time_s,
        "decode_ms": round(float(decode_ms), 3),
    }


class FrameInfoTracker:
    """Matches images to their frame_info by capture stamp and counts frames that never reached the consumer.

    Every frame the source publishes has one frame_info (reliable), while images travel latest-wins, so a
    frame_info that is older than an image already processed from the same source, and was never matched,
    is a frame replaced or lost on the way: counted once as dropped. This holds whichever of the two
    messages the executor hands over first (frame_info may arrive after a newer image was processed).
    """

    def __init__(self, size: int = 256) -> None:
        self.cache = FrameInfoCache(size)
        self.last_stamp: dict[str, int] = {}  # newest processed image per source
        self.unmatched: OrderedDict[int, None] = OrderedDict()  # processed images whose frame_info was late
        self.dropped = 0

    def on_info(self, stamp_ns: int, info: dict[str, Any]) -> int:
        """Store a frame_info; returns how many frames it proves dropped (0 or 1)."""
        frame_id = str(info.get("frame_id", ""))
        if stamp_ns <= self.last_stamp.get(frame_id, -1):
            if self.unmatched.pop(stamp_ns, "absent") is None:
                return 0  # the late frame_info of an image already processed
            self.dropped += 1
            return 1
        self.cache.put(stamp_ns, info)
        return 0

    def on_image(self, stamp_ns: int, frame_id: str) -> tuple[dict[str, Any] | None, int]:
        """(frame_info of this image or None, frames of the same source it proves dropped)."""
        info = self.cache.pop(stamp_ns)
        older = [s for s, doc in self.cache._by_stamp.items() if s < stamp_ns and doc.get("frame_id") == frame_id]
        for s in older:
            self.cache.pop(s)
        if info is None:
            self.unmatched[stamp_ns] = None
            while len(self.unmatched) > self.cache.size:
                self.unmatched.popitem(last=False)
        self.last_stamp[frame_id] = max(stamp_ns, self.last_stamp.get(frame_id, -1))
        self.dropped += len(older)
        return info, len(older)
