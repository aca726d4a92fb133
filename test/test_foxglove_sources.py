"""One Foxglove server for several cameras: channel names per source, per-source statistics, the layout
generator, and the real foxglove_bridge with `sources` fed by the stand-in pipeline under two namespaces."""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.fake_pipeline import BACKGROUND_BGR, PERSON_BGR, docs, person_box
from helpers.foxglove_client import FoxgloveTestClient
from helpers.foxglove_graph import BIN, BridgeGraph, free_port, ros_env
from helpers.foxglove_layout import assert_layout_resolves, layout_uses, panel_ids, resolve, shipped_layout
from helpers.lichtblick_schema import parse_advertisements

from ros_detect import schema
from ros_detect.bench.fake_feed import SOURCE_SEQ_OFFSET, source_frame_id
from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.errors import ConfigError
from ros_detect.foxglove.layout import SHIPPED, layout, layout_json
from ros_detect.foxglove.relay import FoxgloveRelay, RelayConfig
from ros_detect.foxglove.topics import SourceTopics
from ros_detect.graph.sources import check_sources, source_topic

SOURCES = ["cam1", "cam2"]
KINDS = ["image", "annotations", "detections", "main_person", "stats", "bridge_stats"]
RATE = 10.0


def _source_channels(src: str) -> list[str]:
    return [f"/{src}/{kind}" for kind in KINDS]


# -- pure logic ------------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_source_topics_are_the_default_names_under_the_namespace() -> None:
    assert SourceTopics.under("") == SourceTopics() == SourceTopics.under("/")
    assert SourceTopics().image == "/image" and SourceTopics().bridge_stats == "/bridge_stats"
    for ns in ("cam1", "/cam1", "cam1/"):
        topics = SourceTopics.under(ns)
        assert [getattr(topics, k) for k in KINDS] == _source_channels("cam1")
    assert SourceTopics.under("site/door").main_person == "/site/door/main_person"


@pytest.mark.unit
def test_sources_must_be_relative_namespaces_named_once() -> None:
    assert check_sources(["cam1", "site/door_2"]) == ["cam1", "site/door_2"] and check_sources([]) == []
    for bad in (["/cam1"], ["1cam"], ["cam 1"], ["cam1/"], [""]):
        with pytest.raises(ConfigError, match="relative ROS namespaces") as err:
            check_sources(bad)
        assert "sources:=[cam1,cam2]" in err.value.fix
    with pytest.raises(ConfigError, match="twice"):
        check_sources(["cam1", "cam1"])
    assert source_topic("cam1", "image") == "cam1/image" and source_topic("", "/image") == "/image"
    with pytest.raises(ConfigError, match="not relative") as err:
        source_topic("cam1", "/image")
    assert "relative names" in err.value.fix


@pytest.mark.unit
def test_relay_keeps_channels_and_statistics_per_source_and_totals() -> None:
    relay = FoxgloveRelay(
        RelayConfig(port=0), sources={s: SourceTopics.under(s) for s in SOURCES}, graph=SourceTopics.under("")
    )
    try:
        topics = sorted(
            [ch.topic() for lane in relay.lanes.values() for ch in vars(lane.channels).values() if hasattr(ch, "topic")]
            + [relay.graph_stats.topic(), relay.graph_bridge_stats.topic()]
        )
        assert topics == sorted([*_source_channels("cam1"), *_source_channels("cam2"), "/stats", "/bridge_stats"])
        for src, seqs in (("cam1", [0, 1, 2]), ("cam2", [33, 35])):  # cam2 skipped seq 34 upstream
            for seq in seqs:
                det, main = docs(seq, time.time_ns(), frame_id=source_frame_id(src))
                relay._record(main, det, schema.stamp_to_ns(main["stamp"]), relay.lanes[src])
        cam1, cam2, total = relay.stats_doc("cam1"), relay.stats_doc("cam2"), relay.stats_doc()
    finally:
        relay.close()
    for doc in (cam1, cam2, total):
        schema.validate(doc)
    assert (cam1["frames"], cam1["counters"]["seq_gaps"], cam1["frame_id"]) == (3, 0, "fake_cam_cam1")
    assert (cam2["frames"], cam2["counters"]["seq_gaps"], cam2["frame_id"]) == (2, 1, "fake_cam_cam2")
    assert (total["frames"], total["counters"]["seq_gaps"], total["frame_id"]) == (5, 1, None)  # no one camera's


