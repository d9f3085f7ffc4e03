"""The ``livebg`` command end to end: real compositor and sinks, fake and real segmenters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLIP_SIZE, PERSON_BGR, FakeSegmenter, read_all

from livebg import cli

W, H = CLIP_SIZE
INSIDE = (H // 2, W // 2)
CORNERS = [(5, 5), (H - 5, 5), (5, W - 5), (H - 5, W - 5)]
REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh interpreter (what a user runs)."""
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    full_env.pop("DISPLAY", None)
    full_env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "livebg", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env=full_env)


def livebg_lines(stderr: str) -> list[str]:
    """Our own stderr lines (MediaPipe's C++ logging is not ours to judge)."""
    return [ln for ln in stderr.splitlines() if ln.startswith("livebg:")]


def test_file_job_with_colour_background(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.mp4"
    rc = cli.main(["--input", str(clip), "--bg", "#0000ff", "--output", str(out), "--no-window"])
    assert rc == 0
    frames = read_all(out)
    assert len(frames) == 24, "every input frame written"
    assert frames[0].shape == (H, W, 3)
    for f in (frames[0], frames[12], frames[-1]):
        assert np.abs(f[INSIDE].astype(int) - PERSON_BGR).max() <= 25, "person kept"
        for yx in CORNERS:
            assert np.abs(f[yx].astype(int) - (255, 0, 0)).max() <= 25, "background replaced"
    err = capsys.readouterr().err
    assert f"wrote 24 frames to {out}" in err
    assert len(use_fake_segmenter) == 1 and use_fake_segmenter[0].close_calls == 1
    # video: the mirror every other frame by default, not a second pass per frame
    assert use_fake_segmenter[0].name == "auto+alt"
    for flag, name in (("--tta", "auto+tta"), ("--no-tta", "fake")):
        assert cli.main(["--input", str(clip), "--output", str(out), "--no-window", flag,
                         "--max-frames", "2"]) == 0
        assert use_fake_segmenter[-1].name == name
    capsys.readouterr()
    for model, flag in (("unet+alt", "--tta"), ("unet+alt", "--no-tta"), ("unet+tta", "--no-tta")):
        assert cli.main(["--input", str(clip), "--output", str(out), "--no-window",
                         "--model", model, flag]) == 2
        assert f"--model {model} asks for its own mirror averaging" in capsys.readouterr().err


def test_file_job_with_image_background_and_folder_output(
    clip: Path, tmp_path: Path, use_fake_segmenter: list[FakeSegmenter],
) -> None:
    bg = np.zeros((300, 400, 3), np.uint8)
    bg[:, :200] = (0, 0, 255)  # red left half, yellow right half
    bg[:, 200:] = (0, 255, 255)
    cv2.imwrite(str(tmp_path / "bg.png"), bg)
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    rc = cli.main(["--input", str(clip), "--bg", str(tmp_path / "bg.png"), "--output",
                   str(outdir), "--no-window", "--max-frames", "10"])
    assert rc == 0
    frames = read_all(outdir / "clip.mp4")  # a folder gets <input name>.mp4
    assert len(frames) == 10
    f = frames[5]
    assert np.abs(f[H - 5, 5].astype(int) - (0, 0, 255)).max() <= 30
    assert np.abs(f[H - 5, W - 5].astype(int) - (0, 255, 255)).max() <= 30
    assert np.abs(f[INSIDE].astype(int) - PERSON_BGR).max() <= 25


def test_mask_only_video(clip: Path, tmp_path: Path, use_fake_segmenter: list) -> None:
    out = tmp_path / "mask.mp4"
    assert cli.main(["--input", str(clip), "--mask-only", "--output", str(out),
                     "--no-window"]) == 0
    frames = read_all(out)
    assert len(frames) == 24
    assert frames[3][INSIDE].min() > 230 and frames[3][5, 5].max() < 25


def test_mediapipe_end_to_end_on_generated_clip(clip: Path, tmp_path: Path) -> None:
    """Real MediaPipe, real compositor, real file sink, the installed command."""
    out = tmp_path / "mp.mp4"
    res = run_cli("--input", str(clip), "--model", "mediapipe", "--bg", "#00b140",
                  "--output", str(out), "--no-window")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    frames = read_all(out)
    assert len(frames) == 24 and frames[0].shape == (H, W, 3)
    # no real person in the synthetic clip: MediaPipe keeps little, the corners turn green
    for yx in CORNERS:
        assert np.abs(frames[10][yx].astype(int) - (0x40, 0xB1, 0x00)).max() <= 30
    assert livebg_lines(res.stderr)[-1].startswith(f"livebg: wrote 24 frames to {out}")


def test_mediapipe_keeps_a_real_person(shared_dir: Path, tmp_path: Path) -> None:
    src = shared_dir / "videos" / "doctor.mp4"
    bg = sorted((shared_dir / "backgrounds").glob("*.jpg"))[0]
    out = tmp_path / "doctor.mp4"
    res = run_cli("--input", str(src), "--model", "mediapipe", "--bg", str(bg),
                  "--output", str(out), "--no-window", "--max-frames", "40")
    assert res.returncode == 0, res.stderr
    outs, ins = read_all(out), read_all(src)[:40]
    assert len(outs) == 40 and outs[0].shape == (540, 960, 3)
    diff = np.abs(outs[30].astype(int) - ins[30].astype(int)).mean(axis=2)
    assert diff[150:260, 520:640].mean() < 12, "the doctor's face is kept"
    assert diff[0:80, 0:120].mean() > 30, "the shelves behind her are replaced"


def test_no_display_runs_headless_with_a_note(clip: Path, tmp_path: Path) -> None:
    res = run_cli("--input", str(clip), "--model", "mediapipe", "--max-frames", "3")
    assert res.returncode == 0, res.stderr
    lines = livebg_lines(res.stderr)
    assert any("no display found: running headless" in ln for ln in lines)


def test_no_input_falls_back_to_the_sample_clip(tmp_path: Path) -> None:
    if not (REPO / "livebg" / "assets" / "sample.mp4").is_file():
        pytest.skip("assets/sample.mp4 not generated yet")
    out = tmp_path / "s.mp4"
    res = run_cli("--model", "mediapipe", "--output", str(out), "--max-frames", "5")
    assert res.returncode == 0, res.stderr
    assert any("no camera found: playing the bundled sample clip" in ln
               for ln in livebg_lines(res.stderr))
    assert len(read_all(out)) == 5


def test_virtual_cam_without_device_prints_hint_and_keeps_going(
    clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "v.mp4"
    res = run_cli("--input", str(clip), "--virtual-cam", "--model", "mediapipe",
                  "--output", str(out), "--no-window", "--max-frames", "6")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    hint = [ln for ln in livebg_lines(res.stderr) if "virtual camera unavailable" in ln]
    assert len(hint) == 1 and "modprobe v4l2loopback" in hint[0]
    # nobody watches and the camera is missing: the file is written flat out, every frame
    assert any("as fast as it goes" in ln for ln in livebg_lines(res.stderr))
    assert len(read_all(out)) == 6


def test_ctrl_c_stops_cleanly_and_finishes_the_file(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "loop.mp4"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "livebg", "--input", str(clip), "--loop", "--realtime",
         "--model", "mediapipe", "--output", str(out), "--no-window"],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:  # the writer is open
            time.sleep(0.05)
        time.sleep(2.0)  # model loaded, a few dozen frames written at 24 fps
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert any(ln.startswith("livebg: stopped after") for ln in livebg_lines(err))
    assert len(read_all(out)) > 5, "the writer was closed: the file is playable"


def test_with_a_display_the_desktop_app_gets_the_config_and_sinks(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livebg.gui
    import livebg.jobs

    seen: dict[str, object] = {}

    def fake_run_app(config: object, **kwargs: object) -> int:
        seen["config"], seen["sinks"], seen["given"] = config, kwargs.get("sinks"), kwargs["given"]
        return 0

    monkeypatch.setattr(livebg.jobs, "window_problem", lambda: None)
    monkeypatch.setattr(livebg.gui, "run_app", fake_run_app)
    out = tmp_path / "rec.mp4"
    assert cli.main(["--input", str(clip), "--bg", "#00ff00", "--mirror", "--output",
                     str(out)]) == 0
    config = seen["config"]
    assert config.source == str(clip) and config.background == "#00ff00" and config.mirror
    assert config.realtime, "someone is watching: play at the clip's own pace"
    (sink,) = seen["sinks"]
    assert type(sink).__name__ == "FileSink" and sink.closed, "closed once the app ends"
    # what was typed beats the window's saved settings; the rest does not
    given = seen["given"]
    assert {"source", "background", "mirror"} <= given and not {"model", "feather"} & given


def test_max_frames_with_the_window_says_the_window_plays_on(
    clip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The window loops a clip until it is closed, so a typed --max-frames would do
    nothing there: one line says so and how to get it."""
    import livebg.gui
    import livebg.jobs

    monkeypatch.setattr(livebg.jobs, "window_problem", lambda: None)
    monkeypatch.setattr(livebg.gui, "run_app", lambda config, **kwargs: 0)
    assert cli.main(["--input", str(clip), "--max-frames", "3"]) == 0
    assert "--max-frames stops headless jobs only" in capsys.readouterr().err
    assert cli.main(["--input", str(clip)]) == 0
    assert "--max-frames" not in capsys.readouterr().err


def test_options_typed_at_their_default_values_count_as_given() -> None:
    argv = ["--camera", "0", "--bg", "blur", "-m", "auto", "--virtual-cam"]
    args = cli.parse_args_given(cli.build_parser(), argv)
    values = (args.camera, args.bg, args.model, args.device, args.frames)
    assert values == (0, "blur", "auto", "auto", 300)  # defaults still filled in
    assert args.given == {"camera", "bg", "model", "virtual_cam"}
    assert cli.given_config_fields(args) == {"source", "background", "model", "virtual_cam"}
    assert cli.parse_args_given(cli.build_parser(), []).given == frozenset()
