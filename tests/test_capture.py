"""Capture: the latest-frame hand-off, camera reconnects with back-off, file pacing and looping."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLIP_SIZE, synthetic_frame

from livebg.capture import CameraSource, VideoFileSource, open_source
from livebg.errors import LivebgError
from livebg.handoff import LatestFrameSlot
from livebg.quiet import quiet_native_stderr

# ----------------------------------------------------------------------------- LatestFrameSlot


def test_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    for i in range(5):
        assert slot.put(i)
    assert slot.get(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0.01) is None  # empty again: waits, then gives up


def test_slot_get_times_out() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    t0 = time.monotonic()
    assert slot.get(timeout=0.05) is None
    assert 0.04 <= time.monotonic() - t0 < 1.0


def test_slot_close_wakes_a_waiting_consumer() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    waiter.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    slot.close()
    waiter.join(2)
    assert not waiter.is_alive() and got == [None]
    assert time.monotonic() - t0 < 1.0
    assert not slot.put(1)  # closed: refuses new items


def test_slot_drains_the_last_item_after_close() -> None:
    slot: LatestFrameSlot[str] = LatestFrameSlot()
    slot.put("last")
    slot.close()
    assert slot.get(timeout=0) == "last"
    assert slot.get(timeout=0) is None


def test_blocking_slot_never_drops() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot(blocking=True)
    assert slot.put(1)
    assert not slot.put(2, timeout=0.02)  # full: waits for room, times out
    assert slot.get(timeout=0) == 1
    assert slot.put(2, timeout=0.02)
    assert slot.get(timeout=0) == 2
    assert slot.dropped == 0


# ----------------------------------------------------------------------------- cameras


class FakeCapture:
    """cv2.VideoCapture stand-in: delivers ``frames`` frames, then reads fail (unplugged)."""

    def __init__(self, opened: bool = True, frames: int = 10**9) -> None:
        self.opened = opened
        self.remaining = frames
        self.sets: list[tuple[int, float]] = []
        self.released = 0
        self.n = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.sets.append((prop, value))
        return True

    def get(self, prop: int) -> float:
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.opened or self.remaining <= 0:
            return False, None
        self.remaining -= 1
        self.n += 1
        return True, synthetic_frame(self.n)

    def release(self) -> None:
        self.released += 1


class FlakyOpener:
    """First capture works for ``first_frames`` reads, then ``failures`` opens fail, then OK."""

    def __init__(self, first_frames: int, failures: int) -> None:
        self.first_frames = first_frames
        self.failures = failures
        self.caps: list[FakeCapture] = []

    def __call__(self, index: int) -> FakeCapture:
        if not self.caps:
            cap = FakeCapture(frames=self.first_frames)
        elif self.failures > 0:
            self.failures -= 1
            cap = FakeCapture(opened=False)
        else:
            cap = FakeCapture()
        self.caps.append(cap)
        return cap


def test_camera_reopens_with_exponential_backoff(caplog: pytest.LogCaptureFixture) -> None:
    opener = FlakyOpener(first_frames=3, failures=4)
    delays: list[float] = []
    cam = CameraSource(0, opener=opener, backoff_initial=0.1, backoff_max=0.5,
                       sleep=delays.append)
    with caplog.at_level(logging.INFO, logger="livebg.capture"), cam:
        frames = [cam.read() for _ in range(6)]
    assert all(f is not None and f.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3) for f in frames)
    assert delays == [0.1, 0.2, 0.4, 0.5]  # doubles, capped at backoff_max
    assert cam.reconnects == 1
    assert len(opener.caps) == 1 + 4 + 1
    assert all(c.released == 1 for c in opener.caps), "every capture released exactly once"
    text = caplog.text
    assert "stopped delivering frames" in text and "is back after 5 attempt" in text


def test_camera_reconnect_gives_up_when_interrupted() -> None:
    opener = FlakyOpener(first_frames=1, failures=10**6)
    cam = CameraSource(0, opener=opener, backoff_initial=0.01)
    delays: list[float] = []

    def sleep(d: float) -> None:
        delays.append(d)
        if len(delays) == 3:
            cam.interrupt()  # what Pipeline.stop() does from another thread

    cam._sleep = sleep
    assert cam.read() is not None
    assert cam.read() is None
    assert len(delays) == 3
    cam.close()
    cam.close()
    assert cam.read() is None


def test_camera_that_does_not_open_names_the_fix() -> None:
    with pytest.raises(LivebgError, match=r"camera 2 did not open: try --camera 3 or --input"):
        open_source(2, opener=lambda i: FakeCapture(opened=False))


def test_camera_settings_mjpg_before_size() -> None:
    caps: list[FakeCapture] = []

    def opener(i: int) -> FakeCapture:
        caps.append(FakeCapture())
        return caps[-1]

    with open_source("0", width=1280, height=720, fps=30, mjpg=True, opener=opener) as cam:
        assert cam.frame_count is None and cam.fps == 30.0
    props = [p for p, _ in caps[0].sets]
    assert props.index(cv2.CAP_PROP_FOURCC) < props.index(cv2.CAP_PROP_FRAME_WIDTH)
    assert (cv2.CAP_PROP_FRAME_HEIGHT, 720) in caps[0].sets
    assert (cv2.CAP_PROP_FPS, 30) in caps[0].sets


# ----------------------------------------------------------------------------- files


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_file_reads_every_frame_then_ends(clip: Path) -> None:
    with open_source(clip, realtime=False) as src:
        assert src.size == CLIP_SIZE and src.frame_count == 24 and src.fps == pytest.approx(24)
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    assert len(frames) == 24
    # the bright bar marks the frame index: frames come in order
    assert np.abs(frames[5].astype(int) - synthetic_frame(5)).mean() < 4


def test_file_realtime_sleeps_to_the_file_fps(clip: Path) -> None:
    clock = FakeClock()
    src = VideoFileSource(clip, realtime=True, clock=clock, sleep=clock.sleep)
    for _ in range(24):
        assert src.read() is not None
    src.close()
    assert clock.now - 100.0 == pytest.approx(23 / 24)  # frame i is due at i/fps
    assert len(clock.sleeps) == 23


def test_file_decodes_on_one_thread(clip: Path) -> None:
    """The pipeline already decodes in parallel with the other stages; FFmpeg's own frame
    threads would only add CPU (and the pipeline's decode would still be one frame at a time)."""
    with VideoFileSource(clip, realtime=False) as src:
        assert src._cap.get(cv2.CAP_PROP_N_THREADS) == 1
        assert src.read() is not None


def test_file_as_fast_as_possible_never_sleeps(clip: Path) -> None:
    clock = FakeClock()
    with VideoFileSource(clip, realtime=False, clock=clock, sleep=clock.sleep) as src:
        while src.read() is not None:
            pass
    assert clock.sleeps == []


def test_file_loops(clip: Path) -> None:
    with open_source(clip, realtime=False, loop=True) as src:
        assert src.frame_count is None  # endless
        frames = [src.read() for _ in range(60)]
    assert all(f is not None for f in frames)
    diff = lambda a, b: np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
    assert diff(frames[24], frames[0]) < 1 < diff(frames[24], frames[1])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mp4", None, "does not exist"),
        ("notes.txt", b"hello", "unsupported type .txt"),
        ("broken.mp4", b"\x00garbage" * 200, "not a video OpenCV can open"),
        ("photo.jpg", b"x", "is a photo, not a video"),
    ],
)
def test_bad_video_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LivebgError, match=message):
        open_source(path)


def test_shared_clip_size_and_count(shared_dir: Path) -> None:
    with open_source(shared_dir / "videos" / "s18.mp4", realtime=False) as src:
        assert src.size == (1280, 720) and src.frame_count == 282
        assert src.read().shape == (720, 1280, 3)


# ----------------------------------------------------------------------------- native stderr


def test_quiet_native_stderr_silences_fd2_and_restores_it(
    capfd: pytest.CaptureFixture[str],
) -> None:
    os.write(2, b"before\n")
    with quiet_native_stderr():
        os.write(2, b"native noise\n")  # what C++ logging does: straight to the descriptor
        with quiet_native_stderr():  # nested (two models loading at once): restored only once
            pass
        os.write(2, b"still quiet\n")
        # a native thread writes to the same fd table
        worker = threading.Thread(target=os.write, args=(2, b"thread noise\n"))
        worker.start()
        worker.join()
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"


def test_quiet_native_stderr_without_a_usable_fd2(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fd(fd: int) -> int:
        raise OSError(9, "Bad file descriptor")

    monkeypatch.setattr(os, "dup", no_fd)  # as when fd 2 is closed (pythonw, some daemons)
    with quiet_native_stderr():
        ran = True
    assert ran
