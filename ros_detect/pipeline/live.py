"""`ros-detect webcam`: the live webcam graph in one process, without ROS.

The same stages as camera_source -> detector -> main_person -> mqtt_bridge / foxglove_bridge, joined by
threads instead of topics:

* a capture thread reads the camera (ros_detect.media.camera: reconnects with backoff) and puts each frame
  into a one-frame slot: latest frame wins, a frame replaced before the detector took it is counted dropped;
* a detector thread takes the newest frame, drops it when older than max_age_ms (counted stale), detects,
  selects the main person and hands the documents to MQTT (ros_detect.mqtt: same topics, payloads, QoS,
  Last Will, buffer and broker autostart as mqtt_bridge), to the Foxglove relay and page
  (ros_detect.foxglove, same channels as foxglove_bridge) and to the -o files (the graph recorder);
* the calling thread publishes the stats heartbeats the graph's nodes would send, prints the status line,
  and stops everything on Ctrl-C / SIGTERM / --duration, flushing MQTT and the files.

No rclpy anywhere on this path (test/test_webcam_no_ros.py checks it), so it runs wherever torch, OpenCV,
paho-mqtt and foxglove-sdk install: macOS, Windows, Linux aarch64.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from ros_detect import schema
from ros_detect.detection.detector import Detector, freeze_heap
from ros_detect.dropqueue import DropQueue
from ros_detect.errors import RosDetectError
from ros_detect.graph.stats import StatsWindow
from ros_detect.media.camera import ReconnectingCamera
from ros_detect.media.sources import Frame, is_stream_url, parse_camera
from ros_detect.percentiles import percentiles
from ros_detect.pipeline.live_config import SECRET_WORDS, LivePlan
from ros_detect.pipeline.stages import detect_frame, select_main_person
from ros_detect.selection.main_person import MainPersonSelector

log = logging.getLogger("ros_detect.webcam")

TICK_S = 0.1  # how often the calling thread looks at the clock (stats, status, duration, stop)
STATUS_WINDOW_S = 10.0  # the status line's fps and latency cover this many seconds
RECORDER_FPS = 30.0  # annotated.mp4 frame rate, as `ros-detect launch webcam -o`
DETECTOR_JOIN_S = 60.0  # a frame in inference when the stop comes finishes first (bounded)
MQTT_FLUSH_S = 5.0  # results still buffered at the stop are delivered first (bounded)
RECENT_RESULTS = 10_000  # latencies kept for the final figures (bounded memory on long runs)
NODES = ("camera_source", "detector", "main_person", "mqtt_bridge")  # whose stats heartbeats go out
STAGES = ("decode", "preprocess", "inference", "postprocess", "wait")


@dataclass(frozen=True)
class LiveOptions:
    output: Path | None = None  # -o: main_person.jsonl, detections.jsonl, annotated.mp4, summary.json
    write_video: bool = True
    duration_s: float = 0.0  # 0 = until Ctrl-C / SIGTERM; counted once the pipeline runs (not model loading)
    status_every_s: float | None = None  # None: 1 s updating line on a terminal, a line every 10 s otherwise; 0 = off


class LivePipeline:
    def __init__(self, plan: LivePlan, options: LiveOptions | None = None, out: TextIO | None = None) -> None:
        self.plan = plan
        self.options = options or LiveOptions()
        self.out = out or sys.stderr  # status line and start-up banner
        self.source_id = plan.source_id
        self.camera = ReconnectingCamera(plan.camera, log)
        self.slot: DropQueue[Frame] = DropQueue(1)  # latest frame wins; replaced frames are counted
        self.stop_event = threading.Event()
        self.windows = {name: StatsWindow(f"/{name}") for name in NODES}
        self.status_window = StatsWindow("/webcam", window_s=STATUS_WINDOW_S)
        self._lock = threading.Lock()  # windows and counters: written by the workers, read by the caller
        self.captured = 0
        self.processed = 0
        self.stale = 0
        self.leftover = 0  # a frame still waiting in the slot at the stop (counted dropped)
        self.latencies: deque[float] = deque(maxlen=RECENT_RESULTS)  # capture -> handed to the outputs
        self.error: BaseException | None = None
        self.stop_reason = "complete"
        self.detector: Detector | None = None
        self.selector: MainPersonSelector | None = None
        self.mqtt: Any = None
        self.broker: Any = None
        self.relay: Any = None
        self.page: Any = None
        self.view_urls: dict[str, str | None] | None = None  # Foxglove WebSocket and page, once started
        self.recorder: Any = None
        self._outputs_closed = False
        self._threads: list[threading.Thread] = []
        self._t_running: float | None = None
        self._t_end: float | None = None
        self._t_end_perf: float | None = None  # the recorder's clock (perf_counter)
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    # -- start-up -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Everything that can fail on bad settings fails here, before the first frame: files, model, servers."""
        import cv2

        cv2.setNumThreads(1)  # per-frame OpenCV work is a few ms; a thread pool would only preempt inference
        if self.options.output is not None:
            from ros_detect.pipeline.recorder import GraphRecorder

            self.recorder = GraphRecorder(self.options.output, RECORDER_FPS, write_video=self.options.write_video)
        spec = str(self.plan.camera.input)
        if parse_camera(spec) is None and not is_stream_url(spec):
            self.camera.open().close()  # a local file: a wrong path is an error now, not a reconnect loop
        self.detector = Detector(self.plan.detector)  # slow (model build): before anything is served
        freeze_heap()
        self.selector = MainPersonSelector(self.plan.main_person)
        if self.plan.mqtt is not None:
            self._start_mqtt()
        if self.plan.foxglove is not None:
            self._start_foxglove()
        for target, name in ((self._capture_loop, "live-capture"), (self._detect_loop, "live-detector")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._t_running = time.monotonic()

    def _start_mqtt(self) -> None:
        from ros_detect.mqtt.broker import ensure_local_broker
        from ros_detect.mqtt.client import MqttPublisher

        c = self.plan.mqtt
        try:
            self.broker = ensure_local_broker(c.host, c.port, c.autostart_broker, log)
        except RosDetectError as exc:  # keep running, as mqtt_bridge does: the client's retries say what is missing
            log.error(f"MQTT: {exc.problem} (fix: {exc.fix})")
        self.mqtt = MqttPublisher(c, logging.getLogger("ros_detect.mqtt"))
        self.mqtt.start()  # bad TLS files raise here; close() stops a broker started above

    def _start_foxglove(self) -> None:
        from ros_detect.foxglove.relay import FoxgloveRelay, RelayConfig
        from ros_detect.foxglove.web import WebPageServer

        settings = dict(self.plan.foxglove or {})
        http_port = int(settings.pop("http_port"))
        self.relay = FoxgloveRelay(RelayConfig(**settings, node="/foxglove_bridge")).start()
        if http_port >= 0:
            self.page = WebPageServer(
                settings["host"], http_port, ws_port=self.relay.port, fallback=settings.get("port_fallback", False)
            )
        self.view_urls = {"ws": self.relay.url, "page": self.page.url if self.page else None}

    def banner(self) -> list[str]:
        """What runs and where to look (printed at start)."""
        p = self.plan
        lines = [
            f"ros-detect webcam: {p.camera.input} (source id {self.source_id}) in one process, no ROS; "
            f"parameters from {[str(f) for f in p.config_files]}"
        ]
        if self.mqtt is not None:
            c = p.mqtt
            lines.append(
                f"  MQTT: {c.host}:{c.port} topics {c.topic_prefix}/{self.mqtt.source_id}/"
                f"{{{','.join(c.forward)},status}} (qos {c.qos})"
                + (f", broker started here ({self.broker.kind})" if self.broker is not None else "")
            )
            lines.append(f"  watch: mosquitto_sub -h {c.host} -p {c.port} -t '{c.topic_prefix}/#' -v")
        if self.relay is not None:
            lines.append(f"  Foxglove: {self.relay.url}" + (f"   page: {self.page.url}" if self.page else ""))
        if self.recorder is not None:
            lines.append(f"  files: {self.recorder.out.resolve()}")
        lines += [f"warning: {line}" for line in p.skipped]
        lines += [f"warning: -p {name} is not used without ROS (graph-only parameter)" for name in p.unused_overrides]
        if self.detector is not None and not self.detector.trained:
            lines.append(f"WARNING: the detector runs on {self.detector.weights_label}: NOT real detections")
        return lines

    # -- the two worker threads ---------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        try:
            for frame in self.camera.frames(self.stop_event.is_set, self.stop_event.wait):
                self.slot.put(frame)
                with self._lock:
                    self.captured += 1
                    self.windows["camera_source"].record(stage_ms={"decode": frame.decode_ms}, frame_id=self.source_id)
                if self.relay is not None:  # every frame, as foxglove_bridge gets every image (encoded on demand)
                    self.relay.on_image(frame.image, frame.stamp_ns, self.source_id)
        except Exception as exc:  # nothing else may end the capture: stop the run and say why
            self._fail(exc)

    def _detect_loop(self) -> None:
        while not self.stop_event.is_set():
            frame = self.slot.get(timeout=0.2)
            if frame is None:
                continue
            try:
                self._process(frame)
            except RosDetectError as exc:  # a setting that fails every frame (e.g. the device): end the run
                self._fail(exc)
                return
            except Exception as exc:  # one bad frame must not end the detector
                log.error("frame %d not processed: %s: %s", frame.seq, type(exc).__name__, exc)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self.stop_event.set()

    def _process(self, frame: Frame) -> None:
        wait_ms = (time.time_ns() - frame.stamp_ns) / 1e6
        if self.plan.max_age_ms > 0 and wait_ms > self.plan.max_age_ms:
            with self._lock:
                self.stale += 1
            return
        det_doc, detections = detect_frame(self.detector, frame, self.source_id, wait_ms)
        done_ns = time.time_ns()
        main_doc = select_main_person(self.selector, det_doc, detections, done_ns)
        det_text, main_text = schema.dumps(det_doc), schema.dumps(main_doc)
        if self.mqtt is not None:  # detections first, then main_person: the order the graph's topics deliver
            self.mqtt.submit("detections", det_text)
            self.mqtt.submit("main_person", main_text)
        handed_ms = (time.time_ns() - frame.stamp_ns) / 1e6
        if self.relay is not None:
            self.relay.on_detections(det_text)
            self.relay.on_main_person(main_text)
        timing = det_doc["timing_ms"]
        with self._lock:
            if self._outputs_closed:  # a frame that outlived the stop: its files are closed
                return
            self.processed += 1
            self.latencies.append(handed_ms)
            self.windows["detector"].record(
                latency_ms={"capture_to_detection": (done_ns - frame.stamp_ns) / 1e6},
                stage_ms=timing,
                frame_id=self.source_id,
            )
            self.windows["main_person"].record(
                latency_ms=main_doc["latency_ms"],
                stage_ms={k: timing[k] for k in STAGES if k in timing},
                frame_id=self.source_id,
            )
            if self.mqtt is not None:
                self.windows["mqtt_bridge"].record(latency_ms={"capture_to_bridge": handed_ms}, frame_id=self.source_id)
            self.status_window.record(latency_ms={"capture_to_out": handed_ms}, frame_id=self.source_id)
            if self.recorder is not None:
                self.recorder.on_image(frame.stamp_ns, frame.image)
                self.recorder.on_detections(det_doc)
                self.recorder.on_main_person(main_doc)

    # -- heartbeats and status ----------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Frames the detector never took: replaced in the slot, or still there at the stop."""
        return self.slot.dropped + self.leftover

    def stats_docs(self) -> list[dict[str, Any]]:
        """The ros_detect/stats@1 documents the graph's nodes would send now, by the same node names."""
        with self._lock:
            cam = self.windows["camera_source"]
            cam.state = self.camera.state if self.camera.state != "starting" else cam.state
            for name, value in self.camera.counters().items():
                cam.set_counter(name, value)
            det = self.windows["detector"]
            det.dropped = self.dropped + self.stale
            det.set_counter("stale", self.stale)
            docs = [cam.doc(), det.doc(), self.windows["main_person"].doc()]
            if self.mqtt is not None:
                bridge = self.windows["mqtt_bridge"]
                snap = self.mqtt.snapshot()
                bridge.state = self.mqtt.state
                bridge.dropped = snap.pop("dropped")
                for name, value in snap.items():
                    bridge.set_counter(name, value)
                docs.append(bridge.doc())
        if self.relay is not None:
            docs.append(self.relay.publish_stats())  # also logged on the /bridge_stats channel
        return docs

    def publish_stats(self) -> None:
        for doc in self.stats_docs():
            text = schema.dumps(doc)
            if self.mqtt is not None:
                self.mqtt.submit("stats", text)
            if self.relay is not None:
                self.relay.on_stats(text)

    def status_line(self) -> str:
        with self._lock:
            doc = self.status_window.doc()
            captured, processed, stale = self.captured, self.processed, self.stale
        lat = doc["latency_ms"].get("capture_to_out") or {}
        parts = [f"{doc['fps']:.2f} fps"]
        if lat.get("p50") is not None:
            parts.append(f"capture->result p50 {lat['p50']:.0f} ms p99 {lat['p99']:.0f} ms")
        parts.append(f"{captured} captured, {processed} processed, {self.dropped} dropped, {stale} stale")
        if self.camera.state != "running":
            parts.append(f"camera {self.camera.state}")
        if self.mqtt is not None:
            snap = self.mqtt.snapshot()
            parts.append(f"MQTT {'connected' if snap['connected'] else self.mqtt.state}, {snap['buffered']} buffered")
        return " | ".join(parts)

    # -- running and stopping -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Start, run until Ctrl-C / SIGTERM / duration / a fatal error, stop cleanly; return the report."""
        try:
            self.start()
            for line in self.banner():
                print(line, file=self.out, flush=True)
            log.info("effective parameters: %s", _redacted(self.plan.params))
            self._loop()
            if self.error is not None:
                self.stop_reason = "error"
                raise self.error
        except KeyboardInterrupt:
            pass  # Ctrl-C / SIGTERM (ros-detect maps it) is the normal end of a live run
        except BaseException:
            self.stop_reason = "error"
            raise
        finally:
            report = self.close()
        return report

    def _loop(self) -> None:
        period = self.plan.stats_period_s
        tty = getattr(self.out, "isatty", lambda: False)()
        every = self.options.status_every_s
        every = (1.0 if tty else 10.0) if every is None else every
        now = time.monotonic()
        next_stats, next_status = now + period, now + every
        deadline = now + self.options.duration_s if self.options.duration_s > 0 else None
        try:
            while not self.stop_event.wait(TICK_S):
                now = time.monotonic()
                if period > 0 and now >= next_stats:
                    self.publish_stats()
                    next_stats = max(next_stats + period, now)
                if every > 0 and now >= next_status:
                    line = self.status_line()
                    print(f"\r{line}\x1b[K" if tty else line, end="" if tty else "\n", file=self.out, flush=True)
                    next_status = max(next_status + every, now)
                if deadline is not None and now >= deadline:
                    return
        finally:
            if tty and every > 0:
                print(file=self.out, flush=True)

    def close(self) -> dict[str, Any]:
        """Stop the threads, send the final heartbeats, flush MQTT (then `offline`), close servers and files."""
        self.stop_event.set()
        self.slot.close()
        for thread in self._threads:
            timeout = DETECTOR_JOIN_S if thread.name == "live-detector" else self.plan.camera.open_timeout_s + 2.0
            thread.join(timeout=timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.0f s; going on without it", thread.name, timeout)
        self._t_end, self._t_end_perf = time.monotonic(), time.perf_counter()
        with self._lock:
            self._outputs_closed = True
            self.leftover = len(self.slot)
        steps = [
            ("final stats", self.publish_stats if self._threads else None),
            ("MQTT", self.mqtt and (lambda: self.mqtt.close(MQTT_FLUSH_S))),
            ("broker", self.broker and self._stop_broker),
            ("web page", self.page and self.page.close),
            ("Foxglove server", self.relay and self.relay.close),
            ("files", self.recorder and self.recorder.close),
        ]
        for what, step in steps:
            if step:
                try:
                    step()
                except Exception as exc:  # stopping: report, and close the rest anyway
                    log.warning("closing %s: %s: %s", what, type(exc).__name__, exc)
        report = self.report()
        if self.recorder is not None:
            from ros_detect.media.writers import write_json

            report["summary"] = self._summary(report)
            write_json(self.recorder.out / "summary.json", report["summary"])
        return report

    def _stop_broker(self) -> None:
        log.info(f"MQTT: stopping the {self.broker.kind} broker started here")
        self.broker.stop()

    # -- results ------------------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The run in figures (also the `live` block of summary.json)."""
        t_run = (self._t_end or time.monotonic()) - self._t_running if self._t_running is not None else 0.0
        with self._lock:
            latencies = list(self.latencies)
            processed = self.processed
        return {
            "status": self.stop_reason,
            "source_id": self.source_id,
            "run_time_s": round(t_run, 3),
            "frames_captured": self.captured,
            "frames_processed": processed,
            "frames_dropped": self.dropped,
            "frames_stale": self.stale,
            "fps": round(processed / t_run, 3) if t_run > 0 else None,
            "capture_to_output_ms": percentiles(latencies),
            "camera": {**self.camera.counters(), "state": self.camera.state},
            "mqtt": self.mqtt.snapshot() if self.mqtt is not None else None,
            "foxglove": self.view_urls,
            "weights": self.detector.weights_label if self.detector else None,
            "weights_trained": self.detector.trained if self.detector else None,
        }

    def _summary(self, report: dict[str, Any]) -> dict[str, Any]:
        """summary.json in the format of `ros-detect video` / `ros-detect launch webcam -o`, plus a `live` block."""
        from ros_detect.pipeline.video_job import build_summary, detector_info

        rec = self.recorder
        # like `ros-detect video`: from the first frame processed, not from start-up and model loading
        wall = (self._t_end_perf or time.perf_counter()) - rec.t_first if rec.t_first is not None else 0.0
        source = SimpleNamespace(
            expected_frames=None, source_size=self.camera.source_size, fps=self.camera.fps, failed_frames=0
        )
        detector = (
            detector_info(self.detector)
            if self.detector is not None
            else dict.fromkeys(("model", "precision", "weights", "device", "proposals", "model_load_s"))
            | {"weights_trained": False}
        )
        return build_summary(
            status=self.stop_reason,
            input=str(self.plan.camera.input),
            input_kind="user",
            frame_id=self.source_id,
            source=source,  # type: ignore[arg-type]
            aspect=self.plan.camera.aspect,
            processed=rec.main_person_received,
            truncated=False,
            present=rec.present,
            wall_s=wall,
            stage_ms=rec.stage_ms,
            detector=detector,
            main_person_config=asdict(self.plan.main_person),
            detector_config=self.plan.params["detector"],
            started_at=self.started_at,
            files=rec.files(),
            extra={"live": {**report, "config_files": [str(f) for f in self.plan.config_files]}},
        )


def final_lines(report: dict[str, Any]) -> list[str]:
    """The end-of-run report for the terminal."""
    lat = report["capture_to_output_ms"]
    fps = report["fps"] or 0.0
    lines = [
        f"{report['frames_captured']} frames captured, {report['frames_processed']} processed ({fps:.2f} fps), "
        f"{report['frames_dropped']} dropped (latest frame wins), {report['frames_stale']} stale; "
        f"capture->result p50 {lat['p50']} ms, p99 {lat['p99']} ms; weights: {report['weights']}"
    ]
    if report["mqtt"] is not None:
        m = report["mqtt"]
        lines.append(f"MQTT: {m['sent']} sent, {m['acked']} acknowledged, {m['buffered']} undelivered")
    if report.get("weights_trained") is False:
        lines.append("WARNING: Untrained (random-initialised) weights: these are NOT real detections.")
    if "summary" in report:
        lines.append(f"outputs: {report['summary']['files']}")
    return lines


def _redacted(params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        section: {k: ("***" if v and any(w in k for w in SECRET_WORDS) else v) for k, v in values.items()}
        for section, values in params.items()
    }
