"""Where shipped files (config/, launch/, schemas) and caches live, installed or in a checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "ros_detect"
PACKAGE_DIR = Path(__file__).resolve().parent


def share_dir() -> Path:
    """The package's share directory: the source checkout, an ament install, or the pip prefix."""
    checkout = PACKAGE_DIR.parent
    if (checkout / "package.xml").is_file() and (checkout / "config").is_dir():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:
        return Path(sys.prefix) / "share" / PACKAGE


def config_dir() -> Path:
    return share_dir() / "config"


def schema_dir() -> Path:
    return PACKAGE_DIR / "schemas"


def cache_dir() -> Path:
    """User cache for downloaded clips, generated clips and built quantised models."""
    base = os.environ.get("ROS_DETECT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), PACKAGE
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
