"""Backgrounds: what ``--bg`` accepts, parsed once, and the pictures they are made of.

``parse_background`` turns a spec (``blur``, a colour, an image or video file, a bundled
background, ``transparent``, ``none``) into a ``BackgroundSpec`` or raises ``LivebgError``
listing the accepted forms; ``cover_crop`` fits a picture to the frame; ``VideoBackground``
loops a background clip. ``livebg.composite`` puts the person in front of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from livebg import capture
from livebg.assets import background_names, bundled_background
from livebg.errors import LivebgError

__all__ = [
    "BACKGROUND_KINDS",
    "COLOR_NAMES",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "BackgroundSpec",
    "VideoBackground",
    "cover_crop",
    "parse_background",
    "parse_color",
]

BackgroundKind = Literal["blur", "color", "image", "video", "transparent", "none"]
BACKGROUND_KINDS: tuple[str, ...] = ("blur", "color", "image", "video", "transparent", "none")
# What OpenCV reads, as the capture stage defines it (one list for sources and backgrounds).
IMAGE_EXTENSIONS: tuple[str, ...] = tuple(sorted(capture.IMAGE_EXTENSIONS))
VIDEO_EXTENSIONS: tuple[str, ...] = tuple(sorted(capture.VIDEO_EXTENSIONS))

# Colour names as #RRGGBB. "green"/"blue" are the chroma-key shades people expect from a
# virtual background, not the pure primaries.
COLOR_NAMES: dict[str, str] = {
    "black": "#000000",
    "white": "#ffffff",
    "gray": "#808080",
    "grey": "#808080",
    "red": "#ff0000",
    "green": "#00b140",
    "blue": "#0047bb",
    "yellow": "#ffd700",
    "orange": "#ff8c00",
    "purple": "#800080",
    "pink": "#ffc0cb",
    "cyan": "#00ffff",
    "magenta": "#ff00ff",
    "navy": "#000080",
    "teal": "#008080",
    "beige": "#f5f5dc",
}

_ACCEPTED_FORMS = (
    "blur, transparent, none, #RRGGBB, #RGB, a colour name ("
    + ", ".join(sorted(COLOR_NAMES))
    + "), an image ("
    + " ".join(IMAGE_EXTENSIONS)
    + "), a video ("
    + " ".join(VIDEO_EXTENSIONS)
    + ") or a bundled background ("
    + ", ".join(background_names())
    + ")"
)


@dataclass(frozen=True)
class BackgroundSpec:
    """A parsed background. ``color`` is BGR; ``image`` is the decoded BGR image (kind image)."""

    kind: BackgroundKind
    color: tuple[int, int, int] | None = None
    path: Path | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        if self.kind == "color" and self.color is not None:
            b, g, r = self.color
            return f"#{r:02x}{g:02x}{b:02x}"
        if self.path is not None:
            return str(self.path)
        return self.kind


def parse_color(text: str) -> tuple[int, int, int] | None:
    """``#RRGGBB``, ``#RGB`` or a name from ``COLOR_NAMES`` → BGR tuple; anything else → None."""
    s = COLOR_NAMES.get(text.strip().lower(), text.strip())
    if not s.startswith("#"):
        return None
    digits = s[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) != 6:
        return None
    try:
        r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return None
    return (b, g, r)


def _load_image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise LivebgError(f"background image not found: {path} (check the path)")
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode: works with any path
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or image.size == 0:
        raise LivebgError(
            f"cannot read background image {path}: the file is corrupt or not a "
            f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} image; re-export it or pick another"
        )
    return image


def _check_video(path: Path) -> None:
    if not path.is_file():
        raise LivebgError(f"background video not found: {path} (check the path)")
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise LivebgError(
            f"cannot read background video {path}: the file is corrupt or uses an unsupported "
            "codec; convert it to H.264/MP4V .mp4 or pick another"
        )


def parse_background(spec: str | BackgroundSpec) -> BackgroundSpec:
    """Parse a ``--bg`` value; raises ``LivebgError`` saying which forms are accepted."""
    if isinstance(spec, BackgroundSpec):
        return spec
    text = str(spec).strip()
    if not text:
        raise LivebgError(f"empty background: use one of {_ACCEPTED_FORMS}")
    word = text.lower()
    if word in ("blur", "transparent", "none"):
        return BackgroundSpec(kind=word)  # type: ignore[arg-type]
    color = parse_color(text)
    if color is not None:
        return BackgroundSpec(kind="color", color=color)
    path = Path(text).expanduser()
    if not path.exists() and (bundled := bundled_background(text)) is not None:
        path = bundled  # "office" or "office.jpg": a background shipped with livebg
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return BackgroundSpec(kind="image", path=path, image=_load_image(path))
    if ext in VIDEO_EXTENSIONS:
        _check_video(path)
        return BackgroundSpec(kind="video", path=path)
    if ext or path.exists():
        raise LivebgError(
            f"unsupported background file type '{ext or path.name}': use an image "
            f"({' '.join(IMAGE_EXTENSIONS)}) or a video ({' '.join(VIDEO_EXTENSIONS)})"
        )
    raise LivebgError(f"bad background {text!r}: use one of {_ACCEPTED_FORMS}")


def cover_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size`` (w, h) keeping its aspect, centre-crop the overflow."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    # crop in source pixels first so the resize touches only what is kept
    cw, ch = min(iw, round(w / scale)), min(ih, round(h / scale))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = image[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (w, h), interpolation=interp)


class VideoBackground:
    """Looping reader for a video background; frames are resized to the output size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cap: cv2.VideoCapture | None = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise LivebgError(f"cannot open background video {path}: check the file")

    def next_frame(self, size: tuple[int, int]) -> np.ndarray:
        if self._cap is None:
            raise LivebgError("background video is closed: set the background again")
        ok, frame = self._cap.read()
        if not ok:  # end of clip: loop from the start
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
            if not ok:
                raise LivebgError(f"background video {self.path} stopped decoding: pick another")
        if (frame.shape[1], frame.shape[0]) == size:
            return frame
        return cover_crop(frame, size)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
