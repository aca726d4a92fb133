"""Settings of the ROS-free live pipeline, read exactly as the webcam graph reads them.

The same parameter files (config/common.yaml and config/webcam.yaml, then `--config` files, later ones win)
and the same `-p node.param=value` overrides as `ros-detect launch webcam`; each node's section configures
the stage that replaces it: camera_source, detector, main_person, mqtt_bridge, foxglove_bridge. ROS
parameters are typed, so values are checked against the type of their default here too, with problem + fix.
Graph-only parameters (topics, QoS depths) are accepted and ignored, so one file serves both ways of running.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ros_detect.detection.detector import DetectorConfig
from ros_detect.detection.models import REFERENCE_MODEL, ModelSpec
from ros_detect.errors import ConfigError
from ros_detect.graph.params import load_param_file
from ros_detect.graph.plan import MODES, check_override_nodes, node_params, shipped_config_files
from ros_detect.media.camera import CameraConfig
from ros_detect.mqtt.config import MqttConfig, from_mapping
from ros_detect.selection.main_person import MainPersonConfig

log = logging.getLogger(__name__)

MODE = "webcam"  # the live pipeline is the webcam graph in one process
SECTIONS = ("camera_source", "detector", "main_person", "mqtt_bridge", "foxglove_bridge")
COMMON = {"stats_period_s": 1.0}  # the `/**` section: every node's stats heartbeat
DETECTOR_DEFAULTS: dict[str, Any] = {  # the detector node's parameters that shape the detector
    "model": REFERENCE_MODEL,
    "weights": "auto",
    "precision": "fp32",
    "device": "auto",
    "threads": 0,
    "proposals": ModelSpec.proposals,
    "score_threshold": ModelSpec.score_threshold,
    "seed": ModelSpec.seed,
    "force_proposals": False,
    "max_age_ms": 0.0,
}
FOXGLOVE_PAGE_DEFAULTS = {"http_port": 8766}  # the rest are RelayConfig's fields
SECRET_WORDS = ("password", "secret", "token")
# Optional extras each output needs: (module to look for, pip extra).
EXTRAS = {"mqtt": ("paho.mqtt", "mqtt"), "foxglove": ("foxglove", "web")}


def _dataclass_defaults(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out[f.name] = default
    return out


def _foxglove_defaults() -> dict[str, Any]:
    from ros_detect.foxglove.relay import RelayConfig  # imports foxglove-sdk: only when the view is on

    return {**_dataclass_defaults(RelayConfig, skip=("name", "node")), **FOXGLOVE_PAGE_DEFAULTS}


def section_defaults(section: str) -> dict[str, Any]:
    """The parameters the live stage of a node uses, with the node's defaults (their types are checked)."""
    if section == "camera_source":
        return _dataclass_defaults(CameraConfig)
    if section == "detector":
        return dict(DETECTOR_DEFAULTS)
    if section == "main_person":
        return _dataclass_defaults(MainPersonConfig)
    if section == "mqtt_bridge":
        return _dataclass_defaults(MqttConfig)
    if section == "foxglove_bridge":
        return _foxglove_defaults()
    raise ValueError(f"unknown section {section!r}")


def coerce(section: str, name: str, value: Any, default: Any) -> Any:
    """`value` as the type of `default` (ROS parameter typing), or ConfigError naming the parameter."""
    expected = type(default)
    ok = True
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)  # `input: 0` is a camera index
        value = str(value) if ok else value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        expected = list
    if ok:
        return value
    shown = "value not shown" if any(w in name for w in SECRET_WORDS) else f"got {value!r}"
    raise ConfigError(
        f"{section}: parameter '{name}' has the wrong type ({shown}, expected {expected.__name__})",
        f"give '{name}' a {expected.__name__} value like its default {default!r} "
        f"(-p {section}.{name}={_literal(default)} or the parameter file)",
    )


