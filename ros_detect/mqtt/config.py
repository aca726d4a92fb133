"""MQTT bridge settings: one validated dataclass, topic naming, and a password-free view for logs.

Topics: `<prefix>/<source_id>/main_person`, `.../detections`, `.../stats` (the stats@1 heartbeats) and
`.../status` (retained `online` / `offline`, the Last Will). No paho or rclpy here.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ros_detect.errors import ConfigError

STREAMS = ("main_person", "detections", "stats")
STATUS = "status"
ONLINE = "online"
OFFLINE = "offline"
AUTOSTART_MODES = ("auto", "mosquitto", "embedded", "none")  # not "off": YAML reads that as false
_MASK = "***"


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""  # "" = ros_detect-<source_id>-<pid>
    qos: int = 1  # every stream; 1 = at least once
    retain: bool = False  # retain results (status is always retained)
    keepalive_s: int = 30
    username: str = ""
    password: str = ""
    tls: bool = False  # also switched on by any of the files below
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False  # skip host-name check (self-signed test brokers only)
    topic_prefix: str = "ros_detect"
    source_id: str = ""  # "" = the frame_id of the first result
    forward: tuple[str, ...] = STREAMS
    detections_max_hz: float = 0.0  # 0 = every frame
    buffer_size: int = 1000  # results kept while disconnected; the oldest is dropped first
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    connect_timeout_s: float = 5.0
    autostart_broker: str = "auto"  # auto | mosquitto | embedded | none (only for a loopback host)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def use_tls(self) -> bool:
        return self.tls or bool(self.ca_file or self.cert_file or self.key_file)

    def with_source(self, source_id: str) -> MqttConfig:
        return replace(self, source_id=source_id)

    def effective_client_id(self) -> str:
        return self.client_id or f"ros_detect-{self.source_id or 'bridge'}-{os.getpid()}"

    def redacted(self) -> dict[str, Any]:
        """Every setting for a log line, the password masked."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if values["password"]:
            values["password"] = _MASK
        return values

    def __repr__(self) -> str:  # never leak the password through repr() in logs or tracebacks
        shown = ", ".join(f"{k}={v!r}" for k, v in self.redacted().items())
        return f"MqttConfig({shown})"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def topic(config: MqttConfig, stream: str, source_id: str | None = None) -> str:
    """`<prefix>/<source_id>/<stream>` for a stream in STREAMS or `status`."""
    if stream not in (*STREAMS, STATUS):
        raise ValueError(f"unknown stream {stream!r}")
    source = source_id if source_id is not None else config.source_id
    check_topic_level("source_id", source)
    return f"{config.topic_prefix}/{source}/{stream}"


def check_topic_level(name: str, value: str) -> None:
    if not value or any(c in value for c in "/+#\0"):
        raise ConfigError(
            f"MQTT {name} {value!r} is not a usable topic level",
            f"set {name} to a non-empty name without '/', '+', '#'",
        )


def validate(c: MqttConfig) -> None:
    """Raise ConfigError naming the setting and a fix; cheap, no network."""
    if not c.host or any(ch.isspace() for ch in c.host):
        raise ConfigError(f"MQTT host {c.host!r} is empty or has spaces", "set host to a name or IP, e.g. 127.0.0.1")
    if not 1 <= int(c.port) <= 65535:
        raise ConfigError(f"MQTT port {c.port} out of range", "use 1..65535 (1883 plain, 8883 TLS)")
    if c.qos not in (0, 1, 2):
        raise ConfigError(f"MQTT qos {c.qos} invalid", "use 0, 1 (default: at least once) or 2")
    if not 5 <= c.keepalive_s <= 65535:
        raise ConfigError(f"MQTT keepalive {c.keepalive_s}s invalid", "use 5..65535 seconds")
    prefix = c.topic_prefix
    if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(ch in prefix for ch in "+#\0"):
        raise ConfigError(
            f"MQTT topic_prefix {prefix!r} invalid",
            "use e.g. ros_detect or site/lab (no leading/trailing '/', '+', '#')",
        )
    if c.source_id:
        check_topic_level("source_id", c.source_id)
    unknown = [s for s in c.forward if s not in STREAMS]
    if unknown:
        raise ConfigError(f"MQTT forward lists unknown streams {unknown}", f"choose from {', '.join(STREAMS)}")
    if c.detections_max_hz < 0:
        raise ConfigError("MQTT detections_max_hz is negative", "use 0 (every frame) or a rate in Hz")
    if c.buffer_size < 1:
        raise ConfigError(f"MQTT buffer_size {c.buffer_size} invalid", "use >= 1 (default 1000 results)")
    if not 0 < c.reconnect_min_s <= c.reconnect_max_s:
        raise ConfigError(
            f"MQTT reconnect delays {c.reconnect_min_s}..{c.reconnect_max_s}s invalid",
            "use 0 < reconnect_min_s <= reconnect_max_s",
        )
    if c.connect_timeout_s <= 0:
        raise ConfigError("MQTT connect_timeout_s must be > 0", "use e.g. 5")
    if c.password and not c.username:
        raise ConfigError("MQTT password given without username", "set username too")
    if c.autostart_broker not in AUTOSTART_MODES:
        raise ConfigError(
            f"MQTT autostart_broker {c.autostart_broker!r} invalid", f"use one of {', '.join(AUTOSTART_MODES)}"
        )
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(c, name)
        if path and not os.path.isfile(path):
            raise ConfigError(
                f"MQTT TLS {name} {path!r} does not exist", f"point {name} at a PEM file, or leave it empty"
            )
    if bool(c.cert_file) != bool(c.key_file):
        raise ConfigError("MQTT TLS client cert_file and key_file must be given together", "set both or neither")


def from_mapping(values: dict[str, Any]) -> MqttConfig:
    """Build from parameter values (ROS parameters, YAML); `forward` may be a list or 'a,b' string."""
    known = {f.name for f in fields(MqttConfig)}
    kwargs = {k: v for k, v in values.items() if k in known}
    forward = kwargs.get("forward")
    if isinstance(forward, str):
        kwargs["forward"] = tuple(s.strip() for s in forward.split(",") if s.strip())
    elif forward is not None:
        kwargs["forward"] = tuple(forward)
    for name in ("port", "qos", "keepalive_s", "buffer_size"):
        if name in kwargs:
            kwargs[name] = int(kwargs[name])
    return MqttConfig(**kwargs)
