"""Several graphs on one machine; sinks that fail alone; DDS kept on the machine by default.

Unit: the failure policy of the plan (both launchers follow it), the discovery choice, the port fallback and
the source id of a namespaced graph. ROS: two webcam graphs side by side (namespaces cam1/cam2, otherwise the
same settings, one shared test broker) both answering on their own MQTT topics and web views; a Foxglove
port taken with the fallback off fails that bridge alone while the pipeline keeps producing results.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from helpers.launch_stubs import run_launch_file, stub_launch
from helpers.wait import count_lines, wait_for_line, wait_until

from ros_detect.errors import ConfigError
from ros_detect.foxglove.ports import PortInUseError, start_on_free_port
from ros_detect.graph import plan
from ros_detect.graph.network import RANGE_VAR, discovery_choice
from ros_detect.media.sources import source_id

ROOT = Path(__file__).resolve().parent.parent
ROS_DETECT = [sys.executable, "-m", "ros_detect.cli"]
FAST = [
    "--weights", "none", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "fp32",
    "--threads", "1", "--proposals", "50", "--score-threshold", "0.01",
]  # fmt: skip


# -- the failure policy ---------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("mode", list(plan.MODES))
def test_a_failed_sink_ends_alone_a_failed_pipeline_node_ends_the_graph(mode: str) -> None:
    exit_of = plan.node_exit_outcome
    for sink in plan.SINKS:
        for code in (1, 2, -9):
            outcome = exit_of(mode, sink, code, stopping=False)
            assert outcome.action == "sink_failed" and sink in outcome.message
            assert "keeps running" in outcome.message and "non-zero" in outcome.message
        assert exit_of(mode, sink, 0, stopping=False).action == "finish"  # Ctrl-C reached it first
        assert exit_of(mode, sink, 2, stopping=True).action == "ignore"
    for node in plan.graph_nodes(mode, {"mqtt": False, "foxglove": False}):  # the pipeline: fail-fast
        assert exit_of(mode, node, 2, stopping=False).action == "fail"
    problem, fix = plan.sink_failure_problem(["foxglove_bridge"])
    assert "foxglove_bridge" in problem and "--no-foxglove" in fix


@pytest.mark.unit
@pytest.mark.parametrize("mode", list(plan.MODES))
def test_launch_file_keeps_the_graph_when_a_sink_fails_and_returns_non_zero(mode: str) -> None:
    """ros2 launch: a sink's exit is logged and reported to the launch loop's exception handler (LaunchService
    then returns 1 at the end) without a Shutdown; a pipeline node's exit still raises (stops everything)."""
    with stub_launch():
        launched = run_launch_file(ROOT / "launch" / f"{mode}.launch.py", {"input": "x", "mqtt": "true"})
        from ros_detect.graph.ros_launch import NodeExitError

        actions = launched.exit_of("foxglove_bridge", 2)
        assert [type(a).__name__ for a in actions] == ["LogInfo"]  # no Shutdown: the rest keeps running
        assert "sink foxglove_bridge failed with exit code 2" in actions[0].kw["msg"]
        assert launched.return_code == 1 and "foxglove_bridge" in launched.loop.reported[0]["message"]
        launched.exit_of("mqtt_bridge", -9)
        assert len(launched.loop.reported) == 2
        with pytest.raises(NodeExitError, match="node detector failed"):
            launched.exit_of("detector", 1)


# -- DDS on the machine by default ----------------------------------------------------------------------------


@pytest.mark.unit
def test_discovery_stays_on_the_machine_unless_the_user_opts_out() -> None:
    default = discovery_choice({})
    assert default.env == {RANGE_VAR: "LOCALHOST"} and "--network subnet" in default.message
    subnet = discovery_choice({RANGE_VAR: "LOCALHOST"}, "subnet")  # explicit option beats the environment
    assert subnet.env == {RANGE_VAR: "SUBNET"} and "reliability-security.md" in subnet.message
    for user in ({RANGE_VAR: "SUBNET"}, {"ROS_STATIC_PEERS": "192.168.1.7"}, {"ROS_LOCALHOST_ONLY": "1"}):
        respected = discovery_choice(user)
        assert respected.env == {} and next(iter(user.values())) in respected.message
    forced = discovery_choice({"ROS_STATIC_PEERS": "10.0.0.2"}, "localhost")
    assert forced.env == {RANGE_VAR: "LOCALHOST", "ROS_STATIC_PEERS": ""}
    assert discovery_choice({RANGE_VAR: " "}).env == {RANGE_VAR: "LOCALHOST"}  # blank = not set
    with pytest.raises(ConfigError, match="unknown network"):
        discovery_choice({}, "internet")


