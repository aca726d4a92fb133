"""Test helpers for the MQTT bridge: a ROS feeder process, the bridge as a process.

As a script, publishes main_person (and with `--detections` detections) documents on ROS at `--rate` Hz,
stamp = now, seq 0, 1, 2, ... It waits until `--subscribers` subscriptions match `main_person` first.

    python test/helpers/mqtt_feed.py --count 100 --rate 25      # publish 100, then exit
    python test/helpers/mqtt_feed.py --control --rate 25        # publish as told on stdin (`Feeder`)

It never sleeps "to let discovery settle": the publisher is reliable with a history deep enough for every
document it publishes, so a reader that matches a little late still gets them all, and before exiting it
waits until every subscriber has acknowledged everything. The last stdout line is one JSON object:
{"published": n, "acked": bool, "late_ms_max": worst timer lateness}. Growing lateness would mean
something stalled this process; the bridge's own `stats` show whether *its* callbacks kept up.

With `--control` it reads commands on stdin (`publish N`, `end`) and reports events on stdout, one JSON
object a line: {"event": "ready"} once matched, {"event": "published", "total": n} after each batch, and
{"event": "stats", "doc": {...}} for every `stats` heartbeat on ROS, so a test can wait on what the bridge
reports about itself (state, buffered) while its broker is away.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ros_detect import schema

if TYPE_CHECKING:  # not at run time: this file also runs as a script, without test/ on sys.path
    from helpers.mosquitto import MqttRecorder

FRAME_ID = "feedcam"
FEED = str(Path(__file__).resolve())
HISTORY = 1000  # publisher depth: more than any test publishes, so nothing unacknowledged is overwritten


class Bridge:
    """`python -m ros_detect.nodes.mqtt_bridge --ros-args -p k:=v ...`, output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, **params: object) -> None:
        args = [f"{k}:={v}" for k, v in {"stats_period_s": 0.5, "autostart_broker": "none", **params}.items()]
        cmd = [sys.executable, "-m", "ros_detect.nodes.mqtt_bridge", "--ros-args"]
        for a in args:
            cmd += ["-p", a]
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def feed(env: dict[str, str], count: int, rate: float, *extra: str) -> subprocess.Popen:
    """Publish `count` documents and exit; `proc.communicate()` returns the summary line."""
    cmd = [sys.executable, FEED, "--count", str(count), "--rate", str(rate), *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Feeder:
    """The feeder under a test's control: publish in batches when the test's conditions say so.

    `wait_until(feeder.ready, 60)`, `feeder.publish(50)`, `wait_until(lambda: feeder.published() >= 50, 60)`,
    `feeder.stats("/mqtt_bridge")` (the bridge's heartbeats seen on ROS), `feeder.finish()` -> summary.
    """

    def __init__(self, env: dict[str, str], log: Path, rate: float, *extra: str) -> None:
        cmd = [sys.executable, FEED, "--control", "--rate", str(rate), *extra]
        self.log = log
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
            )
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.events.append(json.loads(line))

    def _events(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == kind]

    def ready(self) -> bool:
        return bool(self._events("ready"))

    def publish(self, count: int) -> None:
        self._send(f"publish {count}")

    def published(self) -> int:
        done = self._events("published")
        return int(done[-1]["total"]) if done else 0

    def stats(self, node: str) -> list[dict[str, Any]]:
        return [e["doc"] for e in self._events("stats") if e["doc"].get("node") == node]

    def finish(self, timeout_s: float = 60) -> dict[str, Any]:
        """Let the batches already asked for go out, wait for their acknowledgements, return the summary."""
        self._send("end")
        self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=10)
        summaries = [e for e in self.events if "event" not in e]
        assert summaries, f"feeder exited with {self.proc.returncode}: {self.log.read_text(errors='replace')}"
        return summaries[-1]

    def _send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def seqs(rec: MqttRecorder) -> list[int]:
    return [d["seq"] for d in rec.docs("/main_person")]


