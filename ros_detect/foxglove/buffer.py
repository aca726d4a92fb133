"""A bounded map of recent entries for the Foxglove bridge (the hand-off queues are ros_detect.dropqueue)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


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
