"""A private ROS graph for child processes: runs on one machine in parallel never see each other's topics."""

from __future__ import annotations

import os
import random


def isolated_ros_env(**extra: str) -> dict[str, str]:
    """os.environ plus a random ROS_DOMAIN_ID, localhost-only discovery and unbuffered Python output."""
    env = os.environ.copy()
    env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