def _literal(value: Any) -> str:
    """How a value is written after `-p node.name=` (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(value)
    return str(value) if value != "" else "''"


def typed_section(section: str, given: dict[str, Any]) -> dict[str, Any]:
    """The section's used parameters: defaults, then the given values type-checked; others are left out."""
    defaults = section_defaults(section)
    values = dict(defaults)
    for name, value in given.items():
        if name in defaults:
            values[name] = coerce(section, name, value, defaults[name])
    return values


@dataclass
class LivePlan:
    """Everything `ros-detect webcam` runs with, resolved and checked before anything starts."""

    camera: CameraConfig
    detector: DetectorConfig
    max_age_ms: float  # drop (and count) frames older than this when the detector gets to them; 0 = never
    main_person: MainPersonConfig
    mqtt: MqttConfig | None  # None: MQTT off
    foxglove: dict[str, Any] | None  # RelayConfig fields + http_port; None: view off
    stats_period_s: float
    config_files: list[Path]
    params: dict[str, dict[str, Any]]  # effective parameters per section, for the log and summary.json
    skipped: list[str] = field(default_factory=list)  # outputs asked for whose extra is not installed
    unused_overrides: list[str] = field(default_factory=list)  # -p names the live pipeline does not use

    @property
    def source_id(self) -> str:
        return self.camera.effective_source_id


def extra_available(output: str) -> bool:
    module = EXTRAS[output][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def plan_live(
    *,
    config_files: list[Path] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    outputs: dict[str, bool | None] | None = None,
) -> LivePlan:
    """Resolve the live pipeline's settings; outputs {"mqtt": on/off/None = the mode's default, "foxglove": ...}."""
    files = shipped_config_files(MODE) + [Path(f) for f in config_files or []]
    loaded = [load_param_file(f) for f in files]
    overrides = overrides or {}
    check_override_nodes(overrides)
    enabled: dict[str, bool] = {}
    skipped: list[str] = []
    for output, default_on in MODES[MODE].bridges.items():
        wanted = (outputs or {}).get(output)
        on = default_on if wanted is None else bool(wanted)
        if on and not extra_available(output):
            module, extra = EXTRAS[output]
            msg = f"{output} output requested but {module} is not installed (pip install 'ros_detect[{extra}]'): off"
            log.warning(msg)
            skipped.append(msg)
            on = False
        enabled[output] = on
    active = [name for name in SECTIONS if name != "foxglove_bridge" or enabled["foxglove"]]
    raw = {name: node_params(loaded, name, "", overrides) for name in SECTIONS}
    params = {name: typed_section(name, raw[name]) for name in active}
    unused = [
        f"{node + '.' if node else ''}{name}"
        for node, values in overrides.items()
        if node in active or not node
        for name in values
        if name not in COMMON and not any(name in params[s] for s in ([node] if node else active))
    ]
    stats_period_s = coerce("detector", "stats_period_s", raw["detector"].get("stats_period_s", 1.0), 1.0)
    camera = CameraConfig(**params["camera_source"]).check()
    d = params["detector"]
    if d["max_age_ms"] < 0:
        raise ConfigError(f"detector: parameter 'max_age_ms' = {d['max_age_ms']} is out of range", "use 0 or more")
    detector = DetectorConfig.from_params(d)
    main_person = MainPersonConfig(**params["main_person"]).validate()
    mqtt = None
    if enabled["mqtt"]:
        mqtt = from_mapping(params["mqtt_bridge"])
        if not mqtt.source_id:  # the bridge takes the first result's frame_id: the camera's id
            mqtt = mqtt.with_source(camera.effective_source_id)
    return LivePlan(
        camera=camera,
        detector=detector,
        max_age_ms=float(d["max_age_ms"]),
        main_person=main_person,
        mqtt=mqtt,
        foxglove=params.get("foxglove_bridge") if enabled["foxglove"] else None,
        stats_period_s=float(stats_period_s),
        config_files=files,
        params=params,
        skipped=skipped,
        unused_overrides=unused,
    )
