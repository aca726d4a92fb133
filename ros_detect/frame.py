"""Frame geometry: the size every source resizes to and the detector's model is built and exported for.

Its own module so media (the sources) and detection (model, export, calibration) both depend on it
instead of on each other.
"""

from __future__ import annotations

OUTPUT_SIZE = (427, 240)  # (width, height): 16:9 at 240 lines
OUTPUT_WIDTH, OUTPUT_HEIGHT = OUTPUT_SIZE
