"""``python -m training.flicker`` and ``training.robustness``: the model card's flicker and
robustness tables, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
    assert 0 < scores["smoothed_frame_pct"] <= scores["raw_frame_pct"] < 100
    assert json.loads(out.read_text()) == results
    printed = capsys.readouterr().out
    assert printed.count("| sample |") == 2  # one table at the frame's size, one at 256x144
    assert "at the clip's size" in printed


def test_flicker_tables_compare_each_model_with_the_last_one() -> None:
    """A clip per row, a model per column, and each model's smoothed flicker against the
    last model's: the geometric mean of the per-clip ratios and the clips at or under it."""

    def scores(smoothed: float) -> dict[str, float]:
        return {"raw": 2 * smoothed, "smoothed": smoothed,
                "raw_frame_pct": smoothed / 50, "smoothed_frame_pct": smoothed / 100}

    results = {"ours": {"a": scores(1.0), "b": scores(4.0)},
               "theirs": {"a": scores(2.0), "b": scores(2.0)}}
    table = flicker.format_tables(results)
    assert "| clip | ours | theirs |" in table
    assert "| a | 2.0 -> 1.0 | 4.0 -> 2.0 |" in table
    assert "| b | 0.0800 -> 0.0400 | 0.0400 -> 0.0200 |" in table
    # ratios 0.5 and 2: geometric mean 1, under on one clip; both measures
    assert table.count("ours against theirs: geometric mean of the ratios 1.000, "
                       "at or under on 1 of 2 clips") == 2


def test_frame_flips_count_the_share_of_the_frame_that_changes_side() -> None:
    """A square that grows by 4 px each way per frame flips its new ring, as a share of
    the frame; a mask at the frame's own size needs no upscale; a still mask flips nothing."""
    frame = (400, 300)
    meter, still = flicker.FrameFlips(frame), flicker.FrameFlips(frame)
    for half in (40, 44, 48):
        mask = np.zeros((300, 400), np.float32)
        mask[150 - half:150 + half, 200 - half:200 + half] = 1.0
        meter.add(mask)
        still.add(np.ones((300, 400), np.float32))
    rings = ((88**2 - 80**2) + (96**2 - 88**2)) / 2
    assert meter.percent() == pytest.approx(100 * rings / (400 * 300))
    assert still.percent() == 0.0
    assert flicker.FrameFlips(frame).percent() == 0.0  # fewer than two frames: nothing yet


def test_an_outline_jitter_below_a_pixel_of_the_common_grid_flips_only_at_the_frame_size() -> None:
    """A 256x144 mask whose edge pixels wobble without crossing 0.5 flips nothing on the
    256x144 grid, though the crossing between them moves by 1/6 of a grid pixel (from 1/2
    to 2/3 of the way): a column of a 640x360 clip changes side every frame, which the app
    shows and the frame-size measure counts."""
    from livebg.flicker import flips_per_frame

    masks = []
    for frame in range(6):
        mask = np.zeros((144, 256), np.float32)
        mask[:, :100] = 1.0
        mask[:, 100] = 0.9 if frame % 2 else 0.7  # the crossing to the next column's 0.3
        mask[:, 101] = 0.3  # moves between 1/2 and 2/3 of the way: no pixel changes side
        masks.append(mask)
    assert flips_per_frame(masks) == 0.0
    meter = flicker.FrameFlips((640, 360))
    for mask in masks:
        meter.add(mask)
    assert meter.percent() == pytest.approx(100 * 1 / 640)  # one column of 640, each frame


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