@pytest.mark.unit
@pytest.mark.parametrize("mode", list(plan.MODES))
def test_launch_files_set_the_discovery_range_before_any_node(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY"):
        monkeypatch.delenv(name, raising=False)
    with stub_launch():
        launch_file = ROOT / "launch" / f"{mode}.launch.py"
        launched = run_launch_file(launch_file, {"input": "x"})
        assert launched.environment == {RANGE_VAR: "LOCALHOST"} and launched.env_set_before_nodes
        assert any("LOCALHOST" in line for line in launched.logs)
        assert run_launch_file(launch_file, {"input": "x", "network": "subnet"}).environment == {RANGE_VAR: "SUBNET"}
        monkeypatch.setenv(RANGE_VAR, "SUBNET")  # the user's own choice
        assert run_launch_file(launch_file, {"input": "x"}).environment == {}
        with pytest.raises(ConfigError, match="unknown network"):
            run_launch_file(launch_file, {"input": "x", "network": "wan"})


# -- ports and source ids of several graphs -------------------------------------------------------------------


@pytest.mark.unit
def test_port_fallback_takes_the_next_free_port_and_only_when_allowed() -> None:
    taken = {8765, 8766}

    def start(port: int) -> int:
        if port in taken:
            raise PortInUseError(f"{port} taken", "pick another")
        return port

    assert start_on_free_port(start, 8767, True, "x") == (8767, None)
    assert start_on_free_port(start, 8765, True, "x") == (8767, 8765)
    with pytest.raises(PortInUseError, match="8765 taken"):
        start_on_free_port(start, 8765, False, "x")
    taken.update(range(8765, 9000))
    with pytest.raises(PortInUseError, match=r"8765\.\.8784 are all taken"):
        start_on_free_port(start, 8765, True, "web page")


@pytest.mark.unit
def test_a_namespace_names_the_source() -> None:
    assert source_id("0") == "camera0" and source_id("0", "/") == "camera0"
    assert source_id("0", "cam1") == "cam1" and source_id("0", "/cam2") == "cam2"
    assert source_id("http://host:8080/stream.mjpg", "/site/door") == "site_door"


# -- two graphs side by side; a sink that fails alone (real processes) ----------------------------------------


def _free_range(count: int) -> int:
    """A base port with `count` free ports from it (bound once to check, then released)."""
    from helpers.mjpeg import free_port

    while True:
        base = free_port()
        if base + count > 65535:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()


def joined_multicast_discovery(pids: list[int], domain: int) -> bool:
    """Whether any of the processes listens on the domain's DDS multicast discovery port (RTPS: 7400 + 250 *
    domain), i.e. announces itself to and accepts participants from the whole subnet."""
    port = 7400 + 250 * domain
    return any(c.laddr.port == port for pid in pids for c in psutil.Process(pid).net_connections(kind="udp"))


@pytest.mark.ros
def test_localhost_discovery_stays_off_the_subnet_multicast_group() -> None:
    """The check above can fail: the same rclpy node joins the subnet's discovery with SUBNET, not with LOCALHOST."""
    pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
    from helpers.ros import ros_env

    code = "import rclpy, sys; rclpy.init(); n = rclpy.create_node('probe'); print('up', flush=True); sys.stdin.read()"
    joined = {}
    for discovery in ("LOCALHOST", "SUBNET"):
        env = ros_env(ROS_AUTOMATIC_DISCOVERY_RANGE=discovery)
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout.readline().strip() == "up"
            domain = int(env["ROS_DOMAIN_ID"])
            # sockets are opened with the participant, before create_node returns
            joined[discovery] = joined_multicast_discovery([proc.pid], domain)
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
    assert joined == {"LOCALHOST": False, "SUBNET": True}


def _stop(graph: subprocess.Popen, timeout: float = 120) -> int:
    if graph.poll() is None:
        graph.send_signal(signal.SIGINT)
    try:
        return graph.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        graph.kill()
        return graph.wait()


@pytest.mark.ros
def test_two_webcam_graphs_side_by_side_with_the_same_settings(tmp_path: Path) -> None:
    """cam1 and cam2: same ports asked for, same broker port; the second web view moves to free ports and says
    where, the second MQTT bridge uses the broker the first one started, each graph's results go to its own
    MQTT topics, both views serve, both stop cleanly."""
    pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
    from helpers.foxglove_client import FoxgloveTestClient
    from helpers.mjpeg import MjpegServer, free_port
    from helpers.mosquitto import MqttRecorder
    from helpers.ros import ros_env

    broker_port = free_port()  # nothing listens: cam1's bridge starts a broker there (autostart_broker: auto)
    rec = None
    cams = [MjpegServer(fps=5.0).start() for _ in range(2)]
    base = _free_range(6)
    env = ros_env()  # one private domain: both graphs on it, as two graphs on one machine are
    env.pop(RANGE_VAR)  # the launcher chooses (and says so)
    graphs: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        for ns, cam in zip(("cam1", "cam2"), cams, strict=True):
            log = tmp_path / f"{ns}.log"
            cmd = [
                *ROS_DETECT, "launch", "webcam", cam.url, "--namespace", ns, *FAST,
                "-p", f"mqtt_bridge.port={broker_port}",
                "-p", f"foxglove_bridge.port={base}", "-p", f"foxglove_bridge.http_port={base + 1}",
            ]  # fmt: skip
            with open(log, "wb") as out:
                graphs[ns] = (subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT), log)
            if ns == "cam1":  # cam1 holds the asked-for ports and runs the broker before cam2 starts
                served = rf"Foxglove WebSocket server ws://127\.0\.0\.1:{base}\b"
                assert wait_for_line(log, served, 180), log.read_text()
                assert wait_for_line(log, rf"started \w+ .*bound to 127\.0\.0\.1:{broker_port}", 180), log.read_text()
                rec = MqttRecorder(broker_port, "ros_detect/#")

        def alive() -> bool:
            return all(g.poll() is None for g, _ in graphs.values())

        for ns in graphs:
            assert wait_until(lambda ns=ns: not alive() or rec.docs(f"{ns}/main_person"), 300), (
                ns, {n: log.read_text()[-3000:] for n, (_, log) in graphs.items()}
            )  # fmt: skip
            assert alive()
        cam2_log = graphs["cam2"][1].read_text()
        assert f"MQTT: using the broker already listening on 127.0.0.1:{broker_port}" in cam2_log
        served = r"Foxglove WebSocket server ws://127\.0\.0\.1:(\d+), web page http://127\.0\.0\.1:(\d+)/"
        moved = re.search(served, cam2_log)
        assert moved, cam2_log[-3000:]
        ws2, page2 = int(moved.group(1)), int(moved.group(2))
        assert {ws2, page2}.isdisjoint({base, base + 1}) and "port" in cam2_log and "taken" in cam2_log
        for ns, port in (("cam1", base), ("cam2", ws2)):
            client = FoxgloveTestClient.open(f"ws://127.0.0.1:{port}")
            try:
                client.wait_for_channels(["/main_person"], timeout=60)
                client.subscribe(["/main_person"])
                got = client.collect_until(lambda r: len(r) >= 1, timeout=120)
                assert got, f"{ns}: no main_person on its web view"
                assert json.loads(got[0].payload)["frame_id"] == ns
            finally:
                client.close()
        for graph, log in graphs.values():  # DDS kept on the machine: the environment every node got, no multicast
            nodes = [
                p for p in psutil.Process(graph.pid).children(recursive=True) if "ros_detect.nodes" in str(p.cmdline())
            ]
            assert len(nodes) == 5, log.read_text()[-3000:]
            assert {p.environ().get(RANGE_VAR) for p in nodes} == {"LOCALHOST"}
            assert not joined_multicast_discovery([graph.pid, *(p.pid for p in nodes)], int(env["ROS_DOMAIN_ID"]))
        for ns in graphs:
            docs = rec.docs(f"{ns}/main_person")
            assert {d["frame_id"] for d in docs} == {ns}  # its own topic, its own source id
        for graph, log in reversed(graphs.values()):  # cam2 first: cam1's bridge owns the broker
            assert _stop(graph) == 0, log.read_text()[-3000:]
            text = log.read_text()
            assert "DDS discovery: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST" in text and "Traceback" not in text
    finally:
        for graph, _ in reversed(graphs.values()):
            _stop(graph, 30)
        for cam in cams:
            cam.stop()
        if rec is not None:
            rec.close()


