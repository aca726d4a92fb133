"""A server that finds its port: the configured one, or (fallback on) the next free one after it.

Two graphs on one machine with the same defaults: the second Foxglove bridge finds 8765/8766 taken by the
first and serves on the next free ports instead of failing, and says where (the caller logs the URL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from ros_detect.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
PORT_TRIES = 20  # 8765 -> at most 8784: enough for a rack of cameras, bounded for a clear error


class PortInUseError(ConfigError):
    """The port is taken (raised by a server's start function so the fallback can move on)."""


def start_on_free_port(
    start: Callable[[int], T], port: int, fallback: bool, what: str, tries: int = PORT_TRIES
) -> tuple[T, int | None]:
    """(start(port), None), or with `fallback` and `port` taken: (start(next free port), the port asked for).

    Port 0 (any free port) never falls back: the system already picks one. Without fallback, or when every
    port tried is taken, the PortInUseError of the port asked for is raised (problem + fix).
    """
    try:
        return start(port), None
    except PortInUseError:
        if not fallback or port == 0:
            raise
    for candidate in range(port + 1, min(port + tries, 65536)):
        try:
            server = start(candidate)
        except PortInUseError:
            continue
        log.info("%s: port %d is in use: serving on port %d instead", what, port, candidate)
        return server, port
    raise PortInUseError(
        f"{what}: ports {port}..{min(port + tries, 65536) - 1} are all taken",
        "stop what uses them, or pick a free range (e.g. `-p foxglove_bridge.port=9765`; 0 = any free port)",
    )