@pytest.mark.unit
@pytest.mark.parametrize(("sources", "name"), list(SHIPPED.items()))
def test_shipped_layouts_are_the_generator_output(sources: tuple[str, ...], name: str) -> None:
    assert layout_json(sources) == (Path(__file__).parents[1] / "config" / name).read_text(), (
        f"regenerate: ros-detect foxglove-layout {'--sources ' + ' '.join(sources) if sources else ''} -o config/{name}"
    )
    assert shipped_layout(name) == layout(sources)


@pytest.mark.unit
@pytest.mark.parametrize("sources", [["cam1", "cam2"], ["cam1", "cam2", "door", "yard"]])
def test_layout_puts_every_camera_side_by_side(sources: list[str]) -> None:
    doc = layout(sources)
    ids = panel_ids(doc["layout"])
    assert sorted(ids) == sorted(doc["configById"]) and len(set(ids)) == len(ids)
    # Columns left to right in the order given, one per camera, of equal width.
    tree, widths = doc["layout"], []
    for _ in sources[:-1]:
        assert tree["direction"] == "row"
        widths.append(tree["splitPercentage"] / 100 * (1 - sum(widths)))
        tree = tree["second"]
    assert widths == pytest.approx([1 / len(sources)] * (len(sources) - 1), abs=1e-3)
    images = [doc["configById"][i]["imageMode"] for i in ids if i.startswith("Image!")]
    assert [m["imageTopic"] for m in images] == [f"/{s}/image" for s in sources]
    assert all(m["annotations"] == {m["imageTopic"].replace("image", "annotations"): {"visible": True}} for m in images)
    assert all(m["synchronize"] for m in images)  # otherwise the annotations run one frame ahead

    # Each camera's panels read only that camera's channels; every one has the untrained-weights indicator.
    by_source = defaultdict(list)
    for pid, _need, path in layout_uses(doc):
        by_source[path.split("/")[1]].append(pid)
    assert sorted(by_source) == sorted(sources)
    for src in sources:
        (indicator,) = [i for i in set(by_source[src]) if i.startswith("Indicator!")]
        cfg = doc["configById"][indicator]
        assert cfg["path"] == f"/{src}/main_person.weights" and cfg["rules"][0]["rawValue"] == RANDOM_INIT_LABEL
        assert cfg["foxglovePanelTitle"].startswith(src)

    # Every plotted path is a number in a real per-source bridge stats document.
    relay = FoxgloveRelay(RelayConfig(port=0), sources={s: SourceTopics.under(s) for s in sources})
    det, main = docs(3, time.time_ns())
    relay._record(main, det, schema.stamp_to_ns(main["stamp"]), relay.lanes[sources[0]])
    stats = relay.stats_doc(sources[0])
    relay.close()
    plotted = [path for _pid, need, path in layout_uses(doc) if need == "number"]
    assert len(plotted) >= 3 * len(sources)
    for path in plotted:
        topic, _, field = path.partition(".")
        assert topic.endswith("/bridge_stats") and isinstance(resolve(stats, field), (int, float)), path


@pytest.mark.unit
def test_layout_of_one_named_camera_is_the_single_layout_under_its_namespace() -> None:
    single, named = layout([]), layout(["cam1"])
    assert panel_ids(single["layout"]) == panel_ids(named["layout"])
    assert [p for _, _, p in layout_uses(named)] == [f"/cam1{p}" for _, _, p in layout_uses(single)]


