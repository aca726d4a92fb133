"""Security defaults: servers on loopback, no secrets in logs or left on disk, safe checkpoint loading,
and a clean SIGTERM of the multi-process graph with nothing left running.

One real `ros-detect launch webcam --processes multi` run with both bridges on (the MQTT bridge starts its
own broker, the Foxglove bridge serves the WebSocket and the page): every TCP socket that listens in the
whole process tree is inspected with psutil while it runs.
"""

from __future__ import annotations

import ast
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from helpers.mjpeg import MjpegServer, free_port
from helpers.ros import ros_env
from helpers.wait import count_lines, wait_until

ROOT = Path(__file__).resolve().parents[1]
SECRET = "pw-Zq81-never-logged"
LOOPBACK = {"127.0.0.1", "::1"}
FAST = [
    "--weights", "none", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "fp32",
    "--threads", "1", "--proposals", "100", "--score-threshold", "0.01",
]  # fmt: skip


def _listening(pids: list[int]) -> list[tuple[str, str, int]]:
    """(process name, ip, port) of every listening TCP socket of these processes."""
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            conns = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out += [(proc.name(), c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return out


def _tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
    if shutil.which("mosquitto") is None:
        pytest.skip("needs mosquitto (scripts/setup.sh --test installs it)")
    tmp = tmp_path_factory.mktemp("security")
    mqtt_port = free_port()
    secrets = tmp / "my_mqtt.yaml"  # as the README tells users: credentials in a parameter file of their own
    secrets.write_text(
        "/**/mqtt_bridge:\n  ros__parameters:\n"
        f'    port: {mqtt_port}\n    username: robot7\n    password: "{SECRET}"\n'
        "    autostart_broker: mosquitto\n"
    )
    cam = MjpegServer(fps=10.0).start()
    cmd = [
        sys.executable, "-m", "ros_detect.cli", "launch", "webcam", "--source", cam.url, "--processes", "multi",
        "--config", str(ROOT / "config" / "webcam.yaml"), "--config", str(secrets),
        "--mqtt", "--foxglove", "-p", "foxglove_bridge.port=0", "-p", "foxglove_bridge.http_port=0",
        "-o", str(tmp / "out"), "--no-video", *FAST,
    ]  # fmt: skip
    log = tmp / "launch.log"  # a file, not a pipe: nobody reads a pipe while the test waits, and a full one blocks
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, env=ros_env(), stdout=sink, stderr=subprocess.STDOUT)
    mains = tmp / "out" / "main_person.jsonl"
    seen: dict[str, Any] = {"pids": [], "listening": []}

    def up() -> bool:
        """Results flowing and all three servers listening: the Foxglove WebSocket and page, and the broker."""
        if proc.poll() is not None:
            return True
        seen["pids"] = _tree(proc.pid)
        seen["listening"] = _listening(seen["pids"])
        names = {name for name, _, _ in seen["listening"]}
        return count_lines(mains) >= 3 and "mosquitto" in names and len(seen["listening"]) >= 3

    try:
        wait_until(up, 300, interval_s=0.5)
        running = proc.poll() is None
        listening = seen["listening"]
        pids = _tree(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cam.stop()
    output = log.read_text(errors="replace")

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    wait_until(lambda: not any(alive(p) for p in pids), 30)  # orphans, if any, stay and fail the test below
    left = [p for p in pids if alive(p)]
    return {
        "running": running,
        "listening": listening,
        "pids": pids,
        "left": left,
        "returncode": proc.returncode,
        "output": output,
        "mains": mains,
    }


@pytest.mark.ros
def test_every_listening_socket_of_the_graph_is_loopback(graph_run: dict[str, Any]) -> None:
    assert graph_run["running"], graph_run["output"][-3000:]
    listening = graph_run["listening"]
    names = [name for name, _, _ in listening]
    assert "mosquitto" in names and len(listening) >= 3, listening  # the broker, the WebSocket and the page
    exposed = [sock for sock in listening if sock[1] not in LOOPBACK]
    assert exposed == [], f"servers reachable from the network: {exposed}"


@pytest.mark.ros
def test_sigterm_stops_multi_process_graph_flushed_and_leaves_no_process(graph_run: dict[str, Any]) -> None:
    output = graph_run["output"]
    assert graph_run["returncode"] == 0, output[-3000:]
    assert len(graph_run["pids"]) >= 5, graph_run["pids"]  # launch + 5 node processes (+ mosquitto)
    assert graph_run["left"] == [], f"orphans after SIGTERM: {graph_run['left']}"
    assert "Traceback" not in output
    summary = json.loads((graph_run["mains"].parent / "summary.json").read_text())
    lines = graph_run["mains"].read_text().splitlines()
    assert summary["graph"]["main_person_messages"] == len(lines) >= 3  # flushed: the file has what was counted


@pytest.mark.ros
def test_mqtt_password_never_logged_nor_left_on_disk(graph_run: dict[str, Any]) -> None:
    output = graph_run["output"]
    assert "password='***'" in output, output[-3000:]  # the bridge logs its parameters, masked
    assert SECRET not in output
    # the multi-process launcher hands parameters to its nodes in a private temp file: removed at exit
    leaked = [p for p in Path("/tmp").glob("ros-detect-launch-*/*.yaml") if SECRET in p.read_text(errors="ignore")]
    assert leaked == []


class _Exploit:
    """A pickle that runs code when loaded with weights_only=False."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def test_malicious_checkpoint_is_refused_without_running_its_code(tmp_path: Path) -> None:
    import torch

    from ros_detect.detection.weights import load_state_dict
    from ros_detect.errors import WeightsError

    marker, evil = tmp_path / "pwned", tmp_path / "evil.pth"
    torch.save({"backbone.weight": _Exploit(marker)}, evil)  # a real torch checkpoint file
    with pytest.raises(WeightsError, match="cannot read weights file"):
        load_state_dict(evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # what the refusal prevents: loading it the unsafe way runs its code
    assert marker.read_text() == "pwned"


@pytest.mark.unit
def test_every_torch_load_in_the_product_is_weights_only() -> None:
    calls = []
    for path in (ROOT / "ros_detect").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load":
                owner = getattr(node.func.value, "id", "")
                if owner == "torch":
                    kw = {k.arg: k.value for k in node.keywords}
                    safe = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", safe))
    assert calls, "no torch.load found: the scan is broken"
    assert [c for c, safe in calls if not safe] == []


def test_servers_default_to_loopback() -> None:
    """The declared defaults: a server only faces the network when someone configures it to."""
    from ros_detect.mqtt.config import MqttConfig

    assert MqttConfig().host == "127.0.0.1"
    with MjpegServer(fps=5.0) as cam:  # the test camera of serve-mjpeg and soak
        assert cam._httpd is not None and cam._httpd.server_address[0] == "127.0.0.1"
    pytest.importorskip("rclpy")
    from ros_detect.nodes.foxglove_bridge import PARAMS

    assert PARAMS["host"][0] == "127.0.0.1"
