"""`ros-detect bench-mqtt`: capture -> MQTT-receive latency (p50/p99), side by side.

Each run publishes `--count` main_person documents at `--rate` Hz whose stamp is the "capture" time (now),
and an independent paho subscriber on the same machine records receive time - stamp. Paths:

* client: MqttPublisher.submit -> broker -> subscriber (the MQTT hop alone)
* bridge: ROS publisher -> ros_detect_interfaces/MainPerson -> mqtt_bridge node -> broker -> subscriber
  (what the graph adds after main_person; needs rclpy)

against mosquitto with and without `set_tcp_nodelay`, and the embedded amqtt broker. `--listen` instead
measures a running graph: it subscribes `<prefix>/+/main_person` on a broker and reports stamp -> receive,
i.e. capture -> MQTT including the detector. `--compare-graph` runs the ROS graph (`ros-detect launch webcam`)
and the one-process `ros-detect webcam` one after the other on the same MJPEG camera and detector settings
(ros_detect/bench/live_compare.py) and writes bench_results/webcam_vs_graph.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass

from ros_detect import schema
from ros_detect.bench.fake_feed import main_person_payload
from ros_detect.errors import ConfigError
from ros_detect.percentiles import percentiles

log = logging.getLogger(__name__)
BROKERS = ("mosquitto", "mosquitto-nagle", "embedded")
PATHS = ("client", "bridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=300, help="messages per run")
    parser.add_argument("--rate", type=float, default=30.0, help="messages per second (a camera's frame rate)")
    parser.add_argument("--brokers", default=",".join(BROKERS), help=f"comma list of {', '.join(BROKERS)}")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma list of {', '.join(PATHS)}")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--warmup", type=int, help="first messages left out of the figures (20; --compare-graph: 5)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--listen", metavar="HOST:PORT", help="measure a running graph's main_person instead")
    parser.add_argument("--prefix", default="ros_detect", help="topic prefix for --listen")
    parser.add_argument("--duration", type=float, default=60.0, help="--listen: stop after this many seconds")
    g = parser.add_argument_group("--compare-graph: ros-detect launch webcam vs ros-detect webcam (no ROS)")
    g.add_argument("--compare-graph", action="store_true", help="capture -> MQTT of the graph and of the one process")
    g.add_argument("--results", type=int, default=40, help="main_person messages measured per run")
    g.add_argument("--camera-fps", type=float, default=15.0, help="frame rate of the served MJPEG camera")
    g.add_argument("--video", help="video file the camera serves (default: the synthetic street)")
    g.add_argument("--pairs", type=int, default=1, help="graph/webcam pairs (alternating order); medians reported")
    for opt in ("weights", "model", "precision", "proposals", "threads"):
        g.add_argument(f"--{opt}", help=f"detector {opt} for both (default: config/webcam.yaml)")


@dataclass
class Result:
    path: str
    broker: str
    sent: int
    received: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def row(self) -> str:
        def fmt(v: float | None) -> str:
            return f"{v:8.2f}" if v is not None else "       -"

        lost = self.sent - self.received
        return (
            f"{self.path:<7} {self.broker:<16} {fmt(self.p50_ms)} {fmt(self.p99_ms)} {fmt(self.max_ms)} "
            f"{self.received:>6}/{self.sent:<6} {lost:>5}"
        )


class Receiver:
    """Independent paho subscriber: receive time - document stamp, per seq (first copy only)."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.latency_ms: dict[int, float] = {}
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise ConfigError(f"cannot subscribe on {host}:{port}", "is the broker running?")

    def _on_message(self, _c: object, _u: object, msg: object) -> None:
        now = time.time_ns()
        try:
            doc = json.loads(msg.payload)  # type: ignore[attr-defined]
            self.latency_ms.setdefault(int(doc["seq"]), (now - schema.stamp_to_ns(doc["stamp"])) / 1e6)
        except (ValueError, KeyError, TypeError):
            pass

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _paced(count: int, rate: float, send) -> None:
    t_next = time.monotonic()
    for seq in range(count):
        send(seq)
        t_next += 1.0 / rate
        time.sleep(max(0.0, t_next - time.monotonic()))


def _start_broker(kind: str, port: int):
    from ros_detect.mqtt.broker import start_embedded, start_mosquitto

    if kind == "embedded":
        return start_embedded(port)
    extra = ("set_tcp_nodelay false",) if kind == "mosquitto-nagle" else ()
    return start_mosquitto(port, extra=extra)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_client(port: int, args: argparse.Namespace) -> None:
    from ros_detect.mqtt.client import MqttPublisher
    from ros_detect.mqtt.config import MqttConfig

    pub = MqttPublisher(MqttConfig(port=port, source_id="bench", qos=args.qos), logging.getLogger("bench.mqtt"))
    pub.start()
    deadline = time.monotonic() + 10
    while not pub.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    _paced(args.count, args.rate, lambda seq: pub.submit("main_person", main_person_payload(seq)))
    pub.flush(10.0)
    pub.close()


