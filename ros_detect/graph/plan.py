"""What `ros-detect launch` starts: the nodes of a mode, their merged parameters, the optional bridges.

Pure planning (no rclpy), mirroring launch/video.launch.py and launch/webcam.launch.py: parameters come
from config/<mode>.yaml (or --config files, later ones win), then launch-argument style overrides.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ros_detect.errors import ConfigError
from ros_detect.graph.params import load_param_file, params_for
from ros_detect.paths import config_dir

log = logging.getLogger(__name__)

# node name -> (module, class); the module's name is also the console_scripts executable
NODES: dict[str, tuple[str, str]] = {
    "video_source": ("ros_detect.nodes.video_source", "VideoSourceNode"),
    "camera_source": ("ros_detect.nodes.camera_source", "CameraSourceNode"),
    "detector": ("ros_detect.nodes.detector", "DetectorNode"),
    "main_person": ("ros_detect.nodes.main_person", "MainPersonNode"),
    "mqtt_bridge": ("ros_detect.nodes.mqtt_bridge", "MqttBridgeNode"),
    "foxglove_bridge": ("ros_detect.nodes.foxglove_bridge", "FoxgloveBridgeNode"),
}
BRIDGES = {"mqtt": "mqtt_bridge", "foxglove": "foxglove_bridge"}


@dataclass(frozen=True)
class Mode:
    source: str
    config: str
    bridges: dict[str, bool]  # default on/off per bridge


MODES: dict[str, Mode] = {
    "video": Mode("video_source", "video.yaml", {"mqtt": False, "foxglove": True}),
    "webcam": Mode("camera_source", "webcam.yaml", {"mqtt": True, "foxglove": True}),
}


@dataclass
class NodeSpec:
    name: str
    module: str
    class_name: str
    params: dict[str, Any]


@dataclass
class GraphSpec:
    mode: str
    namespace: str
    nodes: list[NodeSpec]
    config_files: list[Path]
    skipped: list[str] = field(default_factory=list)  # bridges asked for but not installed

    def node(self, name: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.name == name), None)


def module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def default_config(mode: str) -> Path:
    return config_dir() / MODES[mode].config


def plan_graph(
    mode: str,
    *,
    config_files: list[Path] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    namespace: str = "",
    bridges: dict[str, bool | None] | None = None,
) -> GraphSpec:
    """Nodes of `mode` with their parameters; overrides: {node name or '' (all nodes): {param: value}}."""
    if mode not in MODES:
        raise ConfigError(f"unknown launch mode {mode!r}", f"choose one of: {', '.join(MODES)}")
    m = MODES[mode]
    files = [Path(f) for f in (config_files or [default_config(mode)])]
    loaded = [load_param_file(f) for f in files]
    overrides = overrides or {}
    check_override_nodes(overrides)
    names = [m.source, "detector", "main_person"]
    skipped: list[str] = []
    for bridge, default_on in m.bridges.items():
        wanted = (bridges or {}).get(bridge)
        if not (default_on if wanted is None else wanted):
            continue
        node_name = BRIDGES[bridge]
        if module_available(NODES[node_name][0]):
            names.append(node_name)
        else:
            msg = f"{node_name} requested but {NODES[node_name][0]} is not installed: starting without it"
            log.warning(msg)
            skipped.append(msg)
    nodes = []
    for name in names:
        module, cls = NODES[name]
        nodes.append(NodeSpec(name, module, cls, node_params(loaded, name, namespace, overrides)))
    return GraphSpec(mode, namespace.strip("/"), nodes, files, skipped)


def check_override_nodes(overrides: dict[str, dict[str, Any]]) -> None:
    unknown = set(overrides) - set(NODES) - {""}
    if unknown:
        raise ConfigError(
            f"parameter override for unknown node(s) {sorted(unknown)}", f"use one of: {', '.join(NODES)}"
        )


def node_params(
    loaded: list[dict[str, dict[str, Any]]], name: str, namespace: str, overrides: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A node's parameters: the files' sections for it, then overrides for every node (''), then its own."""
    params = params_for(loaded, name, namespace)
    params.update(overrides.get("", {}))
    params.update(overrides.get(name, {}))
    return params
