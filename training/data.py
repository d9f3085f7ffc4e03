"""Image/mask pairs from ``images/`` + ``masks/`` folders, cached in memory, augmented
for webcam conditions with albumentations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from torch.utils.data import Dataset
from tqdm import tqdm

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class PairError(ValueError):
    """A dataset folder is malformed; the message names every offending file."""


@dataclass(frozen=True)
class Pair:
    image: Path
    mask: Path


def find_pairs(roots: list[str | Path]) -> list[Pair]:
    """Pairs with the same stem under ``root/images`` and ``root/masks`` for each root.

    A missing counterpart is an error naming the files, never a silent skip.
    """
    pairs: list[Pair] = []
    problems: list[str] = []
    for root in map(Path, roots):
        images_dir, masks_dir = root / "images", root / "masks"
        for folder in (images_dir, masks_dir):
            if not folder.is_dir():
                raise PairError(f"{folder} does not exist: expected {root}/images and {root}/masks")
        images = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS}
        masks = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS}
        no_mask, no_image = sorted(images - masks.keys()), sorted(masks - images.keys())
        problems += [f"{images[s]} has no mask in {masks_dir}" for s in no_mask]
        problems += [f"{masks[s]} has no image in {images_dir}" for s in no_image]
        pairs += [Pair(images[s], masks[s]) for s in sorted(images.keys() & masks.keys())]
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise PairError(f"{len(problems)} unpaired files:\n  {shown}{more}")
    if not pairs:
        raise PairError(f"no image/mask pairs found under {', '.join(map(str, roots))}")
    return pairs


def load_pair(pair: Pair, long_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image and {0,1} uint8 mask of the same size (mask 0/255 or 0/1 accepted)."""
    image = cv2.imread(str(pair.image), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE)
    if image is None or mask is None:
        raise PairError(f"unreadable file in pair {pair.image.name} / {pair.mask.name}")
    if image.shape[:2] != mask.shape[:2]:
        raise PairError(
            f"misaligned pair: {pair.image} is {image.shape[1]}x{image.shape[0]} but "
            f"{pair.mask} is {mask.shape[1]}x{mask.shape[0]}"
        )
    if long_side is not None and max(image.shape[:2]) > long_side:
        scale = long_side / max(image.shape[:2])
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    threshold = 127 if mask.max() > 1 else 0
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (mask > threshold).astype(np.uint8)


def train_augment(height: int, width: int, degrade: float = 1.0,
                  framing: float = 1.0) -> A.Compose:
    """Webcam-like variation: framing (scale/shift/rotate, person smaller in a wider
    frame), lighting (jitter, low light, overexposure), optics (blur, noise) and codec (JPEG)
    artefacts. ``degrade`` scales the probabilities of the lighting, optics and codec
    degradations (0: framing and colour jitter only, e.g. for a last polish on clean
    photos). ``framing`` scales the ranges of the framing changes towards the whole,
    unrotated picture (0: every crop is the whole picture resized, as a photo is segmented)."""
    f = framing
    crop_ratio = width / height  # aspect ratios stretched into the crop, centred on its own
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(1 - 0.45 * f, 1 + 0.25 * f), translate_percent=(-0.15 * f, 0.15 * f),
                 rotate=(-15 * f, 15 * f), border_mode=cv2.BORDER_REFLECT_101, p=0.9),
        A.RandomResizedCrop(size=(height, width), scale=(1 - 0.5 * f, 1.0),
                            ratio=(crop_ratio - (crop_ratio - 0.5) * f,
                                   crop_ratio + (1.4 - crop_ratio) * f), p=1.0),
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=0.7),
        A.RandomGamma(gamma_limit=(70, 180), p=0.3 * degrade),  # >100 darkens: dim rooms
        # auto-exposure overshooting (a face against a window): ×1.1–1.7 + up to 30, clipped
        A.RandomBrightnessContrast(brightness_limit=(0.0, 0.12), contrast_limit=(0.1, 0.7),
                                   p=0.15 * degrade),
        A.ToGray(p=0.05 * degrade),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))],
                p=0.25 * degrade),
        A.GaussNoise(std_range=(0.02, 0.08), p=0.25 * degrade),
        A.ImageCompression(quality_range=(40, 95), p=0.3 * degrade),
    ])


def eval_resize(height: int, width: int) -> A.Compose:
    return A.Compose([A.Resize(height, width)])


def paste_on_background(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Composite the labelled person onto another photo (softened edge), a cheap way to
    show the network backgrounds its training photos lack."""
    bg = cv2.resize(background, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)[..., None]
    return (image * alpha + bg * (1 - alpha)).astype(np.uint8)


class PortraitDataset(Dataset):
    """All pairs decoded once into RAM at ``cache_long_side`` (2293 pairs ≈ 0.6 GB at 384),
    so epochs cost augmentation only, not JPEG decoding."""

    def __init__(self, pairs: list[Pair], transform: A.Compose, cache_long_side: int = 384,
                 backgrounds: list[np.ndarray] | None = None, paste_prob: float = 0.0,
                 progress: bool = True):
        self.transform = transform
        self.backgrounds = backgrounds or []
        self.paste_prob = paste_prob if self.backgrounds else 0.0
        items = tqdm(pairs, desc="loading pairs", disable=not progress, leave=False)
        self.samples = [load_pair(p, cache_long_side) for p in items]
        self.names = [p.image.stem for p in pairs]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        import torch

        image, mask = self.samples[index]
        if self.paste_prob and np.random.rand() < self.paste_prob:
            bg = self.backgrounds[np.random.randint(len(self.backgrounds))]
            image = paste_on_background(image, mask, bg)
        out = self.transform(image=image, mask=mask)
        image = torch.from_numpy(out["image"]).permute(2, 0, 1)  # uint8 CHW; normalised on device
        mask = torch.from_numpy(out["mask"]).unsqueeze(0).float()
        return image, mask


def load_backgrounds(folder: str | Path | None, long_side: int = 512) -> list[np.ndarray]:
    if folder is None:
        return []
    images = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() in IMAGE_EXTS and (img := cv2.imread(str(path))) is not None:
            scale = long_side / max(img.shape[:2])
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return images
