"""Launch files, parameter files, the installed tree.

Everywhere (CI has no `launch`: it is not on PyPI): the launch files run against small stand-ins of
`launch`/`launch_ros` (test/helpers/launch_stubs.py) that record the nodes and parameters they start, and
every launch argument's default and documented example value is handed to the node the way launch_ros
would, then declared on a real rclpy node as the node declares it. The exit handlers are called as
LaunchService calls them. Where `launch`/`launch_ros` are installed, the launch files also run for real
from a tree installed the way colcon installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.launch_stubs import LaunchContext, Launched, launch_ros_value, run_launch_file, stub_launch
from helpers.ros import ros_env
from helpers.wait import wait_until

from ros_detect.graph import plan
from ros_detect.graph.params import load_param_file, params_for

ROOT = Path(__file__).resolve().parent.parent
MODES = ("video", "webcam")
LAUNCH_FILES = {mode: ROOT / "launch" / f"{mode}.launch.py" for mode in MODES}
CONFIG_FILES = sorted((ROOT / "config").glob("*.yaml"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
needs_rclpy = pytest.mark.skipif(importlib.util.find_spec("rclpy") is None, reason="node modules import rclpy")


def launch(mode: str, **given: str) -> Launched:
    with stub_launch():
        return run_launch_file(LAUNCH_FILES[mode], given)


def declared(node: str) -> dict[str, tuple[Any, str]]:
    return importlib.import_module(plan.NODES[node][0]).PARAMS


# -- the node list ------------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("mode", MODES)
def test_launch_files_start_the_planned_nodes(mode: str) -> None:
    """Executable = node name = a NODES entry; with the bridge switches the plan's node list, in its order."""
    for bridges in ({}, {"mqtt": "true", "foxglove": "true"}, {"mqtt": "false", "foxglove": "false"}):
        launched = launch(mode, **bridges)
        expected = plan.graph_nodes(mode, {k: v == "true" for k, v in bridges.items()})
        assert list(launched.nodes) == expected
        for name, node in launched.nodes.items():
            assert node.kw["executable"] == name and node.kw["package"] == "ros_detect"
            assert name in plan.NODES


@pytest.mark.unit
def test_a_misspelled_launch_argument_is_warned_about() -> None:
    """ros2 launch takes any `name:=value` without a word (an including file's arguments are visible too): a
    near miss of a declared argument gets a warning naming it, anything else is left alone."""
    launched = launch("webcam", inptu="http://cam/stream", use_sim_time="false")
    warnings = [line for line in launched.logs if line.startswith("warning:")]
    assert warnings == [
        "warning: launch argument 'inptu' is not one of webcam.launch.py's (ignored): did you mean input:=?"
    ]
    assert not [line for line in launch("webcam").logs if line.startswith("warning:")]


@pytest.mark.unit
def test_launch_files_start_one_part_of_a_graph_split_over_hosts() -> None:
    """`nodes:=` / `without:=`: the camera host starts its source, the other host the rest; the source still
    waits for the image consumers the other host runs."""
    camera_host = launch("video", nodes="video_source")
    assert list(camera_host.nodes) == ["video_source"]
    assert _overrides(camera_host, "video_source")["min_image_subscribers"] == 2
    assert list(launch("webcam", without="camera_source,foxglove_bridge").nodes) == [
        "detector",
        "main_person",
        "mqtt_bridge",
    ]


# -- launch arguments reach the nodes with the declared type ------------------------------------------------


def documented_values(argument: str) -> set[str]:
    """Every `argument:=value` written in the launch files, the README and docs/."""
    texts = [p.read_text() for p in (*LAUNCH_FILES.values(), *DOCS)]
    pattern = re.compile(rf"(?<![\w.-]){re.escape(argument)}:=([^\s`'\"\])|,;]+)")
    return {m.group(1) for text in texts for m in pattern.finditer(text)} - {"..."}  # "..." = a placeholder


def accepted_by_node(node: str, param: str, value: Any) -> str | None:
    """None when a real rclpy node declaring `param` like `node` does accepts `value`; else the error."""
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from ros_detect.errors import ConfigError
    from ros_detect.nodes.common import declare_parameters

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        probe = rclpy.create_node(
            "probe", context=ctx, parameter_overrides=[Parameter(param, value=value)], start_parameter_services=False
        )
        try:
            declare_parameters(probe, {param: declared(node)[param]})
        except ConfigError as exc:
            return exc.problem
        finally:
            probe.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    return None


