"""A real Foxglove WebSocket client (python `websockets`, subprotocol foxglove.sdk.v1) for the web view's
benchmarks and tests; needs the `dev` extra (websockets, protobuf).

Protobuf channels are decoded with the FileDescriptorSet the server advertises, as Foxglove Studio does,
so a test proves the schemas on the wire are usable, not only the bytes we meant to send.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import ClientConnection, connect

SUBPROTOCOL = "foxglove.sdk.v1"


@dataclass
class Received:
    topic: str
    log_time: int
    payload: bytes
    received_at: float  # time.monotonic()


@dataclass
class FoxgloveClient:
    url: str
    ws: ClientConnection | None = None
    server_info: dict[str, Any] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)  # channel id -> advertisement
    subs: dict[int, str] = field(default_factory=dict)  # subscription id -> topic
    _decoders: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, url: str, rcvbuf: int | None = None, max_queue: int | None = 64) -> FoxgloveClient:
        """Connect; `rcvbuf` shrinks the socket's receive buffer (for a client that stalls)."""
        client = cls(url)
        host, port = url.removeprefix("ws://").split(":")
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect((host, int(port)))
        client.ws = connect(
            url,
            sock=sock,
            subprotocols=[SUBPROTOCOL],
            max_queue=max_queue,
            open_timeout=10,
            close_timeout=2,
            ping_interval=None,  # no keepalive: a stalled test client must not hang up by itself
        )
        if client.ws.subprotocol != SUBPROTOCOL:
            raise ConnectionError(f"{url} answered subprotocol {client.ws.subprotocol!r}, not {SUBPROTOCOL}")
        return client

    def wait_for_channels(self, topics: list[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not set(topics) <= {c["topic"] for c in self.channels.values()}:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"channels {topics} not advertised; have {self.topics()}")
            self._handle(self.ws.recv(timeout=remaining))

    def topics(self) -> list[str]:
        return sorted(c["topic"] for c in self.channels.values())

    def subscribe(self, topics: list[str]) -> None:
        subs = []
        for cid, ch in self.channels.items():
            if ch["topic"] in topics:
                sub_id = len(self.subs) + 1
                self.subs[sub_id] = ch["topic"]
                subs.append({"id": sub_id, "channelId": cid})
        self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    def wait_for_data(self, topic: str, count: int = 3, timeout: float = 30.0) -> None:
        """Read (and discard) until `count` messages on `topic` came in: ROS discovery and start-up are over."""
        deadline, seen = time.monotonic() + timeout, 0
        while seen < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{seen} of {count} messages on {topic} within {timeout} s")
            try:
                got = self._handle(self.ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            seen += got is not None and got.topic == topic

    def collect(self, seconds: float) -> list[Received]:
        out: list[Received] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = self.ws.recv(timeout=remaining)
            except TimeoutError:
                break
            got = self._handle(msg)
            if got is not None:
                out.append(got)
        return out

    def collect_until(self, done: Callable[[list[Received]], bool], timeout: float = 60.0) -> list[Received]:
        """Read until `done(received so far)` holds or `timeout` passes; the caller judges what came in."""
        out: list[Received] = []
        deadline = time.monotonic() + timeout
        while not done(out) and (remaining := deadline - time.monotonic()) > 0:
            out.extend(self.collect(min(remaining, 0.2)))
        return out

    def _handle(self, msg: str | bytes) -> Received | None:
        if isinstance(msg, str):
            doc = json.loads(msg)
            if doc["op"] == "serverInfo":
                self.server_info = doc
            elif doc["op"] == "advertise":
                for ch in doc["channels"]:
                    self.channels[ch["id"]] = ch
            return None
        if msg[0] != 1:  # only MESSAGE_DATA matters here
            return None
        sub_id, log_time = struct.unpack_from("<IQ", msg, 1)
        return Received(self.subs.get(sub_id, "?"), log_time, bytes(msg[13:]), time.monotonic())

    def decode(self, rec: Received) -> Any:
        """JSON channels -> dict; protobuf channels -> a protobuf message built from the advertised schema."""
        ch = next(c for c in self.channels.values() if c["topic"] == rec.topic)
        if ch["encoding"] == "json":
            return json.loads(rec.payload)
        return self._decoder(ch)(rec.payload)

    def _decoder(self, ch: dict[str, Any]) -> Any:
        name = ch["schemaName"]
        if name not in self._decoders:
            from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

            fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(ch["schema"]))
            pool = descriptor_pool.DescriptorPool()
            for fd in fds.file:
                pool.Add(fd)
            cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
            self._decoders[name] = cls.FromString
        return self._decoders[name]

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
