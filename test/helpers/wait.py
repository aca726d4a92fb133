"""The one way tests wait: on a condition, with a deadline generous enough for a loaded machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float, interval_s: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy or `timeout_s` passes; return its last value.

    Callers assert on the result, so a timeout fails with the caller's own message, never hangs.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)
