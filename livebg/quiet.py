"""Keeping native libraries quiet: OpenCV's and FFmpeg's logging, and what C++ code writes
straight to fd 2 while it starts (MediaPipe/TFLite). Our errors are one line; theirs are noise.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def quiet_cv2() -> Any:
    """Import OpenCV with its own logging silenced: our errors are one line, theirs are noise."""
    # FFmpeg reads this when its backend first initialises, so it works after `import cv2` too.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    import cv2

    cv2.setLogLevel(0)
    return cv2


class _NativeStderr:
    """Reference-counted redirect of fd 2 to /dev/null.

    fd 2 is shared by every thread, so nested or concurrent blocks (two models loading at once
    in the GUI) must restore it once, when the last one ends, or it stays silenced for good.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: int | None = None  # a dup of the real fd 2 while silenced

    def silence(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                _flush_stderr()  # Python's buffered text belongs to the real stderr
                self._saved = _point_fd2_at_null()

    def restore(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._saved is not None:
                _flush_stderr()  # text written inside the block is part of the noise
                os.dup2(self._saved, 2)
                os.close(self._saved)
                self._saved = None


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # None (pythonw), closed or broken
        pass


def _point_fd2_at_null() -> int | None:
    """Redirect fd 2 to /dev/null; a dup of the old fd 2 to restore, or None if fd 2 is unusable."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (closed by a daemon, pythonw): there is nothing to silence
        return None
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
    except OSError:
        os.close(saved)
        return None
    return saved


_NATIVE_STDERR = _NativeStderr()


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code writes straight to fd 2 (past ``sys.stderr``) in the block.

    For C++ libraries that log while starting (MediaPipe/TFLite: "Created TensorFlow Lite
    XNNPACK delegate", absl's W0000 lines). Process-wide while active, Python's stderr
    included, so keep the block short. A no-op if fd 2 cannot be duplicated.
    """
    _NATIVE_STDERR.silence()
    try:
        yield
    finally:
        _NATIVE_STDERR.restore()
