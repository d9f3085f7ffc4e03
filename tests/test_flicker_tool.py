"""``python -m training.flicker``: the model card's flicker table, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livebg.segment.unet import default_weights
from training import flicker

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sample.mp4"


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


def test_flicker_needs_two_frames(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="fewer than 2"):
        flicker.read_frames(tmp_path / "missing.mp4", 10)
