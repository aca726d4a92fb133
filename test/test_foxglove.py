"""Foxglove bridge: pure payload/buffer logic, then the real node against a real Foxglove WebSocket client.

The graph is the real `foxglove_bridge` executable fed by test/helpers/fake_pipeline.py (a separate rclpy
process publishing image / detections / main_person / stats with deterministic content).
"""

from __future__ import annotations

import json
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
from helpers.foxglove_layout import assert_layout_resolves, panel_ids, resolve, shipped_layout
from helpers.lichtblick_schema import (
    ParsedChannel,
    SchemaRejectedError,
    parse_advertisements,
    parse_json_schema,
    resolve_path,
)
from helpers.wait import wait_until

from ros_detect import schema
from ros_detect.detection.weights import RANDOM_INIT_LABEL, UNTRAINED_BANNER
from ros_detect.dropqueue import DropQueue
from ros_detect.errors import ConfigError
from ros_detect.foxglove.buffer import RecentMap
from ros_detect.foxglove.channels import (
    MAIN_COLOR,
    OTHER_COLOR,
    WARNING_BG,
    compressed_image,
    encode_jpeg,
    image_annotations,
)
from ros_detect.foxglove.relay import FoxgloveRelay, RelayConfig
from ros_detect.foxglove.viewer_schema import viewer_schema

ALL_TOPICS = ["/image", "/annotations", "/detections", "/main_person", "/stats", "/bridge_stats"]
RATE = 10.0


# -- pure logic ------------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_drop_buffer_drops_oldest_and_counts_without_blocking() -> None:
    buf: DropQueue[int] = DropQueue(3)
    t0 = time.perf_counter()
    results = [buf.put(i) for i in range(1000)]
    assert time.perf_counter() - t0 < 0.5  # nobody reads, yet put() never waits
    assert results[:3] == [True, True, True] and not any(results[3:])
    assert buf.dropped == 997 and buf.accepted == 1000
    assert [buf.get(0), buf.get(0), buf.get(0)] == [997, 998, 999]
    assert buf.get(timeout=0.05) is None
    buf.close()
    assert buf.get(timeout=5) is None  # closed: returns at once


@pytest.mark.unit
def test_drop_buffer_wakes_a_waiting_consumer() -> None:
    buf: DropQueue[str] = DropQueue(1)
    got: list[str | None] = []
    consumer = threading.Thread(target=lambda: got.append(buf.get(timeout=5)))
    consumer.start()
    time.sleep(0.05)
    buf.put("frame")
    consumer.join(timeout=2)
    assert got == ["frame"]


@pytest.mark.unit
def test_recent_map_is_bounded() -> None:
    m: RecentMap[int] = RecentMap(2)
    for k in range(5):
        m.add(k, k * 10)
    assert len(m) == 2 and m.evicted == 3
    assert m.pop(0) is None and m.pop(4) == 40


@pytest.mark.unit
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
    assert texts == sorted(["chair 0.61", "main person 0.93 #1", UNTRAINED_BANNER])  # fake docs: random-init
    assert all(p.timestamp.ToNanoseconds() == stamp for p in decoded.points)
    banner = next(t for t in decoded.texts if t.text == UNTRAINED_BANNER)
    bg = banner.background_color
    assert (round(bg.r, 3), round(bg.g, 3), round(bg.b, 3)) == WARNING_BG[:3] and bg.r > 0.5 > bg.g
    assert banner.position.x < 10 and banner.position.y < 20  # top left, over the image


@pytest.mark.unit
def test_annotations_banner_only_for_untrained_weights() -> None:
    det, main = docs(2, 9_000_000_000)
    decode = FoxgloveTestClient("ws://unused")._decoder(_advert(fm.ImageAnnotations))

    def banners(d: dict | None, m: dict | None) -> int:
        return sum(t.text == UNTRAINED_BANNER for t in decode(image_annotations(d, m).encode()).texts)

    trained = "pretrained (COCO_V1)"
    assert banners(det, main) == 1
    assert banners({**det, "weights": trained}, {**main, "weights": trained}) == 0
    old_main = {k: v for k, v in main.items() if k != "weights"}  # a recording from before the field existed
    assert banners(det, old_main) == 1 and banners({**det, "weights": trained}, old_main) == 0
    assert banners(None, {**main, "weights": RANDOM_INIT_LABEL}) == 1


