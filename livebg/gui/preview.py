"""Live preview: a latest-frame-wins bridge from the pipeline thread, and the widget drawing it."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
from PyQt6.QtCore import QObject, QPointF, QRect, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

FramePair = tuple[np.ndarray, np.ndarray, Any]  # (original_bgr, composited_bgr, stats)

_HANDLE_PX = 8  # how close (widget px) a press must be to grab the split line


class FrameBridge(QObject):
    """Hands frames from the pipeline thread to the UI thread, keeping only the newest.

    ``push`` runs on the pipeline thread: it overwrites a one-item slot and emits
    ``frame_ready`` only when the UI has consumed the previous frame, so a slow UI never
    builds a queue of stale frames in Qt's event loop (latest frame wins, the rest are dropped).
    """

    frame_ready = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._item: FramePair | None = None
        self._pending = False
        self._closed = False
        self.pushed = 0
        self.dropped = 0

    def push(self, original: np.ndarray, composited: np.ndarray, stats: Any = None) -> None:
        with self._lock:
            if self._closed:
                return
            self.pushed += 1
            if self._item is not None:
                self.dropped += 1  # the UI never saw the previous one: it is stale now
            self._item = (original, composited, stats)
            notify = not self._pending
            self._pending = True
        if notify:
            self.frame_ready.emit()

    def take(self) -> FramePair | None:
        """UI thread: the newest frame (or None if it was already taken)."""
        with self._lock:
            item, self._item = self._item, None
            self._pending = False
        return item

    def close(self) -> None:
        """Late pushes from a pipeline that is still shutting down are ignored."""
        with self._lock:
            self._closed = True
            self._item = None


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """Wrap a BGR/BGRA/gray uint8 frame without copying; the caller keeps ``frame`` alive."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    if frame.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif frame.shape[2] == 4:
        fmt = QImage.Format.Format_ARGB32  # BGRA in memory on little-endian == ARGB32
    else:
        fmt = QImage.Format.Format_BGR888
    return QImage(frame.data, w, h, frame.strides[0], fmt)


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def compose_split(original: np.ndarray, composited: np.ndarray, split: float | None) -> np.ndarray:
    """What the user sees: the result, or the original left of ``split`` (0..1), result right."""
    if split is None:
        return composited
    after = _as_bgr(composited)
    before = _as_bgr(original)
    if before.shape != after.shape:
        before = cv2.resize(before, (after.shape[1], after.shape[0]))
    x = int(round(np.clip(split, 0.0, 1.0) * after.shape[1]))
    out = after.copy()
    out[:, :x] = before[:, :x]
    return out


def fit_rect(src_w: int, src_h: int, dst: QRect) -> QRect:
    """Largest rect with the source aspect ratio centred in ``dst`` (letterboxed, never cropped)."""
    if src_w <= 0 or src_h <= 0 or dst.width() <= 0 or dst.height() <= 0:
        return QRect(dst)
    scale = min(dst.width() / src_w, dst.height() / src_h)
    w, h = max(1, int(src_w * scale)), max(1, int(src_h * scale))
    return QRect(dst.x() + (dst.width() - w) // 2, dst.y() + (dst.height() - h) // 2, w, h)


class PreviewWidget(QWidget):
    """Draws the latest frame scaled to fit, with an optional before/after split and overlay."""

    split_moved = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setMouseTracking(True)  # to show the split cursor on hover
        self._original: np.ndarray | None = None
        self._composited: np.ndarray | None = None
        self._shown: np.ndarray | None = None  # keeps the QImage's buffer alive while painting
        self._image: QImage | None = None
        self._split_enabled = False
        self._split_pos = 0.5
        self._dragging = False
        self._overlay_enabled = True
        self._overlay_lines: list[str] = []
        self._placeholder = "Waiting for frames…"
        self.frames_shown = 0

    # --- state -------------------------------------------------------------------------------
    def set_frames(self, original: np.ndarray, composited: np.ndarray) -> None:
        self._original, self._composited = original, composited
        self._shown = compose_split(original, composited, self.split_fraction())
        self._image = bgr_to_qimage(self._shown)
        self.frames_shown += 1
        self.update()

    def clear(self, placeholder: str) -> None:
        self._original = self._composited = self._shown = None
        self._image = None
        self._placeholder = placeholder
        self.update()

    def displayed_frame(self) -> np.ndarray | None:
        """The BGR frame currently drawn (source resolution, before scaling): tests, snapshots."""
        return None if self._shown is None else _as_bgr(self._shown)

    def split_fraction(self) -> float | None:
        return self._split_pos if self._split_enabled else None

    def set_split_enabled(self, enabled: bool) -> None:
        self._split_enabled = enabled
        self._recompose()

    def set_split_position(self, pos: float) -> None:
        self._split_pos = float(np.clip(pos, 0.0, 1.0))
        self._recompose()

    def set_overlay_enabled(self, enabled: bool) -> None:
        self._overlay_enabled = enabled
        self.update()

    def set_overlay_lines(self, lines: list[str]) -> None:
        self._overlay_lines = lines
        if self._overlay_enabled:
            self.update()

    def _recompose(self) -> None:
        if self._original is not None and self._composited is not None:
            self.set_frames(self._original, self._composited)
        else:
            self.update()

    def image_rect(self) -> QRect:
        """Where the frame is drawn inside the widget."""
        if self._shown is None:
            return QRect(self.rect())
        return fit_rect(self._shown.shape[1], self._shown.shape[0], self.rect())

    # --- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 20, 20))
        if self._image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            painter.end()
            return
        target = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        if self._split_enabled:
            self._paint_split(painter, target)
        if self._overlay_enabled and self._overlay_lines:
            self._paint_overlay(painter, target)
        painter.end()

    def _paint_split(self, painter: QPainter, target: QRect) -> None:
        x = target.x() + self._split_pos * target.width()
        painter.setPen(QPen(QColor(255, 255, 255, 220), 2))
        painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
        painter.setBrush(QColor(255, 255, 255, 220))
        painter.drawEllipse(QPointF(x, target.center().y()), 7, 7)
        painter.setPen(QColor(255, 255, 255))
        label_y = target.bottom() - 24
        painter.drawText(QRectF(target.x() + 8, label_y, 120, 20), "Before")
        painter.drawText(
            QRectF(target.right() - 128, label_y, 120, 20), Qt.AlignmentFlag.AlignRight, "After"
        )

    def _paint_overlay(self, painter: QPainter, target: QRect) -> None:
        metrics = painter.fontMetrics()
        width = max(metrics.horizontalAdvance(line) for line in self._overlay_lines) + 12
        height = metrics.height() * len(self._overlay_lines) + 8
        box = QRect(target.x() + 8, target.y() + 8, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(box.adjusted(6, 4, -6, -4), 0, "\n".join(self._overlay_lines))

    # --- dragging the split line -------------------------------------------------------------
    def _near_split(self, x: float) -> bool:
        target = self.image_rect()
        return abs(x - (target.x() + self._split_pos * target.width())) <= _HANDLE_PX

    def mousePressEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        if event is not None and self._split_enabled and self._near_split(event.position().x()):
            self._dragging = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        if event is None:
            return
        x = event.position().x()
        if self._dragging:
            target = self.image_rect()
            self.set_split_position((x - target.x()) / max(1, target.width()))
            self.split_moved.emit(self._split_pos)
            return
        near = self._split_enabled and self._near_split(x)
        self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        self._dragging = False
        super().mouseReleaseEvent(event)
