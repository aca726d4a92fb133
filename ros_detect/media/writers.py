"""Output files: JSONL streams flushed per line, the annotated MP4, and summary.json."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.errors import OutputError
from ros_detect.schema import dumps


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
    """H.264 MP4 at exactly the frame size, via PyAV.

    OpenCV's FFmpeg writers round 427 down to 426 (4:2:0 chroma needs even widths), so frames are
    encoded as 4:4:4, which keeps the odd width. Some browsers only play 4:2:0; VLC/ffplay play both.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], crf: int = 23) -> None:
        import av

        self.path = path
        self.size = size
        try:
            self._container = av.open(str(path), mode="w")
        except OSError as exc:
            raise OutputError(f"cannot open {path} for writing ({exc})", "check the output directory") from exc
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuv444p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._stream.thread_count = 1  # a 427x240 frame encodes in ~1 ms; the cores belong to inference
        self._av = av
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        video_frame = self._av.VideoFrame.from_ndarray(frame, format="bgr24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
