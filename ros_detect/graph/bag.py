"""rosbag2 bags (MCAP or SQLite3) through the pure-Python `rosbags` library, so no `ros2 bag` is needed.

Messages stay serialized CDR end to end: `ros-detect bag play` publishes the stored bytes as they are and
`record` stores what the subscription hands over raw, so bags are interchangeable with `ros2 bag`.
Type definitions come from rosbags' ROS 2 Kilted typestore plus the installed ros_detect_interfaces
(its .msg files), so the typed `detections` / `main_person` topics record and play like standard types.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ros_detect.errors import ConfigError, InputError, OutputError
from ros_detect.schema import split_ns

STORAGES = ("mcap", "sqlite3")


INTERFACES = "ros_detect_interfaces"


def interface_definitions() -> dict[str, str]:
    """'ros_detect_interfaces/msg/<Name>' -> .msg text of the installed interface package ({} if none).

    Looked up in the AMENT_PREFIX_PATH prefixes (a sourced workspace), then this Python's prefix (the venv
    scripts/build_interfaces.sh installs into, where AMENT_PREFIX_PATH is usually unset).
    """
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        msg_dir = Path(prefix) / "share" / INTERFACES / "msg"
        if msg_dir.is_dir():
            return {f"{INTERFACES}/msg/{p.stem}": p.read_text() for p in sorted(msg_dir.glob("*.msg"))}
    return {}


@cache
def typestore() -> Any:
    """rosbags' ROS 2 Kilted types plus ros_detect_interfaces (built once per process)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for name, text in interface_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str  # e.g. sensor_msgs/msg/Image
    timestamp_ns: int  # receive/record time
    data: bytes  # serialized CDR


class BagWriter:
    """Writes raw CDR messages; one connection per topic, created on first use."""

    def __init__(self, path: Path | str, storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise ConfigError(f"unknown bag storage {storage!r}", f"choose one of: {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise OutputError(f"bag {self.path} already exists", "choose a new output path or delete the old bag")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.store = typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic in self._connections:
            return
        if msgtype not in self.store.types:
            raise ConfigError(
                f"message type {msgtype} of {topic} is unknown to rosbags",
                "record standard types or ros_detect_interfaces (build it: scripts/build_interfaces.sh)",
            )
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.store)
        self.counts[topic] = 0

    def write(self, topic: str, msgtype: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        self.add_topic(topic, msgtype)
        self._writer.write(self._connections[topic], int(timestamp_ns), data)
        self.counts[topic] += 1

    def write_message(self, topic: str, msgtype: str, timestamp_ns: int, msg: Any) -> None:
        """Serialize a rosbags message object (from `typestore().types[...]`) and write it."""
        self.write(topic, msgtype, timestamp_ns, self.store.serialize_cdr(msg, msgtype))

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bag_topics(path: Path | str) -> dict[str, tuple[str, int]]:
    """{topic: (msgtype, message count)} of a bag."""
    with _open_reader(path) as reader:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}


def read_bag(path: Path | str, topics: list[str] | None = None) -> Iterator[BagMessage]:
    """Messages in timestamp order, optionally only some topics."""
    with _open_reader(path) as reader:
        connections = [c for c in reader.connections if not topics or c.topic in topics]
        for conn, timestamp, data in reader.messages(connections=connections):
            yield BagMessage(conn.topic, conn.msgtype, int(timestamp), bytes(data))


def _open_reader(path: Path | str) -> Any:
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise InputError(f"bag {path} does not exist", "pass the bag directory written by record (or ros2 bag)")
    try:
        return Reader(path)
    except Exception as exc:  # rosbags raises its own error types for every kind of bad bag
        raise InputError(f"cannot read bag {path}: {exc}", "pass a rosbag2 directory (metadata.yaml + data)") from exc


def decode(msg: BagMessage) -> Any:
    return typestore().deserialize_cdr(msg.data, msg.msgtype)


def string_message(text: str) -> Any:
    return typestore().types["std_msgs/msg/String"](data=text)


def image_message(frame: Any, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/Image (bgr8) from an HxWx3 uint8 array, for generating test bags."""
    import numpy as np

    types = typestore().types
    sec, nanosec = split_ns(stamp_ns)
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
        frame_id=frame_id,
    )
    h, w = frame.shape[:2]
    data = np.ascontiguousarray(frame, dtype=np.uint8).reshape(-1)
    return types["sensor_msgs/msg/Image"](
        header=header, height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3, data=data
    )
