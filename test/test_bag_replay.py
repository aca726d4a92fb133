"""Rosbag record/replay: a generated bag of frames replayed through the real detector and main_person
processes, results recorded with `ros-detect bag record` and compared with golden outputs in test/golden.
`detections` and `main_person` are typed (ros_detect_interfaces); they are compared as their JSON documents.

Golden outputs come from random-init weights (ModelSpec seed 0: NOT real detections), the reference model,
50 proposals, score threshold 0.1. Tolerances: float results of the same weights differ slightly across CPUs
and torch kernels (AVX2 vs AVX-512, oneDNN summation order), so scores may move by 2e-3 and boxes by 1 px;
a detection within 0.02 of the score threshold may appear or vanish. Stamps, seqs, frame ids, media times,
classes and main-person decisions must match exactly. Timings and latencies are ignored (machine-dependent).
Regenerate after an intended change with ROS_DETECT_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.ros import ros_env

from ros_detect import schema
from ros_detect.graph.bag import BagWriter, bag_topics, decode, image_message, read_bag, string_message
from ros_detect.graph.flow import frame_info_doc
from ros_detect.media.sources import resize_to_output
from ros_detect.media.synthetic import render_frame

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytest.importorskip("ros_detect_interfaces", reason="ros_detect_interfaces not built (scripts/build_interfaces.sh)")
from ros_detect.nodes import messages

pytestmark = pytest.mark.ros

GOLDEN = Path(__file__).parent / "golden"
FRAMES = 4
T0_NS = 1_700_000_000 * 10**9
SCORE_THRESHOLD = 0.1
DETECTOR_PARAMS = [
    "weights:=none", "precision:=fp32", "seed:=0", "threads:=2", "proposals:=50",
    f"score_threshold:={SCORE_THRESHOLD}",
]  # fmt: skip
SCORE_TOL, BOX_TOL, EDGE_TOL = 2e-3, 1.0, 0.02


def make_frames_bag(path: Path, storage: str = "mcap") -> Path:
    """FRAMES synthetic frames on /image with their /frame_info, 100 ms apart, fixed stamps."""
    with BagWriter(path, storage) as bag:
        for i in range(FRAMES):
            stamp = T0_NS + i * 100_000_000
            info = frame_info_doc(i, stamp, "replay", round(i / 10, 4), 0.0)
            bag.write_message("/frame_info", "std_msgs/msg/String", stamp, string_message(json.dumps(info)))
            frame = resize_to_output(render_frame(i))
            bag.write_message("/image", "sensor_msgs/msg/Image", stamp + 1000, image_message(frame, stamp, "replay"))
    return path


PEOPLE_FRAMES = 12
DETECTIONS_TYPE = "ros_detect_interfaces/msg/Detections"


def make_people_bag(path: Path) -> Path:
    """Hand-made detections (two people and a car) on typed /detections: exercises tracking, hold and smoothing."""
    from rclpy.serialization import serialize_message

    from ros_detect.schema import Detection, detections_doc

    with BagWriter(path, "mcap") as bag:
        for i in range(PEOPLE_FRAMES):
            stamp = T0_NS + i * 50_000_000
            dets = [
                Detection((20.0, 120.0, 60.0, 230.0), 0.8, 1, "person"),
                Detection((300, 150, 420, 230), 0.9, 3, "car"),
            ]
            if i not in (5, 6):  # the main person is missed twice: held, not dropped
                dets.append(Detection((150.0 + 2 * i, 20.0, 260.0 + 2 * i, 238.0), 0.9, 1, "person"))
            doc = detections_doc(
                seq=i, stamp_ns=stamp, frame_id="people", image_size=(427, 240), model="synthetic", precision="fp32",
                weights="synthetic", detections=dets, timing_ms={"inference": 1.0}, media_time_s=round(i / 20, 4),
            )  # fmt: skip
            bag.write("/detections", DETECTIONS_TYPE, stamp, serialize_message(messages.detections_msg(doc)))
    return path


def test_bag_roundtrip_both_storages(tmp_path: Path) -> None:
    for storage in ("mcap", "sqlite3"):
        path = make_frames_bag(tmp_path / storage, storage)
        assert bag_topics(path) == {
            "/frame_info": ("std_msgs/msg/String", FRAMES),
            "/image": ("sensor_msgs/msg/Image", FRAMES),
        }
        images = [decode(m) for m in read_bag(path, ["/image"])]
        assert [(im.width, im.height, im.encoding, im.header.frame_id) for im in images] == [
            (427, 240, "bgr8", "replay")
        ] * FRAMES
        assert images[1].data.tobytes() == resize_to_output(render_frame(1)).tobytes()


@pytest.mark.unit
def test_bag_writer_refuses_to_overwrite(tmp_path: Path) -> None:
    from ros_detect.errors import OutputError

    make_frames_bag(tmp_path / "b")
    with pytest.raises(OutputError):
        BagWriter(tmp_path / "b")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("replay")
    bag = make_frames_bag(tmp / "frames")
    env = ros_env()
    py = sys.executable
    nodes = [
        subprocess.Popen(
            [py, "-m", "ros_detect.nodes.detector", "--ros-args", *[a for p in DETECTOR_PARAMS for a in ("-p", p)]],
            env=env,
        ),
        subprocess.Popen(
            [py, "-m", "ros_detect.nodes.main_person", "--ros-args", "-p", "stats_period_s:=0.0"], env=env
        ),
    ]
    cli = [py, "-m", "ros_detect.cli", "bag"]

    def replay(bag: Path, out: Path, topics: list[str], count: int, *pace: str) -> None:
        record = [*cli, "record", str(out), "--topics", *topics, "--count", str(count), "--storage", "sqlite3"]
        recorder = subprocess.Popen([*record, "--wait", "120"], env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert "recording" in recorder.stdout.readline()  # subscribed before anything is played
            play_cmd = [*cli, "play", str(bag), "--rate", "0", "--pace-results", "main_person", "--max-in-flight", "2"]
            play = subprocess.run(
                [*play_cmd, *pace, "--wait", "120"], env=env, capture_output=True, text=True, timeout=240
            )
            assert play.returncode == 0, play.stdout + play.stderr
            assert f"{count} results" in play.stdout
            recorder.wait(timeout=60)
            assert recorder.returncode == 0
        finally:
            if recorder.poll() is None:
                recorder.terminate()
                recorder.wait(timeout=20)

    try:
        replay(bag, tmp / "results", ["detections", "main_person"], FRAMES)
        replay(
            make_people_bag(tmp / "people"),
            tmp / "people_results",
            ["main_person"],
            PEOPLE_FRAMES,
            "--pace-topic",
            "detections",
        )
        replay_main_person_only = tmp / "people_results"
    finally:
        for proc in nodes:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    assert bag_topics(tmp / "results") == {
        "/detections": (DETECTIONS_TYPE, FRAMES),
        "/main_person": ("ros_detect_interfaces/msg/MainPerson", FRAMES),
    }
    docs: dict[str, list[dict]] = {"detections": [], "main_person": [], "people": []}
    for msg in read_bag(tmp / "results"):
        docs[msg.topic.lstrip("/")].append(_result_doc(msg))
    docs["people"] = [_result_doc(m) for m in read_bag(replay_main_person_only)]
    return docs


def _result_doc(msg: Any) -> dict:
    """A recorded typed result as its JSON document (decoded by rclpy, converted by ros_detect.nodes.messages)."""
    from rclpy.serialization import deserialize_message

    typed = deserialize_message(msg.data, messages.STREAM_TYPES[msg.topic.lstrip("/")])
    return messages.to_doc(typed)


def _golden(name: str, docs: list[dict]) -> list[dict]:
    path = GOLDEN / f"replay_{name}.jsonl"
    if os.environ.get("ROS_DETECT_UPDATE_GOLDEN"):
        path.write_text("".join(json.dumps(d, sort_keys=True) + "\n" for d in docs))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _same_frame(got: dict, want: dict) -> None:
    for key in ("schema", "seq", "stamp", "frame_id", "media_time_s", "image_size"):
        assert got[key] == want[key], key


def test_replay_detections_match_golden(replayed: dict[str, list[dict]]) -> None:
    got_docs = replayed["detections"]
    want_docs = _golden("detections", got_docs)
    assert len(got_docs) == len(want_docs) == FRAMES
    for got, want in zip(got_docs, want_docs, strict=True):
        schema.validate(got)
        _same_frame(got, want)
        assert (got["model"], got["weights"]) == (want["model"], want["weights"])
        unmatched = list(got["detections"])
        for w in want["detections"]:
            match = next(
                (
                    g
                    for g in unmatched
                    if g["class_id"] == w["class_id"]
                    and abs(g["score"] - w["score"]) <= SCORE_TOL
                    and all(abs(a - b) <= BOX_TOL for a, b in zip(g["box"], w["box"], strict=True))
                ),
                None,
            )
            if match is None:
                assert w["score"] < SCORE_THRESHOLD + EDGE_TOL, f"frame {want['seq']}: golden detection {w} missing"
            else:
                unmatched.remove(match)
        assert all(g["score"] < SCORE_THRESHOLD + EDGE_TOL for g in unmatched), f"frame {got['seq']}: extra {unmatched}"
        assert want["detections"], "golden frame without detections proves nothing"


def _assert_main_person_docs_match(got_docs: list[dict], golden: str, frames: int, box_tol: float) -> list[dict]:
    """Each main_person document equals its golden one (box within `box_tol`); returns the golden documents."""
    want_docs = _golden(golden, got_docs)
    assert len(got_docs) == len(want_docs) == frames
    for got, want in zip(got_docs, want_docs, strict=True):
        schema.validate(got)
        _same_frame(got, want)
        assert (got["present"], got["track_id"], got["held"]) == (want["present"], want["track_id"], want["held"])
        assert got["weights"] == want["weights"]  # the untrained label travels with every main_person document
        assert got["box"] == (None if want["box"] is None else pytest.approx(want["box"], abs=box_tol))
    return want_docs


def test_replay_main_person_matches_golden(replayed: dict[str, list[dict]]) -> None:
    _assert_main_person_docs_match(replayed["main_person"], "main_person", FRAMES, BOX_TOL)


def test_replay_main_person_selection_matches_golden(replayed: dict[str, list[dict]]) -> None:
    """Hand-made people through the real main_person node: main person kept, held while missed."""
    # pure float math on fixed input: boxes to 0.01
    want_docs = _assert_main_person_docs_match(replayed["people"], "people_main_person", PEOPLE_FRAMES, 0.01)
    assert [d["held"] for d in want_docs] == [i in (5, 6) for i in range(PEOPLE_FRAMES)]
    assert all(d["present"] and d["box"][0] > 100 for d in want_docs), "the big central person is the main one"
