"""The graph both launchers start: `ros2 launch ros_detect <mode>.launch.py` and `ros-detect launch <mode>`.

Pure (no rclpy, no `launch`): the node list, where every default lives, the launch arguments, and what a
node's exit means. ros_detect/graph/ros_launch.py turns this into a launch description; the in-process
launcher (ros_detect/commands/launch.py) runs the same plan with the rclpy wheels.

Defaults have one home, config/: config/common.yaml holds what both graphs share (detector, main_person,
bridges), config/video.yaml and config/webcam.yaml what each graph adds (its source; webcam: a latest-wins
detector). A node declares these values as its parameter defaults (`with_deployed_defaults`), so a bare
`ros2 run ros_detect detector` runs what the launch files deploy. A user's file (`config:=` /
`--config`) is loaded after the shipped ones, and a launch argument is applied only when it is given.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ros_detect.errors import ConfigError, article
from ros_detect.graph.network import discovery_choice
from ros_detect.graph.params import fully_qualified, load_param_file, params_for
from ros_detect.paths import config_dir

log = logging.getLogger(__name__)

# The one node list. Node name = console_scripts executable = module name; setup.py reads this literal.
NODES: dict[str, tuple[str, str]] = {
    "video_source": ("ros_detect.nodes.video_source", "VideoSourceNode"),
    "camera_source": ("ros_detect.nodes.camera_source", "CameraSourceNode"),
    "detector": ("ros_detect.nodes.detector", "DetectorNode"),
    "main_person": ("ros_detect.nodes.main_person", "MainPersonNode"),
    "mqtt_bridge": ("ros_detect.nodes.mqtt_bridge", "MqttBridgeNode"),
    "foxglove_bridge": ("ros_detect.nodes.foxglove_bridge", "FoxgloveBridgeNode"),
}
BRIDGES = {"mqtt": "mqtt_bridge", "foxglove": "foxglove_bridge"}
# Sinks fail alone: the detection pipeline (source, detector, main_person) runs on without them
SINKS = frozenset(BRIDGES.values())
SINK_FAILED_EXIT = 3  # `ros-detect launch`: the graph ran, but a sink failed (2 = the graph failed)
COMMON_CONFIG = "common.yaml"
# subscribers of `image` that must be matched before video_source publishes its first frame
IMAGE_CONSUMERS = ("detector", "foxglove_bridge")


@dataclass(frozen=True)
class Mode:
    source: str
    config: str
    bridges: dict[str, bool]  # default on/off per bridge
    input_help: str


MODES: dict[str, Mode] = {
    "video": Mode(
        "video_source", "video.yaml", {"mqtt": False, "foxglove": True}, "video file to process (every frame)"
    ),
    "webcam": Mode(
        "camera_source",
        "webcam.yaml",
        {"mqtt": True, "foxglove": True},
        "camera index (0), /dev/videoN, or stream URL (http://, rtsp://)",
    ),
}


def console_scripts() -> list[str]:
    return [f"{name} = {module}:main" for name, (module, _) in NODES.items()]


# -- defaults -------------------------------------------------------------------------------------------


def shipped_config_files(mode: str) -> list[Path]:
    """The parameter files a graph of `mode` loads before the user's own."""
    return [config_dir() / COMMON_CONFIG, config_dir() / MODES[mode].config]


def deployed_defaults(node: str) -> dict[str, Any]:
    """What `node` runs with when nothing else is given: its sections in config/common.yaml and, for a
    source, in its graph's file. Never the webcam graph's detector settings: those are that graph's choice."""
    return dict(_deployed_defaults(node))


@cache
def _deployed_defaults(node: str) -> dict[str, Any]:
    files = [config_dir() / COMMON_CONFIG] + [config_dir() / m.config for m in MODES.values() if m.source == node]
    return params_for([load_param_file(f) for f in files], node)


def with_deployed_defaults(node: str, spec: dict[str, tuple[Any, str]]) -> dict[str, tuple[Any, str]]:
    """A node's parameter spec (name -> (default, description)) with the defaults config/ deploys.

    The node module gives each parameter its type (the type of its value there) and description; config/
    gives the value. A deployed value of another type, or for a parameter the node does not declare, is an
    error in the shipped files.
    """
    out = dict(spec)
    for name, value in deployed_defaults(node).items():
        if name.startswith("qos_overrides."):  # rclpy's own QoS parameters, declared with each endpoint
            continue
        if name not in spec:
            raise ConfigError(
                f"config/ sets {node}.{name}, which {node} does not declare", f"remove or rename '{name}' there"
            )
        default, description = spec[name]
        if not same_parameter_type(value, default):
            raise ConfigError(
                f"config/ sets {node}.{name} = {value!r}, {article(type(value).__name__)} instead of "
                f"{article(type(default).__name__)}",
                f"write it like {default!r}",
            )
        out[name] = (float(value) if isinstance(default, float) else value, description)
    return out


