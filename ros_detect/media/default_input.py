"""The default input of `make run`: the seed's clip when it can be fetched, else a synthetic one."""

from __future__ import annotations

import logging
import shutil
import urllib.request
from pathlib import Path

from ros_detect.detection.weights import url_reachable
from ros_detect.media.synthetic import generate_clip
from ros_detect.paths import cache_dir

log = logging.getLogger(__name__)

SEED_CLIP_URL = "https://alk15.github.io/home/files/london-walk.mp4"
SYNTHETIC_FRAMES = 120


def default_input(download_timeout_s: float = 20.0) -> tuple[Path, str]:
    """Return (path, kind) with kind 'downloaded' or 'synthetic'. Never blocks long when offline."""
    cached = cache_dir() / "london-walk.mp4"
    if cached.is_file() and cached.stat().st_size > 0:
        return cached, "downloaded"
    if url_reachable(SEED_CLIP_URL, timeout_s=3.0):
        partial = cached.with_suffix(".partial")
        try:
            with urllib.request.urlopen(SEED_CLIP_URL, timeout=download_timeout_s) as resp, open(partial, "wb") as f:
                shutil.copyfileobj(resp, f)
            partial.replace(cached)
            log.info("Downloaded the seed clip to %s", cached)
            return cached, "downloaded"
        except OSError as exc:
            log.warning("Could not download %s (%s)", SEED_CLIP_URL, exc)
            partial.unlink(missing_ok=True)
    synthetic = cache_dir() / f"synthetic-walk-{SYNTHETIC_FRAMES}.mp4"
    if not synthetic.is_file():
        generate_clip(synthetic, frames=SYNTHETIC_FRAMES)
    log.warning("The seed clip %s is not reachable: using the generated synthetic clip %s", SEED_CLIP_URL, synthetic)
    return synthetic, "synthetic"