@pytest.mark.unit
def test_annotations_without_a_main_person_and_without_detections() -> None:
    stamp = 5_000_000_001
    det, main = docs(0, stamp)
    main = {**main, "box": None, "present": False, "score": None, "track_id": None}
    client = FoxgloveTestClient("ws://unused")
    decode = client._decoder(_advert(fm.ImageAnnotations))
    only_others = decode(image_annotations(det, main).encode())
    assert len(only_others.points) == 2
    assert {t.text for t in only_others.texts} == {"person 0.93", "chair 0.61", UNTRAINED_BANNER}
    bare = decode(image_annotations(None, main).encode())
    assert len(bare.points) == 0 and bare.timestamp.ToNanoseconds() == stamp
    assert [t.text for t in bare.texts] == [UNTRAINED_BANNER]
    with pytest.raises(ValueError):
        image_annotations(None, None)


def _advert(cls: type) -> dict:
    import base64

    schema_ = cls.get_schema()
    return {"schemaName": schema_.name, "schema": base64.b64encode(schema_.data).decode(), "encoding": "protobuf"}


@pytest.mark.unit
def test_compressed_image_round_trip() -> None:
    frame = np.full((240, 427, 3), BACKGROUND_BGR, np.uint8)
    msg = compressed_image(encode_jpeg(frame, 80), 3_000_000_007, "cam")
    decoded = FoxgloveTestClient("ws://unused")._decoder(_advert(fm.CompressedImage))(msg.encode())
    assert decoded.timestamp.ToNanoseconds() == 3_000_000_007 and decoded.format == "jpeg"
    pixels = cv2.imdecode(np.frombuffer(decoded.data, np.uint8), cv2.IMREAD_COLOR)
    assert pixels.shape == (240, 427, 3) and np.abs(pixels.astype(int) - BACKGROUND_BGR).max() < 8


@pytest.mark.unit
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
            FoxgloveRelay(RelayConfig(port=first.port, port_fallback=False)).start()
        assert "pick another port" in err.value.fix
    finally:
        first.close()


def test_busy_ports_move_to_the_next_free_ones_with_fallback() -> None:
    """A second graph with the same defaults: its WebSocket server and page take the next free ports and say
    which port they were asked for; both serve."""
    from ros_detect.foxglove.web import WebPageServer

    first = FoxgloveRelay(RelayConfig(port=0)).start()
    second = page = None
    try:
        second = FoxgloveRelay(RelayConfig(port=first.port)).start()
        assert second.port > first.port and second.asked_port == first.port
        client = FoxgloveTestClient.open(second.url)
        client.wait_for_channels(["/image"])
        client.close()
        page = WebPageServer("127.0.0.1", first.port, ws_port=second.port, fallback=True)  # first.port is taken
        assert page.port not in (first.port, second.port) and page.asked_port == first.port
    finally:
        for server in (page, second, first):
            if server is not None:
                server.close()


def test_no_jpeg_encoding_without_a_subscriber() -> None:
    relay = FoxgloveRelay(RelayConfig(port=0)).start()
    try:
        frame = np.zeros((240, 427, 3), np.uint8)
        for i in range(5):
            relay.on_image(frame, i, "cam")  # counted at once: nothing is queued for the encoder
        counters = relay.stats_doc()["counters"]
        assert counters["skipped_no_subscriber"] == 5 and counters["jpeg_encoded"] == 0
    finally:
        relay.close()


# -- the real node, a real client ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    with BridgeGraph(rate=RATE, duration=600, log_dir=tmp_path_factory.mktemp("foxglove_graph")) as g:
        yield g


