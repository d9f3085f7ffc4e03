"""Run slow, blocking calls (probing cameras, loading models) off the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal


class _Relay(QObject):
    """Lives in the UI thread; its signals, connected to its own methods, are queued there."""

    done = pyqtSignal(object)
    failed = pyqtSignal(object)

    def __init__(
        self,
        parent: QObject,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        finished: Callable[[_Relay], None],
    ) -> None:
        super().__init__(parent)
        self._on_done, self._on_error, self._finished = on_done, on_error, finished
        self.done.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)

    def _deliver_done(self, value: Any) -> None:
        self._finished(self)
        self._on_done(value)

    def _deliver_error(self, exc: BaseException) -> None:
        self._finished(self)
        self._on_error(exc)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # noqa: BLE001 - handed to the UI to show, never swallowed
            self._relay.failed.emit(exc)
        else:
            self._relay.done.emit(result)


class BackgroundRunner(QObject):
    """Runs callables on Qt's thread pool and calls back on the UI thread.

    Opening a camera or loading a model can take seconds; doing it here keeps the preview live.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relays: set[_Relay] = set()  # keep relays alive until their job reports

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        relay = _Relay(self, on_done, on_error, self._finished)
        self._relays.add(relay)
        QThreadPool.globalInstance().start(_Job(fn, relay))

    def _finished(self, relay: _Relay) -> None:
        self._relays.discard(relay)
        relay.deleteLater()

    def pending(self) -> int:
        return len(self._relays)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until queued jobs finish (used on close and in tests, not on the hot path)."""
        return QThreadPool.globalInstance().waitForDone(msecs)
