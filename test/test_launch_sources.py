"""Several cameras, one detector: the plan of `ros-detect launch webcam URL1 URL2` and `webcam.launch.py inputs:=`."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.launch_stubs import run_launch_file, stub_launch

from ros_detect.errors import ConfigError
from ros_detect.graph import plan
from ros_detect.graph.params import dump_param_file, load_param_file, params_for

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parent.parent
URL1, URL2 = "http://127.0.0.1:8080/a.mjpg", "http://127.0.0.1:8080/b.mjpg?size=big"


def test_inputs_are_named_by_position_or_by_the_user() -> None:
    assert plan.parse_inputs([URL1, URL2]) == [plan.Source("cam1", URL1), plan.Source("cam2", URL2)]
    assert plan.parse_inputs([f"door={URL1}", "0"]) == [plan.Source("door", URL1), plan.Source("cam2", "0")]
    with pytest.raises(ConfigError, match="repeat") as error:
        plan.parse_inputs([f"cam2={URL1}", URL2])
    assert "cam1=URL1" in error.value.fix
    assert plan.split_inputs(f"[{URL1}, 'door={URL2}']") == [URL1, f"door={URL2}"]
    assert plan.split_inputs("0,1") == ["0", "1"] and plan.split_inputs("") == []


def test_one_detector_serves_every_camera_of_the_launcher_plan() -> None:
    sources = plan.parse_inputs([URL1, f"yard={URL2}"])
    spec = plan.plan_graph("webcam", sources=sources, namespace="site")
    placed = [(n.name, n.namespace) for n in spec.nodes]
    assert placed == [
        ("camera_source", "site/cam1"),
        ("camera_source", "site/yard"),
        ("detector", "site"),
        ("main_person", "site/cam1"),
        ("main_person", "site/yard"),
        ("mqtt_bridge", "site/cam1"),
        ("mqtt_bridge", "site/yard"),
        ("foxglove_bridge", "site"),
    ]
    by_fqn = {n.fqn: n.params for n in spec.nodes}
    assert by_fqn["/site/detector"]["sources"] == ["cam1", "yard"]
    assert by_fqn["/site/foxglove_bridge"]["sources"] == ["cam1", "yard"]
    assert (by_fqn["/site/cam1/camera_source"]["input"], by_fqn["/site/yard/camera_source"]["input"]) == (URL1, URL2)
    assert by_fqn["/site/yard/camera_source"]["source_id"] == "yard"  # frame_id and MQTT topic level
    # one broker: the first camera's bridge may start it, the others connect to it
    assert by_fqn["/site/cam1/mqtt_bridge"]["autostart_broker"] == "auto"
    assert by_fqn["/site/yard/mqtt_bridge"]["autostart_broker"] == "none"
    assert spec.source.fqn == "/site/cam1/camera_source"


def test_one_input_is_the_graph_of_one_camera_as_ever() -> None:
    one = plan.plan_graph("webcam", sources=plan.parse_inputs([URL1])[:1])
    assert [n.fqn for n in one.nodes] == [f"/{n}" for n in plan.graph_nodes("webcam")]
    assert one.node("detector").params["sources"] == [] and not one.sources


def test_several_inputs_are_for_webcam_only() -> None:
    with pytest.raises(ConfigError, match="several inputs"):
        plan.plan_graph("video", sources=plan.parse_inputs(["a.mp4", "b.mp4"]))


def test_a_user_file_and_overrides_still_win_per_camera(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("/cam2/camera_source:\n  ros__parameters:\n    max_fps: 5.0\n")
    spec = plan.plan_graph(
        "webcam",
        config_files=[mine],
        sources=plan.parse_inputs([URL1, URL2]),
        overrides={"camera_source": {"aspect": "crop"}},
    )
    by_fqn = {n.fqn: n.params for n in spec.nodes}
    assert by_fqn["/cam2/camera_source"]["max_fps"] == 5.0 and by_fqn["/cam1/camera_source"]["max_fps"] == 0.0
    assert by_fqn["/cam1/camera_source"]["aspect"] == by_fqn["/cam2/camera_source"]["aspect"] == "crop"


def test_the_multi_process_parameter_file_keeps_every_camera_apart(tmp_path: Path) -> None:
    spec = plan.plan_graph("webcam", sources=plan.parse_inputs([URL1, URL2]))
    path = dump_param_file(tmp_path / "p.yaml", {n.fqn: n.params for n in spec.nodes})
    assert "&id" not in path.read_text()  # rcl refuses YAML aliases: two bridges share one `forward` list object
    loaded = load_param_file(path)
    assert params_for([loaded], "camera_source", "cam2")["input"] == URL2
    assert params_for([loaded], "detector")["sources"] == ["cam1", "cam2"]


def test_the_launch_file_form_starts_the_same_graph() -> None:
    with stub_launch():
        launched = run_launch_file(ROOT / "launch" / "webcam.launch.py", {"inputs": f"[{URL1}, yard={URL2}]"})
    per_camera = ["camera_source", "main_person", "mqtt_bridge"]
    expected = [f"/{cam}/{node}" for cam in ("cam1", "yard") for node in per_camera]
    assert sorted(launched.by_fqn) == sorted([*expected, "/detector", "/foxglove_bridge"])
    detector = launched.by_fqn["/detector"].parameters[-1]
    assert detector["sources"] == ["cam1", "yard"]
    assert launched.by_fqn["/yard/camera_source"].parameters[-1]["input"] == URL2
    with stub_launch(), pytest.raises(ConfigError, match="both input"):
        run_launch_file(ROOT / "launch" / "webcam.launch.py", {"inputs": f"[{URL1}, {URL2}]", "input": "0"})
