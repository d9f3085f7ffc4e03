"""Video file output through PyAV (FFmpeg with libx264, libvpx-vp9 and ProRes in its wheels).

    .mp4 .mkv .mov .avi   H.264 (yuv420p), ``quality`` = x264's CRF (default 23)
    .webm                 VP9, ``quality`` = CRF (default 32); with ``alpha``: VP9 + alpha
    .mov with ``alpha``   ProRes 4444 with a 16-bit alpha channel (editing software)

Lifecycle: ``FileSink(...)`` checks everything and opens the container (``_open``); ``write``
encodes one frame; ``close()`` finalises in one place (``_finalise``: flush the encoder, the
rest of the copied sound, the trailer) and raises ``LivebgError`` if that fails; it is
idempotent. ``audio_from``: copy that file's sound through (see ``livebg.sinks.audio``).

The file is written under a hidden temporary next to ``path`` and renamed onto it only once
finalised and read back (``livebg.safeio``): a full disk, a crash or a kill never leaves half
a video under the name, and an earlier file of that name survives a failed job.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livebg.errors import LivebgError
from livebg.safeio import AtomicFile, DiskWatch, os_reason
from livebg.sinks import SinkBase, to_bgr

__all__ = ["ALPHA_EXTENSIONS", "FILE_EXTENSIONS", "FileSink", "VideoFormat", "video_format"]

log = logging.getLogger("livebg.sinks")


@dataclass(frozen=True)
class VideoFormat:
    codec: str
    pix_fmt: str
    options: dict[str, str]
    quality_range: tuple[int, int] | None  # CRF bounds; None: the codec has no CRF
    default_quality: int | None = None


# x264 "veryfast": 720p at 3-4x real time on one core, within 1.5x the size of "medium"'s
_H264 = VideoFormat("libx264", "yuv420p", {"preset": "veryfast"}, (0, 51), 23)
# VP9: crf with b=0 is constant quality; realtime + cpu-used 8 keeps it near x264's speed
_VP9_OPTIONS = {"b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
_VP9 = VideoFormat("libvpx-vp9", "yuv420p", _VP9_OPTIONS, (0, 63), 32)
_VP9_ALPHA = VideoFormat("libvpx-vp9", "yuva420p", _VP9_OPTIONS, (0, 63), 32)
_PRORES_4444 = VideoFormat("prores_ks", "yuva444p10le", {"profile": "4444"}, None)

FILE_EXTENSIONS: dict[str, VideoFormat] = {
    ".mp4": _H264, ".mkv": _H264, ".mov": _H264, ".avi": _H264, ".webm": _VP9,
}
ALPHA_EXTENSIONS: dict[str, VideoFormat] = {".webm": _VP9_ALPHA, ".mov": _PRORES_4444}


def video_format(path: Path, *, alpha: bool = False) -> VideoFormat:
    """The codec for ``path``'s extension; ``LivebgError`` naming the valid ones if none."""
    ext = path.suffix.lower()
    table = ALPHA_EXTENSIONS if alpha else FILE_EXTENSIONS
    if ext not in table:
        if alpha:
            raise LivebgError(f"output {path.name}: video with transparency needs "
                              f"{' or '.join(ALPHA_EXTENSIONS)} (VP9 with alpha, ProRes 4444)")
        raise LivebgError(f"unsupported output type '{ext or path.name}': "
                          f"use {' or '.join(FILE_EXTENSIONS)}")
    return table[ext]


def check_quality(fmt: VideoFormat, quality: int | None) -> None:
    if quality is None or fmt.quality_range is None:
        return
    low, high = fmt.quality_range
    if not low <= quality <= high:
        raise LivebgError(f"--quality {quality} is out of range for {fmt.codec}: use "
                          f"{low}-{high} (lower = better and bigger; default "
                          f"{fmt.default_quality})")


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


def frame_rate(fps: float) -> Fraction:
    """29.97 → 30000/1001: an exact rational rate, so frame i is at i/rate with no drift."""
    return Fraction(fps).limit_denominator(1001)


