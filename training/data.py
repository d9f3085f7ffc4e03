"""Training data: labelled roots (``images/`` + ``masks/``, hard 0/255 or soft 0..255 masks
with an optional ``weights/`` folder of per-pixel loss weights, as ``training.pseudolabel``
writes), synthetic group photos (``training.composite``), mixed per epoch with a weight per
source. Everything is cached in memory and augmented for webcam conditions with
albumentations.

A sample is (image uint8 3×H×W, target float 1×H×W in [0, 1], weight float 1×H×W in [0, 1]):
a hard mask has weight 1 everywhere; a pseudo-label's weight is 0 where its teachers
disagree, so the loss ignores those pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from training.closeup import close_up
from training.composite import (
    Cutout,
    add_objects,
    background_crops,
    compose,
    cutouts_from,
    recolour_person,
)
from training.metrics import people_in

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
    image, mask = _read_resized(pair, long_side)
    threshold = 127 if mask.max() > 1 else 0
    return image, (mask > threshold).astype(np.uint8)


def load_soft_pair(pair: Pair, long_side: int | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """RGB uint8 image, target as uint8 0..255 and the per-pixel weight (uint8, 255 =
    counts fully) from a ``weights/`` file beside ``masks/``. Without one the mask is a hard
    label: binarised to 0/255 and the weight is None (every pixel counts)."""
    weight_path = pair.mask.parent.parent / "weights" / pair.mask.name
    if not weight_path.is_file():
        image, mask = load_pair(pair, long_side)
        return image, mask * 255, None
    image, mask = _read_resized(pair, long_side)
    weight = cv2.imread(str(weight_path), cv2.IMREAD_GRAYSCALE)
    if weight is None:
        raise PairError(f"unreadable weight map {weight_path}")
    if weight.shape != mask.shape:  # the pair was resized to the cache's long side
        weight = cv2.resize(weight, mask.shape[::-1], interpolation=cv2.INTER_LINEAR)
    return image, mask, weight


def _read_resized(pair: Pair, long_side: int | None) -> tuple[np.ndarray, np.ndarray]:
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
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), mask


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
    return A.Compose(additional_targets={"weight": "mask"}, transforms=[
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
    return A.Compose([A.Resize(height, width)], additional_targets={"weight": "mask"})


def paste_on_background(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Composite the labelled person onto another photo (softened edge), a cheap way to
    show the network backgrounds its training photos lack."""
    bg = cv2.resize(background, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)[..., None]
    return (image * alpha + bg * (1 - alpha)).astype(np.uint8)


class PortraitDataset(Dataset):
    """All pairs decoded once into RAM at ``cache_long_side`` (2293 pairs ≈ 0.6 GB at 384),
    so epochs cost augmentation only, not JPEG decoding. Soft masks and ``weights/`` maps
    (pseudo-labels) are kept as they are; hard masks get weight 1. ``recolour``: the
    probability of a colour change inside the person (``recolour_person``); ``objects``:
    the probability of 1–2 made objects beside or in front of the person
    (``add_objects``), cut from ``textures``; ``close_ups``: the probability of a close-up
    crop of a single-person sample, the head running off the top edge (``training.closeup``;
    a group photo is left whole, as its close-up would frame only its tallest person)."""

    def __init__(self, pairs: list[Pair], transform: A.Compose, cache_long_side: int = 384,
                 backgrounds: list[np.ndarray] | None = None, paste_prob: float = 0.0,
                 progress: bool = True, recolour: float = 0.0, objects: float = 0.0,
                 textures: list[np.ndarray] | None = None, close_ups: float = 0.0):
        self.transform = transform
        self.objects, self.textures = objects, textures or []
        self.close_ups = close_ups
        self.backgrounds = backgrounds or []
        self.paste_prob = paste_prob if self.backgrounds else 0.0
        self.recolour = recolour
        items = tqdm(pairs, desc="loading pairs", disable=not progress, leave=False)
        self.samples = [load_soft_pair(p, cache_long_side) for p in items]
        self.names = [p.image.stem for p in pairs]

    def __len__(self) -> int:
        return len(self.samples)

    def hard_masks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image, {0,1} mask) of the hard-labelled samples (not pseudo-labels): the people
        ``CompositeDataset`` cuts out."""
        return [(img, (mask > 127).astype(np.uint8)) for img, mask, weight in self.samples
                if weight is None]

    def __getitem__(self, index: int):
        image, mask, weight = self.samples[index]
        if weight is None:
            weight = np.full_like(mask, 255)
        if (self.close_ups and np.random.rand() < self.close_ups
                and people_in(mask > 127) == 1):
            rng = np.random.default_rng(np.random.randint(2**31))
            image, mask, weight = close_up(image, mask, weight, rng)
        hard = mask > 127
        if self.paste_prob and np.random.rand() < self.paste_prob:
            bg = self.backgrounds[np.random.randint(len(self.backgrounds))]
            image = paste_on_background(image, hard, bg)
        if self.recolour and np.random.rand() < self.recolour:
            image = recolour_person(image, hard, np.random.default_rng(np.random.randint(2**31)))
        image, mask, weight = with_objects(image, mask, weight, self.objects, self.textures)
        return to_tensors(self.transform(image=image, mask=mask, weight=weight))


def with_objects(image: np.ndarray, mask: np.ndarray, weight: np.ndarray, odds: float,
                 textures: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``add_objects`` (1 or 2) with probability ``odds``, else the sample unchanged."""
    if not odds or np.random.rand() >= odds:
        return image, mask, weight
    rng = np.random.default_rng(np.random.randint(2**31))
    return add_objects(image, mask, weight, textures, rng, count=int(rng.integers(1, 3)))


