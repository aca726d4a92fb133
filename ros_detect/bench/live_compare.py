"""Capture -> MQTT latency of the ROS graph and of the one-process `ros-detect webcam`, side by side.

Behind `ros-detect bench-mqtt --compare-graph`. One MJPEG camera (served here on 127.0.0.1), one mosquitto
(started here), the same detector settings: `ros-detect launch webcam` (one process per node) and
`ros-detect webcam` run one after the other (alternating when there are several pairs), each until
`results` main_person messages arrived after `warmup`, then stopped with SIGINT. An independent paho
subscriber measures receive time - capture stamp (both clocks are this machine's wall clock). The
detector's own inference time is read from the same runs' detections, so a ratio skewed by a busier
machine during one run shows. Both run as subprocesses: this module needs no rclpy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ros_detect import schema
from ros_detect.errors import ConfigError
from ros_detect.graph.isolation import isolated_ros_env
from ros_detect.percentiles import percentiles

CLI = [sys.executable, "-m", "ros_detect.cli"]
KINDS = ("graph", "webcam")
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CompareConfig:
    results: int = 40  # main_person messages measured per run
    warmup: int = 5  # first messages of a run left out (model caches, first frames)
    camera_fps: float = 15.0
    video: str | None = None  # frames the camera serves (default: the synthetic street)
    pairs: int = 1  # graph/webcam pairs, alternating which goes first
    detector_args: tuple[str, ...] = ()  # e.g. ("--precision", "fp32", "--weights", "none")
    timeout_s: float = 900.0  # per run: model build (first openvino-int8 run ~1 min) + results
    out: Path = Path("bench_results/webcam_vs_graph.json")


class StreamRecorder:
    """Independent paho subscriber on `<prefix>/+/<stream>`: (stream, document, receive ns) in arrival order."""

    def __init__(self, port: int, streams: tuple[str, ...] = ("main_person", "detections")) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.items: list[tuple[str, dict[str, Any], int]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([(f"+/+/{s}", 1) for s in streams])
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not ready.wait(10):
            raise ConfigError(f"cannot subscribe on 127.0.0.1:{port}", "is the broker running?")

    def _on_message(self, _c: object, _u: object, msg: Any) -> None:
        now = time.time_ns()
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        with self.lock:
            self.items.append((msg.topic.rsplit("/", 1)[1], doc, now))

    def docs(self, stream: str) -> list[tuple[dict[str, Any], int]]:
        with self.lock:
            return [(doc, t) for s, doc, t in self.items if s == stream]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def command(kind: str, url: str, port: int, detector_args: tuple[str, ...]) -> list[str]:
    """The same camera, broker and detector settings for both; no Foxglove (not on the measured path)."""
    common = ["-p", f"mqtt_bridge.port={port}", "-p", "mqtt_bridge.autostart_broker=none", "--no-foxglove"]
    if kind == "graph":
        return [*CLI, "launch", "webcam", "--source", url, "--processes", "multi", *common, *detector_args]
    return [*CLI, "webcam", url, "--status-every", "0", *common, *detector_args]


def _load() -> list[float] | None:
    """1/5/15-minute load average (None where the OS has none, e.g. Windows)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _p50(values: list[float]) -> float | None:
    return percentiles(values, (50,), digits=2, mean=False)["p50"]


