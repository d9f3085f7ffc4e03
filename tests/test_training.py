"""Training code end to end on a tiny generated dataset (CPU, seconds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")
pytest.importorskip("albumentations")

from training import evaluate, export, train  # noqa: E402
from training.data import PairError, find_pairs, load_pair  # noqa: E402
from training.losses import edge_band, lovasz_hinge_loss, segmentation_loss  # noqa: E402
from training.metrics import boundary_f_score, image_scores  # noqa: E402


def make_dataset(root: Path, n: int = 8, size: tuple[int, int] = (96, 128)) -> Path:
    """Noisy frames with a bright 'person' ellipse; masks 0/255 (and one 0/1 mask)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    w, h = size
    for i in range(n):
        image = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        center = (int(rng.integers(30, w - 30)), int(rng.integers(40, h - 20)))
        cv2.ellipse(mask, center, (22, 34), 0, 0, 360, 255, -1)
        image[mask > 0] = (200, 170, 150)
        cv2.imwrite(str(root / "images" / f"img_{i:02d}.jpg"), image)
        cv2.imwrite(str(root / "masks" / f"img_{i:02d}.png"), mask // 255 if i == 0 else mask)
    return root


def test_find_pairs_reports_missing_and_misaligned_by_name(tmp_path):
    root = make_dataset(tmp_path / "d", n=3)
    (root / "images" / "img_01.jpg").unlink()
    with pytest.raises(PairError, match="img_01.png has no image"):
        find_pairs([root])
    root2 = make_dataset(tmp_path / "e", n=2)
    cv2.imwrite(str(root2 / "masks" / "img_01.png"), np.zeros((10, 10), np.uint8))
    pair = [p for p in find_pairs([root2]) if p.image.stem == "img_01"][0]
    with pytest.raises(PairError, match="misaligned pair.*img_01"):
        load_pair(pair)


def test_mask_0_1_and_0_255_load_the_same(tmp_path):
    root = make_dataset(tmp_path / "d", n=2)
    pairs = find_pairs([root])
    _, mask01 = load_pair(pairs[0])  # stored as 0/1
    assert set(np.unique(mask01)) == {0, 1}
    assert 0.1 < mask01.mean() < 0.5


def test_metrics_and_losses_on_known_masks():
    import torch

    target = np.zeros((64, 64), bool)
    target[16:48, 16:48] = True
    shifted = np.roll(target, 2, axis=1)
    assert image_scores(target, target)["iou"] == 1.0
    assert image_scores(shifted, target)["iou"] == pytest.approx(30 / 34, abs=1e-6)
    assert boundary_f_score(shifted, target, tolerance=3) == 1.0
    assert boundary_f_score(np.roll(target, 10, axis=1), target, tolerance=3) < 0.6

    t = torch.from_numpy(target.astype(np.float32))[None, None]
    band = edge_band(t)
    assert band.sum() > 0 and band[0, 0, 32, 32] == 0 and band[0, 0, 16, 32] == 1
    for region in ("iou", "dice", "lovasz"):
        good, _ = segmentation_loss((t * 20 - 10), t, region=region)
        bad, _ = segmentation_loss((10 - t * 20), t, region=region)
        assert good < 0.1 < bad


def test_lovasz_hinge_is_the_iou_loss_of_hard_predictions():
    """With logits of ±1 every right pixel has hinge error 0 and every wrong one 2, where
    the Lovász extension equals the Jaccard loss: 2 · (1 - IoU) of the thresholded mask."""
    import torch

    target = np.zeros((2, 1, 40, 40), np.float32)
    target[0, 0, 10:30, 10:30] = 1
    target[1, 0, 5:15, 20:38] = 1
    pred = np.roll(target, (3, -2), axis=(2, 3))
    pred[1, 0, :4] = 1  # a false-positive stripe too
    ious = [image_scores(p[0] > 0, t[0] > 0)["iou"] for p, t in zip(pred, target)]
    loss = lovasz_hinge_loss(torch.from_numpy(pred * 2 - 1), torch.from_numpy(target))
    assert float(loss) == pytest.approx(2 * (1 - np.mean(ious)), rel=1e-5)


def test_one_channel_head_as_depthwise_sum_is_the_same_convolution():
    import torch

    from livebg.model import one_channel_conv

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 1, 3, padding=1)
    x = torch.randn(2, 16, 20, 30)
    with torch.no_grad():
        assert torch.allclose(one_channel_conv(conv, x), conv(x), atol=1e-5)


