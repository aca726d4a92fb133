"""`ros-detect webcam`: the live pipeline in one process, with rclpy made unimportable.

The end-to-end run reads a served MJPEG stream, publishes to a real mosquitto watched by an independent
subscriber, serves the Foxglove server and page, writes the -o files, and is stopped with SIGINT once
results arrived. A stub `rclpy` (and ROS message packages) first on PYTHONPATH raises ModuleNotFoundError
and leaves a marker file, so any import attempt on the path shows, even one that was caught.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import cv2
import pytest
from helpers.mjpeg import MjpegServer
from helpers.mosquitto import Mosquitto, MqttRecorder
from helpers.wait import wait_until

from ros_detect import schema
from ros_detect.cli import ROS_MODULES, main
from ros_detect.errors import ConfigError, InputError
from ros_detect.media.camera import CameraConfig, ReconnectingCamera
from ros_detect.media.sources import Frame
from ros_detect.pipeline.live_config import plan_live

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "ros_detect.cli"]
FAST = [
    "--weights", "none", "--precision", "fp32", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn",
    "--threads", "1", "--proposals", "50", "--score-threshold", "0.01",
]  # fmt: skip
RESULTS = 6  # main_person results to see on MQTT before stopping
NODES = {"/camera_source", "/detector", "/main_person", "/mqtt_bridge", "/foxglove_bridge"}


# -- rclpy made unimportable -----------------------------------------------------------------------------------
@pytest.fixture
def no_ros(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment whose Python cannot import rclpy or ROS messages, marker file written on any attempt)."""
    import os

    stubs, marker = tmp_path / "no_ros", tmp_path / "ros_import_attempted"
    for name in ROS_MODULES:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n"
            f"raise ModuleNotFoundError({f'No module named {name} (blocked by the test)'!r}, name={name!r})\n"
        )
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(stubs), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env, marker


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class _Output:
    """Collects a process's output in a thread (a full pipe would block it)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            self.text += line

    def join(self) -> str:
        self._thread.join(timeout=10)
        return self.text


def test_webcam_without_ros_reaches_mqtt_view_and_files(no_ros, tmp_path: Path) -> None:
    env, marker = no_ros
    out = tmp_path / "out"
    with MjpegServer(fps=10.0) as cam, Mosquitto() as broker:
        rec = MqttRecorder(broker.port, "ros_detect/#")
        cmd = [
            *CLI, "webcam", cam.url, "-o", str(out), *FAST, "--status-every", "1",
            "-p", f"mqtt_bridge.port={broker.port}", "-p", "mqtt_bridge.autostart_broker=none",
            "-p", "foxglove_bridge.port=0", "-p", "foxglove_bridge.http_port=0", "-p", "stats_period_s=0.5",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = _Output(proc)
        try:
            page = wait_until(lambda: re.search(r"page: (http://\S+)", output.text), 240)
            assert page, output.text[-3000:]
            with urllib.request.urlopen(page.group(1), timeout=10) as response:  # the zero-install page is served
                assert response.status == 200 and b"<html" in response.read().lower()
            assert wait_until(lambda: len(rec.docs("/main_person")) >= RESULTS, 240), output.text[-3000:]
            assert wait_until(lambda: re.search(r"fps \| capture->result p50", output.text), 60), output.text[-3000:]
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
            text = output.join()
        assert wait_until(lambda: rec.payloads("/status")[-1:] == [b"offline"], 10), rec.payloads("/status")
        rec.close()
    assert proc.returncode == 0, text[-3000:]
    assert "Traceback" not in text
    assert not marker.exists(), f"rclpy/ROS import attempted: {marker.read_text()}"

    # every result written is on MQTT, in order, before `offline` (flushed on Ctrl-C)
    mains, dets = _lines(out / "main_person.jsonl"), _lines(out / "detections.jsonl")
    assert len(mains) >= RESULTS
    assert [d["seq"] for d in rec.docs("/main_person")] == [d["seq"] for d in mains]
    assert [d["seq"] for d in rec.docs("/detections")] == [d["seq"] for d in dets] == [d["seq"] for d in mains]
    seqs = [d["seq"] for d in mains]
    assert seqs == sorted(set(seqs))  # latest frame wins: gaps allowed, never backwards or twice
    for doc in mains + dets:
        schema.validate(doc)
    assert all(d["timing_ms"]["wait"] >= 0 for d in dets)
    assert all(m["latency_ms"]["capture_to_main_person"] >= m["latency_ms"]["capture_to_detection"] for m in mains)
    assert rec.payloads("/status")[0] == b"online"
    assert {m[2] for m in rec.messages if m[0].endswith("/status")} <= {False, True}
    topics = {m[0] for m in rec.messages}
    source = mains[0]["frame_id"]
    assert topics == {f"ros_detect/{source}/{s}" for s in ("main_person", "detections", "stats", "status")}
    stats = rec.docs("/stats")
    for doc in stats[:10]:
        schema.validate(doc)
    assert {d["node"] for d in stats} == NODES  # the graph's heartbeats, by the same node names

    summary = json.loads((out / "summary.json").read_text())
    live = summary["live"]
    assert summary["frames_processed"] == live["frames_processed"] == len(mains)
    assert live["frames_captured"] == live["frames_processed"] + live["frames_dropped"] + live["frames_stale"]
    assert live["camera"]["connects"] == 1 and live["mqtt"]["buffered"] == 0
    assert summary["weights_trained"] is False and "NOT" in summary["warning"]
    assert summary["files"] == ["main_person.jsonl", "detections.jsonl", "annotated.mp4", "summary.json"]
    video = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == len(mains)
    video.release()
    assert "processed" in text and "WARNING" in text


def test_import_help_and_ros_commands_without_ros(no_ros) -> None:
    env, marker = no_ros

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180)

    imported = subprocess.run(
        [sys.executable, "-c", "import ros_detect, ros_detect.pipeline.live; print(ros_detect.__version__)"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    for args in (["--help"], ["webcam", "--help"]):
        proc = cli(*args)
        assert proc.returncode == 0 and "webcam" in proc.stdout, proc.stderr
    assert not marker.exists(), f"rclpy/ROS import attempted: {marker.read_text()}"
    # a command that needs ROS says so in one line, with the fix, not a traceback
    proc = cli("launch", "webcam", "--source", "http://127.0.0.1:9/none", "--no-mqtt", "--no-foxglove")
    assert proc.returncode == 2, proc.stderr
    assert "needs ROS 2 (rclpy)" in proc.stderr and "fix: pip install 'ros_detect[ros]'" in proc.stderr
    assert "ros-detect webcam" in proc.stderr and "Traceback" not in proc.stderr


# -- no ROS on the path, statically ----------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):  # function bodies too: lazy imports count
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)  # `from a.b import c`: c may be a module too (followed if it is a file)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.unit
def test_nothing_on_the_webcam_path_imports_ros() -> None:
    """Every ros_detect module reachable from the command (any import, lazy ones too) is ROS-free."""
    todo, seen, bad = ["ros_detect.commands.webcam", "ros_detect.cli"], set(), []
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        for imported in _imports(path):
            if imported.split(".")[0] in ROS_MODULES or imported.startswith("ros_detect.nodes"):
                bad.append(f"{name} imports {imported}")
            elif imported.startswith("ros_detect"):
                todo.append(imported)
    assert {"ros_detect.pipeline.live", "ros_detect.mqtt.client", "ros_detect.foxglove.relay"} <= seen
    # cli.py imports every subcommand by name at run time (importlib); `--help` without rclpy is checked above
    assert not bad, bad


# -- settings: the graph's files and overrides, checked --------------------------------------------------------
@pytest.mark.unit
def test_plan_reads_the_webcam_graph_config_and_overrides() -> None:
    plan = plan_live(
        overrides={
            "camera_source": {"input": 0},
            "detector": {"proposals": 77},
            "mqtt_bridge": {"forward": "main_person,stats", "port": 1884},
            "": {"stats_period_s": 2},
            "main_person": {"image_topic": "x", "hold_frames": 3},
        },
        outputs={"foxglove": False},
    )
    assert plan.camera.input == "0" and plan.source_id == "camera0"
    assert plan.detector.model.proposals == 77 and plan.detector.precision == "openvino-int8"  # config/webcam.yaml
    assert plan.max_age_ms == 500.0 and plan.stats_period_s == 2.0
    assert plan.main_person.hold_frames == 3
    assert plan.mqtt is not None and plan.mqtt.port == 1884 and plan.mqtt.forward == ("main_person", "stats")
    assert plan.mqtt.source_id == "camera0"  # as the bridge: the source's frame_id
    assert plan.foxglove is None and "foxglove_bridge" not in plan.params
    assert plan.unused_overrides == ["main_person.image_topic"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"detector": {"proposals": "abc"}}, ["detector: parameter 'proposals' has the wrong type", "-p detector."]),
        ({"mqtt_bridge": {"autostart_broker": False}}, ["'autostart_broker'", "wrong type"]),
        ({"mqtt_bridge": {"password": True, "username": "u"}}, ["'password'", "value not shown"]),
        ({"camera_source": {"max_fps": -1}}, ["'max_fps'", "out of range"]),
        ({"mqtt_bridge": {"qos": 3}}, ["qos 3 invalid"]),
        ({"detectr": {"threads": 1}}, ["unknown node(s) ['detectr']"]),
    ],
)
def test_bad_settings_name_the_parameter(overrides: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        plan_live(overrides=overrides, outputs={"foxglove": False})
    text = f"{err.value.problem} {err.value.fix}"
    assert all(w in text for w in words), text


@pytest.mark.unit
def test_missing_extra_turns_its_output_off_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from ros_detect.pipeline import live_config

    monkeypatch.setattr(live_config, "extra_available", lambda output: output != "mqtt")
    plan = plan_live(outputs={"foxglove": False})
    assert plan.mqtt is None and "pip install 'ros_detect[mqtt]'" in plan.skipped[0]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["webcam", "{tmp}/missing.mp4", "--no-mqtt", "--no-foxglove"], ["does not exist"]),
        (["webcam", "0", "-p", "detector.threads=many"], ["'threads' has the wrong type"]),
        (["webcam", "0", "--config", "{tmp}/none.yaml"], ["parameter file", "does not exist"]),
        (["webcam", "0", "-o", "{tmp}/file/sub", "--no-mqtt", "--no-foxglove"], ["not writable"]),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], words: list[str], tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("a file, not a directory")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words) and "fix:" in err and "Traceback" not in err, err


def test_missing_optional_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The deployed openvino-int8 scheme without the `quant` extra: one line with the pip command, exit 2."""
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails as if not installed
    args = ["webcam", "0", *FAST, "--precision", "openvino-int8", "--no-mqtt", "--no-foxglove"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "needs openvino" in err and "pip install 'ros_detect[quant]'" in err and "--precision fp32" in err, err


# -- the reconnecting camera (shared with the camera_source node) ----------------------------------------------
class _FakeSource:
    def __init__(self, frames: int) -> None:
        self.frames, self.closed = frames, False
        self.source_size, self.fps = (640, 360), 15.0

    def __iter__(self):
        import numpy as np

        for i in range(self.frames):
            yield Frame(i, i, np.zeros((240, 427, 3), np.uint8), 1.0)

    def close(self) -> None:
        self.closed = True


@pytest.mark.unit
def test_camera_reconnects_with_backoff_and_numbers_frames_across_connections() -> None:
    opens = iter([InputError("cannot open stream"), InputError("cannot open stream"), 2, 3])
    sources: list[_FakeSource] = []
    camera = ReconnectingCamera(CameraConfig(input="http://cam/x", reconnect_initial_s=0.5, reconnect_max_s=1.5))

    def fake_open() -> _FakeSource:
        item = next(opens)
        if isinstance(item, Exception):
            raise item
        sources.append(_FakeSource(item))
        return sources[-1]

    camera.open = fake_open  # type: ignore[method-assign]
    waits: list[float] = []
    frames = []
    for frame in camera.frames(lambda: len(frames) >= 5, waits.append):
        frames.append(frame)
        assert camera.state == "running"
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4]  # continuous across the reconnection
    assert waits == [0.5, 1.0, 0.5]  # backoff doubles while it fails, restarts after a good connection
    assert camera.counters() == {
        "published": 5, "connects": 2, "disconnects": 1, "open_failures": 2, "skipped_max_fps": 0,
    }  # fmt: skip
    assert all(s.closed for s in sources) and camera.state == "finished"
    with pytest.raises(ConfigError, match="reconnect_max_s"):
        ReconnectingCamera(CameraConfig(reconnect_initial_s=2.0, reconnect_max_s=1.0))


