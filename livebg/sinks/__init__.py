"""Outputs for composited frames: a file, a virtual camera, or nothing (the on-screen
preview is the desktop app in ``livebg.gui``).

Every sink has ``write(frame)`` (BGR uint8 HxWx3; BGRA is accepted and flattened), an
idempotent ``close()``, and works as a context manager. ``create_sink(name, **kw)`` builds one
by name; the backends are imported lazily so e.g. pyvirtualcam loads only when asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from livebg.errors import LivebgError

__all__ = [
    "SINKS",
    "NullSink",
    "Sink",
    "SinkBase",
    "available_sinks",
    "create_sink",
    "to_bgr",
]


@runtime_checkable
class Sink(Protocol):
    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Sink: ...

    def __exit__(self, *exc: object) -> None: ...


class SinkBase:
    """Context-manager plumbing shared by the sinks: ``with`` closes, ``close`` is idempotent."""

    closed: bool = False

    def _close(self) -> None:
        """Release resources; called at most once."""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def _check_open(self) -> None:
        if self.closed:
            raise LivebgError(f"{type(self).__name__} is closed: create a new sink to write again")

    def __enter__(self) -> SinkBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_bgr(frame: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """BGR uint8 HxWx3 from BGR/BGRA/gray; resized to ``size`` (w, h) when it differs.

    Writers and cameras drop or reject frames of any other size or layout, so normalise here.
    """
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if size is not None and (frame.shape[1], frame.shape[0]) != tuple(size):
        frame = cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame)


class NullSink(SinkBase):
    """Discards frames, counting them (benchmarks, tests)."""

    def __init__(self, **_: Any) -> None:
        self.frames = 0
        self.last_shape: tuple[int, ...] | None = None

    def write(self, frame: np.ndarray) -> None:
        self._check_open()
        self.frames += 1
        self.last_shape = frame.shape


# name → "module:Class" (imported on use) so listing sinks costs nothing
SINKS: dict[str, str] = {
    "file": "livebg.sinks.file:FileSink",
    "null": "livebg.sinks:NullSink",
    "virtualcam": "livebg.sinks.virtualcam:VirtualCamSink",
}  # the on-screen preview is the desktop app (livebg.gui), fed by Pipeline.on_frame


def available_sinks() -> list[str]:
    return sorted(SINKS)


def create_sink(name: str, **kwargs: Any) -> Sink:
    """Build the sink called ``name`` with ``kwargs``; an unknown name lists the valid ones."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    target = SINKS.get(key)
    if target is None:
        raise LivebgError(f"unknown sink {name!r}: use one of {', '.join(available_sinks())}")
    module_name, cls_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ImportError as exc:
        raise LivebgError(
            f"sink {name!r} is unavailable ({exc}): reinstall livebg with its dependencies"
        ) from exc
    return cls(**kwargs)
