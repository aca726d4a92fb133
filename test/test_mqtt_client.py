"""The MQTT publisher against a real mosquitto and an independent paho subscriber (no ROS)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from helpers.mjpeg import free_port
from helpers.mosquitto import Mosquitto, MqttRecorder, make_tls_files
from helpers.mosquitto import mosquitto as mosquitto  # fixture
from helpers.mqtt_feed import seqs
from helpers.wait import wait_until

from ros_detect import schema
from ros_detect.bench.fake_feed import main_person_payload as doc
from ros_detect.errors import ConfigError
from ros_detect.mqtt.client import WINDOW, MqttPublisher
from ros_detect.mqtt.config import MqttConfig

LOG = "ros_detect.mqtt"


def publisher(port: int, **kw) -> MqttPublisher:
    kw = {"source_id": "t", "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, **kw}
    return MqttPublisher(MqttConfig(port=port, **kw), logging.getLogger(LOG))


@pytest.fixture
def closing() -> Iterator[list]:
    """Things to close after the test, even when it fails."""
    items: list = []
    yield items
    for it in reversed(items):
        it.close()


def test_delivers_schema_valid_docs_in_order_with_online_then_offline(mosquitto: Mosquitto, closing: list) -> None:
    rec = MqttRecorder(mosquitto.port, "ros_detect/#")
    closing.append(rec)
    pub = publisher(mosquitto.port)
    pub.start()
    for i in range(200):
        assert pub.submit("main_person", doc(i))
    assert wait_until(lambda: len(seqs(rec)) >= 200, 30), f"got {len(seqs(rec))}/200"
    assert seqs(rec) == list(range(200))
    for d in rec.docs("/main_person"):
        schema.validate(d)
    assert rec.payloads("t/status")[0] == b"online"
    assert {m[0] for m in rec.messages} == {"ros_detect/t/main_person", "ros_detect/t/status"}
    pub.close()
    assert wait_until(lambda: rec.payloads("t/status")[-1:] == [b"offline"], 30)
    assert rec.messages[-1][:2] == ("ros_detect/t/status", b"offline"), "nothing follows offline"
    late = MqttRecorder(mosquitto.port, "ros_detect/t/status")  # a late subscriber sees the retained status
    closing.append(late)
    assert wait_until(lambda: late.messages, 30)
    assert late.messages[0][1:3] == (b"offline", True)
    assert pub.snapshot()["acked"] >= 201  # 200 results + online


def test_buffers_while_no_broker_drops_oldest_then_delivers_in_order(caplog, closing: list) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    broker = Mosquitto(persistence=True).start()
    closing.append(broker)
    rec = MqttRecorder(broker.port, "ros_detect/#", persistent=True)  # its session survives the broker restart
    rec.close()
    broker.stop()
    pub = publisher(broker.port, buffer_size=10)
    closing.append(pub)
    pub.start()
    for i in range(25):
        pub.submit("main_person", doc(i))
    assert wait_until(lambda: "Connection refused" in caplog.text, 30), caplog.text
    snap = pub.snapshot()
    assert (snap["dropped"] == 15 and snap["buffered"] == 10 and pub.state == "starting") or pub.state == "reconnecting"
    assert "retry" in caplog.text and "buffered" in caplog.text
    broker.start()
    rec = MqttRecorder(broker.port, "ros_detect/#", persistent=True)
    closing.append(rec)
    assert wait_until(lambda: len(seqs(rec)) >= 10, 30), seqs(rec)
    assert seqs(rec) == list(range(15, 25))  # the 15 oldest were dropped, the rest arrive in order
    assert "Traceback" not in caplog.text


def test_broker_restart_mid_stream_loses_nothing_and_keeps_order(caplog, closing: list) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    broker = Mosquitto(persistence=True).start()
    closing.append(broker)
    rec = MqttRecorder(broker.port, "ros_detect/#", persistent=True)
    closing.append(rec)
    pub = publisher(broker.port)
    closing.append(pub)
    pub.start()
    rate, most = 100.0, 5000  # a camera-rate producer; `most` only bounds a test that went wrong
    produced = 0
    stop = threading.Event()

    def produce() -> None:
        nonlocal produced
        while not stop.is_set() and produced < most:
            pub.submit("main_person", doc(produced))
            produced += 1
            time.sleep(1 / rate)  # pacing the producer, not waiting for anything

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert wait_until(lambda: len(seqs(rec)) >= 50, 30), "results flow before the outage"
        broker.stop()
        assert wait_until(lambda: pub.snapshot()["connected"] == 0, 30), caplog.text
        gap_start = pub.snapshot()
        assert wait_until(lambda: pub.snapshot()["received"] - gap_start["received"] > 50, 30)
        during_gap = pub.snapshot()
        broker.start()
        assert wait_until(lambda: pub.connected and pub.snapshot()["received"] > during_gap["received"] + 50, 60)
    finally:
        stop.set()
        producer.join()
    n = produced
    assert wait_until(lambda: len(set(seqs(rec))) >= n, 60), f"{len(set(seqs(rec)))}/{n}"
    got = seqs(rec)
    first = list(dict.fromkeys(got))
    assert first == list(range(n)), "every result arrives, first copies in order"
    assert len(got) - n <= WINDOW, "duplicates only for messages in flight at the disconnect (QoS 1)"
    assert during_gap["connected"] == 0 and during_gap["buffered"] > 50
    assert during_gap["received"] - gap_start["received"] > 50, "submit kept accepting while the broker was away"
    assert pub.snapshot()["dropped"] == 0
    assert "lost the broker" in caplog.text and "reconnected" in caplog.text


def test_bad_credentials_log_a_clear_line_and_keep_retrying(caplog, closing: list) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    broker = Mosquitto(users={"robot": "right-pass"}).start()
    closing.append(broker)
    bad = publisher(broker.port, username="robot", password="wrong-pass")
    closing.append(bad)
    bad.start()
    assert wait_until(lambda: "refused the connection" in caplog.text, 30), caplog.text
    assert "username/password" in caplog.text and "wrong-pass" not in caplog.text
    assert not bad.connected
    good = publisher(broker.port, username="robot", password="right-pass", client_id="good")
    closing.append(good)
    good.start()
    assert wait_until(lambda: good.connected, 30)
    rec = MqttRecorder(broker.port, "ros_detect/#", username="robot", password="right-pass")
    closing.append(rec)
    good.submit("main_person", doc(7))
    assert wait_until(lambda: seqs(rec) == [7], 30)
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_unreachable_broker_logs_reason_and_retries(host: str, caplog, closing: list) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    pub = publisher(free_port(), host=host)
    closing.append(pub)
    pub.start()
    pub.submit("main_person", doc(0))
    expected = "Connection refused" if host == "127.0.0.1" else "cannot resolve host"
    assert wait_until(lambda: caplog.text.count("cannot connect") >= 2, 30), caplog.text
    assert expected in caplog.text and "retry 2 in" in caplog.text
    assert pub.snapshot()["buffered"] == 1


def test_tls_right_ca_connects_wrong_ca_and_plain_port_log_handshake_errors(tmp_path, caplog, closing: list) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    files = make_tls_files()
    broker = Mosquitto(tls=(files["ca"], files["server"], files["server_key"])).start()
    closing.append(broker)
    good = publisher(broker.port, ca_file=str(files["ca"]), client_id="tls-good")
    closing.append(good)
    good.start()
    assert wait_until(lambda: good.connected, 30), caplog.text
    assert "mqtts://" in caplog.text

    wrong = publisher(broker.port, ca_file=str(files["other_ca"]), client_id="tls-wrong")
    closing.append(wrong)
    wrong.start()
    assert wait_until(lambda: "certificate verify failed" in caplog.text, 30), caplog.text
    assert "TLS handshake failed" in caplog.text and not wrong.connected

    plain = Mosquitto().start()
    closing.append(plain)
    caplog.clear()
    to_plain = publisher(plain.port, tls=True, ca_file=str(files["ca"]), client_id="tls-plain")
    closing.append(to_plain)
    to_plain.start()
    assert wait_until(lambda: "TLS listener" in caplog.text, 30), caplog.text
    assert not to_plain.connected

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    with pytest.raises(ConfigError, match="TLS files rejected") as err:
        publisher(broker.port, ca_file=str(garbage)).start()
    assert "PEM" in err.value.fix
    assert "Traceback" not in caplog.text


def test_detections_rate_limit_reaches_the_broker(mosquitto: Mosquitto, closing: list) -> None:
    rec = MqttRecorder(mosquitto.port, "ros_detect/#")
    closing.append(rec)
    pub = publisher(mosquitto.port, detections_max_hz=5.0)
    closing.append(pub)
    pub.start()
    t0, submitted = time.monotonic(), 0
    # ~50 Hz for at least one second and at least 50 frames: a loaded machine only makes it take longer
    while time.monotonic() - t0 < 1.0 or submitted < 50:
        pub.submit("detections", json.dumps({"n": 1}))
        pub.submit("main_person", doc(0))
        submitted += 1
        time.sleep(0.02)  # pacing the producer at ~50 Hz; the loop ends on its conditions above
    elapsed = time.monotonic() - t0
    assert wait_until(lambda: pub.snapshot()["buffered"] == 0 and pub.snapshot()["inflight"] == 0, 30)
    assert wait_until(lambda: len(rec.payloads("/main_person")) >= submitted, 30)
    n_det, n_main = len(rec.payloads("/detections")), len(rec.payloads("/main_person"))
    assert n_det <= 5 * elapsed + 1, (n_det, elapsed)  # at most 5 Hz (+1 at the edge)
    assert 2 <= n_det < submitted and pub.snapshot()["rate_limited"] == submitted - n_det  # the limit did bite
    assert n_main == submitted  # main_person is never rate-limited
