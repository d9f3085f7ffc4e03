"""The desktop app, offscreen: a real clip through the real pipeline, asserting rendered pixels.

Run: QT_QPA_PLATFORM=offscreen python -m pytest tests/test_gui.py -q
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
pytest.importorskip("PyQt6.QtWidgets")
cv2 = pytest.importorskip("cv2")

from PyQt6.QtCore import QPoint, Qt  # noqa: E402
from PyQt6.QtTest import QTest  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from livebg.gui.app import ensure_app  # noqa: E402
from livebg.gui.controls import CPU_ONLY_NOTE  # noqa: E402
from livebg.gui.main_window import (  # noqa: E402
    MainWindow,
    background_to_mode,
    bundled_backgrounds,
    format_stats,
)
from livebg.gui.preview import FrameBridge, compose_split  # noqa: E402
from livebg.gui.settings import Settings, load_settings, save_settings  # noqa: E402
from livebg.pipeline import Pipeline, PipelineConfig  # noqa: E402
from livebg.sinks.virtualcam import VirtualCamSink, VirtualCamUnavailable  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
RED = (0, 0, 255)  # BGR


# ------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="session")
def qapp() -> QApplication:
    return ensure_app([])


def pump(ms: int = 50) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.005)


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Spin the Qt event loop until ``pred()`` is truthy (frames arrive via queued signals)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        value = pred()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared real clip if present, else the bundled sample, else a generated one."""
    for candidate in (SHARED / "videos" / "doctor.mp4", REPO / "livebg" / "assets" / "sample.mp4"):
        if candidate.is_file():
            return candidate
    path = tmp_path_factory.mktemp("clip") / "generated.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 180))
    for i in range(50):
        frame = np.full((180, 320, 3), 90, np.uint8)
        cv2.circle(frame, (160 + i, 100), 40, (40, 160, 220), -1)
        writer.write(frame)
    writer.release()
    return path


class FakeSegmenter:
    """A known mask: the person is a box on the right (x 55–90 %, y 20–100 %), low resolution."""

    name = "fake"
    device = "cpu"

    def __init__(self) -> None:
        self.closed = 0
        self.mask = np.zeros((36, 64), np.float32)
        self.mask[7:, 35:58] = 1.0

    def infer(self, frame: np.ndarray, thumbnails: object = None) -> np.ndarray:
        return self.mask.copy()

    def predict(self, frame: np.ndarray) -> np.ndarray:
        return cv2.resize(self.infer(frame), frame.shape[1::-1])

    def close(self) -> None:
        self.closed += 1


class FakeCamera:
    """Stands in for pyvirtualcam.Camera behind VirtualCamSink."""

    def __init__(self, width: int, height: int, fps: float, **_: Any) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.device = "/dev/video-fake"
        self.frames: list[np.ndarray] = []
        self.closed = 0
        self._lock = threading.Lock()

    def send(self, frame: np.ndarray) -> None:
        with self._lock:
            self.frames.append(frame)
            del self.frames[:-3]  # keep memory flat
            self.sent = getattr(self, "sent", 0) + 1

    def close(self) -> None:
        self.closed += 1


class Harness:
    """Builds windows whose pipelines use a FakeSegmenter and whose virtual camera is fake."""

    def __init__(self, clip: Path, config_dir: Path) -> None:
        self.clip = clip
        self.settings_file = config_dir / "settings.json"
        self.segmenters: list[FakeSegmenter] = []
        self.pipelines: list[Pipeline] = []
        self.cameras: list[FakeCamera] = []
        self.raw: dict[int, np.ndarray] = {}  # id(composited) -> original, as the pipeline sent
        self.windows: list[MainWindow] = []

    def pipeline_factory(self, config: PipelineConfig, on_frame: Any) -> Pipeline:
        seg = FakeSegmenter()
        self.segmenters.append(seg)

        def record(original: np.ndarray, composited: np.ndarray, stats: Any) -> None:
            self.raw[id(composited)] = original
            if len(self.raw) > 64:
                self.raw.pop(next(iter(self.raw)))
            on_frame(original, composited, stats)

        pipeline = Pipeline(config, on_frame=record, segmenter=seg)
        self.pipelines.append(pipeline)
        return pipeline

    def vcam_factory(self, width: int, height: int, fps: float) -> VirtualCamSink:
        def camera(w: int, h: int, f: float, **kw: Any) -> FakeCamera:
            cam = FakeCamera(w, h, f, **kw)
            self.cameras.append(cam)
            return cam

        return VirtualCamSink(width, height, fps, camera_factory=camera)

    def window(self, wait: bool = True, **kwargs: Any) -> MainWindow:
        options: dict[str, Any] = dict(
            settings_file=self.settings_file,
            pipeline_factory=self.pipeline_factory,
            vcam_factory=self.vcam_factory,
            models=["auto", "unet", "mediapipe"],
            cuda=False,
            camera_probe=lambda skip=(): [],
        )
        options.update(kwargs)
        config = options.pop("config", PipelineConfig(source=str(self.clip)))
        remembered = self.settings_file.exists()
        win = MainWindow(config, **options)
        if not remembered:
            win.resize(1100, 650)
        win.show()
        self.windows.append(win)
        if wait:
            wait_until(lambda: win.preview.frames_shown > 2, what="first frames")
        return win

    def next_frame(self, win: MainWindow) -> np.ndarray:
        """A frame rendered after now (so settings changed before this call are in effect)."""
        pump(30)  # let frames composited under the old setting drain
        start = win.preview.frames_shown
        wait_until(lambda: win.preview.frames_shown >= start + 2, what="new frames")
        frame = win.preview.displayed_frame()
        assert frame is not None
        return frame


