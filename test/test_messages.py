"""Typed messages <-> JSON documents: lossless both ways, and the typed topics across real processes."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from helpers.ros import ros_env

from ros_detect import schema

pytest.importorskip("ros_detect_interfaces", reason="ros_detect_interfaces not built (scripts/build_interfaces.sh)")
from rclpy.serialization import deserialize_message, serialize_message
from ros_detect_interfaces.msg import Detections, MainPerson

from ros_detect.nodes import messages

SEEDS = range(40)


def _box(rng: random.Random) -> list[float]:
    x1, y1 = rng.uniform(0, 400), rng.uniform(0, 220)
    return [x1, y1, x1 + rng.uniform(0, 27), y1 + rng.uniform(0, 20)]


def _maybe(rng: random.Random, value: Any) -> Any:
    return value if rng.random() < 0.6 else None


def generated_detections(seed: int) -> dict[str, Any]:
    """A detections@1 document with 0..5 detections, any stage set, live (media_time_s null) or not."""
    rng = random.Random(seed)
    return schema.detections_doc(
        seq=rng.randrange(0, 2**40),
        stamp_ns=rng.randrange(0, 2**31 * schema.NS_PER_S),
        frame_id=rng.choice(["walk", "cam1", "", "vidéo"]),
        image_size=(rng.randint(1, 1920), rng.randint(1, 1080)),
        model="fasterrcnn_mobilenet_v3_large_320_fpn",
        precision=rng.choice(["fp32", "int8-ov"]),
        weights=rng.choice(["pretrained", "random-init (NOT A REAL RESULT)"]),
        detections=[
            schema.Detection(tuple(_box(rng)), rng.random(), rng.randint(0, 90), rng.choice(["person", "dog"]))
            for _ in range(rng.randint(0, 5))
        ],
        timing_ms={k: rng.uniform(0, 5000) for k in rng.sample(["decode", "preprocess", "inference", "wait"], 3)},
        media_time_s=_maybe(rng, rng.uniform(0, 3600)),
    )


def generated_main_person(seed: int) -> dict[str, Any]:
    """A main_person@1 document: present or not, each nullable field null or not."""
    rng = random.Random(seed)
    present = rng.random() < 0.7
    return schema.main_person_doc(
        seq=rng.randrange(0, 2**40),
        stamp=schema.stamp_from_ns(rng.randrange(0, 2**31 * schema.NS_PER_S)),
        frame_id=rng.choice(["walk", "cam1", ""]),
        image_size=(427, 240),
        weights=rng.choice(["pretrained", "random-init (NOT A REAL RESULT)"]),
        box=_box(rng) if present else None,
        score=rng.random() if present else None,
        track_id=_maybe(rng, rng.randint(0, 10_000)),
        held=rng.random() < 0.3,
        latency_ms=_maybe(rng, {"capture_to_main_person": rng.uniform(0, 900)}),
        media_time_s=_maybe(rng, rng.uniform(0, 3600)),
    )


def _wire(msg: Any) -> Any:
    """`msg` after a trip through its CDR encoding (float32 fields rounded as a receiver sees them)."""
    return deserialize_message(serialize_message(msg), type(msg))


def _same_msg(a: Any, b: Any) -> bool:
    """Field-by-field equality where NaN equals NaN (the representation of a JSON null). Not the CDR bytes:
    their alignment padding is not guaranteed to be zeroed."""
    if hasattr(a, "get_fields_and_field_types"):
        return type(a) is type(b) and all(
            _same_msg(getattr(a, f), getattr(b, f)) for f in a.get_fields_and_field_types()
        )
    if isinstance(a, str) or not hasattr(a, "__len__"):
        return a == b or (a != a and b != b)
    return len(a) == len(b) and all(_same_msg(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.unit
@pytest.mark.parametrize("seed", SEEDS)
def test_json_to_typed_to_json_is_identical(seed: int) -> None:
    for doc, to_msg in (
        (generated_detections(seed), messages.detections_msg),
        (generated_main_person(seed), messages.main_person_msg),
    ):
        schema.validate(doc)
        back = messages.to_doc(to_msg(doc))
        assert schema.dumps(back) == schema.dumps(doc)  # same values, same key order, same rounding


@pytest.mark.unit
@pytest.mark.parametrize("seed", SEEDS)
def test_typed_to_json_to_typed_is_identical(seed: int) -> None:
    # messages as a subscriber holds them: float32 fields as they come off the wire
    det = _wire(messages.detections_msg(generated_detections(seed)))
    assert _same_msg(_wire(messages.detections_msg(messages.detections_doc(det))), det)
    main = _wire(messages.main_person_msg(generated_main_person(seed)))
    assert _same_msg(_wire(messages.main_person_msg(messages.main_person_doc(main))), main)


@pytest.mark.unit
def test_json_nulls_have_typed_representations() -> None:
    rng_doc = generated_main_person(0)
    doc = {**rng_doc, "present": False, "box": None, "score": None, "track_id": None, "latency_ms": None}
    doc["media_time_s"] = None
    msg = messages.main_person_msg(doc)
    assert not msg.present and all(math.isnan(v) for v in msg.box) and math.isnan(msg.score)
    assert msg.track_id == MainPerson.NO_TRACK and not msg.has_latency and math.isnan(msg.media_time_s)
    assert messages.main_person_doc(msg) == doc
    empty = {**generated_detections(1), "detections": [], "timing_ms": {}}
    assert messages.to_doc(messages.detections_msg(empty)) == empty


@pytest.mark.unit
def test_schema_ids_match_the_json_schemas() -> None:
    assert Detections.SCHEMA_ID == schema.DETECTIONS_SCHEMA
    assert MainPerson.SCHEMA_ID == schema.MAIN_PERSON_SCHEMA


@pytest.mark.unit
def test_rosbags_decodes_the_typed_messages_like_rclpy() -> None:
    """Bags hold these types: rosbags (registered from the installed .msg files) reads rclpy's CDR."""
    from ros_detect.graph.bag import interface_definitions, typestore

    assert {"ros_detect_interfaces/msg/Detections", "ros_detect_interfaces/msg/MainPerson"} <= set(
        interface_definitions()
    )
    doc = generated_detections(5)
    decoded = typestore().deserialize_cdr(
        serialize_message(messages.detections_msg(doc)), "ros_detect_interfaces/msg/Detections"
    )
    assert decoded.header.frame_id == doc["frame_id"] and decoded.model == doc["model"]
    assert [d.label for d in decoded.detections] == [d["label"] for d in doc["detections"]]
    assert [t.name for t in decoded.timing_ms] == list(doc["timing_ms"])


