"""`ros-detect bench-pipeline --smoke`: every performance figure is measured and reported with its target."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_pipeline_smoke(tmp_path, clip_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ros_detect.cli",
            "bench-pipeline",
            "--smoke",
            "--input",
            str(clip_path),
            "--weights",
            "none",
            "--precision",
            "fp32",
            "--proposals",
            "100",
            "--webcam-fps",
            "5",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "pipeline.json").read_text())
    figures = {row["figure"]: row for row in report["checks"]}
    assert set(figures) >= {
        "video graph fps (all frames, process per node)",
        "graph fps / seed fps",
        "graph fps / detector-alone fps",
        "webcam p50 capture->main_person / detector p50",
        "frames in == results out (video)",
        "feature SQNR vs fp32 (dB)",
    }
    # Video mode drops nothing: every frame in gives one result out.
    assert figures["frames in == results out (video)"]["met"] and report["graph_video"]["main_person_messages"] == 6
    assert report["forced_trained_like_proposals"] is True and report["proposals"] == 100
    assert report["graph_webcam"]["main_person_messages"] > 0
    assert report["graph_webcam"]["capture_to_main_person_ms"]["p50"] > 0
    assert report["seed"]["fps"] > 0 and report["detector_alone"]["fps"] > 0
    assert "NOT A REAL RESULT" in report["weights"]
    # the detector's own profile (one frame in smoke mode), grouped by model stage, printed with the ISA
    profile = report["detector_alone"]["profile"]
    assert profile["frames"] == 1 and profile["stages_ms"]["backbone"] > 0 and profile["stages_ms"]["roi_align"] > 0
    assert "where inference time goes" in proc.stdout and "ISA " in proc.stdout
    # and where the video graph's CPU goes, per node process
    assert report["graph_video"]["cpu"]["cpu_ms_per_result"]["detector"] > 0
    assert "where the video graph's CPU goes" in proc.stdout
    for name in (
        "video graph fps (all frames, process per node)",
        "graph fps / seed fps",
        "webcam p50 capture->main_person / detector p50",
    ):
        assert name in proc.stdout
