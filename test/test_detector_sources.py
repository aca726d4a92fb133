"""One detector node serving two sources: each source's frames are answered on its own `detections` and, through
its own main_person (one per namespace), on its own `main_person`; a flooding source starves no other; the stats
heartbeat carries each source's figures; `qos_overrides./image` sets every source's image QoS."""

from __future__ import annotations

import time
from typing import Any

import pytest
from helpers.ros_inprocess import SpinningContext
from helpers.wait import wait_until

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import ReliabilityPolicy  # noqa: E402

FAST = {"weights": "none", "model": "fasterrcnn_mobilenet_v3_large_320_fpn", "threads": 1, "proposals": 20}
SOURCES = ("cam1", "cam2")


def _node(ctx: SpinningContext, module: str, cls: str, namespace: str | None = None, **params: Any) -> Any:
    import importlib

    node_class = getattr(importlib.import_module(f"ros_detect.nodes.{module}"), cls)
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return ctx.add(node_class(parameter_overrides=overrides, namespace=namespace, context=ctx.ctx))


@pytest.fixture
def ctx():
    context = SpinningContext()
    yield context
    context.close()


def test_one_detector_answers_every_source_on_its_own_topics(ctx: SpinningContext) -> None:
    import numpy as np
    from sensor_msgs.msg import Image

    from ros_detect import schema
    from ros_detect.nodes.image import bgr_to_image
    from ros_detect.nodes.messages import Detections, MainPerson, detections_doc, main_person_doc

    latest_wins = {
        "qos_overrides./image.subscription.reliability": "best_effort",
        "qos_overrides./image.subscription.depth": 1,
    }
    det = _node(
        ctx,
        "detector",
        "DetectorNode",
        sources=list(SOURCES),
        stats_period_s=0.0,
        max_age_ms=0.0,
        **latest_wins,
        **FAST,
    )
    for src in SOURCES:
        _node(ctx, "main_person", "MainPersonNode", namespace=src, stats_period_s=0.0)
    cli = ctx.node("feeds")
    detections: dict[str, list[dict]] = {s: [] for s in SOURCES}
    main: dict[str, list[dict]] = {s: [] for s in SOURCES}
    pubs = {}
    for src in SOURCES:
        cli.create_subscription(
            Detections, f"{src}/detections", lambda m, s=src: detections[s].append(detections_doc(m)), 10
        )
        cli.create_subscription(
            MainPerson, f"{src}/main_person", lambda m, s=src: main[s].append(main_person_doc(m)), 10
        )
        pubs[src] = cli.create_publisher(Image, f"{src}/image", 10)
    frame = np.random.default_rng(2).integers(0, 255, (240, 427, 3), dtype=np.uint8)
    assert wait_until(lambda: all(p.get_subscription_count() for p in pubs.values()), 180)  # configured
    for src in SOURCES:  # the plain `qos_overrides./image` reached every source's subscription
        qos = det.lanes[src].image_sub.qos_profile
        assert (qos.reliability, qos.depth) == (ReliabilityPolicy.BEST_EFFORT, 1)
    ticks = [0]

    def feed_until_both_answered_twice() -> bool:
        """cam1 floods (a frame every poll), cam2 sends one every 5th: cam2 still gets its turns."""
        ticks[0] += 1
        pubs["cam1"].publish(bgr_to_image(frame, time.time_ns(), "cam1"))
        if ticks[0] % 5 == 0:
            pubs["cam2"].publish(bgr_to_image(frame, time.time_ns(), "cam2"))
        return all(len(main[s]) >= 2 for s in SOURCES)

    assert wait_until(feed_until_both_answered_twice, 300, interval_s=0.1), {s: len(main[s]) for s in SOURCES}
    for src in SOURCES:  # each answered on its own topics, never on the other's
        assert {d["frame_id"] for d in detections[src]} == {src}
        assert {d["frame_id"] for d in main[src]} == {src}
    stats = det.stats.current()
    schema.validate(stats)
    assert set(stats["sources"]) == set(SOURCES)
    for src in SOURCES:
        entry = stats["sources"][src]
        assert entry["frames"] >= 2 and entry["frame_id"] == src and entry["counters"]["received"] >= entry["frames"]
    assert stats["frames"] == sum(stats["sources"][s]["frames"] for s in SOURCES)


def test_a_bad_sources_entry_is_a_clear_error(ctx: SpinningContext) -> None:
    from ros_detect.errors import ConfigError

    with pytest.raises(ConfigError, match="lists a namespace twice") as error:
        _node(ctx, "detector", "DetectorNode", sources=["cam1", "cam1"], autostart=False, **FAST)
    assert "cam1, cam2" in error.value.fix