@pytest.mark.ros
@pytest.mark.parametrize("processes", ["multi", "one"])
def test_a_taken_foxglove_port_without_fallback_fails_that_bridge_alone(processes: str, tmp_path: Path) -> None:
    pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
    from helpers.mjpeg import MjpegServer
    from helpers.ros import ros_env

    cam = MjpegServer(fps=5.0).start()
    out, log = tmp_path / "out", tmp_path / "launch.log"
    mains = out / "main_person.jsonl"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cmd = [
            *ROS_DETECT, "launch", "webcam", cam.url, "--namespace", "door", "--no-mqtt", *FAST, "-o", str(out),
            "--processes", processes, "-p", f"foxglove_bridge.port={busy.getsockname()[1]}",
            "-p", "foxglove_bridge.port_fallback=false",
        ]  # fmt: skip
        with open(log, "wb") as sink:
            graph = subprocess.Popen(cmd, env=ros_env(), stdout=sink, stderr=subprocess.STDOUT)
        try:
            failed = r"error: sink (/door/)?foxglove_bridge (failed|could not start)"
            assert wait_for_line(log, failed, 180), log.read_text()
            assert "error: cannot start the Foxglove WebSocket server" in log.read_text()
            # the pipeline keeps producing results after the sink is gone
            at_failure = count_lines(mains)
            assert wait_until(lambda: graph.poll() is not None or count_lines(mains) >= at_failure + 3, 300), (
                log.read_text()[-3000:]
            )
            assert graph.poll() is None, log.read_text()[-3000:]
        finally:
            code = _stop(graph)
            cam.stop()
    text = log.read_text()
    assert code == plan.SINK_FAILED_EXIT, text[-3000:]
    assert "error: sink(s) foxglove_bridge failed while the graph ran" in text and "Traceback" not in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["graph"]["failed_sinks"] == ["foxglove_bridge"]
    assert {json.loads(line)["frame_id"] for line in mains.read_text().splitlines()} == {"door"}


