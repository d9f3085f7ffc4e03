"""Flicker metrics on sequences whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from livebg.flicker import (
    flicker_report,
    flips_per_frame,
    iou,
    mean_abs_change,
    static_region,
)


def test_a_still_sequence_scores_zero() -> None:
    seq = [np.full((8, 8), 0.7, np.float32)] * 5
    assert mean_abs_change(seq) == 0.0 and flips_per_frame(seq) == 0.0


def test_blinking_pixels_are_counted_every_frame() -> None:
    a = np.zeros((10, 10), np.float32)
    b = a.copy()
    b[:2, :3] = 1.0  # 6 pixels blink on and off
    seq = [a, b, a, b, a]
    assert flips_per_frame(seq) == 6.0
    assert mean_abs_change(seq) == pytest.approx(6 / 100)


def test_small_wobble_changes_but_does_not_flip() -> None:
    seq = [np.full((4, 4), v, np.float32) for v in (0.7, 0.6, 0.7, 0.6)]
    assert flips_per_frame(seq) == 0.0
    assert mean_abs_change(seq) == pytest.approx(0.1)


def test_region_restricts_the_measure() -> None:
    a = np.zeros((4, 4), np.float32)
    b = a.copy()
    b[0, 0] = 1.0
    region = np.ones((4, 4), bool)
    region[0, 0] = False
    assert flips_per_frame([a, b], region) == 0.0
    assert flips_per_frame([a, b]) == 1.0


def test_static_region_excludes_pixels_that_truly_change() -> None:
    a = np.zeros((4, 4), np.float32)
    b = a.copy()
    b[1, 1] = 1.0
    region = static_region([a, a, b])
    assert not region[1, 1] and region.sum() == 15


def test_iou() -> None:
    a = np.zeros((10, 10), np.float32)
    b = a.copy()
    a[:, :5] = 1.0  # 50 pixels
    b[:, 2:6] = 1.0  # 40 pixels, 30 shared
    assert iou(a, b) == pytest.approx(30 / 60)
    assert iou(a, a) == 1.0 and iou(np.zeros_like(a), np.zeros_like(a)) == 1.0


def test_report_ratio() -> None:
    noisy = [np.eye(4, dtype=np.float32), np.zeros((4, 4), np.float32)] * 3
    still = [np.zeros((4, 4), np.float32)] * 6
    mirrored = [np.eye(4, dtype=np.float32)[::-1] * (i % 2) for i in range(6)]
    r_noisy, r_mirrored = flicker_report(noisy), flicker_report(mirrored)
    assert r_mirrored.ratio_to(r_noisy) == (pytest.approx(1.0), pytest.approx(1.0))
    assert flicker_report(still).ratio_to(r_noisy) == (float("inf"), float("inf"))


def test_needs_two_frames() -> None:
    with pytest.raises(ValueError, match=">= 2"):
        mean_abs_change([np.zeros((2, 2), np.float32)])
