"""Environment for tests that start real rclpy processes: isolated from other runs on this machine."""

from __future__ import annotations

import os
import random

_handed_out: set[int] = set()


def ros_env(**extra: str) -> dict[str, str]:
    """os.environ plus a random ROS_DOMAIN_ID and localhost-only discovery (parallel runs don't cross-talk).

    Within one test process no id is handed out twice (until all 100 are used), so graphs a test session
    keeps running side by side never share a domain.
    """
    env = os.environ.copy()
    free = sorted(set(range(1, 101)) - _handed_out) or list(range(1, 101))
    domain = random.SystemRandom().choice(free)
    _handed_out.add(domain)
    env["ROS_DOMAIN_ID"] = str(domain)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
