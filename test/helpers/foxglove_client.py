"""The Foxglove WebSocket client (ros_detect.bench.foxglove_client) under its test name."""

from __future__ import annotations

from ros_detect.bench.foxglove_client import SUBPROTOCOL, Received
from ros_detect.bench.foxglove_client import FoxgloveClient as FoxgloveTestClient

__all__ = ["SUBPROTOCOL", "FoxgloveTestClient", "Received"]