# -- the real node, a real client ------------------------------------------------------------------------------
@pytest.mark.ros
def test_one_server_carries_every_source(tmp_path: Path) -> None:
    """foxglove_bridge with sources [cam1, cam2] fed by the stand-in pipeline in both namespaces: every channel
    of both sources is advertised, parsable by Lichtblick, read by the 2-camera layout, and carries that
    source's own data (its frame_id, its seq, its person in its frames), at the source's rate."""
    expected = [*_source_channels("cam1"), *_source_channels("cam2"), "/stats", "/bridge_stats"]
    with BridgeGraph(rate=RATE, duration=600, sources=SOURCES, log_dir=tmp_path) as g:
        client = FoxgloveTestClient.open(g.ws_url)
        try:
            client.wait_for_channels(expected, timeout=30)
            adverts = list(client.channels.values())
            client.subscribe(expected)
            client.wait_for_data("/cam2/annotations")

            def enough(recs: list) -> bool:
                counts = defaultdict(int)
                for r in recs:
                    counts[r.topic] += 1
                return all(counts[f"/{s}/main_person"] >= 20 and counts[f"/{s}/bridge_stats"] >= 3 for s in SOURCES)

            got = client.collect_until(enough, timeout=120)
            decoded = [(r, client.decode(r)) for r in got]
        finally:
            client.close()

    assert sorted(client.topics()) == sorted(expected)  # nothing else: no channel without its source
    channels, alerts = parse_advertisements(adverts)
    assert alerts == {}, "\n".join(alerts.values())
    assert_layout_resolves(channels, shipped_layout("foxglove_layout_2cams.json"))

    by_topic: dict[str, list] = defaultdict(list)
    for rec, doc in decoded:
        by_topic[rec.topic].append((rec, doc))
    for i, src in enumerate(SOURCES):
        frame_id = source_frame_id(src)
        mains = {rec.log_time: doc for rec, doc in by_topic[f"/{src}/main_person"]}
        assert len(mains) >= 20, f"{src}: only {len(mains)} main_person documents"
        seqs = sorted(doc["seq"] for doc in mains.values())
        assert len(seqs) >= 0.9 * (seqs[-1] - seqs[0] + 1), f"{src}: documents lost on the way: {seqs}"
        for doc in mains.values():
            schema.validate(doc)
            assert doc["frame_id"] == frame_id and doc["box"] == person_box(doc["seq"])
            assert doc["seq"] >= i * SOURCE_SEQ_OFFSET  # this source's seq, not the other one's
        for _rec, doc in by_topic[f"/{src}/detections"]:
            assert doc["frame_id"] == frame_id
        # Frames: this source's camera, its person exactly where its main_person document of that stamp says.
        paired = 0
        for rec, img in by_topic[f"/{src}/image"]:
            assert img.frame_id == frame_id and img.timestamp.ToNanoseconds() == rec.log_time
            if rec.log_time in mains:
                paired += 1
                pixels = cv2.imdecode(np.frombuffer(img.data, np.uint8), cv2.IMREAD_COLOR)
                x1, y1, x2, y2 = (int(v) for v in mains[rec.log_time]["box"])
                assert np.abs(pixels[(y1 + y2) // 2, (x1 + x2) // 2].astype(int) - PERSON_BGR).max() < 20
                assert np.abs(pixels[10, 10].astype(int) - BACKGROUND_BGR).max() < 20
        assert paired >= 5, f"{src}: {paired} frames paired with their result"
        # One annotation per result, the main person in green (the subscription may start between the two).
        annotations = by_topic[f"/{src}/annotations"]
        for _rec, ann in annotations:
            assert sum((p.outline_color.r, p.outline_color.g) == (0.0, 1.0) for p in ann.points) == 1
        assert sum(rec.log_time not in mains for rec, _ in annotations) <= 1
        # The source's own heartbeats, and the bridge's view of this source alone.
        assert {doc["node"] for _, doc in by_topic[f"/{src}/stats"]} == {f"/{src}/fake_main_person"}
        bridge = [doc for _, doc in by_topic[f"/{src}/bridge_stats"]]
        last = bridge[-1]
        schema.validate(last)
        pipeline_fps = [doc["fps"] for _, doc in by_topic[f"/{src}/stats"]][-1]
        assert last["frame_id"] == frame_id and last["fps"] == pytest.approx(pipeline_fps, rel=0.35)
        assert last["counters"]["seq_gaps"] == 0 and last["counters"]["doc_dropped"] == 0
    # The bridge's totals: both sources together.
    total = by_topic["/bridge_stats"][-1][1]
    per_source = sum(by_topic[f"/{s}/bridge_stats"][-1][1]["fps"] for s in SOURCES)
    assert total["frame_id"] is None and total["fps"] == pytest.approx(per_source, rel=0.35)
    assert "/foxglove_bridge" in {doc["node"] for _, doc in by_topic["/stats"]}
    assert "Traceback" not in (tmp_path / "bridge.log").read_text()


@pytest.mark.ros
@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["-p", "sources:=[/cam1]"], "error: sources must be relative ROS namespaces"),
        (["-p", "sources:=[cam1,cam1]"], "error: sources lists a namespace twice"),
        (["-p", "sources:=[cam1]", "-p", "image_topic:=/image"], "error: topic '/image' is not relative"),
        (["-p", "sources:=cam1"], "error: foxglove_bridge: parameter 'sources' has the wrong type"),
    ],
)
def test_bridge_refuses_bad_sources_with_problem_and_fix(params: list[str], message: str) -> None:
    cmd = [str(BIN / "foxglove_bridge"), "--ros-args", "-p", "port:=0", "-p", f"http_port:={free_port()}", *params]
    proc = subprocess.run(cmd, env=ros_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "fix: " in proc.stderr and "Traceback" not in proc.stderr
