"""One detector, N sources: the scheduler (oldest-waiting first, latest wins per source) and per-source stats."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from ros_detect.pipeline.fair import FairQueue, SourceStats

pytestmark = pytest.mark.unit


def test_latest_wins_per_source_and_superseded_frames_are_counted() -> None:
    q: FairQueue[int] = FairQueue(depth=1)
    assert q.put("cam1", 1, now=0.0)
    assert not q.put("cam1", 2, now=0.1)  # replaces frame 1
    assert q.put("cam2", 10, now=0.2)
    assert q.superseded == {"cam1": 1} and q.received == {"cam1": 2, "cam2": 1}
    first = q.take(now=0.3)
    assert first is not None and (first.source, first.item) == ("cam1", 2)  # the newest frame of cam1
    assert first.waited_s == pytest.approx(0.3)  # since its first unserved frame, not since the replacement
    second = q.take(now=0.3)
    assert second is not None and (second.source, second.item) == ("cam2", 10)
    assert q.take() is None and not q


def test_a_flooding_source_starves_no_other() -> None:
    """cam1 sends 10 frames per inference, cam2 and cam3 one: each still gets a third of the detector."""
    q: FairQueue[tuple[str, int]] = FairQueue(depth=1)
    served: Counter[str] = Counter()
    now = 0.0
    for step in range(300):
        for i in range(10):
            q.put("cam1", ("cam1", step * 10 + i), now=now + i * 0.001)
        q.put("cam2", ("cam2", step), now=now + 0.005)
        q.put("cam3", ("cam3", step), now=now + 0.0095)  # arrives just before every decision: its frame is newest
        now += 0.01
        got = q.take(now=now)
        assert got is not None
        served[got.source] += 1
    assert set(served) == {"cam1", "cam2", "cam3"}
    assert max(served.values()) - min(served.values()) <= 1  # round-robin while every source is busy
    assert q.superseded["cam1"] > q.superseded["cam2"]


def test_no_source_waits_more_than_n_minus_1_turns() -> None:
    q: FairQueue[int] = FairQueue(depth=1)
    sources = [f"cam{i}" for i in range(4)]
    last_turn = dict.fromkeys(sources, 0)
    for turn in range(1, 200):
        for s in sources:
            q.put(s, turn, now=float(turn))
        got = q.take(now=turn + 0.5)
        assert got is not None
        last_turn[got.source] = turn
        assert all(turn - t <= len(sources) for t in last_turn.values())


def test_deeper_queues_keep_every_frame_in_order_per_source() -> None:
    """depth > 1 (a reliable video graph): FIFO within a source, sources alternate."""
    q: FairQueue[int] = FairQueue(depth=10)
    for i in range(3):
        q.put("a", i, now=float(i))
        q.put("b", 100 + i, now=float(i))
    order = []
    while (got := q.take(now=10.0)) is not None:
        order.append((got.source, got.item))
    assert order == [("a", 0), ("b", 100), ("a", 1), ("b", 101), ("a", 2), ("b", 102)]
    assert q.superseded == {}


def test_clear_counts_what_was_waiting() -> None:
    q: FairQueue[int] = FairQueue(depth=2)
    q.put("a", 1)
    q.put("a", 2)
    q.put("b", 3)
    assert q.waiting() == 3 and q.waiting("a") == 2
    assert q.clear() == 3 and not q and q.take() is None


def test_a_waiting_consumer_is_woken_by_any_source() -> None:
    q: FairQueue[int] = FairQueue()
    got = []

    def consume() -> None:
        with q.cond:
            q.cond.wait_for(lambda: bool(q), timeout=30)
            got.append(q.take())

    t = threading.Thread(target=consume)
    t.start()
    q.put("cam2", 7)
    t.join(timeout=30)
    assert got and got[0] is not None and got[0].source == "cam2"


def test_bad_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        FairQueue(depth=0)


def test_per_source_stats_document() -> None:
    stats = SourceStats(window_s=2.0)
    for i in range(5):
        stats.record("cam1", {"capture_to_detection": 100.0 + i}, "cam1_id", now=10.0 + i * 0.1)
    stats.record("cam2", {"capture_to_detection": 300.0}, "cam2_id", now=10.4)
    stats.drop("cam2", 3)
    stats.window("cam2").set_counter("superseded", 3)
    docs = stats.docs(now=10.45)
    assert set(docs) == {"cam1", "cam2"}
    assert docs["cam1"]["frames"] == 5 and docs["cam1"]["fps"] == pytest.approx(10.0, rel=0.01)
    assert docs["cam1"]["latency_ms"]["capture_to_detection"]["p50"] == pytest.approx(102.0)
    assert docs["cam2"]["dropped"] == 3 and docs["cam2"]["counters"] == {"superseded": 3}
    assert docs["cam2"]["frame_id"] == "cam2_id"


def test_stats_document_with_sources_is_valid_stats_at_1() -> None:
    """`sources` is an optional addition: documents with and without it validate against the same schema."""
    from ros_detect import schema
    from ros_detect.graph.stats import StatsWindow

    window = StatsWindow("/detector")
    schema.validate(window.doc())
    assert "sources" not in window.doc()
    stats = SourceStats()
    stats.record("cam1", {"capture_to_detection": 120.0}, "cam1")
    stats.window("cam1").set_counter("superseded", 2)
    window.sources = stats.docs()
    doc = window.doc()
    schema.validate(doc)
    assert doc["sources"]["cam1"]["counters"]["superseded"] == 2
