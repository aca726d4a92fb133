"""What a Foxglove / Lichtblick layout reads, checked against the channels a running bridge advertises.

`layout_uses` lists every topic and message path of a layout's panels (an unknown panel kind fails, so a new
panel cannot slip past the checks); `assert_layout_resolves` resolves each with the port of the apps' schema
parser (helpers.lichtblick_schema) and checks it is what its panel needs.
"""

from __future__ import annotations

import json

from helpers.lichtblick_schema import PLOTTABLE, Field, ParsedChannel, resolve_path

# Schema names the Image panel takes for its image topic and for its annotation topics (suite-base/src/panels/
# ThreeDeeRender/foxglove.ts: COMPRESSED_IMAGE_DATATYPES, IMAGE_ANNOTATIONS_DATATYPES).
IMAGE_SCHEMAS = {"foxglove.CompressedImage", "foxglove.RawImage"}
ANNOTATION_SCHEMAS = {"foxglove.ImageAnnotations"}


def panel_ids(node: object) -> list[str]:
    """The panels of a layout tree, in order (left to right, top to bottom); checks every split on the way."""
    if isinstance(node, str):
        return [node]
    assert isinstance(node, dict) and node["direction"] in ("row", "column") and 0 < node["splitPercentage"] < 100
    return panel_ids(node["first"]) + panel_ids(node["second"])


def resolve(doc: dict, path: str) -> object:
    """A dotted path in a document (`latency_ms.capture_to_view.p50`)."""
    for part in path.split("."):
        doc = doc[part]
    return doc


def shipped_layout(name: str = "foxglove_layout.json") -> dict:
    from ros_detect.paths import config_dir

    return json.loads((config_dir() / name).read_text())


def layout_uses(layout: dict) -> list[tuple[str, str, str]]:
    """(panel id, what it needs, topic or message path) for every topic and path the layout's panels use."""
    uses: list[tuple[str, str, str]] = []
    for pid in panel_ids(layout["layout"]):
        cfg, kind = layout["configById"][pid], pid.split("!")[0]
        if kind == "Image":
            uses.append((pid, "image", cfg["imageMode"]["imageTopic"]))
            uses += [(pid, "annotations", t) for t in cfg["imageMode"].get("annotations", {})]
        elif kind == "RawMessages":
            uses.append((pid, "path", cfg["topicPath"]))
        elif kind == "Plot":
            uses += [(pid, "number", p["value"]) for p in cfg["paths"]]
        elif kind == "Indicator":
            uses.append((pid, "value", cfg["path"]))
        else:
            raise AssertionError(f"layout panel {pid}: teach layout_uses (helpers) what {kind} panels read")
    return uses


def assert_layout_resolves(channels: dict[str, ParsedChannel], layout: dict) -> None:
    """Every topic and message path of `layout` resolves in the parsed channels to what its panel needs."""
    for pid, need, path in layout_uses(layout):
        target = resolve_path(channels, path)
        if need == "image":
            assert target in IMAGE_SCHEMAS, f"{pid}: {path} is {target}, not an image the Image panel shows"
        elif need == "annotations":
            assert target in ANNOTATION_SCHEMAS, f"{pid}: {path} is {target}, not image annotations"
        elif need == "number":
            assert isinstance(target, Field) and target.type in PLOTTABLE and not target.is_array, f"{pid}: {path}"
        elif need == "value":
            assert isinstance(target, Field) and not target.is_complex, f"{pid}: {path} is not a single value"
        else:
            assert isinstance(target, (str, Field)), f"{pid}: {path}"
