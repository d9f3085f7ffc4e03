"""Training data for people in general: pseudo-labels, composites, mixed sources, the
multi-set evaluation (generated data, CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")
pytest.importorskip("albumentations")

from livebg.segment import SegmenterBase  # noqa: E402
from training import evaluate, pseudolabel, train  # noqa: E402
from training.composite import (  # noqa: E402
    Cutout,
    add_objects,
    compose,
    cutouts_from,
    object_shape,
    paste,
    recolour_person,
    scene_segment,
)
from training.data import (  # noqa: E402
    CompositeDataset,
    MixedSampler,
    PairError,
    PortraitDataset,
    eval_resize,
    find_pairs,
    object_textures,
    parse_weighted,
)
from training.losses import (  # noqa: E402
    next_frame,
    segmentation_loss,
    shifted,
    stability_loss,
)
from training.metrics import people_in  # noqa: E402


class HalfTeacher(SegmenterBase):
    """Person = the left half (``agree``) or the left ``share`` of the picture: two of
    these disagree on the strip between their edges."""

    def __init__(self, share: float) -> None:
        self.share, self.name = share, f"half{share}"

    def infer(self, frame_bgr, thumbnails=None):
        h, w = frame_bgr.shape[:2]
        mask = np.zeros((h, w), np.float32)
        mask[:, : int(w * self.share)] = 1.0
        return mask

    def predict(self, frame_bgr):
        return self.infer(frame_bgr)


def make_pool(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "videos").mkdir()
    for i in range(2):
        cv2.imwrite(str(root / "images" / f"p{i}.jpg"),
                    rng.integers(0, 255, (120, 160, 3), np.uint8))
    writer = cv2.VideoWriter(str(root / "videos" / "clip.avi"),
                             cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for _ in range(6):
        writer.write(rng.integers(0, 255, (120, 160, 3), np.uint8))
    writer.release()
    (root / "manifest.tsv").write_text("file\trepo\tlicence\nimages/p0.jpg\tx/y\tMIT\n")
    return root


def make_people(root: Path, n: int = 6) -> Path:
    """Hard-labelled photos: one or two bright 'people' (ellipses) on noise."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image = rng.integers(0, 80, (128, 96, 3), np.uint8)
        mask = np.zeros((128, 96), np.uint8)
        for cx in ([48] if i % 2 else [24, 72]):
            cv2.ellipse(mask, (cx, 70), (18, 40), 0, 0, 360, 255, -1)
        image[mask > 0] = (60, 140, 210)
        cv2.imwrite(str(root / "images" / f"m{i}.jpg"), image)
        cv2.imwrite(str(root / "masks" / f"m{i}.png"), mask)
    return root


def test_pseudolabels_are_soft_masks_the_loader_reads_with_disagreement_ignored(tmp_path):
    pool = make_pool(tmp_path / "pool")
    out = tmp_path / "pseudo"
    rows = pseudolabel.label_pool([HalfTeacher(0.5), HalfTeacher(0.75)], pool, out,
                                  disagree=0.5, every=2, per_clip=2, progress=False)
    assert [r["stem"] for r in rows] == ["p0", "p1", "clip_f00000", "clip_f00002"]
    assert rows[0]["licence"] == "MIT" and rows[2]["source"] == "videos/clip.avi"
    pairs = find_pairs([out])
    data = PortraitDataset(pairs, eval_resize(120, 160), cache_long_side=512, progress=False)
    assert data.hard_masks() == []  # pseudo-labels are never cut out as people
    image, target, weight = data[0]
    assert image.shape == (3, 120, 160)
    row = target[0, 60].numpy()
    assert row[:70] == pytest.approx(1.0, abs=0.01)  # both teachers: person
    assert row[85:115] == pytest.approx(0.5, abs=0.01)  # one says person: the mean
    assert row[125:] == pytest.approx(0.0, abs=0.01)
    w = weight[0, 60].numpy()
    assert (w[:70] > 0.99).all() and (w[85:115] < 0.01).all() and (w[125:] > 0.99).all()
    # the ignored strip adds nothing to the loss: any prediction there costs the same
    logits = (target * 20 - 10)[None]
    wild = logits.clone()
    wild[..., 85:115] = 10.0
    base, _ = segmentation_loss(logits, target[None], pixel_weight=weight[None])
    changed, _ = segmentation_loss(wild, target[None], pixel_weight=weight[None])
    assert changed.item() == pytest.approx(base.item(), rel=1e-4)


