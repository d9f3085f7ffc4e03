"""Segmenter registry and backends on real frames; the CUDA path runs only where CUDA is."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from livebg.composite import Compositor
from livebg.errors import LivebgError
from livebg.resize import Thumbnails
from livebg.segment import (
    FlipAveraged,
    MirrorAlternating,
    available_segmenters,
    cuda_available,
    load_segmenter,
)
from livebg.segment.mirror import AlternationState, alternation_step
from livebg.segment.unet import Letterbox, default_weights

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLE = Path(__file__).resolve().parents[1] / "livebg" / "assets" / "sample.mp4"
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not cuda_available(), reason="no CUDA GPU"))]


def first_frame(path: Path, index: int = 0) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, path
    return frame


@pytest.mark.parametrize("frame_hw", [(720, 1280), (700, 1280), (768, 1366), (480, 640),
                                      (1280, 720)])
@pytest.mark.parametrize("multiple,stride", [(32, 1), (16, 2)])
def test_letterbox_crop_lines_up_with_the_frame(frame_hw, multiple, stride):
    """A stand-in network (area-downscale by the output stride) sees the letterboxed frame;
    the cropped output, resized back, puts a step edge where the frame has it."""
    h, w = frame_hw
    frame = np.zeros((h, w, 3), np.uint8)
    frame[: int(h * 0.3)] = 255
    frame[:, : int(w * 0.4)] = 255
    box = Letterbox(128, multiple, stride)
    small = box.prepare(frame)
    assert small.shape[0] % multiple == 0 and small.shape[1] % multiple == 0
    out = cv2.resize(small[..., 0], None, fx=1 / stride, fy=1 / stride,
                     interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    back = cv2.resize(box.crop(out), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    tolerance = stride * w / 128 + 1  # one output pixel, in frame pixels
    row, col = int(h * 0.8), int(w * 0.8)  # in the black quadrant's row and column
    assert abs(np.argmin(back[row]) - w * 0.4) <= tolerance
    assert abs(np.argmin(back[:, col]) - h * 0.3) <= tolerance


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(LivebgError, match="choose one of auto, unet, mediapipe, ensemble"):
        load_segmenter("deeplab")
    with pytest.raises(LivebgError, match="choose one of auto, cpu, cuda"):
        load_segmenter("unet", device="tpu")
    assert available_segmenters() == ["auto", "unet", "mediapipe", "ensemble"]
    with pytest.raises(LivebgError, match=r"'deeplab\+tta': choose one of auto, unet"):
        load_segmenter("deeplab+tta")


@pytest.mark.skipif(cuda_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_says_so():
    with pytest.raises(LivebgError, match="no CUDA GPU"):
        load_segmenter("unet", device="cuda")


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(LivebgError, match="does not exist"):
        load_segmenter("unet", "cpu", weights=str(tmp_path / "nope.onnx"))


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
@pytest.mark.parametrize("device", DEVICES)
def test_shipped_unet_finds_the_person_in_the_sample_clip(device):
    """The figure in the generated clip stands right of centre: the lower-right is person,
    the top-left corner (wall and window) is background."""
    frame = first_frame(SAMPLE, 60)
    with load_segmenter("unet", device) as seg:
        mask = seg.predict(frame)
        low = seg.infer(frame)
    assert mask.shape == frame.shape[:2] and mask.dtype == np.float32
    assert low.shape[1] < frame.shape[1]  # model resolution, smaller than the frame
    h, w = mask.shape
    assert mask[: h // 4, : w // 4].mean() < 0.1
    assert mask[int(h * 0.85):, int(w * 0.5):int(w * 0.75)].mean() > 0.8


def test_tta_of_any_backend_mirrors_the_frame_and_back():
    """A backend with no mirrored pass of its own: the frame itself is mirrored. A
    stand-in that sees the left edge as person everywhere is right half the time."""
    from livebg.segment import SegmenterBase

    class LeftIsPerson(SegmenterBase):
        name, closed = "left", 0

        def infer(self, frame_bgr, thumbnails=None):
            ramp = np.linspace(1, 0, frame_bgr.shape[1], dtype=np.float32)
            return np.tile(ramp, (frame_bgr.shape[0], 1)) * (frame_bgr[..., 1] > 0)

        def close(self):
            self.closed += 1

    frame = np.zeros((40, 64, 3), np.uint8)
    frame[:, 48:] = 255  # the "person" stands right, where the stand-in is least sure
    with FlipAveraged(LeftIsPerson()) as tta:
        mask = tta.predict(frame)
        assert tta.name == "left+tta"
    assert tta.inner.closed == 1
    np.testing.assert_allclose(mask[:, 48:], 0.5, atol=1e-6)  # (ramp + mirrored ramp) / 2
    assert mask[:, :48].max() == 0


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
def test_tta_averages_the_mirrored_frame_into_a_mirror_symmetric_mask():
    """unet+tta: a mirrored frame gets exactly the mirrored mask, which the network alone
    does not give (its errors are lopsided); the two agree on the person all the same."""
    frame = first_frame(SAMPLE, 60)
    mirrored = cv2.flip(frame, 1)
    with load_segmenter("unet+tta", "cpu") as tta, load_segmenter("unet", "cpu") as plain:
        assert isinstance(tta, FlipAveraged) and tta.name == "unet+tta"
        averaged = tta.infer(frame, Thumbnails(frame))
        np.testing.assert_allclose(cv2.flip(tta.infer(mirrored), 1), averaged, atol=1e-5)
        single, single_of_mirror = plain.infer(frame), cv2.flip(plain.infer(mirrored), 1)
        assert np.abs(single - single_of_mirror).max() > 0.05  # the lopsidedness TTA removes
        np.testing.assert_allclose(averaged, (single + single_of_mirror) / 2, atol=1e-5)
        assert ((averaged > 0.5) == (single > 0.5)).mean() > 0.98
        assert tta.predict(frame).shape == frame.shape[:2]
    # an input width whose columns are padded unevenly (2 left, 3 right at 171 px): the
    # batched mirror is padded as the mirrored frame would be, so it is that frame's mask
    from livebg.segment.unet import OnnxUNet

    with OnnxUNet(default_weights(), input_width=171) as odd:
        batched = odd.infer_with_mirror(frame)
        assert odd._geometry.pad[2:] == (2, 3)
        # (INTER_AREA to 171 px is not exactly mirror-symmetric: ~1e-3; swapped pads: 0.2)
        np.testing.assert_allclose(
            batched, (odd.infer(frame) + cv2.flip(odd.infer(mirrored), 1)) / 2, atol=5e-3)


def test_alternation_step_averages_still_pixels_and_follows_moving_ones():
    """A pure step: the previous guess is averaged in where the picture did not change,
    left out where it did (a ramp between), and nothing passed in is modified."""
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (30, 40), np.uint8)
    moved = grey.copy()
    moved[:, 20:] = 255 - moved[:, 20:]  # the right half changed a lot
    previous = np.full((30, 40), 0.2, np.float32)
    guess = np.full((30, 40), 0.8, np.float32)
    state = AlternationState(previous, grey.copy(), mirror_next=True)
    out, following = alternation_step(guess, moved, state)
    np.testing.assert_allclose(out[:, :15], 0.5, atol=1e-6)  # still: (0.8 + 0.2) / 2
    np.testing.assert_allclose(out[:, 25:], 0.8, atol=0.02)  # moved: the new guess
    assert following.guess is guess and following.grey is moved and not following.mirror_next
    assert np.all(previous == 0.2) and np.all(guess == 0.8) and np.array_equal(
        state.grey, grey)
    # the first frame, or a new frame size: the guess alone
    first, state = alternation_step(guess, grey, AlternationState())
    assert first is guess and state.mirror_next
    resized, _ = alternation_step(guess[:20], grey[:20], state)
    np.testing.assert_array_equal(resized, guess[:20])


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
def test_alternating_mirror_gives_tta_masks_on_a_still_scene_at_one_pass_a_frame():
    """unet+alt: the first frame is the plain network's; from the second frame of a still
    scene on, each mask is exactly +tta's, though each frame ran the network once (the
    mirrored input every other frame). Where the picture moved, the new pass is taken
    alone, so the outline does not lag."""
    frame = first_frame(SAMPLE, 60)
    with load_segmenter("unet+alt", "cpu") as alt, load_segmenter("unet", "cpu") as plain, \
            load_segmenter("unet+tta", "cpu") as tta:
        assert isinstance(alt, MirrorAlternating) and alt.name == "unet+alt"
        batches = []  # the batch size of every network run
        session = alt.inner._session
        run = session.run
        alt.inner._session = type("Counting", (), {"run": lambda self, out, feeds: (
            batches.append(len(next(iter(feeds.values())))) or run(out, feeds))})()
        np.testing.assert_array_equal(alt.infer(frame, Thumbnails(frame)), plain.infer(frame))
        averaged = tta.infer(frame)
        for _ in range(3):  # mirrored, direct, mirrored: the last two always of each kind
            np.testing.assert_allclose(alt.infer(frame, Thumbnails(frame)), averaged,
                                       atol=1e-5)
        assert batches == [1, 1, 1, 1]  # one network pass a frame
        alt.inner._session = session
        # motion: the person 24 px further right than a moment ago
        alt.reset()
        moved = np.roll(frame, 24, axis=1)
        before = alt.infer(moved)
        now, new_pass = alt.infer(frame), plain.infer_mirrored(frame)
        edge = np.abs(before - new_pass) > 0.5  # where the outline moved
        assert edge.sum() > 100
        followed = np.abs(now - new_pass)[edge].mean()
        averaged_in = np.abs(now - (before + new_pass) / 2)[edge].mean()
        assert followed < 0.1 and averaged_in > 4 * followed, (followed, averaged_in)
    assert alt.inner._session is None  # closed with the wrapper


def test_mediapipe_mirrors_its_small_input():
    pytest.importorskip("mediapipe")
    frame = first_frame(SAMPLE, 60)
    with load_segmenter("mediapipe", "cpu") as seg:
        thumbnails = Thumbnails(frame)
        mirrored = seg.infer_mirrored(frame, thumbnails)
        of_mirrored_frame = cv2.flip(seg.infer(cv2.flip(frame, 1)), 1)
    assert mirrored.shape == of_mirrored_frame.shape
    assert np.mean((mirrored > 0.5) != (of_mirrored_frame > 0.5)) < 0.002


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
@pytest.mark.parametrize("size", [(1280, 720), (960, 540)])
def test_unet_and_blur_share_one_thumbnail(size):
    """The U-Net's input (160×90) is 1/8 of a 720p frame, what the blur background works
    at: made once per frame when the stages share the frame's ``Thumbnails``, with the same
    pixels as computing them apart. At 540p the blur takes it too (1/6 instead of 1/8) and
    looks the same."""
    frame = cv2.resize(first_frame(SAMPLE, 60), size, interpolation=cv2.INTER_CUBIC)
    thumbnails = Thumbnails(frame)
    with load_segmenter("unet", "cpu") as seg, Compositor("blur") as compositor:
        mask = seg.infer(frame, thumbnails)
        shared = compositor.apply(frame, mask, thumbnails)
        assert list(thumbnails._made) == [(160, 90)]
        assert np.array_equal(mask, seg.infer(frame))
        apart = compositor.apply(frame, mask)
        if size == (1280, 720):
            assert np.array_equal(shared, apart)
        else:
            assert np.abs(shared.astype(int) - apart).mean() < 1.0
        # a mirrored frame is another picture: its thumbnail is not taken from the original's
        compositor.set_mirror(True)
        assert np.array_equal(compositor.apply(frame, mask, thumbnails),
                              compositor.apply(frame, mask))


@pytest.mark.skipif(not (SHARED / "videos" / "s18.mp4").is_file(), reason="no ../shared clips")
@pytest.mark.parametrize("name", ["unet", "mediapipe"])
def test_backends_agree_on_a_real_clip(name):
    if name == "unet" and default_weights() is None:
        pytest.skip("no shipped U-Net weights")
    frame = first_frame(SHARED / "videos" / "s18.mp4", 30)
    with load_segmenter(name, "cpu") as seg:
        mask = seg.predict(frame) > 0.5
    with load_segmenter("mediapipe", "cpu") as ref:
        reference = ref.predict(frame) > 0.5
    iou = (mask & reference).sum() / (mask | reference).sum()
    assert 0.15 < mask.mean() < 0.7  # a head-and-shoulders person, not empty, not everything
    assert iou > 0.85


@pytest.mark.skipif(not cuda_available() or default_weights("safetensors") is None,
                    reason="needs CUDA and unet.safetensors")
def test_cuda_fp16_matches_onnx_cpu():
    frame = first_frame(SAMPLE, 30)
    with load_segmenter("unet", "cpu") as cpu, load_segmenter("unet", "cuda") as gpu:
        a, b = cpu.infer(frame), gpu.infer(frame)
    assert a.shape == b.shape
    assert np.mean((a > 0.5) != (b > 0.5)) < 0.01


@pytest.mark.parametrize("device", DEVICES)
def test_torch_fp16_path_matches_onnx(device):
    """The CUDA path's code (fp16 weights from unet.safetensors, letterbox done in torch,
    strided crop) gives the ONNX path's mask; on the CPU where there is no GPU."""
    pytest.importorskip("torch")  # not smp: the torch path rebuilds the network itself
    from livebg.segment.unet import OnnxUNet, TorchUNet

    weights = default_weights("safetensors")
    if weights is None:
        pytest.skip("no unet.safetensors")
    frame = first_frame(SHARED / "videos" / "s18.mp4" if SHARED.is_dir() else SAMPLE, 30)
    with TorchUNet(weights, device=device) as torch_path, OnnxUNet(default_weights()) as onnx:
        a, b = torch_path.infer(frame), onnx.infer(frame)
        # +tta: the mirrored copy goes through in the same batch on either path
        a_tta, b_tta = torch_path.infer_with_mirror(frame), onnx.infer_with_mirror(frame)
        # +alt: every other frame's mirrored input alone, mirrored back
        a_alt, b_alt = torch_path.infer_mirrored(frame), onnx.infer_mirrored(frame)
    assert a_tta.shape == a.shape and np.mean((a_tta > 0.5) != (b_tta > 0.5)) < 0.01
    assert a_alt.shape == a.shape and np.mean((a_alt > 0.5) != (b_alt > 0.5)) < 0.01
    assert a.shape == b.shape and a.dtype == np.float32
    # fp16 weights and an unrounded letterbox move probabilities by ~0.01; the refinement's
    # 4x gain around 0.5 (refine_gain) magnifies that where the network is unsure, so a few
    # uncertain pixels flip (0.5% on the synthetic sample, 0.01% on s18). A wrong crop or
    # refinement would flip far more, and move the mean.
    assert np.abs(a - b).mean() < 0.01 and np.mean((a > 0.5) != (b > 0.5)) < 0.01
    assert 0.1 < (a > 0.5).mean() < 0.9  # a person was found, not an empty or full mask
