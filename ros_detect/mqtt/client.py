"""Publisher side of the MQTT bridge: paho-mqtt 2.x on its own network thread, never blocking the caller.

`submit()` only appends to a bounded buffer (the ROS callback returns at once). A sender thread moves
messages from the buffer into paho while connected, at most WINDOW unacknowledged at a time. While the
broker is away the buffer fills (oldest dropped first, counted) and paho reconnects with exponential
backoff; after a reconnect paho resends the unacknowledged messages first (QoS 1: possibly a duplicate),
and the sender waits for their acks before it sends anything newer, so delivery stays in order.

Status: `<prefix>/<source>/status` is `online` (retained) after every connect and `offline` (retained) as
the Last Will and on a clean close.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ros_detect.dropqueue import DropQueue
from ros_detect.errors import ConfigError
from ros_detect.mqtt.buffer import Backoff, Outgoing, RateLimiter
from ros_detect.mqtt.config import OFFLINE, ONLINE, STATUS, STREAMS, MqttConfig, topic

WINDOW = 20  # unacknowledged messages at a time (= paho's default max_inflight)


class Logger(Protocol):  # logging.Logger and rclpy's node logger both fit
    def debug(self, msg: str) -> Any: ...
    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...
    def error(self, msg: str) -> Any: ...


class _Client(mqtt.Client):
    """Remembers why the last connect attempt failed; paho's loop swallows the exception."""

    last_error: BaseException | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = exc
            raise