def test_teachers_scored_on_a_labelled_root(tmp_path):
    root = make_people(tmp_path / "people", n=2)
    scores = pseudolabel.score_teachers([HalfTeacher(0.5), HalfTeacher(0.75)], str(root),
                                        disagree=0.5, progress=False)
    assert set(scores) == {"half0.5", "half0.75", "mean"}
    assert 0 < scores["half0.5"]["miou"] < 100
    assert 0 <= scores["mean"]["agreed_pixel_accuracy"] <= 100


def test_composite_mask_is_the_union_of_the_visible_pasted_people():
    rng = np.random.default_rng(3)
    people = []
    for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255)):
        mask = np.zeros((80, 40), np.uint8)
        cv2.ellipse(mask, (20, 40), (15, 35), 0, 0, 360, 1, -1)
        people.append(Cutout(np.full((80, 40, 3), colour, np.uint8), mask))
    background = np.full((120, 160, 3), 128, np.uint8)
    for _ in range(20):
        frame, union = compose(background, people, rng, recolour=0.0)
        person_colour = (frame != 128).any(-1)  # every person pixel differs from the grey
        assert (union.astype(bool) == person_colour).all()
    # paste clips at the frame's edges and a later paste covers an earlier one
    frame, union = background.copy(), np.zeros((120, 160), np.uint8)
    paste(frame, union, people[0].image, people[0].mask, -10, 100)
    paste(frame, union, people[1].image, people[1].mask, -10, 100)
    assert union.sum() == people[0].mask[:20, 10:].sum()
    assert (frame[union > 0] == (0, 255, 0)).all()


def test_cutouts_keep_large_people_and_know_when_cut_off():
    mask = np.zeros((100, 100), np.uint8)
    mask[60:, 10:40] = 1  # runs off the bottom
    mask[10:40, 60:90] = 1
    mask[5:7, 5:7] = 1  # a speck
    cuts = cutouts_from(np.zeros((100, 100, 3), np.uint8), mask)
    assert sorted(c.mask.shape for c in cuts) == [(30, 30), (40, 30)]
    assert sorted(c.cut_off for c in cuts) == [False, True]


def test_recolour_changes_only_the_person():
    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 1
    out = recolour_person(image, mask, rng)
    assert (out[:10] == image[:10]).all() and (out[:, :10] == image[:, :10]).all()
    assert np.abs(out[20:44, 20:44].astype(int) - image[20:44, 20:44]).mean() > 3


def test_objects_beside_a_person_leave_the_person_and_objects_in_front_hide_it():
    image = np.full((120, 160, 3), 90, np.uint8)
    target = np.zeros((120, 160), np.uint8)
    cv2.ellipse(target, (80, 120), (40, 70), 0, 0, 360, 255, -1)
    target[40:60, 60:100][target[40:60, 60:100] == 0] = 100  # an unsure pseudo-label rim
    weight = np.full_like(target, 255)
    textures = [np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)]
    changed_person = hidden = 0
    for seed in range(40):
        out, new_target, new_weight = add_objects(image, target, weight, textures,
                                                  np.random.default_rng(seed), count=2)
        painted = (out != image).any(2)
        assert painted.any() and (new_target[painted] == 0).all()  # objects are background
        assert (new_weight[painted] == 255).all()
        assert (new_target[~painted] == target[~painted]).all()  # nothing else relabelled
        assert not (painted & (target > 0) & (target <= 127)).any() or (
            painted & (target > 127)).any()  # an unsure rim is only covered from the front
        covered = painted & (target > 127)
        if covered.sum() > 20:  # in front: a texture, never a flat colour (a plain shirt)
            assert out[covered].std(0).max() > 20
        hidden += int(covered.any())
        changed_person += int((new_target < target).any())
        assert (image == 90).all() and target.max() == 255  # inputs untouched
    assert 0 < hidden < 40  # some in front, most behind


