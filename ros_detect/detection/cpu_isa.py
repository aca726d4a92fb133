"""The CPU's instruction-set extensions that decide which int8 kernels are fast (from /proc/cpuinfo)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

# int8 dot-product instructions: without one of these OpenVINO's int8 GEMM falls back to a slow generic kernel
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@cache
def cpu_flags() -> frozenset[str]:
    """Flags of the first CPU in /proc/cpuinfo; empty where it cannot be read (then treated as no extensions)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def has_vnni(flags: Iterable[str]) -> bool:
    return not VNNI_FLAGS.isdisjoint(flags)
