"""Edge-aware upsampling of model-resolution masks (livebg.upsample)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livebg.resize import Thumbnails
from livebg.upsample import upsample_mask


def step_frame(edge_x: int, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A dark person (left of ``edge_x``) before a bright wall, with sensor-like noise."""
    w, h = size
    frame = np.full((h, w, 3), 190, np.uint8)
    frame[:, :edge_x] = (60, 70, 80)
    noise = np.random.default_rng(0).normal(0, 2, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def blurry_mask(edge_x: float, size: tuple[int, int]) -> np.ndarray:
    """What a small network gives: a soft step, a little off the true edge."""
    w, h = size
    x = np.arange(w, dtype=np.float32) + 0.5
    ramp = 0.5 * (1 - np.tanh((x - edge_x) / 2.4))
    return np.tile(ramp.astype(np.float32), (h, 1))


def crossing(row: np.ndarray) -> float:
    """Where a row first falls below 0.5, in its own pixels."""
    return float(np.argmax(row < 0.5))


@pytest.mark.parametrize("offset", [1.5, -1.5])
def test_outline_moves_onto_the_picture_edge_and_stays_crisp(offset):
    """A mask 1.5 of its pixels (6 frame pixels) left or right of the person's edge."""
    frame = step_frame(edge_x=206)  # at 640 px wide; the mask is 160 wide (4x smaller)
    mask = blurry_mask(edge_x=206 / 4 - offset, size=(160, 90))
    up = upsample_mask(mask, frame, Thumbnails(frame))
    assert up.shape == (180, 320) and up.dtype == np.float32
    bilinear = cv2.resize(mask, (320, 180), interpolation=cv2.INTER_LINEAR)
    true_edge = 206 / 2
    assert np.all(np.abs([crossing(row) - true_edge for row in bilinear]) >= 2.5)
    assert np.all(np.abs([crossing(row) - true_edge for row in up]) <= 1)  # on the picture's
    # away from the outline the alpha is 0 or 1, not a translucent ramp
    assert up[:, :80].min() == 1.0 and up[:, 130:].max() == 0.0


@pytest.mark.parametrize("mask_size,guide", [((160, 90), (320, 180)), ((256, 144), (320, 180))])
def test_guides_come_from_the_frames_thumbnails(mask_size, guide):
    """At 720p the U-Net's 160x90 mask and MediaPipe's 256x144 both take the 320x180 halving
    as the fine guide: no new downscale of the frame beyond the mask's own size."""
    frame = step_frame(edge_x=400, size=(1280, 720))
    thumbnails = Thumbnails(frame)
    thumbnails.get(mask_size)  # the segmenter's input, made on the way to the mask
    up = upsample_mask(blurry_mask(mask_size[0] * 0.3, mask_size), frame, thumbnails)
    assert up.shape == guide[::-1]
    assert set(thumbnails._made) == {mask_size, guide}
    without = upsample_mask(blurry_mask(mask_size[0] * 0.3, mask_size), frame)
    assert without.shape == (2 * mask_size[1], 2 * mask_size[0])  # exact 2x when none exist


def test_a_mask_at_the_frames_size_is_left_alone():
    frame = step_frame(edge_x=100, size=(200, 100))
    mask = blurry_mask(50, (200, 100))
    assert upsample_mask(mask, frame) is mask
    assert upsample_mask(blurry_mask(50, (150, 75)), frame).shape == (100, 200)  # capped
