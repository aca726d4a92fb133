"""Launch files and parameter files.

Static checks run everywhere (CI has no `launch`: it is not on PyPI): the launch files parse, every
executable they start is a console_scripts entry point of setup.py whose module exists, every launch
argument they use is declared, every parameter they set is declared by that node, and every file they
reference exists. Where `launch`/`launch_ros` are installed, the video launch file also runs for real.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from helpers.ros import ros_env

from ros_detect.graph.params import load_param_file, params_for
from ros_detect.graph.plan import NODES

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def console_scripts() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = [ast.literal_eval(e) for e in value.elts]
                    return {name.strip(): target.strip() for name, target in (e.split("=", 1) for e in entries)}
    raise AssertionError("setup.py has no console_scripts")


def _calls(tree: ast.AST, names: set[str]) -> list[ast.Call]:
    return [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
    ]


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_static_checks(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    scripts = console_scripts()
    nodes = _calls(tree, {"Node"})
    assert len(nodes) >= 3
    declared = {ast.literal_eval(c.args[0]) for c in _calls(tree, {"DeclareLaunchArgument"})}
    used = {ast.literal_eval(c.args[0]) for c in _calls(tree, {"LaunchConfiguration", "arg"}) if c.args}
    assert used <= declared, f"undeclared launch arguments {used - declared}"
    assert {"input", "model", "precision", "weights", "namespace", "mqtt", "foxglove", "config"} <= declared
    for call in nodes:
        exe = ast.literal_eval(_kw(call, "executable"))
        assert exe in scripts, f"{path.name}: executable {exe} is not a console_scripts entry point"
        module = scripts[exe].split(":")[0]
        assert importlib.util.find_spec(module) is not None, f"{exe} -> {module} does not exist"
        params = _kw(call, "parameters")
        for item in params.elts if isinstance(params, ast.List) else []:
            if isinstance(item, ast.Dict) and importlib.util.find_spec("rclpy"):
                declared_params = importlib.import_module(module).PARAMS
                for key in item.keys:
                    assert ast.literal_eval(key) in declared_params, f"{exe} has no parameter {key.value}"
    referenced = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and str(n.value).endswith((".yaml", ".json"))
    ]
    assert referenced, "the launch file should reference its parameter file"
    for name in referenced:
        assert (ROOT / "config" / name).is_file(), f"{path.name} references missing config/{name}"


def test_setup_installs_launch_and_config() -> None:
    text = (ROOT / "setup.py").read_text()
    assert 'glob("launch/*.launch.py")' in text and 'glob("config/*")' in text


@pytest.mark.parametrize("mode", ["video", "webcam"])
def test_config_parameters_are_declared_by_their_nodes(mode: str) -> None:
    """A typo in config/*.yaml would be silently ignored by rclpy: catch it here."""
    pytest.importorskip("rclpy", reason="node modules import rclpy")
    files = [load_param_file(ROOT / "config" / f"{mode}.yaml")]
    raw = yaml.safe_load((ROOT / "config" / f"{mode}.yaml").read_text())
    for section in raw:
        name = section.rsplit("/", 1)[-1]
        assert section == "/**" or name in NODES, f"section {section} names no node"
    for name in ("video_source" if mode == "video" else "camera_source", "detector", "main_person"):
        declared = importlib.import_module(NODES[name][0]).PARAMS
        topics = {"/" + str(v[0]) for k, v in declared.items() if k.endswith("_topic")}
        for key, value in params_for(files, name).items():
            if key.startswith("qos_overrides."):  # rclpy's standard QoS overrides: /<topic>.<kind>.<policy>
                topic, kind, policy = key.removeprefix("qos_overrides.").rsplit(".", 2)
                assert topic in topics and kind in ("publisher", "subscription"), f"config/{mode}.yaml: {key}"
                assert policy in ("history", "depth", "reliability"), f"config/{mode}.yaml: {key}"
                continue
            assert key in declared, f"config/{mode}.yaml: {name} has no parameter {key}"
            default = declared[key][0]
            assert isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int)), (
                f"config/{mode}.yaml: {name}.{key}={value!r} is not a {type(default).__name__}"
            )


def _launch_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("launch", "launch_ros"))


needs_launch = pytest.mark.skipif(
    not _launch_available(),
    reason="`launch`/`launch_ros` are not installed (not on PyPI; present in a ROS 2 install): static checks only",
)


@needs_launch
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_description_loads(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.get_launch_arguments()}
    assert {"input", "namespace", "mqtt", "foxglove"} <= names


def _ament_prefix(tmp_path: Path, executables: tuple[str, ...]) -> Path:
    """An ament-style install prefix whose lib/ros_detect/<exe> run this venv's console scripts."""
    prefix = tmp_path / "install"
    (prefix / "share/ament_index/resource_index/packages").mkdir(parents=True)
    (prefix / "share/ament_index/resource_index/packages/ros_detect").write_text("")
    (prefix / "share/ros_detect/config").mkdir(parents=True)
    for config in (ROOT / "config").glob("*.yaml"):
        (prefix / "share/ros_detect/config" / config.name).write_text(config.read_text())
    lib = prefix / "lib/ros_detect"
    lib.mkdir(parents=True)
    bindir = Path(sys.executable).parent
    for exe in executables:
        (lib / exe).write_text(f'#!/bin/sh\nexec {bindir / exe} "$@"\n')
        (lib / exe).chmod(0o755)
    return prefix


def _fast_config(tmp_path: Path, mode: str) -> Path:
    config = tmp_path / f"fast-{mode}.yaml"
    text = (ROOT / f"config/{mode}.yaml").read_text()
    config.write_text(text.replace("threads: 0", "threads: 1").replace("proposals: 1000", "proposals: 50"))
    return config


def _launch_script(launch_file: str, arguments: dict[str, str]) -> str:
    return textwrap.dedent(f"""
        import sys
        from launch import LaunchService
        from launch.actions import IncludeLaunchDescription
        from launch.launch_description_sources import PythonLaunchDescriptionSource
        ls = LaunchService()
        ls.include_launch_description(IncludeLaunchDescription(
            PythonLaunchDescriptionSource({str(ROOT / "launch" / launch_file)!r}),
            launch_arguments={arguments!r}.items()))
        sys.exit(ls.run())
    """)


FAST_ARGS = {"weights": "none", "foxglove": "false", "mqtt": "false", "model": "fasterrcnn_mobilenet_v3_large_320_fpn"}


@needs_launch
def test_video_launch_runs_every_frame_and_shuts_down(clip_path: Path, tmp_path: Path) -> None:
    """The real launch system starts the console scripts from an ament-style prefix; the launch ends by itself."""
    prefix = _ament_prefix(tmp_path, ("video_source", "detector", "main_person"))
    args = {"input": str(clip_path), "config": str(_fast_config(tmp_path, "video")), **FAST_ARGS}
    env = ros_env(AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    script = _launch_script("video.launch.py", args)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "finished: 12 frames published, 12 results back, 0 lost" in output
    assert "Traceback" not in output


@needs_launch
def test_webcam_launch_runs_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """webcam.launch.py against a served MJPEG stream, in a namespace; Ctrl-C (SIGINT to the process group)
    stops every node cleanly, without ros2 launch having to escalate to SIGTERM/SIGKILL."""
    from helpers.mjpeg import MjpegServer

    prefix = _ament_prefix(tmp_path, ("camera_source", "detector", "main_person"))
    env = ros_env(AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    with MjpegServer(fps=10.0) as cam:
        args = {"input": cam.url, "namespace": "door", "config": str(_fast_config(tmp_path, "webcam")), **FAST_ARGS}
        proc = subprocess.Popen(
            [sys.executable, "-c", _launch_script("webcam.launch.py", args)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline:  # wait for the detector to be up and frames flowing
                line = proc.stdout.readline()
                lines.append(line)
                if "started /door/detector" in line or not line:
                    break
            time.sleep(3.0)
            os.killpg(proc.pid, signal.SIGINT)
            rest, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert "reading " + cam.url in output
    assert output.count("process has finished cleanly") == 3, output
    assert "escalating" not in output and "Traceback" not in output