# -- the side-by-side benchmark (bench-mqtt --compare-graph) ---------------------------------------------------
@pytest.mark.unit
def test_compare_runs_both_with_the_same_camera_broker_and_detector() -> None:
    from ros_detect.bench.live_compare import command

    args = ("--precision", "fp32", "-p", "detector.force_proposals=true")
    graph, webcam = (command(kind, "http://127.0.0.1:1/s.mjpg", 1999, args) for kind in ("graph", "webcam"))
    assert graph[3:5] == ["launch", "webcam"] and webcam[3] == "webcam"
    shared = ["-p", "mqtt_bridge.port=1999", "-p", "mqtt_bridge.autostart_broker=none", "--no-foxglove", *args]
    for cmd in (graph, webcam):
        assert "http://127.0.0.1:1/s.mjpg" in cmd and cmd[-len(shared) :] == shared


@pytest.mark.slow
@pytest.mark.ros
def test_compare_graph_smoke(tmp_path: Path) -> None:
    """The real side-by-side run, tiny model and few results (the figures themselves are docs material)."""
    pytest.importorskip("rclpy", reason="the graph side needs the rclpy wheels")
    out = tmp_path / "cmp.json"
    proc = subprocess.run(
        [*CLI, "bench-mqtt", "--compare-graph", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--weights",
         "none", "--precision", "fp32", "--proposals", "50", "--results", "5", "--warmup", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert [r["kind"] for r in report["runs"]] == ["graph", "webcam"]
    assert all(r["results"] == 5 and r["capture_to_mqtt_ms"]["p50"] > 0 for r in report["runs"])
    assert report["ratio_webcam_to_graph"]["p50"] > 0 and "ratio webcam / graph" in proc.stdout