def _should_log(attempt: int) -> bool:
    """Attempts 1, 2, 4, 8, ... then every 10th: the log says what is wrong without flooding."""
    return attempt & (attempt - 1) == 0 or attempt % 10 == 0


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """paho leaves Nagle on: small result messages would wait for the previous ACK (~40 ms spikes)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (e.g. a websocket wrapper): nothing to tune
        pass


class MqttPublisher:
    """Forwards JSON documents to `<prefix>/<source>/<stream>`; see the module docstring for guarantees."""

    def __init__(self, config: MqttConfig, logger: Logger | None = None) -> None:
        self.config = config
        self.log: Logger = logger or logging.getLogger("ros_detect.mqtt")
        self.buffer: DropQueue[Outgoing] = DropQueue(config.buffer_size)
        self.rate = RateLimiter(config.detections_max_hz)
        self.backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self.source_id: str | None = config.source_id or None
        self.connected = False
        self.ever_connected = False
        self.counters = {"received": 0, "sent": 0, "acked": 0, "rate_limited": 0, "connects": 0}
        self._cond = self.buffer.cond  # one lock for buffer, connection state and the in-flight table
        self._inflight: dict[int, int] = {}  # mid -> qos
        self._early_acks: set[int] = set()
        self._drain = False  # after a reconnect: resent messages must be acked before newer ones go out
        self._closing = False
        self._client: _Client | None = None
        self._sender: threading.Thread | None = None
        self._topics: dict[str, str] = {}
        self._started = False

    # ---- caller side (ROS callbacks): never blocks on the network ----

    def submit(self, stream: str, payload: str | bytes) -> bool:
        """Queue one document for `stream`; False if it is not forwarded (filtered or rate-limited)."""
        if stream not in self.config.forward:
            return False
        if stream == "detections" and not self.rate.allow():
            with self._cond:
                self.counters["rate_limited"] += 1
            return False
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        with self._cond:
            self.counters["received"] += 1
        self.buffer.put(Outgoing(stream, data, self.config.qos, self.config.retain))
        return True

    def start(self) -> None:
        """Connect in the background once the source id is known (now, or at `set_source`).

        TLS files are checked here, so a bad one is a start-up error even when the connection waits.
        """
        self._check_tls()
        self._started = True
        if self.source_id is not None:
            self._start_client()

    def set_source(self, source_id: str) -> None:
        """Name the topic level from the first result's frame_id when no source_id was configured."""
        if self.source_id is not None:
            return
        self.source_id = "".join("_" if ch in "/+#\0" else ch for ch in source_id) or "source"
        if self._started:
            self._start_client()

    def _check_tls(self) -> None:
        c = self.config
        if not c.use_tls:
            return
        try:
            context = ssl.create_default_context(cafile=c.ca_file or None)
            if c.cert_file:
                context.load_cert_chain(c.cert_file, c.key_file or None)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"MQTT TLS files rejected ({exc})",
                "ca_file must hold PEM CA certificates; cert_file/key_file a matching PEM client certificate/key",
            ) from None

    @property
    def state(self) -> str:
        if self.connected:
            return "running"
        return "reconnecting" if self.ever_connected or self.backoff.attempts else "starting"

    def snapshot(self) -> dict[str, int]:
        """Counters for the stats heartbeat."""
        with self._cond:
            return {
                **self.counters,
                "buffered": len(self.buffer),
                "buffer_high_water": self.buffer.high_water,
                "dropped": self.buffer.dropped,
                "inflight": len(self._inflight),
                "connected": int(self.connected),
            }

    # ---- paho client and sender thread ----

    def _start_client(self) -> None:
        c = self.config
        assert self.source_id is not None
        self._topics = {s: topic(c, s, self.source_id) for s in (*STREAMS, STATUS)}
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=c.with_source(self.source_id).effective_client_id(),
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        client.max_inflight_messages_set(WINDOW)
        client.reconnect_delay_set(c.reconnect_min_s, c.reconnect_max_s)  # type: ignore[arg-type]  # floats work
        client.connect_timeout = c.connect_timeout_s
        client.will_set(self._topics[STATUS], OFFLINE, qos=1, retain=True)
        if c.username:
            client.username_pw_set(c.username, c.password or None)
        if c.use_tls:
            try:
                client.tls_set(
                    ca_certs=c.ca_file or None,
                    certfile=c.cert_file or None,
                    keyfile=c.key_file or None,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise ConfigError(
                    f"MQTT TLS files rejected ({exc})",
                    "ca_file must hold PEM CA certificates; cert_file/key_file a matching PEM client certificate/key",
                ) from None
            if c.tls_insecure:
                client.tls_insecure_set(True)
        client.suppress_exceptions = True  # a bug in a callback must not kill paho's network thread...
        client.enable_logger(logging.getLogger("ros_detect.mqtt.paho"))  # ...it is logged instead
        client.on_socket_open = _no_delay
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        scheme = "mqtts" if c.use_tls else "mqtt"
        self.log.info(
            f"MQTT: connecting to {scheme}://{c.host}:{c.port} as {client._client_id.decode()!r}, "
            f"topics {c.topic_prefix}/{self.source_id}/{{{','.join(c.forward)},status}}, qos {c.qos}"
            + (f", user {c.username!r} (password ***)" if c.username else "")
        )
        client.connect_async(c.host, c.port, c.keepalive_s)
        client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()

    def _register(self, mid: int, qos: int) -> None:
        """Track an unacknowledged message (caller holds the lock)."""
        if mid in self._early_acks:  # the ack beat us to it
            self._early_acks.discard(mid)
        else:
            self._inflight[mid] = qos

    def _send_loop(self) -> None:
        client = self._client
        assert client is not None
        while True:
            with self._cond:
                while not self._closing and not (
                    self.connected and not self._drain and len(self._inflight) < WINDOW and self.buffer
                ):
                    self._cond.wait(0.5)
                if self._closing:
                    return
                item = self.buffer.pop()
                assert item is not None  # checked under the same lock
            try:
                info = client.publish(self._topics[item.stream], item.payload, item.qos, item.retain)
            except (ValueError, RuntimeError) as exc:  # e.g. payload over the MQTT limit: skip it, keep going
                self.log.error(f"MQTT: cannot publish a {item.stream} message ({exc}); skipped")
                continue
            with self._cond:
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or item.qos > 0:
                    # QoS>0 is kept by paho even when the connection just dropped, and resent after reconnect.
                    self.counters["sent"] += 1
                    if item.qos > 0:
                        self._register(info.mid, item.qos)
                        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                            self._drain = True
                else:  # QoS 0 on a connection that just dropped: put it back, keep the order
                    self.buffer.push_front(item)
                    self.connected = False

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        c = self.config
        if reason.is_failure:
            attempt = self.backoff.attempts + 1
            delay = self.backoff.next_delay()
            if _should_log(attempt):
                hint = (
                    "check username/password (and the broker's ACL)"
                    if "authori" in str(reason).lower() or "password" in str(reason).lower()
                    else "check the broker's log"
                )
                self.log.error(
                    f"MQTT: broker {c.host}:{c.port} refused the connection: {reason}; {hint}; "
                    f"retry {attempt} in {delay:.1f}s"
                )
            return
        backlog = len(self.buffer)
        with self._cond:
            self.connected = True
            self.ever_connected = True
            self.counters["connects"] += 1
            self._drain = bool(self._inflight)
            again = self.counters["connects"] > 1
        self.backoff.reset()
        info = client.publish(self._topics[STATUS], ONLINE, qos=1, retain=True)
        with self._cond:
            self._register(info.mid, 1)
            self._cond.notify_all()
        self.log.info(
            f"MQTT: {'re' if again else ''}connected to {c.host}:{c.port}; status online"
            + (f", delivering {backlog} buffered message(s)" if backlog else "")
        )

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        c = self.config
        attempt = self.backoff.attempts + 1
        delay = self.backoff.next_delay()
        if not _should_log(attempt):
            return
        err = getattr(client, "last_error", None)
        if isinstance(err, ssl.SSLError):
            why, hint = f"TLS handshake failed: {err}", "check ca_file, cert_file/key_file and tls_insecure"
        elif isinstance(err, socket.gaierror):
            why, hint = f"cannot resolve host: {err}", "check host"
        elif c.use_tls and isinstance(err, (ConnectionResetError, BrokenPipeError)):
            why, hint = f"TLS handshake failed: {err.strerror}", f"is port {c.port} a TLS listener (usually 8883)?"
        elif err is not None:
            why, hint = f"{err.strerror or err}" if isinstance(err, OSError) else str(err), "is the broker running?"
        else:
            why, hint = "unreachable", "is the broker running?"
        self.log.warning(
            f"MQTT: cannot connect to {c.host}:{c.port} ({why}); {hint}; "
            f"retry {attempt} in {delay:.1f}s, {len(self.buffer)} message(s) buffered (max {c.buffer_size})"
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        with self._cond:
            was_connected = self.connected
            self.connected = False
            self._drain = bool(self._inflight)
            closing = self._closing
            self._cond.notify_all()
        if was_connected and not closing:
            self.backoff.next_delay(attempt=False)  # paho waits reconnect_min_s before its first try
            c = self.config
            self.log.warning(
                f"MQTT: lost the broker {c.host}:{c.port} ({reason}); reconnecting with backoff "
                f"{c.reconnect_min_s}..{c.reconnect_max_s}s, buffering up to {c.buffer_size} messages"
            )

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _reason: Any, _props: Any) -> None:
        with self._cond:
            if self._inflight.pop(mid, None) is None:
                self._early_acks.add(mid)
            self.counters["acked"] += 1
            if not self._inflight:
                self._drain = False
            self._cond.notify_all()

    # ---- shutdown ----

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything buffered is acknowledged (only possible while connected)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.buffer or self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.connected:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what is pending (bounded wait), publish `offline` last, disconnect. Never raises."""
        client = self._client
        if client is None:
            if len(self.buffer):
                self.log.warning(f"MQTT: closed before the source was known; {len(self.buffer)} message(s) not sent")
            return
        if self.connected:
            self.flush(timeout_s)
        with self._cond:  # stop the sender first: nothing may follow `offline`
            self._closing = True
            self._cond.notify_all()
        if self._sender is not None:
            self._sender.join(timeout=2.0)
        try:
            if self.connected:
                info = client.publish(self._topics[STATUS], OFFLINE, qos=1, retain=True)
                info.wait_for_publish(timeout=min(timeout_s, 1.0))
        except (RuntimeError, ValueError) as exc:
            self.log.debug(f"MQTT: offline status not delivered: {exc}")
        client.disable_logger()  # paho reports the disconnect we asked for as an error
        client.disconnect()
        client.loop_stop()
        self._client = None
        with self._cond:
            left = [item.stream for item in self.buffer.snapshot()]
        if left:  # a heartbeat that raced the shutdown is no loss; a result is
            say = self.log.info if set(left) == {"stats"} else self.log.warning
            say(f"MQTT: closed with {len(left)} message(s) undelivered ({', '.join(sorted(set(left)))})")