def _count(recs: list, topic: str) -> int:
    return sum(r.topic == topic for r in recs)


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
            assert json.loads(ads[topic]["schema"]) == viewer_schema(schema.json_schema(sid))
        client.subscribe(ALL_TOPICS)
        client.wait_for_data("/annotations")
        got = client.collect_until(
            lambda recs: _count(recs, "/main_person") >= 30 and _count(recs, "/bridge_stats") >= 3
        )
    finally:
        client.close()

    by_topic: dict[str, list] = defaultdict(list)
    for rec in got:
        by_topic[rec.topic].append(rec)
    # Every per-frame channel flows with the pipeline: no result lost on the way, one annotation per result,
    # and frames (the JPEG encoder keeps only the latest when it falls behind, counted in image_dropped).
    n_main = len(by_topic["/main_person"])
    assert n_main >= 30, f"only {n_main} main_person documents arrived"
    for topic in ("/detections", "/main_person"):
        seqs = sorted(json.loads(r.payload)["seq"] for r in by_topic[topic])
        assert len(seqs) >= 0.9 * (seqs[-1] - seqs[0] + 1), f"{topic}: documents lost on the way: {seqs}"
    assert abs(len(by_topic["/annotations"]) - n_main) <= 2
    assert len(by_topic["/image"]) >= 0.5 * n_main

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
    # Most annotations find their frame by exact stamp. Not all need to: the bridge takes frames best effort
    # from ROS and its encoder keeps only the latest, so a loaded machine loses some frames (never results).
    assert matched >= 0.5 * inside_window and matched >= 10, (matched, inside_window)

    stats = [client.decode(r) for r in by_topic["/stats"]]
    for doc in stats:
        schema.validate(doc)
    assert {"/fake_main_person", "/foxglove_bridge"} <= {d["node"] for d in stats}
    bridge = [client.decode(r) for r in by_topic["/bridge_stats"]]
    assert len(bridge) >= 3
    last = bridge[-1]
    schema.validate(last)
    # The bridge measures the same stream the pipeline reports (not a fixed speed: the machine may be loaded).
    pipeline_fps = [d["fps"] for d in stats if d["node"] == "/fake_main_person"][-1]
    assert last["fps"] > 0 and last["fps"] == pytest.approx(pipeline_fps, rel=0.35), (last["fps"], pipeline_fps)
    assert last["stage_ms"]["inference"] == 50.0
    assert last["latency_ms"]["capture_to_main_person"]["p50"] == 56.0
    assert 0 <= last["latency_ms"]["capture_to_view"]["p50"] < 1000  # a bridge that queued would grow without bound
    counters = last["counters"]
    assert counters["jpeg_encoded"] > 0 and counters["doc_dropped"] == 0 and counters["seq_gaps"] == 0
    assert last["dropped"] == counters["image_dropped"] + counters["doc_dropped"]


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
def _seqs(recs: list) -> list[int]:
    return [json.loads(r.payload)["seq"] for r in recs if r.topic == "/main_person"]