def test_scene_segment_cuts_a_real_region_with_its_own_outline():
    picture = np.zeros((128, 128, 3), np.uint8)
    picture[:] = (30, 90, 200)  # sky
    cv2.circle(picture, (40, 80), 30, (200, 40, 40), -1)  # a red ball
    picture[100:, :] = (40, 160, 40)  # grass
    found = [scene_segment(picture, np.random.default_rng(seed), clusters=3) for seed in range(12)]
    found = [f for f in found if f is not None]
    assert found
    for image, mask in found:
        assert image.shape[:2] == mask.shape and 0.2 < mask.mean() <= 1
        colours = {tuple(c) for c in image[mask > 0][::7]}
        assert len(colours) <= 3  # one cluster's colours (a resize may blend its edge)
    ball = [(i, m) for i, m in found if (i[m > 0] == (200, 40, 40)).all(1).mean() > 0.9]
    assert ball and 0.6 < ball[0][1].mean() < 0.9  # a disc in its box: pi/4 of it


@pytest.mark.parametrize("seed", range(8))
def test_object_shapes_fill_part_of_their_box(seed):
    shape = object_shape(40, 30, np.random.default_rng(seed))
    assert shape.shape == (30, 40) and set(np.unique(shape)) <= {0, 1}
    assert 0.05 < shape.mean() <= 1.0


def test_object_textures_are_person_free_crops_and_backgrounds(tmp_path):
    data = PortraitDataset(find_pairs([make_people(tmp_path / "people")]), eval_resize(96, 128),
                           progress=False)
    wide = np.full((100, 400, 3), 200, np.uint8)  # a person at the left, room beside them
    person = np.zeros((100, 400), np.uint8)
    person[20:, :60] = 1
    wide[person > 0] = (60, 140, 210)
    background = np.zeros((50, 60, 3), np.uint8)
    textures = object_textures([background], [(wide, person)] * 4, count=4)
    assert textures[0] is background and len(textures) == 5
    assert all((t == 200).all() for t in textures[1:])  # no person colour in a crop
    data.objects, data.textures = 1.0, textures
    image, target, weight = data[0]
    assert image.shape == (3, 96, 128) and target.shape == weight.shape == (1, 96, 128)


def test_stability_loss_is_zero_for_masks_that_move_with_the_frame_only():
    import torch

    logits = torch.zeros(2, 1, 32, 32)
    logits[:, :, 8:24, 10:20] = 6.0  # a person, sure of itself
    moved = shifted(logits, 2, -2)
    assert moved[0, 0, 6, 12] == 6.0 and moved[0, 0, 6, 10] == 0.0  # right 2, up 2
    assert stability_loss(logits, moved, 2, -2) == 0  # followed the move exactly
    assert stability_loss(logits, logits, 2, -2) > 0.01  # stayed put: flicker at the edge
    images = torch.full((3, 3, 32, 32), 100, dtype=torch.uint8)
    frames, dx, dy = next_frame(images, torch.Generator().manual_seed(0))
    assert frames.dtype == torch.uint8 and frames.shape == images.shape
    assert dx % 2 == 0 and dy % 2 == 0 and abs(dx) <= 4 and abs(dy) <= 4
    assert 0 < (frames.float() - 100).abs().mean() < 15  # noise and exposure, no more


def test_mixed_sampler_draws_by_weight_and_counts_the_mix():
    sampler = MixedSampler([10, 1000, 5], [1.0, 1.0, 2.0], epoch_size=4000, seed=0)
    indices = list(sampler)
    assert len(indices) == 4000 and sum(sampler.counts) == 4000
    assert sampler.counts[2] == pytest.approx(2000, rel=0.1)  # half, though 5 samples
    assert sampler.counts[0] == pytest.approx(1000, rel=0.1)
    assert all(0 <= i < 1015 for i in indices)
    assert any(1010 <= i < 1015 for i in indices)
    assert parse_weighted("runs/pseudo=2.5") == ("runs/pseudo", 2.5)
    assert parse_weighted("plain/root") == ("plain/root", 1.0)
    with pytest.raises(PairError, match="number"):
        parse_weighted("root=heavy")


def test_composite_dataset_gives_group_photos(tmp_path):
    root = make_people(tmp_path / "people")
    data = PortraitDataset(find_pairs([root]), eval_resize(96, 128), progress=False)
    composites = CompositeDataset(data.hard_masks(), [], eval_resize(96, 128), length=5,
                                  size=(128, 96))
    counts = []
    for seed in range(12):
        frame, mask = composites.sample(np.random.default_rng(seed))
        assert frame.shape[:2] == mask.shape and set(np.unique(mask)) <= {0, 1}
        counts.append(people_in(mask))
    assert max(counts) >= 2  # groups happen
    image, target, weight = composites[0]
    assert image.shape == (3, 96, 128) and (weight == 1).all()


