"""Pure logic behind the nodes and the launcher (no rclpy): flow control, stats, parameter files, graph plan."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ros_detect import schema
from ros_detect.errors import ConfigError
from ros_detect.graph import plan as graph
from ros_detect.graph.flow import FrameInfoCache, InFlightWindow, Pacer, SeqGapCounter
from ros_detect.graph.params import (
    dump_param_file,
    load_param_file,
    node_matches,
    params_for,
    parse_override,
)
from ros_detect.graph.stats import StatsWindow

pytestmark = pytest.mark.unit


def test_in_flight_window_bounds_and_counts() -> None:
    w = InFlightWindow(limit=2, timeout_s=5.0)
    assert w.has_room(now=0.0)
    w.on_sent(0, now=0.0)
    w.on_sent(1, now=0.1)
    assert not w.has_room(now=0.2) and w.in_flight == 2
    assert w.on_result(0) and w.has_room(now=0.3)
    assert not w.on_result(0) and w.unexpected == 1  # duplicate result
    assert w.expire(now=5.2) == [1] and w.lost == 1 and w.in_flight == 0
    assert (w.sent, w.returned) == (2, 1)
    with pytest.raises(ValueError):
        InFlightWindow(0, 1.0)


def test_in_flight_window_never_expires_with_zero_timeout() -> None:
    w = InFlightWindow(1, 0.0)
    w.on_sent(7, now=0.0)
    assert w.expire(now=1e9) == [] and not w.has_room(now=1e9)


def test_pacer() -> None:
    assert Pacer(0).delay(10.0, now=0.0) == 0.0
    p = Pacer(1.0)
    assert p.delay(2.0, now=100.0) == 0.0  # first frame sets the origin
    assert p.delay(2.5, now=100.1) == pytest.approx(0.4)
    assert Pacer(2.0).delay(None) == 0.0
    fast = Pacer(2.0)
    fast.delay(0.0, now=0.0)
    assert fast.delay(1.0, now=0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        Pacer(-1)


def test_frame_info_cache_and_gaps() -> None:
    cache = FrameInfoCache(size=2)
    for i in range(3):
        cache.put(i, {"seq": i})
    assert cache.pop(0) is None and cache.pop(2) == {"seq": 2} and cache.pop(2) is None
    gaps = SeqGapCounter()
    assert [gaps.update(s) for s in (0, 1, 4, 5, 0, 2)] == [0, 0, 2, 0, 0, 1]
    assert gaps.missing == 3


def test_stats_window_document_is_schema_valid() -> None:
    w = StatsWindow("/cam/main_person", window_s=2.0)
    empty = w.doc(now=0.0)
    schema.validate(empty)
    assert (empty["state"], empty["frames"], empty["fps"]) == ("starting", 0, 0.0)
    for i in range(21):
        w.record(latency_ms={"capture_to_main_person": 100.0 + i}, stage_ms={"inference": 50.0}, now=10 + i * 0.1)
    w.drop(3)
    w.count("reconnects")
    doc = w.doc(now=12.0)
    schema.validate(doc)
    assert doc["schema"] == "ros_detect/stats@1" and doc["state"] == "running"
    assert doc["frames"] == 21 and doc["dropped"] == 3 and doc["counters"] == {"reconnects": 1}
    assert doc["fps"] == pytest.approx(10.0, rel=0.01)
    assert doc["latency_ms"]["capture_to_main_person"]["p50"] == pytest.approx(110.0)
    assert doc["stage_ms"] == {"inference": 50.0}
    late = w.doc(now=100.0)  # nothing in the window any more
    assert late["fps"] == 0.0 and late["latency_ms"] == {} and late["frames"] == 21


PARAMS_YAML = """
/**:
  ros__parameters: {stats_period_s: 2.0}
/**/detector:
  ros__parameters:
    threads: 1
    qos: {depth: 3}
detector:
  ros__parameters: {threads: 2}
cam1:
  detector:
    ros__parameters: {model: small}
