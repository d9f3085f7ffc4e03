"""Person segmenters behind one interface, chosen by name.

    seg = load_segmenter("unet", device="auto")
    mask = seg.predict(frame_bgr)   # float32 H×W in [0, 1], frame size
    low = seg.infer(frame_bgr)      # float32 at the model's resolution (pipeline fast path)

``infer`` may also take the frame's ``Thumbnails`` (``livebg.resize``), so a downscale the
compositor needs too is made once per frame.

``available_segmenters()`` lists the names; an unknown name raises ``LivebgError``
listing them. ``auto`` means ``unet`` when its weights are installed, else ``mediapipe``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from livebg.errors import LivebgError
from livebg.resize import Thumbnails

log = logging.getLogger("livebg.segment")

DEVICES = ("auto", "cpu", "cuda")


@runtime_checkable
class Segmenter(Protocol):
    name: str
    device: str

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        """Person probability at the model's own resolution (cheap to smooth)."""

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Person probability at the frame's size."""

    def close(self) -> None: ...


class SegmenterBase:
    """Shared ``predict``/context-manager plumbing; subclasses implement ``infer``."""

    name = "base"
    device = "cpu"

    def infer(  # pragma: no cover - abstract
        self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        mask = self.infer(frame_bgr)
        height, width = frame_bgr.shape[:2]
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(mask, 0.0, 1.0, out=mask)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _load_unet(device: str, weights: str | None) -> Segmenter:
    from livebg.segment.unet import load_unet

    return load_unet(device=device, weights=weights)


def _load_mediapipe(device: str, weights: str | None) -> Segmenter:
    from livebg.segment.mediapipe import MediaPipeSegmenter

    if device == "cuda":
        raise LivebgError("the mediapipe backend runs on the CPU only: use --device cpu or auto")
    return MediaPipeSegmenter()


_REGISTRY: dict[str, Callable[[str, str | None], Segmenter]] = {
    "unet": _load_unet,
    "mediapipe": _load_mediapipe,
}


def available_segmenters() -> list[str]:
    return ["auto", *_REGISTRY]


def resolve_auto() -> str:
    """``unet`` when the shipped weights are present, else ``mediapipe`` (with a warning)."""
    from livebg.segment.unet import default_weights

    if default_weights() is not None:
        return "unet"
    log.warning("livebg: no trained U-Net weights in assets/ (unet.onnx): using mediapipe")
    return "mediapipe"


def load_segmenter(name: str = "auto", device: str = "auto",
                   weights: str | None = None) -> Segmenter:
    name, device = name.lower(), device.lower()
    if device not in DEVICES:
        raise LivebgError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        name = resolve_auto()
    if name not in _REGISTRY:
        raise LivebgError(
            f"unknown model {name!r}: choose one of {', '.join(available_segmenters())}"
        )
    return _REGISTRY[name](device, weights)


def cuda_available() -> bool:
    """True when torch is installed with a working CUDA device (never raises)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


__all__ = ["Segmenter", "SegmenterBase", "available_segmenters", "load_segmenter",
           "cuda_available", "resolve_auto", "DEVICES"]