@pytest.fixture
def harness(
    qapp: QApplication, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    monkeypatch.setenv("LIVEBG_CONFIG_DIR", str(tmp_path / "config"))
    h = Harness(clip, tmp_path / "config")
    yield h
    for win in h.windows:
        win.close()
    pump(20)


def region(frame: np.ndarray, fx0: float, fx1: float, fy0: float, fy1: float) -> np.ndarray:
    h, w = frame.shape[:2]
    return frame[int(fy0 * h) : int(fy1 * h), int(fx0 * w) : int(fx1 * w)]


def is_color(patch: np.ndarray, color: tuple[int, int, int], tol: int = 3) -> bool:
    return bool(np.all(np.abs(patch.astype(int) - np.array(color)) <= tol))


# ------------------------------------------------------------------------------- units
def test_bridge_keeps_only_the_latest_frame(qapp: QApplication) -> None:
    bridge = FrameBridge()
    seen: list[int] = []
    bridge.frame_ready.connect(lambda: seen.append(1))
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(5)]

    def producer() -> None:  # the pipeline's output thread
        for f in frames:
            bridge.push(f, f, None)

    t = threading.Thread(target=producer)
    t.start()
    t.join()
    pump(30)
    assert len(seen) == 1  # one queued notification, not five
    item = bridge.take()
    assert item is not None and item[1][0, 0, 0] == 4  # the newest frame won
    assert bridge.dropped == 4 and bridge.take() is None
    bridge.close()
    bridge.push(frames[0], frames[0], None)
    assert bridge.take() is None


def test_compose_split_left_original_right_result() -> None:
    before = np.zeros((10, 20, 3), np.uint8)
    after = np.full((10, 20, 3), 200, np.uint8)
    out = compose_split(before, after, 0.25)
    assert (out[:, :5] == 0).all() and (out[:, 5:] == 200).all()
    assert compose_split(before, after, None) is after


def test_settings_tolerate_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert load_settings(path) == Settings()
    path.write_text(json.dumps({"mirror": "yes", "feather": 7, "background_mode": "lava"}))
    s = load_settings(path)
    assert s.mirror is False and s.feather == 7 and s.background_mode == "blur"
    s.add_recent_image("/a.jpg")
    s.add_recent_image("/b.jpg")
    s.add_recent_image("/a.jpg")
    assert s.recent_images == ["/a.jpg", "/b.jpg"]
    save_settings(s, path)
    assert load_settings(path) == s


