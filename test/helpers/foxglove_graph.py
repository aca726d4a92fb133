"""The foxglove_bridge + fake pipeline graph (ros_detect.bench.bridge_graph) under its test names."""

from __future__ import annotations

from pathlib import Path

from ros_detect.bench.bridge_graph import BIN, BridgeGraph, free_port, wait_port
from ros_detect.graph.isolation import isolated_ros_env as ros_env

REPO = Path(__file__).resolve().parents[2]

__all__ = ["BIN", "REPO", "BridgeGraph", "free_port", "ros_env", "wait_port"]
