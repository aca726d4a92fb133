"""A real mosquitto broker for tests, on a free 127.0.0.1 port, stoppable and restartable on the same port.

    with Mosquitto() as broker:                 # or the `mosquitto` fixture below
        ... connect to 127.0.0.1:broker.port ...
        broker.stop(); ...wait for what the outage should cause...; broker.start()   # same port and state

`persistence=True` keeps retained messages and persistent sessions across stop/start (SIGTERM writes the
database), as a production broker would. `users={"name": "password"}` turns on a password file.
`tls=(ca, cert, key)` serves TLS (see `make_tls_files`). `config` adds mosquitto.conf lines (a bridge
block). `MqttRecorder` is an independent paho subscriber that records what arrives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from helpers.mjpeg import free_port
from helpers.wait import wait_until
from ros_detect.mqtt.broker import mosquitto_conf, mosquitto_path, port_open


def require_mosquitto() -> str:
    path = mosquitto_path()
    if path is None:
        pytest.fail("mosquitto is not installed: run `make setup-test` (scripts/setup.sh --test)")
    return path


class Mosquitto:
    def __init__(
        self,
        port: int | None = None,
        persistence: bool = False,
        users: dict[str, str] | None = None,
        tls: tuple[Path, Path, Path] | None = None,
        config: str = "",
    ):
        self.binary = require_mosquitto()
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="test_mosquitto_"))
        self.dir.chmod(0o777)  # started as root, mosquitto drops to its own user and must still read/write here
        extra: list[str] = []
        if persistence:
            extra += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        if users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), name, password], check=True, capture_output=True)
            pw.chmod(0o644)
            extra += [f"password_file {pw}"]
        if tls:  # (ca, server cert, server key): the one listener speaks TLS only
            extra += [f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"]
        extra += config.splitlines()  # more mosquitto.conf lines (a bridge block, say)
        conf = mosquitto_conf(self.port, "127.0.0.1", tuple(extra))
        if users:
            conf = conf.replace("allow_anonymous true", "allow_anonymous false")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(conf)
        self.log = self.dir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        proc = self.proc
        up = wait_until(lambda: proc.poll() is not None or port_open("127.0.0.1", self.port, 0.2), 30, 0.02)
        if not up or proc.poll() is not None:
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: clean stop, writes the persistence database
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_tls_files() -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA (openssl CLI).

    In a fresh world-readable temp folder: mosquitto started as root reads them as its own user.
    """
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: run `make setup-test` (scripts/setup.sh --test)")
    folder = Path(tempfile.mkdtemp(prefix="test_mqtt_tls_"))
    folder.chmod(0o755)
    f = {k: folder / f"{k}.pem" for k in ("ca", "ca_key", "server", "server_key", "other_ca", "other_ca_key")}
    csr, ext = folder / "server.csr", folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    for ca, key in (("ca", "ca_key"), ("other_ca", "other_ca_key")):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=test {ca}",
            "-keyout", str(f[key]), "-out", str(f[ca]))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(f["server_key"]),
        "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(f["ca"]), "-CAkey", str(f["ca_key"]), "-CAcreateserial",
        "-days", "2", "-extfile", str(ext), "-out", str(f["server"]))  # fmt: skip
    for path in f.values():
        path.chmod(0o644)
    return f


class MqttRecorder:
    """Subscribes `topic` (QoS 1) and records (topic, payload, retain, receive time ns) in arrival order.

    `persistent=True` uses a fixed client id and clean_session=False, so messages published while this
    subscriber is reconnecting (e.g. after a broker restart with persistence) are queued for it.
    """

    def __init__(self, port: int, topic: str = "#", persistent: bool = False, **auth: str) -> None:
        self.messages: list[tuple[str, bytes, bool, int]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        client_id = f"test-recorder-{port}" if persistent else ""
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]
        if auth:
            self.client.username_pw_set(auth["username"], auth.get("password"))
        self.topic = topic

        def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
            c.subscribe(self.topic, qos=1)

        def on_subscribe(*_args: object) -> None:
            self.subscribed.set()

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            with self.lock:
                self.messages.append((msg.topic, msg.payload, bool(msg.retain), time.time_ns()))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(30):  # generous: a loaded machine, not a slow broker
            raise RuntimeError(f"test subscriber could not subscribe on port {port}")

    def payloads(self, suffix: str) -> list[bytes]:
        with self.lock:
            return [m[1] for m in self.messages if m[0].endswith(suffix)]

    def docs(self, suffix: str) -> list[dict]:
        return [json.loads(p) for p in self.payloads(suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A running mosquitto on a free loopback port; `from helpers.mosquitto import mosquitto`."""
    with Mosquitto() as broker:
        yield broker
