"""Several segmenters averaged: the photo default when MediaPipe is installed.

The U-Net and MediaPipe make different mistakes. The U-Net finds the small and partly hidden
people of a group that MediaPipe drops; MediaPipe rejects the flags, animals and shapes
beside a person that the U-Net keeps. MediaPipe Pose (``livebg.segment.pose``) is a third
kind: it outlines whole bodies one person at a time, limbs and legs included, and finds no
one in an object. Where one of them is sure alone, their weighted mean sits below 0.5, so a
pixel is called person only when the others lean that way too. Photos have no frame rate to
keep, so they can pay for four networks (the ``ensemble`` model):

    ensemble = 2 × U-Net + 1 × MediaPipe landscape + 1 × MediaPipe general + 2 × pose,
               each +tta; the pose model has no vote in a photo where it finds no one

Photo path, every model mirror-averaged, shipped U-Net / MediaPipe / ensemble without pose /
ensemble: EG1800 mIoU 95.93 / 96.22 / 96.63 / 96.81; realworld/val 73.57 / 70.87 / 73.82 /
77.17, its single-person photos 75.43 / 76.41 / 78.32 / 80.14, its groups 71.35 / 64.26 /
68.45 / 73.62 (stage 30, ``decisive``; ``assets/MODEL.md``, sessions 9 and 16).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from livebg.resize import Thumbnails
from livebg.segment.base import Segmenter, SegmenterBase, abstains
from livebg.segment.mirror import TTA_SUFFIX, FlipAveraged, infer_mirrored

ENSEMBLE_NAME = "ensemble"
# U-Net, MediaPipe landscape, MediaPipe general, MediaPipe Pose: the two selfie models share
# one vote (they agree with each other far more than with the U-Net), so three kinds of model
# vote equally. 2:1:1 was chosen among 1:1, 1:1:1 and 3:2 (session 9); the pose model's 2
# among 1 to 3, and against a weaker "no" where it misses a person (assets/MODEL.md, 16).
DEFAULT_WEIGHTS = (2.0, 1.0, 1.0, 2.0)
# The photo mask's contrast around the decision: a weighted mean leaves a plateau at 0.5
# wherever its votes split evenly (the U-Net against both selfie models), which a linear
# alpha shows half see-through and a PNG stores as 128, person to anyone thresholding at 127.
PHOTO_GAIN = 3.0
# The decision point sits one step of 8-bit above 0.5, so an exact tie is background both in
# the float mask (> 0.5) and in the written PNG (> 127).
DECISION_POINT = 0.5 + 1.0 / 255


def decisive(prob: np.ndarray, gain: float = PHOTO_GAIN,
             centre: float = DECISION_POINT) -> np.ndarray:
    """``prob`` stretched ``gain`` times around ``centre`` and clipped to [0, 1] (float32):
    the same person/background decision everywhere except at an exact tie, which falls just
    under 0.5 (124 of 255 at gain 3: background to every threshold, still half drawn), and a
    narrower ramp along the outlines. On realworld/val the written mask then scores what the
    float mask scores (session 12, ``assets/MODEL.md``)."""
    if gain <= 0:
        raise ValueError(f"gain must be positive, not {gain}")
    out = np.asarray(prob, dtype=np.float32) - np.float32(centre)
    out *= np.float32(gain)
    out += np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


def weighted_mean(masks: Sequence[np.ndarray], weights: Sequence[float],
                  size: tuple[int, int] | None = None) -> np.ndarray:
    """The weighted mean of probability maps of any sizes, at ``size`` (w, h) or else the
    largest one's size (bilinear, float32). A member that ``abstains`` is left out, its
    weight with it; where all do, the mean is 0 (no one)."""
    if not masks or len(masks) != len(weights):
        raise ValueError(f"{len(masks)} masks for {len(weights)} weights")
    if size is None:
        height, width = max((m.shape for m in masks), key=lambda shape: shape[0] * shape[1])
    else:
        width, height = size
    out = np.zeros((height, width), np.float32)
    votes = [(mask, weight) for mask, weight in zip(masks, weights) if not abstains(mask)]
    total = float(sum(weight for _, weight in votes))
    if total <= 0:
        return out
    for mask, weight in votes:
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        cv2.scaleAdd(mask, weight / total, out, dst=out)
    return out


def _common_size(masks: Sequence[np.ndarray], frame_bgr: np.ndarray) -> tuple[int, int]:
    """The widest member's width at the frame's shape: members may squeeze the frame into
    their own input (MediaPipe general: 256×256), the average must not."""
    height, width = frame_bgr.shape[:2]
    widest = min(max(m.shape[1] for m in masks), width)
    return widest, max(1, round(widest * height / width))


class Ensemble(SegmenterBase):
    """``members``' probabilities averaged with ``weights`` (``weighted_mean``): ``infer``
    at the widest member's width and the frame's shape (video), ``predict`` at the frame's
    size (photos). ``+tta`` mirror-averages each member (``mirror_each``), ``+alt`` the
    whole. The ensemble's device is its first member's."""

    def __init__(self, members: Sequence[Segmenter], weights: Sequence[float] | None = None,
                 name: str = ENSEMBLE_NAME) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one segmenter")
        weights = tuple(weights) if weights is not None else (1.0,) * len(members)
        if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights {weights} do not fit {len(members)} members")
        self.members, self.weights = list(members), weights
        self.name, self.device = name, members[0].device
        self._closed = False

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        masks = [m.infer(frame_bgr, thumbnails) for m in self.members]
        return weighted_mean(masks, self.weights, _common_size(masks, frame_bgr))

    def infer_mirrored(self, frame_bgr: np.ndarray,
                       thumbnails: Thumbnails | None = None) -> np.ndarray:
        masks = [infer_mirrored(m, frame_bgr, thumbnails) for m in self.members]
        return weighted_mean(masks, self.weights, _common_size(masks, frame_bgr))

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The members' photo masks (each refined along the picture's edges at its own
        resolution) averaged, then made ``decisive``: on EG1800 96.7 mIoU, against 96.5 for
        one refinement of the averaged low-resolution masks (stage 18 inside). ``infer``
        (video) stays the plain mean: the smoother after it decides there."""
        masks = [m.predict(frame_bgr) for m in self.members]
        return decisive(weighted_mean(masks, self.weights))

    def mirror_each(self) -> Ensemble:
        """The ensemble of its members each mirror-averaged (``+tta``), so that ``predict``
        still averages full-size masks. Closing it closes the members."""
        return Ensemble([FlipAveraged(m) for m in self.members], self.weights,
                        name=f"{self.name}{TTA_SUFFIX}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for member in self.members:
            member.close()
