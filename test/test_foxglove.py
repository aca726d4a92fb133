"""Foxglove bridge: pure payload/buffer logic, then the real node against a real Foxglove WebSocket client.

The graph is the real `foxglove_bridge` executable fed by test/helpers/fake_pipeline.py (a separate rclpy
process publishing image / detections / main_person / stats with deterministic content).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
from foxglove import messages as fm
from helpers.fake_pipeline import BACKGROUND_BGR, CHAIR_BOX, PERSON_BGR, docs, person_box
from helpers.foxglove_client import FoxgloveTestClient
from helpers.foxglove_graph import BridgeGraph, free_port

from ros_detect import schema
from ros_detect.errors import ConfigError
from ros_detect.foxglove.buffer import DropBuffer, RecentMap
from ros_detect.foxglove.channels import (
    MAIN_COLOR,
    OTHER_COLOR,
    compressed_image,
    encode_jpeg,
    image_annotations,
)
from ros_detect.foxglove.relay import FoxgloveRelay, RelayConfig

ALL_TOPICS = ["/image", "/annotations", "/detections", "/main_person", "/stats", "/bridge_stats"]
RATE = 10.0


# -- pure logic ------------------------------------------------------------------------------------------------
def test_drop_buffer_drops_oldest_and_counts_without_blocking() -> None:
    buf: DropBuffer[int] = DropBuffer(3)
    t0 = time.perf_counter()
    results = [buf.put(i) for i in range(1000)]
    assert time.perf_counter() - t0 < 0.5  # nobody reads, yet put() never waits
    assert results[:3] == [True, True, True] and not any(results[3:])
    assert buf.dropped == 997 and buf.accepted == 1000
    assert [buf.get(0), buf.get(0), buf.get(0)] == [997, 998, 999]
    assert buf.get(timeout=0.05) is None
    buf.close()
    assert buf.get(timeout=5) is None  # closed: returns at once


def test_drop_buffer_wakes_a_waiting_consumer() -> None:
    buf: DropBuffer[str] = DropBuffer(1)
    got: list[str | None] = []
    consumer = threading.Thread(target=lambda: got.append(buf.get(timeout=5)))
    consumer.start()
    time.sleep(0.05)
    buf.put("frame")
    consumer.join(timeout=2)
    assert got == ["frame"]


def test_recent_map_is_bounded() -> None:
    m: RecentMap[int] = RecentMap(2)
    for k in range(5):
        m.add(k, k * 10)
    assert len(m) == 2 and m.evicted == 3
    assert m.pop(0) is None and m.pop(4) == 40


def test_annotations_highlight_main_person_and_keep_the_frame_stamp() -> None:
    stamp = 1_700_000_000_123_456_789
    det, main = docs(7, stamp)
    msg = image_annotations(det, main)
    # foxglove.messages objects are write-only: read them back through their protobuf encoding
    decoded = FoxgloveTestClient("ws://unused")._decoder(_advert(fm.ImageAnnotations))(msg.encode())
    assert decoded.timestamp.ToNanoseconds() == stamp

    def color(p) -> tuple:
        return tuple(round(c, 3) for c in (p.outline_color.r, p.outline_color.g, p.outline_color.b))

    main_pts = next(p for p in decoded.points if color(p) == MAIN_COLOR[:3])
    other_pts = next(p for p in decoded.points if color(p) == OTHER_COLOR[:3])
    assert len(decoded.points) == 2  # the main person's own detection is not drawn twice
    assert main_pts.thickness > other_pts.thickness
    x1, y1, x2, y2 = person_box(7)
    assert [(p.x, p.y) for p in main_pts.points] == [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    assert (other_pts.points[0].x, other_pts.points[0].y) == (CHAIR_BOX[0], CHAIR_BOX[1])
    texts = sorted(t.text for t in decoded.texts)
    assert texts == ["chair 0.61", "main person 0.93 #1"]
    assert all(p.timestamp.ToNanoseconds() == stamp for p in decoded.points)


def test_annotations_without_a_main_person_and_without_detections() -> None:
    stamp = 5_000_000_001
    det, main = docs(0, stamp)
    main = {**main, "box": None, "present": False, "score": None, "track_id": None}
    client = FoxgloveTestClient("ws://unused")
    decode = client._decoder(_advert(fm.ImageAnnotations))
    only_others = decode(image_annotations(det, main).encode())
    assert len(only_others.points) == 2 and {t.text for t in only_others.texts} == {"person 0.93", "chair 0.61"}
    bare = decode(image_annotations(None, main).encode())
    assert len(bare.points) == 0 and bare.timestamp.ToNanoseconds() == stamp
    with pytest.raises(ValueError):
        image_annotations(None, None)


def _advert(cls: type) -> dict:
    import base64

    schema_ = cls.get_schema()
    return {"schemaName": schema_.name, "schema": base64.b64encode(schema_.data).decode(), "encoding": "protobuf"}


def test_compressed_image_round_trip() -> None:
    frame = np.full((240, 427, 3), BACKGROUND_BGR, np.uint8)
    msg = compressed_image(encode_jpeg(frame, 80), 3_000_000_007, "cam")
    decoded = FoxgloveTestClient("ws://unused")._decoder(_advert(fm.CompressedImage))(msg.encode())
    assert decoded.timestamp.ToNanoseconds() == 3_000_000_007 and decoded.format == "jpeg"
    pixels = cv2.imdecode(np.frombuffer(decoded.data, np.uint8), cv2.IMREAD_COLOR)
    assert pixels.shape == (240, 427, 3) and np.abs(pixels.astype(int) - BACKGROUND_BGR).max() < 8


@pytest.mark.parametrize(
    ("field", "value"), [("jpeg_quality", 0), ("jpeg_quality", 101), ("port", 70000), ("image_queue", 0)]
)
def test_bad_config_is_a_clear_error(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=field):
        RelayConfig(**{field: value}).check()


def test_busy_port_is_a_clear_error() -> None:
    first = FoxgloveRelay(RelayConfig(port=0)).start()
    try:
        with pytest.raises(ConfigError, match="port") as err:
            FoxgloveRelay(RelayConfig(port=first.port)).start()
        assert "pick another port" in err.value.fix
    finally:
        first.close()


def test_no_jpeg_encoding_without_a_subscriber() -> None:
    relay = FoxgloveRelay(RelayConfig(port=0)).start()
    try:
        frame = np.zeros((240, 427, 3), np.uint8)
        for i in range(5):
            relay.on_image(frame, i, "cam")
        time.sleep(0.2)
        counters = relay.stats_doc()["counters"]
        assert counters["skipped_no_subscriber"] == 5 and counters["jpeg_encoded"] == 0
    finally:
        relay.close()


# -- the real node, a real client ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    with BridgeGraph(rate=RATE, duration=60, log_dir=tmp_path_factory.mktemp("foxglove_graph")) as g:
        yield g


def _rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def test_protocol_channels_rates_timestamps_and_schemas(graph: BridgeGraph) -> None:
    client = FoxgloveTestClient.open(graph.ws_url)
    try:
        client.wait_for_channels(ALL_TOPICS)
        ads = {c["topic"]: c for c in client.channels.values()}
        assert ads["/image"]["schemaName"] == "foxglove.CompressedImage"
        assert ads["/annotations"]["schemaName"] == "foxglove.ImageAnnotations"
        for topic, sid in [
            ("/detections", schema.DETECTIONS_SCHEMA),
            ("/main_person", schema.MAIN_PERSON_SCHEMA),
            ("/stats", schema.STATS_SCHEMA),
            ("/bridge_stats", schema.STATS_SCHEMA),
        ]:
            assert ads[topic]["encoding"] == "json" and ads[topic]["schemaEncoding"] == "jsonschema"
            assert json.loads(ads[topic]["schema"]) == schema.json_schema(sid)
        client.subscribe(ALL_TOPICS)
        client.wait_for_data("/annotations")
        got = client.collect(4.0)
    finally:
        client.close()

    by_topic: dict[str, list] = defaultdict(list)
    for rec in got:
        by_topic[rec.topic].append(rec)
    # Every per-frame channel flows at the pipeline's rate.
    for topic in ("/image", "/annotations", "/detections", "/main_person"):
        recs = by_topic[topic]
        assert len(recs) >= 25, f"{topic}: only {len(recs)} messages in 4 s at {RATE} fps"
        assert _rate([r.received_at for r in recs]) == pytest.approx(RATE, rel=0.3), topic

    images = {}
    for rec in by_topic["/image"]:
        msg = client.decode(rec)
        stamp = msg.timestamp.ToNanoseconds()
        assert stamp == rec.log_time and msg.format == "jpeg" and msg.frame_id == "fake_cam"
        images[stamp] = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)

    mains = {}
    for rec in by_topic["/main_person"]:
        doc = client.decode(rec)
        schema.validate(doc)
        assert schema.stamp_to_ns(doc["stamp"]) == rec.log_time
        assert doc["box"] == person_box(doc["seq"])
        mains[rec.log_time] = doc
    for rec in by_topic["/detections"]:
        schema.validate(client.decode(rec))

    # Annotations trail their image (the main-person result comes later): one whose image arrived before
    # the collection window, or after it, has nothing to pair with here.
    first_image, last_image = min(images), max(images)
    matched = 0
    inside_window = 0
    for rec in by_topic["/annotations"]:
        ann = client.decode(rec)
        inside_window += first_image <= rec.log_time <= last_image
        stamp = ann.timestamp.ToNanoseconds()
        assert stamp == rec.log_time and stamp in mains
        green = [p for p in ann.points if (p.outline_color.r, p.outline_color.g) == (0.0, 1.0)]
        assert len(green) == 1
        box = mains[stamp]["box"]
        assert (green[0].points[0].x, green[0].points[0].y) == (box[0], box[1])
        if stamp in images:  # exact stamp match: the synchronised Image panel pairs them
            matched += 1
            frame = images[stamp]
            x1, y1, x2, y2 = (int(v) for v in box)
            inside = frame[(y1 + y2) // 2, (x1 + x2) // 2].astype(int)
            outside = frame[10, 10].astype(int)
            assert np.abs(inside - PERSON_BGR).max() < 20, "annotated box is not over the person in that frame"
            assert np.abs(outside - BACKGROUND_BGR).max() < 20
    assert matched == inside_window and matched >= 25

    stats = [client.decode(r) for r in by_topic["/stats"]]
    for doc in stats:
        schema.validate(doc)
    assert {"/fake_main_person", "/foxglove_bridge"} <= {d["node"] for d in stats}
    bridge = [client.decode(r) for r in by_topic["/bridge_stats"]]
    assert len(bridge) >= 3
    last = bridge[-1]
    schema.validate(last)
    assert last["fps"] == pytest.approx(RATE, rel=0.3)
    assert last["stage_ms"]["inference"] == 50.0
    assert last["latency_ms"]["capture_to_main_person"]["p50"] == 56.0
    assert 0 <= last["latency_ms"]["capture_to_view"]["p50"] < 500
    assert last["counters"]["jpeg_encoded"] >= 25 and last["dropped"] == 0


def test_page_server_serves_only_the_shipped_files(graph: BridgeGraph) -> None:
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(graph.page_url.rstrip("/") + path, timeout=5) as r:
                return r.status, r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as e:
            return e.code, "", b""

    status, ctype, body = get("/")
    assert status == 200 and ctype.startswith("text/html") and b'<canvas id="view"' in body
    status, ctype, body = get("/app.js")
    assert status == 200 and "javascript" in ctype and b"foxglove.sdk.v1" in body
    assert json.loads(get("/config.json")[2]) == {"ws_port": graph.ws_port}
    assert get("/../setup.py")[0] == 404 and get("/nothing")[0] == 404


# -- load: a client that stops reading ---------------------------------------------------------------------------
def test_stalled_client_does_not_slow_the_pipeline_or_other_clients(tmp_path: Path) -> None:
    """A client subscribes to everything and never reads. Big (noise) frames at 15 fps fill its socket within
    a second; the bridge must keep serving a healthy client at the pipeline's rate and stay bounded in memory.
    """
    rate = 15.0
    params = {"jpeg_quality": 95, "client_backlog": 16}  # ~100 kB frames: the stuck socket fills in ~3 s
    with BridgeGraph(rate=rate, duration=30, noise=True, bridge_params=params, log_dir=tmp_path) as g:
        bridge = psutil.Process(g.procs[0].pid)
        healthy = FoxgloveTestClient.open(g.ws_url)
        healthy.wait_for_channels(ALL_TOPICS)
        healthy.subscribe(["/image", "/main_person"])
        healthy.wait_for_data("/main_person")
        before = healthy.collect(3.0)
        rss_before = bridge.memory_info().rss

        stalled = FoxgloveTestClient.open(g.ws_url, rcvbuf=4096, max_queue=1)
        stalled.wait_for_channels(ALL_TOPICS)
        stalled.subscribe(ALL_TOPICS)  # ... and never reads again
        during = healthy.collect(6.0)
        rss_after = bridge.memory_info().rss
        healthy.close()
        g.procs[1].terminate()  # the fake pipeline prints what it published on SIGTERM
        g.procs[1].wait(timeout=20)
        late = stalled.collect(1.0)  # what the stuck client finally gets: the server dropped the rest
        stalled.close()
    pipeline = json.loads((tmp_path / "pipeline.log").read_text().strip().splitlines()[-1])
    seqs = [json.loads(r.payload)["seq"] for r in late if r.topic == "/main_person"]
    # The server dropped (oldest first) what the stuck client could not take, instead of queueing it all:
    # of the ~90 documents published while it stalled it got a bounded tail (gaps, or the older ones missing;
    # the first few after `before` may predate its subscription, hence the margin of 10).
    last_before = max(json.loads(r.payload)["seq"] for r in before if r.topic == "/main_person")
    missed = set(range(last_before + 1, seqs[-1] + 1)) - set(seqs) if seqs else set()
    assert seqs == [] or len(missed) > 10, f"stuck client got every document: {seqs} (after {last_before})"

    def per_second(recs: list, topic: str, seconds: float) -> float:
        return sum(r.topic == topic for r in recs) / seconds

    for topic in ("/image", "/main_person"):
        assert per_second(before, topic, 3.0) >= 0.8 * rate, topic
        assert per_second(during, topic, 6.0) >= 0.85 * per_second(before, topic, 3.0), topic
    # Frame-to-frame gaps at the healthy client stay regular while the other client is stuck.
    gaps = np.diff([r.received_at for r in during if r.topic == "/main_person"])
    assert statistics.median(gaps) < 2.0 / rate
    assert pipeline["fps"] >= 0.9 * rate, pipeline
    assert rss_after - rss_before < 64 * 2**20, "bridge memory grew while a client stalled"
    assert "Traceback" not in (tmp_path / "bridge.log").read_text()


def test_bridge_refuses_a_busy_port_with_problem_and_fix(tmp_path: Path) -> None:
    import socket
    import subprocess

    from helpers.foxglove_graph import BIN, ros_env

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [str(BIN / "foxglove_bridge"), "--ros-args", "-p", f"port:={port}", "-p", f"http_port:={free_port()}"],
            env=ros_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert "error: cannot start the Foxglove WebSocket server" in proc.stderr
    assert "fix: pick another port" in proc.stderr and "Traceback" not in proc.stderr


# -- the shipped Foxglove / Lichtblick layout -------------------------------------------------------------------
def _panels(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    assert isinstance(node, dict) and node["direction"] in ("row", "column") and 0 < node["splitPercentage"] < 100
    return _panels(node["first"]) + _panels(node["second"])


def _resolve(doc: dict, path: str) -> object:
    for part in path.split("."):
        doc = doc[part]
    return doc


def test_layout_points_at_the_bridge_channels() -> None:
    from ros_detect.foxglove.channels import (
        ANNOTATIONS_TOPIC,
        BRIDGE_STATS_TOPIC,
        IMAGE_TOPIC,
        MAIN_PERSON_TOPIC,
    )
    from ros_detect.paths import config_dir

    layout = json.loads((config_dir() / "foxglove_layout.json").read_text())
    assert set(layout) >= {"configById", "layout", "globalVariables", "userNodes", "playbackConfig"}
    ids = _panels(layout["layout"])
    assert sorted(ids) == sorted(layout["configById"])  # every panel placed has a config and vice versa
    kinds = {i.split("!")[0]: layout["configById"][i] for i in ids}
    image = kinds["Image"]["imageMode"]
    assert image["imageTopic"] == IMAGE_TOPIC and image["annotations"] == {ANNOTATIONS_TOPIC: {"visible": True}}
    assert image["synchronize"] is True  # otherwise the annotations run one frame ahead
    assert kinds["RawMessages"]["topicPath"] == MAIN_PERSON_TOPIC

    # Every plotted path exists in a real bridge stats document and is a number there.
    relay = FoxgloveRelay(RelayConfig(port=0))
    det, main = docs(3, time.time_ns())
    relay._record(main, det, schema.stamp_to_ns(main["stamp"]))
    stats = relay.stats_doc()
    relay.channels.close()
    plotted = [p["value"] for i in ids if i.startswith("Plot!") for p in layout["configById"][i]["paths"]]
    assert len(plotted) >= 4
    for path in plotted:
        topic, _, field = path.partition(".")
        assert topic == BRIDGE_STATS_TOPIC
        assert isinstance(_resolve(stats, field), (int, float)), path
    assert {"fps", "latency_ms.capture_to_main_person.p50"} <= {p.partition(".")[2] for p in plotted}


def test_page_server_busy_port_is_a_clear_error() -> None:
    from ros_detect.foxglove.web import WebPageServer

    first = WebPageServer("127.0.0.1", 0, ws_port=8765)
    try:
        with pytest.raises(ConfigError, match="web page") as err:
            WebPageServer("127.0.0.1", first.port, ws_port=8765)
        assert "http_port" in err.value.fix
    finally:
        first.close()


def test_relay_drops_and_counts_frames_the_encoder_cannot_take() -> None:
    """A burst faster than JPEG encoding: on_image returns at once, surplus frames are dropped and counted."""
    relay = FoxgloveRelay(RelayConfig(port=0, image_queue=2)).start()
    client = FoxgloveTestClient.open(f"ws://127.0.0.1:{relay.port}")
    try:
        client.wait_for_channels(["/image"])
        client.subscribe(["/image"])
        deadline = time.monotonic() + 5
        while not relay.channels.image.has_sinks() and time.monotonic() < deadline:
            time.sleep(0.01)
        frame = np.random.default_rng(0).integers(0, 256, (240, 427, 3), dtype=np.uint8)
        t0 = time.perf_counter()
        for i in range(200):
            relay.on_image(frame, 1_000 + i, "cam")
        burst_s = time.perf_counter() - t0
        received = client.collect(1.0)
        doc = relay.stats_doc()
    finally:
        client.close()
        relay.close()
    encoded, dropped = doc["counters"]["jpeg_encoded"], doc["counters"]["image_dropped"]
    assert burst_s < 0.2, f"200 on_image calls took {burst_s:.3f} s: the producer waited"
    assert dropped > 0 and doc["dropped"] >= dropped
    assert encoded + dropped == 200 and len(received) == encoded
    assert received[-1].log_time == 1_000 + 199  # the newest frame always gets through
