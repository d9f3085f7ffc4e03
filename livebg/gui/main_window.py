"""The main window: preview + controls around a running ``Pipeline``."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PyQt6.QtCore import QByteArray, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from livebg.assets import assets_dir, bundled_background
from livebg.errors import LivebgError
from livebg.gui.controls import ControlPanel, SourceSpec
from livebg.gui.preview import FrameBridge, PreviewWidget
from livebg.gui.settings import Settings, load_settings, save_settings, settings_path
from livebg.gui.workers import BackgroundRunner
from livebg.pipeline import Pipeline, PipelineConfig, StageStats, pick_fields

log = logging.getLogger(__name__)

MAX_CAMERA_INDEX = 5
STATS_INTERVAL_MS = 500
STALL_S = 2.0  # no frame for this long while running: say so (e.g. a camera reconnecting)
ERROR_BANNER_MS = 15000
# Settings the window keeps and hands to each pipeline it builds (same names in both).
LIVE_FIELDS = ("blur_strength", "feather", "mirror", "smoothing", "model", "device")

FrameCallback = Callable[[np.ndarray, np.ndarray, StageStats], None]
PipelineFactory = Callable[[PipelineConfig, FrameCallback], Pipeline]
VirtualCamFactory = Callable[[int, int, float], Any]


def default_pipeline_factory(config: PipelineConfig, on_frame: FrameCallback) -> Pipeline:
    return Pipeline(config, on_frame=on_frame)


def default_vcam_factory(width: int, height: int, fps: float) -> Any:
    from livebg.sinks.virtualcam import VirtualCamSink

    return VirtualCamSink(width, height, fps)


def probe_cameras(
    max_index: int = MAX_CAMERA_INDEX, skip: Collection[int] = ()
) -> list[int]:
    """Indices 0..max_index that open and deliver a frame (slow: run off the UI thread).

    ``skip``: cameras already in use; opening a device twice can fail or steal it.
    """
    from livebg.capture import open_source

    found = []
    for index in range(max_index + 1):
        if index in skip:
            continue
        try:
            open_source(index).close()
        except LivebgError:
            continue
        found.append(index)
    return found


def background_to_mode(spec: str) -> tuple[str, str]:
    """A pipeline background spec as the panel's (mode, value)."""
    from livebg.backgrounds import VIDEO_EXTENSIONS, parse_color

    text = str(spec).strip()
    word = text.lower()
    if word in ("blur", "none", "transparent"):
        return ("none" if word == "transparent" else word), ""
    color = parse_color(text)
    if color is not None:
        b, g, r = color
        return "color", f"#{r:02x}{g:02x}{b:02x}"
    if Path(text).suffix.lower() in VIDEO_EXTENSIONS:
        return "video", text
    if not Path(text).exists() and (bundled := bundled_background(text)) is not None:
        return "image", str(bundled)  # `--bg office`: the bundled thumbnail is highlighted
    return "image", text


def mode_to_background(mode: str, value: str) -> str:
    return value if mode in ("color", "image", "video") else mode


