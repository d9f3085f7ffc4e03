"""Whether livebg's window can open here, and if not, what to install.

Checked before Qt starts, because a Qt platform plugin that cannot load aborts the process
(SIGABRT, no Python exception) with a hint that is often wrong: Qt 6.5+ names
``libxcb-cursor0`` whichever of the xcb plugin's libraries is missing. ``window_problem``
says what is wrong, and the caller runs headless with that note instead of crashing.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "apt_install",
    "debian_package",
    "display_available",
    "window_problem",
    "xcb_missing_libraries",
]

# dlopen()ed by the xcb plugin since Qt 6.5, so ldd does not list it
_XCB_CURSOR = "libxcb-cursor.so.0"


def display_available() -> bool:
    """Whether a window can be shown (Linux needs X11 or Wayland; other systems always can)."""
    if os.environ.get("QT_QPA_PLATFORM", "") in {"offscreen", "minimal"}:
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _uses_xcb() -> bool:
    """Qt will pick its xcb (X11) plugin: asked for, or an X11 session without Wayland."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def _xcb_plugin() -> Path | None:
    try:
        from PyQt6.QtCore import QLibraryInfo
    except ImportError:
        return None
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    plugin = plugins / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def xcb_missing_libraries(plugin: Path | None = None) -> list[str]:
    """The shared libraries (sonames) that Qt's xcb plugin needs and this Linux system
    lacks, as ``ldd`` reports them, plus ``libxcb-cursor.so.0``; [] where that cannot be
    told (not Linux, no plugin, no ``ldd``)."""
    if not sys.platform.startswith("linux"):
        return []
    plugin = plugin or _xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return []
    try:
        listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True,
                                 timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = [line.split()[0] for line in listing.splitlines() if "not found" in line]
    if ctypes.util.find_library("xcb-cursor") is None:
        missing.append(_XCB_CURSOR)
    return list(dict.fromkeys(missing))  # once each, in ldd's order


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package of a library by the naming policy: ``libxcb-icccm.so.4``
    → ``libxcb-icccm4``, ``libxkbcommon-x11.so.0`` → ``libxkbcommon-x11-0``."""
    name, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    if not major:
        return name
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def apt_install(libraries: list[str]) -> str:
    """The command that installs ``libraries`` (sonames) on Debian or Ubuntu."""
    return "sudo apt install " + " ".join(dict.fromkeys(map(debian_package, libraries)))


def window_problem() -> str | None:
    """Why the window cannot open here (with what to do), or None when it can."""
    if not display_available():
        return "no display found"
    if _uses_xcb() and (missing := xcb_missing_libraries()):
        return (f"the window cannot open: Qt's X11 plugin needs {', '.join(missing)} "
                f"(Debian/Ubuntu: {apt_install(missing)})")
    return None
