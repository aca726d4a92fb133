"""The one bounded hand-off queue: `put` never blocks; when full, the oldest item is dropped and counted.

ROS callbacks only `put`, worker threads take items out, so a slow consumer (a web client, a JPEG encoder,
an unreachable MQTT broker) costs dropped items, never time in the pipeline's executor. Used by the
Foxglove bridge (frames and documents) and the MQTT publisher (messages waiting for the broker).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropQueue(Generic[T]):
    """A thread-safe FIFO of at most `maxlen` items; fresh data wins over old.

    `cond` is public so an owner can guard its own state with the same lock and wait for items together
    with other conditions (the MQTT sender does). Its lock is reentrant: every method may be called while
    holding it.
    """

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.maxlen = int(maxlen)
        self.cond = threading.Condition(threading.RLock())
        self._items: deque[T] = deque()
        self._closed = False
        self.dropped = 0  # items lost to make room
        self.accepted = 0  # items ever put
        self.high_water = 0  # most items held at once

    def put(self, item: T) -> bool:
        """Append `item`; returns False when an older item had to be dropped to make room."""
        with self.cond:
            full = len(self._items) >= self.maxlen
            if full:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.accepted += 1
            self.high_water = max(self.high_water, len(self._items))
            self.cond.notify_all()
            return not full

    def push_front(self, item: T) -> None:
        """Give back an item that could not be delivered, keeping the order; when full the newest yields."""
        with self.cond:
            if len(self._items) >= self.maxlen:
                self._items.pop()
                self.dropped += 1
            self._items.appendleft(item)
            self.cond.notify_all()

    def pop(self) -> T | None:
        """The oldest item, or None at once when empty."""
        with self.cond:
            return self._items.popleft() if self._items else None

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to `timeout` seconds; None after the timeout or once closed and empty."""
        with self.cond:
            if not self._items and not self._closed:
                self.cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def snapshot(self) -> list[T]:
        """The items waiting, oldest first (a copy)."""
        with self.cond:
            return list(self._items)

    def close(self) -> None:
        """Wake every waiting `get`; items still queued can be taken."""
        with self.cond:
            self._closed = True
            self.cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self.cond:
            return len(self._items)

    def __bool__(self) -> bool:
        return len(self) > 0
