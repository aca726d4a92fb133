"""graph/cpu.py: CPU per result of each node process between two snapshots."""

from __future__ import annotations

import os

import pytest

from ros_detect.graph import cpu
from ros_detect.graph.cpu import CpuSnapshot

pytestmark = pytest.mark.unit


def test_per_result_divides_each_process_cpu_by_the_results_between_snapshots() -> None:
    start = CpuSnapshot({"detector": 10.0, "main_person": 1.0, "launcher": 2.0}, results=1, wall_s=100.0)
    end = CpuSnapshot({"detector": 12.0, "main_person": 1.05, "launcher": 2.1}, results=11, wall_s=101.25)
    usage = cpu.per_result(start, end)
    assert usage["results"] == 10 and usage["wall_s"] == 1.25
    assert usage["cpu_ms_per_result"] == {"detector": 200.0, "main_person": 5.0, "launcher": 10.0}
    assert usage["total_cpu_ms_per_result"] == 215.0
    assert usage["cores_busy"] == pytest.approx(2.15 / 1.25, abs=0.01)


def test_a_process_that_ended_between_snapshots_is_counted_from_the_reaped_children() -> None:
    # the video source used 0.5 s before the first result and 0.3 s after it; reaped, its 0.8 s lifetime
    # shows in the children rusage (plus 0.1 s of another child reaped before the first snapshot)
    start = CpuSnapshot({"video_source": 0.5, "detector": 1.0}, results=1, wall_s=0.0, reaped_children_s=0.1)
    end = CpuSnapshot({"detector": 3.0}, results=11, wall_s=1.0, reaped_children_s=0.9)
    assert cpu.per_result(start, end)["cpu_ms_per_result"] == {"detector": 200.0, "video_source": 30.0}


def test_no_result_between_snapshots_gives_no_figures() -> None:
    same = CpuSnapshot({"detector": 1.0}, results=3, wall_s=5.0)
    assert cpu.per_result(same, same) is None


def test_snapshot_reads_live_processes_and_leaves_out_gone_ones() -> None:
    taken = cpu.snapshot({"launcher": None, "me": os.getpid(), "gone": 2**22 + 12345}, results=0, wall_s=0.0)
    assert set(taken.cpu_s) == {"launcher", "me"} and taken.cpu_s["me"] > 0
