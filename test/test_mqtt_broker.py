"""Out of the box: the bridge starts mosquitto (or the embedded amqtt broker) when none listens on loopback."""

from __future__ import annotations

import logging
import signal
import tempfile
from pathlib import Path

import pytest
from helpers.mjpeg import free_port
from helpers.mosquitto import MqttRecorder, require_mosquitto
from helpers.mqtt_feed import Bridge, feed, seqs
from helpers.ros import ros_env
from helpers.wait import wait_until

from ros_detect.mqtt.broker import ensure_local_broker, port_open, start_embedded
from ros_detect.mqtt.client import MqttPublisher
from ros_detect.mqtt.config import MqttConfig

log = logging.getLogger("test.broker")


def test_no_broker_started_when_not_loopback_disabled_or_already_listening(caplog) -> None:
    caplog.set_level(logging.INFO)
    assert ensure_local_broker("broker.example.com", free_port(), "auto", log) is None
    assert ensure_local_broker("127.0.0.1", free_port(), "none", log) is None
    broker = ensure_local_broker("127.0.0.1", free_port(), "mosquitto", log)
    assert broker is not None
    try:
        assert ensure_local_broker("127.0.0.1", broker.port, "auto", log) is None  # reuses it
        assert "already listening" in caplog.text
        assert broker.workdir.name.startswith("ros_detect_mosquitto_") and broker.workdir.is_dir()
    finally:
        broker.stop()
    assert not broker.workdir.exists(), "a stopped broker leaves its config and log behind in /tmp"


def test_embedded_broker_is_loopback_only_and_carries_results_and_lwt() -> None:
    port = free_port()
    broker = start_embedded(port)
    try:
        out = [
            line
            for line in open("/proc/net/tcp").read().splitlines()[1:]
            if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"  # LISTEN
        ]
        assert out and all(line.split()[1].startswith("0100007F:") for line in out), out  # 127.0.0.1 only
        rec = MqttRecorder(port, "ros_detect/#")
        pub = MqttPublisher(MqttConfig(port=port, source_id="emb"))
        pub.start()
        for i in range(20):
            pub.submit("main_person", f'{{"seq":{i}}}')
        assert wait_until(lambda: len(seqs(rec)) == 20, 30)
        assert seqs(rec) == list(range(20))
        pub.close()
        assert wait_until(lambda: rec.payloads("/status")[-1:] == [b"offline"], 30)
        rec.close()
    finally:
        broker.stop()
    assert not broker.alive()
    assert not broker.workdir.exists(), "a stopped broker leaves its log behind in /tmp"


def test_a_broker_that_cannot_start_says_why_and_leaves_nothing_behind(tmp_path) -> None:
    require_mosquitto()
    from ros_detect.errors import ConfigError
    from ros_detect.mqtt.broker import start_mosquitto

    before = set(Path(tempfile.gettempdir()).glob("ros_detect_mosquitto_*"))
    with pytest.raises(ConfigError, match="did not start") as error:  # mosquitto exits at once and logs why
        start_mosquitto(free_port(), extra=("no_such_option true",), wait_s=10)
    assert "no_such_option" in error.value.problem  # its log, read before it was removed
    assert set(Path(tempfile.gettempdir()).glob("ros_detect_mosquitto_*")) <= before
    kept = tmp_path / "mine"  # a directory the caller chose stays
    kept.mkdir()
    broker = start_mosquitto(free_port(), workdir=kept)
    broker.stop()
    assert kept.is_dir()


@pytest.mark.ros
def test_bridge_starts_mosquitto_itself_and_stops_it_on_exit(tmp_path) -> None:
    require_mosquitto()
    env = ros_env()
    port = free_port()
    bridge = Bridge(env, tmp_path / "bridge.log", port=port, autostart_broker="auto", source_id="auto")
    try:
        assert wait_until(lambda: port_open("127.0.0.1", port) and "started mosquitto" in bridge.text(), 120)
        assert f"bound to 127.0.0.1:{port}" in bridge.text()
        rec = MqttRecorder(port, "ros_detect/#")
        feeder = feed(env, 10, 20.0)
        out, err = feeder.communicate(timeout=300)  # a safety net: it exits once the bridge has acknowledged all
        assert wait_until(lambda: seqs(rec) == list(range(10)), 30), (seqs(rec), out, err[-1000:], bridge.text())
        rec.close()
        assert bridge.stop(signal.SIGTERM) == 0, bridge.text()
        assert wait_until(lambda: not port_open("127.0.0.1", port), 30), "the broker the bridge started stops with it"
        assert "stopping the mosquitto broker" in bridge.text() and "Traceback" not in bridge.text()
    finally:
        bridge.stop(signal.SIGKILL)
