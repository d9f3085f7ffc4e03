"""Shared test helpers: a generated clip with a known "person", fakes for the pipeline stages."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A shell that starts the suite in the background (`pytest &`, nohup) makes SIGINT ignored, and
# every child process inherits that: the Ctrl-C tests would hang. Let it raise again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLE = Path(__file__).resolve().parents[1] / "livebg" / "assets" / "sample.mp4"

# The generated clip: a green-ish textured background and a magenta ellipse "person" whose
# position is known, so tests can check that person pixels are kept and background replaced.
CLIP_SIZE = (160, 120)  # (w, h)
PERSON_BGR = (200, 40, 200)
BACKGROUND_BGR = (40, 160, 60)


def person_mask(size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    """float32 h×w: 1 inside the centred ellipse (the generated clip's person)."""
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 6, h // 3), 0, 0, 360, 255, -1)
    return (mask > 0).astype(np.float32)


def badge_xy(size: tuple[int, int] = CLIP_SIZE) -> tuple[int, int]:
    """Centre of the dark badge on the person's left (inside the ellipse)."""
    w, h = size
    return w // 2 - w // 10, h // 2


def synthetic_frame(index: int, size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    """Frame ``index`` of the generated clip; a bright bar's x position encodes the index."""
    w, h = size
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = BACKGROUND_BGR
    frame[person_mask(size) > 0] = PERSON_BGR
    bx, by = badge_xy(size)
    frame[by - 3 : by + 3, bx - 3 : bx + 3] = 0  # a dark badge left of centre: shows mirroring
    x = (index * 7) % (w - 8)
    frame[: h // 8, x : x + 8] = 255
    return frame


def sample_frame(index: int = 60) -> np.ndarray:
    """Frame ``index`` of the bundled sample clip (a real person at a desk)."""
    cap = cv2.VideoCapture(str(SAMPLE))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def write_clip(path: Path, frames: int = 24, size: tuple[int, int] = CLIP_SIZE,
               fps: float = 24.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(frames):
        writer.write(synthetic_frame(i, size))
    writer.release()
    return path


def read_all(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 24-frame 160x120 mp4 at 24 fps with the ellipse person."""
    return write_clip(tmp_path / "clip.mp4")


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


class FakeSegmenter:
    """Returns the ellipse mask at a lower "model resolution", like a real backend."""

    name = "fake"
    device = "cpu"

    def __init__(self, model_size: tuple[int, int] = (64, 48), delay: float = 0.0,
                 fail_at: int | None = None) -> None:
        self.model_size = model_size
        self.delay = delay
        self.fail_at = fail_at
        self.calls = 0
        self.close_calls = 0

    def infer(self, frame_bgr: np.ndarray, thumbnails: object = None) -> np.ndarray:
        import time

        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("model exploded")
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return person_mask(self.model_size)

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        h, w = frame_bgr.shape[:2]
        return person_mask((w, h))

    def close(self) -> None:
        self.close_calls += 1


class RecordingSink:
    """Keeps every frame written and counts close() calls."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.close_calls = 0

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.close_calls += 1

    def __enter__(self) -> RecordingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ListSource:
    """A FrameSource over a list of frames; counts close() calls."""

    is_camera = False

    def __init__(self, frames: list[np.ndarray], fps: float = 30.0,
                 on_read: Callable[[int], None] | None = None) -> None:
        self.frames = frames
        self.fps = fps
        self.size = (frames[0].shape[1], frames[0].shape[0])
        self.frame_count: int | None = len(frames)
        self.on_read = on_read
        self.pos = 0
        self.close_calls = 0

    def read(self) -> np.ndarray | None:
        if self.on_read is not None:
            self.on_read(self.pos)
        if self.pos >= len(self.frames):
            return None
        self.pos += 1
        return self.frames[self.pos - 1]

    def close(self) -> None:
        self.close_calls += 1


@pytest.fixture
def fake_segmenter() -> FakeSegmenter:
    return FakeSegmenter()


@pytest.fixture
def use_fake_segmenter(monkeypatch: pytest.MonkeyPatch) -> list[FakeSegmenter]:
    """Make ``load_segmenter`` (as used by the pipeline, CLI, stills, bench) return fakes."""
    import livebg.segment

    made: list[FakeSegmenter] = []

    def fake_load(name: str = "auto", device: str = "auto", weights: str | None = None,
                  photos: bool = False):
        seg = FakeSegmenter()
        seg.name = name if name != "auto" else "fake"
        seg.device = "cpu" if device == "auto" else device
        made.append(seg)
        return seg

    monkeypatch.setattr(livebg.segment, "load_segmenter", fake_load)
    return made
