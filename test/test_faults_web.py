"""Many web clients connecting and leaving in a loop (bounded): the bridge keeps serving, stays bounded, cleans up.

The real foxglove_bridge node fed by the fake pipeline (test/helpers/foxglove_graph.py). While one healthy
client reads, 40 others come and go: some subscribe and read, some subscribe and vanish without a close
handshake, some only fetch the page. Afterwards the healthy client still gets (nearly) every result the
pipeline publishes, the bridge has no connection left over, and its memory did not grow with the churn.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import psutil
import pytest
from helpers.foxglove_client import FoxgloveTestClient
from helpers.foxglove_graph import BridgeGraph
from helpers.wait import wait_until

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytest.importorskip("foxglove", reason="needs foxglove-sdk")
pytestmark = pytest.mark.ros

TOPICS = ["/image", "/annotations", "/main_person", "/detections"]
CYCLES = 40


def _established(proc: psutil.Process, ports: set[int]) -> int:
    return sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port in ports for c in proc.net_connections("tcp"))


def test_many_web_clients_connecting_and_leaving(tmp_path: Path) -> None:
    rate = 10.0
    # The fake pipeline outlives any churn (it is stopped at the end): the checks below wait on it.
    with BridgeGraph(rate=rate, duration=600, log_dir=tmp_path) as g:
        bridge = psutil.Process(g.procs[0].pid)
        healthy = FoxgloveTestClient.open(g.ws_url)
        healthy.wait_for_channels(TOPICS)
        healthy.subscribe(["/main_person"])
        healthy.wait_for_data("/main_person", timeout=60)
        rss_before = bridge.memory_info().rss
        ports = {g.ws_port, g.http_port}
        assert _established(bridge, ports) == 1  # the healthy client: the count below means something
        for i in range(CYCLES):
            if i % 4 == 3:  # the zero-install page
                with urllib.request.urlopen(g.page_url, timeout=10) as resp:
                    assert resp.status == 200 and b"<html" in resp.read().lower()
                continue
            client = FoxgloveTestClient.open(g.ws_url)
            client.wait_for_channels(TOPICS, timeout=20)
            client.subscribe(TOPICS)
            if i % 2 == 0:
                client.collect(0.2)
                client.close()
            else:  # vanish: reset the TCP connection without a WebSocket close
                sock = client.ws.socket
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()
            healthy.collect(0.05)  # keep reading while the others churn
        # After the churn: the healthy client still gets the results (read until enough came, however slowly).
        after = healthy.collect_until(lambda recs: sum(r.topic == "/main_person" for r in recs) >= 30, timeout=120)
        # The server notices vanished clients on its next write to them.
        wait_until(lambda: _established(bridge, ports) <= 1, 60, 0.5)
        left = _established(bridge, ports)
        rss_after = bridge.memory_info().rss
        alive = g.procs[0].poll() is None
        healthy.close()
    log = (tmp_path / "bridge.log").read_text()
    assert alive, log[-3000:]
    seqs = sorted({json.loads(r.payload)["seq"] for r in after if r.topic == "/main_person"})
    assert len(seqs) >= 30, f"healthy client got only {len(seqs)} main_person documents after the churn"
    # ... without losing them: (nearly) every result published meanwhile reached it.
    assert len(seqs) >= 0.8 * (seqs[-1] - seqs[0] + 1), f"results lost for the healthy client: {seqs}"
    assert left <= 1, f"{left} client connections left open on the bridge (only the healthy one should remain)"
    assert rss_after - rss_before < 64 * 2**20, "bridge memory grew with the number of clients served"
    assert "Traceback" not in log and "panicked" not in log
