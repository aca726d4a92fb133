"""Shared fixtures: generated clips and a small random-init detector."""

from __future__ import annotations

from pathlib import Path

import pytest

from ros_detect.media.synthetic import generate_clip


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame 640x360 synthetic MP4 clip."""
    return generate_clip(tmp_path_factory.mktemp("clips") / "walk.mp4", frames=12, fps=12.0)


@pytest.fixture(scope="session")
def random_detector():
    """The reference model with random-init weights, built once per test session."""
    from ros_detect.detection.detector import Detector, DetectorConfig
    from ros_detect.detection.models import ModelSpec

    return Detector(DetectorConfig(model=ModelSpec(weights="none", score_threshold=0.0, proposals=100), threads=2))