def same_parameter_type(value: Any, default: Any) -> bool:
    """Whether rclpy would accept `value` for a parameter declared with `default` (ints pass for floats
    here only: a parameter *file* must spell a double with a dot, see test_launch_files)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, list):
        item = default[0] if default else ""  # an empty list parameter is a string array
        return isinstance(value, list) and all(same_parameter_type(v, item) for v in value)
    return type(value) is type(default)


# -- launch arguments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchArgument:
    """One `name:=value` of a launch file. Those feeding a parameter default to '' (not given): the
    parameter files decide, and a value given overrides them."""

    name: str
    description: str
    node: str = ""  # the node whose parameter it sets ("" = a graph-level argument)
    param: str = ""
    default: str = ""

    @property
    def value_type(self) -> type:
        """The declared type of the parameter it feeds (the type of its deployed default)."""
        return type(deployed_defaults(self.node)[self.param])


def launch_arguments(mode: str) -> list[LaunchArgument]:
    m = MODES[mode]

    def param(name: str, node: str, param: str, help_text: str) -> LaunchArgument:
        deployed = deployed_defaults(node)[param]
        return LaunchArgument(name, f"{help_text}; unset: from the parameter files ({deployed!r})", node, param)

    args = [
        param("input", m.source, "input", m.input_help),
        LaunchArgument(
            "config",
            f"your parameter file, loaded after config/{COMMON_CONFIG} and config/{m.config} (only what you change)",
        ),
        param("model", "detector", "model", "detector model"),
        param("precision", "detector", "precision", "precision scheme"),
        param("weights", "detector", "weights", "auto | DEFAULT | none | /path/to/checkpoint.pth"),
    ]
    if mode == "video":
        args.append(param("rate", "video_source", "rate", "0 = as fast as the detector allows, 1 = real time"))
    if mode == "webcam":
        args.append(
            LaunchArgument(
                "inputs",
                "several cameras, one detector: [URL1, URL2] or [door=URL1, yard=URL2], each in its own namespace "
                "(cam1, cam2, ... unless named); instead of input",
            )
        )
    args.append(LaunchArgument("namespace", "namespace of the whole graph"))
    args += [
        LaunchArgument(
            "network",
            "DDS discovery: localhost (keep the graph on this machine) | subnet (a multi-host graph); unset: "
            "localhost unless ROS_AUTOMATIC_DISCOVERY_RANGE / ROS_STATIC_PEERS are set in the environment",
        ),
        LaunchArgument("nodes", "start only these nodes here, comma-separated (the rest run on another host)"),
        LaunchArgument("without", "start every node but these, comma-separated (they run on another host)"),
    ]
    for bridge, on in m.bridges.items():
        args.append(LaunchArgument(bridge, f"start {BRIDGES[bridge]} (true/false)", default=str(on).lower()))
    return args


def misspelled_arguments(mode: str, given: list[str]) -> list[str]:
    """Warnings for given names that are no launch argument of `mode` but close to one (`inptu:=...`).

    ros2 launch accepts any `name:=value` silently (an including launch file's own arguments are visible
    too), so only a near miss is reported, and as a warning: the graph would otherwise run with the default.
    """
    declared = [a.name for a in launch_arguments(mode)]
    warnings = []
    for name in given:
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.75) if name not in declared else []
        if close:
            warnings.append(
                f"launch argument {name!r} is not one of {mode}.launch.py's (ignored): did you mean {close[0]}:=?"
            )
    return warnings


def parse_bool(name: str, text: str) -> bool:
    """A boolean launch argument, accepted like launch's IfCondition does (true/false/1/0)."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ConfigError(f"launch argument {name}:={text!r} is not a boolean", f"write {name}:=true or {name}:=false")