def bundled_backgrounds(assets: Path | None = None) -> list[str]:
    from livebg.backgrounds import IMAGE_EXTENSIONS

    folder = (assets or assets_dir()) / "backgrounds"
    if not folder.is_dir():
        return []
    return [str(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]


def format_stats(stats: StageStats | None) -> tuple[str, str]:
    """(fps text, per-stage p50 ms text) for the status bar and the overlay."""
    if stats is None or stats.frames == 0:
        return "– FPS", "waiting for frames"
    stages = " · ".join(f"{name} {t.p50_ms:.1f}" for name, t in stats.stages.items())
    return f"{stats.fps:.1f} FPS", f"{stages} ms (p50)"


class _GuardedSink:
    """Wraps the virtual camera so a device that fails mid-call stops itself, not the preview.

    A sink error inside the pipeline's output thread would stop the whole pipeline; here the
    error is kept for the UI to show and later frames are skipped.
    """

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def write(self, frame: np.ndarray) -> None:
        if self.error is not None:
            return
        try:
            self.sink.write(frame)
        except Exception as exc:  # noqa: BLE001 - reported in the window by the stats timer
            with self._lock:
                self.error = exc

    def close(self) -> None:
        self.sink.close()  # sinks' close() is idempotent


class MainWindow(QMainWindow):
    """Owns the pipeline (one at a time), the virtual camera and the settings."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        settings_file: Path | None = None,
        pipeline_factory: PipelineFactory = default_pipeline_factory,
        vcam_factory: VirtualCamFactory = default_vcam_factory,
        models: Sequence[str] | None = None,
        cuda: bool | None = None,
        camera_probe: Callable[..., list[int]] | None = probe_cameras,
        assets: Path | None = None,
        sinks: Sequence[Any] = (),
        given: Collection[str] | None = None,
    ) -> None:
        """``given``: PipelineConfig fields (and ``virtual_cam``) set on the command line; they
        win over saved settings. None: fields that differ from PipelineConfig's defaults."""
        super().__init__()
        self.setWindowTitle("livebg")
        self.setObjectName("livebg-main")
        self._settings_file = settings_file or settings_path()
        self._pipeline_factory = pipeline_factory
        self._vcam_factory = vcam_factory
        self._assets = assets or assets_dir()
        self._base_config = config
        self._given = given
        self.state = self._merge_settings(load_settings(self._settings_file), config, given)
        self.pipeline: Pipeline | None = None
        self._generation = 0  # bumps on each source change: stale pipeline builds are dropped
        self._vcam: _GuardedSink | None = None
        self._extra_sinks: list[_GuardedSink] = []  # e.g. the CLI's --output file
        self._adopt_sinks(sinks)
        self._last_stats: StageStats | None = None
        self._last_frame_t = time.monotonic()
        self._blur_return: tuple[str, str] | None = None  # what B toggles back to
        self._shut_down = False
        self.errors: list[str] = []  # every message shown, newest last (tests, diagnostics)

        self.bridge = FrameBridge(self)
        self.bridge.frame_ready.connect(self._on_frame_ready)
        self.runner = BackgroundRunner(self)
        self._build_ui(models, cuda)
        self._build_menus()
        self._restore_window()

        self._stats_timer = QTimer(self)
        self._stats_timer.timeout.connect(self._poll)
        self._stats_timer.start(STATS_INTERVAL_MS)
        self._save_timer = QTimer(self)  # debounce: a slider drag is one write, not hundreds
        self._save_timer.setSingleShot(True)
        self._save_timer.timeout.connect(self.save_settings)

        first = _as_source(self.state.source or config.source)
        self.switch_source(first)
        if camera_probe is not None:
            in_use = {first} if isinstance(first, int) else set()

            def probe() -> list[int]:
                return sorted(set(camera_probe(skip=in_use)) | in_use)

            self.runner.submit(probe, self._on_cameras, self._on_probe_failed)

    # ================================================================ construction
    def _build_ui(self, models: Sequence[str] | None, cuda: bool | None) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._build_banner())
        self.preview = PreviewWidget()
        self.preview.split_moved.connect(self._on_split_moved)
        layout.addWidget(self.preview, 1)
        self.setCentralWidget(central)

        self.panel = ControlPanel()
        if models is None:
            from livebg.segment import ALT_SUFFIX, TTA_SUFFIX, available_segmenters

            names = available_segmenters()  # and each backend averaged with the mirror image
            models = [*(name + suffix for suffix in (ALT_SUFFIX, "", TTA_SUFFIX)
                        for name in names)]
        self._models = list(models)
        self._show_models(cuda)
        if cuda is None:
            from livebg.segment import cuda_available

            # Importing torch to ask takes seconds: do it off the UI thread.
            no_cuda = lambda _exc: self._show_models(False)  # noqa: E731
            self.runner.submit(cuda_available, self._show_models, no_cuda)
        self._refresh_images()  # before apply_settings, which highlights the chosen image
        self.panel.apply_settings(self.state)
        self.panel.set_settings_note(self.settings_note())
        self.preview.set_split_enabled(self.state.split_view)
        self.preview.set_split_position(self.state.split_pos)
        self.preview.set_overlay_enabled(self.state.overlay)
        self._connect_panel()

        self._scroll = scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(self.panel.sizeHint().width() + 24)
        self.dock = QDockWidget("Controls", self)
        self.dock.setObjectName("controls-dock")  # saveState() needs object names
        self.dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

        self.fps_label, self.stages_label, self.model_label = QLabel(), QLabel(), QLabel()
        for label in (self.fps_label, self.stages_label, self.model_label):
            self.statusBar().addPermanentWidget(label)
        self._show_stats(None)
        self.resize(1280, 800)

    def _adopt_sinks(self, sinks: Sequence[Any]) -> None:
        """Sinks the CLI opened (--virtual-cam, --output) follow the window's pipeline."""
        from livebg.sinks.virtualcam import VirtualCamSink

        for sink in sinks:
            if isinstance(sink, VirtualCamSink) and self._vcam is None:
                self._vcam = _GuardedSink(sink)
                self.state.virtual_cam = True
            else:
                self._extra_sinks.append(_GuardedSink(sink))

    def _carried_sinks(self) -> list[_GuardedSink]:
        """Sinks that move from one pipeline to the next when the source changes."""
        return [*self._extra_sinks, *([self._vcam] if self._vcam is not None else [])]

    def _detach_sinks(self, pipeline: Pipeline) -> None:
        for sink in self._carried_sinks():
            pipeline.remove_sink(sink, close=False)

    def _show_models(self, cuda: bool | None) -> None:
        self.panel.set_models(self._models, cuda_available=cuda)
        self.panel.show_model(self.state.model, self.state.device)

    def _build_banner(self) -> QWidget:
        """Inline error banner: visible without stealing focus like a modal dialog would."""
        self.banner = QWidget()
        self.banner.setStyleSheet("background: #7a1f1f; color: white; border-radius: 4px;")
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(8, 4, 4, 4)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.banner.hide)
        row.addWidget(self.banner_label, 1)
        row.addWidget(close)
        self.banner.hide()
        self._banner_timer = QTimer(self)
        self._banner_timer.setSingleShot(True)
        self._banner_timer.timeout.connect(self.banner.hide)
        return self.banner

    def _connect_panel(self) -> None:
        p = self.panel
        p.source_selected.connect(self.switch_source)
        p.background_selected.connect(self.set_background)
        p.blur_strength_changed.connect(self.set_blur_strength)
        p.model_selected.connect(self.set_model)
        p.smoothing_changed.connect(self.set_smoothing)
        p.feather_changed.connect(self.set_feather)
        p.mirror_toggled.connect(self.set_mirror)
        p.virtual_cam_toggled.connect(self.set_virtual_cam)
        p.split_toggled.connect(self.set_split_view)
        p.overlay_toggled.connect(self.set_overlay)
        p.reset_requested.connect(self.reset_settings)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.shortcut_actions: list[QAction] = []
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "Open video…", "Ctrl+O", self.panel.browse_source)
        self._action(file_menu, "Background image…", "Ctrl+I", self.panel.browse_image)
        self._action(file_menu, "Background video…", "Ctrl+Shift+V", self.panel.browse_video)
        file_menu.addSeparator()
        self._action(file_menu, "Quit", QKeySequence.StandardKey.Quit, self.close, "Ctrl+Q")
        view = bar.addMenu("&View")
        self._toggle(view, "Mirror", "M", self.panel.mirror_check)
        self._toggle(view, "Before/after split", "S", self.panel.split_check)
        self._toggle(view, "Stats overlay", "O", self.panel.overlay_check)
        self._action(view, "Full screen", "F", self.toggle_fullscreen)
        self._action(view, "Leave full screen", "Esc", self._leave_fullscreen)
        view.addAction(self.dock.toggleViewAction())
        background = bar.addMenu("&Background")
        self._action(background, "Blur on/off", "B", self.toggle_blur)
        self._action(background, "Colour", "C", lambda: self.panel.select_mode("color"))
        self._action(background, "Image", "I", lambda: self.panel.select_mode("image"))
        self._action(background, "None (original)", "N", lambda: self.panel.select_mode("none"))
        settings = bar.addMenu("&Settings")
        self._action(settings, "Reset to defaults", None, self.reset_settings)
        output = bar.addMenu("&Output")
        self._toggle(output, "Virtual camera", "V", self.panel.vcam_check)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Keyboard shortcuts", "F1", self.show_shortcuts)
        self._action(help_menu, "About livebg", None, self._about)

    def _action(
        self,
        menu: Any,
        text: str,
        key: str | QKeySequence.StandardKey | None,
        slot: Callable[[], Any],
        fallback: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if key is not None:
            action.setShortcut(QKeySequence(key))
            if action.shortcut().isEmpty() and fallback:  # StandardKey unmapped on some platforms
                action.setShortcut(QKeySequence(fallback))
            self.shortcut_actions.append(action)
        # The window-wide context keeps shortcuts working when the preview has focus.
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        self.addAction(action)  # still fires when the menu bar is hidden (full screen)
        return action

    def _toggle(self, menu: Any, text: str, key: str, check: Any) -> QAction:
        """A checkable action mirrored both ways with its panel checkbox."""
        action = self._action(menu, text, key, lambda: None)
        action.setCheckable(True)
        action.setChecked(check.isChecked())
        # Sync from the current state, not the signal's argument: a handler may revert the
        # checkbox mid-emission (e.g. no virtual camera), and a stale argument would undo that.
        action.toggled.connect(lambda _: check.setChecked(action.isChecked()))
        check.toggled.connect(lambda _: action.setChecked(check.isChecked()))
        return action

    def _restore_window(self) -> None:
        if self.state.geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.state.geometry.encode()))
        if self.state.window_state:
            self.restoreState(QByteArray.fromBase64(self.state.window_state.encode()))

    @staticmethod
    def _merge_settings(
        saved: Settings, config: PipelineConfig, given: Collection[str] | None
    ) -> Settings:
        """Saved settings, except where the command line asked for something explicitly."""
        if given is None:
            defaults = PipelineConfig()
            given = {
                f.name
                for f in dataclasses.fields(config)
                if getattr(config, f.name) != getattr(defaults, f.name)
            }
        state = dataclasses.replace(saved)
        if "source" in given:
            state.source = str(config.source)
        if "background" in given:
            mode, value = background_to_mode(config.background)
            state.background_mode = mode
            if mode in ("color", "image", "video"):
                setattr(state, mode, value)
            if mode == "image":
                state.add_recent_image(value)  # so it has a thumbnail to go back to
        for name in LIVE_FIELDS:
            value = getattr(config, name)
            if name not in given or value is None:
                continue
            if name == "smoothing" and not isinstance(value, (int, float)):
                continue  # SmoothParams from code: the slider only shows a strength
            kind = type(getattr(state, name))
            # The CLI parses --feather/--blur-strength as floats; the sliders take ints.
            setattr(state, name, round(value) if kind is int else kind(value))
        if "tta" in given and "model" not in given:
            # --tta / --no-tta on the model the window would start with anyway
            from livebg.segment import split_mirror

            state.model = split_mirror(state.model)[0] + split_mirror(config.model)[1]
        if "virtual_cam" in given:
            # The CLI's sink, if it opened, is adopted; if not, the first source to play
            # retries the device and, with none, shows the setup hint by the toggle.
            state.virtual_cam = True
        return state

    # ================================================================ pipeline lifecycle
    def _config_for(self, source: SourceSpec) -> PipelineConfig:
        return dataclasses.replace(
            self._base_config,
            source=source,
            loop=True,  # a clip in the app plays on until the user picks something else
            realtime=True,
            drop_frames=True,
            max_frames=None,
            background=self.background_spec(),
            **pick_fields(self.state, LIVE_FIELDS),
        )

    def background_spec(self) -> str:
        mode = self.state.background_mode
        return mode_to_background(mode, self.state.mode_value(mode))

    def switch_source(self, source: SourceSpec) -> None:
        """Open ``source`` off the UI thread; the old pipeline keeps running until it is ready."""
        source = _as_source(source)
        if self.pipeline is not None and _as_source(self.pipeline.config.source) == source:
            return  # already playing: opening a camera a second time would fail
        self._generation += 1
        generation = self._generation
        config = self._config_for(source)
        self.statusBar().showMessage(f"Opening {_source_name(source)}…")

        def build() -> Pipeline | None:
            pipeline = self._pipeline_factory(config, self.bridge.push)
            pipeline.open()  # opens the source and loads the model: the slow part
            if generation != self._generation:
                pipeline.close()  # superseded by a newer choice (or the window closed)
                return None
            return pipeline

        self.runner.submit(
            build,
            lambda p: self._install_pipeline(p, source, generation),
            lambda exc: self._source_failed(exc, source, generation),
        )

    def _install_pipeline(self, pipeline: Pipeline | None, source: SourceSpec, gen: int) -> None:
        if pipeline is None:
            return
        if gen != self._generation or self._shut_down:
            pipeline.close()
            return
        old, self.pipeline = self.pipeline, pipeline
        if old is not None:
            self._detach_sinks(old)  # the virtual camera (and --output) outlive a switch
        self._retire(old)
        for sink in self._carried_sinks():
            pipeline.add_sink(sink)
        self._sync_pipeline(pipeline)
        try:
            pipeline.start()
        except (LivebgError, RuntimeError) as exc:
            self.pipeline = None
            self._detach_sinks(pipeline)
            pipeline.close()
            self.show_error(f"Could not start {_source_name(source)}: {_message(exc)}")
            return
        self._last_frame_t = time.monotonic()
        self.state.source = str(source)
        self.panel.set_current_source(source)
        self.statusBar().showMessage(f"Playing {_source_name(source)}", 3000)
        self._show_stats(None)  # model/device label now, numbers with the next poll
        if self.state.virtual_cam and self._vcam is None:
            self._start_vcam()
        self._schedule_save()

    def _sync_pipeline(self, pipeline: Pipeline) -> None:
        """Apply choices made while ``pipeline`` was opening (its config was taken before)."""
        s, c = self.state, pipeline.config
        if (c.model, c.device) != (s.model, s.device):
            self.set_model(s.model, s.device)
        if c.background != self.background_spec():
            self._apply("Background", lambda p: p.set_background(self.background_spec()))
        for name in ("blur_strength", "feather", "mirror", "smoothing"):
            if getattr(c, name) != getattr(s, name):
                self._apply(name, lambda p, n=name: getattr(p, f"set_{n}")(getattr(s, n)))

    def _source_failed(self, exc: BaseException, source: SourceSpec, gen: int) -> None:
        if gen != self._generation:
            return
        self.show_error(f"Could not open {_source_name(source)}: {_message(exc)}")
        if self.pipeline is not None:
            self.panel.set_current_source(_as_source(self.pipeline.config.source))
            return
        fallback = _as_source(self._base_config.source)
        if source != fallback:
            self.switch_source(fallback)  # the remembered source is gone: use the command line's
        else:
            self.preview.clear("No video: choose a camera or a video file on the right.")

    def _retire(self, pipeline: Pipeline | None) -> None:
        """Stop a replaced pipeline without blocking the UI (joining waits for its threads)."""
        if pipeline is None:
            return
        pipeline.stop()
        self.runner.submit(
            lambda: pipeline.join(timeout=5.0),
            lambda _: None,
            lambda exc: self.show_error(f"Previous source: {_message(exc)}"),
        )

    def _stop_pipeline(self, pipeline: Pipeline | None) -> None:
        """Stop and close one pipeline; its error (if any) is shown, never raised."""
        if pipeline is None:
            return
        pipeline.stop()
        try:
            pipeline.join(timeout=5.0)
        except LivebgError as exc:
            self.show_error(str(exc))

    # ================================================================ frames and stats
    def _on_frame_ready(self) -> None:
        item = self.bridge.take()
        if item is None or self._shut_down:
            return
        original, composited, stats = item
        if self.state.mirror:
            # The pipeline mirrors only its output; flip the "before" too so the split lines up.
            original = cv2.flip(original, 1)
        self.preview.set_frames(original, composited)
        self._last_stats = stats
        self._last_frame_t = time.monotonic()

    def _poll(self) -> None:
        """Status bar, overlay, and errors raised on the pipeline or virtual-camera threads."""
        self._show_stats(self._last_stats)
        pipeline = self.pipeline
        stalled = time.monotonic() - self._last_frame_t
        if pipeline is not None and pipeline.running and stalled > STALL_S:
            self.statusBar().showMessage(
                f"No frames for {stalled:.0f} s: waiting for the camera to come back…", 1000
            )
        if pipeline is not None and pipeline.wait(0):
            self.pipeline = None
            self._detach_sinks(pipeline)
            self._stop_pipeline(pipeline)
            self.preview.clear("Stopped: choose a camera or a video file on the right.")
        vcam = self._vcam
        if vcam is not None and vcam.error is not None:
            self._stop_vcam()
            self.panel.set_checked_quietly(self.panel.vcam_check, False)
            self.show_error(f"Virtual camera stopped: {_message(vcam.error)}")
        for sink in [s for s in self._extra_sinks if s.error is not None]:
            self._extra_sinks.remove(sink)
            if self.pipeline is not None:
                self.pipeline.remove_sink(sink, close=False)
            sink.close()
            self.show_error(f"Output stopped: {_message(sink.error)}")  # type: ignore[arg-type]

    def _show_stats(self, stats: StageStats | None) -> None:
        fps, stages = format_stats(stats)
        segmenter = getattr(self.pipeline, "segmenter", None)
        if segmenter is not None:
            model = f"{getattr(segmenter, 'name', '?')} on {getattr(segmenter, 'device', '?')}"
        else:
            model = f"{self.state.model} on {self.state.device}"
        self.fps_label.setText(fps)
        self.stages_label.setText(stages)
        self.model_label.setText(model)
        self.preview.set_overlay_lines([f"{fps}  ·  {model}", stages])

    # ================================================================ live settings
    def _apply(self, what: str, call: Callable[[Pipeline], None]) -> bool:
        """Run a live setter; a LivebgError is shown and the previous setting stays."""
        if self.pipeline is None:
            return True
        try:
            call(self.pipeline)
        except LivebgError as exc:
            self.show_error(f"{what}: {exc}")
            return False
        return True

    def set_background(self, mode: str, value: str = "") -> bool:
        spec = mode_to_background(mode, value)
        previous = (self.state.background_mode, self.state.mode_value(self.state.background_mode))
        if self.pipeline is not None:
            ok = self._apply("Background not changed", lambda p: p.set_background(spec))
        else:
            ok = self._validate_background(spec)
        if not ok:
            self.panel.show_background(*previous)
            return False
        self.state.background_mode = mode
        if mode in ("color", "image", "video"):
            setattr(self.state, mode, value)
        if mode == "image":
            self._remember_image(value)
        self.panel.show_background(mode, value)
        self._schedule_save()
        return True

    def _validate_background(self, spec: str) -> bool:
        from livebg.backgrounds import parse_background

        try:
            parse_background(spec)
        except LivebgError as exc:
            self.show_error(f"Background not changed: {exc}")
            return False
        return True

    def toggle_blur(self) -> None:
        """B: blur on, or back to the background used before blur."""
        if self.state.background_mode != "blur":
            mode = self.state.background_mode
            self._blur_return = (mode, self.state.mode_value(mode))
            self.set_background("blur")
        elif self._blur_return is not None:
            self.set_background(*self._blur_return)
        else:
            self.set_background("none")

    def _live(self, field: str, value: Any, setter: str) -> None:
        """Store one setting and push it to the running pipeline via ``setter``."""
        if self._apply(f"{field} not changed", lambda p: getattr(p, setter)(value)):
            setattr(self.state, field, value)
            self._schedule_save()

    def set_blur_strength(self, strength: int) -> None:
        self._live("blur_strength", int(strength), "set_blur_strength")

    def set_feather(self, feather: int) -> None:
        self._live("feather", int(feather), "set_feather")

    def set_smoothing(self, strength: float) -> None:
        self._live("smoothing", float(strength), "set_smoothing")

    def set_mirror(self, on: bool) -> None:
        self._live("mirror", bool(on), "set_mirror")

    def set_model(self, name: str, device: str) -> None:
        """Load the model off the UI thread; the old one keeps segmenting until it is ready."""
        pipeline = self.pipeline
        previous = (self.state.model, self.state.device)
        self.statusBar().showMessage(f"Loading {name} on {device}…")

        def done(_: Any) -> None:
            self.state.model, self.state.device = name, device
            self.statusBar().showMessage(f"Model: {name} on {device}", 3000)
            self._schedule_save()
            if self.pipeline is not None and self.pipeline is not pipeline:
                # The source changed while loading: that pipeline closed the model; load it
                # into the one playing now.
                self._sync_pipeline(self.pipeline)

        def failed(exc: BaseException) -> None:
            self.show_error(f"Model not changed: {_message(exc)}")
            self.panel.show_model(*previous)

        if pipeline is None:
            done(None)  # used when the next source opens
            return
        self.runner.submit(lambda: pipeline.set_segmenter(name, device), done, failed)

    def set_split_view(self, on: bool) -> None:
        self.state.split_view = bool(on)
        self.preview.set_split_enabled(on)
        self._schedule_save()

    def _on_split_moved(self, pos: float) -> None:
        self.state.split_pos = pos
        self._schedule_save()

    def set_overlay(self, on: bool) -> None:
        self.state.overlay = bool(on)
        self.preview.set_overlay_enabled(on)
        self._schedule_save()

    # ================================================================ virtual camera
    def set_virtual_cam(self, on: bool) -> None:
        self.state.virtual_cam = bool(on)
        if on:
            self._start_vcam()
        else:
            self._stop_vcam()
            self.panel.set_vcam_hint("")
        self._schedule_save()

    def _start_vcam(self) -> None:
        pipeline = self.pipeline
        if pipeline is None or pipeline.source is None:
            self.panel.set_vcam_hint("The virtual camera starts when a video is playing.")
            return
        width, height = pipeline.source.size
        try:
            sink = self._vcam_factory(width, height, pipeline.source.fps)
        except LivebgError as exc:
            # No device: say how to make one, right by the toggle, and keep previewing.
            self.panel.set_vcam_hint(str(exc))
            # After the layout has made room for it, scroll the hint into view.
            QTimer.singleShot(0, lambda: self._scroll.ensureWidgetVisible(self.panel.vcam_hint))
            self.panel.set_checked_quietly(self.panel.vcam_check, False)
            self.state.virtual_cam = False
            self.statusBar().showMessage("Virtual camera unavailable (see the hint)", 5000)
            return
        self._vcam = _GuardedSink(sink)
        pipeline.add_sink(self._vcam)
        device = getattr(sink, "device", "virtual camera")
        self.panel.set_vcam_hint("")
        self.statusBar().showMessage(f"Virtual camera on: {device} ({width}x{height})", 5000)

    def _stop_vcam(self) -> None:
        vcam, self._vcam = self._vcam, None
        if vcam is None:
            return
        if self.pipeline is not None:
            self.pipeline.remove_sink(vcam, close=False)
        vcam.close()

    # ================================================================ images and sources
    def _on_cameras(self, cameras: list[int]) -> None:
        files = []
        sample = self._assets / "sample.mp4"
        if sample.is_file():
            files.append(str(sample))
        current = _as_source(self.state.source) if self.state.source else None
        if isinstance(current, str) and current not in files:
            files.append(current)
        self.panel.set_sources(cameras, files, current)

    def _on_probe_failed(self, exc: BaseException) -> None:
        log.warning("camera probe failed: %s", exc)
        self._on_cameras([])

    def _refresh_images(self) -> None:
        bundled = bundled_backgrounds(self._assets)
        # Compare resolved paths: a recent image given as "assets/x.jpg" is a bundled one.
        bundled_resolved = {Path(p).resolve() for p in bundled}
        recent = [p for p in self.state.recent_images
                  if Path(p).is_file() and Path(p).resolve() not in bundled_resolved]
        self.panel.set_images(recent + bundled)

    def _remember_image(self, path: str) -> None:
        known = path in self.panel.image_paths()
        self.state.add_recent_image(path)
        if not known:
            self._refresh_images()
        self.panel.show_background("image", path)

    # ================================================================ window
    def show_error(self, message: str) -> None:
        """Inline and in the status bar; the app carries on with the previous setting."""
        log.warning("%s", message)
        self.errors.append(message)
        self.banner_label.setText(message)
        self.banner.show()
        self._banner_timer.start(ERROR_BANNER_MS)
        self.statusBar().showMessage(message, ERROR_BANNER_MS)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def _leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()

    def shortcut_text(self) -> str:
        rows = (
            f"{a.shortcut().toString(QKeySequence.SequenceFormat.NativeText):>14}   "
            f"{a.text().replace('…', '')}"
            for a in self.shortcut_actions
        )
        return "\n".join(rows)

    def show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText(f"<pre>{self.shortcut_text()}</pre>")
        box.setModal(False)  # keep the shortcuts usable while reading them
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    def _about(self) -> None:
        from livebg import __version__

        QMessageBox.about(
            self,
            "About livebg",
            f"livebg {__version__}: real-time background replacement.<br>"
            f"Settings: {self._settings_file}",
        )

    def settings_note(self) -> str:
        """Where the settings live and that typed options win (shown under the controls)."""
        where = self._settings_file
        how = "loaded from" if where.is_file() else "will be saved to"
        given = sorted(set(self._given or ()) - {"source"})
        typed = f"; from the command line: {', '.join(given)}" if given else ""
        return (f"Settings {how} {where}. Options typed on the command line win over "
                f"them{typed}.")

    def reset_settings(self) -> None:
        """Every remembered setting back to its default (the source, the virtual camera and
        the window's layout stay as they are), applied to the running pipeline and saved."""
        old = self.state
        self.state = Settings(source=old.source, virtual_cam=old.virtual_cam,
                              geometry=old.geometry, window_state=old.window_state)
        fresh = self.state
        self._refresh_images()
        self.panel.apply_settings(fresh)
        self.set_split_view(fresh.split_view)
        self.set_overlay(fresh.overlay)
        self.preview.set_split_position(fresh.split_pos)
        self.set_background(fresh.background_mode, fresh.mode_value(fresh.background_mode))
        for name, setter in (("blur_strength", self.set_blur_strength),
                             ("feather", self.set_feather), ("smoothing", self.set_smoothing),
                             ("mirror", self.set_mirror)):
            setter(getattr(fresh, name))
        if (old.model, old.device) != (fresh.model, fresh.device):
            self.state.model, self.state.device = old.model, old.device  # set_model compares
            self.set_model(fresh.model, fresh.device)
        self.panel.show_model(fresh.model, fresh.device)
        self.save_settings()
        self.panel.set_settings_note(self.settings_note())
        self.statusBar().showMessage("Settings reset to defaults", 5000)

    def _schedule_save(self) -> None:
        if not self._shut_down:
            self._save_timer.start(1000)

    def save_settings(self) -> Path | None:
        self.state.geometry = bytes(self.saveGeometry().toBase64()).decode()
        self.state.window_state = bytes(self.saveState().toBase64()).decode()
        try:
            return save_settings(self.state, self._settings_file)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc}", 5000)
            return None

    def shutdown(self) -> None:
        """Stop capture, inference and the virtual camera, each once; safe to call twice."""
        if self._shut_down:
            return
        self._save_timer.stop()
        self.save_settings()
        self._shut_down = True
        self._generation += 1  # pipelines still opening close themselves
        self._stats_timer.stop()
        self.bridge.close()
        pipeline, self.pipeline = self.pipeline, None
        self._stop_pipeline(pipeline)  # closes source, segmenter, compositor and its sinks
        self._stop_vcam()
        for sink in self._extra_sinks:  # never attached if no pipeline ever opened
            sink.close()
        self.runner.wait(5000)

    def closeEvent(self, event: QCloseEvent | None) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)


def _as_source(source: SourceSpec | str) -> SourceSpec:
    """Camera indices stay ints (settings store them as text)."""
    if isinstance(source, str) and source.strip().isdigit():
        return int(source.strip())
    return source


def _source_name(source: SourceSpec) -> str:
    return f"camera {source}" if isinstance(source, int) else Path(str(source)).name


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LivebgError) else f"{type(exc).__name__}: {exc}"
