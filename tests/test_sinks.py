"""Sinks: file round trip, virtual camera against a fake backend, the registry, bad paths."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import read_all

from livebg.errors import LivebgError
from livebg.sinks import SINKS, NullSink, Sink, available_sinks, create_sink
from livebg.sinks import file as file_sink
from livebg.sinks.file import FileSink
from livebg.sinks.virtualcam import VirtualCamSink, VirtualCamUnavailable, setup_hint

W, H = 160, 96


def colour_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame i: a solid colour that survives compression, plus a bar whose position is i."""
    frame = np.full((h, w, 3), ((i * 40) % 256, 128, 255 - (i * 40) % 256), np.uint8)
    frame[:, (i * 8) % w : (i * 8) % w + 8] = 255
    return frame


# ---------------------------------------------------------------- registry / NullSink


def test_registry_lists_names_on_a_typo() -> None:
    assert {"file", "null", "virtualcam"} <= set(available_sinks())
    for name in available_sinks():  # every entry must resolve to a real class
        module, _, cls = SINKS[name].partition(":")
        assert hasattr(importlib.import_module(module), cls)
    with pytest.raises(LivebgError, match="file, null, virtualcam"):
        create_sink("virtcam")


def test_null_sink_counts_and_closes_once() -> None:
    with create_sink("null") as sink:
        assert isinstance(sink, NullSink) and isinstance(sink, Sink)
        for i in range(3):
            sink.write(colour_frame(i))
    assert sink.frames == 3 and sink.last_shape == (H, W, 3) and sink.closed
    sink.close()
    with pytest.raises(LivebgError, match="closed"):
        sink.write(colour_frame(0))


# ---------------------------------------------------------------- FileSink


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_file_round_trip(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"out{ext}"
    with create_sink("file", path=path, fps=25, size=(W, H)) as sink:
        for i in range(12):
            sink.write(colour_frame(i))
    assert sink.frames == 12
    frames = read_all(path)
    assert len(frames) == 12
    assert all(f.shape == (H, W, 3) for f in frames)
    for i, f in enumerate(frames):  # the right frame in the right order, colours kept
        assert np.abs(f[H // 2, W - 4].astype(int) - colour_frame(i)[H // 2, W - 4]).max() < 20
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25, abs=0.5)
    cap.release()


def test_file_sink_accepts_bgra_and_other_sizes(tmp_path: Path) -> None:
    path = tmp_path / "mixed.mp4"
    with FileSink(path, 30, (W, H)) as sink:
        sink.write(cv2.cvtColor(colour_frame(0), cv2.COLOR_BGR2BGRA))
        sink.write(colour_frame(1, 2 * W, 2 * H))  # would be dropped silently by VideoWriter
        sink.write(cv2.cvtColor(colour_frame(2), cv2.COLOR_BGR2GRAY))
    frames = read_all(path)
    assert len(frames) == 3 and all(f.shape == (H, W, 3) for f in frames)


def test_file_sink_missing_folder_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    with pytest.raises(LivebgError, match="does not exist") as err:
        FileSink(folder / "out.mp4", 30, (W, H))
    assert str(folder) in str(err.value)


def test_file_sink_unwritable_folder_names_it(tmp_path: Path, monkeypatch) -> None:
    # root can write anywhere, so stand in for a read-only folder: creating a file there fails
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(file_sink.tempfile, "TemporaryFile", refuse)
    with pytest.raises(LivebgError, match="not writable") as err:
        FileSink(tmp_path / "out.mp4", 30, (W, H))
    assert str(tmp_path) in str(err.value)


def test_file_sink_writer_that_cannot_open(tmp_path: Path) -> None:
    target = tmp_path / "taken.mp4"
    target.mkdir()  # a folder where the file should go: the writer cannot open it
    with pytest.raises(LivebgError, match="cannot open video writer"):
        FileSink(target, 30, (W, H))


def test_file_sink_unsupported_extension(tmp_path: Path) -> None:
    with pytest.raises(LivebgError, match=r"\.mp4"):
        FileSink(tmp_path / "out.gif", 30, (W, H))


# ---------------------------------------------------------------- VirtualCamSink


class FakeCamera:
    """Stands in for pyvirtualcam.Camera: records what it is sent."""

    instances: list[FakeCamera] = []

    def __init__(self, width: int, height: int, fps: float, **kw: Any) -> None:
        self.width, self.height, self.fps, self.kw = width, height, fps, kw
        self.frames: list[np.ndarray] = []
        self.closes = 0
        self.device = "/dev/video42"
        FakeCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        # pyvirtualcam's own checks: exact shape, uint8, C-contiguous
        assert frame.shape == (self.height, self.width, 3)
        assert frame.dtype == np.uint8 and frame.flags["C_CONTIGUOUS"]
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closes += 1


def test_virtualcam_sends_bgr_frames_of_the_right_size() -> None:
    with VirtualCamSink(W, H, 30, backend="fake", camera_factory=FakeCamera) as sink:
        cam = FakeCamera.instances[-1]
        assert sink.device == "/dev/video42" and cam.kw["backend"] == "fake"
        assert (cam.width, cam.height, cam.fps) == (W, H, 30)
        blue = np.zeros((H, W, 3), np.uint8)
        blue[..., 0] = 255
        sink.write(blue)
        sink.write(cv2.cvtColor(blue, cv2.COLOR_BGR2BGRA))
        sink.write(np.ascontiguousarray(colour_frame(3, 2 * W, 2 * H)[:, ::2]))  # wrong size
    assert len(cam.frames) == 3 and sink.frames == 3
    assert (cam.frames[0][..., 0] == 255).all() and (cam.frames[0][..., 1:] == 0).all()
    assert np.array_equal(cam.frames[1], cam.frames[0])
    assert cam.frames[2].shape == (H, W, 3)
    sink.close()
    sink.close()
    assert cam.closes == 1  # idempotent


def test_virtualcam_failure_becomes_unavailable_with_hint() -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("no device\nsecond line")

    with pytest.raises(VirtualCamUnavailable) as err:
        VirtualCamSink(W, H, 30, camera_factory=broken)
    msg = str(err.value)
    assert "no device" in msg and "second line" not in msg and "\n" not in msg
    assert setup_hint() in msg


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_real_pyvirtualcam_without_device_gives_the_linux_fix() -> None:
    try:
        sink = create_sink("virtual-cam", width=W, height=H, fps=30)
    except VirtualCamUnavailable as err:
        msg = str(err)
        assert "sudo modprobe v4l2loopback exclusive_caps=1 card_label=livebg" in msg
        assert "v4l2loopback-dkms" in msg
        assert isinstance(err, LivebgError)
    else:  # a machine with v4l2loopback loaded: nothing to check here
        sink.close()
        pytest.skip("a virtual camera device exists on this machine")


def test_unknown_backend_lists_valid_ones() -> None:
    with pytest.raises(LivebgError, match="unknown virtual camera backend 'nope'"):
        VirtualCamSink(W, H, 30, backend="nope")


@pytest.mark.parametrize("system", ["Windows", "Darwin"])
def test_hint_for_windows_and_macos_mentions_obs(system: str) -> None:
    assert "OBS" in setup_hint(system) and "virtual camera" in setup_hint(system)
