"""Where inference time goes, from the backend's own profiler, grouped by model stage.

Every runtime names its nodes after the torchvision module they come from: OpenVINO and ONNX Runtime
keep the ONNX exporter's scope paths ("/backbone/body/layer1/layer1.0/conv1/Conv"), the eager
schemes are profiled with one torch.profiler scope per module ("roi_heads.box_roi_pool"), and the split
pipeline adds the host stages it times itself ("roi_align", "postprocess"). One function, `stage_of`,
maps all of them to the stages of Faster R-CNN; what matches none (preprocessing, layout reorders,
graph inputs/outputs) is `other`.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from ros_detect.detection.backends.registry import ProfiledNode

STAGES = ("backbone", "fpn", "rpn", "roi_align", "box_head", "postprocess", "other")

_SEP = r"(?:^|[/.])"  # a scope boundary: ONNX paths use "/", torch module paths "."
_END = r"(?:[/._]|$)"
# First match wins: the RPN has its own bbox_pred, the RoI stages sit under roi_heads, the FPN under backbone.
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (stage, re.compile(pattern, re.IGNORECASE))
    for stage, pattern in (
        ("rpn", rf"{_SEP}rpn{_END}|anchor_generator"),
        ("roi_align", r"box_roi_pool|roi_?align"),
        # "rows/...": the split head's input (pooled rows) quantised on entry
        ("box_head", rf"box_head|box_predictor|{_SEP}(?:fc6|fc7|cls_score|bbox_pred){_END}|^rows/"),
        ("postprocess", rf"roi_heads|{_SEP}postprocess(?:_detections)?{_END}"),
        ("fpn", rf"{_SEP}fpn{_END}"),
        ("backbone", rf"{_SEP}(?:backbone|body){_END}"),
    )
]


def stage_of(node_name: str) -> str:
    """The model stage a profiled node belongs to (one of STAGES), from its name alone."""
    for stage, pattern in _RULES:
        if pattern.search(node_name):
            return stage
    return "other"


def group_by_stage(nodes: Iterable[ProfiledNode]) -> dict[str, float]:
    """ms per stage (every stage present, 0.0 when nothing ran in it)."""
    out = dict.fromkeys(STAGES, 0.0)
    for node in nodes:
        out[stage_of(node.name)] += node.ms
    return out


def profile_backend(backend: Any, images: list[Any]) -> dict[str, Any] | None:
    """Run the backend's own profiler on `images` (model inputs); per-frame stage ms and the costliest nodes.
    None when the backend has no profiler hook."""
    profile: Callable[[list[Any]], list[list[ProfiledNode]]] | None = getattr(backend, "profile", None)
    if profile is None or not images:
        return None
    t0 = time.perf_counter()
    frames = profile(images)
    wall_s = time.perf_counter() - t0
    per_node: dict[tuple[str, str], list[float]] = {}
    for nodes in frames:
        for node in nodes:
            per_node.setdefault((node.name, node.kind), []).append(node.ms)
    top = sorted(per_node.items(), key=lambda item: -sum(item[1]))[:15]
    return {
        "profiler": getattr(backend, "profiler", "unknown"),
        "frames": len(frames),
        "wall_s": round(wall_s, 2),  # the profiled runs, model compile included (not a latency figure)
        "per_frame_ms": [{k: round(v, 3) for k, v in group_by_stage(nodes).items()} for nodes in frames],
        "top_nodes": [
            {"name": name, "kind": kind, "stage": stage_of(name), "ms": round(sum(ms) / len(frames), 3)}
            for (name, kind), ms in top
        ],
    }


def profile_or_error(backend: Any, images: list[Any]) -> tuple[dict[str, Any] | None, str | None]:
    """profile_backend(), or the reason it failed: a profiler failure must not lose the figures timed before it."""
    try:
        return profile_backend(backend, images), None
    except Exception as exc:  # recorded next to the timed figures, which stand without the profile
        return None, f"{type(exc).__name__}: {exc}"[:300]


def summarise(profile: dict[str, Any]) -> dict[str, Any]:
    """Median ms per stage over the profiled frames, each stage's share of their sum, and the total."""
    frames = profile["per_frame_ms"]
    stages = {s: round(statistics.median(f.get(s, 0.0) for f in frames), 2) for s in STAGES}
    total = sum(stages.values())
    return {
        "profiler": profile["profiler"],
        "frames": len(frames),
        "stages_ms": stages,
        "total_ms": round(total, 2),
        "share": {s: round(ms / total, 4) if total else None for s, ms in stages.items()},
        "top_nodes": profile.get("top_nodes", []),
    }


def isa_label(machine: dict[str, Any]) -> str:
    """The CPU and the instruction sets int8/bf16 speed depends on: named with every table of figures."""
    isa = machine.get("isa") or []
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, ISA {'+'.join(isa) if isa else 'unknown'}"


def isa_key(machine: dict[str, Any]) -> str:
    return "+".join(machine.get("isa") or []) or "unknown"


def split_by_isa(reports: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Reports grouped by their machine's ISA, in order of first appearance: one table per group, since
    figures from CPUs with different instruction sets are never comparable."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        groups.setdefault(isa_key(report.get("machine") or {}), []).append(report)
    return groups


def profile_table(rows: list[tuple[str, dict[str, Any]]], machine: dict[str, Any], threads: Any = None) -> list[str]:
    """Lines of the grouped-profile table: one row per (label, summarise() result), ms and % per stage."""
    head = f"where inference time goes (backend profiler; median ms per frame) on {isa_label(machine)}"
    lines = [head + (f"; {threads} threads" if threads else "")]
    lines.append(f"{'variant':24} {'profiler':26}" + "".join(f"{s:>14}" for s in STAGES) + f"{'total':>9}")
    for label, summary in rows:
        cells = "".join(f"{summary['stages_ms'][s]:8.1f} {100 * (summary['share'][s] or 0):3.0f}% " for s in STAGES)
        lines.append(f"{label:24} {summary['profiler'][:26]:26}{cells}{summary['total_ms']:9.1f}")
    return lines


def markdown_table(rows: list[tuple[str, dict[str, Any]]], machine: dict[str, Any]) -> list[str]:
    """The same table in Markdown (docs/benchmarks.md), stages as rows: ms and % per variant."""
    lines = [f"Machine: {isa_label(machine)}.", ""]
    lines.append("| stage | " + " | ".join(label for label, _ in rows) + " |")
    lines.append("|---|" + "---:|" * len(rows))
    for stage in STAGES:
        cells = [f"{s['stages_ms'][stage]:.1f} ms ({100 * (s['share'][stage] or 0):.0f} %)" for _, s in rows]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{s['total_ms']:.1f} ms**" for _, s in rows) + " |")
    return lines
