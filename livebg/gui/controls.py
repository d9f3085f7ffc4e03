"""The side panel: every user control, emitting intent signals (the window applies them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QImageReader, QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from livebg.gui.settings import Settings
from livebg.segment.ensemble import ENSEMBLE_NAME

# measured on the 2-core AVX2 VM at 1280x720: 28 ms a frame against 7.7 for unet+alt
ENSEMBLE_HINT = ("The U-Net and both MediaPipe selfie models averaged (photos add MediaPipe "
                 "Pose): the photos' default. Live it runs three networks a frame, about 4x "
                 "the U-Net's time: fewer frames per second on a slow CPU")

THUMB = QSize(96, 54)
SWATCHES = ("#00b140", "#0047bb", "#ffffff", "#202020", "#f5e6c8", "#7a4fd6")
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp);;All files (*)"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v);;All files (*)"
MODE_LABELS = {
    "blur": "Blur",
    "color": "Colour",
    "image": "Image",
    "video": "Video",
    "none": "None (original)",
}
CPU_ONLY_NOTE = "running on CPU — CUDA not available"
CUDA_CHECKING = "checking for CUDA…"

SourceSpec = int | str  # camera index or video path


def load_thumbnail(path: str | Path, size: QSize = THUMB) -> QIcon | None:
    """Decode at thumbnail size (fast for JPEG); None for unreadable files."""
    reader = QImageReader(str(path))
    original = reader.size()
    if original.isValid():
        reader.setScaledSize(original.scaled(size, Qt.AspectRatioMode.KeepAspectRatioByExpanding))
    image = reader.read()
    if image.isNull():
        return None
    return QIcon(QPixmap.fromImage(image))


def _slider(lo: int, hi: int, value: int) -> tuple[QSlider, QWidget, QLabel]:
    """A horizontal slider with a live value label, as one row widget."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(lo, hi)
    slider.setValue(value)
    label = QLabel(str(value))
    label.setMinimumWidth(32)
    slider.valueChanged.connect(lambda v: label.setText(str(v)))
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(slider, 1)
    layout.addWidget(label)
    return slider, row, label


