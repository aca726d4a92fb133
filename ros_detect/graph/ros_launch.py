"""The launch description of launch/video.launch.py and launch/webcam.launch.py (`ros2 launch`).

The plan (ros_detect/graph/plan.py) in `launch` / `launch_ros` terms: one argument block for both files,
the nodes the plan starts, and what a node's exit means. Imported only by the launch files: `launch` and
`launch_ros` come with a ROS 2 install, not with the PyPI wheels.

* A launch argument reaches its node only when given, as a `ParameterValue` of the parameter's declared type
  (launch_ros would otherwise parse `input:=0` as YAML, an integer, and the node would refuse it).
* A pipeline node's unexpected exit fails the launch: the exit handler raises, and `ros2 launch`
  (LaunchService) logs "Caught exception in launch", stops the other nodes and returns 1. The video source's
  clean exit after the last frame shuts the launch down with 0.
* A sink's (bridge's) failure ends that sink alone: the handler logs it and reports it to the launch's
  asyncio exception handler (`loop.call_exception_handler`), which LaunchService installs to return non-zero
  at the end "when there are errors"; the other nodes keep running.
* DDS stays on the machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, `SetEnvironmentVariable`) unless the
  user opts into a multi-host graph (ros_detect/graph/network.py).
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchContext, LaunchDescription
from ros_detect.graph.network import discovery_choice
from ros_detect.graph.plan import launch_arguments, misspelled_arguments, node_exit_outcome, plan_launch

PACKAGE = "ros_detect"


def generate(mode: str) -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
        for a in launch_arguments(mode)
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_graph, args=[mode])])


def _graph(context: LaunchContext, mode: str) -> list[Any]:
    """The nodes, built once the argument values are known (only given arguments become parameters)."""
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in launch_arguments(mode)}
    plan = plan_launch(mode, values)
    discovery = discovery_choice(os.environ, plan.network)
    # before the nodes: each node process takes the launch's environment as it is when the node starts
    actions: list[Any] = [SetEnvironmentVariable(name, value) for name, value in discovery.env.items()]
    actions.append(LogInfo(msg=discovery.message))
    actions += [LogInfo(msg=f"warning: {w}") for w in misspelled_arguments(mode, list(context.launch_configurations))]
    for name, namespace, computed in plan.placed():
        given = {
            param: ParameterValue(LaunchConfiguration(arg.name), value_type=arg.value_type)
            for param, arg in plan.given.get(name, {}).items()
        }
        parameters: list[Any] = [str(f) for f in plan.config_files]
        if given or computed:
            parameters.append({**computed, **given})
        node = Node(
            package=PACKAGE,
            executable=name,
            name=name,
            # a namespace, even "": the node's name is then fully qualified, and launch_ros writes the given
            # arguments under it, after the files' wildcard sections (rcl applies a `/**` it saw first earlier)
            namespace=namespace,
            parameters=parameters,
            output="screen",
            emulate_tty=True,
        )
        on_exit = partial(_on_exit, mode, name, namespace)
        actions += [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))]
    return actions


class NodeExitError(RuntimeError):
    """Raised by the exit handler: LaunchService stops everything and `ros2 launch` returns 1."""


def _on_exit(mode: str, name: str, namespace: str, event: Any, context: LaunchContext) -> list[Any] | None:
    outcome = node_exit_outcome(mode, name, event.returncode, stopping=context.is_shutdown, namespace=namespace)
    if outcome.action == "finish":
        return [LogInfo(msg=outcome.message), EmitEvent(event=Shutdown(reason=outcome.message))]
    if outcome.action == "fail":
        raise NodeExitError(f"{outcome.message} (its error is above): stopping every node")
    if outcome.action == "sink_failed":
        message = f"{outcome.message} (its error is above)"
        # LaunchService's loop exception handler marks the run failed (exit 1 at the end) without stopping it
        context.asyncio_loop.call_exception_handler({"message": message})
        return [LogInfo(msg=f"error: {message}")]
    return None
