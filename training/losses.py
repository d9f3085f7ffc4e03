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


def soft_iou_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Jaccard per image, averaged: region-level, so a small person counts as
    much as a large one (the foreground-imbalance handling)."""
    dims = (1, 2, 3)
    inter = (probs * target).sum(dims)
    union = (probs + target - probs * target).sum(dims)
    return (1 - (inter + eps) / (union + eps)).mean()


def dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    dims = (1, 2, 3)
    inter = (probs * target).sum(dims)
    return (1 - (2 * inter + eps) / (probs.sum(dims) + target.sum(dims) + eps)).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, edge_weight: float = 4.0,
                      region: str = "iou") -> tuple[torch.Tensor, dict[str, float]]:
    """Edge-weighted BCE + a region loss. Returns the loss and its parts for logging."""
    weights = 1.0 + edge_weight * edge_band(target)
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weights)
    probs = torch.sigmoid(logits)
    region_loss = soft_iou_loss(probs, target) if region == "iou" else dice_loss(probs, target)
    total = bce + region_loss
    return total, {"bce": bce.item(), region: region_loss.item()}


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """BCE towards a teacher's soft probabilities: they carry how sure the larger model is
    near the outline, which hard 0/1 masks cannot tell a small student."""
    return F.binary_cross_entropy_with_logits(logits, teacher_probs)
