"""Where a running graph's CPU goes: CPU time of each node process between two moments, per frame.

On a 2-core machine the detector shares the cores with every other node (decoding, image messages,
selection, recording), so "graph fps / detector-alone fps" below 1 is answered by these figures: the
launcher snapshots each node process once the first result is in (model build and start-up excluded) and
again when the graph stops, and divides by the results between the two snapshots. A node process that ended
in between (the video source, once its file is done) is reaped by then: its CPU comes from the launcher's
children rusage, which grows by a child's lifetime CPU when the child is reaped.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from collections.abc import Mapping

LAUNCHER = "launcher"  # the `ros-detect launch` process itself: recorder, result subscriptions (and every node
# when they run in one process)


def process_cpu_s(pid: int | None = None) -> float | None:
    """User + system CPU seconds of a process (this one when pid is None); None once it is gone."""
    import psutil

    try:
        times = psutil.Process(pid if pid is not None else os.getpid()).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return times.user + times.system


@dataclasses.dataclass
class CpuSnapshot:
    """CPU seconds per process name at one moment, and the results counted by then."""

    cpu_s: dict[str, float]
    results: int
    wall_s: float
    reaped_children_s: float = 0.0  # lifetime CPU of the child processes reaped so far


def reaped_children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snapshot(pids: Mapping[str, int | None], results: int, wall_s: float) -> CpuSnapshot:
    """CPU seconds of every named process (pid None: this process) that is still alive."""
    cpu = {name: process_cpu_s(pid) for name, pid in pids.items()}
    alive = {name: s for name, s in cpu.items() if s is not None}
    return CpuSnapshot(alive, results, wall_s, reaped_children_cpu_s())


def per_result(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, object] | None:
    """CPU ms per result of each process between the snapshots, their total, and the cores they kept busy.
    None when no result came between the two (nothing to divide by)."""
    results = end.results - start.results
    wall = end.wall_s - start.wall_s
    if results <= 0 or wall <= 0:
        return None
    ms = {
        name: round((end.cpu_s[name] - start.cpu_s[name]) * 1e3 / results, 2)
        for name in start.cpu_s
        if name in end.cpu_s
    }
    ended = [name for name in start.cpu_s if name not in end.cpu_s]
    if ended:  # their lifetime CPU arrived in the children rusage when reaped; what they used before start is known
        spent = end.reaped_children_s - start.reaped_children_s - sum(start.cpu_s[name] for name in ended)
        ms["+".join(ended)] = round(max(0.0, spent) * 1e3 / results, 2)
    total = round(sum(ms.values()), 2)
    return {
        "results": results,
        "wall_s": round(wall, 3),
        "cpu_ms_per_result": ms,
        "total_cpu_ms_per_result": total,
        # cores kept busy by the graph: total CPU over wall time (2.0 = both cores of a 2-core machine)
        "cores_busy": round(total * results / 1e3 / wall, 2),
    }
