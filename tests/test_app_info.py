"""What a new user asks first: --version and the weights' licence, bundled backgrounds by
name, the cameras there are, options that do nothing for a file, and no torch on a CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FakeSegmenter, read_all

from livebg import __version__, cli
from livebg.assets import background_names, bundled_background, sample_clip
from livebg.backgrounds import parse_background
from livebg.capture import camera_names

REPO = Path(__file__).resolve().parents[1]


def test_version_names_the_weights_research_only_terms(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"livebg {__version__}\n")
    assert "EG1800" in out and "Penn-Fudan" in out and "research" in out


def test_bundled_backgrounds_by_name_in_help_and_on_the_command_line(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = background_names()
    assert {"office", "bokeh", "hills", "studio"} <= set(names)
    assert ", ".join(names) in " ".join(cli.build_parser().format_help().split())
    office = parse_background("office")
    assert office.kind == "image" and office.path == bundled_background("office.jpg")
    assert parse_background("OFFICE.jpg").path == office.path
    out = tmp_path / "o.mp4"
    assert cli.main(["--input", str(clip), "--bg", "office", "--output", str(out),
                     "--no-window", "--max-frames", "3", "--feather", "0"]) == 0
    expected = cv2.resize(office.image, (160, 120), interpolation=cv2.INTER_AREA)
    corner = read_all(out)[0][:20, :20].astype(int)
    assert np.abs(corner - expected[:20, :20]).mean() < 25, "the office photo behind"
    assert cli.main(["--input", str(clip), "--bg", "offise", "--output", str(out)]) == 2
    assert "bundled background (bokeh, hills, office, studio)" in capsys.readouterr().err


def test_sample_clip_comes_from_the_package() -> None:
    assert sample_clip() == REPO / "livebg" / "assets" / "sample.mp4"


def test_camera_names_come_from_sysfs(tmp_path: Path) -> None:
    for node, name, index in (("video0", "HD Pro Webcam C920", "0"),
                              ("video1", "HD Pro Webcam C920", "1"),  # its metadata node
                              ("video2", "OBS Virtual Camera", "0")):
        (tmp_path / node).mkdir()
        (tmp_path / node / "name").write_text(name + "\n")
        (tmp_path / node / "index").write_text(index + "\n")
    assert camera_names(tmp_path) == {0: "HD Pro Webcam C920", 2: "OBS Virtual Camera"}
    assert camera_names(tmp_path / "missing") == {}


def test_list_cameras_says_cleanly_when_there_are_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import livebg.capture

    monkeypatch.setattr(livebg.capture, "list_cameras", lambda: [])
    assert cli.main(["--list-cameras"]) == 0
    assert capsys.readouterr().err.startswith("livebg: no cameras found")
    monkeypatch.setattr(livebg.capture, "list_cameras", lambda: [(0, "HD Webcam")])
    assert cli.main(["--list-cameras"]) == 0
    assert capsys.readouterr().out == "0\tHD Webcam\n"


def test_camera_options_with_a_file_warn_in_one_line(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--input", str(clip), "--width", "640", "--fps", "15", "--no-window",
                     "--output", str(tmp_path / "o.mp4"), "--max-frames", "2"]) == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "cameras only" in ln]
    assert warnings == [f"livebg: --width, --fps apply to cameras only: ignored for the file "
                        f"{clip}"]


def test_cpu_start_up_never_imports_torch(clip: Path, tmp_path: Path) -> None:
    """`import torch` costs over a second; a CPU machine must not pay it to learn it has no
    CUDA (the shared env has torch installed, so this checks the detection, not luck)."""
    code = (
        "import sys\n"
        "from livebg import cli\n"
        f"rc = cli.main(['--input', {str(clip)!r}, '--max-frames', '1', '--no-window',\n"
        f"              '--output', {str(tmp_path / 'o.mp4')!r}])\n"
        "from livebg.segment import cuda_available, cuda_driver_has_device\n"
        "print(rc, cuda_available(), 'torch' in sys.modules, cuda_driver_has_device())\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    rc, cuda, torch_loaded, driver = res.stdout.split()
    assert rc == "0", res.stderr
    if driver == "False":  # a machine with a GPU may (rightly) import torch
        assert (cuda, torch_loaded) == ("False", "False")
