"""Google MediaPipe selfie segmentation (the landscape 256×144 model) as a livebg backend."""

from __future__ import annotations

from types import ModuleType

import cv2
import numpy as np

from livebg.errors import LivebgError
from livebg.limits import check_frame
from livebg.quiet import quiet_native_stderr
from livebg.resize import Thumbnails, downscale_shared
from livebg.segment import SegmenterBase

# Each model's own input size (0 = general 256×256, 1 = landscape 256×144): feeding it
# this size skips MediaPipe's internal resize and full-resolution output, the cheapest
# way to use it (a fair comparison).
MODEL_SIZES = {0: (256, 256), 1: (256, 144)}


# --no-deps: mediapipe's own requirement pulls opencv-contrib-python, a second cv2
MEDIAPIPE_INSTALL = "pip install -e '.[mediapipe]' && pip install --no-deps mediapipe==0.10.21"


def import_mediapipe(missing: str) -> ModuleType:
    """The ``mediapipe`` module, or a ``LivebgError`` saying ``missing`` and how to install it."""
    try:
        import mediapipe
    except ImportError as exc:
        raise LivebgError(f"{missing}: {MEDIAPIPE_INSTALL}") from exc
    return mediapipe


class MediaPipeSegmenter(SegmenterBase):
    name = "mediapipe"
    device = "cpu"

    def __init__(self, model_selection: int = 1) -> None:
        mp = import_mediapipe("the mediapipe backend is not installed")
        self._size = MODEL_SIZES[model_selection]
        # The graph starts on a native thread that logs to fd 2, and the first process() waits
        # for it: create and warm up inside the quiet block.
        with quiet_native_stderr():
            self._solution = mp.solutions.selfie_segmentation.SelfieSegmentation(
                model_selection=model_selection)
            self._solution.process(np.zeros((*self._size[::-1], 3), np.uint8))
        self._closed = False

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        return self._run(self._small(frame_bgr, thumbnails))

    def _small(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None) -> np.ndarray:
        return downscale_shared(check_frame(frame_bgr), self._size, thumbnails)

    def infer_mirrored(self, frame_bgr: np.ndarray,
                       thumbnails: Thumbnails | None = None) -> np.ndarray:
        """The mirrored frame's mask, mirrored back: the small input is mirrored, not the
        frame (``livebg.segment.mirror``)."""
        small = self._small(frame_bgr, thumbnails)
        return cv2.flip(self._run(cv2.flip(small, 1)), 1)

    def _run(self, small_bgr: np.ndarray) -> np.ndarray:
        result = self._solution.process(cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB))
        return np.asarray(result.segmentation_mask, dtype=np.float32)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._solution.close()
