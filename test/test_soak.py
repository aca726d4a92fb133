"""`ros-detect soak`: the webcam graph at camera rate for a bounded time, RSS sampled, latency and drops counted.

The short run (about 60 s measured, 30 fps camera, random-init small model, one process per node, stopped
with SIGINT and checked for leftover processes) is in the default suite and doubles as the burst test: the
camera delivers frames far faster than the detector on these CPUs, so latest-frame-wins must keep latency
flat while the replaced frames are counted in the detector's stats.
The 10-minute soak with the product's default detector is `-m slow`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.ros import ros_env

from ros_detect import schema
from ros_detect.bench.soak import RssTrend, flow_counts, latency_quarters

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")

FAST = [
    "--weights", "none", "--model", "fasterrcnn_mobilenet_v3_large_320_fpn", "--precision", "fp32",
    "--threads", "1", "--proposals", "100", "--no-mqtt", "--no-foxglove",
]  # fmt: skip
SHORT_S, WARMUP_S, CAMERA_FPS = 60, 10, 30


def _soak(out: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "ros_detect.cli", "soak", "-o", str(out), *args],
        env=ros_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    report = json.loads((out / "soak.json").read_text()) if (out / "soak.json").exists() else {}
    return proc, report


@pytest.fixture(scope="module")
def short_soak(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    out = tmp_path_factory.mktemp("soak")
    args = ["--duration", str(SHORT_S), "--warmup", str(WARMUP_S), "--fps", str(CAMERA_FPS), "--sample-s", "1"]
    args += ["--processes", "multi"]  # one process per node: per-node RSS, and SIGINT must leave none behind
    return _soak(out, *args, "--", *FAST, timeout=600)


@pytest.mark.ros
def test_short_soak_memory_flat_and_clean_stop(short_soak: tuple[subprocess.CompletedProcess, dict]) -> None:
    proc, report = short_soak
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rss = report["rss"]
    assert rss["ok"] and rss["verdict"] == "no growth beyond noise", rss
    assert rss["samples"] >= SHORT_S // 2 and rss["window_s"] >= SHORT_S - 2
    assert rss["fitted_growth_mb"] <= rss["limit_mb"]
    assert report["launch_exit_code"] == 0 and report["leftover_processes"] == []
    assert {"camera_source", "detector", "main_person"} <= set(report["rss_by_process_end_mb"])
    assert report["main_person_received"] > 0
    assert "RSS (process tree): start" in proc.stdout and "soak: PASS" in proc.stdout


@pytest.mark.ros
def test_burst_latest_frame_wins_bounded_latency_and_counted_drops(
    short_soak: tuple[subprocess.CompletedProcess, dict],
) -> None:
    _, report = short_soak
    flow = report["flow_measured"]
    for doc in report["stats"].values():  # drops travel in the stats@1 heartbeats (-> MQTT, Foxglove)
        schema.validate(doc)
    assert flow["published"] > 2 * flow["detector_frames"] > 0, flow  # a real burst: the camera outruns the detector
    assert flow["detector_dropped"] > 0, flow
    # Every published frame is either processed or counted dropped; the heartbeats are ~1 s apart, hence the slack.
    unaccounted = flow["published"] - flow["detector_frames"] - flow["detector_dropped"]
    assert -3 * CAMERA_FPS <= unaccounted <= 3 * CAMERA_FPS + 0.05 * flow["published"], flow
    # A FIFO queue would make latency climb through the run (tens of seconds by the end); latest-wins keeps it flat.
    quarters = [q for q in report["latency"] if q["n"]]
    assert len(quarters) >= 3, report["latency"]
    first, last = quarters[0]["p50_ms"], quarters[-1]["p50_ms"]
    assert last <= 2 * first + 1500, report["latency"]
    queued_ms = 1000 * SHORT_S * (1 - flow["detector_frames"] / flow["published"]) / 2
    assert report["latency_max_ms"] < min(20000, queued_ms), (report["latency_max_ms"], queued_ms)


@pytest.mark.unit
def test_rss_trend_flags_growth_not_noise() -> None:
    flat = RssTrend(tolerance_mb=30)
    grow = RssTrend(tolerance_mb=30)
    for i in range(60):
        wobble = 8 * ((i * 7) % 5 - 2)  # +-16 MB of allocator noise
        flat.add(i, int((1000 + wobble) * 2**20))
        grow.add(i, int((1000 + wobble + 1.0 * i) * 2**20))  # 1 MB/s = 60 MB over the run
    assert flat.summary()["ok"] and flat.summary()["start_mb"] < 1020
    g = grow.summary()
    assert not g["ok"] and g["slope_mb_per_min"] == pytest.approx(60, abs=5) and "grew" in g["verdict"]
    assert RssTrend().summary()["ok"] is False  # no samples is no verdict


@pytest.mark.unit
def test_latency_quarters_and_flow_counts() -> None:
    q = latency_quarters([(t, 100.0 + t) for t in range(40)])
    assert [x["n"] for x in q] == [10, 10, 10, 10] and q[0]["p50_ms"] < q[-1]["p50_ms"]
    stats = {
        "/camera_source": {"frames": 90, "counters": {"published": 90, "disconnects": 1}},
        "/detector": {"frames": 20, "dropped": 65, "counters": {"stale": 3}},
        "/main_person": {"frames": 20},
    }
    f = flow_counts(stats)
    assert (f["published"], f["detector_frames"], f["detector_dropped"], f["source_reconnects"]) == (90, 20, 65, 1)


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.timeout(1800)  # 3 min warm-up + 10 min measured + start-up, beyond the suite's 600 s default
def test_ten_minute_soak(tmp_path: Path) -> None:
    """The benchmark soak: 10 minutes at 15 fps (after the default 3 min warm-up), default detector and bridges."""
    proc, report = _soak(tmp_path, "--duration", "600", "--fps", "15", timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report["rss"]["ok"] and report["leftover_processes"] == []


@pytest.mark.unit
def test_frame_info_tracker_counts_each_replaced_frame_once() -> None:
    """The detector's drop count under latest-wins: whichever of frame_info and image arrives first."""
    from ros_detect.graph.flow import FrameInfoTracker

    t = FrameInfoTracker()
    for stamp in range(1, 6):
        assert t.on_info(stamp, {"seq": stamp, "frame_id": "cam"}) == 0
    t.on_info(45, {"seq": 0, "frame_id": "other"})
    info, dropped = t.on_image(5, "cam")  # frames 1-4 were replaced before the detector got to them
    assert info is not None and info["seq"] == 5 and dropped == 4
    info, dropped = t.on_image(10, "cam")  # its frame_info is late (executor order)
    assert info is None and dropped == 0
    assert t.on_info(8, {"seq": 8, "frame_id": "cam"}) == 1  # older than a processed image: replaced
    assert t.on_info(10, {"seq": 10, "frame_id": "cam"}) == 0  # the late one of the processed image
    assert t.on_info(11, {"seq": 11, "frame_id": "cam"}) == 0
    assert t.on_image(11, "cam") == ({"seq": 11, "frame_id": "cam"}, 0)
    assert t.dropped == 5
    assert t.on_image(45, "other")[1] == 0  # another source's frames are its own business
