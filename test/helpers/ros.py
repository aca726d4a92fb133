"""Environment for tests that start real rclpy processes (ros_detect.graph.isolation), under its test name."""

from __future__ import annotations

from ros_detect.graph.isolation import isolated_ros_env as ros_env

__all__ = ["ros_env"]
