"""Foxglove WebSocket payloads: channels, JPEG frames and image annotations built from the JSON documents.

Pure Python over `foxglove-sdk` (no rclpy): the node in ros_detect/nodes/foxglove_bridge.py only feeds it.
Image and annotations carry the frame's capture stamp both as message `timestamp` and as the WebSocket
`log_time`, so Foxglove's synchronised Image panel overlays each box on the frame it was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import foxglove
import numpy as np
from foxglove import messages as fm
from foxglove.channels import CompressedImageChannel, ImageAnnotationsChannel

from ros_detect import schema
from ros_detect.detection.weights import RANDOM_INIT_LABEL, UNTRAINED_BANNER
from ros_detect.errors import ConfigError
from ros_detect.foxglove.topics import SourceTopics
from ros_detect.foxglove.viewer_schema import viewer_schema

MAIN_COLOR = (0.0, 1.0, 0.0, 1.0)  # main person: pure green, thick (the page and tests look for it)
OTHER_COLOR = (1.0, 0.6, 0.0, 1.0)  # every other detection: orange, thin
TEXT_BG = (0.0, 0.0, 0.0, 0.6)
WARNING_TEXT = (1.0, 1.0, 1.0, 1.0)  # the untrained-weights banner: white on red, top left of the image
WARNING_BG = (0.85, 0.0, 0.0, 0.9)
MAIN_THICKNESS = 3.0
OTHER_THICKNESS = 1.5
FONT_SIZE = 12.0


def _color(rgba: tuple[float, float, float, float]) -> fm.Color:
    return fm.Color(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])


def _timestamp(stamp_ns: int) -> fm.Timestamp:
    sec, nanosec = schema.split_ns(stamp_ns)
    return fm.Timestamp(sec=sec, nsec=nanosec)


def check_jpeg_quality(quality: int) -> int:
    if not 1 <= int(quality) <= 100:
        raise ConfigError(f"jpeg_quality must be 1..100, got {quality}", "use e.g. 80 (smaller = less bandwidth)")
    return int(quality)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    """A BGR frame as JPEG bytes (OpenCV releases the GIL while encoding)."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for a frame of shape {frame.shape}")
    return buf.tobytes()


def compressed_image(jpeg: bytes, stamp_ns: int, frame_id: str) -> fm.CompressedImage:
    return fm.CompressedImage(timestamp=_timestamp(stamp_ns), frame_id=frame_id, data=jpeg, format="jpeg")


def _box_outline(box: list[float], stamp: fm.Timestamp, rgba: tuple, thickness: float) -> fm.PointsAnnotation:
    x1, y1, x2, y2 = (float(v) for v in box)
    return fm.PointsAnnotation(
        timestamp=stamp,
        type=fm.PointsAnnotationType.LineLoop,
        points=[fm.Point2(x=x1, y=y1), fm.Point2(x=x2, y=y1), fm.Point2(x=x2, y=y2), fm.Point2(x=x1, y=y2)],
        outline_color=_color(rgba),
        thickness=thickness,
    )


def _label(box: list[float], text: str, stamp: fm.Timestamp, rgba: tuple) -> fm.TextAnnotation:
    # Bottom-left origin: just above the box, or inside it when the box touches the top edge.
    x1, y1 = float(box[0]), float(box[1])
    y = y1 - 2.0 if y1 >= FONT_SIZE + 2 else y1 + FONT_SIZE + 2
    return fm.TextAnnotation(
        timestamp=stamp,
        position=fm.Point2(x=x1, y=y),
        text=text,
        font_size=FONT_SIZE,
        text_color=_color(rgba),
        background_color=_color(TEXT_BG),
    )


def _same_box(a: list[float], b: list[float], tol: float = 0.5) -> bool:
    return all(abs(float(p) - float(q)) <= tol for p, q in zip(a, b, strict=True))


def main_person_label(main: dict[str, Any]) -> str:
    parts = ["main person"]
    if main.get("score") is not None:
        parts.append(f"{main['score']:.2f}")
    if main.get("track_id") is not None:
        parts.append(f"#{main['track_id']}")
    if main.get("held"):
        parts.append("(held)")
    return " ".join(parts)