@pytest.mark.ros
def test_a_bridge_that_cannot_start_says_failed_on_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only its log: a monitor of `stats` (the MQTT bridge, the web view, an operator) sees `failed`."""
    pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
    import threading

    import rclpy
    from helpers.foxglove_graph import BIN
    from helpers.mjpeg import free_port
    from helpers.ros import ros_env
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    from ros_detect import schema

    env = ros_env()
    monkeypatch.setenv(RANGE_VAR, env[RANGE_VAR])  # this process's watcher stays on the machine too
    ctx = Context()
    rclpy.init(context=ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
    docs: list[dict] = []
    node = rclpy.create_node("stats_watch", context=ctx)
    node.create_subscription(String, "/stats", lambda msg: docs.append(json.loads(msg.data)), 10)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            params = [f"port:={busy.getsockname()[1]}", f"http_port:={free_port()}", "port_fallback:=false"]
            proc = subprocess.run(
                [str(BIN / "foxglove_bridge"), "--ros-args", *(a for p in params for a in ("-p", p))],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert proc.returncode == 2 and "error: cannot start the Foxglove WebSocket server" in proc.stderr
        assert wait_until(lambda: docs, 10), proc.stderr
        failed = docs[-1]
        schema.validate(failed)
        assert (failed["node"], failed["state"], failed["counters"]) == (
            "/foxglove_bridge",
            "failed",
            {"start_failed": 1},
        )
    finally:
        stop.set()
        spinner.join(timeout=5)
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
