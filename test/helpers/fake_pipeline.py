"""The fake pipeline's frames and documents (ros_detect.bench.fake_feed), under their test names; the process
that publishes them is ros_detect/nodes/fake_pipeline.py (started by helpers.foxglove_graph.BridgeGraph)."""

from __future__ import annotations

from ros_detect.bench.fake_feed import (
    BACKGROUND_BGR,
    CHAIR_BOX,
    FRAME_ID,
    PERSON_BGR,
    H,
    W,
    docs,
    person_box,
    render,
    synthetic_docs,
)

__all__ = [
    "BACKGROUND_BGR",
    "CHAIR_BOX",
    "FRAME_ID",
    "PERSON_BGR",
    "H",
    "W",
    "docs",
    "person_box",
    "render",
    "synthetic_docs",
]
