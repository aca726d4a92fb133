"""The Foxglove bridge without ROS: a WebSocket server fed with frames and JSON documents.

Callers (the rclpy node, or a test) hand over frames and documents with the `on_*` methods, which only
queue them in bounded DropQueues. Two worker threads drain the queues: one JPEG-encodes frames (only
while a client subscribes to the image channel), one forwards the JSON documents and builds the image
annotations. The SDK server then keeps at most `client_backlog` messages per client and drops the
oldest for a client that stops reading, so no client can hold memory or time in the pipeline.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import foxglove
import numpy as np

from ros_detect import schema
from ros_detect.dropqueue import DropQueue
from ros_detect.errors import ConfigError
from ros_detect.foxglove.buffer import RecentMap
from ros_detect.foxglove.channels import (
    Channels,
    check_jpeg_quality,
    compressed_image,
    encode_jpeg,
    image_annotations,
)
from ros_detect.foxglove.ports import PortInUseError, start_on_free_port
from ros_detect.graph.stats import StatsWindow

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class RelayConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 = any free port (see FoxgloveRelay.port)
    port_fallback: bool = True  # port taken: serve on the next free one (ros_detect/foxglove/ports.py)
    jpeg_quality: int = 80
    image_queue: int = 2  # frames waiting for the encoder; small = latest frames win
    doc_queue: int = 64  # JSON documents waiting to be forwarded
    client_backlog: int = 64  # messages the server buffers per client before dropping the oldest
    name: str = "ros_detect"
    node: str = "/foxglove_bridge"

    def check(self) -> RelayConfig:
        check_jpeg_quality(self.jpeg_quality)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0..65535, got {self.port}", "use e.g. 8765 (0 picks a free port)")
        for name in ("image_queue", "doc_queue", "client_backlog"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}", "use a small positive number")
        return self


class FoxgloveRelay:
    def __init__(self, config: RelayConfig) -> None:
        self.config = config.check()
        self.channels = Channels.create()
        self.images: DropQueue[tuple[np.ndarray, int, str]] = DropQueue(config.image_queue)
        self.docs: DropQueue[tuple[str, str]] = DropQueue(config.doc_queue)
        self._pending = RecentMap[dict[str, Any]](64)  # detections waiting for their main person
        self._lock = threading.Lock()
        self.window = StatsWindow(config.node)
        self.counters = {"jpeg_encoded": 0, "skipped_no_subscriber": 0, "seq_gaps": 0, "bad_documents": 0}
        self._last_seq: int | None = None
        self.server: Any = None
        self.asked_port: int | None = None  # set when the configured port was taken and another one serves
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FoxgloveRelay:
        # The SDK's own log lines (clients registered/closed, "outbox for client ADDR full" when a client is too
        # slow and its oldest messages are dropped) go to the node's log. Only the first call in a process counts.
        foxglove.set_log_level(logging.INFO)
        if self.config.host not in LOOPBACK:
            log.warning("Foxglove server binds %s: reachable from other machines", self.config.host)
        try:
            self.server, self.asked_port = start_on_free_port(
                self._start_server, self.config.port, self.config.port_fallback, "Foxglove WebSocket server"
            )
        except ConfigError:
            self.channels.close()  # nothing else started yet
            raise
        for target, name in ((self._image_worker, "fox-image"), (self._doc_worker, "fox-docs")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _start_server(self, port: int) -> Any:
        try:
            return foxglove.start_server(
                name=self.config.name,
                host=self.config.host,
                port=port,
                context=self.channels.context,
                message_backlog_size=self.config.client_backlog,
            )
        except Exception as exc:  # the SDK raises a plain RuntimeError, "... Address already in use" for a busy port
            error = PortInUseError if "in use" in str(exc).lower() else ConfigError
            raise error(
                f"cannot start the Foxglove WebSocket server on {self.config.host}:{port}: {exc}",
                "pick another port (e.g. `ros-detect launch ... -p foxglove_bridge.port=8775`; 0 = any free port; "
                "`-p foxglove_bridge.port_fallback=true` takes the next free one), stop the program using it, or "
                "start without the bridge (--no-foxglove, launch argument foxglove:=false)",
            ) from None

    @property
    def port(self) -> int:
        return int(self.server.port) if self.server is not None else self.config.port

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    def close(self) -> None:
        self.images.close()
        self.docs.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.channels.close()

    # -- producers (called from ROS callbacks: O(1), never block) ------------------------------------------
    def on_image(self, frame: np.ndarray, stamp_ns: int, frame_id: str) -> None:
        """Queue a BGR frame; nothing is encoded while no client subscribes to the image channel."""
        if not self.channels.image.has_sinks():
            with self._lock:
                self.counters["skipped_no_subscriber"] += 1
            return
        self.images.put((frame, stamp_ns, frame_id))

    def on_detections(self, text: str) -> None:
        self.docs.put(("detections", text))

    def on_main_person(self, text: str) -> None:
        self.docs.put(("main_person", text))

    def on_stats(self, text: str) -> None:
        self.docs.put(("stats", text))

    # -- workers -------------------------------------------------------------------------------------------
    def _image_worker(self) -> None:
        while not self.images.closed:
            item = self.images.get(timeout=0.5)
            if item is None:
                continue
            frame, stamp_ns, frame_id = item
            if not self.channels.image.has_sinks():
                continue
            try:
                jpeg = encode_jpeg(frame, self.config.jpeg_quality)
            except Exception as exc:
                log.warning("frame %s not sent: %s", stamp_ns, exc)
                continue
            self.channels.image.log(compressed_image(jpeg, stamp_ns, frame_id), log_time=stamp_ns)
            with self._lock:
                self.counters["jpeg_encoded"] += 1

    def _doc_worker(self) -> None:
        while not self.docs.closed:
            item = self.docs.get(timeout=0.5)
            if item is None:
                continue
            kind, text = item
            try:
                self._forward(kind, text)
            except (ValueError, KeyError, TypeError) as exc:
                with self._lock:
                    self.counters["bad_documents"] += 1
                log.warning("%s document not forwarded: %s", kind, exc)

    def _forward(self, kind: str, text: str) -> None:
        payload = text.encode()
        if kind == "stats":
            self.channels.stats.log(payload)
            return
        doc = json.loads(text)
        stamp_ns = schema.stamp_to_ns(doc["stamp"])
        if kind == "detections":
            self.channels.detections.log(payload, log_time=stamp_ns)
            self._pending.add(stamp_ns, doc)
            return
        # main_person: the last document of a frame, so its annotations can be drawn now.
        self.channels.main_person.log(payload, log_time=stamp_ns)
        detections = self._pending.pop(stamp_ns)
        if self.channels.annotations.has_sinks():
            self.channels.annotations.log(image_annotations(detections, doc), log_time=stamp_ns)
        self._record(doc, detections, stamp_ns)

    def _record(self, main: dict[str, Any], detections: dict[str, Any] | None, stamp_ns: int) -> None:
        latency = dict(main.get("latency_ms") or {})
        latency["capture_to_view"] = max(0.0, (time.time_ns() - stamp_ns) / 1e6)
        stages = dict(detections.get("timing_ms") or {}) if detections else {}
        with self._lock:
            seq = int(main["seq"])
            if self._last_seq is not None and seq > self._last_seq + 1:
                self.counters["seq_gaps"] += seq - self._last_seq - 1
            self._last_seq = seq
            self.window.record(latency_ms=latency, stage_ms=stages, frame_id=main.get("frame_id"))

    # -- stats ---------------------------------------------------------------------------------------------
    def stats_doc(self) -> dict[str, Any]:
        """The bridge's ros_detect/stats@1 document: end-to-end fps/latency as seen here, drops, counters."""
        with self._lock:
            self.window.dropped = self.images.dropped + self.docs.dropped
            self.window.counters = {
                **self.counters,
                "image_dropped": self.images.dropped,
                "doc_dropped": self.docs.dropped,
                "annotations_unpaired": self._pending.evicted,
            }
            return self.window.doc()

    def publish_stats(self) -> dict[str, Any]:
        """Log the stats document on the /bridge_stats channel and return it (the node also sends it to ROS)."""
        doc = self.stats_doc()
        self.channels.bridge_stats.log(schema.dumps(doc).encode())
        return doc
