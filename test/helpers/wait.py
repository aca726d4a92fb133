"""The one way tests wait: on a condition, with a deadline generous enough for a loaded machine.

A fixed sleep or a fixed run duration encodes how fast this machine was the day the test was written;
under load it either fails (too short) or wastes time (too long). Wait for the thing itself instead,
and keep the timeout as a safety net only: a passing test never waits for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
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


def read_text(path: Path) -> str:
    """The file's text so far ('' before the process that writes it has created it)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def count_lines(path: Path) -> int:
    """Complete lines written so far (a JSONL stream flushed per line, a log)."""
    return read_text(path).count("\n")


def wait_for_line(path: Path, pattern: str, timeout_s: float) -> re.Match[str] | None:
    """Wait until a line of the file at `path` matches the regular expression `pattern`; return the match.

    For logs of processes under test: `assert wait_for_line(log, r"lost the broker", 30), log.read_text()`.
    """
    regex = re.compile(pattern, re.MULTILINE)
    return wait_until(lambda: regex.search(read_text(path)), timeout_s)
