"""Frame sources: resizing at the source, frame counting, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ros_detect.errors import ConfigError, InputError
from ros_detect.media.sources import OUTPUT_SIZE, VideoSource, resize_to_output, source_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("shape", [(720, 1280), (360, 640), (240, 427), (120, 200)])
def test_resize_16_9_gives_output_size(shape):
    out = resize_to_output(np.full((*shape, 3), 128, np.uint8))
    assert out.shape == (240, 427, 3) and out.dtype == np.uint8


def test_pad_keeps_aspect_with_black_bars():
    square = np.full((480, 480, 3), 200, np.uint8)
    out = resize_to_output(square, aspect="pad")
    assert out.shape == (240, 427, 3)
    assert out[:, :50].max() == 0 and out[:, -50:].max() == 0  # side bars
    assert out[:, 100:320].min() == 200  # content, not stretched


def test_crop_fills_frame_and_stretch_distorts():
    square = np.full((480, 480, 3), 200, np.uint8)
    assert resize_to_output(square, aspect="crop").min() == 200
    assert resize_to_output(square, aspect="stretch").min() == 200


def test_unknown_aspect_is_a_config_error():
    with pytest.raises(ConfigError, match="aspect"):
        resize_to_output(np.zeros((10, 10, 3), np.uint8), aspect="zoom")


def test_video_source_reads_every_frame_resized(clip_path):
    with VideoSource(str(clip_path)) as src:
        assert src.expected_frames == 12
        frames = list(src)
    assert [f.seq for f in frames] == list(range(12))
    assert all(f.image.shape == (240, 427, 3) for f in frames)
    assert frames[1].media_time_s == pytest.approx(1 / 12, abs=1e-3)
    assert all(f.decode_ms > 0 for f in frames)


def test_start_and_stop_frame(clip_path):
    with VideoSource(str(clip_path), start_frame=3, stop_frame=7) as src:
        assert src.expected_frames == 4
        assert [f.seq for f in src] == [3, 4, 5, 6]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        VideoSource(str(tmp_path / "nope.mp4"))


def test_not_a_video_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video\n" * 100)
    with pytest.raises(InputError, match="cannot decode"):
        VideoSource(str(bogus))


def test_source_ids_are_topic_safe():
    assert source_id("/data/london walk.mp4") == "london_walk"
    assert source_id("0") == "camera0"
    assert source_id("/dev/video2") == "video2"
    assert source_id("http://127.0.0.1:8080/stream.mjpg").replace("_", "").isalnum()
    assert OUTPUT_SIZE == (427, 240)
