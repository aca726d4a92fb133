"""The mqtt_bridge node as its own process (real rclpy, real mosquitto, independent paho subscriber)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from helpers.mjpeg import free_port
from helpers.mosquitto import Mosquitto, MqttRecorder
from helpers.mqtt_feed import Bridge, Feeder, feed, seqs
from helpers.ros import ros_env
from helpers.wait import count_lines, wait_for_line, wait_until

from ros_detect import schema
from ros_detect.mqtt.client import WINDOW

pytestmark = pytest.mark.ros


@pytest.fixture
def env() -> dict[str, str]:
    return ros_env()


@pytest.fixture
def cleanup() -> Iterator[list]:
    items: list = []
    yield items
    for it in reversed(items):
        if isinstance(it, Bridge):
            it.stop(signal.SIGKILL)
        elif isinstance(it, subprocess.Popen):  # a graph or feeder left running by a failed assertion
            it.kill()
            it.wait()
        else:
            it.close()


def test_every_result_forwarded_in_order_schema_valid_and_lwt_on_kill(env, tmp_path, cleanup: list) -> None:
    broker = Mosquitto().start()
    cleanup.append(broker)
    rec = MqttRecorder(broker.port, "ros_detect/#")
    cleanup.append(rec)
    bridge = Bridge(env, tmp_path / "bridge.log", port=broker.port)
    cleanup.append(bridge)
    feeder = feed(env, 60, 30.0, "--detections")
    cleanup.append(feeder)
    out, err = feeder.communicate(timeout=300)  # a safety net: it exits once the bridge has acknowledged all
    summary = json.loads(out)
    assert summary["published"] == 60 and summary["acked"], err
    assert wait_until(lambda: len(seqs(rec)) >= 60 and len(rec.payloads("/detections")) >= 60, 30), bridge.text()
    assert seqs(rec) == list(range(60)), "one main_person per frame, in order"
    assert [d["seq"] for d in rec.docs("/detections")] == list(range(60))
    for d in rec.docs("/main_person") + rec.docs("/detections")[:5]:
        schema.validate(d)
    topics = {m[0] for m in rec.messages}
    assert topics == {f"ros_detect/feedcam/{s}" for s in ("main_person", "detections", "stats", "status")}
    assert rec.payloads("/status")[0] == b"online"
    stats = [d for d in rec.docs("/stats") if d["node"] == "/mqtt_bridge"]
    assert stats, "the bridge's own heartbeat reaches MQTT"
    schema.validate(stats[-1])
    assert stats[-1]["counters"]["connected"] == 1 and stats[-1]["dropped"] == 0

    bridge.stop(signal.SIGKILL)  # no chance to say goodbye: the broker sends the Last Will
    assert wait_until(lambda: rec.payloads("/status")[-1:] == [b"offline"], 30), rec.payloads("/status")
    assert "Traceback" not in bridge.text()


def test_broker_outage_mid_run_loses_nothing_and_never_stalls(env, tmp_path, cleanup: list) -> None:
    broker = Mosquitto(persistence=True).start()
    cleanup.append(broker)
    rec = MqttRecorder(broker.port, "ros_detect/#", persistent=True)  # queued for it while it reconnects
    cleanup.append(rec)
    bridge = Bridge(env, tmp_path / "bridge.log", port=broker.port, reconnect_min_s=0.2, reconnect_max_s=1.0)
    cleanup.append(bridge)
    feeder = Feeder(env, tmp_path / "feed.log", 25.0)
    cleanup.append(feeder)
    batch = 50  # results before, during and after the outage
    assert wait_until(feeder.ready, 120), bridge.text()
    feeder.publish(batch)
    assert wait_until(lambda: len(seqs(rec)) >= batch, 60), bridge.text()

    broker.stop()
    gap_start = time.time_ns()
    assert wait_for_line(bridge.log, "lost the broker", 30), bridge.text()
    feeder.publish(batch)

    def gap_heartbeats_on_ros() -> list[dict]:
        return [
            d
            for d in feeder.stats("/mqtt_bridge")
            if schema.stamp_to_ns(d["stamp"]) > gap_start and d["state"] == "reconnecting"
        ]

    # The outage lasts until the bridge has taken in the whole batch and said so in 3 heartbeats.
    assert wait_until(
        lambda: (
            feeder.published() >= 2 * batch
            and len(gap_heartbeats_on_ros()) >= 3
            and gap_heartbeats_on_ros()[-1]["counters"]["buffered"] >= batch
        ),
        120,
    ), (feeder.published(), gap_heartbeats_on_ros()[-1:], bridge.text())
    broker.start()
    feeder.publish(batch)
    summary = feeder.finish(120)
    n = 3 * batch
    assert summary["published"] == n and summary["acked"], summary
    assert wait_until(lambda: len(set(seqs(rec))) >= n, 60), f"{len(set(seqs(rec)))}/{n}\n{bridge.text()}"

    got = seqs(rec)
    first = list(dict.fromkeys(got))
    assert first == list(range(n)), "every result produced in the gap arrives, in order"
    assert len(got) - n <= WINDOW, "duplicates only as QoS 1 allows (messages unacknowledged at the drop)"
    # The bridge kept taking results while the broker was away: its heartbeats from the gap show it.
    gap = [
        d
        for d in rec.docs("/stats")
        if d["node"] == "/mqtt_bridge" and schema.stamp_to_ns(d["stamp"]) > gap_start and d["state"] == "reconnecting"
    ]
    assert len(gap) >= 3, "bridge heartbeats produced during the gap are delivered too"
    buffered = [d["counters"]["buffered"] for d in gap]
    assert buffered == sorted(buffered) and buffered[-1] >= batch, buffered
    log = bridge.text()
    assert "lost the broker" in log and "reconnected" in log and "Traceback" not in log

    assert bridge.stop(signal.SIGTERM) == 0  # clean stop: says `offline` itself
    assert wait_until(lambda: rec.payloads("/status")[-1:] == [b"offline"], 30)


def test_bad_tls_file_or_parameter_is_a_clear_error_not_a_traceback(env, tmp_path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    for params, needle in (
        ({"ca_file": str(tmp_path / "missing.pem")}, "does not exist"),
        ({"ca_file": str(garbage), "source_id": "x"}, "TLS files rejected"),
        ({"port": "abc"}, "port"),
        ({"qos": 5}, "qos"),
    ):
        bridge = Bridge(env, tmp_path / "bridge.log", **{"port": free_port(), **params})
        code = bridge.proc.wait(timeout=30)
        text = bridge.text()
        assert code == 2, text
        assert needle in text and "fix:" in text and "Traceback" not in text


def test_webcam_graph_from_served_stream_through_a_broker_restart(env, tmp_path, cleanup: list) -> None:
    """`ros-detect launch webcam` on a test-served MJPEG stream -> mosquitto -> an independent subscriber.

    Mid-run the broker stops until the graph has written several more results; afterwards the subscriber
    holds exactly the main_person documents the graph wrote to main_person.jsonl, in order. The graph runs
    until results arrive after the restart, then stops on SIGINT (Ctrl-C), as a live graph does.
    """
    from helpers.mjpeg import MjpegServer

    broker = Mosquitto(persistence=True).start()
    cleanup.append(broker)
    cam = MjpegServer(fps=10.0).start()
    cleanup.append(SimpleNamespace(close=cam.stop))
    rec = MqttRecorder(broker.port, "ros_detect/#", persistent=True)
    cleanup.append(rec)
    out, log = tmp_path / "out", tmp_path / "launch.log"
    mains = out / "main_person.jsonl"  # flushed per line: the graph's side, as it goes
    cmd = [
        sys.executable, "-m", "ros_detect.cli", "launch", "webcam", "--source", cam.url, "--no-foxglove",
        "--weights", "none", "--precision", "fp32", "--threads", "1", "--proposals", "100", "-o", str(out),
        "-p", f"mqtt_bridge.port={broker.port}", "-p", "mqtt_bridge.autostart_broker=none",
        "-p", "mqtt_bridge.reconnect_min_s=0.2", "-p", "mqtt_bridge.reconnect_max_s=1.0",
    ]  # fmt: skip
    with open(log, "wb") as sink:
        graph = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    cleanup.append(graph)

    def running(condition) -> bool:  # stop waiting at once if the graph died
        return graph.poll() is not None or condition()

    assert wait_until(lambda: running(lambda: rec.docs("/main_person")), 300), "no result reached MQTT"
    assert graph.poll() is None, log.read_text()[-3000:]
    broker.stop()
    gap_start = time.time_ns()
    written_at_stop = count_lines(mains)
    # Several results written after the stop: the later ones come from frames captured after it (newest frame wins).
    assert wait_until(lambda: running(lambda: count_lines(mains) >= written_at_stop + 5), 300), log.read_text()
    assert wait_for_line(log, "lost the broker", 60), log.read_text()[-3000:]
    gap_end = time.time_ns()
    broker.start()
    assert wait_until(
        lambda: running(lambda: any(schema.stamp_to_ns(d["stamp"]) > gap_end for d in rec.docs("/main_person"))),
        300,
    ), "no result reached MQTT after the broker restart"
    graph.send_signal(signal.SIGINT)
    assert graph.wait(timeout=120) == 0, log.read_text()[-3000:]
    output = log.read_text()

    ros_side = [json.loads(line) for line in mains.read_text().splitlines()]
    in_gap = [d for d in ros_side if gap_start < schema.stamp_to_ns(d["stamp"]) < gap_end]
    assert in_gap, f"the pipeline kept processing frames while the broker was down\n{output[-2000:]}"
    assert wait_until(lambda: len({d["seq"] for d in rec.docs("/main_person")}) >= len(ros_side), 30)
    mqtt_side = rec.docs("/main_person")
    unique = list({schema.dumps(d): d for d in mqtt_side}.values())  # first copies, arrival order
    assert unique == ros_side, "every processed frame's main_person reaches MQTT, unchanged, in order"
    assert len(mqtt_side) - len(unique) <= WINDOW, "duplicates only as QoS 1 allows"
    for d in unique:
        schema.validate(d)
    status = rec.payloads(f"{ros_side[0]['frame_id']}/status")
    assert status[0] == b"online" and status.count(b"online") >= 2  # online again after the reconnect
    assert status[-1] == b"offline"  # the bridge said goodbye on a clean stop
    assert "Traceback" not in output
