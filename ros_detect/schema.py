"""The one result data model: builders, JSON (de)serialisation and validation.

The same documents travel on ROS topics (std_msgs/String), MQTT, Foxglove channels and output
files. JSON Schema files live in ros_detect/schemas/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from ros_detect.paths import schema_dir

DETECTIONS_SCHEMA = "ros_detect/detections@1"
MAIN_PERSON_SCHEMA = "ros_detect/main_person@1"
STATS_SCHEMA = "ros_detect/stats@1"  # built by ros_detect/graph/stats.py
_SCHEMA_FILES = {
    DETECTIONS_SCHEMA: "detections.schema.json",
    MAIN_PERSON_SCHEMA: "main_person.schema.json",
    STATS_SCHEMA: "stats.schema.json",
}

Box = list[float]
PERSON_CLASS_ID = 1  # COCO category id of "person" in torchvision's 91-entry label list (Detection.class_id)
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    score: float
    class_id: int
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "label": self.label,
            "class_id": int(self.class_id),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detection:
        return cls(tuple(data["box"]), float(data["score"]), int(data["class_id"]), data["label"])


def split_ns(t_ns: int) -> tuple[int, int]:
    """Nanoseconds since the epoch -> (sec, nanosec), as ROS and Foxglove time stamps hold them."""
    sec, nanosec = divmod(int(t_ns), NS_PER_S)
    return sec, nanosec


def join_ns(sec: int, nanosec: int) -> int:
    """(sec, nanosec) -> nanoseconds since the epoch."""
    return int(sec) * NS_PER_S + int(nanosec)


def stamp_from_ns(t_ns: int) -> dict[str, int]:
    sec, nanosec = split_ns(t_ns)
    return {"sec": sec, "nanosec": nanosec}


def stamp_to_ns(stamp: dict[str, int]) -> int:
    return join_ns(stamp["sec"], stamp["nanosec"])


def _envelope(
    schema_id: str,
    seq: int,
    stamp: dict[str, int],
    media_time_s: float | None,
    frame_id: str,
    image_size: list[int] | tuple[int, int],
) -> dict[str, Any]:
    """The fields every per-frame document starts with, in the order they are written."""
    return {
        "schema": schema_id,
        "seq": int(seq),
        "stamp": dict(stamp),
        "media_time_s": media_time_s,
        "frame_id": frame_id,
        "image_size": [int(image_size[0]), int(image_size[1])],
    }


def detections_doc(
    *,
    seq: int,
    stamp_ns: int,
    frame_id: str,
    image_size: tuple[int, int],
    model: str,
    precision: str,
    weights: str,
    detections: list[Detection],
    timing_ms: dict[str, float],
    media_time_s: float | None = None,
) -> dict[str, Any]:
    return {
        **_envelope(DETECTIONS_SCHEMA, seq, stamp_from_ns(stamp_ns), media_time_s, frame_id, image_size),
        "model": model,
        "precision": precision,
        "weights": weights,
        "detections": [d.to_dict() for d in detections],
        "timing_ms": {k: round(float(v), 3) for k, v in timing_ms.items()},
    }


def main_person_doc(
    *,
    seq: int,
    stamp: dict[str, int],
    frame_id: str,
    image_size: list[int] | tuple[int, int],
    weights: str,
    box: Box | None,
    score: float | None,
    track_id: int | None,
    held: bool,
    latency_ms: dict[str, float] | None,
    media_time_s: float | None = None,
) -> dict[str, Any]:
    return {
        **_envelope(MAIN_PERSON_SCHEMA, seq, stamp, media_time_s, frame_id, image_size),
        "weights": weights,  # so every viewer of the main person alone can tell an untrained result
        "present": box is not None,
        "box": None if box is None else [round(float(v), 2) for v in box],
        "score": None if score is None else round(float(score), 4),
        "track_id": None if track_id is None else int(track_id),
        "held": bool(held),
        "latency_ms": None if latency_ms is None else {k: round(float(v), 3) for k, v in latency_ms.items()},
    }


def dumps(doc: dict[str, Any]) -> str:
    """Compact JSON, one line: the wire and file format."""
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> dict[str, Any]:
    return json.loads(text)


@cache
def json_schema(schema_id: str) -> dict[str, Any]:
    """The JSON Schema document for a schema id (e.g. 'ros_detect/main_person@1')."""
    try:
        name = _SCHEMA_FILES[schema_id]
    except KeyError:
        raise ValueError(f"unknown schema id {schema_id!r}; known: {sorted(_SCHEMA_FILES)}") from None
    return json.loads((schema_dir() / name).read_text())


@cache
def _validator(schema_id: str):
    import jsonschema

    schema = json_schema(schema_id)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `doc` does not match the schema it names."""
    schema_id = doc.get("schema")
    if schema_id not in _SCHEMA_FILES:
        raise ValueError(f"document names unknown schema {schema_id!r}")
    _validator(schema_id).validate(doc)