def measure(kind: str, url: str, port: int, cfg: CompareConfig, log_dir: Path) -> dict[str, Any]:
    """One run: start, wait for warmup + results main_person messages, SIGINT, figures."""
    rx = StreamRecorder(port)
    log_path = log_dir / f"{kind}.log"
    wanted = cfg.warmup + cfg.results
    t0, t0_wall_ns = time.monotonic(), time.time_ns()
    with open(log_path, "w") as log_file:
        cmd = command(kind, url, port, cfg.detector_args)
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=isolated_ros_env())
        try:
            while len(rx.docs("main_person")) < wanted and proc.poll() is None:
                if time.monotonic() - t0 > cfg.timeout_s:
                    break
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    rx.close()
    mains = rx.docs("main_person")
    if len(mains) < wanted:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{kind}: {len(mains)}/{wanted} results (exit {proc.returncode}); log {log_path}:\n{tail}")
    measured = mains[cfg.warmup : wanted]
    seqs = {doc["seq"] for doc, _ in measured}
    latency = [(t - schema.stamp_to_ns(doc["stamp"])) / 1e6 for doc, t in measured]
    dets = [doc for doc, _ in rx.docs("detections") if doc["seq"] in seqs]
    inference = [float(d["timing_ms"]["inference"]) for d in dets]
    # where the time goes (p50 of each part): capture -> detector start (decode + the frame's wait for the
    # detector), the detector's stages, detection -> main person, and main person -> MQTT receive
    breakdown = {
        "capture_to_detector_start": _p50([float(d["timing_ms"].get("wait", 0.0)) for d in dets]),
        **{k: _p50([float(d["timing_ms"][k]) for d in dets]) for k in ("preprocess", "inference", "postprocess")},
        "detection_to_main_person": _p50(
            [
                doc["latency_ms"]["capture_to_main_person"] - doc["latency_ms"]["capture_to_detection"]
                for doc, _ in measured
                if "capture_to_detection" in (doc.get("latency_ms") or {})
            ]
        ),
        "main_person_to_mqtt_receive": _p50(
            [
                (t - schema.stamp_to_ns(doc["stamp"])) / 1e6 - doc["latency_ms"]["capture_to_main_person"]
                for doc, t in measured
            ]
        ),
    }
    # what the pipeline adds around the model, frame by frame: robust to the machine's load changing between runs
    inference_by_seq = {d["seq"]: float(d["timing_ms"]["inference"]) for d in dets}
    overhead = [
        (t - schema.stamp_to_ns(doc["stamp"])) / 1e6 - inference_by_seq[doc["seq"]]
        for doc, t in measured
        if doc["seq"] in inference_by_seq
    ]
    span_s = (measured[-1][1] - measured[0][1]) / 1e9
    return {
        "kind": kind,
        "command": " ".join(command(kind, url, port, cfg.detector_args)[2:]),
        "results": len(measured),
        "capture_to_mqtt_ms": percentiles(latency, (50, 99), digits=2, mean=False, high=True),
        "detector_inference_ms_p50": _p50(inference),
        "capture_to_mqtt_minus_inference_ms": percentiles(overhead, (50, 99), digits=2, mean=False),
        "breakdown_ms_p50": breakdown,
        "results_per_s": round((len(measured) - 1) / span_s, 3) if span_s > 0 else None,
        "exit_code": proc.returncode,
        "weights": measured[0][0].get("weights") or (dets[0].get("weights") if dets else None),
        "start_to_first_result_s": round((mains[0][1] - t0_wall_ns) / 1e9, 1),  # model load and start-up
    }