def test_degrade_scales_only_the_lighting_optics_and_codec_augmentations():
    from training.data import train_augment

    def probabilities(degrade: float) -> dict[str, float]:
        return {type(t).__name__: t.p for t in train_augment(64, 48, degrade).transforms}

    full, clean = probabilities(1.0), probabilities(0.0)
    scaled = {"RandomGamma", "RandomBrightnessContrast", "ToGray", "OneOf", "GaussNoise",
              "ImageCompression"}
    assert all(full[name] > 0 and clean[name] == 0 for name in scaled)
    assert all(clean[name] == full[name] > 0 for name in full if name not in scaled)


def test_framing_zero_crops_the_whole_picture_and_one_keeps_the_webcam_framing():
    """--framing 0 shows every picture whole, as photos are segmented (up to a mirror
    and a pixel of resampling); the default zooms, shifts and rotates it."""
    from training.data import train_augment

    mask = np.zeros((96, 72), np.uint8)
    mask[30:, 20:50] = 1  # a person off centre: any zoom, shift or crop moves it
    whole = cv2.resize(mask, (48, 64), interpolation=cv2.INTER_NEAREST)
    image = np.zeros((96, 72, 3), np.uint8)

    def agreement(framing: float) -> float:
        transform = train_augment(64, 48, degrade=0.0, framing=framing)
        outs = [transform(image=image, mask=mask)["mask"] for _ in range(50)]
        return np.mean([max((o == whole).mean(), (o == whole[:, ::-1]).mean()) for o in outs])

    whole_picture, milder, default = agreement(0.0), agreement(0.3), agreement(1.0)
    assert whole_picture > 0.97 and whole_picture > milder > default
    assert default < 0.9


def test_flipped_teacher_is_mirror_symmetric():
    """--teacher-flip averages the teacher over a crop and its mirror image, so a mirrored
    crop gets exactly the mirrored probabilities, which a lopsided teacher alone does not."""
    import torch

    torch.manual_seed(0)
    lopsided = torch.nn.Conv2d(3, 1, 3, padding=1)  # a random kernel: not mirror symmetric
    crop = torch.randn(2, 3, 20, 30)
    for flip, symmetric in ((False, False), (True, True)):
        probs = train.predict_padded(lopsided, crop, 16, flip=flip)
        mirrored = train.predict_padded(lopsided, crop.flip(-1), 16, flip=flip)
        assert probs.shape == (2, 1, 20, 30)
        assert torch.allclose(probs, mirrored.flip(-1), atol=1e-6) == symmetric