def test_stalled_client_does_not_slow_the_pipeline_or_other_clients(tmp_path: Path) -> None:
    """A client subscribes to everything and never reads. Big (noise) frames fill its socket; once the server
    has had to drop messages for it (the SDK logs "outbox for client ADDR full"), the bridge must still serve a
    healthy client everything, take every document from ROS, and stay bounded in memory.

    Every wait is on a condition, not on time: how fast the stuck socket fills depends on the machine's load.
    """
    params = {"jpeg_quality": 95, "client_backlog": 16}  # ~100 kB frames, a short per-client queue
    with BridgeGraph(rate=15.0, duration=600, noise=True, bridge_params=params, log_dir=tmp_path) as g:
        bridge_log = tmp_path / "bridge.log"
        bridge = psutil.Process(g.procs[0].pid)
        healthy = FoxgloveTestClient.open(g.ws_url)
        healthy.wait_for_channels(ALL_TOPICS)
        healthy.subscribe(["/image", "/main_person", "/bridge_stats"])
        healthy.wait_for_data("/main_person")
        before = healthy.collect_until(lambda recs: _count(recs, "/main_person") >= 10)
        rss_before = bridge.memory_info().rss

        stalled = FoxgloveTestClient.open(g.ws_url, rcvbuf=4096, max_queue=1)
        stalled.wait_for_channels(ALL_TOPICS)
        stalled.subscribe(ALL_TOPICS)  # ... and never reads again
        dropped_line = f"outbox for client 127.0.0.1:{stalled.ws.socket.getsockname()[1]} full"

        # The healthy client keeps reading until the server dropped for the stalled one...
        during = healthy.collect_until(lambda _recs: dropped_line in bridge_log.read_text(), timeout=120)
        assert dropped_line in bridge_log.read_text(), "the stalled client's outbox never filled"
        # ... and then while it stays stuck: enough results and frames to judge.
        stuck = healthy.collect_until(
            lambda recs: _count(recs, "/main_person") >= 30 and _count(recs, "/image") >= 10
            and _count(recs, "/bridge_stats") >= 2,
            timeout=120,
        )  # fmt: skip
        rss_after = bridge.memory_info().rss
        healthy.close()
        g.procs[1].terminate()  # the fake pipeline prints what it published on SIGTERM
        g.procs[1].wait(timeout=20)
        published = json.loads((tmp_path / "pipeline.log").read_text().strip().splitlines()[-1])["published"]
        # What the stuck client finally gets once it reads again, up to the newest results (the server drops
        # oldest first, so those are kept): a bounded tail, the rest was dropped.
        late = stalled.collect_until(lambda recs: max(_seqs(recs), default=-1) >= published - 3, timeout=60)
        stalled.close()

    # The stuck client was not sent everything published while it stalled: the server dropped, oldest first.
    seqs, last_before = _seqs(late), max(_seqs(before))
    missed = set(range(last_before + 1, seqs[-1] + 1)) - set(seqs) if seqs else set()
    assert seqs == [] or len(missed) > 10, f"stuck client got every document: {seqs} (after {last_before})"

    # The healthy client, meanwhile, got (nearly) every result and kept getting frames.
    got = sorted(set(_seqs(stuck)))
    assert len(got) >= 30 and _count(stuck, "/image") >= 10, f"{len(got)} results, {_count(stuck, '/image')} frames"
    assert len(got) >= 0.8 * (got[-1] - got[0] + 1), f"healthy client lost results while the other stalled: {got}"
    # The bridge's ROS side took every document the pipeline published (its callbacks only queue).
    stats = [json.loads(r.payload) for r in [*during, *stuck] if r.topic == "/bridge_stats"]
    assert stats[-1]["counters"]["seq_gaps"] == stats[0]["counters"]["seq_gaps"], "results lost before the bridge"
    assert stats[-1]["counters"]["doc_dropped"] == 0
    assert rss_after - rss_before < 64 * 2**20, "bridge memory grew while a client stalled"
    assert "Traceback" not in bridge_log.read_text()


