"""Reading frames from a camera or a video file.

Sources are plain blocking objects (``read()`` returns the next BGR frame); the pipeline runs them
in its capture thread. Nothing here starts a thread. The one-slot hand-off between the
pipeline's threads is ``livebg.handoff``; keeping native libraries quiet is ``livebg.quiet``
(both importable from here too).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from livebg.errors import LivebgError
from livebg.quiet import quiet_cv2

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".mpg", ".mpeg", ".ts"}
)
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".pgm", ".ppm"}
)

T = TypeVar("T")


class FrameSource(Protocol):
    """Anything the pipeline can read BGR frames from."""

    fps: float
    size: tuple[int, int]  # (width, height)
    frame_count: int | None  # None for cameras (and looping files)

    def read(self) -> np.ndarray | None:
        """Next BGR uint8 frame, or None at the end of the stream (or after close())."""
        ...

    def close(self) -> None: ...


class _Closable:
    """Idempotent close() + context manager for sources."""

    _closed = False

    def _release(self) -> None:  # pragma: no cover - overridden
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(_Closable):
    """A video file, read at the file's own fps (``realtime``) or as fast as possible."""

    is_camera = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        realtime: bool = True,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.loop = loop
        self._clock = clock
        self._sleep = sleep
        check_video_path(self.path)
        self._cv2 = quiet_cv2()
        self._cap = self._open()
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise LivebgError(
                f"input {self.path} has no readable video frames: re-encode it "
                "(e.g. `ffmpeg -i in -c:v libx264 out.mp4`) or pass another --input"
            )
        self._pending: np.ndarray | None = first  # validated at open, handed out by read()
        h, w = first.shape[:2]
        self.size = (int(w), int(h))
        fps = float(self._cap.get(self._cv2.CAP_PROP_FPS) or 0.0)
        # Some containers report 0 or absurd rates; 30 is the sane default for pacing.
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        count = int(self._cap.get(self._cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.header_frames = max(0, count)  # what the container says it holds
        self.frame_count: int | None = None if loop or count <= 0 else count
        self.frames_read = 0
        self.truncated = False  # ended before header_frames (warned once)
        self._pass_read = 0  # frames of the current pass (loop)
        self._t0: float | None = None

    def _open(self) -> Any:
        cv2 = self._cv2
        # One decoder thread: the pipeline already decodes in parallel with inference and
        # compositing, and FFmpeg's frame threads cost ~20% more CPU per frame on top of that
        # (720p H.264 here: 1.10 ms of CPU per frame with one thread, 1.35 ms with two).
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
        if not cap.isOpened():  # a backend that refuses the setting still gets to try
            cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise LivebgError(
                f"input {self.path} is not a video OpenCV can open: convert it to .mp4 "
                "or pass another --input"
            )
        return cap

    def pace(self) -> None:
        """Real-time playback: sleep until the next frame is due (no-op otherwise).

        ``read()`` paces too; calling this first keeps the wait out of a timed ``read()``.
        """
        if not self.realtime:
            return
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self.frames_read / self.fps
        if due > now:
            self._sleep(due - now)
        elif now - due > 0.5:
            # We fell far behind (machine was busy): resync instead of bursting to catch up.
            self._t0 = now - self.frames_read / self.fps

    def read(self) -> np.ndarray | None:
        if self._closed:
            return None
        self.pace()  # a no-op when the caller has already waited
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, frame = self._cap.read()
            if not ok:
                self._check_complete()
            if not ok and self.loop and self.frames_read > 0:
                # Reopening is more reliable than seeking to 0 across containers.
                self._cap.release()
                self._cap = self._open()
                self._pass_read = 0
                ok, frame = self._cap.read()
            if not ok:
                return None
        self.frames_read += 1
        self._pass_read += 1
        return frame

    def _check_complete(self) -> None:
        """Warn once when the file ends well before its header's frame count: a half-
        downloaded or still-growing file plays its first part and would pass for whole.
        (Headers estimate: a frame or 1% short is normal.)"""
        expected = self.header_frames
        if self.truncated or not expected or self._pass_read >= expected - max(2, expected // 100):
            return
        self.truncated = True
        log.warning("livebg: warning: input %s ended after %d of the %d frames its header "
                    "lists: the file is truncated (half-downloaded?); the output has only "
                    "those frames", self.path, self._pass_read, expected)

    def _release(self) -> None:
        self._cap.release()


CameraOpener = Callable[[int], Any]
"""Returns a cv2.VideoCapture-like object (isOpened/read/set/get/release) for a camera index."""


class CameraSource(_Closable):
    """A camera; when it stops delivering frames it is reopened with exponential back-off."""

    is_camera = True

    def __init__(
        self,
        index: int,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        mjpg: bool = False,
        opener: CameraOpener | None = None,
        backoff_initial: float = 0.25,
        backoff_max: float = 8.0,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.index = index
        self._settings = (width, height, fps, mjpg)
        self._cv2 = quiet_cv2()
        self._opener: CameraOpener = opener or self._cv2.VideoCapture
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        # Waiting on the stop event lets close() cut a back-off sleep short.
        self._sleep = sleep or self._stop.wait
        self.reconnects = 0
        self.frame_count: int | None = None
        self._cap: Any = None
        first = self._try_open()
        if first is None:
            raise LivebgError(
                f"camera {index} did not open: try --camera {index + 1} or --input clip.mp4"
            )
        self._pending: np.ndarray | None = first
        h, w = first.shape[:2]
        self.size = (int(w), int(h))
        got_fps = float(self._cap.get(self._cv2.CAP_PROP_FPS) or 0.0)
        self.fps = got_fps if 1.0 <= got_fps <= 240.0 else float(fps or 30.0)

    def _try_open(self) -> np.ndarray | None:
        """Open the camera and read one frame; None (and nothing held open) if that fails."""
        self._drop_cap()
        try:
            cap = self._opener(self.index)
            if cap is None or not cap.isOpened():
                if cap is not None:
                    cap.release()
                return None
            self._configure(cap)
            ok, frame = cap.read()
        except Exception as exc:  # a vanished device can make the backend throw
            log.debug("camera %s open failed: %s", self.index, exc)
            return None
        self._cap = cap
        if not ok or frame is None:
            self._drop_cap()
            return None
        return frame

    def _configure(self, cap: Any) -> None:
        cv2 = self._cv2
        width, height, fps, mjpg = self._settings
        if mjpg:
            # FOURCC must be set before the size: many UVC cameras only do 720p30 in MJPG.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        # Keep the driver queue short so we always see a recent frame.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _drop_cap(self) -> None:
        if self._cap is not None:
            try:
                self._cap.release()
            finally:
                self._cap = None

    def read(self) -> np.ndarray | None:
        if self._closed:
            return None
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        ok, frame = (False, None)
        if self._cap is not None:
            try:
                ok, frame = self._cap.read()
            except Exception:  # noqa: BLE001 - a vanished device is handled by reopening
                ok = False
        if ok and frame is not None:
            return frame
        return self._reconnect()

    def _reconnect(self) -> np.ndarray | None:
        log.warning("camera %s stopped delivering frames; reopening it", self.index)
        delay = self.backoff_initial
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            frame = self._try_open()
            if frame is not None:
                self.reconnects += 1
                log.warning("camera %s is back after %d attempt(s)", self.index, attempt)
                return frame
            log.info("camera %s still unavailable; retrying in %.2fs", self.index, delay)
            self._sleep(delay)
            delay = min(delay * 2.0, self.backoff_max)
        return None

    def interrupt(self) -> None:
        """Make a pending reconnect give up (safe from another thread; close() still needed)."""
        self._stop.set()

    def _release(self) -> None:
        self._stop.set()
        self._drop_cap()


def check_video_path(path: Path) -> None:
    """Raise a LivebgError naming the fix if ``path`` cannot be a video input."""
    if not path.exists():
        raise LivebgError(f"input {path} does not exist: check the path, or use --camera N")
    if path.is_dir():
        raise LivebgError(f"input {path} is a folder, not a video: pass a video file")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        raise LivebgError(f"input {path} is a photo, not a video: pass a video file")
    if suffix not in VIDEO_EXTENSIONS:
        names = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise LivebgError(f"input {path} has unsupported type {suffix or '(none)'}: use {names}")


def parse_camera(spec: str | int) -> int | None:
    """Camera index for ``0``/``"0"``; None for anything else (a path)."""
    if isinstance(spec, int):
        return spec
    s = str(spec).strip()
    return int(s) if s.isdigit() else None


def open_source(
    spec: str | int | os.PathLike[str],
    *,
    realtime: bool = True,
    loop: bool = False,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    mjpg: bool = False,
    opener: CameraOpener | None = None,
) -> VideoFileSource | CameraSource:
    """Open a camera (int or digit string) or a video file; LivebgError says how to fix a miss."""
    index = parse_camera(spec) if not isinstance(spec, os.PathLike) else None
    if index is not None:
        return CameraSource(index, width=width, height=height, fps=fps, mjpg=mjpg, opener=opener)
    return VideoFileSource(spec, realtime=realtime, loop=loop)


V4L_ROOT = Path("/sys/class/video4linux")


def camera_names(root: Path = V4L_ROOT) -> dict[int, str]:
    """Linux: camera index → the driver's name from ``/sys/class/video4linux/videoN/name``.

    Only capture nodes (``index`` 0): a UVC camera also makes a metadata node that OpenCV
    cannot open. Empty where sysfs has no cameras or on other systems."""
    names: dict[int, str] = {}
    if not root.is_dir():
        return names
    for node in root.glob("video*"):
        number = node.name[len("video"):]
        if not number.isdigit():
            continue
        try:
            if (node / "index").is_file() and (node / "index").read_text().strip() != "0":
                continue
            names[int(number)] = (node / "name").read_text().strip() or f"camera {number}"
        except OSError:
            continue
    return dict(sorted(names.items()))


def list_cameras(max_index: int = 5, root: Path = V4L_ROOT,
                 opener: CameraOpener | None = None) -> list[tuple[int, str]]:
    """(index, name) of each camera. Linux names them from sysfs without opening anything;
    elsewhere indices 0..max_index that open are listed as ``camera N`` (no name given)."""
    if sys.platform.startswith("linux"):
        return list(camera_names(root).items())
    found = []
    for index in range(max_index + 1):
        try:
            open_source(index, opener=opener).close()
        except LivebgError:
            continue
        found.append((index, f"camera {index}"))
    return found


