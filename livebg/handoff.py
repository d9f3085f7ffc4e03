"""The one-slot hand-off between the pipeline's threads: "latest frame wins" for cameras and
real-time playback (stale frames are dropped and counted), blocking for file jobs (every frame
reaches the output). Nothing here starts a thread.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """One-slot hand-off between threads: never a growing queue.

    ``put`` overwrites an unread item (counted in ``dropped``) so the consumer always gets the
    newest frame. With ``blocking=True`` ``put`` instead waits for the slot to empty, so nothing
    is dropped (used for file jobs where every frame must reach the output).
    ``close()`` wakes every waiter; an item already in the slot can still be taken afterwards.
    """

    def __init__(self, *, blocking: bool = False) -> None:
        self.blocking = blocking
        self.dropped = 0
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Store ``item``; False if the slot is closed (or, when blocking, the wait timed out)."""
        with self._cond:
            if self.blocking and not self._cond.wait_for(
                lambda: not self._has_item or self._closed, timeout
            ):
                return False
            if self._closed:
                return False
            if self._has_item:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item; None after ``timeout`` or once closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            self._cond.notify_all()  # a blocking put may be waiting for room
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return int(self._has_item)
