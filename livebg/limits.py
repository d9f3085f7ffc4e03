"""Validation at the edges: option ranges (parse time), frame sizes, arrays handed to the
Python API. Everything past these checks may assume sane values; what fails here fails with
one line saying what is accepted, before anything slow runs."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from livebg.errors import LivebgError

__all__ = [
    "MAX_BLUR_STRENGTH",
    "MAX_FEATHER",
    "MAX_FRAME_PIXELS",
    "MAX_FRAME_SIDE",
    "MAX_INPUT_ASPECT",
    "FrameError",
    "check_frame",
    "check_frame_size",
    "check_range",
    "number",
]

# 48 MP phone photos (8000×6000) fit; beyond, a photo's float masks alone pass a gigabyte.
MAX_FRAME_PIXELS = 50_000_000
MAX_FRAME_SIDE = 16384
# A network input at most this many times taller than wide: a 4×2000 px strip would
# otherwise become a 160×80000 input (6 GB). Taller frames are scaled to fit.
MAX_INPUT_ASPECT = 4.0

# Option maxima: far past any useful look (the window's sliders stop at 60 and 20), well
# short of what makes OpenCV allocate gigabytes (a blur strength of 1e9 ran 170 s then died).
MAX_BLUR_STRENGTH = 200.0
MAX_FEATHER = 100.0

ACCEPTED_FRAME = "a BGR uint8 numpy array of shape (H, W, 3)"


class FrameError(LivebgError, ValueError):
    """An array the segmenters cannot take; a ValueError too, as numpy users expect."""


def check_range(name: str, value: Any, lo: float, hi: float, *, hi_open: bool = False,
                unit: str = "") -> float:
    """``value`` as a float if it is a finite number in [lo, hi] (or [lo, hi)); else a
    LivebgError naming ``name`` and the range."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    inside = lo <= x < hi if hi_open else lo <= x <= hi
    if not (math.isfinite(x) and inside):
        close = ")" if hi_open else "]"
        raise LivebgError(f"{name} must be a number in [{lo:g}, {hi:g}{close}{unit}, got {value!r}")
    return x


def number(kind: type, lo: float, hi: float, *, hi_open: bool = False,
           unit: str = "") -> Callable[[str], Any]:
    """An argparse ``type=``: ``kind`` (int or float) in range, finite; argparse turns the
    error into ``argument --NAME: must be ...`` (one line through livebg's parser)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        try:
            check_range("it", value, lo, hi, hi_open=hi_open, unit=unit)
        except LivebgError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("it must", "must", 1)) from None
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def check_frame_size(width: int, height: int, what: str = "frame") -> None:
    """FrameError for frames past the size limits (memory), naming the limit."""
    if max(width, height) > MAX_FRAME_SIDE or width * height > MAX_FRAME_PIXELS:
        raise FrameError(
            f"{what} is {width}×{height} ({width * height / 1e6:.0f} MP): livebg takes up to "
            f"{MAX_FRAME_PIXELS // 1_000_000} MP and {MAX_FRAME_SIDE} px a side; scale it down "
            f"first")


def check_frame(frame: Any) -> np.ndarray:
    """``frame`` if a segmenter can take it, else one ``FrameError`` saying what it accepts
    (the same for every backend: U-Net ONNX, torch, MediaPipe)."""
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"expected {ACCEPTED_FRAME}, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise FrameError(f"expected {ACCEPTED_FRAME}, got {frame.dtype} array of shape "
                         f"{frame.shape}")
    check_frame_size(frame.shape[1], frame.shape[0])
    return frame