@needs_rclpy
@pytest.mark.parametrize("mode", MODES)
def test_every_launch_argument_value_reaches_its_node_with_the_declared_type(mode: str) -> None:
    """`webcam.launch.py` (input defaults to '0'), `input:=0` and `video.launch.py rate:=1` once killed the
    node ("expecting type 'STRING'/'DOUBLE'"): launch_ros parses an untyped value as YAML."""
    arguments = [a for a in plan.launch_arguments(mode) if a.node]
    by_default = launch(mode)
    for arg in arguments:
        # not given: no override at all, the parameter files' value (which the node accepts, see below) decides
        assert by_default.arguments[arg.name].kw["default_value"] == ""
        assert arg.param not in _overrides(by_default, arg.node)
        examples = documented_values(arg.name)
        assert examples, f"no documented example of {arg.name}:="
        for text in sorted(examples):
            launched = launch(mode, **{arg.name: text})
            value = launch_ros_value(_overrides(launched, arg.node)[arg.param], LaunchContext(launched.values))
            problem = accepted_by_node(arg.node, arg.param, value)
            assert problem is None, f"{mode}.launch.py {arg.name}:={text} -> {value!r}: {problem}"
    assert {"0", "1"} & documented_values("input") and "1" in documented_values("rate")  # the reported cases


@needs_rclpy
def test_the_reported_values_are_refused_without_a_declared_type() -> None:
    """The check above can fail: the same values parsed with launch_ros' YAML rules are refused."""
    from helpers.launch_stubs import LaunchConfiguration

    context = LaunchContext({"input": "0", "rate": "1"})
    as_yaml = {name: launch_ros_value(LaunchConfiguration(name), context) for name in context.launch_configurations}
    assert "STRING" in accepted_by_node("camera_source", "input", as_yaml["input"])
    assert "DOUBLE" in accepted_by_node("video_source", "rate", as_yaml["rate"])


@needs_rclpy
def test_a_wrong_type_is_named_with_its_article() -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from ros_detect.errors import ConfigError
    from ros_detect.nodes.common import declare_parameters

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        probe = rclpy.create_node("probe", context=ctx, parameter_overrides=[Parameter("proposals", value="abc")])
        with pytest.raises(ConfigError) as error:
            declare_parameters(probe, {"proposals": declared("detector")["proposals"]})
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    assert "give 'proposals' an int value like its default 300" in error.value.fix


def _overrides(launched: Launched, node: str) -> dict[str, Any]:
    """The node's `parameters` dict entries (the files come first, as paths)."""
    merged: dict[str, Any] = {}
    for entry in launched.nodes[node].parameters:
        if isinstance(entry, dict):
            merged.update(entry)
    return merged


