"""The -o recorder of `ros-detect launch`: image, detections and main_person arrive on three topics in any
order; every frame is drawn once, in frame order, with its own detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ros_detect.media.sources import OUTPUT_SIZE
from ros_detect.pipeline.recorder import GraphRecorder

pytestmark = pytest.mark.unit
W, H = OUTPUT_SIZE


def _stamp(seq: int) -> dict[str, int]:
    return {"sec": 100 + seq, "nanosec": 0}


def _ns(seq: int) -> int:
    return (100 + seq) * 10**9


def _det(seq: int) -> dict:
    box = {"box": [10.0, 10.0, 60.0, 200.0], "score": 0.9, "class_id": 1, "label": "person"}
    return {"seq": seq, "stamp": _stamp(seq), "frame_id": "cam", "detections": [box], "timing_ms": {}}


def _main(seq: int) -> dict:
    box = [10.0, 10.0, 60.0, 200.0]
    return {"seq": seq, "stamp": _stamp(seq), "present": True, "box": box, "score": 0.9, "track_id": 1, "held": False}


def _image(seq: int) -> np.ndarray:
    return np.full((H, W, 3), seq, np.uint8)


class Drawn(list):
    """Stands in for the video writer: keeps (first pixel value = frame seq) of every frame written."""

    def write(self, frame: np.ndarray) -> None:
        self.append(int(frame[H - 1, W - 1, 0]))

    def close(self) -> None:
        pass


def _recorder(tmp_path: Path) -> tuple[GraphRecorder, Drawn]:
    rec = GraphRecorder(tmp_path / "out", fps=10.0, write_video=True)
    rec.video.close()
    rec.video = drawn = Drawn()
    return rec, drawn


def test_frames_are_drawn_in_order_whatever_order_their_parts_arrive_in(tmp_path: Path) -> None:
    """Each topic comes in order from its one publisher; across topics anything goes."""
    rec, drawn = _recorder(tmp_path)
    rec.on_main_person(_main(0))  # main_person overtook its image and its detections
    rec.on_main_person(_main(1))
    rec.on_image(_ns(0), _image(0))
    assert drawn == []  # its detections are not there yet
    rec.on_image(_ns(1), _image(1))
    rec.on_detections(_det(0))
    assert drawn == [0]
    rec.on_detections(_det(1))
    assert drawn == [0, 1]
    rec.on_image(_ns(2), _image(2))
    rec.on_detections(_det(2))
    rec.on_main_person(_main(2))
    assert drawn == [0, 1, 2] and rec.frames_without_image == 0 and not rec.pending


def test_a_lost_image_is_counted_once_a_newer_one_arrived_and_close_draws_what_waits(tmp_path: Path) -> None:
    rec, drawn = _recorder(tmp_path)
    rec.on_detections(_det(0))
    rec.on_main_person(_main(0))
    rec.on_image(_ns(1), _image(1))  # image 0 never comes (best effort): 1 is newer, so 0 is lost
    assert drawn == [] and rec.frames_without_image == 1
    rec.on_detections(_det(1))
    rec.on_main_person(_main(1))
    assert drawn == [1]
    rec.on_image(_ns(2), _image(2))
    rec.on_main_person(_main(2))  # its detections are still on their way when the run stops
    rec.close()
    assert drawn == [1, 2]
    assert rec.main_person_received == 3 and rec.detections_received == 2