class FileSink(SinkBase):
    """Writes frames to ``path`` at ``fps``; ``size`` is (w, h), other sizes are resized.

    ``alpha``: keep a BGRA frame's alpha (``--bg transparent``; .webm or .mov). ``quality``:
    CRF (lower = better, bigger). ``audio_from``: a file whose sound is copied through.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int], *,
                 alpha: bool = False, quality: int | None = None,
                 audio_from: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.fps = float(fps) if fps and fps > 0 else 30.0  # cameras may report 0 fps
        self.size = (int(size[0]), int(size[1]))
        self.alpha = alpha
        self.frames = 0
        self.format = video_format(self.path, alpha=alpha)
        check_quality(self.format, quality)
        self.quality = quality if quality is not None else self.format.default_quality
        if min(self.size) <= 0:
            raise ValueError(f"size must be positive (width, height), got {size}")
        if self.format.pix_fmt == "yuv420p" and any(s % 2 for s in self.size):
            raise LivebgError(f"H.264/VP9 need an even frame size, got {self.size[0]}x"
                              f"{self.size[1]}: crop or scale the input")
        check_writable_folder(self.path.parent)  # "x.mp4".parent is "."
        if self.path.is_dir():
            raise LivebgError(f"cannot open video writer for {self.path}: it is a folder; "
                              "pick a file name")
        self._target = AtomicFile(self.path)
        self._disk = DiskWatch(self.path.parent)
        self._rate = frame_rate(self.fps)
        self._container: Any = None
        self._stream: Any = None
        self.audio: Any = None
        self._open(Path(audio_from) if audio_from is not None else None)

    # ------------------------------------------------------------------ lifecycle
    def _open(self, audio_from: Path | None) -> None:
        """Open the container and its streams: the one place a file is created."""
        import av

        fmt = self.format
        try:
            # the temporary keeps the extension: FFmpeg picks the container by it
            self._container = av.open(str(self._target.temp), "w")
            options = dict(fmt.options)
            if self.quality is not None:
                options["crf"] = str(self.quality)
            stream = self._container.add_stream(fmt.codec, rate=self._rate, options=options)
            stream.width, stream.height = self.size
            stream.pix_fmt = fmt.pix_fmt
            self._stream = stream
            if audio_from is not None:
                from livebg.sinks.audio import AudioPassthrough

                self.audio = AudioPassthrough(audio_from, self._container, self.path.suffix)
                if self.audio.stream is None:
                    self.audio = None
            self._container.start_encoding()  # creates the file and its header now
        except (av.FFmpegError, OSError) as exc:
            self._abandon()
            self._target.discard()
            raise LivebgError(f"cannot open video writer for {self.path}: {exc}; check the "
                              "folder is writable and the disk not full") from exc

    @property
    def committed(self) -> bool:
        """Whether the video is complete under its final name (after ``close()``)."""
        return self._target.committed

    def write(self, frame: np.ndarray) -> None:
        self._check_open()
        import av

        image = self._prepare(frame)
        vf = av.VideoFrame.from_ndarray(image, format="bgra" if self.alpha else "bgr24")
        vf.pts = self.frames
        vf.time_base = 1 / self._rate
        try:
            self._container.mux(self._stream.encode(vf))
            self.frames += 1
            if self.audio is not None:
                self.audio.mux_until(self._container, float(self.frames / self._rate))
        except (av.FFmpegError, OSError) as exc:
            self._abandon()
            raise self._target.failure(f"writing frame {self.frames + 1} failed "
                                       f"({os_reason(exc)})") from exc
        if self._disk.full():  # FFmpeg buffers: stop before a whole buffer's worth is lost
            self._abandon()
            raise self._target.failure(f"the disk filled up after {self.frames} frames")

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        if not self.alpha:
            return to_bgr(frame, self.size)
        if frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
        if frame.ndim == 2 or frame.shape[2] == 3:  # no alpha of its own: opaque
            code = cv2.COLOR_GRAY2BGRA if frame.ndim == 2 else cv2.COLOR_BGR2BGRA
            frame = cv2.cvtColor(frame, code)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame)

    def _close(self) -> None:
        self._finalise()
        if self.frames == 0:
            self._target.discard()  # stopped before the first frame: no empty video
            return
        problem = self._problem()
        if problem:
            raise self._target.failure(problem)
        self._target.commit()

    def _problem(self) -> str | None:
        """Why the finished temporary is not a good video, or None: it is read back, its
        first and last frame (a trailer that never reached the disk does not open; a
        cut-off file has no last frame)."""
        cap = cv2.VideoCapture(str(self._target.temp))
        try:
            ok = cap.isOpened() and cap.read()[0]
            if ok and self.frames > 1:
                cap.set(cv2.CAP_PROP_POS_FRAMES, self.frames - 1)
                ok = cap.read()[0]
        finally:
            cap.release()
        return None if ok else "the finished file does not play (disk full or encoder failure)"

    def _finalise(self) -> None:
        """Flush the encoder and the rest of the sound, write the trailer, close the file."""
        import av

        container, self._container = self._container, None
        if container is None:
            return
        try:
            container.mux(self._stream.encode(None))
            if self.audio is not None:
                self.audio.finish(container, float(self.frames / self._rate))
            container.close()
        except (av.FFmpegError, OSError) as exc:
            self._abandon(container)
            raise self._target.failure(f"finishing it failed ({os_reason(exc)}): it was "
                                       "incomplete") from exc
        finally:
            if self.audio is not None:
                self.audio.close()

    def _abandon(self, container: Any = None) -> None:
        """Release a container that failed: nothing more will be written to it."""
        container = container or self._container
        self._container = None
        self.closed = True
        if self.audio is not None:
            self.audio.close()
        if container is not None:
            try:
                container.close()
            except Exception as exc:  # already failing: report the first error, log this one
                log.debug("closing a failed container: %s", exc)
