"""On-disk cache of built (quantised / exported) models, keyed by model + scheme + calibration.

A cache entry is a directory written under a temporary name and renamed when complete, so a
crash mid-build never leaves a half-written model that later loads.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.backends.calibration import (
    DEFAULT_CALIBRATION_FRAMES,
    calibration_frames,
    check_frame_size,
    frames_identity,
)
from ros_detect.paths import cache_dir

log = logging.getLogger(__name__)
CACHE_FORMAT = 2  # bump when a builder changes what it writes


def get_calibration(ctx: Any) -> tuple[list[np.ndarray], str]:
    """The calibration frames (BuildContext's provider, else the default input) and their identity."""
    if ctx.calibration_frames is not None:
        frames = list(ctx.calibration_frames())
    else:
        frames = calibration_frames(None, int(ctx.extra.get("calibration_count", DEFAULT_CALIBRATION_FRAMES)))
    frames = check_frame_size(frames)
    if not frames:
        from ros_detect.errors import ConfigError

        raise ConfigError("no calibration frames", "pass a readable calibration video or leave the default")
    return frames, frames_identity(frames)


def entry_dir(ctx: Any, scheme: str, calibration_id: str = "") -> Path:
    base = Path(ctx.cache_dir) if ctx.cache_dir else cache_dir() / "models"
    name = f"{scheme}-{ctx.cache_key or 'nokey'}" + (f"-c{calibration_id}" if calibration_id else "")
    return base / name


def load_or_build(entry: Path, build: Callable[[Path], dict[str, Any]], ctx: Any) -> tuple[Path, dict[str, Any]]:
    """Return (directory, meta) of a complete cache entry, building it with `build(tmpdir)` if absent."""
    meta_file = entry / "meta.json"
    if meta_file.is_file() and not ctx.extra.get("rebuild"):
        meta = json.loads(meta_file.read_text())
        if meta.get("format") == CACHE_FORMAT:
            meta["cache_hit"] = True
            log.info("loading cached model %s", entry)
            return entry, meta
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f"{entry.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t0 = time.perf_counter()
    try:
        meta = build(tmp)
        meta.update(format=CACHE_FORMAT, build_s=round(time.perf_counter() - t0, 3), created=time.time())
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        tmp.rename(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built and cached %s in %.1f s", entry, meta["build_s"])
    meta["cache_hit"] = False
    return entry, meta


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and p.name != "meta.json")
