"""A detector node whose model build never finishes by itself: precision `test-slow-build` (test-only).

Run as the node program (`python test/helpers/slow_build.py --ros-args -p precision:=test-slow-build ...`):
the build writes part of a cache entry through the real cache (ros_detect.detection.backends.cache), prints
SLOW_BUILD_STARTED and then keeps working until the process ends, like the first OpenVINO int8 build
(~80 s) that a user stops with Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ros_detect.detection.backends.cache import cached_entry, entry_dir
from ros_detect.detection.backends.registry import SCHEMES, Scheme

SCHEME = "test-slow-build"
STARTED = "SLOW_BUILD_STARTED"


def build_slow(model: Any, spec: Any, ctx: Any) -> Any:
    def build(tmp: Path) -> dict[str, Any]:
        (tmp / "model.bin").write_bytes(bytes(1 << 16))  # a partial entry: must never become loadable
        print(f"{STARTED} {entry_dir(ctx, SCHEME)}", flush=True)
        while True:  # Python work, like a quantiser: the GIL is released between steps
            sum(range(10_000))
            time.sleep(0.01)

    cached_entry(ctx, SCHEME, build)
    raise AssertionError("not reached")


if __name__ == "__main__":
    # Registered only in the node process: importing this module (for SCHEME/STARTED) leaves the registry alone.
    SCHEMES[SCHEME] = Scheme(SCHEME, "test only: a model build that never ends", f"{__name__}:build_slow")
    from ros_detect.nodes.detector import main

    sys.exit(main())