def weights_untrained(*docs: dict[str, Any] | None) -> bool:
    """True when the documents of a frame come from random-init weights (main_person's own field first)."""
    for doc in docs:
        if doc is not None and doc.get("weights") is not None:
            return doc["weights"] == RANDOM_INIT_LABEL
    return False


def untrained_banner(stamp: fm.Timestamp) -> fm.TextAnnotation:
    return fm.TextAnnotation(
        timestamp=stamp,
        position=fm.Point2(x=4.0, y=FONT_SIZE + 4.0),
        text=UNTRAINED_BANNER,
        font_size=FONT_SIZE,
        text_color=_color(WARNING_TEXT),
        background_color=_color(WARNING_BG),
    )


def image_annotations(detections: dict[str, Any] | None, main: dict[str, Any] | None) -> fm.ImageAnnotations:
    """Boxes of one frame: every detection thin orange with label + score, the main person thick green, and
    the untrained-weights banner when the weights are random-init.

    Either document may be missing (the bridge dropped it); the stamp comes from whichever is present.
    """
    doc = main if main is not None else detections
    if doc is None:
        raise ValueError("image_annotations needs a detections or a main_person document")
    stamp = _timestamp(schema.stamp_to_ns(doc["stamp"]))
    main_box = main.get("box") if main is not None else None
    points: list[fm.PointsAnnotation] = []
    texts: list[fm.TextAnnotation] = []
    for det in (detections or {}).get("detections", []):
        if main_box is not None and _same_box(det["box"], main_box):
            continue  # drawn below, highlighted
        points.append(_box_outline(det["box"], stamp, OTHER_COLOR, OTHER_THICKNESS))
        texts.append(_label(det["box"], f"{det['label']} {det['score']:.2f}", stamp, OTHER_COLOR))
    if main_box is not None:
        points.append(_box_outline(main_box, stamp, MAIN_COLOR, MAIN_THICKNESS))
        texts.append(_label(main_box, main_person_label(main), stamp, MAIN_COLOR))
    if weights_untrained(main, detections):
        texts.append(untrained_banner(stamp))
    return fm.ImageAnnotations(timestamp=stamp, points=points, texts=texts)


def json_channel_schema(schema_id: str) -> dict[str, Any]:
    """The JSON Schema a channel advertises: the canonical one in the form Foxglove / Lichtblick can parse.

    Its "title" becomes the Foxglove schema name.
    """
    return viewer_schema(schema.json_schema(schema_id))


@dataclass
class Channels:
    """One source's Foxglove channels; every source's channels share one SDK context (one server per bridge)."""

    context: foxglove.Context
    image: CompressedImageChannel
    annotations: ImageAnnotationsChannel
    detections: foxglove.Channel
    main_person: foxglove.Channel
    stats: foxglove.Channel
    bridge_stats: foxglove.Channel

    @classmethod
    def create(cls, context: foxglove.Context | None = None, topics: SourceTopics | None = None) -> Channels:
        ctx = context or foxglove.Context()
        t = topics or SourceTopics()
        stats_schema = json_channel_schema(schema.STATS_SCHEMA)
        return cls(
            context=ctx,
            image=CompressedImageChannel(t.image, context=ctx),
            annotations=ImageAnnotationsChannel(t.annotations, context=ctx),
            detections=foxglove.Channel(
                t.detections, schema=json_channel_schema(schema.DETECTIONS_SCHEMA), context=ctx
            ),
            main_person=foxglove.Channel(
                t.main_person, schema=json_channel_schema(schema.MAIN_PERSON_SCHEMA), context=ctx
            ),
            stats=foxglove.Channel(t.stats, schema=stats_schema, context=ctx),
            bridge_stats=foxglove.Channel(t.bridge_stats, schema=stats_schema, context=ctx),
        )

    def close(self) -> None:
        for ch in (self.image, self.annotations, self.detections, self.main_person, self.stats, self.bridge_stats):
            ch.close()
