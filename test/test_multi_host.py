"""The graph split over two hosts on DDS: the video source on host A, detector + main_person + mqtt_bridge
(and a mosquitto on its loopback) on host B, each started by `ros-detect launch` with `--nodes`/`--without`.

The two hosts are network namespaces this test creates and always removes, joined by a veth pair on a
private 10.x /24; DDS discovers across it with ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET on a private domain.
Processes in two namespaces of one machine still share /dev/shm, and Fast DDS would carry the images
through its shared-memory transport instead of the network: FASTDDS_BUILTIN_TRANSPORTS=UDPv4 turns that
off, and the veth byte counters prove every image crossed the link. Skipped, with the reason, where
namespaces cannot be created (not root, no `ip`, no permission): found out by trying.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.mosquitto import Mosquitto, MqttRecorder
from helpers.ros import ros_env
from helpers.wait import read_text, wait_for_line, wait_until

from ros_detect.mqtt.broker import mosquitto_conf, mosquitto_path

DOC = Path(__file__).resolve().parent.parent / "docs" / "multi-host.md"

ROS_DETECT = [sys.executable, "-m", "ros_detect.cli"]
FAST = [
    "--weights", "none", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "fp32",
    "--threads", "1", "--proposals", "50", "--score-threshold", "0.01",
]  # fmt: skip
# the same graph on both hosts (each starts its part): MQTT on, no web view, no annotated video
GRAPH = ["--mqtt", "--no-foxglove", "--no-video", "-p", "video_source.wait_for_graph_s=240.0", *FAST]
IMAGE_BYTES = 427 * 240 * 3  # one bgr8 frame's pixels; the message adds a header of a few dozen bytes
BROKER_PORT = 1883  # host B's own loopback: a fresh namespace has every port free
RUN_TIMEOUT_S = 300


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


@dataclass
class Host:
    netns: str
    veth: str
    address: str

    def exec(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd]

    def veth_bytes(self) -> dict[str, int]:
        stats = json.loads(_ip("-n", self.netns, "-j", "-s", "link", "show", "dev", self.veth).stdout)[0]["stats64"]
        return {"tx": stats["tx"]["bytes"], "rx": stats["rx"]["bytes"]}


def _remove(netns: str) -> None:
    """End what still runs in the namespace (only this test's processes live there), then remove it."""
    pids = _ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    _ip("netns", "del", netns, check=False)  # removes the veth end inside, and so the pair


@pytest.fixture
def two_hosts() -> Iterator[tuple[Host, Host]]:
    """Hosts A and B: two network namespaces, a veth pair between them, loopback up in each."""
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command (iproute2): cannot create network namespaces for the two hosts")
    tag = secrets.token_hex(3)  # parallel runs never share a namespace, interface or subnet
    subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(256)}"
    a = Host(f"rd-a-{tag}", f"rda{tag}", f"{subnet}.1")
    b = Host(f"rd-b-{tag}", f"rdb{tag}", f"{subnet}.2")
    created: list[str] = []
    try:
        for host in (a, b):
            made = _ip("netns", "add", host.netns, check=False)
            if made.returncode != 0:
                pytest.skip(
                    f"cannot create a network namespace here ({made.stderr.strip()}): needs root or CAP_SYS_ADMIN"
                )
            created.append(host.netns)
        veth = _ip("link", "add", a.veth, "netns", a.netns, "type", "veth", "peer", "name", b.veth, "netns", b.netns,
                   check=False)  # fmt: skip
        if veth.returncode != 0:
            pytest.skip(f"cannot create a veth pair between the two hosts ({veth.stderr.strip()}): needs veth support")
        for host in (a, b):
            _ip("-n", host.netns, "link", "set", "lo", "up")
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", host.veth)
            _ip("-n", host.netns, "link", "set", host.veth, "up")
            # DDS discovery (SUBNET) multicasts: a LAN host routes multicast to its interface
            _ip("-n", host.netns, "route", "add", "224.0.0.0/4", "dev", host.veth)
        yield a, b
    finally:
        for netns in created:
            _remove(netns)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # the launcher stops its nodes in order
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.ros
@pytest.mark.parametrize("discovery", ["subnet", "static_peers"])
def test_graph_split_over_two_hosts_answers_every_frame(
    discovery: str, two_hosts: tuple[Host, Host], clip_path: Path, tmp_path: Path
) -> None:
    """subnet: multicast discovery on the LAN; static_peers: discovery kept to the machine plus the other
    host named (ROS_STATIC_PEERS), with no multicast route at all."""
    pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
    a, b = two_hosts
    mosquitto = mosquitto_path()
    if mosquitto is None:
        pytest.fail("mosquitto is not installed: run `make setup-test` (scripts/setup.sh --test)")
    # one private domain, discovery beyond the machine, UDP only: no shared memory
    common = ros_env(FASTDDS_BUILTIN_TRANSPORTS="UDPv4")
    if discovery == "subnet":
        env = {host.netns: {**common, "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"} for host in (a, b)}
    else:
        for host in (a, b):
            _ip("-n", host.netns, "route", "del", "224.0.0.0/4", "dev", host.veth)
        env = {
            a.netns: {**common, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_STATIC_PEERS": b.address},
            b.netns: {**common, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_STATIC_PEERS": a.address},
        }
    broker_dir = Path(tempfile.mkdtemp(prefix="test_multi_host_broker_"))
    broker_dir.chmod(0o777)  # started as root, mosquitto reads its files as its own user
    conf = broker_dir / "mosquitto.conf"
    conf.write_text(mosquitto_conf(BROKER_PORT, "127.0.0.1", ("log_type information", "log_type subscribe")))
    logs = {name: tmp_path / f"{name}.log" for name in ("broker", "mqtt", "host_a", "host_b")}
    out_a, out_b = tmp_path / "out_a", tmp_path / "out_b"
    procs: list[subprocess.Popen] = []

    def start(host: Host, cmd: list[str], log: str) -> subprocess.Popen:
        with open(logs[log], "w") as f:
            proc = subprocess.Popen(host.exec(cmd), stdout=f, stderr=subprocess.STDOUT, env=env[host.netns], text=True)
        procs.append(proc)
        return proc

    try:
        start(b, [mosquitto, "-c", str(conf)], "broker")
        assert wait_for_line(logs["broker"], r"mosquitto version \S+ running", 30), read_text(logs["broker"])
        mqtt = start(b, ["mosquitto_sub", "-p", str(BROKER_PORT), "-t", "ros_detect/#", "-q", "1", "-v"], "mqtt")
        assert wait_for_line(logs["broker"], r"ros_detect/#", 30), read_text(logs["broker"]) + read_text(logs["mqtt"])
        before = a.veth_bytes()
        t0 = time.monotonic()
        host_b = start(
            b, [*ROS_DETECT, "launch", "video", "--without", "video_source", "-o", str(out_b), *GRAPH], "host_b"
        )
        host_a = start(
            a,
            [*ROS_DETECT, "launch", "video", str(clip_path), "--nodes", "video_source", "-o", str(out_a), *GRAPH],
            "host_a",
        )
        # host A ends after its last frame is answered; host B once A's source reports it finished
        for proc, log in ((host_a, "host_a"), (host_b, "host_b")):
            try:
                proc.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{log} still running after {RUN_TIMEOUT_S} s:\n{read_text(logs[log])[-4000:]}")
            assert proc.returncode == 0, f"{log} exit {proc.returncode}:\n{read_text(logs[log])[-4000:]}"
        wall_s = time.monotonic() - t0
        after = a.veth_bytes()

        sum_a = json.loads((out_a / "summary.json").read_text())
        sum_b = json.loads((out_b / "summary.json").read_text())
        published = sum_a["graph"]["frames_published"]
        assert sum_a["graph"]["nodes"] == ["video_source"] and sum_b["graph"]["elsewhere"] == ["video_source"]
        assert published == sum_a["frames_expected"] == 12, sum_a["graph"]
        assert sum_b["graph"]["frames_published"] == published  # B heard A's source stats over DDS
        seqs = list(range(published))
        assert [json.loads(line)["seq"] for line in (out_b / "main_person.jsonl").read_text().splitlines()] == seqs
        assert [json.loads(line)["seq"] for line in (out_a / "main_person.jsonl").read_text().splitlines()] == seqs

        def mqtt_seqs() -> list[int]:
            lines = read_text(logs["mqtt"]).splitlines()
            return sorted({json.loads(line.split(" ", 1)[1])["seq"] for line in lines if "/main_person " in line})

        assert wait_until(lambda: mqtt_seqs() == seqs, 30), read_text(logs["mqtt"])[-2000:]

        # every image went over the veth, not through shared memory: A sent at least their pixels
        sent = after["tx"] - before["tx"]
        assert sent >= published * IMAGE_BYTES, (sent, published * IMAGE_BYTES)
        print(
            f"\ntwo hosts ({discovery}): {published} frames answered in {wall_s:.1f} s; A's veth sent {sent} bytes "
            f"({sent / published:.0f} per frame, images {IMAGE_BYTES} bytes of pixels each), received "
            f"{after['rx'] - before['rx']} bytes"
        )
        _stop(mqtt)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(broker_dir, ignore_errors=True)


def documented_bridge_block() -> str:
    """The mosquitto bridge block docs/multi-host.md gives for a central dashboard, as written there."""
    text = DOC.read_text()
    block = text.split("<!-- bridge-config -->", 1)[1].split("<!-- end bridge-config -->", 1)[0]
    return block.strip().removeprefix("```conf").removesuffix("```").strip()


def test_documented_broker_bridge_forwards_results_to_a_central_broker() -> None:
    """The doc's bridge block, only its address pointed at a second local mosquitto: a site broker's results
    arrive on the central broker under the site's prefix, and the bridge reports itself up there."""
    block = documented_bridge_block()
    assert "address dashboard.example.net:1883" in block
    with Mosquitto() as central:
        central_rec = MqttRecorder(central.port, "site-door/#")
        try:
            site_conf = block.replace("dashboard.example.net:1883", f"127.0.0.1:{central.port}")
            with Mosquitto(config=site_conf) as site:
                assert wait_until(lambda: central_rec.payloads("site-door/bridge/state") == [b"1"], 30), read_text(
                    site.log
                )
                doc = {"schema": "ros_detect/main_person@1", "seq": 7, "frame_id": "door"}
                publish = subprocess.run(
                    ["mosquitto_pub", "-p", str(site.port), "-q", "1", "-t", "ros_detect/door/main_person",
                     "-m", json.dumps(doc)],
                    capture_output=True, text=True, timeout=30,
                )  # fmt: skip
                assert publish.returncode == 0, publish.stderr
                arrived = wait_until(lambda: central_rec.docs("site-door/ros_detect/door/main_person"), 30)
                assert arrived == [doc], central_rec.messages
        finally:
            central_rec.close()
