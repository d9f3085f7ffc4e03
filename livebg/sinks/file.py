"""Video file output through cv2.VideoWriter (MPEG-4 Part 2: always in the OpenCV wheels)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from livebg.errors import LivebgError
from livebg.sinks import SinkBase, to_bgr

__all__ = ["FILE_EXTENSIONS", "FileSink"]

# mp4v is the codec every opencv-python(-headless) wheel can encode; H.264 needs an external
# encoder the wheels do not ship.
FILE_EXTENSIONS: dict[str, str] = {".mp4": "mp4v", ".avi": "mp4v", ".mov": "mp4v", ".mkv": "mp4v"}


def check_writable_folder(folder: Path, what: str = "output") -> None:
    """Raise ``LivebgError`` naming ``folder`` if it is missing, not a folder, or cannot
    take a new file. Tries a real temp file: ``os.access`` lies for root and read-only mounts."""
    if not folder.exists():
        raise LivebgError(f"{what} folder {folder} does not exist: create it first")
    if not folder.is_dir():
        raise LivebgError(f"{what} folder {folder} is not a folder: pick another path")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise LivebgError(f"{what} folder {folder} is not writable: pick another path") from None


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
        check_writable_folder(self.path.parent)  # "x.mp4".parent is "."
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
