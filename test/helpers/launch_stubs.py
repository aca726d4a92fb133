"""Run a launch file without `launch`/`launch_ros` (not on PyPI): small stand-ins that record what it builds.

    with stub_launch():
        launched = run_launch_file(ROOT / "launch/video.launch.py", {"input": "clip.mp4"})
    launched.nodes["detector"].parameters   # [file, file, {"precision": ParameterValue(...)}]

The stand-ins keep what matters to the checks: the declared arguments with their defaults, the Node
actions (executable, name, namespace, parameters), ParameterValue(value, value_type), and the
OnProcessExit handlers, which `exit_of(node, returncode)` calls the way LaunchService does, the
SetEnvironmentVariable actions before the nodes, and what a handler reports to the launch's asyncio loop
exception handler (`context.asyncio_loop.call_exception_handler`: LaunchService returns 1 at the end).
`launch_ros_value()` turns a launch argument into the parameter value launch_ros hands to the node
(launch 3.8.8 `coerce_to_type` with a value_type, launch_ros 0.28.6 `evaluate_parameter_dict` YAML rules
without one).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _Recorded:
    """Keeps its constructor's arguments; `kw` by name."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.args = args
        self.kw = kw


class LaunchDescription(_Recorded):
    @property
    def entities(self) -> list[Any]:
        return list(self.args[0]) if self.args else []


class DeclareLaunchArgument(_Recorded):
    @property
    def name(self) -> str:
        return self.args[0]


class LaunchConfiguration(_Recorded):
    def perform(self, context: Context) -> str:
        return context.launch_configurations[self.args[0]]


class ParameterValue(_Recorded):
    @property
    def value(self) -> Any:
        return self.args[0]

    @property
    def value_type(self) -> type | None:
        return self.kw.get("value_type")


class Node(_Recorded):
    @property
    def name(self) -> str:
        return self.kw["name"]

    @property
    def parameters(self) -> list[Any]:
        return list(self.kw.get("parameters") or [])


class OpaqueFunction(_Recorded):
    pass


class RegisterEventHandler(_Recorded):
    pass


class OnProcessExit(_Recorded):
    pass


class LogInfo(_Recorded):
    pass


class EmitEvent(_Recorded):
    pass


class Shutdown(_Recorded):
    pass


class SetEnvironmentVariable(_Recorded):
    @property
    def name(self) -> str:
        return self.args[0]

    @property
    def value(self) -> str:
        return self.args[1]


class RecordingLoop:
    """The launch's asyncio loop as an exit handler sees it: LaunchService's exception handler makes the launch
    return 1 at the end (launch 3.x `run_async`: "return non-0 when there are errors")."""

    def __init__(self) -> None:
        self.reported: list[dict[str, Any]] = []

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.reported.append(context)


class LaunchContext:
    def __init__(
        self, launch_configurations: dict[str, str], is_shutdown: bool = False, loop: RecordingLoop | None = None
    ) -> None:
        self.launch_configurations = launch_configurations
        self.is_shutdown = is_shutdown
        self.asyncio_loop = loop or RecordingLoop()


Context = LaunchContext

_MODULES: dict[str, dict[str, Any]] = {
    "launch": {"LaunchDescription": LaunchDescription, "LaunchContext": LaunchContext},
    "launch.actions": {
        "DeclareLaunchArgument": DeclareLaunchArgument,
        "EmitEvent": EmitEvent,
        "LogInfo": LogInfo,
        "OpaqueFunction": OpaqueFunction,
        "RegisterEventHandler": RegisterEventHandler,
        "SetEnvironmentVariable": SetEnvironmentVariable,
    },
    "launch.event_handlers": {"OnProcessExit": OnProcessExit},
    "launch.events": {"Shutdown": Shutdown},
    "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
    "launch_ros": {},
    "launch_ros.actions": {"Node": Node},
    "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
}