@dataclass
class LaunchPlan:
    """What a launch file starts for the arguments given (strings, as `ros2 launch` passes them)."""

    mode: str
    namespace: str
    nodes: list[str]  # started by this launch (the whole graph unless nodes:= / without:= is given)
    config_files: list[Path]
    given: dict[str, dict[str, LaunchArgument]]  # node -> {parameter: the argument that sets it}
    computed: dict[str, dict[str, Any]]  # node -> {parameter: value} the plan sets (not user-facing)
    network: str = ""  # the `network` argument ('' = not given: ros_detect/graph/network.py decides)
    sources: list[Source] = field(default_factory=list)  # several cameras (inputs:=); [] = one graph as ever

    def placed(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(node, full namespace, parameters the plan sets) of every node to start."""
        out = []
        for name, sub in place_nodes(self.nodes, self.sources):
            namespace = "/".join(p for p in (self.namespace, sub) if p)
            out.append((name, namespace, {**self.computed.get(name, {}), **source_parameters(name, sub, self.sources)}))
        return out


def plan_launch(mode: str, values: dict[str, str]) -> LaunchPlan:
    args = launch_arguments(mode)
    user = values.get("config", "").strip()
    files = shipped_config_files(mode)
    if user:
        load_param_file(user)  # a missing or broken file is an error now, not a warning nobody reads
        files.append(Path(user))
    bridges = {b: parse_bool(b, values.get(b, str(on).lower())) for b, on in MODES[mode].bridges.items()}
    nodes = graph_nodes(mode, bridges)
    here = nodes_here(mode, nodes, split_names(values.get("nodes", "")), split_names(values.get("without", "")))
    given: dict[str, dict[str, LaunchArgument]] = {}
    for arg in args:
        if arg.node and values.get(arg.name, "") != "":
            given.setdefault(arg.node, {})[arg.param] = arg
    sources = parse_inputs(split_inputs(values.get("inputs", "")))
    if sources and values.get("input", ""):
        raise ConfigError("both input:= and inputs:= given", "give one camera with input:= or several with inputs:=")
    if len(sources) < 2:  # one camera in the list: the graph of one camera, as with input:=
        sources = []
    namespace = values.get("namespace", "").strip("/")
    network = values.get("network", "").strip()
    discovery_choice({}, network)  # an unknown choice is an error now
    return LaunchPlan(mode, namespace, here, files, given, computed_parameters(nodes), network, sources)


def graph_nodes(mode: str, bridges: dict[str, bool | None] | None = None) -> list[str]:
    """Source, detector, main_person, then the bridges that are on (None = the mode's default)."""
    m = MODES[mode]
    names = [m.source, "detector", "main_person"]
    for bridge, default_on in m.bridges.items():
        wanted = (bridges or {}).get(bridge)
        if default_on if wanted is None else wanted:
            names.append(BRIDGES[bridge])
    return names


def split_names(text: str | list[str] | None) -> list[str]:
    """`a,b` or ['a', 'b,c'] (an option given several times) -> ['a', 'b', 'c']."""
    parts = [text] if isinstance(text, str) else text or []
    return [name.strip() for part in parts for name in part.split(",") if name.strip()]


def nodes_here(mode: str, graph: list[str], only: list[str], without: list[str]) -> list[str]:
    """The part of the graph this host starts: `only` these nodes, or all `without` those (one graph spread
    over hosts on DDS; every host names the same graph, so each knows what the others run)."""
    if only and without:
        raise ConfigError("both nodes to start and nodes to leave out were given", "give --nodes or --without")
    for name in only + without:
        if name not in graph:
            on = next((b for b, node in BRIDGES.items() if node == name), None)
            fix = f"switch it on (--{on} / {on}:=true) or leave it out" if on else "use one of them"
            raise ConfigError(f"node {name!r} is not part of this {mode} graph: {', '.join(graph)}", fix)
    here = [n for n in graph if n in only] if only else [n for n in graph if n not in without]
    if not here:
        raise ConfigError("no node left to start on this host", "leave at least one node out of --without")
    return here


def computed_parameters(nodes: list[str], recorder_images: bool = False) -> dict[str, dict[str, Any]]:
    """Parameters that follow from the graph itself: video_source holds its first frame until every image
    consumer started with it (the detector, the Foxglove bridge, the -o recorder) is matched."""
    if "video_source" not in nodes:
        return {}
    consumers = sum(name in IMAGE_CONSUMERS for name in nodes) + int(recorder_images)
    return {"video_source": {"min_image_subscribers": consumers}}


# -- several cameras, one detector ---------------------------------------------------------------------------
# `ros-detect launch webcam URL1 URL2` / `webcam.launch.py inputs:=[URL1, URL2]`: per source (a namespace) its
# camera_source, main_person and mqtt_bridge; one detector and one foxglove_bridge with `sources` serve them all.
PER_SOURCE = ("camera_source", "main_person", "mqtt_bridge")
SHARED = ("detector", "foxglove_bridge")
_SOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Source:
    name: str  # its namespace (relative to the graph's) and its source_id: MQTT topics ros_detect/<name>/...
    input: str


def parse_inputs(inputs: list[str]) -> list[Source]:
    """`URL` or `name=URL` per camera; unnamed ones are cam1, cam2, ... by position. A URL's own `=` (a query
    string) is kept: only a ROS name before the first `=` names the source."""
    sources = []
    for i, text in enumerate(inputs, start=1):
        name, sep, rest = text.partition("=")
        if sep and _SOURCE_NAME.match(name) and rest:
            sources.append(Source(name, rest))
        else:
            sources.append(Source(f"cam{i}", text))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"camera names {names} repeat", "give each camera its own name: cam1=URL1 cam2=URL2 (or leave names out)"
        )
    return sources


def split_inputs(text: str) -> list[str]:
    """A launch argument's list: `[0, door=http://cam/stream]` or `0,http://cam/stream` (commas or spaces)."""
    return [t.strip("'\" ") for t in re.split(r"[,\s]+", text.strip().strip("[]")) if t.strip("'\" ")]


def place_nodes(names: list[str], sources: list[Source]) -> list[tuple[str, str]]:
    """(node, namespace relative to the graph) for every node to start: per-source nodes once per source,
    grouped by node kind in graph order (every source first, then the detector, ...)."""
    if len(sources) < 2:
        return [(name, "") for name in names]
    placed: list[tuple[str, str]] = []
    for name in names:
        if name in PER_SOURCE:
            placed += [(name, s.name) for s in sources]
        else:
            placed.append((name, ""))
    return placed


def source_parameters(node: str, namespace: str, sources: list[Source]) -> dict[str, Any]:
    """What the plan sets on a node of a several-camera graph (a user's file or -p still wins)."""
    if len(sources) < 2:
        return {}
    by_name = {s.name: s for s in sources}
    if node in SHARED:
        return {"sources": [s.name for s in sources]}
    if node == "camera_source":
        return {"input": by_name[namespace].input, "source_id": namespace}
    if node == "mqtt_bridge" and namespace != sources[0].name:
        # one broker for all: the first source's bridge starts it if none listens, the others connect to it
        # (and retry until it is up) instead of racing it for the port
        return {"autostart_broker": "none"}
    return {}


# -- a node's exit ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitOutcome:
    # ignore | finish (the graph is done: stop it, success) | fail (stop it, non-zero exit) |
    # sink_failed (that sink is gone, the pipeline runs on; the launch ends non-zero when it stops)
    action: str
    message: str = ""


def node_exit_outcome(
    mode: str, node: str, returncode: int | None, stopping: bool, namespace: str = ""
) -> ExitOutcome:
    """What a node process exiting means for the whole graph, in both launchers.

    A node exits 0 only when it is done (the video source: every frame processed) or was asked to stop
    (Ctrl-C reaches every node of a terminal's `ros2 launch` before the launch itself shuts down): the graph
    shuts down with success. Any other exit of a pipeline node (source, detector, main_person: a bad parameter,
    a crash, a kill) ends the graph with an error: the other nodes would otherwise keep running without it.
    A sink (a bridge) that fails ends alone: the pipeline and the other sink keep running, and the launch
    reports the failure in its exit status when it stops. Exits while stopping are expected. `namespace` names
    which one (several cameras: each has its camera_source).
    """
    label = fully_qualified(node, namespace) if namespace else node
    if stopping:
        return ExitOutcome("ignore")
    if returncode == 0 and mode == "video" and node == MODES[mode].source:
        return ExitOutcome("finish", f"{node} finished: every frame processed; shutting down")
    if returncode == 0:
        return ExitOutcome("finish", f"{label} stopped; shutting down")
    if returncode is not None and returncode < 0:
        why = f"was killed by signal {-returncode}"
    else:
        why = f"failed with exit code {returncode}"
    if node in SINKS:
        return ExitOutcome(
            "sink_failed",
            f"sink {label} {why}: the detection pipeline keeps running without it, and the launch will end "
            "with a non-zero exit status",
        )
    return ExitOutcome("fail", f"node {label} {why}")


def sink_failure_problem(failed: list[str]) -> tuple[str, str]:
    """The launch's closing error (problem, fix) when sinks failed while the pipeline ran on."""
    return (
        f"sink(s) {', '.join(failed)} failed while the graph ran (the detection pipeline kept running)",
        "see the sink's own error above: free or change its port, fix the broker address or TLS files, or start "
        "without it (--no-mqtt / --no-foxglove, launch arguments mqtt:=false / foxglove:=false)",
    )


# -- the in-process launcher's view ------------------------------------------------------------------------


@dataclass
class NodeSpec:
    name: str
    module: str
    class_name: str
    params: dict[str, Any]
    namespace: str = ""  # full namespace (the graph's, then the source's); "" = root

    @property
    def fqn(self) -> str:
        return fully_qualified(self.name, self.namespace)


@dataclass
class GraphSpec:
    mode: str
    namespace: str
    nodes: list[NodeSpec]  # the whole graph, in graph order
    config_files: list[Path]
    skipped: list[str] = field(default_factory=list)  # bridges asked for but not installed
    elsewhere: list[str] = field(default_factory=list)  # nodes of the graph another host runs (--nodes/--without)
    sources: list[Source] = field(default_factory=list)  # several cameras; [] = one

    @property
    def here(self) -> list[NodeSpec]:
        """The nodes this launcher starts."""
        return [n for n in self.nodes if n.name not in self.elsewhere]

    def node(self, name: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def source(self) -> NodeSpec:
        return self.nodes[0]


def module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def plan_graph(
    mode: str,
    *,
    config_files: list[Path] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    namespace: str = "",
    bridges: dict[str, bool | None] | None = None,
    recorder_images: bool = False,
    only: list[str] | None = None,
    without: list[str] | None = None,
    sources: list[Source] | None = None,
) -> GraphSpec:
    """Nodes of `mode` with their merged parameters: every node's deployed defaults, the shipped files, the
    user's files (`config_files`, later wins), then overrides {node name or '' (all nodes): {param: value}}.
    `only` / `without` pick the part of the graph started here (`nodes_here`). With two or more `sources`
    (webcam): per-source nodes in each source's namespace, one shared detector."""
    if mode not in MODES:
        raise ConfigError(f"unknown launch mode {mode!r}", f"choose one of: {', '.join(MODES)}")
    files = shipped_config_files(mode) + [Path(f) for f in config_files or []]
    loaded = [load_param_file(f) for f in files]
    overrides = overrides or {}
    check_override_nodes(overrides)
    names: list[str] = []
    skipped: list[str] = []
    full = graph_nodes(mode, bridges)
    elsewhere = [n for n in full if n not in nodes_here(mode, full, only or [], without or [])]
    for name in full:
        if name in BRIDGES.values() and name not in elsewhere and not module_available(NODES[name][0]):
            msg = f"{name} requested but {NODES[name][0]} is not installed: starting without it"
            log.warning(msg)
            skipped.append(msg)
        else:
            names.append(name)
    computed = computed_parameters(names, recorder_images)
    sources = sources or []
    if len(sources) > 1 and mode != "webcam":
        raise ConfigError(
            f"several inputs given to {mode}", "run several cameras as: ros-detect launch webcam URL1 URL2"
        )
    namespace = namespace.strip("/")
    nodes = []
    for name, sub in place_nodes(names, sources):
        module, cls = NODES[name]
        node_ns = "/".join(p for p in (namespace, sub) if p)
        plan_set = {**computed.get(name, {}), **source_parameters(name, sub, sources)}
        nodes.append(NodeSpec(name, module, cls, node_params(loaded, name, node_ns, overrides, plan_set), node_ns))
    return GraphSpec(mode, namespace, nodes, files, skipped, elsewhere, sources if len(sources) > 1 else [])


def check_override_nodes(overrides: dict[str, dict[str, Any]]) -> None:
    unknown = set(overrides) - set(NODES) - {""}
    if unknown:
        raise ConfigError(
            f"parameter override for unknown node(s) {sorted(unknown)}", f"use one of: {', '.join(NODES)}"
        )


def node_params(
    loaded: list[dict[str, dict[str, Any]]],
    name: str,
    namespace: str,
    overrides: dict[str, dict[str, Any]],
    computed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A node's parameters: its deployed defaults, the files' sections for it, what the plan computes, then
    overrides for every node (''), then its own. Shared by `ros-detect launch` and `ros-detect webcam`."""
    params = deployed_defaults(name) | params_for(loaded, name, namespace) | (computed or {})
    params.update(overrides.get("", {}))
    params.update(overrides.get(name, {}))
    return params