def test_settings_from_before_the_alternating_mirror_get_the_new_default(
        tmp_path: Path) -> None:
    """A file without a version saved "auto" only because it was the default then; a
    current file's "auto" (the plain network, chosen in the window) stays."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"model": "auto", "mirror": True}))
    old = load_settings(path)
    assert old.model == "auto+alt" and old.mirror
    path.write_text(json.dumps({"model": "mediapipe"}))
    assert load_settings(path).model == "mediapipe"
    save_settings(Settings(model="auto"), path)
    assert load_settings(path).model == "auto"


def test_background_spec_mapping() -> None:
    assert background_to_mode("blur") == ("blur", "")
    assert background_to_mode("green") == ("color", "#00b140")
    assert background_to_mode("/x/beach.jpg") == ("image", "/x/beach.jpg")
    assert background_to_mode("/x/waves.mp4") == ("video", "/x/waves.mp4")
    office = str(REPO / "livebg" / "assets" / "backgrounds" / "office.jpg")
    assert background_to_mode("office") == ("image", office), "--bg office: the bundled one"
    assert office in bundled_backgrounds()
    assert format_stats(None)[0] == "– FPS"


# ------------------------------------------------------------------------------- the window
def test_colour_mode_replaces_background_pixels(harness: Harness) -> None:
    win = harness.window()
    win.panel.mode_combo.setCurrentIndex(win.panel.mode_combo.findData("color"))
    win.panel.select_color("#ff0000")
    frame = harness.next_frame(win)
    assert is_color(region(frame, 0.0, 0.45, 0.0, 1.0), RED)  # background → the colour
    assert is_color(region(frame, 0.0, 1.0, 0.0, 0.15), RED)
    # Inside the person box the camera pixels pass through unchanged.
    raw = harness.raw[id(win.preview._composited)]
    inner = (slice(int(0.3 * raw.shape[0]), raw.shape[0]), slice(int(0.6 * raw.shape[1]),
                                                                 int(0.85 * raw.shape[1])))
    assert np.abs(frame[inner].astype(int) - raw[inner].astype(int)).max() <= 1
    assert win.pipeline is not None and win.pipeline.config.background == "#ff0000"
    # What is painted on screen is that frame: sample the widget itself.
    image = win.preview.grab().toImage()
    rect = win.preview.image_rect()
    px = image.pixelColor(rect.x() + 10, rect.y() + rect.height() // 2)
    assert (px.red(), px.green(), px.blue()) == (255, 0, 0)
    # The stats overlay darkens a box in the top-left corner; O turns it off.
    px = image.pixelColor(rect.x() + 14, rect.y() + 14)
    assert px.red() < 200
    win.panel.overlay_check.setChecked(False)
    px = win.preview.grab().toImage().pixelColor(rect.x() + 14, rect.y() + 14)
    assert (px.red(), px.green(), px.blue()) == (255, 0, 0)


def test_mirror_flips_the_preview(harness: Harness) -> None:
    win = harness.window()
    win.panel.select_color("#ff0000")
    frame = harness.next_frame(win)
    assert is_color(region(frame, 0.05, 0.4, 0.3, 0.9), RED)
    assert not is_color(region(frame, 0.62, 0.85, 0.4, 0.9), RED)
    win.panel.mirror_check.setChecked(True)
    assert win.pipeline is not None and win.pipeline.config.mirror is True
    frame = harness.next_frame(win)
    # The person box is now on the left, colour on the right, and the pixels are the flipped
    # camera image.
    assert is_color(region(frame, 0.6, 0.95, 0.3, 0.9), RED)
    assert not is_color(region(frame, 0.15, 0.38, 0.4, 0.9), RED)
    raw = harness.raw[id(win.preview._composited)]
    flipped = cv2.flip(raw, 1)
    h, w = raw.shape[:2]
    patch = (slice(int(0.4 * h), h), slice(int(0.15 * w), int(0.38 * w)))
    assert np.abs(frame[patch].astype(int) - flipped[patch].astype(int)).max() <= 1


def test_split_view_shows_the_original_on_the_left(harness: Harness) -> None:
    win = harness.window()
    win.panel.select_color("#ff0000")
    win.panel.split_check.setChecked(True)
    frame = harness.next_frame(win)
    raw = harness.raw[id(win.preview._composited)]
    h, w = frame.shape[:2]
    assert np.array_equal(frame[:, : w // 2 - 1], raw[:, : w // 2 - 1])  # before: original
    assert is_color(frame[: h // 10, w // 2 + 2 :], RED)  # after: replaced background
    # Drag the split line to a quarter of the width with the mouse.
    rect = win.preview.image_rect()
    y = rect.center().y()
    start = QPoint(rect.x() + rect.width() // 2, y)
    QTest.mousePress(win.preview, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(win.preview, QPoint(rect.x() + rect.width() // 4, y))
    QTest.mouseRelease(
        win.preview, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
        QPoint(rect.x() + rect.width() // 4, y),
    )
    assert abs(win.state.split_pos - 0.25) < 0.02
    frame = harness.next_frame(win)
    assert is_color(frame[: h // 10, int(0.27 * w) :], RED)
    win.panel.split_check.setChecked(False)
    frame = harness.next_frame(win)
    assert is_color(frame[: h // 10, :], RED)


def test_blur_strength_and_feather_change_the_frames(harness: Harness, tmp_path: Path) -> None:
    # A textured clip, so blur has something to remove whatever the real clip looks like.
    yy, xx = np.indices((360, 640))
    squares = ((yy // 40 + xx // 40) % 2 * 200 + 20).astype(np.uint8)
    checker = tmp_path / "checker.mp4"
    writer = cv2.VideoWriter(str(checker), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for _ in range(10):
        writer.write(cv2.cvtColor(squares, cv2.COLOR_GRAY2BGR))
    writer.release()
    win = harness.window(config=PipelineConfig(source=str(checker)))
    win.panel.select_mode("blur")
    win.panel.blur_slider.setValue(1)
    weak = harness.next_frame(win)
    win.panel.blur_slider.setValue(60)
    assert win.pipeline is not None and win.pipeline.config.blur_strength == 60
    strong = harness.next_frame(win)

    def sharpness(f: np.ndarray) -> float:  # background only (left of the person box)
        gray = cv2.cvtColor(region(f, 0, 0.45, 0, 1), cv2.COLOR_BGR2GRAY)
        return float(cv2.Laplacian(gray, cv2.CV_64F).var())

    assert sharpness(strong) < sharpness(weak) * 0.5

    win.panel.select_color("#ff0000")
    win.panel.feather_slider.setValue(0)
    hard = harness.next_frame(win)
    win.panel.feather_slider.setValue(20)
    assert win.pipeline.config.feather == 20
    soft = harness.next_frame(win)

    def edge_width(f: np.ndarray) -> int:  # row pixels that are neither colour nor untouched
        row = f[int(0.7 * f.shape[0]), : int(0.6 * f.shape[1])].astype(int)
        return int((np.abs(row - np.array(RED)).max(axis=1) > 3).sum())

    assert edge_width(soft) > edge_width(hard) + 5
    win.panel.smoothing_slider.setValue(20)
    assert win.pipeline._smoother.params.strength == pytest.approx(0.2)


def test_virtual_camera_toggle_drives_the_backend(harness: Harness) -> None:
    win = harness.window()
    win.panel.vcam_check.setChecked(True)
    assert len(harness.cameras) == 1
    cam = harness.cameras[0]
    wait_until(lambda: getattr(cam, "sent", 0) > 3, what="virtual camera frames")
    w, h = win.pipeline.source.size  # type: ignore[union-attr]
    assert (cam.width, cam.height) == (w, h)
    assert cam.frames[-1].shape == (h, w, 3) and cam.frames[-1].dtype == np.uint8
    assert not win.panel.vcam_hint.isVisible()
    # V (the shortcut's action) turns it off again: closed once, no more frames.
    action = next(a for a in win.shortcut_actions if a.text() == "Virtual camera")
    assert action.isChecked()
    action.trigger()
    assert not win.panel.vcam_check.isChecked() and cam.closed == 1
    sent = cam.sent
    harness.next_frame(win)
    assert cam.sent == sent
    win.close()
    assert cam.closed == 1


def test_virtual_camera_without_device_shows_hint_and_keeps_previewing(harness: Harness) -> None:
    def no_device(width: int, height: int, fps: float) -> Any:
        raise VirtualCamUnavailable("no virtual camera device; to create one: sudo modprobe x")

    win = harness.window(vcam_factory=no_device)
    win.panel.vcam_check.setChecked(True)
    assert not win.panel.vcam_check.isChecked()
    assert "modprobe" in win.panel.vcam_hint.text() and win.panel.vcam_hint.isVisible()
    harness.next_frame(win)  # still previewing
    assert win.pipeline is not None and win.pipeline.running


def test_cli_virtual_cam_without_device_shows_the_hint_at_startup(harness: Harness) -> None:
    """`livebg --virtual-cam` with a window and no device: the hint is there without a click."""
    def no_device(width: int, height: int, fps: float) -> Any:
        raise VirtualCamUnavailable("no virtual camera device; to create one: sudo modprobe x")

    win = harness.window(vcam_factory=no_device, given={"source", "virtual_cam"})
    wait_until(win.panel.vcam_hint.isVisible, what="the setup hint")
    assert "modprobe" in win.panel.vcam_hint.text()
    assert not win.panel.vcam_check.isChecked() and not win.state.virtual_cam
    harness.next_frame(win)  # still previewing


def test_real_virtual_camera_here_has_no_device(harness: Harness) -> None:
    from livebg.gui.main_window import default_vcam_factory

    win = harness.window(vcam_factory=default_vcam_factory)
    win.panel.vcam_check.setChecked(True)
    if win.panel.vcam_check.isChecked():
        pytest.skip("this machine has a virtual camera device")
    assert "v4l2loopback" in win.panel.vcam_hint.text() or "OBS" in win.panel.vcam_hint.text()
    harness.next_frame(win)


def test_settings_round_trip_between_runs(harness: Harness) -> None:
    win = harness.window()
    p = win.panel
    p.select_color("#123456")
    p.blur_slider.setValue(33)
    p.feather_slider.setValue(9)
    p.smoothing_slider.setValue(40)
    p.mirror_check.setChecked(True)
    p.split_check.setChecked(True)
    p.overlay_check.setChecked(False)
    win.resize(700, 500)  # inside the offscreen screen (800x600) so nothing clamps it
    pump(20)
    win.close()
    data = json.loads(harness.settings_file.read_text())
    assert data["background_mode"] == "color" and data["color"] == "#123456"
    assert (data["blur_strength"], data["feather"], data["smoothing"]) == (33, 9, 0.4)
    assert data["mirror"] and data["split_view"] and not data["overlay"]
    assert data["geometry"] and data["source"] == str(harness.clip)

    again = harness.window()
    assert (again.width(), again.height()) == (700, 500)  # window geometry remembered
    q = again.panel
    assert q.current_mode() == "color" and q.current_color() == "#123456"
    assert (q.blur_slider.value(), q.feather_slider.value(), q.smoothing_slider.value()) == (
        33, 9, 40)
    assert q.mirror_check.isChecked() and q.split_check.isChecked()
    assert not q.overlay_check.isChecked()
    assert again.pipeline is not None
    cfg = again.pipeline.config
    assert (cfg.background, cfg.mirror, cfg.feather) == ("#123456", True, 9)


def test_bad_choices_show_a_message_and_keep_running(harness: Harness, tmp_path: Path) -> None:
    win = harness.window()
    win.panel.select_color("#ff0000")
    harness.next_frame(win)
    pipeline = win.pipeline
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 this is not really a jpeg")
    win.panel.select_image(str(corrupt))
    assert win.banner.isVisibleTo(win) and "corrupt" in win.banner_label.text()
    assert win.state.background_mode == "color" and win.panel.current_mode() == "color"
    frame = harness.next_frame(win)  # still running, still the previous background
    assert is_color(region(frame, 0, 0.4, 0, 0.2), RED)
    assert str(corrupt) not in win.panel.image_paths()

    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    win.switch_source(str(not_video))
    wait_until(lambda: len(win.errors) >= 2, what="source error")
    assert "notes.mp4" in win.errors[-1]
    win.switch_source(5)  # no such camera
    wait_until(lambda: len(win.errors) >= 3, what="camera error")
    assert "camera 5" in win.errors[-1]
    win.panel.select_video(str(not_video))  # a background video that is not a video
    assert len(win.errors) == 4
    assert win.pipeline is pipeline and pipeline is not None and pipeline.running
    assert win.panel.source_combo.currentData() == str(harness.clip)
    harness.next_frame(win)


def test_missing_remembered_source_falls_back_to_the_command_line(harness: Harness) -> None:
    save_settings(Settings(source="/gone/away.mp4"), harness.settings_file)
    # `livebg` with no arguments asks for camera 0 (the default): the saved source wins...
    win = harness.window(wait=False, config=PipelineConfig())
    wait_until(lambda: len(win.errors) >= 2, what="both errors")
    # ...but it is gone, so the command line's camera is tried next (absent here too).
    assert "away.mp4" in win.errors[0] and "camera 0" in win.errors[1]
    assert win.pipeline is None and win.isVisible()
    win.switch_source(str(harness.clip))  # the user picks something that works
    wait_until(lambda: win.preview.frames_shown > 2, what="frames")


def test_options_typed_on_the_command_line_win_even_at_their_defaults(
    harness: Harness, tmp_path: Path
) -> None:
    other = _solid_video(tmp_path / "grey.mp4", (128, 128, 128))
    saved = Settings(source=str(other), background_mode="color", color="#123456", mirror=True)
    save_settings(saved, harness.settings_file)
    # `livebg --input clip --bg blur --feather 2`: blur is the default, yet it was typed.
    config = PipelineConfig(source=str(harness.clip), background="blur", feather=2.0)
    win = harness.window(config=config, given={"source", "background", "feather"})
    assert win.pipeline is not None
    cfg = win.pipeline.config
    assert (cfg.source, cfg.background, cfg.feather) == (str(harness.clip), "blur", 2)
    assert cfg.mirror, "not typed: the saved choice stays"
    assert win.panel.feather_slider.value() == 2
    win.close()
    # `livebg --camera 0` (the default value) beats the remembered video; no camera here.
    win = harness.window(wait=False, config=PipelineConfig(source=0), given={"source"})
    wait_until(lambda: win.errors, what="camera error")
    assert "camera 0" in win.errors[0] and win.pipeline is None
    assert harness.pipelines[-1].config.source == 0
    win.close()
    # `livebg --tta` / `--no-tta` without --model: the remembered model, with or without it
    save_settings(Settings(source=str(harness.clip), model="mediapipe"), harness.settings_file)
    win = harness.window(config=PipelineConfig(source=str(harness.clip), model="auto+tta"),
                         given={"source", "tta"})
    assert win.state.model == "mediapipe+tta"
    win.close()
    save_settings(Settings(source=str(harness.clip), model="unet+tta"), harness.settings_file)
    win = harness.window(config=PipelineConfig(source=str(harness.clip), model="auto"),
                         given={"source", "tta"})
    assert win.state.model == "unet"
    win.close()
    save_settings(Settings(source=str(harness.clip), model="mediapipe+alt"),
                  harness.settings_file)
    win = harness.window(config=PipelineConfig(source=str(harness.clip), model="auto"),
                         given={"source", "tta"})  # `livebg --no-tta`
    assert win.state.model == "mediapipe"


def test_window_says_where_its_settings_live_and_resets_them(harness: Harness) -> None:
    saved = Settings(source=str(harness.clip), background_mode="color", color="#00b140",
                     mirror=True, feather=9, blur_strength=30)
    save_settings(saved, harness.settings_file)
    win = harness.window(config=PipelineConfig(source=str(harness.clip), feather=2.0),
                         given={"source", "feather"})
    note = win.panel.settings_label.text()
    assert f"loaded from {harness.settings_file}" in note
    assert "command line win" in note and "feather" in note
    assert is_color(region(harness.next_frame(win), 0.0, 0.1, 0.0, 0.1), (0x40, 0xB1, 0x00))
    win.panel.reset_button.click()
    defaults = Settings()
    cfg = win.pipeline.config
    assert (win.state.background_mode, cfg.mirror, cfg.feather, cfg.blur_strength) == (
        "blur", False, defaults.feather, defaults.blur_strength)
    assert win.state.source == str(harness.clip), "the source playing stays"
    assert not is_color(region(harness.next_frame(win), 0.0, 0.1, 0.0, 0.1), (0x40, 0xB1, 0x00))
    on_disk = json.loads(harness.settings_file.read_text())
    assert (on_disk["background_mode"], on_disk["mirror"], on_disk["feather"]) == (
        "blur", False, defaults.feather)
    assert "Reset to defaults" in [a.text() for m in win.menuBar().actions()
                                   for a in m.menu().actions()]


def test_image_background_and_thumbnails(harness: Harness) -> None:
    images = sorted((REPO / "livebg" / "assets" / "backgrounds").glob("*.jpg"))
    images += sorted((SHARED / "backgrounds").glob("*.jpg"))
    if not images:
        pytest.skip("no background images in assets/ or ../shared")
    win = harness.window()
    win.panel.select_image(str(images[-1]))
    frame = harness.next_frame(win)
    bg = cv2.imread(str(images[-1]))
    assert not is_color(region(frame, 0, 0.4, 0, 0.3), (0, 0, 0), tol=20)
    assert win.state.image == str(images[-1]) and str(images[-1]) in win.panel.image_paths()
    assert win.state.recent_images[0] == str(images[-1])
    assert bg is not None
    # B toggles blur on and back to the image.
    win.toggle_blur()
    assert win.state.background_mode == "blur"
    win.toggle_blur()
    assert win.state.background_mode == "image" and win.state.image == str(images[-1])


def test_model_and_device_choice(harness: Harness) -> None:
    win = harness.window()
    combo = win.panel.device_combo
    cuda_item = combo.model().item(combo.findData("cuda"))  # type: ignore[attr-defined]
    assert not cuda_item.isEnabled()
    assert win.panel.device_note.text() == CPU_ONLY_NOTE
    assert "fake on cpu" in win.model_label.text()
    wait_until(lambda: "capture" in win.stages_label.text(), what="stats in the status bar")
    assert win.fps_label.text().endswith("FPS") and win.fps_label.text()[0].isdigit()
    assert "inference" in win.stages_label.text() and "compositing" in win.stages_label.text()
    # Each shortcut is listed in Help and works: M toggles mirror.
    text = win.shortcut_text()
    for key in ("M", "V", "S", "B", "F", "Ctrl+Q"):
        assert any(line.split()[0] == key for line in text.splitlines()), key
    next(a for a in win.shortcut_actions if a.text() == "Mirror").trigger()
    assert win.panel.mirror_check.isChecked() and win.state.mirror


def test_the_window_offers_each_mirror_averaging_and_starts_with_the_alternating_one(
        harness: Harness) -> None:
    """Live video defaults to +alt (the mirror every other frame, free on still scenes);
    the model list has each backend plain, +alt and +tta."""
    assert Settings().model == PipelineConfig().model == "auto+alt"
    win = harness.window(models=None)
    combo = win.panel.model_combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert {"auto+alt", "unet", "mediapipe+tta"} <= set(names) and names[0] == "auto+alt"
    assert win.state.model == "auto+alt" and combo.currentData() == "auto+alt"
    assert "+alt (default)" in combo.toolTip()
    tips = {combo.itemData(i): combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
            for i in range(combo.count())}
    assert "ensemble+alt" in tips  # each entry says what it costs live: the ensemble alone
    assert all(("three networks" in (tip or "")) == name.startswith("ensemble")
               for name, tip in tips.items())


def test_camera_picker_lists_what_opens(harness: Harness) -> None:
    from livebg.gui.main_window import probe_cameras

    assert probe_cameras(max_index=1) == [] or Path("/dev/video0").exists()
    assert probe_cameras(max_index=1, skip={0, 1}) == []
    win = harness.window()
    win._on_cameras([0, 2])
    labels = [win.panel.source_combo.itemText(i) for i in range(win.panel.source_combo.count())]
    assert labels[:2] == ["Camera 0", "Camera 2"] and labels[-1] == "Video file…"
    assert win.panel.source_combo.currentData() == str(harness.clip)


def test_closing_stops_everything_once(harness: Harness) -> None:
    win = harness.window()
    win.panel.vcam_check.setChecked(True)
    pipeline, seg, cam = win.pipeline, harness.segmenters[-1], harness.cameras[-1]
    assert pipeline is not None and pipeline.running
    win.close()
    assert not pipeline.running
    assert pipeline.source is not None and pipeline.source.closed  # type: ignore[attr-defined]
    assert seg.closed == 1 and cam.closed == 1
    win.shutdown()  # again: nothing is closed twice
    assert seg.closed == 1 and cam.closed == 1
    shown = win.preview.frames_shown
    pump(100)
    assert win.preview.frames_shown == shown


def test_mediapipe_on_the_shared_clip_turns_corners_to_the_colour(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = SHARED / "videos" / "doctor.mp4"
    if not clip.is_file():
        pytest.skip("shared clip ../shared/videos/doctor.mp4 not present")
    pytest.importorskip("mediapipe")
    monkeypatch.setenv("LIVEBG_CONFIG_DIR", str(tmp_path))
    config = PipelineConfig(source=str(clip), model="mediapipe", device="cpu",
                            background="#00ff00")
    win = MainWindow(config, settings_file=tmp_path / "s.json", camera_probe=None, cuda=False)
    win.show()
    try:
        wait_until(lambda: win.preview.frames_shown > 5, timeout=30, what="mediapipe frames")
        pump(300)
        frame = win.preview.displayed_frame()
        assert frame is not None
        for corner in (frame[:40, :40], frame[:40, -40:]):
            assert is_color(corner, (0, 255, 0), tol=10)
        assert not is_color(region(frame, 0.6, 0.7, 0.4, 0.6), (0, 255, 0), tol=40)
        assert "mediapipe on cpu" in win.model_label.text()
    finally:
        win.close()


def _solid_video(path: Path, bgr: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for _ in range(10):
        writer.write(np.full((size[1], size[0], 3), bgr, np.uint8))
    writer.release()
    return path


def test_video_background(harness: Harness, tmp_path: Path) -> None:
    blue = _solid_video(tmp_path / "blue.mp4", (255, 0, 0))
    win = harness.window()
    win.panel.select_video(str(blue))
    frame = harness.next_frame(win)
    assert is_color(region(frame, 0, 0.4, 0, 0.9), (255, 0, 0), tol=12)
    assert win.state.background_mode == "video" and win.panel.current_mode() == "video"


def test_switching_source_keeps_the_virtual_camera(harness: Harness, tmp_path: Path) -> None:
    other = _solid_video(tmp_path / "grey.mp4", (128, 128, 128), size=(320, 240))
    win = harness.window()
    win.panel.vcam_check.setChecked(True)
    cam = harness.cameras[-1]
    first = win.pipeline
    assert first is not None
    win.panel.select_source(str(other))
    wait_until(lambda: win.pipeline is not first, what="the new source")
    wait_until(lambda: first.source.closed, what="old source closed")  # type: ignore[union-attr]
    assert not first.running
    frame = harness.next_frame(win)
    assert frame.shape == (240, 320, 3)
    assert win.panel.source_combo.currentData() == str(other)
    sent = cam.sent
    wait_until(lambda: cam.sent > sent + 2, what="virtual camera frames after the switch")
    assert cam.closed == 0 and len(harness.cameras) == 1  # same device, frames resized to it
    assert cam.frames[-1].shape == (cam.height, cam.width, 3)


def test_model_switch_runs_off_the_ui_thread(harness: Harness) -> None:
    pytest.importorskip("mediapipe")
    win = harness.window()
    pipeline = win.pipeline
    assert pipeline is not None
    threads: list[str] = []
    original_set = pipeline.set_segmenter

    def spy(name: str, device: str = "auto") -> None:
        threads.append(threading.current_thread().name)
        original_set(name, device)

    pipeline.set_segmenter = spy  # type: ignore[method-assign]
    combo = win.panel.model_combo
    combo.setCurrentIndex(combo.findData("mediapipe"))
    win.panel._emit_model()
    wait_until(lambda: pipeline.segmenter.name == "mediapipe", timeout=30, what="mediapipe")
    assert threads and threads[0] != threading.main_thread().name  # loaded off the UI thread
    harness.next_frame(win)  # and frames keep coming
    assert harness.segmenters[-1].closed == 1  # the old model was closed
    wait_until(lambda: "mediapipe on cpu" in win.model_label.text(), what="model label")
    assert win.state.model == "mediapipe"
    # A model that cannot run on the device: message, previous choice kept.
    win.set_model("mediapipe", "cuda")
    wait_until(lambda: win.errors, what="model error")
    assert "CPU only" in win.errors[-1] and win.state.device == "auto"
    assert win.panel.device_combo.currentData() == "auto"


def test_model_still_loading_when_the_source_changes_is_closed(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livebg.segment

    release = threading.Event()
    loaded: list[FakeSegmenter] = []

    def slow_load(name: str, device: str = "auto", weights: str | None = None,
                  photos: bool = False) -> FakeSegmenter:
        release.wait(10)
        seg = FakeSegmenter()
        seg.name = name
        loaded.append(seg)
        return seg

    monkeypatch.setattr(livebg.segment, "load_segmenter", slow_load)
    other = _solid_video(tmp_path / "grey.mp4", (128, 128, 128))
    win = harness.window()
    first = win.pipeline
    win.set_model("unet", "cpu")  # blocks in slow_load on a worker thread
    win.switch_source(str(other))
    wait_until(lambda: win.pipeline is not first, what="the new source")
    wait_until(lambda: first.source.closed, what="old pipeline closed")  # type: ignore[union-attr]
    release.set()
    wait_until(lambda: loaded and loaded[0].closed == 1, what="the orphaned model closed")
    # The choice still holds: the model is loaded again into the pipeline now playing.
    wait_until(lambda: win.pipeline.segmenter.name == "unet", what="unet on the new source")
    assert len(loaded) == 2 and loaded[1].closed == 0 and win.state.model == "unet"
    assert [s.closed for s in harness.segmenters] == [1, 1]  # both replaced models closed
    win.close()
    assert loaded[1].closed == 1


def test_fullscreen_shortcut(harness: Harness) -> None:
    win = harness.window()
    action = next(a for a in win.shortcut_actions if a.text() == "Full screen")
    action.trigger()
    wait_until(win.isFullScreen, what="full screen")
    action.trigger()
    wait_until(lambda: not win.isFullScreen(), what="normal window")


def test_run_app_with_cli_sinks(qapp: QApplication, clip: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """What `livebg --input clip --output out.mp4` does with a display: the window owns it all."""
    from PyQt6.QtCore import QTimer

    from livebg.gui import run_app
    from livebg.sinks.file import FileSink

    monkeypatch.setenv("LIVEBG_CONFIG_DIR", str(tmp_path))
    out = tmp_path / "out.mp4"
    reader = cv2.VideoCapture(str(clip))
    size = (int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)), int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    reader.release()
    sink = FileSink(out, 25, size)
    seen: list[MainWindow] = []

    def close_soon() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        win = next(w for w in wins if w.isVisible())
        if win.preview.frames_shown < 10:
            QTimer.singleShot(100, close_soon)
            return
        seen.append(win)
        win.close()

    QTimer.singleShot(300, close_soon)
    harness = Harness(clip, tmp_path)
    code = run_app(PipelineConfig(source=str(clip), background="#0000ff"), sinks=[sink],
                   pipeline_factory=harness.pipeline_factory, camera_probe=None, cuda=False,
                   models=["auto"])
    assert code == 0 and seen and sink.closed
    assert not harness.pipelines[-1].running
    cap = cv2.VideoCapture(str(out))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frames >= 5 and frame.shape[1::-1] == size


def test_file_dialog_paths(harness: Harness, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Menu entries and the picker's "Video file…" go through the same checked paths."""
    from PyQt6.QtWidgets import QFileDialog

    image = tmp_path / "plain.png"
    cv2.imwrite(str(image), np.full((90, 160, 3), (0, 200, 0), np.uint8))
    other = _solid_video(tmp_path / "other.mp4", (10, 10, 10))
    answers = iter([str(image), str(other)])
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (next(answers), "")))
    win = harness.window()
    next(a for a in win.shortcut_actions if a.text() == "Background image…").trigger()
    assert win.state.background_mode == "image" and win.state.image == str(image)
    assert is_color(region(harness.next_frame(win), 0, 0.4, 0, 0.5), (0, 200, 0))
    combo = win.panel.source_combo
    combo.activated.emit(combo.findText("Video file…"))
    wait_until(lambda: win.pipeline is not None and win.pipeline.config.source == str(other),
               what="the chosen video")
