"""Multi-level RoIAlign on one image as a sparse interpolation matrix, numerically equivalent to
torchvision's `MultiScaleRoIAlign` (same level mapping, aligned=False, fixed sampling_ratio).

With a fixed sampling grid every output bin is a fixed linear combination of at most (2*sampling)^2
pixels of its RoI's level (bilinear: 2 taps per sample per axis), and the interpolation is separable.
So the whole multi-level RoIAlign is one sparse matrix (R*P*P rows x sum(H*W) columns) times all levels
stacked channels-last (the "table", sum(H*W) x C). The matrix is built in a few vectorised torch ops and
applied with `torch.nn.functional.embedding_bag(mode="sum", per_sample_weights=...)`: about 10x less CPU
than torchvision's roi_align at 300 RoIs (docs/benchmarks.md).

Rows come out channels-last, (h, w, c) order; `fc6_weight_for_rows` reorders fc6's input columns to match,
so the box head needs no transpose. Rules copied from torchvision (ops/poolers.py, roi_align_kernel.cpp):
- level = floor(4 + log2(sqrt(area) / 224) + 1e-6) clamped to the pooled levels
- scale per level = 2 ** round(log2(feature_h / image_h))
- aligned=False: roi = box * scale, size max(size, 1), sample at start + (p + (i + 0.5) / sampling) * bin
- a sample outside [-1, extent] adds 0 but still counts in the average; coordinates <= 0 clamp to 0;
  a low tap at or past extent-1 puts all weight on extent-1
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

CANONICAL_SCALE, CANONICAL_LEVEL, EPS = 224, 4, 1e-6


def level_scales(feature_shapes: list[tuple[int, int]], image_size: tuple[int, int]) -> list[float]:
    """torchvision's MultiScaleRoIAlign scale inference (height axis) per level."""
    return [2.0 ** round(math.log2(h / image_size[0])) for h, _ in feature_shapes]


def map_levels(boxes: torch.Tensor, scales: list[float]) -> torch.Tensor:
    """torchvision's LevelMapper op for op (ties round identically); 0-based level per box."""
    k_min, k_max = int(-math.log2(scales[0])), int(-math.log2(scales[-1]))
    size = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    level = torch.floor(CANONICAL_LEVEL + torch.log2(size / CANONICAL_SCALE) + torch.tensor(EPS, dtype=size.dtype))
    return torch.clamp(level, min=k_min, max=k_max).to(torch.int64) - k_min


