"""``downscale``: INTER_AREA's result, faster, at any ratio."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from livebg.resize import Thumbnails, downscale, downscale_shared

PHOTO = Path(__file__).resolve().parents[1] / "livebg" / "assets" / "backgrounds" / "office.jpg"


def textured(w: int, h: int) -> np.ndarray:
    """The bundled office background at (w, h): edges and texture, like a camera frame."""
    photo = cv2.imread(str(PHOTO))
    assert photo is not None, PHOTO
    return cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("src,dst", [((1280, 720), (160, 90)), ((1280, 720), (128, 72)),
                                     ((1280, 720), (256, 144)), ((1366, 768), (160, 90)),
                                     ((640, 480), (160, 120)), ((300, 200), (200, 150))])
def test_downscale_matches_inter_area(src, dst):
    frame = textured(*src)
    out = downscale(frame, dst)
    ref = cv2.resize(frame, dst, interpolation=cv2.INTER_AREA)
    assert out.shape == ref.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - ref)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 6


def test_downscale_of_a_power_of_two_is_block_averaging():
    frame = textured(1280, 720)
    out = downscale(frame, (160, 90)).astype(float)
    blocks = frame.reshape(90, 8, 160, 8, 3).mean(axis=(1, 3))
    assert np.abs(out - blocks).max() <= 1.5  # rounding once per halving


def test_downscale_same_size_is_the_input_and_mask_sized_inputs_work():
    frame = textured(160, 90)
    assert downscale(frame, (160, 90)) is frame
    mask = np.zeros((720, 1280), np.float32)
    mask[:, :640] = 1
    small = downscale(mask, (160, 90))
    assert small.shape == (90, 160) and small[:, :79].min() == 1 and small[:, 81:].max() == 0


def test_thumbnails_are_made_once_per_size_and_only_for_their_own_frame():
    frame = textured(1280, 720)
    thumbnails = Thumbnails(frame)
    small = thumbnails.get((160, 90))
    assert np.array_equal(small, downscale(frame, (160, 90)))
    assert thumbnails.get((160, 90)) is small  # the second stage gets the same array
    assert downscale_shared(frame, (160, 90), thumbnails) is small
    other = frame[:, ::-1]  # e.g. the mirrored frame: same shape, another picture
    flipped = downscale_shared(other, (160, 90), thumbnails)
    assert flipped is not small and np.array_equal(flipped, downscale(other, (160, 90)))
    assert np.array_equal(downscale_shared(frame, (256, 144), None),
                          downscale(frame, (256, 144)))


def test_thumbnails_of_other_sizes_share_the_halvings_and_give_the_same_pixels():
    frame = textured(1280, 720)
    thumbnails = Thumbnails(frame)
    for size in [(256, 144), (160, 90), (640, 360), (100, 50)]:
        assert np.array_equal(thumbnails.get(size), downscale(frame, size))
    assert [h.shape[:2] for h in thumbnails._halvings] == [(360, 640), (180, 320), (90, 160)]
    assert thumbnails.get((640, 360)) is thumbnails._halvings[0]  # a halving is the answer
