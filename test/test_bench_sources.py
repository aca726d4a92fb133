"""`ros-detect bench-sources` runs and writes its figures (structure only: speed depends on the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_sources_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "ros_detect.cli", "bench-sources", "--smoke", "--weights", "none"]
    proc = subprocess.run(
        [*cmd, "--sources", "1,2", "--threads", "1", "-o", str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ISA" in proc.stdout and "NOT A REAL RESULT" in proc.stdout
    result = json.loads((out / "sources.json").read_text())
    assert [r["sources"] for r in result["runs"]] == [1, 2]
    assert result["machine"]["isa"] is not None and result["weights_trained"] is False
    for run in result["runs"]:
        assert set(run["per_source"]) == {f"cam{i + 1}" for i in range(run["sources"])}
        assert sum(s["frames"] for s in run["per_source"].values()) >= 2 * run["sources"]
        for source in run["per_source"].values():
            assert source["frames"] >= 1  # fair turns: every source was served
            assert {"fps", "share", "latency_ms", "superseded", "received"} <= set(source)
        assert run["min_source_fps"] <= run["max_source_fps"]
