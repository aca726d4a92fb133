"""Foxglove Studio / Lichtblick layouts for the bridge's channels: one camera, or several side by side.

`ros-detect foxglove-layout [--sources cam1 cam2]` prints them; the shipped config/foxglove_layout.json (no
sources) and config/foxglove_layout_2cams.json (cam1, cam2) are its output, and a test keeps them so. Panel
topics follow the bridge's channel names with the default topic names (ros_detect.foxglove.topics).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.foxglove.topics import SourceTopics
from ros_detect.graph.sources import check_sources

SHIPPED = {(): "foxglove_layout.json", ("cam1", "cam2"): "foxglove_layout_2cams.json"}  # config/ files it writes

_PLOT_STYLE = {
    "minYValue": 0,
    "showLegend": True,
    "legendDisplay": "floating",
    "showPlotValuesInLegend": True,
    "isSynced": True,
    "xAxisVal": "timestamp",
    "showXAxisLabels": True,
    "showYAxisLabels": True,
    "followingViewWidth": 60,
    "sidebarDimension": 240,
}


def _titled(panel: dict[str, Any], title: str) -> dict[str, Any]:
    return {**panel, "foxglovePanelTitle": title, "lichtblickPanelTitle": title}


def _indicator(t: SourceTopics, title: str) -> dict[str, Any]:
    """Red on exactly the label untrained documents carry."""
    rule = {"operator": "=", "rawValue": RANDOM_INIT_LABEL, "color": "#d00000"}
    panel = {
        "path": f"{t.main_person}.weights",
        "style": "background",
        "fallbackColor": "#404040",
        "fallbackLabel": "weights not random-init (or no result yet)",
        "rules": [{**rule, "label": "UNTRAINED WEIGHTS - NOT A REAL RESULT"}],
    }
    return _titled(panel, title)


def _image(t: SourceTopics, title: str) -> dict[str, Any]:
    # synchronize: each box is drawn on the frame it was computed from (same stamp), not one frame ahead
    mode = {
        "imageTopic": t.image,
        "annotations": {t.annotations: {"visible": True}},
        "synchronize": True,
        "rotation": 0,
        "flipHorizontal": False,
        "flipVertical": False,
    }
    return _titled({"imageMode": mode}, title)


def _raw(t: SourceTopics) -> dict[str, Any]:
    return {
        "topicPath": t.main_person,
        "diffTopicPath": "",
        "diffMethod": "custom",
        "diffEnabled": False,
        "showFullMessageForDiff": False,
        "autoExpandMode": "auto",
    }


def _plot(paths: list[tuple[str, str]], title: str) -> dict[str, Any]:
    lines = [{"value": v, "enabled": True, "timestampMethod": "receiveTime", "label": label} for v, label in paths]
    return _titled({"paths": lines, **_PLOT_STYLE}, title)


def _split(first: Any, second: Any, direction: str, percent: float) -> dict[str, Any]:
    return {"first": first, "second": second, "direction": direction, "splitPercentage": percent}


def _throughput(t: SourceTopics) -> list[tuple[str, str]]:
    return [
        (f"{t.bridge_stats}.fps", "fps (end to end)"),
        (f"{t.bridge_stats}.dropped", "frames dropped by the bridge"),
        (f"{t.bridge_stats}.counters.seq_gaps", "frames skipped upstream (seq gaps)"),
    ]


def _latency(t: SourceTopics) -> list[tuple[str, str]]:
    return [
        (f"{t.bridge_stats}.latency_ms.capture_to_main_person.p50", "capture -> main person p50 (ms)"),
        (f"{t.bridge_stats}.latency_ms.capture_to_view.p50", "capture -> web view p50 (ms)"),
        (f"{t.bridge_stats}.stage_ms.inference", "inference median (ms)"),
    ]


def _document(config_by_id: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    return {
        "configById": config_by_id,
        "globalVariables": {},
        "userNodes": {},
        "playbackConfig": {"speed": 1},
        "layout": tree,
    }


def _one_camera(source: str) -> dict[str, Any]:
    """Weights and image on the left; main-person document, throughput and latency plots on the right."""
    t = SourceTopics.under(source)
    prefix = f"{source}: " if source else ""
    panels = {
        "Indicator!rosdetect5": _indicator(t, f"{prefix}Weights"),
        "Image!rosdetect1": _image(t, f"{prefix}Main person (green) and detections"),
        "RawMessages!rosdetect2": _raw(t),
        "Plot!rosdetect3": _plot(_throughput(t), f"{prefix}Throughput"),
        "Plot!rosdetect4": _plot(_latency(t), f"{prefix}Latency"),
    }
    tree = _split(
        _split("Indicator!rosdetect5", "Image!rosdetect1", "column", 12),
        _split("RawMessages!rosdetect2", _split("Plot!rosdetect3", "Plot!rosdetect4", "column", 50), "column", 40),
        "row",
        60,
    )
    return _document(panels, tree)


def _camera_column(source: str, panels: dict[str, Any]) -> dict[str, Any]:
    """One source's column of the grid: weights, image, main-person document, one plot; adds its panels."""
    t = SourceTopics.under(source)
    slug = source.replace("/", "_")
    ids = [f"{kind}!rosdetect_{slug}_{n}" for n, kind in enumerate(("Indicator", "Image", "RawMessages", "Plot"))]
    panels[ids[0]] = _indicator(t, f"{source}: weights")
    panels[ids[1]] = _image(t, f"{source}: main person (green) and detections")
    panels[ids[2]] = _raw(t)
    panels[ids[3]] = _plot([*_throughput(t)[:2], _latency(t)[0]], f"{source}: throughput and latency")
    return _split(ids[0], _split(ids[1], _split(ids[2], ids[3], "column", 45), "column", 55), "column", 10)


def _side_by_side(columns: list[dict[str, Any]]) -> dict[str, Any]:
    """Equal-width columns as the binary split tree the apps use."""
    if len(columns) == 1:
        return columns[0]
    return _split(columns[0], _side_by_side(columns[1:]), "row", round(100 / len(columns), 2))


def layout(sources: Sequence[str] = ()) -> dict[str, Any]:
    """The layout for a bridge serving `sources` (none: the channels of a graph without `sources`)."""
    sources = check_sources(list(sources))
    if len(sources) <= 1:
        return _one_camera(sources[0] if sources else "")
    panels: dict[str, Any] = {}
    columns = [_camera_column(src, panels) for src in sources]
    return _document(panels, _side_by_side(columns))


def layout_json(sources: Sequence[str] = ()) -> str:
    """The layout as the file text (what the shipped files hold)."""
    return json.dumps(layout(sources), indent=2) + "\n"
