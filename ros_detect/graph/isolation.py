"""A private ROS graph for child processes: runs on one machine in parallel never see each other's topics."""

from __future__ import annotations

import os
import random

# Fast DDS derives its ports from the domain id: with localhost-only discovery 0..232 are valid. 0 is
# everyone's default domain (a stray `ros2` command, another graph), so a private graph never takes it;
# the wide range keeps two parallel runs from drawing the same id.
DOMAIN_IDS = range(1, 233)
_handed_out: set[int] = set()  # one process never hands out an id twice (until all are used)


def isolated_ros_env(**extra: str) -> dict[str, str]:
    """os.environ plus a random ROS_DOMAIN_ID, localhost-only discovery and unbuffered Python output."""
    env = os.environ.copy()
    domain = random.SystemRandom().choice(sorted(set(DOMAIN_IDS) - _handed_out) or DOMAIN_IDS)
    _handed_out.add(domain)  # graphs one test session keeps running side by side never share a domain
    env["ROS_DOMAIN_ID"] = str(domain)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