def machine() -> dict[str, Any]:
    from ros_detect.bench.precision import machine_info

    info = machine_info()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        info["lscpu"] = {
            k.strip(): v.strip()
            for k, _, v in (line.partition(":") for line in out.splitlines())
            if k.strip() in ("Model name", "CPU family", "Model", "CPU(s)", "Hypervisor vendor")
        }
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def run(cfg: CompareConfig, progress: Any = print) -> dict[str, Any]:
    from ros_detect.media.mjpeg_server import MjpegServer, free_port
    from ros_detect.mqtt.broker import start_mosquitto

    if cfg.results < 2 or cfg.warmup < 0 or cfg.pairs < 1:
        raise ConfigError("--results must be >= 2, --warmup >= 0, --pairs >= 1", "e.g. --results 40 --pairs 1")
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-compare-"))  # each run's output, named in a failure
    load_before = _load()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    runs: list[dict[str, Any]] = []
    broker = start_mosquitto(free_port())
    try:
        with MjpegServer(fps=cfg.camera_fps, video=cfg.video) as camera:
            for pair in range(cfg.pairs):
                for kind in KINDS if pair % 2 == 0 else tuple(reversed(KINDS)):
                    progress(f"  {kind}: running until {cfg.warmup} + {cfg.results} results ...")
                    result = measure(kind, camera.url, broker.port, cfg, log_dir)
                    result["pair"] = pair
                    runs.append(result)
                    lat = result["capture_to_mqtt_ms"]
                    progress(
                        f"  {kind:<6}: capture->MQTT p50 {lat['p50']} ms, p99 {lat['p99']} ms "
                        f"({result['results']} results, {result['results_per_s']}/s, "
                        f"inference p50 {result['detector_inference_ms_p50']} ms, "
                        f"around it p50 {result['capture_to_mqtt_minus_inference_ms']['p50']} ms)"
                    )
    finally:
        broker.stop()
    summary = {kind: _median_of_runs([r for r in runs if r["kind"] == kind]) for kind in KINDS}
    g, w = summary["graph"], summary["webcam"]
    report = {
        "what": "capture -> MQTT receive latency: ros-detect launch webcam (ROS graph) vs ros-detect webcam (no ROS)",
        "started_at": started,
        "config": {**asdict(cfg), "out": str(cfg.out)},
        "machine": machine(),
        "load_average": {"before": load_before, "after": _load()},
        "runs": runs,
        "median_over_pairs": summary,
        "ratio_webcam_to_graph": {
            "p50": _ratio(w["p50"], g["p50"]),
            "p99": _ratio(w["p99"], g["p99"]),
            "detector_inference_p50": _ratio(w["inference_p50"], g["inference_p50"]),
            "overhead_p50": _ratio(w["overhead_p50"], g["overhead_p50"]),
        },
    }
    report["webcam_p50_not_worse"] = bool(w["p50"] is not None and g["p50"] is not None and w["p50"] <= g["p50"])
    cfg.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _median_of_runs(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    def med(values: list[float | None]) -> float | None:
        return _p50([v for v in values if v is not None])

    return {
        "p50": med([r["capture_to_mqtt_ms"]["p50"] for r in runs]),
        "p99": med([r["capture_to_mqtt_ms"]["p99"] for r in runs]),
        "inference_p50": med([r["detector_inference_ms_p50"] for r in runs]),
        "overhead_p50": med([r["capture_to_mqtt_minus_inference_ms"]["p50"] for r in runs]),
        "results_per_s": med([r["results_per_s"] for r in runs]),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def print_report(report: dict[str, Any], out: Any = print) -> None:
    m, r = report["median_over_pairs"], report["ratio_webcam_to_graph"]
    cfg = report["config"]
    out(f"\ncapture -> MQTT receive, {cfg['results']} results per run, median of {cfg['pairs']} pair(s)")
    out(f"{'':<28} {'p50 ms':>9} {'p99 ms':>9} {'results/s':>10} {'inference p50':>14} {'p50 - inference':>16}")
    for kind, label in (("graph", "ros-detect launch webcam"), ("webcam", "ros-detect webcam (no ROS)")):
        row = m[kind]
        cells = (row["p50"], row["p99"], row["results_per_s"], row["inference_p50"], row["overhead_p50"])
        out(f"{label:<28} {cells[0]!s:>9} {cells[1]!s:>9} {cells[2]!s:>10} {cells[3]!s:>14} {cells[4]!s:>16}")
    ratios = (r["p50"], r["p99"], "", r["detector_inference_p50"], r["overhead_p50"])
    out(f"{'ratio webcam / graph':<28} {ratios[0]!s:>9} {ratios[1]!s:>9} {'':>10} {ratios[3]!s:>14} {ratios[4]!s:>16}")
    load = report["load_average"]
    out(f"load average before {load['before']}, after {load['after']}; JSON: {report['config']['out']}")