def main_doc(seq: int, stamp_ns: int) -> dict:
    return schema.main_person_doc(
        seq=seq,
        stamp=schema.stamp_from_ns(stamp_ns),
        frame_id=FRAME_ID,
        image_size=(427, 240),
        weights="none (NOT A REAL RESULT)",
        box=[10.0 + seq % 100, 20.0, 110.0 + seq % 100, 220.0],
        score=0.9,
        track_id=1,
        held=False,
        latency_ms={"capture_to_detection": 1.0, "capture_to_main_person": 1.5},
    )


def det_doc(seq: int, stamp_ns: int) -> dict:
    return schema.detections_doc(
        seq=seq,
        stamp_ns=stamp_ns,
        frame_id=FRAME_ID,
        image_size=(427, 240),
        model="feed",
        precision="fp32",
        weights="none (NOT A REAL RESULT)",
        detections=[],
        timing_ms={"decode": 0.0, "preprocess": 0.0, "inference": 0.0, "postprocess": 0.0},
    )


def emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def commands(stream: Any) -> queue.Queue[str]:
    """stdin lines on a queue (read on a thread, so the node keeps spinning); EOF reads as `end`."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line.strip())
        lines.put("end")

    threading.Thread(target=read, daemon=True).start()
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50, help="documents to publish (without --control)")
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--subscribers", type=int, default=1)
    ap.add_argument("--detections", action="store_true")
    ap.add_argument("--control", action="store_true", help="publish as told on stdin, report events on stdout")
    ap.add_argument("--match-timeout", type=float, default=120.0, help="longest wait for the subscribers")
    ap.add_argument("--ack-timeout", type=float, default=60.0, help="longest wait for acknowledgements at the end")
    args = ap.parse_args()

    import rclpy
    from rclpy.duration import Duration
    from std_msgs.msg import String

    from ros_detect.nodes.messages import Detections, MainPerson, detections_msg, main_person_msg

    late_max = 0.0
    published = 0
    with rclpy.init():
        node = rclpy.create_node("mqtt_feed")
        pub = node.create_publisher(MainPerson, "main_person", max(HISTORY, args.count))
        pub_det = node.create_publisher(Detections, "detections", max(HISTORY, args.count))
        if args.control:
            node.create_subscription(String, "stats", lambda m: emit({"event": "stats", "doc": json.loads(m.data)}), 50)
        deadline = time.monotonic() + args.match_timeout
        while pub.get_subscription_count() < args.subscribers:
            if time.monotonic() > deadline:
                print(f"error: no subscriber on main_person after {args.match_timeout} s", file=sys.stderr)
                return 1
            rclpy.spin_once(node, timeout_sec=0.05)

        def publish(count: int) -> None:
            nonlocal published, late_max
            period = 1.0 / args.rate
            t_next = time.monotonic()
            for _ in range(count):
                late_max = max(late_max, time.monotonic() - t_next)
                stamp = time.time_ns()
                if args.detections:
                    pub_det.publish(detections_msg(det_doc(published, stamp)))
                pub.publish(main_person_msg(main_doc(published, stamp)))
                published += 1
                t_next += period
                # pacing, not waiting: spin until the next document is due (a camera-rate source)
                while (left := t_next - time.monotonic()) > 0:
                    rclpy.spin_once(node, timeout_sec=left)

        if args.control:
            emit({"event": "ready"})
            todo = commands(sys.stdin)
            while (command := _next(todo, node)) != "end":
                if command.startswith("publish "):
                    publish(int(command.split()[1]))
                    emit({"event": "published", "total": published})
        else:
            publish(args.count)
        acked = all(p.wait_for_all_acked(Duration(seconds=args.ack_timeout)) for p in (pub, pub_det))
        node.destroy_node()
    emit({"published": published, "acked": acked, "late_ms_max": round(late_max * 1000, 2)})
    return 0


def _next(todo: queue.Queue[str], node: Any) -> str:
    """The next stdin command, spinning the node (stats subscription) while none is there."""
    import rclpy

    while True:
        try:
            return todo.get_nowait()
        except queue.Empty:
            rclpy.spin_once(node, timeout_sec=0.05)


if __name__ == "__main__":
    raise SystemExit(main())
