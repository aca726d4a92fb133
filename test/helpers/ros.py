"""Environment for tests that start real rclpy processes: isolated from other runs on this machine."""

from __future__ import annotations

import os
import random

# Fast DDS derives its ports from the domain id: with localhost-only discovery 0..232 are valid. 0 is
# everyone's default domain (a stray `ros2` command or another run), so tests never use it.
DOMAIN_IDS = range(1, 233)


def ros_env(**extra: str) -> dict[str, str]:
    """os.environ plus a random ROS_DOMAIN_ID and localhost-only discovery (parallel runs don't cross-talk)."""
    env = os.environ.copy()
    env["ROS_DOMAIN_ID"] = str(random.SystemRandom().choice(DOMAIN_IDS))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