def run_bridge(port: int, args: argparse.Namespace) -> None:
    """The bridge node and a ROS publisher in this process (as `ros-detect launch` runs them)."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from ros_detect.nodes.messages import MainPerson, main_person_msg
    from ros_detect.nodes.mqtt_bridge import MqttBridgeNode

    with rclpy.init():
        bridge = MqttBridgeNode(
            parameter_overrides=[
                Parameter("port", value=port),
                Parameter("source_id", value="bench"),
                Parameter("qos", value=args.qos),
                Parameter("autostart_broker", value="none"),
                Parameter("stats_period_s", value=0.0),
            ]
        )
        feeder = rclpy.create_node("bench_feed")
        pub = feeder.create_publisher(MainPerson, "main_person", 100)
        executor = SingleThreadedExecutor()
        executor.add_node(bridge)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        deadline = time.monotonic() + 10
        while (pub.get_subscription_count() < 1 or not bridge.mqtt.connected) and time.monotonic() < deadline:
            time.sleep(0.02)
        _paced(args.count, args.rate, lambda seq: pub.publish(main_person_msg(schema.loads(main_person_payload(seq)))))
        bridge.mqtt.flush(10.0)
        executor.shutdown()
        bridge.close()
        bridge.destroy_node()
        feeder.destroy_node()


def measure(path: str, broker_kind: str, args: argparse.Namespace) -> Result:
    port = _free_port()
    broker = _start_broker(broker_kind, port)
    try:
        rx = Receiver("127.0.0.1", port, "ros_detect/bench/main_person")
        (run_client if path == "client" else run_bridge)(port, args)
        time.sleep(0.3)
        rx.close()
    finally:
        broker.stop()
    values = [v for seq, v in rx.latency_ms.items() if seq >= args.warmup]
    s = percentiles(values, (50, 99), mean=False, high=True)
    sent = max(0, args.count - args.warmup)
    return Result(path, broker_kind, sent, len(values), s["p50"], s["p99"], s["max"])


def listen(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    rx = Receiver(host or "127.0.0.1", int(port), f"{args.prefix}/+/main_person")
    print(f"listening on {args.listen} for {args.count} main_person messages or {args.duration:g} s (Ctrl-C: stop)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + args.duration
    try:
        while len(rx.latency_ms) < args.count and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    rx.close()
    if not rx.latency_ms:
        print("no main_person messages received")
        return 1
    s = percentiles(rx.latency_ms.values(), (50, 99), mean=False, high=True)
    print(
        f"capture -> MQTT receive over {len(rx.latency_ms)} frames: p50 {s['p50']:.1f} ms, "
        f"p99 {s['p99']:.1f} ms, max {s['max']:.1f} ms"
    )
    return 0


def compare_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ros_detect.bench.live_compare import CompareConfig, print_report
    from ros_detect.bench.live_compare import run as run_compare

    detector_args: list[str] = []
    for opt in ("weights", "model", "precision", "proposals", "threads"):
        if getattr(args, opt) is not None:
            detector_args += [f"--{opt}", str(getattr(args, opt))]
    if not _trained(args):  # random-init RPN keeps few proposals: force the deployed load (as bench-pipeline)
        detector_args += ["-p", "detector.force_proposals=true"]
    cfg = CompareConfig(
        results=args.results,
        warmup=5 if args.warmup is None else args.warmup,
        camera_fps=args.camera_fps,
        video=args.video,
        pairs=args.pairs,
        detector_args=tuple(detector_args),
        out=Path(args.json or "bench_results/webcam_vs_graph.json"),
    )
    report = run_compare(cfg)
    print_report(report)
    return 0


def _trained(args: argparse.Namespace) -> bool:
    from ros_detect.detection.models import weights_enum_class
    from ros_detect.detection.weights import resolve_weights
    from ros_detect.graph.params import load_param_file, params_for
    from ros_detect.graph.plan import deployed_defaults, shipped_config_files

    files = [load_param_file(f) for f in shipped_config_files("webcam")]
    deployed = deployed_defaults("detector") | params_for(files, "detector")
    weights = args.weights or deployed.get("weights", "auto")
    model = args.model or deployed.get("model")
    return resolve_weights(weights, weights_enum_class(model)).trained


def run(args: argparse.Namespace) -> int:
    if args.compare_graph:
        return compare_graph(args)
    if args.warmup is None:
        args.warmup = 20
    if args.listen:
        return listen(args)
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    bad = [b for b in brokers if b not in BROKERS] + [p for p in paths if p not in PATHS]
    if bad:
        raise ConfigError(f"unknown broker/path {bad}", f"brokers: {', '.join(BROKERS)}; paths: {', '.join(PATHS)}")
    logging.getLogger("ros_detect.mqtt").setLevel(logging.WARNING)
    results: list[Result] = []
    for path in paths:
        for kind in brokers:
            try:
                results.append(measure(path, kind, args))
            except (ConfigError, ImportError) as exc:
                print(f"skipped {path}/{kind}: {exc}", file=sys.stderr)
    print(f"\ncapture -> MQTT receive latency, {args.count} main_person messages at {args.rate:g} Hz, QoS {args.qos}")
    print(f"{'path':<7} {'broker':<16} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'received':>13} {'lost':>5}")
    for r in results:
        print(r.row())
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.__dict__ for r in results], f, indent=2)
    return 0 if results and all(r.received == r.sent for r in results) else 1
