"""Close-ups (``training.closeup``): the head runs off the top edge, image and mask stay
aligned, and the labelled set it writes is one the evaluation reads (generated data)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("albumentations")

from training import closeup  # noqa: E402
from training.data import PortraitDataset, eval_resize, find_pairs  # noqa: E402

W, H = 120, 160


def portrait(head_x: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A head-and-shoulders figure: a head (ellipse) with room above it, on shoulders that
    run off the bottom; the image is orange where the mask is, dark noise elsewhere."""
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (head_x, 60), (22, 32), 0, 0, 360, 255, -1)
    cv2.ellipse(mask, (head_x, 150), (55, 60), 0, 0, 360, 255, -1)
    image = np.random.default_rng(0).integers(0, 60, (H, W, 3), np.uint8)
    image[mask > 0] = (230, 140, 40)
    return image, mask


@pytest.mark.parametrize("zoom, cut", [(0.5, 0.05), (0.7, 0.0), (0.45, 0.15)])
def test_box_is_a_zoom_centred_on_the_head_with_the_head_cut_by_the_top_edge(zoom, cut):
    _, mask = portrait(head_x=45)
    x, y, w, h = closeup.close_up_box(mask, zoom, cut)
    assert (w, h) == (round(W * zoom), round(H * zoom))
    assert 0 <= x and x + w <= W and 0 <= y and y + h <= H
    assert abs((x + w / 2) - 45) <= 1 or x == 0  # centred on the head unless at the edge
    top_row = mask[y, x:x + w] > 127
    assert top_row.any()  # the head touches or crosses the crop's top edge
    assert y >= 28  # the mask starts at row 28: the crop starts at or below the hair


def test_close_up_keeps_image_and_mask_aligned_and_cuts_the_head():
    image, mask = portrait()
    weight = np.full_like(mask, 200)
    rng = np.random.default_rng(3)
    for _ in range(10):
        crop, crop_mask, crop_weight = closeup.close_up(image, mask, weight, rng)
        assert crop.shape == image.shape and crop_mask.shape == mask.shape
        assert (crop_mask[:6] > 127).any()  # at or within a few rows of the top edge
        orange = np.abs(crop.astype(int) - (230, 140, 40)).sum(axis=2) < 60
        person = crop_mask > 127
        assert (orange == person).mean() > 0.97  # the same pixels, up to the resampled edge
        assert (crop_weight == 200).all()


def test_empty_mask_is_left_alone():
    image, _ = portrait()
    empty = np.zeros((H, W), np.uint8)
    out = closeup.close_up(image, empty, empty, np.random.default_rng(0))
    assert out[0] is image and out[1] is empty
    assert closeup.close_up_box(empty, 0.5, 0.05) is None


def write_root(root: Path, n: int = 3) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image, mask = portrait(head_x=40 + 20 * i)
        cv2.imwrite(str(root / "images" / f"p{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"p{i}.png"), mask)
    cv2.imwrite(str(root / "images" / "empty.png"), np.zeros((H, W, 3), np.uint8))
    cv2.imwrite(str(root / "masks" / "empty.png"), np.zeros((H, W), np.uint8))
    return root


def test_command_writes_a_labelled_close_up_set(tmp_path, capsys):
    source = write_root(tmp_path / "src")
    out = tmp_path / "close"
    assert closeup.main([str(source), "--out", str(out), "--zoom", "0.6", "--no-progress"]) == 0
    assert "wrote 3 close-ups" in capsys.readouterr().out  # the empty pair has no head
    pairs = find_pairs([out])
    assert len(pairs) == 3
    for pair in pairs:
        mask = cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE)
        image = cv2.imread(str(pair.image))
        assert mask.shape == (H, W) and set(np.unique(mask)) <= {0, 255}
        assert (mask[0] == 255).any()  # the head runs off the top
        orange = np.abs(image.astype(int) - (230, 140, 40)).sum(axis=2) < 80
        assert (orange == (mask == 255)).mean() > 0.95


@pytest.mark.parametrize("zoom", ["0", "1.5"])
def test_command_rejects_a_zoom_that_is_not_a_fraction(tmp_path, zoom):
    with pytest.raises(SystemExit):
        closeup.main([str(write_root(tmp_path / "src")), "--out", str(tmp_path / "o"),
                      "--zoom", zoom])


def test_dataset_gives_close_ups_of_single_people_at_the_asked_odds(tmp_path):
    root = write_root(tmp_path / "src")
    image, mask = portrait(head_x=30)
    mask = np.maximum(mask, cv2.ellipse(np.zeros_like(mask), (95, 60), (15, 25), 0, 0, 360,
                                        255, -1))  # a second, separate head: a group photo
    cv2.imwrite(str(root / "images" / "two.png"), image)
    cv2.imwrite(str(root / "masks" / "two.png"), mask)
    pairs = find_pairs([root])[1:]  # the three figures and the pair (not the empty picture)
    always = PortraitDataset(pairs, eval_resize(64, 48), progress=False, close_ups=1.0)
    never = PortraitDataset(pairs, eval_resize(64, 48), progress=False)
    for index, pair in enumerate(pairs):
        at_top = bool((always[index][1][0, :3] > 0.5).any())
        assert at_top == (pair.image.stem != "two")  # groups keep their whole scene
        assert not (never[index][1][0, :3] > 0.5).any()  # the figures have room above


@pytest.mark.parametrize("flag", ["--close-ups", "--objects", "--recolour"])
def test_training_rejects_odds_that_are_not_probabilities(tmp_path, flag, capsys):
    pytest.importorskip("torch")
    from training import train

    with pytest.raises(SystemExit, match=f"{flag} 1.5 is a probability"):
        train.main(["--data", str(write_root(tmp_path / "src")), flag, "1.5",
                    "--out", str(tmp_path / "run"), "--no-pretrained", "--no-progress"])