def test_train_one_epoch_with_a_pseudolabelled_root_and_composites(tmp_path):
    people = make_people(tmp_path / "people")
    pseudo = tmp_path / "pseudo"
    pseudolabel.label_pool([HalfTeacher(0.5), HalfTeacher(0.6)], make_pool(tmp_path / "pool"),
                           pseudo, every=3, per_clip=1, progress=False)
    out = tmp_path / "run"
    result = train.main(["--data", f"{people}=1", f"{pseudo}=2", "--composites", "1",
                         "--recolour", "0.5", "--objects", "0.5", "--stability", "0.5",
                         "--close-ups", "0.5", "--epoch-size", "12",
                         "--val", str(people), str(pseudo), "--out", str(out), "--epochs", "1",
                         "--batch-size", "4", "--height", "64", "--width", "64",
                         "--workers", "0", "--warmup-steps", "1", "--no-progress",
                         "--no-pretrained", "--cache-long-side", "128"])
    (record,) = json.loads((out / "log.json").read_text())
    assert record["step"] == 3 and np.isfinite(record["train_loss"])
    assert sum(record["mix"].values()) == 12 and set(record["mix"]) == {
        str(people), str(pseudo), "composites"}
    assert set(record["val_sets"]) == {str(people), str(pseudo)}
    assert record["val_miou"] == pytest.approx(
        np.mean([s["miou"] for s in record["val_sets"].values()]))
    assert result["best"] == record["val_miou"]


def test_evaluate_scores_each_set_and_splits_single_from_group_photos(tmp_path, capsys):
    people = make_people(tmp_path / "people")  # 3 single, 3 with two people
    portraits = make_people(tmp_path / "more" / "portraits", n=1)

    results = evaluate.evaluate(HalfTeacher(0.5), [str(people), str(portraits)], progress=False)
    sets = results["sets"]
    assert set(sets) == {f"{tmp_path.name}/people",
                         f"{tmp_path.name}/people (1 person)",
                         f"{tmp_path.name}/people (2+ people)", "more/portraits"}
    assert sets[f"{tmp_path.name}/people (1 person)"]["n"] == 3
    assert sets[f"{tmp_path.name}/people (2+ people)"]["n"] == 3
    assert results["n"] == 7
    table = evaluate.format_table({"left": results})
    assert table.count("| left |") == 4 and "(2+ people)" in table


def test_flicker_compares_a_portrait_clip_in_its_own_orientation():
    from training.flicker import common_size

    assert common_size(np.zeros((720, 1280, 3), np.uint8)) == (256, 144)
    assert common_size(np.zeros((1280, 720, 3), np.uint8)) == (144, 256)


def test_photos_get_the_long_side_of_the_file_and_video_its_width(tmp_path):
    """An exported file's ``photo_long_side`` sizes photos (a portrait photo by its height,
    a group photo by its width); video keeps ``input_width``; an explicit width wins."""
    from livebg.segment.unet import OnnxUNet

    data = make_people(tmp_path / "people", n=2)
    train.main(["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
                "--batch-size", "2", "--height", "64", "--width", "64", "--workers", "0",
                "--no-progress", "--no-pretrained", "--cache-long-side", "128"])
    from training import export

    export.main([str(tmp_path / "run" / "last.pt"), "--out", str(tmp_path / "a"),
                 "--input-width", "64", "--photo-long-side", "128"])
    path = tmp_path / "a" / "unet.onnx"
    landscape, portrait = np.zeros((300, 400, 3), np.uint8), np.zeros((400, 300, 3), np.uint8)
    photos, video = OnnxUNet(path, photos=True), OnnxUNet(path)
    assert photos.infer(landscape).shape == (96, 128)  # the input's size (stride-1 output)
    assert photos.infer(portrait).shape == (128, 96)  # the long side is the height
    assert video.infer(portrait).shape == (85, 64)  # 64 wide, whatever the orientation
    assert photos.predict(portrait).shape == (400, 300)
    assert OnnxUNet(path, photos=True, input_width=64).infer(portrait).shape == (85, 64)
