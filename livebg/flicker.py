"""Temporal-stability metrics for mask sequences (tests and benchmarks).

All functions take a sequence of float32 hxw masks in [0,1] (same shape) and an optional bool
``region`` (hxw) restricting where to measure, e.g. the pixels whose true label never changes
("static region") to measure flicker, or everything to measure responsiveness.

- ``mean_abs_change``: mean over frames t>=1 of mean |m_t - m_{t-1}| in the region. A perfectly
  stable mask scores 0; uniform noise of amplitude a scores ~a.
- ``flips_per_frame``: mean number of region pixels whose side of ``threshold`` changes from one
  frame to the next; this is what a viewer sees as edge "sparkle".
- ``iou``: intersection over union of two masks thresholded at ``threshold``; compare a smoothed
  sequence with ground truth frame by frame to detect lag/ghosting on motion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FlickerReport",
    "flicker_report",
    "flips_per_frame",
    "iou",
    "mean_abs_change",
    "static_region",
]


def _stack(masks: Sequence[np.ndarray]) -> np.ndarray:
    arr = np.asarray(masks, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise ValueError(f"need a sequence of >= 2 hxw masks, got shape {arr.shape}")
    return arr


def _in_region(diff: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """(T, h, w) → (T, n) restricted to the region's pixels."""
    if region is None:
        return diff.reshape(diff.shape[0], -1)
    return diff[:, region.astype(bool)]


def mean_abs_change(masks: Sequence[np.ndarray], region: np.ndarray | None = None) -> float:
    """Mean |m_t - m_{t-1}| over frames and region pixels."""
    arr = _stack(masks)
    diff = _in_region(np.abs(np.diff(arr, axis=0)), region)
    return float(diff.mean()) if diff.size else 0.0


def flips_per_frame(
    masks: Sequence[np.ndarray], region: np.ndarray | None = None, threshold: float = 0.5
) -> float:
    """Mean count of region pixels per frame that cross ``threshold`` since the last frame."""
    side = _stack(masks) >= threshold
    flips = _in_region(side[1:] != side[:-1], region)
    return float(flips.sum(axis=1).mean())


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of two masks thresholded at ``threshold``; two empty masks count as 1."""
    pa, pb = a >= threshold, b >= threshold
    union = np.logical_or(pa, pb).sum()
    return float(np.logical_and(pa, pb).sum() / union) if union else 1.0


def static_region(truth: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """Pixels whose true label never changes over the sequence (where flicker is pure noise)."""
    side = _stack(truth) >= threshold
    return np.all(side == side[0], axis=0)


@dataclass(frozen=True)
class FlickerReport:
    mean_abs_change: float
    flips_per_frame: float

    def ratio_to(self, other: FlickerReport) -> tuple[float, float]:
        """How many times more flicker ``other`` has than self (per metric; inf if self is 0)."""

        def ratio(a: float, b: float) -> float:
            return b / a if a > 0 else float("inf")

        return (ratio(self.mean_abs_change, other.mean_abs_change),
                ratio(self.flips_per_frame, other.flips_per_frame))


def flicker_report(
    masks: Sequence[np.ndarray], region: np.ndarray | None = None, threshold: float = 0.5
) -> FlickerReport:
    """Both flicker metrics for one sequence."""
    return FlickerReport(mean_abs_change(masks, region),
                         flips_per_frame(masks, region, threshold))
