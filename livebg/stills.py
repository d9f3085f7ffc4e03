"""Photos: one photo or a folder of photos in, images with the same names out.

No temporal smoothing (photos are independent); the full-size mask comes from
``Segmenter.predict``. ``transparent`` writes PNG with alpha; ``mask_only`` writes the mask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livebg.capture import IMAGE_EXTENSIONS
from livebg.errors import LivebgError
from livebg.limits import check_frame_size
from livebg.safeio import write_bytes_atomic
from livebg.segment.mirror import start_clip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StillJob:
    """What to do with the photos (the CLI fills this in from its flags)."""

    background: str = "transparent"
    mask_only: bool = False
    blur_strength: float | None = None
    feather: float | None = None


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_photos(folder: Path) -> list[Path]:
    """Photos directly inside ``folder`` (sorted); LivebgError if there are none. Hidden
    files are skipped (macOS ``._`` files, a killed job's temporary)."""
    photos = sorted(p for p in folder.iterdir()
                    if p.is_file() and is_photo(p) and not p.name.startswith("."))
    if not photos:
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise LivebgError(f"folder {folder} has no photos ({kinds}): pass a folder of photos")
    return photos


def needs_png(job: StillJob) -> bool:
    """Masks are lossless PNG whatever the input was; transparency needs PNG's alpha."""
    return job.mask_only or job.background == "transparent"


def output_name(photo: Path, job: StillJob) -> str:
    """Same name as the input, as ``.png`` where ``needs_png``."""
    return photo.stem + ".png" if needs_png(job) else photo.name


def plan_outputs(source: Path, output: Path, job: StillJob) -> list[tuple[Path, Path]]:
    """(input, output) pairs: a folder goes to a folder; one photo to a folder or a file."""
    photos = list_photos(source) if source.is_dir() else [source]
    if output.is_dir():
        return [(p, output / output_name(p, job)) for p in photos]
    if source.is_dir():
        raise LivebgError(f"output {output} must be an existing folder for a folder of photos")
    if not is_photo(output):
        raise LivebgError(f"output {output} is not an image file name: use e.g. out.png")
    if needs_png(job) and output.suffix.lower() != ".png":
        what = "masks are written as lossless PNG" if job.mask_only else \
            "transparent backgrounds need PNG's alpha"
        raise LivebgError(f"output {output}: {what}: use {output.with_suffix('.png').name}")
    return [(source, output)]


def read_photo(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise LivebgError(f"photo {path} could not be read: is it a valid image file?")
    check_frame_size(image.shape[1], image.shape[0], f"photo {path}")
    return image


def write_photo(path: Path, image: np.ndarray) -> None:
    """Encode, then write under a temporary name and rename: never half a PNG at ``path``."""
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise LivebgError(f"could not encode {path} as {path.suffix}: use .png or .jpg")
    write_bytes_atomic(path, data.tobytes())


def render_still(
    image: np.ndarray, segmenter: Any, compositor: Any | None, *, mask_only: bool
) -> np.ndarray:
    """The output image for one photo: the mask (uint8 grey) or the composite (BGR/BGRA)."""
    mask = segmenter.predict(image)
    if mask_only:
        return cv2.convertScaleAbs(mask, alpha=255.0)
    return compositor.apply(image, mask)


def process_stills(
    pairs: Iterable[tuple[Path, Path]],
    segmenter: Any,
    job: StillJob,
    *,
    progress: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Segment and write every (input, output) pair; returns the files written.

    An unreadable photo in a folder is skipped with a warning; if nothing could be written
    that is an error.
    """
    compositor = None if job.mask_only else _make_compositor(job)
    written: list[Path] = []
    pairs = list(pairs)
    try:
        for src, dst in pairs:
            try:
                image = read_photo(src)
            except LivebgError as exc:
                if len(pairs) == 1:
                    raise
                log.warning("skipping %s", exc)
                continue
            start_clip(segmenter)  # one that keeps the previous frame: photos are unrelated
            out = render_still(image, segmenter, compositor, mask_only=job.mask_only)
            write_photo(dst, out)
            written.append(dst)
            if progress is not None:
                progress(dst)
    finally:
        if compositor is not None:
            compositor.close()
    if not written:
        raise LivebgError("no photo could be read: check the input files")
    return written


def _make_compositor(job: StillJob) -> Any:
    from livebg.composite import Compositor

    kwargs = {
        k: v
        for k, v in (("blur_strength", job.blur_strength), ("feather", job.feather))
        if v is not None
    }
    return Compositor(job.background, **kwargs)
