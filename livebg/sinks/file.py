"""Video file output through cv2.VideoWriter (MPEG-4 Part 2: always in the OpenCV wheels)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from livebg.errors import LivebgError
from livebg.sinks import SinkBase, to_bgr

__all__ = ["FILE_EXTENSIONS", "FileSink"]

# mp4v is the codec every opencv-python(-headless) wheel can encode; H.264 needs an external
# encoder the wheels do not ship.
FILE_EXTENSIONS: dict[str, str] = {".mp4": "mp4v", ".avi": "mp4v", ".mov": "mp4v", ".mkv": "mp4v"}


def check_output_folder(path: Path) -> None:
    """Raise ``LivebgError`` naming the folder when ``path`` cannot be created there."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LivebgError(f"output folder does not exist: {folder} (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LivebgError(
            f"output folder is not writable: {folder} (pick another folder or fix permissions)"
        )


class FileSink(SinkBase):
    """Writes frames to ``path`` at ``fps``; ``size`` is (w, h), other sizes are resized."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path).expanduser()
        self.fps = float(fps) if fps and fps > 0 else 30.0  # cameras may report 0 fps
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        ext = self.path.suffix.lower()
        if ext not in FILE_EXTENSIONS:
            raise LivebgError(
                f"unsupported output type '{ext or self.path.name}': "
                f"use {' or '.join(FILE_EXTENSIONS)}"
            )
        if min(self.size) <= 0:
            raise ValueError(f"size must be positive (width, height), got {size}")
        check_output_folder(self.path)
        fourcc = cv2.VideoWriter_fourcc(*FILE_EXTENSIONS[ext])
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(self.path), fourcc, self.fps, self.size
        )
        if not self._writer.isOpened():
            self._writer = None
            self.closed = True
            raise LivebgError(
                f"cannot open video writer for {self.path}: check the folder is writable "
                f"and the disk not full"
            )

    def write(self, frame: np.ndarray) -> None:
        self._check_open()
        assert self._writer is not None
        self._writer.write(to_bgr(frame, self.size))
        self.frames += 1

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
