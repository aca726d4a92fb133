"""Output files: JSONL streams flushed per line, the annotated MP4, and summary.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ros_detect.core.errors import OutputError
from ros_detect.core.schema import dumps


def prepare_output_dir(path: Path | str) -> Path:
    """Create OUTDIR and prove it is writable before any expensive work starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"output directory {path} is not writable ({exc.strerror})", "pass -o with a writable directory"
        ) from exc
    return path


class JsonlWriter:
    """One JSON document per line, flushed as it goes so a crash loses nothing already written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "w", encoding="utf-8", buffering=1)  # line-buffered
        self.lines = 0

    def write(self, doc: dict[str, Any]) -> None:
        self._file.write(dumps(doc) + "\n")
        self.lines += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


class VideoFileWriter:
    """MP4 (mp4v) writer at a fixed size."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        self.size = size
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise OutputError(f"cannot open {path} for writing", "check the directory and OpenCV's MP4 support")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        self._writer.release()


def percentiles(values: list[float], qs: tuple[int, ...] = (50, 90, 99)) -> dict[str, float | None]:
    if not values:
        return {f"p{q}": None for q in qs} | {"mean": None}
    arr = np.asarray(values, float)
    out = {f"p{q}": round(float(np.percentile(arr, q)), 3) for q in qs}
    out["mean"] = round(float(arr.mean()), 3)
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
