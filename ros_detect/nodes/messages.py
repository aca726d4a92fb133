"""Typed ROS messages <-> JSON documents: one data model (ros_detect/schema.py), two encodings.

`detections` and `main_person` travel on ROS as ros_detect_interfaces/msg/Detections and MainPerson;
MQTT, Foxglove channels and output files carry the JSON documents detections@1 / main_person@1. The
conversion is lossless both ways: JSON nulls are NaN (media_time_s, box, score), NO_TRACK (track_id)
or has_latency=false (latency_ms); the JSON documents are rebuilt with schema.py's builders, so their
rounding and key order are the ones every other producer writes.
"""

from __future__ import annotations

import math
from typing import Any

from ros_detect import schema
from ros_detect.errors import ConfigError

try:
    from ros_detect_interfaces.msg import Detection, Detections, MainPerson, StageTime
except ImportError as exc:  # every node and command that touches results comes through here
    if not (exc.name or "").startswith("ros_detect_interfaces"):
        raise  # ROS itself is missing (rclpy, std_msgs): the CLI names the extra for that
    raise ConfigError(
        "the ROS message package ros_detect_interfaces is not installed",
        "build it into the venv with scripts/build_interfaces.sh (make setup does), or colcon build (docs/messages.md)",
    ) from exc

__all__ = ["Detection", "Detections", "MainPerson", "StageTime"]  # the nodes import the classes from here

PACKAGE = "ros_detect_interfaces"
# Result stream (default topic name) -> its typed message.
STREAM_TYPES: dict[str, type] = {"detections": Detections, "main_person": MainPerson}


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _stage_times(values: dict[str, float]) -> list[StageTime]:
    return [StageTime(name=name, ms=float(ms)) for name, ms in values.items()]


def _stage_dict(values: list[StageTime]) -> dict[str, float]:
    return {t.name: t.ms for t in values}


def _header(msg: Detections | MainPerson, doc: dict[str, Any]) -> None:
    msg.header.stamp.sec = int(doc["stamp"]["sec"])
    msg.header.stamp.nanosec = int(doc["stamp"]["nanosec"])
    msg.header.frame_id = doc["frame_id"]
    msg.seq = int(doc["seq"])
    msg.media_time_s = _nan_if_none(doc.get("media_time_s"))
    msg.image_width, msg.image_height = (int(v) for v in doc["image_size"])


def _stamp(msg: Detections | MainPerson) -> dict[str, int]:
    return {"sec": int(msg.header.stamp.sec), "nanosec": int(msg.header.stamp.nanosec)}


def detections_msg(doc: dict[str, Any]) -> Detections:
    """A detections@1 document as a Detections message."""
    msg = Detections(model=doc["model"], precision=doc["precision"], weights=doc["weights"])
    _header(msg, doc)
    msg.detections = [
        Detection(
            class_id=int(d["class_id"]), label=d["label"], score=float(d["score"]), box=[float(v) for v in d["box"]]
        )
        for d in doc["detections"]
    ]
    msg.timing_ms = _stage_times(doc["timing_ms"])
    return msg


def detections_doc(msg: Detections) -> dict[str, Any]:
    """A Detections message as its detections@1 document."""
    return schema.detections_doc(
        seq=msg.seq,
        stamp_ns=schema.join_ns(msg.header.stamp.sec, msg.header.stamp.nanosec),
        frame_id=msg.header.frame_id,
        image_size=(msg.image_width, msg.image_height),
        model=msg.model,
        precision=msg.precision,
        weights=msg.weights,
        detections=[
            schema.Detection(tuple(float(v) for v in d.box), d.score, d.class_id, d.label) for d in msg.detections
        ],
        timing_ms=_stage_dict(msg.timing_ms),
        media_time_s=_none_if_nan(msg.media_time_s),
    )


def main_person_msg(doc: dict[str, Any]) -> MainPerson:
    """A main_person@1 document as a MainPerson message."""
    box = doc["box"]
    latency = doc["latency_ms"]
    track_id = doc["track_id"]
    msg = MainPerson(
        present=bool(doc["present"]),
        box=[math.nan] * 4 if box is None else [float(v) for v in box],
        score=_nan_if_none(doc["score"]),
        track_id=MainPerson.NO_TRACK if track_id is None else int(track_id),
        held=bool(doc["held"]),
        has_latency=latency is not None,
        latency_ms=_stage_times(latency or {}),
        weights=doc.get("weights", ""),
    )
    _header(msg, doc)
    return msg


def main_person_doc(msg: MainPerson) -> dict[str, Any]:
    """A MainPerson message as its main_person@1 document."""
    box = [float(v) for v in msg.box]
    return schema.main_person_doc(
        seq=msg.seq,
        stamp=_stamp(msg),
        frame_id=msg.header.frame_id,
        image_size=(msg.image_width, msg.image_height),
        weights=msg.weights,
        box=box if msg.present else None,
        score=_none_if_nan(msg.score),
        track_id=None if msg.track_id == MainPerson.NO_TRACK else int(msg.track_id),
        held=msg.held,
        latency_ms=_stage_dict(msg.latency_ms) if msg.has_latency else None,
        media_time_s=_none_if_nan(msg.media_time_s),
    )


def to_doc(msg: Detections | MainPerson) -> dict[str, Any]:
    """The JSON document of either typed message."""
    return detections_doc(msg) if isinstance(msg, Detections) else main_person_doc(msg)


def to_json(msg: Detections | MainPerson) -> str:
    """The one-line JSON text of either typed message: what MQTT, Foxglove and files carry."""
    return schema.dumps(to_doc(msg))


# Parameter of the nodes that publish results: also publish the JSON documents (std_msgs/String) on
# `<topic>_json`, for consumers not yet moved to the typed messages.
JSON_TOPICS_PARAM = {
    "json_topics": (False, "also publish the JSON documents as std_msgs/String on <topic>_json (deprecated)")
}


class ResultPublisher:
    """Publishes a result as its typed message, and as JSON on `<topic>_json` when json_topics is set."""

    def __init__(self, node: Any, msg_type: type, topic: str, qos: Any, json_topics: bool, **kwargs: Any) -> None:
        from std_msgs.msg import String

        self._string = String
        self.typed = node.create_publisher(msg_type, topic, qos, **kwargs)
        self.json = node.create_publisher(String, f"{topic}_json", qos) if json_topics else None

    @property
    def topic_name(self) -> str:
        return self.typed.topic_name

    def publish(self, msg: Detections | MainPerson, doc: dict[str, Any]) -> None:
        self.typed.publish(msg)
        if self.json is not None:
            self.json.publish(self._string(data=schema.dumps(doc)))
