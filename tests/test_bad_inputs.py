"""Every user mistake: one ``livebg: error: ...`` line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_cli import run_cli

from livebg import cli


@pytest.fixture
def files(tmp_path: Path, clip: Path) -> dict[str, Path]:
    """Bad and good files to point the command at."""
    corrupt_jpg = tmp_path / "corrupt.jpg"
    corrupt_jpg.write_bytes(b"\xff\xd8 this is not a jpeg" * 10)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    corrupt_mp4 = tmp_path / "corrupt.mp4"
    corrupt_mp4.write_bytes(b"\x00\x00\x00 not a video" * 100)
    corrupt_onnx = tmp_path / "corrupt.onnx"
    corrupt_onnx.write_bytes(b"not an onnx model" * 10)
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.full((32, 32, 3), 90, np.uint8))
    return {"clip": clip, "corrupt_jpg": corrupt_jpg, "notes": notes,
            "corrupt_mp4": corrupt_mp4, "corrupt_onnx": corrupt_onnx, "photos": photos,
            "tmp": tmp_path}


def unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/proc")  # root ignores permissions; /proc takes no new files
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return folder


# (argv with {placeholders}, text the one line must contain)
CASES = {
    "missing background image": (["--bg", "{tmp}/nope.jpg"], "nope.jpg"),
    "corrupt background image": (["--bg", "{corrupt_jpg}"], "corrupt.jpg"),
    "unsupported background type": (["--bg", "{notes}"], ".txt"),
    "bad colour string": (["--bg", "#12345z"], "#12345z"),
    "input missing": (["--input", "{tmp}/missing.mp4"], "does not exist"),
    "input not a video": (["--input", "{corrupt_mp4}"], "corrupt.mp4"),
    "unsupported input type": (["--input", "{notes}"], "unsupported type .txt"),
    "camera that does not open": (["--camera", "7"], "camera 7 did not open: try --camera 8"),
    "output folder missing": (["--output", "{tmp}/no/such/dir/out.mp4"], "does not exist"),
    "output type unsupported": (["--output", "{tmp}/out.xyz"], "unsupported type .xyz"),
    "unknown model": (["--model", "unetz"], "unknown model 'unetz': choose one of auto"),
    "unknown device": (["--device", "tpu"], "tpu"),
    "weights file missing": (["--weights", "{tmp}/none.onnx"], "none.onnx"),
    "photos output folder missing": (
        ["--input", "{photos}", "--output", "{tmp}/nothere"], "does not exist"),
    "photos without output": (["--input", "{photos}"], "photos need --output"),
    "transparent for video": (["--bg", "transparent"], "transparent"),
    "unknown option": (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    "smoothing out of range": (["--smoothing", "1.5"], "--smoothing: must be a number in [0, 1)"),
    "smoothing nan": (["--smoothing", "nan"], "--smoothing: must be a number in [0, 1), got nan"),
    "negative feather": (["--feather", "-2"], "--feather: must be a number in [0, 100]"),
    "feather nan": (["--feather", "nan"], "--feather: must be a number in [0, 100], got nan"),
    "feather huge": (["--feather", "1e9"], "--feather: must be a number in [0, 100]"),
    "blur strength nan": (["--blur-strength", "nan"], "--blur-strength: must be a number"),
    "blur strength inf": (["--blur-strength", "inf"], "in [0, 200], got inf"),
    "blur strength huge": (["--blur-strength", "1e9"], "in [0, 200], got 1000000000.0"),
    "fps zero": (["--fps", "0"], "--fps: must be a number in [1, 240]"),
    "width huge": (["--width", "100000"], "--width: must be a number in [16, 8192]"),
    "camera negative": (["--camera", "-1"], "--camera/-c: must be a number in [0, 255]"),
    "not a number": (["--max-frames", "ten"], "argument --max-frames: 'ten' is not an integer"),
    "max frames zero": (["--max-frames", "0"], "--max-frames: must be a number in [1, "),
    "weights folder": (["--weights", "{tmp}"], "is a folder: name the .onnx or .safetensors"),
    "weights with mediapipe": (["--weights", "{corrupt_onnx}", "--model", "mediapipe"],
                               "drop --weights, or use --model unet"),
    "bench unknown model": (["bench", "--model", "mediapipe", "nope"], "unknown model 'nope'"),
    "bench json folder missing": (["bench", "--json", "{tmp}/x/y.json"], "does not exist"),
    "bench repeat zero": (["bench", "--repeat", "0"], "--repeat: must be a number in [1, 1000]"),
    "bench frames zero": (["bench", "--frames", "0"], "--frames: must be a number in [1, "),
}


def _argv(args: list[str], files: dict[str, Path]) -> list[str]:
    """The case's flags plus a valid input/output where the case does not set them."""
    argv = [a.format(**files) for a in args]
    if argv[0] == "bench":
        return [*argv, "--input", str(files["clip"])]
    if not {"--input", "--camera"} & set(argv):
        argv += ["--input", str(files["clip"])]
    if "--output" not in argv and str(files["photos"]) not in argv:
        argv += ["--output", str(files["tmp"] / "ok.mp4")]
    return [*argv, "--no-window"]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2(
    case: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args, expected = CASES[case]
    rc = cli.main(_argv(args, files))
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("livebg: error: ") and expected in lines[0], lines[0]
    assert not (files["tmp"] / "ok.mp4").exists(), "no half-made output file left behind"


def test_output_folder_not_writable(files: dict[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = unwritable_folder(files["tmp"])
    rc = cli.main(["--input", str(files["clip"]), "--output", str(folder / "out.mp4"),
                   "--no-window"])
    line = capsys.readouterr().err.strip()
    assert rc == 2 and line == f"livebg: error: output folder {folder} is not writable: " \
        "pick another path"


def test_cuda_without_cuda(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch, use_fake_segmenter: list) -> None:
    import livebg.segment

    monkeypatch.setattr(livebg.segment, "cuda_available", lambda: False)
    out = files["tmp"] / "c.mp4"
    base = ["--input", str(files["clip"]), "--device", "cuda", "--no-window", "--output", str(out)]
    assert cli.main(base) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("livebg: error: --device cuda but no CUDA GPU is available")
    assert "--cuda-fallback" in line
    # asked to fall back: it runs (the fake loader stands in for the CPU model)
    assert cli.main([*base, "--max-frames", "3"] + ["--cuda-fallback"]) == 0


def test_corrupt_weights(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("livebg.segment.unet", reason="the unet backend has not landed yet")
    rc = cli.main(["--input", str(files["clip"]), "--model", "unet", "--weights",
                   str(files["corrupt_onnx"]), "--no-window", "--output",
                   str(files["tmp"] / "w.mp4")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("livebg: error: ")
    assert "corrupt.onnx" in lines[0]


@pytest.mark.parametrize("case", ["bad colour", "missing input", "corrupt video", "camera"])
def test_real_command_prints_exactly_one_line(case: str, files: dict[str, Path]) -> None:
    """In a real process, so C++ libraries' own stderr output (fd 2) would show up too."""
    args = {
        "bad colour": ["--bg", "#gg0000"],
        "missing input": ["--input", "/nonexistent/x.mp4"],
        "corrupt video": ["--bg", str(files["corrupt_mp4"])],  # FFmpeg would complain
        "camera": ["--camera", "7"],  # so would OpenCV's V4L2 backend
    }[case]
    if "--input" not in args and "--camera" not in args:
        args += ["--input", str(files["clip"])]
    res = run_cli(*args, "--no-window")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livebg: error: "), res.stderr
