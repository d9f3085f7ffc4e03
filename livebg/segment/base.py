"""The segmenter interface: ``infer`` at the model's resolution (the pipeline's fast path),
``predict`` at the frame's size (photos), a context manager that closes once."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from livebg.resize import Thumbnails


def no_vote(shape: tuple[int, int]) -> np.ndarray:
    """The mask of a segmenter with no opinion on this frame (NaN everywhere): the pose model
    where it finds no one, which does not mean there is no one. An ensemble leaves it out."""
    return np.full(shape, np.nan, np.float32)


def abstains(mask: np.ndarray) -> bool:
    """Whether ``mask`` is ``no_vote``'s (a vote is never NaN, so one pixel tells)."""
    return mask.size > 0 and bool(np.isnan(mask.flat[0]))


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
        """The mask of one image (a photo) at its size: ``infer``, brought up one octave
        along the picture's edges (``livebg.upsample``), then resized. The live pipeline
        uses ``infer`` and resizes after smoothing instead (the edge-aware step makes video
        masks flicker more)."""
        from livebg.limits import check_frame
        from livebg.upsample import upsample_mask

        # the network's input is the fine guide's too
        thumbnails = Thumbnails(check_frame(frame_bgr))
        height, width = frame_bgr.shape[:2]
        mask = self.infer(frame_bgr, thumbnails)
        if abstains(mask):
            return no_vote((height, width))
        mask = upsample_mask(mask, frame_bgr, thumbnails)
        if not mask.flags.writeable:  # a backend's own buffer (MediaPipe at the frame's size)
            mask = mask.copy()
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(mask, 0.0, 1.0, out=mask)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