def _hint_label() -> QLabel:
    """An inline note (setup hints, device notes) that wraps and can be copied."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("color: #b5651d;")
    label.hide()
    return label


class ControlPanel(QWidget):
    """All controls. Signals say what the user asked for; the window decides and may revert."""

    source_selected = pyqtSignal(object)  # int camera index or str video path
    background_selected = pyqtSignal(str, str)  # mode, value ("#rrggbb", a path, or "")
    blur_strength_changed = pyqtSignal(int)
    model_selected = pyqtSignal(str, str)  # model name, device
    smoothing_changed = pyqtSignal(float)
    feather_changed = pyqtSignal(int)
    mirror_toggled = pyqtSignal(bool)
    virtual_cam_toggled = pyqtSignal(bool)
    split_toggled = pyqtSignal(bool)
    overlay_toggled = pyqtSignal(bool)
    reset_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = SWATCHES[0]
        self._video = ""
        self._source_index = 0  # to revert the picker when "Video file…" is cancelled
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_source_box())
        layout.addWidget(self._build_background_box())
        layout.addWidget(self._build_model_box())
        layout.addWidget(self._build_output_box())
        layout.addWidget(self._build_settings_box())
        layout.addStretch(1)

    # --- construction --------------------------------------------------------------------------
    def _build_source_box(self) -> QGroupBox:
        box = QGroupBox("Camera")
        form = QFormLayout(box)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Cameras that open (0–5), a video file, or the sample")
        self.source_combo.activated.connect(self._on_source_activated)
        form.addRow("Source", self.source_combo)
        self.set_sources([], [])
        return box

    def _build_background_box(self) -> QGroupBox:
        box = QGroupBox("Background")
        layout = QVBoxLayout(box)
        self.mode_combo = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode)
        self.mode_combo.activated.connect(self._on_mode_activated)
        layout.addWidget(self.mode_combo)
        self.mode_stack = QStackedWidget()
        pages = {
            "blur": self._build_blur_page(),
            "color": self._build_color_page(),
            "image": self._build_image_page(),
            "video": self._build_video_page(),
            "none": QLabel("The camera image, unchanged."),
        }
        for mode in MODE_LABELS:
            self.mode_stack.addWidget(pages[mode])
        layout.addWidget(self.mode_stack)
        return box

    def _build_blur_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.blur_slider, row, _ = _slider(1, 60, Settings.blur_strength)
        self.blur_slider.valueChanged.connect(self.blur_strength_changed)
        form.addRow("Strength", row)
        return page

    def _build_color_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        swatches = QHBoxLayout()
        for color in SWATCHES:
            button = QPushButton()
            button.setFixedSize(28, 28)
            button.setToolTip(color)
            button.setStyleSheet(f"background-color: {color}; border: 1px solid #888;")
            button.clicked.connect(lambda _=False, c=color: self.select_color(c))
            swatches.addWidget(button)
        swatches.addStretch(1)
        layout.addLayout(swatches)
        row = QHBoxLayout()
        self.color_preview = QLabel()
        self.color_preview.setFixedSize(28, 28)
        pick = QPushButton("Pick colour…")
        pick.clicked.connect(self._pick_color)
        row.addWidget(self.color_preview)
        row.addWidget(pick)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)  # keep the swatches at the top of the (taller) stacked page
        self._show_color(self._color)
        return page

    def _build_image_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.image_list = QListWidget()
        self.image_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.image_list.setIconSize(THUMB)
        self.image_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.image_list.setMovement(QListWidget.Movement.Static)
        self.image_list.setMinimumHeight(130)
        self.image_list.itemClicked.connect(
            lambda item: self.select_image(item.data(Qt.ItemDataRole.UserRole))
        )
        browse = QPushButton("Choose image…")
        browse.clicked.connect(self.browse_image)
        layout.addWidget(self.image_list)
        layout.addWidget(browse)
        return page

    def _build_video_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.video_label = QLabel("No video chosen")
        self.video_label.setWordWrap(True)
        browse = QPushButton("Choose video…")
        browse.clicked.connect(self.browse_video)
        layout.addWidget(self.video_label)
        layout.addWidget(browse)
        return page

    def _build_model_box(self) -> QGroupBox:
        box = QGroupBox("Segmentation")
        form = QFormLayout(box)
        self.model_combo = QComboBox()
        self.device_combo = QComboBox()
        for combo in (self.model_combo, self.device_combo):
            combo.activated.connect(self._emit_model)
        self.model_combo.setToolTip("+alt (default): every other frame mirrored, and the "
                                    "masks averaged where the picture is still - fewer wrong "
                                    "pixels at no cost; +tta: every mask averaged with the "
                                    "mirrored frame's, measured 11-14% fewer frames per second")
        self.device_note = _hint_label()
        form.addRow("Model", self.model_combo)
        form.addRow("Device", self.device_combo)
        form.addRow(self.device_note)
        self.smoothing_slider, row, _ = _slider(0, 95, round(Settings.smoothing * 100))  # < 1
        self.smoothing_slider.setToolTip("Temporal smoothing: higher = less flicker, more lag")
        self.smoothing_slider.valueChanged.connect(lambda v: self.smoothing_changed.emit(v / 100))
        form.addRow("Smoothing", row)
        self.feather_slider, row, _ = _slider(0, 20, Settings.feather)
        self.feather_slider.setToolTip("Edge feather in pixels")
        self.feather_slider.valueChanged.connect(self.feather_changed)
        form.addRow("Edge feather", row)
        self.set_models(["auto"], cuda_available=None)
        return box

    def _build_output_box(self) -> QGroupBox:
        box = QGroupBox("View and output")
        layout = QVBoxLayout(box)
        self.mirror_check = QCheckBox("Mirror (M)")
        self.split_check = QCheckBox("Before/after split (S)")
        self.overlay_check = QCheckBox("Stats overlay (O)")
        self.vcam_check = QCheckBox("Virtual camera (V)")
        self.vcam_hint = _hint_label()
        for check, signal in (
            (self.mirror_check, self.mirror_toggled),
            (self.split_check, self.split_toggled),
            (self.overlay_check, self.overlay_toggled),
            (self.vcam_check, self.virtual_cam_toggled),
        ):
            check.toggled.connect(signal)
            layout.addWidget(check)
        layout.addWidget(self.vcam_hint)
        return box

    def _build_settings_box(self) -> QGroupBox:
        box = QGroupBox("Settings")
        layout = QVBoxLayout(box)
        self.settings_label = _hint_label()
        self.settings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset_requested)
        layout.addWidget(self.settings_label)
        layout.addWidget(self.reset_button)
        return box

    # --- population (called by the window; never emits) ----------------------------------------
    def set_settings_note(self, text: str) -> None:
        self.settings_label.setText(text)
        self.settings_label.setVisible(bool(text))

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Update widgets from code without re-emitting the user-intent signals."""
        was = self.signalsBlocked()
        self.blockSignals(True)
        try:
            yield
        finally:
            self.blockSignals(was)

    def set_sources(
        self, cameras: Sequence[int], files: Sequence[str], current: SourceSpec | None = None
    ) -> None:
        combo = self.source_combo
        combo.blockSignals(True)
        combo.clear()
        for index in cameras:
            combo.addItem(f"Camera {index}", index)
        for path in files:
            combo.addItem(Path(path).name, str(path))
            combo.setItemData(combo.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
        combo.addItem("Video file…", None)
        combo.blockSignals(False)
        if current is not None:
            self.set_current_source(current)

    def set_current_source(self, source: SourceSpec) -> None:
        """Select ``source`` in the picker, adding it if it is a file not listed yet."""
        combo = self.source_combo
        index = combo.findData(source)
        if index < 0 and isinstance(source, str):
            combo.insertItem(combo.count() - 1, Path(source).name, source)
            index = combo.count() - 2
        if index >= 0:
            combo.setCurrentIndex(index)
            self._source_index = index

    def sources(self) -> list[SourceSpec]:
        combo = self.source_combo
        return [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i) is not None]

    def set_images(self, paths: Sequence[str]) -> None:
        """Thumbnails of bundled and recent images; unreadable files are left out."""
        self.image_list.clear()
        for path in paths:
            icon = load_thumbnail(path)
            if icon is None:
                continue
            item = QListWidgetItem(icon, Path(path).stem)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.image_list.addItem(item)

    def image_paths(self) -> list[str]:
        items = (self.image_list.item(i) for i in range(self.image_list.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item is not None]

    def set_models(self, names: Sequence[str], cuda_available: bool | None) -> None:
        """``cuda_available=None``: still being checked (importing torch takes seconds)."""
        self.model_combo.clear()
        for name in names:
            self.model_combo.addItem(name, name)
            if name.startswith(ENSEMBLE_NAME):
                self.model_combo.setItemData(self.model_combo.count() - 1, ENSEMBLE_HINT,
                                             Qt.ItemDataRole.ToolTipRole)
        self.device_combo.clear()
        for device in ("auto", "cpu", "cuda"):
            self.device_combo.addItem(device, device)
        if not cuda_available:
            # A disabled entry says "this exists, not here" better than a missing one.
            item = self.device_combo.model().item(2)  # type: ignore[attr-defined]
            item.setEnabled(False)
            item.setToolTip("CUDA is not available on this machine")
            self.device_combo.setItemText(2, "cuda (not available)")
            self.device_note.setText(CUDA_CHECKING if cuda_available is None else CPU_ONLY_NOTE)
            self.device_note.show()
        else:
            self.device_note.hide()

    def show_model(self, name: str, device: str) -> None:
        for combo, value in ((self.model_combo, name), (self.device_combo, device)):
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)

    def show_background(self, mode: str, value: str = "") -> None:
        """Reflect the accepted background (also used to revert after a bad choice)."""
        with self.quiet():
            self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))
            self.mode_stack.setCurrentIndex(self.mode_combo.currentIndex())
            if mode == "color" and value:
                self._show_color(value)
            elif mode == "video" and value:
                self._video = value
                self.video_label.setText(Path(value).name)
            elif mode == "image":
                self._highlight_image(value)

    def apply_settings(self, s: Settings) -> None:
        with self.quiet():
            self.blur_slider.setValue(s.blur_strength)
            self.smoothing_slider.setValue(int(round(s.smoothing * 100)))
            self.feather_slider.setValue(s.feather)
            self.mirror_check.setChecked(s.mirror)
            self.split_check.setChecked(s.split_view)
            self.overlay_check.setChecked(s.overlay)
            self.vcam_check.setChecked(s.virtual_cam)
            self._show_color(s.color)
            if s.video:
                self._video = s.video
                self.video_label.setText(Path(s.video).name)
        self.show_background(s.background_mode, s.mode_value(s.background_mode))

    def set_vcam_hint(self, text: str) -> None:
        self.vcam_hint.setText(text)
        self.vcam_hint.setVisible(bool(text))

    def set_checked_quietly(self, check: QCheckBox, on: bool) -> None:
        with self.quiet():
            check.setChecked(on)

    def current_mode(self) -> str:
        return str(self.mode_combo.currentData())

    def current_color(self) -> str:
        return self._color

    # --- user actions (public so shortcuts and tests drive the same path) ----------------------
    def select_color(self, color: str) -> None:
        self._show_color(color)
        self.background_selected.emit("color", QColor(color).name())

    def select_image(self, path: str) -> None:
        self.background_selected.emit("image", str(path))

    def select_video(self, path: str) -> None:
        self.background_selected.emit("video", str(path))

    def select_mode(self, mode: str) -> None:
        """Switch mode; modes needing a file reuse the last one (or ask for one)."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))
        self.mode_stack.setCurrentIndex(self.mode_combo.currentIndex())
        if mode == "color":
            self.select_color(self._color)
        elif mode == "image":
            current = self.image_list.currentItem()
            paths = self.image_paths()
            if current is not None or paths:
                item = current or self.image_list.item(0)
                if item is not None:
                    self.select_image(item.data(Qt.ItemDataRole.UserRole))
        elif mode == "video":
            if self._video:
                self.select_video(self._video)
        else:
            self.background_selected.emit(mode, "")

    def select_source(self, source: SourceSpec) -> None:
        self.source_selected.emit(source)

    # --- internals -----------------------------------------------------------------------------
    def _on_mode_activated(self, index: int) -> None:
        self.select_mode(str(self.mode_combo.itemData(index)))

    def _on_source_activated(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if data is None:  # "Video file…"
            self.source_combo.setCurrentIndex(self._source_index)  # the window confirms later
            self.browse_source()
            return
        self.select_source(data)

    def _emit_model(self, _index: int = 0) -> None:
        self.model_selected.emit(
            str(self.model_combo.currentData()), str(self.device_combo.currentData())
        )

    def _pick_color(self) -> None:
        color = QColorDialog.getColor(QColor(self._color), self, "Background colour")
        if color.isValid():
            self.select_color(color.name())

    def _ask_file(self, title: str, filters: str, then: Callable[[str], None]) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, "", filters)
        if path:
            then(path)

    def browse_source(self) -> None:
        self._ask_file("Open video", VIDEO_FILTER, self.select_source)

    def browse_image(self) -> None:
        self._ask_file("Background image", IMAGE_FILTER, self.select_image)

    def browse_video(self) -> None:
        self._ask_file("Background video", VIDEO_FILTER, self.select_video)

    def _show_color(self, color: str) -> None:
        self._color = QColor(color).name()
        self.color_preview.setStyleSheet(
            f"background-color: {self._color}; border: 1px solid #888;"
        )

    def _highlight_image(self, path: str) -> None:
        for i in range(self.image_list.count()):
            item = self.image_list.item(i)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == path:
                self.image_list.setCurrentItem(item)
                return
        self.image_list.clearSelection()
