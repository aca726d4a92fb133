"""Pure MQTT logic: config validation, topics, password masking, buffer, rate limit, backoff, broker helpers."""

from __future__ import annotations

import logging
import threading

import pytest

from ros_detect.dropqueue import DropQueue
from ros_detect.errors import ConfigError
from ros_detect.mqtt.broker import is_loopback, mosquitto_conf
from ros_detect.mqtt.buffer import Backoff, Outgoing, RateLimiter
from ros_detect.mqtt.config import AUTOSTART_MODES, MqttConfig, from_mapping, topic
from ros_detect.paths import config_dir

pytestmark = pytest.mark.unit


def item(i: int, stream: str = "main_person") -> Outgoing:
    return Outgoing(stream, str(i).encode(), 1, False)


def test_topics_follow_prefix_source_stream() -> None:
    c = MqttConfig(topic_prefix="site/lab", source_id="cam1")
    assert topic(c, "main_person") == "site/lab/cam1/main_person"
    assert topic(c, "detections") == "site/lab/cam1/detections"
    assert topic(c, "status") == "site/lab/cam1/status"
    assert topic(c, "stats", "other") == "site/lab/other/stats"
    with pytest.raises(ValueError):
        topic(c, "images")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"qos": 3}, "qos"),
        ({"host": ""}, "host"),
        ({"host": "a b"}, "host"),
        ({"topic_prefix": "/abs"}, "topic_prefix"),
        ({"topic_prefix": "a/#"}, "topic_prefix"),
        ({"source_id": "a/b"}, "source_id"),
        ({"source_id": "+"}, "source_id"),
        ({"forward": ("main_person", "images")}, "forward"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"reconnect_min_s": 5.0, "reconnect_max_s": 1.0}, "reconnect"),
        ({"detections_max_hz": -1.0}, "detections_max_hz"),
        ({"password": "x"}, "username"),
        ({"ca_file": "/no/such/ca.pem"}, "ca_file"),
        ({"autostart_broker": "off"}, "autostart_broker"),
        ({"keepalive_s": 1}, "keepalive"),
    ],
)
def test_bad_settings_raise_config_error_with_fix(kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        MqttConfig(**kwargs)
    assert needle in err.value.problem
    assert err.value.fix


def test_cert_and_key_go_together(tmp_path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="together"):
        MqttConfig(cert_file=str(cert))
    assert MqttConfig(cert_file=str(cert), key_file=str(cert)).use_tls


def test_password_never_shows_in_repr_or_redacted() -> None:
    c = MqttConfig(username="robot", password="s3cret!")
    assert "s3cret!" not in repr(c)
    assert "s3cret!" not in str(c.redacted())
    assert c.redacted()["password"] == "***"
    assert c.password == "s3cret!"  # still usable by the client
    assert MqttConfig().redacted()["password"] == ""


def test_from_mapping_takes_ros_parameter_shapes() -> None:
    c = from_mapping({"port": 1884, "forward": ["main_person"], "depth": 10, "qos": 0, "stats_topic": "stats"})
    assert (c.port, c.forward, c.qos) == (1884, ("main_person",), 0)
    assert from_mapping({"forward": "main_person, stats"}).forward == ("main_person", "stats")
    assert "none" in AUTOSTART_MODES and "off" not in AUTOSTART_MODES  # YAML 1.1 reads `off` as false


def test_buffer_keeps_order_and_drops_oldest_first() -> None:
    buf = DropQueue(3)
    assert all(buf.put(item(i)) for i in range(3))
    assert buf.put(item(3)) is False and buf.put(item(4)) is False
    assert buf.dropped == 2 and buf.high_water == 3
    assert [buf.pop().payload for _ in range(3)] == [b"2", b"3", b"4"]
    assert buf.pop() is None


def test_buffer_push_front_keeps_order_when_full() -> None:
    buf = DropQueue(2)
    buf.put(item(1))
    buf.put(item(2))
    buf.push_front(item(0))  # a message that failed to send goes back first; the newest yields
    assert [buf.pop().payload for _ in range(2)] == [b"0", b"1"]
    assert buf.dropped == 1


def test_buffer_is_fifo_across_threads() -> None:
    buf = DropQueue(100_000)
    got: list[bytes] = []
    stop = threading.Event()

    def consumer() -> None:
        while not stop.is_set() or len(buf):
            it = buf.pop()
            if it is not None:
                got.append(it.payload)

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(5000):
        buf.put(item(i))
    stop.set()
    t.join()
    assert got == [str(i).encode() for i in range(5000)]
    assert buf.dropped == 0


def test_buffer_can_be_used_under_its_own_lock() -> None:
    """The MQTT sender checks, pops and gives back items while holding `cond` (its state shares that lock)."""
    buf: DropQueue[Outgoing] = DropQueue(3)
    for i in range(4):
        buf.put(item(i))
    with buf.cond:
        assert buf and len(buf) == 3
        first = buf.pop()
        buf.push_front(first)
        assert [o.payload for o in buf.snapshot()] == [b"1", b"2", b"3"]
    assert (buf.dropped, buf.accepted, buf.high_water) == (1, 4, 3)
    while buf.pop() is not None:
        pass
    assert not buf and buf.snapshot() == []


def test_rate_limiter_cadence_without_burst() -> None:
    lim = RateLimiter(10.0)  # 100 ms
    t = 0.0
    allowed = []
    for _ in range(30):  # 30 fps for one second
        allowed.append(lim.allow(now=t))
        t += 1 / 30
    assert sum(allowed) == 10
    assert lim.skipped == 20
    # after a long pause: exactly one passes, no catch-up burst
    assert lim.allow(now=100.0) is True
    assert lim.allow(now=100.01) is False


def test_rate_limiter_zero_means_unlimited() -> None:
    lim = RateLimiter(0.0)
    assert all(lim.allow(now=0.0) for _ in range(100))
    assert lim.skipped == 0


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff(0.5, 4.0)
    assert [b.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.attempts == 6
    b.reset()
    assert b.next_delay() == 0.5 and b.attempts == 1


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.1.2.3")
    assert not is_loopback("10.0.0.5") and not is_loopback("broker.example.com") and not is_loopback("0.0.0.0")


def test_mosquitto_conf_is_loopback_only_with_nodelay() -> None:
    conf = mosquitto_conf(1999)
    assert "listener 1999 127.0.0.1" in conf
    assert "set_tcp_nodelay true" in conf
    shipped = (config_dir() / "mosquitto.conf").read_text()
    assert "set_tcp_nodelay true" in shipped and "127.0.0.1" in shipped


def test_publisher_submit_filters_and_rate_limits_without_network(caplog) -> None:
    from ros_detect.mqtt.client import MqttPublisher

    pub = MqttPublisher(MqttConfig(forward=("main_person", "detections"), detections_max_hz=1.0), logging.getLogger())
    assert pub.submit("stats", "{}") is False  # not forwarded
    assert pub.submit("detections", "{}") is True
    assert pub.submit("detections", "{}") is False  # second within one second
    for _ in range(3):
        assert pub.submit("main_person", b"{}")
    snap = pub.snapshot()
    assert snap["received"] == 4 and snap["rate_limited"] == 1 and snap["buffered"] == 4 and snap["connected"] == 0
    assert pub.state == "starting"


def test_source_from_frame_id_is_made_topic_safe_and_set_once() -> None:
    from ros_detect.mqtt.client import MqttPublisher

    pub = MqttPublisher(MqttConfig(), logging.getLogger())
    pub.set_source("cams/front+#1")
    assert pub.source_id == "cams_front__1"
    pub.set_source("other")
    assert pub.source_id == "cams_front__1"


def test_bad_tls_file_fails_at_start_even_before_the_source_is_known(tmp_path) -> None:
    from ros_detect.mqtt.client import MqttPublisher

    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match="TLS files rejected"):
        MqttPublisher(MqttConfig(ca_file=str(garbage)), logging.getLogger()).start()