"""


def test_param_file_matching_like_rcl(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PARAMS_YAML)
    files = [load_param_file(path)]
    # root namespace: `detector:` (specific) applies after `/**/detector` (wildcard)
    assert params_for(files, "detector") == {"stats_period_s": 2.0, "threads": 2, "qos.depth": 3}
    assert params_for(files, "detector", "cam1") == {
        "stats_period_s": 2.0,
        "threads": 1,
        "qos.depth": 3,
        "model": "small",
    }
    assert params_for(files, "main_person", "x/y") == {"stats_period_s": 2.0}
    assert node_matches("/*/detector", "/a/detector") and not node_matches("/*/detector", "/a/b/detector")
    assert node_matches("/**", "/a/b/c") and not node_matches("detector", "/ns/detector")
    back = load_param_file(dump_param_file(tmp_path / "d.yaml", {"detector": {"threads": 4}}))
    assert params_for([back], "detector", "any/ns") == {"threads": 4}


def test_param_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_param_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector: [1, 2]\n")
    with pytest.raises(ConfigError, match="not a mapping"):
        load_param_file(bad)
    bad.write_text("a: b: c\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_param_file(bad)


def test_parse_override() -> None:
    assert parse_override("detector.threads=1") == ("detector", "threads", 1)
    assert parse_override("camera_source.input=http://h:1/s.mjpg") == ("camera_source", "input", "http://h:1/s.mjpg")
    assert parse_override("stats_period_s=0.5") == ("", "stats_period_s", 0.5)
    assert parse_override("video_source.loop=true") == ("video_source", "loop", True)
    with pytest.raises(ConfigError):
        parse_override("detector.threads")


def test_plan_graph_defaults_and_overrides() -> None:
    video = graph.plan_graph("video", overrides={"detector": {"threads": 1}, "": {"stats_period_s": 0.5}})
    names = [n.name for n in video.nodes]
    assert names[:3] == ["video_source", "detector", "main_person"]
    assert ("mqtt_bridge" in names) is False  # video: MQTT off by default
    det = video.node("detector")
    assert det.params["threads"] == 1 and det.params["stats_period_s"] == 0.5
    assert det.params["qos_overrides./image.subscription.reliability"] == "reliable"
    webcam = graph.plan_graph("webcam", bridges={"mqtt": False, "foxglove": False})
    assert [n.name for n in webcam.nodes] == ["camera_source", "detector", "main_person"]
    assert webcam.node("detector").params["qos_overrides./image.subscription.reliability"] == "best_effort"
    with pytest.raises(ConfigError, match="unknown launch mode"):
        graph.plan_graph("radio")
    with pytest.raises(ConfigError, match="unknown node"):
        graph.plan_graph("video", overrides={"detectr": {"threads": 1}})


def test_plan_graph_skips_a_missing_bridge_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(graph, "module_available", lambda module: "mqtt" not in module)
    with caplog.at_level(logging.WARNING):
        spec = graph.plan_graph("webcam")
    names = [n.name for n in spec.nodes]
    assert "mqtt_bridge" not in names and "foxglove_bridge" in names
    assert spec.skipped and "mqtt_bridge" in caplog.text and "not installed" in caplog.text


def test_plan_graph_splits_the_graph_between_hosts() -> None:
    """`--nodes`/`--without`: each host starts its part of one graph and still plans for the whole of it."""
    camera_host = graph.plan_graph("video", only=graph.split_names(["video_source"]))
    assert [n.name for n in camera_host.here] == ["video_source"]
    assert camera_host.elsewhere == ["detector", "main_person", "foxglove_bridge"]
    # the source waits for its image consumers wherever they run: the detector and the web view
    assert camera_host.source.params["min_image_subscribers"] == 2
    detector_host = graph.plan_graph("webcam", without=graph.split_names("camera_source"))
    assert [n.name for n in detector_host.here] == ["detector", "main_person", "mqtt_bridge", "foxglove_bridge"]
    assert detector_host.source.name == "camera_source" and detector_host.elsewhere == ["camera_source"]
    assert graph.split_names(["detector, main_person", "mqtt_bridge"]) == ["detector", "main_person", "mqtt_bridge"]


@pytest.mark.parametrize(
    ("mode", "only", "without", "match"),
    [
        ("video", ["camera_source"], [], "not part of this video graph"),
        ("video", ["mqtt_bridge"], [], r"switch it on \(--mqtt"),
        ("webcam", ["detector"], ["camera_source"], "give --nodes or --without"),
        ("webcam", [], ["camera_source", "detector", "main_person", "mqtt_bridge", "foxglove_bridge"], "no node left"),
    ],
)
def test_plan_graph_refuses_a_split_that_cannot_run(mode: str, only: list[str], without: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        graph.plan_graph(mode, only=only, without=without)
    assert err.value.fix
