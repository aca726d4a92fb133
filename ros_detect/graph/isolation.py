"""A private ROS graph for child processes: runs on one machine in parallel never see each other's topics."""

from __future__ import annotations

import os
import random

_handed_out: set[int] = set()


def isolated_ros_env(**extra: str) -> dict[str, str]:
    """os.environ plus a random ROS_DOMAIN_ID, localhost-only discovery and unbuffered Python output.

    One process never hands out an id twice (until all 100 are used), so graphs it keeps running side by
    side never share a domain.
    """
    env = os.environ.copy()
    domain = random.SystemRandom().choice(sorted(set(range(1, 101)) - _handed_out) or range(1, 101))
    _handed_out.add(domain)
    env["ROS_DOMAIN_ID"] = str(domain)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
