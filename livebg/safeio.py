"""Writing files without ever losing one: refuse to overwrite what is read, write to a
temporary name in the same folder, fsync, then rename.

    refuse_overwrite(out, [input_path, background_path])   # LivebgError if out *is* one
                                                          # (same inode: symlinks too)
    with atomic_output(out) as tmp:                       # tmp keeps out's extension
        write_the_file(tmp)                               # any exception: tmp removed
    # here out is complete (renamed over any earlier file in one step)

An interrupted or failed job leaves either the earlier file or nothing under the final name,
never half a file. A SIGKILL can leave the hidden temporary (``.NAME.livebg-*.EXT``) behind;
photo folders skip hidden files, so it is never read back as an input.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from livebg.errors import LivebgError

__all__ = [
    "AtomicFile",
    "DiskWatch",
    "atomic_output",
    "ensure_std_streams",
    "os_reason",
    "ReadFiles",
    "refuse_overwrite",
    "silence_stdout",
    "write_bytes_atomic",
]

TEMP_MARK = ".livebg-"
_MIN_FREE_BYTES = 256 * 1024  # below this the next writes of a video are likely to fail


def _temp_name(path: Path) -> Path:
    # Same folder (rename cannot cross filesystems) and same extension (OpenCV and FFmpeg
    # choose the container by it); hidden so folder listings skip it.
    return path.with_name(f".{path.stem}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(3)}"
                          f"{path.suffix}")


def os_reason(exc: BaseException) -> str:
    """A short reason for an OSError ("the disk is full"), else the error's own text."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class AtomicFile:
    """A file written at ``temp`` and moved onto ``path`` by ``commit()``; ``discard()``
    removes the temporary. Both are idempotent; the first to run wins."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.temp = _temp_name(self.path)
        self.existed = self.path.exists()
        self.done = False
        self.committed = False  # True once the file is complete under its final name

    def kept(self) -> str:
        """What the user still has under the final name after a failure."""
        if self.existed:
            return f"the earlier {self.path.name} is unchanged"
        return f"nothing was left under {self.path.name}"

    def failure(self, why: str, fix: str = "free some space or pick another path") -> LivebgError:
        """The one-line error for a failed write (the temporary is removed first)."""
        self.discard()
        return LivebgError(f"could not write {self.path}: {why}; {self.kept()}; {fix}")

    def commit(self) -> None:
        if self.done:
            return
        try:
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)  # the data on disk before the name points at it
            finally:
                os.close(fd)
            os.replace(self.temp, self.path)
        except OSError as exc:
            raise self.failure(os_reason(exc)) from None
        self.done = self.committed = True
        _fsync_folder(self.path.parent)

    def discard(self) -> None:
        if self.done:
            return
        self.done = True
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open folders and needs none)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it becomes ``path`` (fsync, then
    rename), on any exception it is removed. An ``OSError`` becomes one ``LivebgError``
    naming the file and what was kept."""
    target = AtomicFile(path)
    try:
        yield target.temp
    except OSError as exc:
        raise target.failure(os_reason(exc)) from None
    except BaseException:
        target.discard()
        raise
    target.commit()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """``path`` holds ``data`` in full, or keeps what it held (every write checked)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()  # close() errors (a full disk on the last block) surface here, inside


class DiskWatch:
    """Cheap periodic free-space check for streaming writers whose own write calls cannot
    report a full disk (OpenCV's VideoWriter returns nothing)."""

    def __init__(self, folder: Path, every: int = 16, min_free: int = _MIN_FREE_BYTES) -> None:
        self.folder, self.every, self.min_free = folder, every, min_free
        self._count = 0

    def full(self) -> bool:
        """True when the folder's filesystem is (nearly) out of space; looked at every
        ``every`` calls."""
        self._count += 1
        if self._count % self.every:
            return False
        try:
            st = os.statvfs(self.folder)
        except (OSError, AttributeError):  # no statvfs (Windows): the final check still runs
            return False
        return st.f_bavail * st.f_frsize < self.min_free


# --------------------------------------------------------------------------- refusing
class ReadFiles:
    """The files a job reads (input, each photo of an input folder, background, weights),
    by inode, so ``path in files`` is one ``stat`` however many there are. ``None`` and
    non-path entries (a colour, a camera index) are skipped: pass settings as they are."""

    def __init__(self, paths: Iterable[object]) -> None:
        self._ids: dict[tuple[int, int], Path] = {}
        for item in paths:
            if isinstance(item, (str, os.PathLike)):
                with contextlib.suppress(OSError):
                    st = os.stat(item)
                    self._ids[(st.st_dev, st.st_ino)] = Path(item)

    def which(self, path: str | os.PathLike[str]) -> Path | None:
        """The read file that ``path`` is (through any symlink or hard link), or None."""
        try:
            st = os.stat(path)
        except OSError:
            return None  # nothing there yet: it cannot be a file that is read
        return self._ids.get((st.st_dev, st.st_ino))


def refuse_overwrite(output: str | os.PathLike[str], protected: Iterable[object] | ReadFiles,
                     what: str = "output") -> None:
    """LivebgError if ``output`` is one of the files the job reads (``protected``)."""
    files = protected if isinstance(protected, ReadFiles) else ReadFiles(protected)
    hit = files.which(output)
    if hit is not None:
        shown = "" if same_spelling(output, hit) else f" (the same file as {hit})"
        raise LivebgError(
            f"{what} {output}{shown} is a file this job reads: writing it would destroy "
            f"it; pick another {what} name or folder")


def same_spelling(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def silence_stdout() -> None:
    """Send what is left of stdout to /dev/null, so the interpreter's final flush does
    not fail a second time on a closed pipe or a full device."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def ensure_std_streams() -> None:
    """Point closed or read-only fds 0-2 (``2>&-``, a daemon, a shell script's own file
    left on fd 2) at /dev/null. Otherwise every notice fails with EBADF, and the next file
    opened could take fd 2 and with it every native library's log line: the output video."""
    for fd, writable in ((0, False), (1, True), (2, True)):
        if _fd_usable(fd, writable):
            continue
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if sys.stderr is None:  # Python saw no fd 2 at start-up
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - for the process's life
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115


def _fd_usable(fd: int, writable: bool) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    try:
        import fcntl
    except ImportError:  # Windows: open is all we can tell
        return True
    mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    return mode != os.O_RDONLY if writable else True
