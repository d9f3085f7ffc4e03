"""Whether the window can open, and what to install when Qt's X11 plugin cannot load.

A plugin that cannot load aborts Qt (no exception), so livebg asks ``ldd`` first. A fake
``ldd`` on PATH stands in for a system without the libraries."""

from __future__ import annotations

import ctypes.util
import os
import stat
import sys
from pathlib import Path

import pytest

from livebg import display


def fake_ldd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listing: str) -> Path:
    """An ``ldd`` that prints ``listing`` for any file, first on PATH; returns the plugin."""
    tool = tmp_path / "bin" / "ldd"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{listing}\nEOF\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"\x7fELF")
    monkeypatch.setattr(display, "_xcb_plugin", lambda: plugin)
    return plugin


LISTING = """\tlinux-vdso.so.1 (0x00007ffc)
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the xcb plugin is Linux's")


@pytest.mark.parametrize(("soname", "package"), [
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-render-util.so.0.0.0", "libxcb-render-util0"),
    ("libGL.so", "libGL"),
])
def test_a_library_is_named_by_its_debian_package(soname: str, package: str) -> None:
    assert display.debian_package(soname) == package


def test_missing_libraries_are_those_ldd_cannot_find_once_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ldd(tmp_path, monkeypatch, LISTING)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.0")
    assert display.xcb_missing_libraries() == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    # libxcb-cursor is dlopen()ed, so ldd never lists it: it is looked up by name
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert display.xcb_missing_libraries()[-1] == "libxcb-cursor.so.0"


def test_an_x11_session_without_the_libraries_cannot_open_the_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ldd(tmp_path, monkeypatch, LISTING)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    problem = display.window_problem()
    assert problem is not None and "libxcb-icccm.so.4, libxcb-keysyms.so.1" in problem
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in problem
    # a Wayland session uses the wayland plugin: the xcb one is not needed
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert display.window_problem() is None
    # nothing missing: the window opens
    (tmp_path / "ok").mkdir()
    fake_ldd(tmp_path / "ok", monkeypatch, "\tlibxcb.so.1 => /lib/libxcb.so.1")
    monkeypatch.delenv("WAYLAND_DISPLAY")
    assert display.window_problem() is None


def test_no_display_and_no_ldd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert display.window_problem() == "no display found"
    monkeypatch.setenv("PATH", str(tmp_path))  # no ldd: nothing can be told, nothing claimed
    assert display.xcb_missing_libraries(tmp_path / "libqxcb.so") == []


def test_doctor_names_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PyQt6")
    from livebg import doctor

    fake_ldd(tmp_path, monkeypatch, LISTING)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    (check,) = doctor.check_qt()
    assert not check.ok and "the X11 (xcb) plugin cannot load" in check.detail
    assert check.fix == "sudo apt install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0"
