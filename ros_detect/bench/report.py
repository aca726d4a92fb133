"""Table, CSV and plot of a `ros-detect bench` report (see bench.py for the measurements)."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ros_detect.bench.profile import STAGES, isa_key, isa_label, profile_table

# (header, width, row key, decimals)
COLUMNS = [
    ("variant", 20, "variant", 0),
    ("prop", 5, "proposals", 0),
    ("p50 ms", 7, "p50_ms", 0),
    ("p90 ms", 7, "p90_ms", 0),
    ("min ms", 7, "min_ms", 0),
    ("fps@1", 6, "fps_1", 2),
    ("fps@all", 7, "fps_all", 2),
    ("cpu ms", 7, "cpu_ms_per_frame", 0),
    ("cpu@1 ms", 8, "cpu_ms_1thread", 0),
    ("RSS MB", 7, "peak_rss_mb", 0),
    ("size MB", 7, "size_mb", 0),
    ("load s", 6, "cached_load_s", 1),
    ("build s", 7, "build_s", 1),
    ("MP match", 8, "mp_match_fraction", 2),
    ("MP IoU", 6, "mp_mean_iou", 2),
    ("det mAP", 7, "det_map_vs_fp32", 3),
    ("SQNR dB", 7, "sqnr_db", 1),
    ("x seed", 6, "speedup_vs_seed", 1),
    ("x fp32", 6, "speedup_vs_fp32", 2),
]
# speed-up vs the seed setup and vs fp32 (bench/precision.py): by p50, by min latency, by CPU time at 1 thread
SPEEDUP_KEYS = [f"speedup_vs_{base}{measure}" for measure in ("", "_min", "_cpu1") for base in ("seed", "fp32")]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def row(report: dict[str, Any], v: dict[str, Any]) -> dict[str, Any]:
    """One flat record per variant (the CSV row and the table line)."""
    isa = isa_key(report["machine"])  # every CSV row says which instruction sets its figures come from
    if v.get("status") != "ok" or "latency_ms" not in v:
        return {
            "variant": v["name"],
            "isa": isa,
            "scheme": v["scheme"],
            "proposals": v["proposals"],
            "status": v.get("status"),
            "error": v.get("error"),
        }
    fps = v["fps"]
    agree = v.get("agreement", {})
    return {
        "variant": v["name"],
        "isa": isa,
        "scheme": v["scheme"],
        "proposals": v["proposals"],
        "head_variant": v.get("head_variant"),
        "status": "ok",
        "p50_ms": v["latency_ms"]["p50"],
        "p90_ms": v["latency_ms"]["p90"],
        "min_ms": v["latency_ms"]["min"],
        "fps_1": fps.get("1"),
        "fps_all": fps.get(str(report["main_threads"])),
        "cpu_ms_per_frame": v["cpu_ms_per_frame"]["mean"],
        "cpu_ms_1thread": v["cpu_ms_by_threads"].get("1"),  # CPU work per frame, least skewed by other load
        "peak_rss_mb": v["peak_rss_mb"],
        "size_mb": v["size_mb"],
        "cached_load_s": v["load"]["cached_load_s"],
        "cold_load_s": v["load"]["cold_load_s"],
        "build_s": v["load"]["build_s"],
        "warmup_s": v["load"]["warmup_s"],
        "mp_match_fraction": agree.get("match_fraction"),
        "mp_mean_iou": agree.get("mean_iou"),
        "mp_iou_ge_0.9": agree.get("fraction_iou_ge_0.9"),
        "det_map_vs_fp32": (v.get("detection_map_vs_fp32") or {}).get("map"),
        "sqnr_db": (v.get("sqnr_db") or {}).get("all"),
        **{key: v.get(key) for key in SPEEDUP_KEYS},
        **{f"profile_{stage}_ms": (v.get("profile") or {}).get("stages_ms", {}).get(stage) for stage in STAGES},
        "coco_map_person": (v.get("coco") or {}).get("map_person"),
        "coco_map_all": (v.get("coco") or {}).get("map_all"),
        "schema_valid": v.get("schema_valid"),
    }


def print_table(report: dict[str, Any], out: Callable[[str], Any] = print) -> None:
    out(
        f"\nmachine: {isa_label(report['machine'])}; weights: {report['weights']}; "
        f"{report['frames']} frames; forced trained-like proposals: {report['force_proposals']}"
    )
    if report.get("note"):
        out(f"NOTE: {report['note']}")
    loads = [x for v in report["variants"] for r in v.get("runs", {}).values() for x in r.get("loadavg_1min", [])]
    if loads and max(loads) > report["machine"]["cores"]:
        out(
            f"NOTE: the machine was shared (1-min load average {min(loads):.1f}-{max(loads):.1f} on "
            f"{report['machine']['cores']} cores): wall-clock figures are inflated; 'cpu@1 ms' and 'min ms' are the "
            "least affected"
        )
    out(" ".join(name.rjust(w) if i else name.ljust(w) for i, (name, w, _, _) in enumerate(COLUMNS)))
    for v in report["variants"]:
        r = row(report, v)
        if r["status"] != "ok":
            out(f"{r['variant'].ljust(20)} {r['proposals']:>5} {r['status']}: {r.get('error')}")
            continue
        out(
            " ".join(
                (_fmt(r[key], d).rjust(w) if i else _fmt(r[key]).ljust(w)) for i, (_, w, key, d) in enumerate(COLUMNS)
            )
        )
    out(
        "MP = main person vs fp32 (match: same person, IoU >= 0.5); det mAP: fp32 detections as ground truth; "
        "SQNR: FPN features vs fp32; cpu ms: CPU time per frame at all cores, cpu@1: at 1 thread; "
        "x seed / x fp32: p50 speed-up measured in this run."
    )
    profiled = [(v["name"], v["profile"]) for v in report["variants"] if v.get("profile")]
    if profiled:
        out("")
        for line in profile_table(profiled, report["machine"], report["main_threads"]):
            out(line)
        out(
            "profiled in separate runs after the timed frames; % of the profiled total; 'other': preprocessing, "
            "layout reorders, graph inputs/outputs"
        )
    for v in report["variants"]:
        if v.get("profile_error"):
            out(f"{v['name']}: no profile ({v['profile_error']}); its timed figures above stand")


def write_csv(report: dict[str, Any], path: Path) -> None:
    rows = [row(report, v) for v in report["variants"]]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def write_plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in (row(report, v) for v in report["variants"]) if r["status"] == "ok"]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    panels = (
        ("mp_match_fraction", "main person matches fp32 (fraction of frames)"),
        ("det_map_vs_fp32", "detection mAP, fp32 as ground truth"),
        ("sqnr_db", "FPN feature SQNR vs fp32, dB (finite only)"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        for r in rows:
            if r[key] is None or not math.isfinite(r[key]):
                continue
            ax.scatter(r["p50_ms"], r[key], s=30)
            ax.annotate(r["variant"], (r["p50_ms"], r[key]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(f"latency p50, ms/frame ({report['main_threads']} threads, log scale)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    title = f"{isa_label(report['machine'])}; weights: {report['weights']}"
    if report.get("note"):
        title += "\n" + report["note"]
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
