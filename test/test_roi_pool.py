"""The sparse-matrix RoIAlign equals torchvision's MultiScaleRoIAlign (level mapping, edges, degenerate boxes)."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign

from ros_detect.detection.roi_pool import RoiPooler, fc6_weight_for_rows, stack_levels

pytestmark = pytest.mark.unit

IMAGE = (240, 427)
SHAPES = [(64, 112), (32, 56), (16, 28), (8, 14)]  # ResNet-50 FPN P2..P5 of the 256x448 padded input


def _boxes(n: int, gen: torch.Generator) -> torch.Tensor:
    """Sizes from 1 px to the whole frame, partly outside the image, plus degenerate and edge boxes."""
    size = torch.exp(torch.rand(n, 2, generator=gen) * 6.2)  # 1 .. ~490 px
    centre = torch.rand(n, 2, generator=gen) * torch.tensor([IMAGE[1] + 40, IMAGE[0] + 40]) - 20
    boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
    special = torch.tensor(
        [[0, 0, 0, 0], [5, 5, 5, 9], [0, 0, 427, 240], [426, 239, 427, 240], [-30, -30, 2, 2], [100, 50, 100.5, 50.2]],
        dtype=torch.float32,
    )
    return torch.cat([boxes, special])


def test_matches_torchvision_multiscale_roi_align():
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, 256, h, w, generator=gen) * 10 for h, w in SHAPES]
    boxes = _boxes(1000, gen)
    reference = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, sampling_ratio=2)(
        {str(k): f for k, f in enumerate(feats)}, [boxes], [IMAGE]
    )
    ours = RoiPooler(tuple(SHAPES), IMAGE)(feats, boxes)
    assert ours.shape == reference.shape == (boxes.shape[0], 256, 7, 7)
    assert (ours - reference).abs().max().item() < 1e-4  # values reach ~40: float rounding only


def test_two_level_model_and_row_layout_feed_fc6():
    gen = torch.Generator().manual_seed(1)
    shapes = [(16, 28), (8, 14)]  # MobileNet FPN levels: strides 16 and 32
    feats = [torch.randn(1, 8, h, w, generator=gen) for h, w in shapes]
    boxes = _boxes(200, gen)
    reference = MultiScaleRoIAlign(["0", "1"], 7, sampling_ratio=2)({"0": feats[0], "1": feats[1]}, [boxes], [IMAGE])
    pooler = RoiPooler(tuple(shapes), IMAGE)
    rows = pooler.rows(stack_levels(feats), boxes)
    weight = torch.randn(16, 8 * 49, generator=gen)
    fc6_on_rows = rows @ fc6_weight_for_rows(weight, 8, 7).T
    torch.testing.assert_close(fc6_on_rows, reference.flatten(1) @ weight.T, atol=1e-4, rtol=1e-4)
