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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ros_detect.paths import cache_dir

log = logging.getLogger(__name__)
CACHE_FORMAT = 2  # bump when a builder changes what it writes
META_FILE = "meta.json"


@dataclass(frozen=True)
class CacheEntry:
    """A complete cache directory and how this process got it."""

    path: Path
    hit: bool  # loaded as found on disk (False: built by this process)
    build_s: float  # how long building it took, when it was built
    meta: dict[str, Any]  # what the builder recorded (scheme, calibration id, ...)

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file() and p.name != META_FILE)


def entry_dir(ctx: Any, scheme: str, calibration_id: str = "") -> Path:
    """<cache>/<scheme>-<model key>[-c<calibration id>] for a BuildContext."""
    base = Path(ctx.cache_dir) if ctx.cache_dir else cache_dir() / "models"
    name = f"{scheme}-{ctx.cache_key or 'nokey'}" + (f"-c{calibration_id}" if calibration_id else "")
    return base / name


def cached_entry(
    ctx: Any, scheme: str, build: Callable[[Path], dict[str, Any]], calibration_id: str = ""
) -> CacheEntry:
    """The cache entry of `scheme` for this context, built with `build(tmpdir) -> meta` if absent."""
    return load_or_build(entry_dir(ctx, scheme, calibration_id), build)


def load_or_build(entry: Path, build: Callable[[Path], dict[str, Any]]) -> CacheEntry:
    """A complete cache entry at `entry`, building it with `build(tmpdir)` if absent or of an old format."""
    meta_file = entry / META_FILE
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("format") == CACHE_FORMAT:
            log.info("loading cached model %s", entry)
            return CacheEntry(entry, True, float(meta.get("build_s", 0.0)), meta)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f"{entry.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t0 = time.perf_counter()
    try:
        meta = build(tmp)
        meta.update(format=CACHE_FORMAT, build_s=round(time.perf_counter() - t0, 3), created=time.time())
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        tmp.rename(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built and cached %s in %.1f s", entry, meta["build_s"])
    return CacheEntry(entry, False, float(meta["build_s"]), meta)