def test_bridge_refuses_a_busy_port_with_problem_and_fix(tmp_path: Path) -> None:
    import socket
    import subprocess

    from helpers.foxglove_graph import BIN, ros_env

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        params = [f"port:={port}", f"http_port:={free_port()}", "port_fallback:=false"]
        proc = subprocess.run(
            [str(BIN / "foxglove_bridge"), "--ros-args", *(a for p in params for a in ("-p", p))],
            env=ros_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert "error: cannot start the Foxglove WebSocket server" in proc.stderr
    assert "fix: pick another port" in proc.stderr and "Traceback" not in proc.stderr


# -- the shipped Foxglove / Lichtblick layout, and what the apps make of the channels ----------------------------
@pytest.mark.unit
def test_layout_points_at_the_bridge_channels() -> None:
    from ros_detect.foxglove.topics import (
        ANNOTATIONS_TOPIC,
        BRIDGE_STATS_TOPIC,
        IMAGE_TOPIC,
        MAIN_PERSON_TOPIC,
    )

    layout = shipped_layout()
    assert set(layout) >= {"configById", "layout", "globalVariables", "userNodes", "playbackConfig"}
    ids = panel_ids(layout["layout"])
    assert sorted(ids) == sorted(layout["configById"])  # every panel placed has a config and vice versa
    kinds = {i.split("!")[0]: layout["configById"][i] for i in ids}
    image = kinds["Image"]["imageMode"]
    assert image["imageTopic"] == IMAGE_TOPIC and image["annotations"] == {ANNOTATIONS_TOPIC: {"visible": True}}
    assert image["synchronize"] is True  # otherwise the annotations run one frame ahead
    assert kinds["RawMessages"]["topicPath"] == MAIN_PERSON_TOPIC

    # The weights indicator turns red on exactly the label untrained documents carry.
    indicator = kinds["Indicator"]
    assert indicator["path"] == f"{MAIN_PERSON_TOPIC}.weights"
    (rule,) = indicator["rules"]
    assert (rule["operator"], rule["rawValue"]) == ("=", RANDOM_INIT_LABEL) and "UNTRAINED" in rule["label"]
    assert rule["color"].lower().startswith("#d0") or rule["color"].lower().startswith("#f")

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
        assert isinstance(resolve(stats, field), (int, float)), path
    assert {"fps", "latency_ms.capture_to_main_person.p50"} <= {p.partition(".")[2] for p in plotted}


@pytest.mark.unit
def test_lichtblick_parser_port_follows_upstream_cases() -> None:
    """The cases of upstream parseJsonSchema.test.ts (plus the constructs our canonical schemas use)."""

    def parse(props: dict | None = None, **root: object) -> dict:
        return parse_json_schema({"type": "object", "properties": props or {}, **root}, "X")

    for bad, message in [
        ({}, 'Expected "type": "object" for schema X, got undefined'),
        ({"type": 3}, 'Expected "type": "object"'),
        ({"type": "string"}, 'Expected "type": "object"'),
    ]:
        with pytest.raises(SchemaRejectedError, match=message):
            parse_json_schema(bad, "X")
    for props, message in [
        ({"x": {"type": "null"}}, 'Unsupported type "null" for x'),
        ({"x": {"type": "string", "contentEncoding": "X"}}, 'Unsupported contentEncoding "X"'),
        ({"x": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}}}, "for array item"),
        ({"x": {"const": "a"}}, "Unsupported type undefined for x"),
        ({"x": {"enum": ["a", "b"]}}, "Unsupported type undefined for x"),
        ({"x": {"type": ["number", "null"]}}, 'Unsupported type \\["number","null"\\] for x'),
        ({"x": {"$ref": "#/$defs/y"}}, "Unsupported type undefined for x"),
        ({"x": {"oneOf": [{"type": "null"}, {"type": "number"}]}}, "oneOf alternatives must have number values"),
        ({"x": {"type": "object", "properties": {"y": {"const": 1}}}}, "Unsupported type undefined for x.y"),
        (
            {"x": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
            'Unsupported type "array" for array item x',
        ),
    ]:
        with pytest.raises(SchemaRejectedError, match=message):
            parse(props)
    types = parse(
        {
            "str": {"type": "string"},
            "bin": {"type": "string", "contentEncoding": "base64"},
            "num": {"type": "number"},
            "int": {"type": "integer"},
            "uint": {"type": "integer", "minimum": 0},
            "uint2": {"type": "integer", "exclusiveMinimum": 0},
            "bool": {"type": "boolean"},
            "obj": {"type": "object", "properties": {"a": {"type": "number"}}},
            "arr": {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "boolean"}}}},
        }
    )
    assert [(f.name, f.type, f.is_array) for f in types["X"]] == [
        ("str", "string", False),
        ("bin", "uint8", True),
        ("num", "float64", False),
        ("int", "int32", False),
        ("uint", "uint32", False),
        ("uint2", "uint32", False),
        ("bool", "bool", False),
        ("obj", "X.obj", False),
        ("arr", "X.arr", True),
    ]
    assert [f.name for f in types["X.obj"]] == ["a"] and [f.type for f in types["X.arr"]] == ["bool"]
    enum = parse({"level": {"oneOf": [{"title": "A", "const": 1}, {"title": "B", "const": 2}]}})["X"]
    assert [(f.name, f.is_constant, f.value) for f in enum] == [("A", True, 1), ("B", True, 2), ("level", False, None)]
    assert parse_json_schema({"type": "object"}, "Any") == {"Any": []}  # an 'any object' schema


