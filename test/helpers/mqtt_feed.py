"""Test helpers for the MQTT bridge: a ROS feeder process, the bridge as a process, small waits.

As a script, publishes `--count` main_person (and detections) documents on ROS at `--rate` Hz, stamp = now.

Run as a process: `python test/helpers/mqtt_feed.py --count 100 --rate 25`. It waits until `--subscribers`
subscriptions match `main_person` (so nothing is lost to discovery), publishes seq 0..count-1, waits
`--linger` seconds, and prints one JSON line: {"published": n, "late_ms_max": worst timer lateness}.
A growing lateness would mean something stalled the process; the bridge lives in another process, so
this measures the feeder only; the bridge's own `stats` show whether *its* callbacks kept up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ros_detect import schema

if TYPE_CHECKING:  # not at run time: this file also runs as a script, without test/ on sys.path
    from helpers.mosquitto import MqttRecorder

FRAME_ID = "feedcam"
FEED = str(Path(__file__).resolve())


def ros_env() -> dict[str, str]:
    return {
        **os.environ,
        "ROS_DOMAIN_ID": str(random.randint(1, 100)),  # no cross-talk with parallel test runs
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONUNBUFFERED": "1",
    }


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
        return self.proc.wait(timeout=15)


def feed(env: dict[str, str], count: int, rate: float, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, FEED, "--count", str(count), "--rate", str(rate), *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def seqs(rec: MqttRecorder) -> list[int]:
    return [d["seq"] for d in rec.docs("/main_person")]


def main_doc(seq: int, stamp_ns: int) -> dict:
    return schema.main_person_doc(
        seq=seq,
        stamp=schema.stamp_from_ns(stamp_ns),
        frame_id=FRAME_ID,
        image_size=(427, 240),
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--rate", type=float, default=25.0)
    ap.add_argument("--subscribers", type=int, default=1)
    ap.add_argument("--linger", type=float, default=1.0)
    ap.add_argument("--detections", action="store_true")
    args = ap.parse_args()

    import rclpy

    from ros_detect.nodes.messages import Detections, MainPerson, detections_msg, main_person_msg

    late_max = 0.0
    published = 0
    with rclpy.init():
        node = rclpy.create_node("mqtt_feed")
        pub = node.create_publisher(MainPerson, "main_person", 100)
        pub_det = node.create_publisher(Detections, "detections", 100)
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() < args.subscribers and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        time.sleep(0.3)  # let the subscriber's reader settle
        period = 1.0 / args.rate
        t_next = time.monotonic()
        for seq in range(args.count):
            now = time.monotonic()
            late_max = max(late_max, now - t_next)
            stamp = time.time_ns()
            if args.detections:
                pub_det.publish(detections_msg(det_doc(seq, stamp)))
            pub.publish(main_person_msg(main_doc(seq, stamp)))
            published += 1
            t_next += period
            rclpy.spin_once(node, timeout_sec=max(0.0, t_next - time.monotonic()))
            time.sleep(max(0.0, t_next - time.monotonic()))
        end = time.monotonic() + args.linger
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    print(json.dumps({"published": published, "late_ms_max": round(late_max * 1000, 2)}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
