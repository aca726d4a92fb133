"""Bounded hand-off buffers for the Foxglove bridge: `put` never blocks, the oldest item is dropped and counted.

The ROS callbacks only `put`; worker threads do JPEG encoding and WebSocket logging. So a slow web client,
or a slow encoder, costs dropped view frames, never time in the pipeline's executor.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")
V = TypeVar("V")


class DropBuffer(Generic[T]):
    """A FIFO of at most `maxlen` items; when full, `put` drops the oldest item and counts it."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.maxlen = int(maxlen)
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.accepted = 0

    def put(self, item: T) -> bool:
        """Queue `item`; returns False when an older item had to be dropped to make room."""
        with self._cond:
            dropped = len(self._items) >= self.maxlen
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.accepted += 1
            self._cond.notify()
            return not dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, or None after `timeout` seconds or once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)


class RecentMap(Generic[V]):
    """At most `maxlen` recent entries by key (e.g. detections by stamp, waiting for their main person)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = int(maxlen)
        self._items: OrderedDict[int, V] = OrderedDict()
        self.evicted = 0

    def add(self, key: int, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxlen:
            self._items.popitem(last=False)
            self.evicted += 1

    def pop(self, key: int) -> V | None:
        return self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
