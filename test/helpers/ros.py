"""Environment for tests that start real rclpy processes: isolated from other runs on this machine."""

from __future__ import annotations

import os
import random


def ros_env(**extra: str) -> dict[str, str]:
    """os.environ plus a random ROS_DOMAIN_ID and localhost-only discovery (parallel runs don't cross-talk)."""
    env = os.environ.copy()
    env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