RECEIVER = textwrap.dedent(
    """
    import json, operator, sys, rclpy
    from rclpy.qos import QoSProfile, DurabilityPolicy
    from ros_detect_interfaces.msg import MainPerson
    from ros_detect.nodes.messages import main_person_doc
    rclpy.init()
    node = rclpy.create_node("receiver")
    qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    def on_msg(msg):
        # what `ros2 topic echo /main_person --field header.frame_id` reads: an attribute path
        fields = {path: operator.attrgetter(path)(msg) for path in ("header.frame_id", "track_id", "weights")}
        print(json.dumps({"doc": main_person_doc(msg), "fields": fields}), flush=True)
        raise SystemExit(0)
    node.create_subscription(MainPerson, "main_person", on_msg, qos)
    print("ready", flush=True)
    rclpy.spin(node)
    """
)


@pytest.mark.ros
def test_main_person_crosses_processes_typed() -> None:
    """A MainPerson published in this process arrives intact in another one (real rclpy, FastDDS)."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile

    env = ros_env()
    doc = generated_main_person(3)
    sent = messages.main_person_msg(doc)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        node = rclpy.create_node("sender", context=ctx)
        # transient local: the receiver gets the message whenever it joins, no timing assumed
        qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_publisher(MainPerson, "main_person", qos).publish(sent)
        out, _ = receiver.communicate(timeout=120)
    finally:
        receiver.kill()
        rclpy.shutdown(context=ctx)
    got = json.loads(out.strip().splitlines()[-1])
    assert got["doc"] == doc
    assert got["fields"] == {"header.frame_id": doc["frame_id"], "track_id": sent.track_id, "weights": sent.weights}


@pytest.mark.ros
def test_main_person_node_typed_in_and_out_with_json_mirror() -> None:
    """main_person takes typed Detections, answers a typed MainPerson (weights passed on) and, with
    json_topics, the same content as the JSON document on main_person_json."""
    import rclpy
    from helpers.wait import wait_until
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    from ros_detect.nodes.common import close_node
    from ros_detect.nodes.main_person import MainPersonNode

    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(ros_env()["ROS_DOMAIN_ID"]))
    try:
        mp = MainPersonNode(namespace="typed", parameter_overrides=[Parameter("json_topics", value=True)], context=ctx)
        peer = rclpy.create_node("peer", namespace="typed", context=ctx)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        typed: list[MainPerson] = []
        texts: list[str] = []
        peer.create_subscription(MainPerson, "main_person", typed.append, qos)
        peer.create_subscription(String, "main_person_json", lambda m: texts.append(m.data), qos)
        pub = peer.create_publisher(Detections, "detections", qos)
        executor = SingleThreadedExecutor(context=ctx)
        for node in (mp, peer):
            executor.add_node(node)
        assert wait_until(lambda: executor.spin_once(timeout_sec=0.05) or pub.get_subscription_count(), 30)
        det = generated_detections(7)
        pub.publish(messages.detections_msg(det))
        assert wait_until(lambda: executor.spin_once(timeout_sec=0.05) or (typed and texts), 30), "no main_person"
        got = typed[0]
        assert (got.seq, got.header.frame_id, got.weights) == (det["seq"], det["frame_id"], det["weights"])
        doc = json.loads(texts[0])
        schema.validate(doc)
        assert doc == messages.main_person_doc(got)
        for node in (mp, peer):
            close_node(node)
    finally:
        rclpy.shutdown(context=ctx)


def test_missing_message_package_is_one_line_with_the_fix(tmp_path) -> None:
    """Without ros_detect_interfaces, `ros-detect launch` says what to build instead of a traceback."""
    hide = "import sys; sys.modules['ros_detect_interfaces'] = None; from ros_detect.cli import main; "
    proc = subprocess.run(
        [sys.executable, "-c", hide + f"sys.exit(main(['launch', 'video', '{tmp_path / 'x.mp4'}']))"],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "ros_detect_interfaces is not installed" in proc.stderr and "build_interfaces.sh" in proc.stderr
    assert "Traceback" not in proc.stderr
