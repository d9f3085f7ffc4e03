"""Segmentation losses: BCE + soft IoU, with extra weight in a band around the edge;
optionally a distillation term towards a larger teacher's probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def edge_band(mask: torch.Tensor, width: int = 5) -> torch.Tensor:
    """1 on pixels within ``width // 2`` px of the person's outline, else 0 (N×1×H×W)."""
    pad = width // 2
    dilated = F.max_pool2d(mask, width, stride=1, padding=pad)
    eroded = -F.max_pool2d(-mask, width, stride=1, padding=pad)
    return dilated - eroded


def soft_iou_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """1 - soft Jaccard per image, averaged: region-level, so a small person counts as
    much as a large one (the foreground-imbalance handling). ``weight`` (0..1 a pixel)
    leaves ignored pixels out of both the intersection and the union."""
    dims = (1, 2, 3)
    w = 1.0 if weight is None else weight
    inter = (w * probs * target).sum(dims)
    union = (w * (probs + target - probs * target)).sum(dims)
    return (1 - (inter + eps) / (union + eps)).mean()


def dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    dims = (1, 2, 3)
    inter = (probs * target).sum(dims)
    return (1 - (2 * inter + eps) / (probs.sum(dims) + target.sum(dims) + eps)).mean()


def lovasz_hinge_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lovász hinge per image, averaged (Berman et al. 2018): a convex surrogate of
    1 - IoU of the *thresholded* mask, so it optimises the metric itself, where soft IoU
    optimises it on probabilities. Best as a fine-tune after BCE + soft IoU."""
    losses = []
    for image_logits, image_target in zip(logits.flatten(1), target.flatten(1)):
        signs = 2 * image_target - 1
        errors = 1 - image_logits * signs
        errors_sorted, order = torch.sort(errors, descending=True)
        target_sorted = image_target[order]
        # gradient of the Lovász extension of the Jaccard loss at the sorted errors
        positives = target_sorted.sum()
        intersection = positives - target_sorted.cumsum(0)
        union = positives + (1 - target_sorted).cumsum(0)
        jaccard = 1 - intersection / union
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
        losses.append(torch.dot(F.relu(errors_sorted), jaccard))
    return torch.stack(losses).mean()


REGION_LOSSES = ("iou", "dice", "lovasz")


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, edge_weight: float = 4.0,
                      region: str = "iou", pixel_weight: torch.Tensor | None = None,
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """Edge-weighted BCE + a region loss. Returns the loss and its parts for logging.

    ``target`` may be soft (a teacher's probability); ``pixel_weight`` (0..1, N×1×H×W)
    scales each pixel's share of the BCE and the soft IoU, 0 = ignored (where a
    pseudo-label's teachers disagree). The Lovász hinge needs hard labels: it sees the
    target thresholded at 0.5 and no pixel weight."""
    hard = (target > 0.5).float()
    weights = 1.0 + edge_weight * edge_band(hard)
    if pixel_weight is not None:
        weights = weights * pixel_weight
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weights)
    if region == "lovasz":
        region_loss = lovasz_hinge_loss(logits, hard)
    elif region == "dice":
        region_loss = dice_loss(torch.sigmoid(logits), target)
    else:
        region_loss = soft_iou_loss(torch.sigmoid(logits), target, weight=pixel_weight)
    total = bce + region_loss
    return total, {"bce": bce.item(), region: region_loss.item()}


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """BCE towards a teacher's soft probabilities: they carry how sure the larger model is
    near the outline, which hard 0/1 masks cannot tell a small student."""
    return F.binary_cross_entropy_with_logits(logits, teacher_probs)
