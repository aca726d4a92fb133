"""The Foxglove bridge without ROS: a WebSocket server fed with frames and JSON documents.

Callers (the rclpy node, or a test) hand over frames and documents with the `on_*` methods, which only
queue them in bounded DropQueues. Two worker threads drain the queues: one JPEG-encodes frames (only
while a client subscribes to the image channel), one forwards the JSON documents and builds the image
annotations. The SDK server then keeps at most `client_backlog` messages per client and drops the
oldest for a client that stops reading, so no client can hold memory or time in the pipeline.

One server can carry several sources (cameras): each gets its own channels, queues, workers and
statistics (a `Lane`), so a busy camera can neither push another one's frames out of a shared queue
nor hide its drops in a shared count.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
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
    json_channel_schema,
)
from ros_detect.foxglove.ports import PortInUseError, start_on_free_port
from ros_detect.foxglove.topics import SourceTopics
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


@dataclass
class Lane:
    """One source on the server: its channels, hand-off queues, worker threads and statistics."""

    name: str  # the source's namespace ("" without `sources`)
    channels: Channels
    images: DropQueue[tuple[np.ndarray, int, str]]
    docs: DropQueue[tuple[str, str]]
    window: StatsWindow
    pending: RecentMap[dict[str, Any]] = field(default_factory=lambda: RecentMap(64))  # detections awaiting main
    counters: dict[str, int] = field(
        default_factory=lambda: {"jpeg_encoded": 0, "skipped_no_subscriber": 0, "seq_gaps": 0, "bad_documents": 0}
    )
    last_seq: int | None = None

    def stats_counters(self) -> dict[str, int]:
        return {
            **self.counters,
            "image_dropped": self.images.dropped,
            "doc_dropped": self.docs.dropped,
            "annotations_unpaired": self.pending.evicted,
        }


class FoxgloveRelay:
    """`sources`: source name -> its channel names (default: one source, the channels of a graph without
    `sources`). `graph`: with several sources, the channels of the bridge's own namespace: the heartbeats of
    the nodes there (a detector serving every source, the bridges) on `.stats`, the bridge's totals on
    `.bridge_stats`; its other names are unused."""

    def __init__(
        self,
        config: RelayConfig,
        sources: dict[str, SourceTopics] | None = None,
        graph: SourceTopics | None = None,
    ) -> None:
        self.config = config.check()
        self.context = foxglove.Context()
        self.lanes = {
            name: Lane(
                name=name,
                channels=Channels.create(self.context, topics),
                images=DropQueue(config.image_queue),
                docs=DropQueue(config.doc_queue),
                window=StatsWindow(config.node),
            )
            for name, topics in (sources or {"": SourceTopics()}).items()
        }
        self.graph_stats: foxglove.Channel | None = None
        self.graph_bridge_stats: foxglove.Channel | None = None
        # One source: its window is the bridge's; several: a window over all of them besides each source's own.
        self.window = next(iter(self.lanes.values())).window
        if graph is not None:
            stats_schema = json_channel_schema(schema.STATS_SCHEMA)
            self.graph_stats = foxglove.Channel(graph.stats, schema=stats_schema, context=self.context)
            self.graph_bridge_stats = foxglove.Channel(graph.bridge_stats, schema=stats_schema, context=self.context)
        if len(self.lanes) > 1:
            self.window = StatsWindow(config.node)
        self._lock = threading.Lock()
        self.server: Any = None
        self.asked_port: int | None = None  # set when the configured port was taken and another one serves
        self._threads: list[threading.Thread] = []

    @property
    def channels(self) -> Channels:
        """The first (or only) source's channels."""
        return next(iter(self.lanes.values())).channels

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
            self.close()  # nothing else started yet: closes the channels
            raise
        for lane in self.lanes.values():
            suffix = f"-{lane.name}" if lane.name else ""
            for target, name in ((self._image_worker, "fox-image"), (self._doc_worker, "fox-docs")):
                thread = threading.Thread(target=target, args=(lane,), name=name + suffix, daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def _start_server(self, port: int) -> Any:
        try:
            return foxglove.start_server(
                name=self.config.name,
                host=self.config.host,
                port=port,
                context=self.context,
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
        for lane in self.lanes.values():
            lane.images.close()
            lane.docs.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        if self.server is not None:
            self.server.stop()
            self.server = None
        for lane in self.lanes.values():
            lane.channels.close()
        for channel in (self.graph_stats, self.graph_bridge_stats):
            if channel is not None:
                channel.close()

    # -- producers (called from ROS callbacks: O(1), never block) ------------------------------------------
    def on_image(self, frame: np.ndarray, stamp_ns: int, frame_id: str, source: str = "") -> None:
        """Queue a BGR frame; nothing is encoded while no client subscribes to the source's image channel."""
        lane = self.lanes[source]
        if not lane.channels.image.has_sinks():
            with self._lock:
                lane.counters["skipped_no_subscriber"] += 1
            return
        lane.images.put((frame, stamp_ns, frame_id))

    def on_detections(self, text: str, source: str = "") -> None:
        self.lanes[source].docs.put(("detections", text))

    def on_main_person(self, text: str, source: str = "") -> None:
        self.lanes[source].docs.put(("main_person", text))

    def on_stats(self, text: str, source: str | None = "") -> None:
        """A node's heartbeat; `source=None`: a node of the bridge's own namespace (logged at once: about one
        message a second per node, and the SDK only queues it per client)."""
        if source is None:
            if self.graph_stats is not None:
                self.graph_stats.log(text.encode())
            return
        self.lanes[source].docs.put(("stats", text))

    # -- workers -------------------------------------------------------------------------------------------
    def _image_worker(self, lane: Lane) -> None:
        while not lane.images.closed:
            item = lane.images.get(timeout=0.5)
            if item is None:
                continue
            frame, stamp_ns, frame_id = item
            if not lane.channels.image.has_sinks():
                continue
            try:
                jpeg = encode_jpeg(frame, self.config.jpeg_quality)
            except Exception as exc:
                log.warning("frame %s not sent: %s", stamp_ns, exc)
                continue
            lane.channels.image.log(compressed_image(jpeg, stamp_ns, frame_id), log_time=stamp_ns)
            with self._lock:
                lane.counters["jpeg_encoded"] += 1

    def _doc_worker(self, lane: Lane) -> None:
        while not lane.docs.closed:
            item = lane.docs.get(timeout=0.5)
            if item is None:
                continue
            kind, text = item
            try:
                self._forward(lane, kind, text)
            except (ValueError, KeyError, TypeError) as exc:
                with self._lock:
                    lane.counters["bad_documents"] += 1
                log.warning("%s document not forwarded: %s", kind, exc)

    def _forward(self, lane: Lane, kind: str, text: str) -> None:
        payload = text.encode()
        channels = lane.channels
        if kind == "stats":
            channels.stats.log(payload)
            return
        doc = json.loads(text)
        stamp_ns = schema.stamp_to_ns(doc["stamp"])
        if kind == "detections":
            channels.detections.log(payload, log_time=stamp_ns)
            lane.pending.add(stamp_ns, doc)
            return
        # main_person: the last document of a frame, so its annotations can be drawn now.
        channels.main_person.log(payload, log_time=stamp_ns)
        detections = lane.pending.pop(stamp_ns)
        if channels.annotations.has_sinks():
            channels.annotations.log(image_annotations(detections, doc), log_time=stamp_ns)
        self._record(doc, detections, stamp_ns, lane)

    def _record(
        self, main: dict[str, Any], detections: dict[str, Any] | None, stamp_ns: int, lane: Lane | None = None
    ) -> None:
        lane = lane or next(iter(self.lanes.values()))
        latency = dict(main.get("latency_ms") or {})
        latency["capture_to_view"] = max(0.0, (time.time_ns() - stamp_ns) / 1e6)
        stages = dict(detections.get("timing_ms") or {}) if detections else {}
        with self._lock:
            seq = int(main["seq"])
            if lane.last_seq is not None and seq > lane.last_seq + 1:
                lane.counters["seq_gaps"] += seq - lane.last_seq - 1
            lane.last_seq = seq
            lane.window.record(latency_ms=latency, stage_ms=stages, frame_id=main.get("frame_id"))
            if self.window is not lane.window:  # the bridge's totals: every source's results, no one frame_id
                self.window.record(latency_ms=latency, stage_ms=stages)

    # -- stats ---------------------------------------------------------------------------------------------
    def _lane_doc(self, lane: Lane) -> dict[str, Any]:
        counters = lane.stats_counters()
        lane.window.dropped = counters["image_dropped"] + counters["doc_dropped"]
        lane.window.counters = counters
        return lane.window.doc()

    def stats_doc(self, source: str | None = None) -> dict[str, Any]:
        """A ros_detect/stats@1 document: end-to-end fps/latency as seen here, drops, counters; of one source,
        or (`source=None`) of the whole bridge, its counters summed over the sources."""
        with self._lock:
            if source is not None or len(self.lanes) == 1:
                return self._lane_doc(self.lanes[source if source is not None else next(iter(self.lanes))])
            total: dict[str, int] = {}
            for lane in self.lanes.values():
                for name, value in lane.stats_counters().items():
                    total[name] = total.get(name, 0) + value
            self.window.dropped = total["image_dropped"] + total["doc_dropped"]
            self.window.counters = total
            return self.window.doc()

    def publish_stats(self) -> dict[str, Any]:
        """Log every source's stats document on its bridge_stats channel (with several, the totals on the
        graph's) and return the bridge's (the node also sends it to ROS)."""
        for name, lane in self.lanes.items():
            lane.channels.bridge_stats.log(schema.dumps(self.stats_doc(name)).encode())
        doc = self.stats_doc()
        if self.graph_bridge_stats is not None:
            self.graph_bridge_stats.log(schema.dumps(doc).encode())
        return doc