def test_guided_filter_puts_a_blurry_outline_on_the_image_edge():
    """A half-resolution probability whose step is smeared over several pixels, refined
    with a guide that has a sharp edge: the 0.5 crossing lands on the guide's edge, and the
    flat parts keep their probability."""
    import torch
    import torch.nn.functional as F

    from livebg.model_blocks import guide_image, guided_filter

    h, w, edge = 32, 64, 37  # the person's right edge at x = 37 (odd: between half-res px)
    frame = np.full((1, h, w, 3), 40, np.uint8)
    frame[:, :, :edge] = (150, 200, 250)  # bright person on the left
    truth = np.zeros(w, bool)
    truth[:edge] = True
    ramp = 1 / (1 + np.exp((np.arange(w // 2) + 0.5 - edge / 2 - 1.5) / 1.5))  # 3 px off
    prob = torch.tensor(np.tile(ramp, (h // 2, 1)), dtype=torch.float32)[None, None]
    guide = guide_image(torch.from_numpy(frame).permute(0, 3, 1, 2))
    assert guide.shape == (1, 1, h, w) and abs(float(guide.max()) - 200 / 255) < 1e-3
    refined = guided_filter(prob, guide, radius=2, eps=1e-3, scale=2)[0, 0].numpy()
    bilinear = F.interpolate(prob, scale_factor=2, mode="bilinear")[0, 0].numpy()
    row = h // 2
    assert ((refined[row] > 0.5) == truth).all()  # exactly on the edge
    assert ((bilinear[row] > 0.5) != truth).sum() >= 2  # the network's blur, upsampled
    away = np.r_[0:20, 54:w]  # farther than the filter's reach (2 * radius * scale px)
    assert np.abs(refined[row, away] - bilinear[row, away]).max() < 0.02


def test_colour_guide_finds_an_outline_between_equally_bright_colours():
    """Person and background of the same green value (red-ish vs blue-ish): the green
    guide sees no edge and leaves the network's blur; the colour guide puts the 0.5
    crossing on the edge."""
    import torch

    from livebg.model_blocks import colour_guided_filter, guide_image, guided_filter

    h, w, edge = 32, 64, 37
    frame = np.full((1, h, w, 3), (220, 120, 30), np.uint8)  # BGR: blue-ish wall
    frame[:, :, :edge] = (30, 120, 220)  # red-ish person, the same green
    truth = np.arange(w) < edge
    ramp = 1 / (1 + np.exp((np.arange(w // 2) + 0.5 - edge / 2 - 1.5) / 1.5))  # 3 px off
    prob = torch.tensor(np.tile(ramp, (h // 2, 1)), dtype=torch.float32)[None, None]
    pixels = torch.from_numpy(frame).permute(0, 3, 1, 2).float()
    green = guided_filter(prob, guide_image(pixels), radius=2, eps=1e-3, scale=2)[0, 0]
    colour = colour_guided_filter(prob, pixels / 255, radius=2, eps=1e-3, scale=2)[0, 0]
    row = h // 2
    assert ((colour[row].numpy() > 0.5) == truth).all()
    assert ((green[row].numpy() > 0.5) != truth).sum() >= 2
    # far from the edge both keep the network's probability
    assert torch.allclose(colour[:, :20], green[:, :20], atol=0.02)


def test_train_one_epoch_then_evaluate_and_export(tmp_path):
    data = make_dataset(tmp_path / "data", n=8)
    out = tmp_path / "run"
    result = train.main(["--data", str(data), "--val", str(data), "--out", str(out),
                         "--epochs", "1", "--batch-size", "4", "--height", "64", "--width", "64",
                         "--workers", "0", "--warmup-steps", "1", "--no-progress",
                         "--cache-long-side", "128"])
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    assert (out / "curves.png").stat().st_size > 1000
    log = json.loads((out / "log.json").read_text())
    assert log[0]["epoch"] == 1 and "val_miou" in log[0] and np.isfinite(log[0]["train_loss"])
    assert result["history"][0]["step"] == 2

    import torch

    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["model_config"]["encoder"] == "tu-efficientnet_lite0"
    assert ckpt["train_args"]["epochs"] == 1

    resumed = train.main(["--data", str(data), "--out", str(out), "--epochs", "2",
                          "--batch-size", "4", "--height", "64", "--width", "64",
                          "--workers", "0", "--no-progress", "--cache-long-side", "128",
                          "--resume", str(out / "last.pt")])
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]

    report = export.main([str(out / "best.pt"), "--out", str(tmp_path / "assets")])
    assert report["onnx_fp32_graph_max_abs_diff"] < 1e-4  # ONNX graph == torch
    assert report["onnx_max_abs_diff"] < 0.02  # fp16-stored weights

    results = evaluate.main([str(out / "best.pt"), str(tmp_path / "assets" / "unet.onnx"),
                             "--data", str(data), "--input-width", "64", "--no-progress"])
    scores = list(results.values())
    assert scores[0]["n"] == 8
    assert scores[0]["miou"] == pytest.approx(scores[1]["miou"], abs=1.0)
    # the live path (bilinear) and the same model mirror-averaged are measured alike
    live = evaluate.main([f"{tmp_path / 'assets' / 'unet.onnx'}+tta", "--live", "--data",
                          str(data), "--input-width", "64", "--no-progress"])
    (tta_live,) = live.values()
    assert tta_live["n"] == 8 and tta_live["miou"] != scores[1]["miou"]
    # +alt sees each image as a still two-frame clip: +tta's masks for one pass a frame;
    # after a moved copy of the image, mostly the plain network's mask again
    onnx = str(tmp_path / "assets" / "unet.onnx")
    plain_live = evaluate.main([onnx, "--live", "--data", str(data), "--input-width", "64",
                                "--no-progress"])[onnx]["miou"]
    scores_by_motion = {}
    for motion in (0, 16):
        alt = evaluate.main([f"{onnx}+alt", "--live", "--data", str(data), "--input-width",
                             "64", "--no-progress", "--motion", str(motion)])
        (alt_live,) = alt.values()
        scores_by_motion[motion] = alt_live["miou"]
    assert scores_by_motion[0] == pytest.approx(tta_live["miou"], abs=0.05)
    assert abs(scores_by_motion[16] - plain_live) < abs(scores_by_motion[16] - tta_live["miou"])


def test_exported_weights_load_in_the_app(tmp_path):
    """The ``unet`` backend runs an exported file; a corrupt file is a clear error."""
    from livebg.errors import LivebgError
    from livebg.segment import load_segmenter

    data = make_dataset(tmp_path / "data", n=4)
    train.main(["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
                "--batch-size", "4", "--height", "64", "--width", "64", "--workers", "0",
                "--no-progress", "--no-pretrained", "--cache-long-side", "128"])
    export.main([str(tmp_path / "run" / "last.pt"), "--out", str(tmp_path / "a")])
    seg = load_segmenter("unet", "cpu", weights=str(tmp_path / "a" / "unet.onnx"))
    frame = np.zeros((360, 640, 3), np.uint8)
    mask = seg.predict(frame)
    assert mask.shape == (360, 640) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(LivebgError, match="cannot load U-Net weights"):
        load_segmenter("unet", "cpu", weights=str(bad))


def test_fine_tune_from_checkpoint_on_a_subset(tmp_path):
    data = make_dataset(tmp_path / "data", n=6)
    common = ["--data", str(data), "--epochs", "1", "--batch-size", "2", "--height", "64",
              "--width", "64", "--workers", "0", "--no-progress", "--no-pretrained",
              "--cache-long-side", "128"]
    import torch

    train.main([*common, "--out", str(tmp_path / "a")])
    start = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    tuned = train.main([*common, "--out", str(tmp_path / "b"), "--init",
                        str(tmp_path / "a" / "last.pt"), "--only", "img_0[0-3]",
                        "--region-loss", "lovasz", "--ema", "0.9", "--lr", "0.05"])
    assert tuned["history"][0]["step"] == 2  # 4 matching pairs / batch 2
    # --ema: the kept "model" is 0.9² of the start + the rest from the trained weights
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    name = "decoder.blocks.0.conv1.0.weight"
    kept, trained = ckpt["model"][name], ckpt["trained_model"][name]
    assert not torch.equal(kept, trained) and not torch.equal(kept, start[name])
    assert (kept - start[name]).abs().sum() < (trained - start[name]).abs().sum()
    resumed = train.main([*common, "--out", str(tmp_path / "b"), "--epochs", "2",
                          "--resume", str(tmp_path / "b" / "last.pt"), "--ema", "0.9",
                          "--only", "img_0[0-3]"])
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    with pytest.raises(SystemExit, match="matches no pair"):
        train.main([*common, "--out", str(tmp_path / "c"), "--only", "nothing*"])
    with pytest.raises(SystemExit, match="--degrade 5.0 must be between 0 and 3"):
        train.main([*common, "--out", str(tmp_path / "c"), "--degrade", "5"])
    with pytest.raises(SystemExit, match="--framing 2.0 must be between 0 and 1.5"):
        train.main([*common, "--out", str(tmp_path / "c"), "--framing", "2"])


def test_fast_variant_starts_from_a_full_model_and_runs_in_the_app(tmp_path, capsys):
    """The shipped default's shape: 4 encoder stages, a separable decoder stopping at half
    resolution, initialised from a full U-Net's encoder and distilled from it (whose stride
    of 32 the 48-row crops do not fit), exported and letterboxed to multiples of 16."""
    import torch

    from livebg.segment import load_segmenter

    data = make_dataset(tmp_path / "data", n=4)
    common = ["--data", str(data), "--epochs", "1", "--batch-size", "4", "--workers", "0",
              "--no-progress", "--no-pretrained", "--cache-long-side", "128"]
    train.main([*common, "--height", "64", "--width", "64", "--out", str(tmp_path / "full")])
    fast = ["--encoder-depth", "4", "--output-stride", "2", "--decoder-channels", "32", "16",
            "16", "16", "--decoder-block", "separable"]
    with pytest.raises(SystemExit, match="needs 4 widths"):
        train.main([*common, *fast[:4], "--decoder-channels", "8", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="multiples of 16"):
        train.main([*common, *fast, "--height", "72", "--out", str(tmp_path / "x")])
    full = str(tmp_path / "full" / "last.pt")
    result = train.main([*common, *fast, "--height", "48", "--width", "64", "--init", full,
                         "--teacher", full, "--teacher-flip",
                         "--out", str(tmp_path / "fast")])  # distilled
    assert np.isfinite(result["history"][0]["train_loss"])

    copied = re.search(r"(\d+)/(\d+) tensors copied", capsys.readouterr().out)
    assert copied and 100 < int(copied[1]) < int(copied[2])  # the encoder, not the new decoder
    start = torch.load(tmp_path / "fast" / "last.pt", weights_only=True)
    assert start["model_config"]["encoder_depth"] == 4
    assert start["model_config"]["decoder_block"] == "separable"
    assert not any(k.startswith("encoder.model.blocks.5") for k in start["model"])  # cut
    report = export.main([str(tmp_path / "fast" / "last.pt"), "--out", str(tmp_path / "a"),
                          "--input-width", "64"])
    assert report["onnx_fp32_graph_max_abs_diff"] < 1e-4
    assert report["params_m"] < 1.0  # vs 3.1 M for the full U-Net

    seg = load_segmenter("unet", "cpu", weights=str(tmp_path / "a" / "unet.onnx"))
    frame = np.zeros((360, 640, 3), np.uint8)
    mask = seg.predict(frame)
    assert mask.shape == (360, 640)
    small = seg._geometry.prepare(frame)
    assert small.shape[:2] == (48, 64)  # 64×36 padded to a multiple of 16, not of 32
    assert seg.infer(frame).shape == (18, 32)  # half resolution, padding cropped off

    # the same checkpoint with either guided refinement: full input resolution out
    for refine in ("guided", "guided-colour"):
        report = export.main([str(tmp_path / "fast" / "last.pt"), "--out",
                              str(tmp_path / refine), "--input-width", "64", "--refine", refine])
        assert report["onnx_fp32_graph_max_abs_diff"] < 1e-4
        refined = load_segmenter("unet", "cpu", weights=str(tmp_path / refine / "unet.onnx"))
        assert refined.infer(frame).shape == (36, 64)
        assert refined.predict(frame).shape == (360, 640)

    # trained through the refinement: the checkpoint says so and the export follows it
    result = train.main([*common, *fast, "--height", "48", "--width", "64", "--init", full,
                         "--refine", "guided", "--out", str(tmp_path / "trained_refined")])
    assert np.isfinite(result["history"][0]["train_loss"])
    ckpt = tmp_path / "trained_refined" / "last.pt"
    assert torch.load(ckpt, weights_only=True)["model_config"]["refine"] == "guided"
    export.main([str(ckpt), "--out", str(tmp_path / "r"), "--input-width", "64"])
    seg = load_segmenter("unet", "cpu", weights=str(tmp_path / "r" / "unet.onnx"))
    assert seg.infer(frame).shape == (36, 64)