@contextlib.contextmanager
def stub_launch() -> Iterator[None]:
    """Install the stand-ins as `launch`/`launch_ros` (and re-import the package's launch glue with them)."""
    saved = {name: sys.modules.get(name) for name in [*_MODULES, "ros_detect.graph.ros_launch"]}
    try:
        for name, attrs in _MODULES.items():
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
        sys.modules.pop("ros_detect.graph.ros_launch", None)
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@dataclass
class Launched:
    arguments: dict[str, DeclareLaunchArgument]
    nodes: dict[str, Node]
    exit_handlers: dict[str, Any] = field(default_factory=dict)  # node name -> on_exit(event, context)
    values: dict[str, str] = field(default_factory=dict)
    by_fqn: dict[str, Node] = field(default_factory=dict)  # every node by full name (several cameras: /cam1/...)
    environment: dict[str, str] = field(default_factory=dict)  # set (SetEnvironmentVariable) before the nodes
    env_set_before_nodes: bool = True
    logs: list[str] = field(default_factory=list)  # LogInfo messages of the launch description
    loop: RecordingLoop = field(default_factory=RecordingLoop)

    @property
    def return_code(self) -> int:
        """What `ros2 launch` would return so far: 1 once an error was reported to the loop."""
        return 1 if self.loop.reported else 0

    def effective_parameters(self, node: str) -> dict[str, Any]:
        """What the node ends up with: launch_ros passes each file as --params-file and writes each dict to a
        file keyed by the node's full name (or `/**` when it has no namespace); rcl merges them in order."""
        from ros_detect.graph.params import load_param_file, params_for

        action = self.nodes[node]
        namespace = action.kw.get("namespace")
        fully_named = namespace is not None
        key = "/" + "/".join(p for p in ((namespace or "").strip("/"), node) if p) if fully_named else "/**"
        files = []
        for entry in action.parameters:
            if isinstance(entry, dict):
                context = LaunchContext(self.values)
                files.append({key: {name: launch_ros_value(v, context) for name, v in entry.items()}})
            else:
                files.append(load_param_file(entry))
        return params_for(files, node, namespace or "")

    def exit_of(self, node: str, returncode: int, shutting_down: bool = False) -> list[Any] | None:
        """What the launch does when `node`'s process exits (raises where ros2 launch would fail)."""
        event = types.SimpleNamespace(returncode=returncode)
        return self.exit_handlers[node](event, LaunchContext(self.values, shutting_down, self.loop))


def run_launch_file(path: Path, given: dict[str, str]) -> Launched:
    """generate_launch_description() and its OpaqueFunctions for `name:=value` arguments `given`."""
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    # as ros2 launch: any `name:=value` becomes a launch configuration, declared or not
    values = {name: given.get(name, arg.kw.get("default_value", "")) for name, arg in arguments.items()} | given
    context = LaunchContext(values)
    launched = Launched(arguments, {}, values=values)
    pending = list(description.entities)
    while pending:
        entity = pending.pop(0)
        if isinstance(entity, OpaqueFunction):
            pending += entity.kw["function"](context, *entity.kw.get("args", []))
        elif isinstance(entity, Node):
            launched.nodes.setdefault(entity.name, entity)
            namespace = (entity.kw.get("namespace") or "").strip("/")
            launched.by_fqn["/" + "/".join(p for p in (namespace, entity.name) if p)] = entity
        elif isinstance(entity, SetEnvironmentVariable):
            launched.environment[entity.name] = entity.value
            launched.env_set_before_nodes &= not launched.nodes
        elif isinstance(entity, LogInfo):
            launched.logs.append(entity.kw["msg"])
        elif isinstance(entity, RegisterEventHandler):
            handler = entity.args[0]
            if isinstance(handler, OnProcessExit):
                launched.exit_handlers[handler.kw["target_action"].name] = handler.kw["on_exit"]
    return launched


def launch_ros_value(value: Any, context: LaunchContext) -> Any:
    """The parameter value launch_ros passes to the node for one entry of a `parameters` dict."""
    if isinstance(value, ParameterValue):
        text = _perform(value.value, context)
        return _coerce(text, value.value_type) if isinstance(text, str) else text
    text = _perform(value, context)
    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text or "''")  # launch_ros: YAML rules; an empty string stays a string
    except yaml.YAMLError:
        raise TypeError(f"Unable to parse the value {text!r} as yaml (launch_ros evaluate_parameter_dict)") from None


def _perform(value: Any, context: LaunchContext) -> Any:
    return value.perform(context) if isinstance(value, LaunchConfiguration) else value


def _coerce(text: str, value_type: type | None) -> Any:
    """launch.utilities.type_utils.coerce_to_type (launch 3.8.8) for scalar types."""
    if value_type is None:
        return yaml.safe_load(text) if text else text
    if value_type is str:
        return text
    if value_type in (int, float):
        return value_type(text)
    if value_type is bool:
        text = {"1": "true", "0": "false"}.get(text, text)
        result = yaml.safe_load(text)
        if not isinstance(result, bool):
            raise ValueError(f"Cannot convert value '{text}' to '{value_type}'")
        return result
    raise ValueError(f"unsupported value_type {value_type}")
