"""Mask quality metrics on binary masks (numpy, any size).

mIoU follows PortraitNet's convention: the person IoU of each image, averaged over
images. We also report class-mean IoU (person and background averaged) for clarity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


def _boundary(mask: np.ndarray) -> np.ndarray:
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    return mask.astype(bool) & ~eroded.astype(bool)


def boundary_f_score(pred: np.ndarray, target: np.ndarray, tolerance: int = 3) -> float:
    """F-score of outline pixels matched within ``tolerance`` px (DAVIS-style)."""
    pred_b, target_b = _boundary(pred), _boundary(target)
    if not pred_b.any() and not target_b.any():
        return 1.0
    if not pred_b.any() or not target_b.any():
        return 0.0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    target_zone = cv2.dilate(target_b.astype(np.uint8), kernel).astype(bool)
    pred_zone = cv2.dilate(pred_b.astype(np.uint8), kernel).astype(bool)
    precision = (pred_b & target_zone).sum() / pred_b.sum()
    recall = (target_b & pred_zone).sum() / target_b.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def image_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    pred, target = pred.astype(bool), target.astype(bool)
    inter, union = (pred & target).sum(), (pred | target).sum()
    bg_inter, bg_union = (~pred & ~target).sum(), (~pred | ~target).sum()
    iou = 1.0 if union == 0 else inter / union
    bg_iou = 1.0 if bg_union == 0 else bg_inter / bg_union
    dice = 1.0 if pred.sum() + target.sum() == 0 else 2 * inter / (pred.sum() + target.sum())
    return {
        "iou": float(iou),
        "class_miou": float((iou + bg_iou) / 2),
        "dice": float(dice),
        "pixel_acc": float((pred == target).mean()),
        "boundary_f": boundary_f_score(pred, target),
    }


@dataclass
class MetricAccumulator:
    """Collects per-image scores; ``summary()`` gives the means in percent."""

    per_image: list[dict[str, float]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, pred: np.ndarray, target: np.ndarray, name: str = "") -> dict[str, float]:
        scores = image_scores(pred, target)
        self.per_image.append(scores)
        self.names.append(name)
        return scores

    def summary(self, indices: list[int] | None = None) -> dict[str, float]:
        """Means in percent over all images, or over those at ``indices`` (a subset)."""
        images = self.per_image if indices is None else [self.per_image[i] for i in indices]
        if not images:
            return {}
        keys = images[0].keys()
        out = {k: 100 * float(np.mean([s[k] for s in images])) for k in keys}
        out["miou"] = out.pop("iou")
        out["n"] = len(images)
        return out

    def worst(self, k: int = 8) -> list[tuple[str, float]]:
        order = np.argsort([s["iou"] for s in self.per_image])[:k]
        return [(self.names[i], self.per_image[i]["iou"]) for i in order]


def people_in(mask: np.ndarray, min_share: float = 0.005) -> int:
    """How many people a binary mask shows, counted as its connected parts covering at least
    ``min_share`` of the image (people who overlap count as one, a far-away speck as none):
    enough to split a set into single-person and group photos."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_share * mask.size).sum())