@dataclass(frozen=True)
class RoiPooler:
    """The multi-level RoIAlign of one model at one input size (levels in the pooler's order)."""

    feature_shapes: tuple[tuple[int, int], ...]  # (H, W) per pooled level
    image_size: tuple[int, int]  # (H, W) of the unpadded input
    output_size: int = 7
    sampling_ratio: int = 2

    @classmethod
    def of_model(cls, model: Any, feature_shapes: list[tuple[int, int]], image_size: tuple[int, int]) -> RoiPooler:
        """The pooler of a torchvision detector's box head; refuses settings this matrix cannot reproduce."""
        pool = model.roi_heads.box_roi_pool
        size = pool.output_size
        size = size if isinstance(size, int) else size[0]
        if pool.sampling_ratio <= 0 or list(pool.output_size) != [size, size]:
            raise ValueError(f"adaptive sampling or non-square RoI output not supported: {pool}")
        return cls(tuple(feature_shapes), image_size, size, pool.sampling_ratio)

    @property
    def table_rows(self) -> int:
        return sum(h * w for h, w in self.feature_shapes)

    def _axis_taps(
        self, start: torch.Tensor, size: torch.Tensor, extent: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per RoI and bin along one axis: 2*sampling tap indices and weights (average folded in), (R, P, 2S)."""
        pool, samples = self.output_size, self.sampling_ratio
        dt = start.dtype
        bin_size = (size / pool)[:, None, None]
        p = torch.arange(pool, dtype=dt)[None, :, None]
        i = torch.arange(samples, dtype=dt)[None, None, :]
        # evaluated in torchvision's order so the float rounding matches
        c = start[:, None, None] + p * bin_size + (i + 0.5) * bin_size / samples
        lim = extent[:, None, None]
        valid = (c >= -1.0) & (c <= lim)
        c = torch.clamp(c, min=0.0)
        low = c.to(torch.int64)  # truncation is floor for c >= 0
        top = (lim - 1).to(torch.int64)
        at_edge = low >= top
        low = torch.where(at_edge, top, low)
        high = torch.where(at_edge, top, low + 1)
        frac = torch.where(at_edge, low.to(dt), c) - low.to(dt)
        weight = torch.stack([1.0 - frac, frac], -1) * (valid[..., None] / samples)
        idx = torch.stack([low, high], -1)
        return idx.reshape(-1, pool, 2 * samples), weight.reshape(-1, pool, 2 * samples)

    def interpolation(self, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sparse matrix packed as indices and weights, each (R*P*P, (2S)^2).

        Row r*P*P + ph*P + pw holds bin (ph, pw) of RoI r; indices point into the table
        (offset of the level + y * W + x).
        """
        boxes = boxes.to(torch.float32)
        scales = level_scales(list(self.feature_shapes), self.image_size)
        level = map_levels(boxes, scales)
        heights = torch.tensor([h for h, _ in self.feature_shapes], dtype=torch.float32)[level]
        widths = torch.tensor([w for _, w in self.feature_shapes], dtype=torch.float32)[level]
        sizes = [h * w for h, w in self.feature_shapes]
        offsets = torch.tensor([sum(sizes[:k]) for k in range(len(sizes))], dtype=torch.int64)[level]
        scale = torch.tensor(scales, dtype=torch.float32)[level]
        x1, y1, x2, y2 = (boxes[:, k] * scale for k in range(4))
        iy, wy = self._axis_taps(y1, torch.clamp(y2 - y1, min=1.0), heights)
        ix, wx = self._axis_taps(x1, torch.clamp(x2 - x1, min=1.0), widths)
        # outer products over (bin y, bin x, tap y, tap x)
        rows = offsets[:, None, None] + iy * widths.to(torch.int64)[:, None, None]
        idx = rows[:, :, None, :, None] + ix[:, None, :, None, :]
        weight = wy[:, :, None, :, None] * wx[:, None, :, None, :]
        taps = (2 * self.sampling_ratio) ** 2
        return idx.reshape(-1, taps), weight.reshape(-1, taps)

    def rows(self, table: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Pooled features (R, P*P*C) in (h, w, c) order from the channels-last table (sum(H*W), C)."""
        idx, weight = self.interpolation(boxes)
        pooled = torch.nn.functional.embedding_bag(idx, table, per_sample_weights=weight.to(table.dtype), mode="sum")
        return pooled.view(boxes.shape[0], -1)

    def __call__(self, features: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        """torchvision's layout: (R, C, P, P) from NCHW levels of one image (batch 1)."""
        channels = features[0].shape[1]
        rows = self.rows(stack_levels(features), boxes)
        return rows.view(-1, self.output_size, self.output_size, channels).permute(0, 3, 1, 2)


def stack_levels(features: list[torch.Tensor]) -> torch.Tensor:
    """[(1, C, H, W) per level] -> the channels-last table (sum H*W, C)."""
    return torch.cat([f[0].permute(1, 2, 0).reshape(-1, f.shape[1]) for f in features], 0).contiguous()


def fc6_weight_for_rows(weight: torch.Tensor, channels: int, output_size: int) -> torch.Tensor:
    """fc6's weight (out, C*P*P) reordered from (c, h, w) input columns to the rows' (h, w, c)."""
    out = weight.shape[0]
    return weight.view(out, channels, output_size, output_size).permute(0, 2, 3, 1).reshape(out, -1).contiguous()