@pytest.mark.unit
@pytest.mark.parametrize("sid", [schema.DETECTIONS_SCHEMA, schema.MAIN_PERSON_SCHEMA, schema.STATS_SCHEMA])
def test_viewer_schema_is_parsable_and_describes_every_field_of_the_documents(sid: str) -> None:
    canonical = schema.json_schema(sid)
    # The canonical schemas themselves are what the apps reject (hence the conversion).
    with pytest.raises(SchemaRejectedError, match="Unsupported type undefined for schema"):
        parse_json_schema(canonical, canonical["title"])
    viewer = viewer_schema(canonical)
    assert viewer["title"] == canonical["title"] and schema.json_schema(sid) == canonical  # input untouched
    channels = {"/t": ParsedChannel("/t", viewer["title"], "json", parse_json_schema(viewer, viewer["title"]))}

    det, main = docs(4, 1_700_000_000_000_000_000)
    relay = FoxgloveRelay(RelayConfig(port=0))
    relay._record(main, det, schema.stamp_to_ns(main["stamp"]))
    example = {schema.DETECTIONS_SCHEMA: det, schema.MAIN_PERSON_SCHEMA: main, schema.STATS_SCHEMA: relay.stats_doc()}
    relay.channels.close()
    doc = example[sid]
    schema.validate(doc)

    def leaves(value: object, prefix: str) -> list[str]:
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in leaves(v, f"{prefix}.{k}")]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return leaves(value[0], f"{prefix}[0]")
        return [prefix]

    for path in leaves(doc, "/t"):
        resolve_path(channels, path)  # KeyError names a document field the viewers would not know


@pytest.mark.ros
def test_lichtblick_can_use_every_advertised_channel_and_every_layout_path(graph: BridgeGraph) -> None:
    """What Lichtblick / Foxglove Studio do with the running bridge's advertisements, checked with a port of
    their schema parser: no channel dropped, and every topic and message path of the shipped layout resolves."""
    client = FoxgloveTestClient.open(graph.ws_url)
    try:
        client.wait_for_channels(ALL_TOPICS)
        adverts = list(client.channels.values())
    finally:
        client.close()
    channels, alerts = parse_advertisements(adverts)
    assert alerts == {}, "\n".join(alerts.values())
    assert sorted(channels) == sorted(ALL_TOPICS)

    assert_layout_resolves(channels, shipped_layout())


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
        assert wait_until(relay.channels.image.has_sinks, 10)
        frame = np.random.default_rng(0).integers(0, 256, (240, 427, 3), dtype=np.uint8)
        for i in range(200):
            relay.on_image(frame, 1_000 + i, "cam")
        # The newest frame is encoded last: once it arrived, every frame was either sent or dropped.
        received = client.collect_until(lambda recs: any(r.log_time == 1_199 for r in recs), timeout=60)

        def settled() -> dict | None:
            doc = relay.stats_doc()
            return doc if doc["counters"]["jpeg_encoded"] + doc["counters"]["image_dropped"] == 200 else None

        doc = wait_until(settled, 10) or relay.stats_doc()
    finally:
        client.close()
        relay.close()
    encoded, dropped = doc["counters"]["jpeg_encoded"], doc["counters"]["image_dropped"]
    # A producer that waited for the encoder would have dropped nothing: the burst outran the encoder.
    assert dropped > 0 and doc["dropped"] >= dropped
    assert encoded + dropped == 200 and len(received) == encoded
    assert received[-1].log_time == 1_000 + 199  # the newest frame always gets through