def to_tensors(sample: dict):
    """An albumentations result as the training tensors: uint8 image CHW (normalised on
    the device), target and weight as float 1×H×W in [0, 1]."""
    import torch

    image = torch.from_numpy(np.ascontiguousarray(sample["image"])).permute(2, 0, 1)
    target = torch.from_numpy(np.ascontiguousarray(sample["mask"])).unsqueeze(0).float() / 255
    weight = torch.from_numpy(np.ascontiguousarray(sample["weight"])).unsqueeze(0).float() / 255
    return image, target, weight


class CompositeDataset(Dataset):
    """Synthetic group photos (``training.composite.compose``): 1–4 people cut out of
    hard-labelled photos, pasted onto a shared background photo or a person-free crop of a
    labelled photo. ``length`` is nominal: every item is a fresh random composite."""

    def __init__(self, people: list[tuple[np.ndarray, np.ndarray]],
                 backgrounds: list[np.ndarray], transform: A.Compose, length: int = 1000,
                 size: tuple[int, int] = (384, 288), max_people: int = 4,
                 recolour: float = 0.7, objects: float = 0.0,
                 textures: list[np.ndarray] | None = None):
        self.cutouts: list[Cutout] = [c for img, m in people for c in cutouts_from(img, m)]
        if not self.cutouts:
            raise PairError("no person large enough to cut out for composites")
        self.people, self.backgrounds = people, backgrounds
        self.transform, self.length, self.size = transform, length, size
        self.max_people, self.recolour = max_people, recolour
        self.objects, self.textures = objects, textures or []

    def __len__(self) -> int:
        return self.length

    def background(self, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
        """A shared background photo resized to cover ``size``, or a person-free crop."""
        w, h = size
        if self.backgrounds and rng.random() < 0.5:
            bg = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            scale = max(w / bg.shape[1], h / bg.shape[0]) * rng.uniform(1.0, 1.6)
            bg = cv2.resize(bg, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            y = int(rng.integers(0, bg.shape[0] - h + 1))
            x = int(rng.integers(0, bg.shape[1] - w + 1))
            return bg[y:y + h, x:x + w].copy()
        for _ in range(10):
            img, mask = self.people[int(rng.integers(len(self.people)))]
            if (crop := background_crops(img, mask, size, rng)) is not None:
                return crop
        return cv2.resize(self.backgrounds[0], size) if self.backgrounds else np.full(
            (h, w, 3), 127, np.uint8)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One composite: RGB frame and its {0,1} mask, before augmentation."""
        w, h = self.size
        size = (w, h) if rng.random() < 0.7 else (h, w)  # mostly landscape, like a webcam
        count = int(rng.choice(np.arange(1, self.max_people + 1),
                               p=_people_odds(self.max_people)))
        chosen = [self.cutouts[int(i)] for i in rng.integers(len(self.cutouts), size=count)]
        return compose(self.background(rng, size), chosen, rng, self.recolour)

    def __getitem__(self, index: int):
        image, mask = self.sample(np.random.default_rng(np.random.randint(2**31)))
        mask = mask * 255
        image, mask, weight = with_objects(image, mask, np.full_like(mask, 255), self.objects,
                                           self.textures)
        return to_tensors(self.transform(image=image, mask=mask, weight=weight))


def _people_odds(most: int) -> np.ndarray:
    odds = np.array([0.2, 0.35, 0.3, 0.15][:most] + [0.15] * max(0, most - 4))
    return odds / odds.sum()


class MixedSampler(Sampler):
    """``epoch_size`` indices into a ``ConcatDataset`` of the sources, each drawn from a
    source with probability proportional to its weight (uniformly within it). ``counts``
    holds how many came from each source in the latest epoch, for the log."""

    def __init__(self, sizes: list[int], weights: list[float], epoch_size: int, seed: int = 0):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError("one weight per source")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"source weights must be >= 0 and not all 0, got {weights}")
        self.sizes, self.epoch_size = sizes, epoch_size
        self.probs = np.asarray(weights, float) / sum(weights)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.rng = np.random.default_rng(seed)
        self.counts = [0] * len(sizes)

    def __len__(self) -> int:
        return self.epoch_size

    def __iter__(self):
        sources = self.rng.choice(len(self.sizes), size=self.epoch_size, p=self.probs)
        self.counts = np.bincount(sources, minlength=len(self.sizes)).tolist()
        for s in sources:
            yield int(self.offsets[s] + self.rng.integers(self.sizes[s]))


def parse_weighted(spec: str) -> tuple[str, float]:
    """``ROOT`` or ``ROOT=WEIGHT`` (``runs/pseudo=2``): a source and its sampling weight."""
    root, sep, weight = spec.rpartition("=")
    if not sep:
        return spec, 1.0
    try:
        value = float(weight)
    except ValueError:
        raise PairError(f"{spec!r}: the weight after '=' must be a number") from None
    if not np.isfinite(value) or value < 0:
        raise PairError(f"{spec!r}: the weight must be a finite number >= 0")
    return root, value


def object_textures(backgrounds: list[np.ndarray], people: list[tuple[np.ndarray, np.ndarray]],
                    count: int = 300, seed: int = 0) -> list[np.ndarray]:
    """What made objects are cut from: the background photos and up to ``count``
    person-free crops of labelled photos (real rooms' and streets' colours and edges)."""
    rng = np.random.default_rng(seed)
    crops = []
    for index in rng.permutation(len(people))[:count]:
        image, mask = people[index]
        if (crop := background_crops(image, mask, (128, 128), rng, tries=5)) is not None:
            crops.append(crop)
    return backgrounds + crops


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