# -- defaults: one source ------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("mode", MODES)
def test_a_user_edit_in_the_parameter_file_wins_over_launch_argument_defaults(mode: str, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**/detector:\n  ros__parameters:\n    precision: fp32\n    proposals: 100\n")
    launched = launch(mode, config=str(mine))
    detector = launched.nodes["detector"]
    files = [Path(p) for p in detector.parameters if isinstance(p, str)]
    assert files == [*plan.shipped_config_files(mode), mine]  # the user's file last: it wins
    assert _overrides(launched, "detector") == {}  # no launch-argument default on top of it
    merged = launched.effective_parameters("detector")
    assert (merged["precision"], merged["proposals"]) == ("fp32", 100)
    # a launch argument given on the command line still wins over every file, in any namespace
    for namespace in ("", "door"):
        given = launch(mode, config=str(mine), precision="onnx-int8", input="7", namespace=namespace)
        assert given.effective_parameters("detector")["precision"] == "onnx-int8"
        assert given.effective_parameters(plan.MODES[mode].source)["input"] == "7"


RCL_ORDER_FILES = {
    "shipped": "/**:\n  ros__parameters: {stats_period_s: 1.0}\n/**/detector:\n  ros__parameters:\n"
    "    threads: 1\n    proposals: 300\n    seed: 5\n",
    "wildcard": "/**:\n  ros__parameters: {threads: 7, stats_period_s: 2.0}\n",
    "specific": "detector:\n  ros__parameters: {proposals: 100}\n/**/detector:\n  ros__parameters: {seed: 6}\n",
}


@needs_rclpy
@pytest.mark.parametrize(
    "order", [("shipped", "wildcard", "specific"), ("wildcard", "shipped"), ("specific", "shipped")]
)
def test_parameter_files_merge_like_rclpy(order: tuple[str, ...], tmp_path: Path) -> None:
    """The in-process launcher merges parameter files as rcl does for `ros2 launch` (a later file's `/**` does
    not beat a node section seen first), so both launchers start a node with the same values."""
    import rclpy
    from rclpy.context import Context

    paths = []
    for name in order:
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(RCL_ORDER_FILES[name])
    ctx = Context()
    rclpy.init(context=ctx, args=["--ros-args", *[a for p in paths for a in ("--params-file", str(p))]])
    try:
        node = rclpy.create_node("detector", namespace="cam", context=ctx)
        names = {"threads": 0, "proposals": 0, "seed": 0, "stats_period_s": 0.0}
        real = {name: node.declare_parameter(name, default).value for name, default in names.items()}
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    ours = params_for([load_param_file(p) for p in paths], "detector", "cam")
    assert {k: ours.get(k, names[k]) for k in names} == real


@pytest.mark.unit
def test_a_missing_user_parameter_file_fails_the_launch(tmp_path: Path) -> None:
    from ros_detect.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        launch("video", input="clip.mp4", config=str(tmp_path / "typo.yaml"))
    with pytest.raises(ConfigError, match="not a boolean"):
        launch("webcam", mqtt="yes please")


@needs_rclpy
@pytest.mark.parametrize("node", list(plan.NODES))
def test_a_bare_node_declares_the_deployed_defaults(node: str) -> None:
    """`ros2 run ros_detect detector` runs what the launch files deploy (openvino-int8, 300 proposals)."""
    # qos_overrides are rclpy's, declared with each endpoint: test_nodes_params checks the endpoints' defaults
    deployed = {k: v for k, v in plan.deployed_defaults(node).items() if not k.startswith("qos_overrides.")}
    assert deployed, f"config/ has no defaults for {node}"
    params = declared(node)
    assert {name: params[name][0] for name in deployed} == deployed
    if node == "detector":
        assert (params["precision"][0], params["proposals"][0]) == ("openvino-int8", 300)


@needs_rclpy
def test_a_bare_node_starts_with_the_deployed_defaults() -> None:
    import rclpy
    from rclpy.context import Context

    from ros_detect.nodes.main_person import MainPersonNode

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        node = MainPersonNode(context=ctx)
        values = {name: node.get_parameter(name).value for name in plan.deployed_defaults("main_person")}
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    assert values == plan.deployed_defaults("main_person")


@needs_rclpy
@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_shipped_parameter_files_set_declared_parameters_with_their_types(path: Path) -> None:
    """A typo or a wrong type in config/*.yaml would be ignored or refused by rclpy: catch it here. Exact
    types: a parameter file's `1` is an integer, which rclpy refuses for a double."""
    raw = yaml.safe_load(path.read_text())
    sections = load_param_file(path)
    for section in raw:
        assert section == "/**" or section.rsplit("/", 1)[-1] in plan.NODES, f"{path.name}: {section} names no node"
    for node in plan.NODES:
        params = declared(node)
        topics = {"/" + str(v[0]) for k, v in params.items() if k.endswith("_topic")}
        for key, value in params_for([sections], node).items():
            if key.startswith("qos_overrides."):  # rclpy's standard QoS overrides: /<topic>.<kind>.<policy>
                topic, kind, policy = key.removeprefix("qos_overrides.").rsplit(".", 2)
                assert topic in topics and kind in ("publisher", "subscription"), f"{path.name}: {node}: {key}"
                assert policy in ("history", "depth", "reliability"), f"{path.name}: {node}: {key}"
                continue
            assert key in params, f"{path.name}: {node} has no parameter {key}"
            default = params[key][0]
            assert type(value) is type(default), f"{path.name}: {node}.{key}={value!r} is not {type(default)}"
    if path.name == plan.COMMON_CONFIG:
        assert params_for([sections], "foxglove_bridge")["host"] == "127.0.0.1"  # loopback unless chosen
        assert params_for([sections], "mqtt_bridge")["host"] == "127.0.0.1"


@pytest.mark.unit
def test_bridges_are_configured_once() -> None:
    for path in CONFIG_FILES:
        for bridge in plan.BRIDGES.values():
            assert (f"/**/{bridge}" in yaml.safe_load(path.read_text())) == (path.name == plan.COMMON_CONFIG)


# -- a node's exit -------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_node_exit_outcomes() -> None:
    exit_of = plan.node_exit_outcome
    assert exit_of("video", "video_source", 0, stopping=False).action == "finish"
    assert "every frame processed" in exit_of("video", "video_source", 0, stopping=False).message
    failed = exit_of("video", "video_source", 2, stopping=False)
    assert failed.action == "fail" and "video_source" in failed.message and "exit code 2" in failed.message
    # exit 0 = asked to stop (Ctrl-C reaches the nodes before the launch): shut down, not a failure
    stopped = exit_of("webcam", "camera_source", 0, stopping=False)
    assert stopped.action == "finish" and "every frame" not in stopped.message
    assert exit_of("video", "detector", 0, stopping=False).action == "finish"
    assert exit_of("video", "detector", 1, stopping=False).action == "fail"
    assert "signal 9" in exit_of("webcam", "detector", -9, stopping=False).message
    for code in (0, 2, -2, -15):  # the launch is stopping everything: expected
        assert exit_of("video", "detector", code, stopping=True).action == "ignore"


@pytest.mark.unit
@pytest.mark.parametrize("mode", MODES)
def test_launch_file_exit_handlers(mode: str) -> None:
    """A failed node fails `ros2 launch` (the handler raises: LaunchService logs it, stops the graph, returns 1);
    the video source's clean exit shuts the launch down, and success."""
    with stub_launch():
        launched = run_launch_file(LAUNCH_FILES[mode], {"input": "x"})
        from ros_detect.graph.ros_launch import NodeExitError as StubbedError

        source = plan.MODES[mode].source
        assert set(launched.exit_handlers) == set(launched.nodes)
        with pytest.raises(StubbedError, match=f"node {source} failed with exit code 2"):
            launched.exit_of(source, 2)
        with pytest.raises(StubbedError, match="node main_person failed with exit code 1"):
            launched.exit_of("main_person", 1)
        assert launched.exit_of("detector", -2, shutting_down=True) is None
        if mode == "video":
            log, shutdown = launched.exit_of(source, 0)
            assert log.kw["msg"] == "video_source finished: every frame processed; shutting down"
            assert type(shutdown.kw["event"]).__name__ == "Shutdown"
        else:  # Ctrl-C reaches the camera before the launch: a clean stop shuts the graph down, exit 0
            log, shutdown = launched.exit_of(source, 0)
            assert log.kw["msg"] == f"{source} stopped; shutting down"
            assert type(shutdown.kw["event"]).__name__ == "Shutdown"


# -- the installed tree ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed the way colcon's ament_python build installs it (setup.py install, setup.cfg)."""
    tmp = tmp_path_factory.mktemp("install")
    prefix = tmp / "install"
    cmd = [
        sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp),
        "build", "--build-base", str(tmp / "build"),
        "install", "--prefix", str(prefix), "--single-version-externally-managed", "--record", str(tmp / "files"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return prefix


def test_install_puts_launch_config_and_executables_where_ros2_looks(installed: Path) -> None:
    share = installed / "share" / "ros_detect"
    assert (installed / "share/ament_index/resource_index/packages/ros_detect").is_file()
    assert (share / "package.xml").is_file()
    assert sorted(p.name for p in (share / "launch").iterdir()) == sorted(p.name for p in LAUNCH_FILES.values())
    shipped = {p.name for p in (ROOT / "config").iterdir()}
    assert {p.name for p in (share / "config").iterdir()} == shipped >= {"common.yaml", "video.yaml", "webcam.yaml"}
    executables = {p.name for p in (installed / "lib" / "ros_detect").iterdir() if os.access(p, os.X_OK)}
    assert executables == {*plan.NODES, "ros-detect"}
    site = next(installed.glob("lib/python*/site-packages"))
    assert (site / "ros_detect/graph/ros_launch.py").is_file()  # what the launch files import
    assert (site / "ros_detect/schemas/main_person.schema.json").is_file()


def test_installed_package_finds_its_config_through_the_ament_index(installed: Path) -> None:
    """Outside the checkout the deployed defaults come from the installed share/ros_detect/config."""
    site = next(installed.glob("lib/python*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(installed)}
    script = "from ros_detect.paths import config_dir; from ros_detect.graph.plan import deployed_defaults; "
    script += "print(config_dir()); print(deployed_defaults('detector')['precision'])"
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd="/", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(installed / "share/ros_detect/config"), "openvino-int8"]


# pip name -> the rosdep key package.xml declares instead (amqtt: the embedded broker, for machines without
# mosquitto, which rosdep installs)
ROSDEP_INSTEAD = {
    "numpy": "python3-numpy",
    "opencv-python-headless": "python3-opencv",
    "PyYAML": "python3-yaml",
    "psutil": "python3-psutil",
    "tqdm": "python3-tqdm",
    "jsonschema": "python3-jsonschema",
    "paho-mqtt": "python3-paho-mqtt",
    "amqtt": "mosquitto",
}


def _setup_requirements() -> dict[str, list[str]]:
    """CORE and EXTRAS of setup.py, read as literals."""
    import ast

    found: dict[str, Any] = {}
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("CORE", "EXTRAS"):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return {"core": found["CORE"], **found["EXTRAS"]}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[ ]", requirement, maxsplit=1)[0]


@pytest.mark.unit
def test_package_xml_declares_rosdep_keys_and_the_install_page_pips_the_rest() -> None:
    """package.xml parses (an XML comment may not hold `--`: colcon would not see a ROS package), declares the
    rosdep key of every runtime dependency that has one, and docs/install.md's one pip line has the rest."""
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("export/build_type") == "ament_python"
    exec_depends = {e.text for e in root.findall("exec_depend")}
    assert set(ROSDEP_INSTEAD.values()) <= exec_depends
    assert {"rclpy", "launch", "launch_ros", "std_msgs", "sensor_msgs", "ament_index_python"} <= exec_depends
    extras = _setup_requirements()
    runtime = [r for group in ("core", "mqtt", "web", "bag", "quant") for r in extras[group]]
    expected = {r.replace(" ", "") for r in runtime if _name(r) not in ROSDEP_INSTEAD}
    install = (ROOT / "docs" / "install.md").read_text()
    lines = [line for line in install.splitlines() if line.startswith("pip install torch")]
    assert len(lines) == 1, "docs/install.md: one pip line for what rosdep does not install"
    pipped = set(lines[0].replace('"', "").split()[2:])
    # as setup.py pins them; a bare lower bound (`av>=14`) may be left to pip
    assert pipped == {r if "==" in r or "<" in r else _name(r) for r in expected}
    # the message package sits inside the checkout: both tools are given its path too
    assert "rosdep install --from-paths src src/ros_detect/interfaces --ignore-src -y" in install
    assert "colcon build --base-paths src src/ros_detect/interfaces" in install
    for pointer in ((ROOT / "setup.py").read_text(), (ROOT / "package.xml").read_text()):
        assert "docs/install.md" in pointer and "see README" not in pointer


# -- for real, where `launch`/`launch_ros` are installed ------------------------------------------------------


def _launch_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("launch", "launch_ros"))


needs_launch = pytest.mark.skipif(
    not _launch_available(),
    reason="`launch`/`launch_ros` are not installed (not on PyPI; present in a ROS 2 install): stand-ins only",
)


@needs_launch
@pytest.mark.parametrize("mode", MODES)
def test_launch_description_loads(mode: str) -> None:
    spec = importlib.util.spec_from_file_location(f"{mode}_launch", LAUNCH_FILES[mode])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = [a.name for a in module.generate_launch_description().get_launch_arguments()]
    assert names == [a.name for a in plan.launch_arguments(mode)]


def _fast_config(tmp_path: Path) -> Path:
    """A user parameter file: a small, quick detector and its own model cache."""
    config = tmp_path / "fast.yaml"
    config.write_text(
        "/**/detector:\n  ros__parameters:\n    threads: 1\n    proposals: 50\n    precision: fp32\n"
        "    model: fasterrcnn_mobilenet_v3_large_320_fpn\n    weights: none\n"
    )
    return config


FAST_ARGS = {"foxglove": "false", "mqtt": "false"}


def _launch_script(installed: Path, mode: str, arguments: dict[str, str]) -> str:
    return textwrap.dedent(f"""
        import sys
        from launch import LaunchService
        from launch.actions import IncludeLaunchDescription
        from launch.launch_description_sources import PythonLaunchDescriptionSource
        ls = LaunchService()
        ls.include_launch_description(IncludeLaunchDescription(
            PythonLaunchDescriptionSource({str(installed / f"share/ros_detect/launch/{mode}.launch.py")!r}),
            launch_arguments={arguments!r}.items()))
        sys.exit(ls.run())
    """)


def _launch_env(installed: Path) -> dict[str, str]:
    """The installed prefix first (like `source install/setup.bash`), the launch packages after."""
    site = next(installed.glob("lib/python*/site-packages"))
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    prefix = os.pathsep.join(p for p in (str(installed), os.environ.get("AMENT_PREFIX_PATH", "")) if p)
    return ros_env(PYTHONPATH=path, AMENT_PREFIX_PATH=prefix)


@needs_launch
def test_video_launch_runs_every_frame_and_shuts_down(installed: Path, clip_path: Path, tmp_path: Path) -> None:
    """The real launch system, the installed executables; the launch ends by itself with 0."""
    args = {"input": str(clip_path), "config": str(_fast_config(tmp_path)), "rate": "0", **FAST_ARGS}
    script = _launch_script(installed, "video", args)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=_launch_env(installed), cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "finished: 12 frames published, 12 results back, 0 lost" in output
    assert "video_source finished: every frame processed; shutting down" in output
    assert "Traceback" not in output


@needs_launch
def test_video_launch_with_a_missing_input_fails(installed: Path, tmp_path: Path) -> None:
    args = {"input": str(tmp_path / "missing.mp4"), "config": str(_fast_config(tmp_path)), **FAST_ARGS}
    script = _launch_script(installed, "video", args)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=_launch_env(installed), cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "does not exist" in output and "node video_source failed with exit code 2" in output
    assert "every frame processed" not in output


@needs_launch
def test_webcam_launch_runs_and_stops_cleanly_on_ctrl_c(installed: Path, tmp_path: Path) -> None:
    """webcam.launch.py against a served MJPEG stream, in a namespace; Ctrl-C (SIGINT to the process group)
    stops every node cleanly, without ros2 launch having to escalate to SIGTERM/SIGKILL."""
    import threading

    from helpers.mjpeg import MjpegServer

    with MjpegServer(fps=10.0) as cam:
        args = {"input": cam.url, "namespace": "door", "config": str(_fast_config(tmp_path)), **FAST_ARGS}
        proc = subprocess.Popen(
            [sys.executable, "-c", _launch_script(installed, "webcam", args)],
            env=_launch_env(installed),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        try:
            # frames flowing through the detector: its stats report processed frames
            assert wait_until(lambda: "reading " + cam.url in "".join(lines), 180), "".join(lines)
            for node in ("detector", "main_person"):
                assert wait_until(lambda n=node: f"started /door/{n}" in "".join(lines), 180), "".join(lines)
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
            reader.join(timeout=10)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert output.count("process has finished cleanly") == 3, output
    assert "escalating" not in output and "Traceback" not in output


@needs_rclpy
def test_configuration_page_matches_the_code() -> None:
    """docs/configuration.md: every node parameter, launch argument and `ros-detect launch` option, generated."""
    import runpy

    doc = runpy.run_path(str(ROOT / "scripts" / "configuration_doc.py"))
    _, stale = doc["render"]((ROOT / "docs" / "configuration.md").read_text())
    assert not stale, f"docs/configuration.md is stale in {stale}: run python scripts/configuration_doc.py"
