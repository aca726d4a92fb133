"""ROS 2 parameter files read the way rcl reads them, for the in-process launcher (`ros-detect launch`).

A file maps node-name keys to `{ros__parameters: {...}}`. Keys are fully qualified node names with
optional wildcards: `*` matches one name token, `**` any number of them (`/**` = every node,
`/**/detector` = a detector in any namespace). A key without a leading slash is taken as relative to the
root (rcl's rule). Nested dicts flatten to dotted names (`qos.depth`).

Precedence as rcl/rclpy apply it (checked against rclpy): all files are merged key by key, a later file's
value replacing an earlier one under the same key; then the keys that match the node are applied in the
order each key first appeared. So a `/**` section seen first (in config/common.yaml, say) is applied
before a node's own section even when a later file sets it again; a new, specific key in a later file wins.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ros_detect.errors import ConfigError

PARAMS_KEY = "ros__parameters"


def load_param_file(path: Path | str) -> dict[str, dict[str, Any]]:
    """{node key: flat {param: value}} from one ROS 2 parameter file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"parameter file {path} does not exist", "pass an existing YAML file (see config/)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameter file {path} is not valid YAML: {exc}", "fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"parameter file {path} must map node names to sections", "see config/common.yaml")
    out: dict[str, dict[str, Any]] = {}
    for key, section in data.items():
        for node_key, params in _sections(str(key), section, path):
            out.setdefault(node_key, {}).update(params)
    return out


def _sections(key: str, section: Any, path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Handle both `node: {ros__parameters: ...}` and nested namespaces `ns: {node: {ros__parameters: ...}}`."""
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: section {key!r} is not a mapping", f"write `{key}:` then `ros__parameters:`")
    if PARAMS_KEY in section:
        params = section[PARAMS_KEY] or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: {key}.{PARAMS_KEY} is not a mapping", "list parameters as `name: value`")
        return [(key, flatten(params))]
    found: list[tuple[str, dict[str, Any]]] = []
    for sub, value in section.items():
        found += _sections(f"{key.rstrip('/')}/{sub}", value, path)
    return found


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in params.items():
        full = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _key_regex(key: str) -> re.Pattern[str]:
    key = key if key.startswith("/") else "/" + key
    parts = []
    for token in key.strip("/").split("/"):
        if token == "**":
            parts.append(r"(?:/[^/]+)*")
        else:
            parts.append("/" + re.escape(token).replace(r"\*", "[^/]+"))
    return re.compile("".join(parts) + "$")


def node_matches(key: str, fqn: str) -> bool:
    return bool(_key_regex(key).match(fqn))


def params_for(files: list[dict[str, dict[str, Any]]], node_name: str, namespace: str = "") -> dict[str, Any]:
    """The merged parameters a node `namespace/node_name` gets from loaded files, in rcl's order."""
    fqn = fully_qualified(node_name, namespace)
    by_key: dict[str, dict[str, Any]] = {}  # insertion order = the order keys first appear
    for sections in files:
        for key, params in sections.items():
            by_key.setdefault(key if key.startswith("/") else "/" + key, {}).update(params)
    merged: dict[str, Any] = {}
    for key, params in by_key.items():
        if node_matches(key, fqn):
            merged.update(params)
    return merged


def fully_qualified(node_name: str, namespace: str = "") -> str:
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return f"{ns}/{node_name}"


def parse_override(text: str) -> tuple[str, str, Any]:
    """`node.param=value` (or `param=value` for every node, node '') with the value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"bad parameter override {text!r}", "write node.param=value, e.g. detector.threads=1")
    name, raw = text.split("=", 1)
    node, _, param = name.strip().rpartition(".") if "." in name else ("", "", name.strip())
    if not param:
        raise ConfigError(f"bad parameter override {text!r}", "write node.param=value, e.g. detector.threads=1")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return node, param, value


class _NoAliases(yaml.SafeDumper):
    """rcl's parser refuses YAML aliases ("Will not support aliasing"): write a value shared by two nodes (the
    same list object) out in full each time."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_param_file(path: Path, per_node: dict[str, dict[str, Any]]) -> Path:
    """Write `{node_name: params}` as a parameter file whose sections match the node in any namespace; a key
    with a leading slash (`/cam1/camera_source`) is that one node's own section."""
    doc = {(key if key.startswith("/") else f"/**/{key}"): {PARAMS_KEY: params} for key, params in per_node.items()}
    path.write_text(yaml.dump(doc, Dumper=_NoAliases, sort_keys=True))
    return path
