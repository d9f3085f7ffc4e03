"""``python -m training.flicker`` and ``training.robustness``: the model card's flicker and
robustness tables, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livebg.segment.unet import default_weights
from training import flicker
from training.evaluate import read_clip

SAMPLE = Path(__file__).resolve().parents[1] / "livebg" / "assets" / "sample.mp4"


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
def test_flicker_table_for_a_model_on_a_clip(tmp_path: Path, capsys) -> None:
    out = tmp_path / "flicker.json"
    results = flicker.main([str(default_weights()), "--clips", str(SAMPLE), "--frames", "12",
                            "--json", str(out)])
    scores = results[str(default_weights())]["sample"]
    assert scores["raw"] > 0  # the sample's figure moves: some pixels do cross 0.5
    assert scores["smoothed"] <= scores["raw"]  # smoothing never adds flicker here
    assert json.loads(out.read_text()) == results
    assert "| sample |" in capsys.readouterr().out


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
def test_flicker_of_a_model_that_keeps_the_previous_frame_starts_afresh_on_each_clip():
    """+alt remembers the last frame: each clip starts without it, so a clip scores the
    same however many clips came before it."""
    from training.evaluate import open_model

    frames = read_clip(SAMPLE, 12)
    with open_model(f"{default_weights()}+alt", 160) as model:
        first = flicker.clip_flicker(model, frames)
        flicker.clip_flicker(model, frames[::-1])
        assert flicker.clip_flicker(model, frames) == first


def test_flicker_needs_two_frames(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="fewer than 2"):
        read_clip(tmp_path / "missing.mp4", 10, minimum=2)


def test_robustness_table_no_change_scores_one(tmp_path: Path) -> None:
    """An alteration that changes nothing scores exactly 1; the real ones score less than 1 on
    the sample clip's frames but still find the person."""
    import numpy as np

    from livebg.segment import load_segmenter
    from training import robustness

    frames = read_clip(SAMPLE, 40, every=20)
    assert len(frames) == 2
    with load_segmenter("unet" if default_weights() else "mediapipe", "cpu") as model:
        same = robustness.robustness(model, frames, {"none": lambda f, rng: f.copy()})
        altered = robustness.robustness(model, frames, robustness.ALTERATIONS)
    assert same == {"none": 1.0}
    assert set(altered) == set(robustness.ALTERATIONS)
    assert all(0.5 < score <= 1.0 for score in altered.values())
    dark = robustness.dark_noisy(frames[0], np.random.default_rng(0))
    assert dark.dtype == np.uint8 and dark.mean() < 0.5 * frames[0].mean()


def test_robustness_cli_writes_json(tmp_path: Path, capsys) -> None:
    from training import robustness

    out = tmp_path / "r.json"
    results = robustness.main(["mediapipe", "--clips", str(SAMPLE), "--frames", "20",
                               "--every", "10", "--json", str(out)])
    assert json.loads(out.read_text()) == results
    assert "| mediapipe |" in capsys.readouterr().out
