"""A broker out of the box: when the configured broker is on loopback and nothing listens there, start one.

`mosquitto` when installed (generated config: loopback listener, `set_tcp_nodelay true`, because Nagle's
algorithm adds ~40 ms latency spikes), else the embedded pure-Python broker in ros_detect/mqtt/broker_embedded.py
(amqtt). Either runs as a child process in its own session, bound to 127.0.0.1 only; the bridge stops it
on a clean exit. If the bridge is killed, the broker stays up (it still delivers the Last Will) and the
next bridge start finds it listening and reuses it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ros_detect.errors import ConfigError

MOSQUITTO_SEARCH = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_open(host: str, port: int, timeout_s: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def mosquitto_path() -> str | None:
    """The mosquitto binary; Debian installs it in /usr/sbin, often not on a user's PATH."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for folder in MOSQUITTO_SEARCH:
        candidate = Path(folder) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def mosquitto_conf(port: int, host: str = "127.0.0.1", extra: tuple[str, ...] = ()) -> str:
    """A mosquitto 2.x config: one loopback listener, anonymous access, no Nagle delay."""
    return "\n".join(
        [
            f"listener {int(port)} {host}",
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *extra,
            "",
        ]
    )


@dataclass
class LocalBroker:
    """A broker process this program started."""

    kind: str  # mosquitto | embedded
    host: str
    port: int
    process: subprocess.Popen
    workdir: Path
    log_path: Path
    _log_file: object = field(default=None, repr=False)
    owns_workdir: bool = True  # a temporary directory this program made: removed on stop

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
        if self.owns_workdir:  # its config and log: nothing of a stopped broker stays in /tmp
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(
    kind: str, cmd: list[str], host: str, port: int, workdir: Path, wait_s: float, owns_workdir: bool = True
) -> LocalBroker:
    log_path = workdir / f"{kind}.log"
    log_file = open(log_path, "ab")  # closed in LocalBroker.stop
    # Own session: a Ctrl-C meant for the bridge does not take the broker down before `offline` is sent.
    process = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True, cwd=workdir
    )
    broker = LocalBroker(kind, host, port, process, workdir, log_path, log_file, owns_workdir)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if port_open(host, port, 0.2):
            return broker
        if not broker.alive():
            break
        time.sleep(0.05)
    tail = broker.log_tail()  # before stop() removes the log
    broker.stop()
    raise ConfigError(
        f"the {kind} broker did not start on {host}:{port}: {tail or 'no output'}",
        "free the port, or set mqtt_bridge autostart_broker:=none and run a broker yourself",
    )


def start_mosquitto(
    port: int, host: str = "127.0.0.1", workdir: Path | None = None, extra: tuple[str, ...] = (), wait_s: float = 5.0
) -> LocalBroker:
    binary = mosquitto_path()
    if binary is None:
        raise ConfigError("mosquitto is not installed", "apt-get install mosquitto (or use the embedded broker)")
    owns_workdir = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="ros_detect_mosquitto_"))
    conf = workdir / "mosquitto.conf"
    conf.write_text(mosquitto_conf(port, host, extra))
    return _spawn("mosquitto", [binary, "-c", str(conf)], host, port, workdir, wait_s, owns_workdir)


def start_embedded(port: int, host: str = "127.0.0.1", wait_s: float = 15.0) -> LocalBroker:
    try:
        import amqtt  # noqa: F401  # only to fail early with a clear message
    except ImportError:
        raise ConfigError(
            "no MQTT broker available: mosquitto is not installed and the embedded broker (amqtt) is missing",
            "apt-get install mosquitto, or pip install 'ros_detect[mqtt]'",
        ) from None
    workdir = Path(tempfile.mkdtemp(prefix="ros_detect_amqtt_"))
    cmd = [sys.executable, "-m", "ros_detect.mqtt.broker_embedded", "--host", host, "--port", str(port)]
    return _spawn("embedded", cmd, host, port, workdir, wait_s)


def ensure_local_broker(host: str, port: int, mode: str, log) -> LocalBroker | None:
    """Start a broker if `host` is loopback and nothing listens on `port`; None when not needed or none."""
    if mode == "none" or not is_loopback(host):
        return None
    if port_open(host, port):
        log.info(f"MQTT: using the broker already listening on {host}:{port}")
        return None
    bind = "127.0.0.1" if host.lower().startswith("localhost") or host.startswith("127.") else host
    if mode in ("auto", "mosquitto") and mosquitto_path():
        broker = start_mosquitto(port, bind)
    elif mode == "mosquitto":
        raise ConfigError("autostart_broker is 'mosquitto' but mosquitto is not installed", "apt-get install mosquitto")
    else:
        broker = start_embedded(port, bind)
    log.info(
        f"MQTT: no broker was listening on {host}:{port}; started {broker.kind} (pid {broker.process.pid}) "
        f"bound to {bind}:{port}, log {broker.log_path}; set autostart_broker:=none to disable"
    )
    return broker
