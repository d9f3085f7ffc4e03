"""The ensemble segmenter (``livebg.segment.ensemble``): stand-ins with known masks, then the
shipped models on the bundled sample clip where MediaPipe is installed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import sample_frame

import livebg.segment as segment
from livebg.errors import LivebgError
from livebg.segment import FlipAveraged, SegmenterBase, load_segmenter, with_mirror
from livebg.segment.base import no_vote
from livebg.segment.ensemble import (
    DECISION_POINT,
    DEFAULT_WEIGHTS,
    Ensemble,
    decisive,
    weighted_mean,
)
from livebg.segment.unet import default_weights

needs_both = pytest.mark.skipif(
    default_weights() is None or not segment.mediapipe_installed(),
    reason="needs the shipped U-Net weights and mediapipe")


class Painted(SegmenterBase):
    """A stand-in that calls person the columns [left, right) of the frame, at its own
    resolution (``size`` = width, height), and counts its closes."""

    def __init__(self, left: float, right: float, size: tuple[int, int], name: str = "p"):
        self.left, self.right, self.size, self.name, self.closed = left, right, size, name, 0

    def infer(self, frame_bgr, thumbnails=None):
        width, height = self.size
        mask = np.zeros((height, width), np.float32)
        mask[:, int(self.left * width):int(self.right * width)] = 1.0
        return mask

    def close(self):
        self.closed += 1


def test_weighted_mean_works_at_the_largest_members_size():
    big = np.ones((40, 80), np.float32)
    small = np.zeros((10, 20), np.float32)
    out = weighted_mean([small, big], [1.0, 3.0])
    assert out.shape == (40, 80) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.75, atol=1e-6)
    with pytest.raises(ValueError, match="2 masks for 1 weights"):
        weighted_mean([small, big], [1.0])


MEMBERS = ("unet", "landscape", "general", "pose")  # the shipped order of DEFAULT_WEIGHTS


@pytest.mark.parametrize("voters", [
    (), ("unet",), ("pose",), ("landscape", "general"),  # one kind of model alone
    ("unet", "landscape"), ("general", "pose"),  # a tie: half the weight each way
    ("unet", "pose"), ("unet", "landscape", "general"), ("landscape", "general", "pose"),
    ("unet", "general", "pose"), ("unet", "landscape", "general", "pose"),
])
def test_a_pixel_is_person_where_more_than_half_the_weight_says_so(voters):
    """2 : 1 : 1 : 2 (U-Net, MediaPipe landscape and general, pose): three votes, MediaPipe's
    split between its two selfie models. A flag that only the U-Net keeps, a shape that only
    the pose model outlines, a halo that both selfie models share: background. Any two of
    the three: person. U-Net and one selfie model against the other and the pose model is a
    tie, and a tie is background."""
    members = [Painted(0.0, 1.0 if name in voters else 0.0, size, name)
               for name, size in zip(MEMBERS, [(64, 36), (32, 18), (32, 32), (64, 36)])]
    mask = Ensemble(members, DEFAULT_WEIGHTS).predict(np.full((72, 128, 3), 90, np.uint8))
    weight = sum(w for name, w in zip(MEMBERS, DEFAULT_WEIGHTS) if name in voters)
    assert mask.shape == (72, 128)
    if weight > sum(DEFAULT_WEIGHTS) / 2:
        assert mask.min() > 0.95
    else:
        assert mask.max() < 0.5


class NoOne(Painted):
    """The pose model in a close-up: it finds no body, so it has no vote (``no_vote``)."""

    def infer(self, frame_bgr, thumbnails=None):
        return no_vote(self.size[::-1])


def test_weighted_mean_leaves_out_a_member_that_abstains():
    half = np.full((10, 20), 0.5, np.float32)
    out = weighted_mean([np.ones((10, 20), np.float32), half, no_vote((40, 80))], [1, 1, 5])
    assert out.shape == (40, 80)  # the abstaining member's size still sets the output's
    np.testing.assert_allclose(out, 0.75, atol=1e-6)  # (1 + 0.5) / 2: its weight left out
    assert weighted_mean([no_vote((4, 4))], [1.0]).max() == 0.0  # no votes: no one


@pytest.mark.parametrize("voters", [("unet",), ("landscape", "general"),
                                    ("unet", "landscape")])
def test_where_the_pose_model_finds_no_one_the_others_decide_as_before(voters):
    """A close-up's face with no body below it: the pose model abstains, and the U-Net
    against both selfie models (2 : 1 : 1) is a tie again, decided as it was before the
    pose model joined; a U-Net and a selfie model together are person."""
    members = [Painted(0.0, 1.0 if name in voters else 0.0, (64, 36), name)
               for name in MEMBERS[:3]] + [NoOne(0.0, 0.0, (64, 36), "pose")]
    mask = Ensemble(members, DEFAULT_WEIGHTS).predict(np.full((72, 128, 3), 90, np.uint8))
    assert mask.shape == (72, 128) and not np.isnan(mask).any()
    if len(voters) == 2 and "unet" in voters:
        assert mask.min() > 0.95
    else:
        assert mask.max() < 0.5


def test_the_video_path_averages_at_the_widest_members_width():
    """``infer`` (video): the widest member's width at the frame's shape, not the square
    model's, and no ``decisive`` step (the smoother decides there)."""
    unet = Painted(0.0, 0.5, (64, 36), "unet")  # columns 0-50%
    land = Painted(0.25, 0.75, (32, 18), "land")  # 25-75%
    general = Painted(0.25, 1.0, (32, 32), "general")  # 25-100%
    ens = Ensemble([unet, land, general], (2.0, 1.0, 1.0))
    low = ens.infer(np.full((72, 128, 3), 90, np.uint8))
    assert low.shape == (36, 64)
    assert low[18, 24] == pytest.approx(1.0, abs=0.05)  # all three
    assert low[18, 5] == pytest.approx(0.5, abs=1e-6)  # the U-Net alone: its share, as is


def test_a_tie_is_background_in_the_written_mask_too():
    """Where the weight is split evenly (the U-Net and the landscape model against the
    general and the pose model: a mean of exactly 0.5), the photo mask is below 0.5 and its
    8-bit form below 128, so no threshold reads it as person. It is not pushed to 0: the
    composite still draws it partly (assets/MODEL.md, session 12)."""
    left, right = (0.0, 0.5), (0.5, 1.0)
    members = [Painted(*span, (64, 36), name)
               for name, span in zip(MEMBERS, [left, left, right, right])]
    mask = Ensemble(members, DEFAULT_WEIGHTS).predict(np.zeros((36, 64, 3), np.uint8))
    written = cv2.convertScaleAbs(mask, alpha=255.0)  # as livebg.stills writes --mask-only
    assert mask.max() < 0.5 and written.max() < 128
    assert written.max() > 64  # still an in-between value, not forced to the background


def test_decisive_keeps_every_decision_and_narrows_the_ramp():
    prob = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    out = decisive(prob)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert np.all(np.diff(out) >= 0)  # order kept
    np.testing.assert_array_equal(out > 0.5, prob > DECISION_POINT)
    ramp = lambda m: ((m > 0.05) & (m < 0.95)).mean()  # noqa: E731
    assert ramp(out) == pytest.approx(ramp(prob) / 3, abs=0.01)
    assert prob[500] == 0.5 and out[500] < 0.5  # the tie
    with pytest.raises(ValueError, match="gain must be positive"):
        decisive(prob, gain=0)


def test_close_closes_every_member_once():
    members = [Painted(0, 1, (8, 8)), Painted(0, 1, (8, 8))]
    with Ensemble(members) as ens:
        ens.infer(np.zeros((8, 8, 3), np.uint8))
    ens.close()
    assert [m.closed for m in members] == [1, 1]
    with pytest.raises(ValueError, match="do not fit"):
        Ensemble(members, [1.0])


def test_tta_mirrors_each_member_and_averages_the_full_size_masks():
    """``ensemble+tta`` is an ensemble of mirror-averaged members, so ``predict`` averages
    full-size masks; a member that sees only the left edge is right half the time."""
    members = [Painted(0.0, 0.25, (64, 36), "a"), Painted(0.0, 0.25, (64, 36), "b")]
    tta = with_mirror(Ensemble(members, name="ens"), "+tta")
    assert isinstance(tta, Ensemble) and tta.name == "ens+tta"
    assert all(isinstance(m, FlipAveraged) for m in tta.members)
    mask = tta.predict(np.full((36, 64, 3), 90, np.uint8))
    np.testing.assert_allclose(mask[:, 2:14], 0.5, atol=0.02)  # left quarter, not mirrored
    np.testing.assert_allclose(mask[:, -14:-2], 0.5, atol=0.02)  # its mirror image
    assert mask[:, 24:40].max() < 0.01
    tta.close()
    assert [m.closed for m in members] == [1, 1]


def test_alt_wraps_the_whole_ensemble():
    from livebg.segment import MirrorAlternating

    alt = with_mirror(Ensemble([Painted(0, 1, (8, 8))], name="ens"), "+alt")
    assert isinstance(alt, MirrorAlternating) and alt.name == "ens+alt"


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
def test_auto_for_photos_is_the_ensemble_only_with_mediapipe(monkeypatch):
    monkeypatch.setattr(segment, "mediapipe_installed", lambda: False)
    assert segment.resolve_auto(photos=True) == "unet"
    monkeypatch.setattr(segment, "mediapipe_installed", lambda: True)
    assert segment.resolve_auto(photos=True) == "ensemble"
    assert segment.resolve_auto(photos=False) == "unet"  # live video keeps its frame rate


@pytest.mark.skipif(default_weights() is None, reason="no shipped U-Net weights")
def test_a_missing_mediapipe_names_the_fix_and_closes_the_unet(monkeypatch):
    import livebg.segment.mediapipe as mp_backend

    closed = []
    real_unet = segment._load_unet

    def tracked_unet(*args):
        unet = real_unet(*args)
        original = unet.close
        unet.close = lambda: (closed.append(True), original())
        return unet

    def no_mediapipe(*_args, **_kwargs):
        raise LivebgError("the mediapipe backend is not installed: pip install ...")

    monkeypatch.setattr(segment, "_load_unet", tracked_unet)
    monkeypatch.setattr(mp_backend, "MediaPipeSegmenter", no_mediapipe)
    with pytest.raises(LivebgError, match="pip install"):
        load_segmenter("ensemble", "cpu", photos=True)
    assert closed == [True]


@needs_both
def test_photo_default_is_the_ensemble_and_finds_the_sample_figure():
    """The app's photo default (auto+tta) on the bundled clip's figure: the shirt is person,
    the wall's top-left corner is not, and the mask is the weighted mean of its members',
    made decisive."""
    frame = sample_frame()
    with load_segmenter("auto+tta", "cpu", photos=True) as ens:
        assert ens.name == "ensemble+tta"
        assert [m.inner.name for m in ens.members] == ["unet", "mediapipe", "mediapipe", "pose"]
        mask = ens.predict(frame)
        members = [m.predict(frame) for m in ens.members]
    h, w = mask.shape
    assert mask[: h // 4, : w // 4].mean() < 0.1
    assert mask[int(h * 0.85):, int(w * 0.5):int(w * 0.75)].mean() > 0.8
    expected = decisive((2 * members[0] + members[1] + members[2] + 2 * members[3]) / 6)
    np.testing.assert_allclose(mask, expected, atol=1e-5)



@needs_both
def test_live_video_runs_the_ensemble_without_the_pose_search():
    """``--model ensemble`` on a camera or a clip: the three selfie-kind members, 2 : 1 : 1 (the
    pose search costs ~40 ms a 720p frame); the mask still finds the sample figure."""
    frame = sample_frame()
    with load_segmenter("ensemble", "cpu") as ens:
        assert [m.name for m in ens.members] == ["unet", "mediapipe", "mediapipe"]
        assert ens.weights == DEFAULT_WEIGHTS[:3]
        low = ens.infer(frame)
    h, w = low.shape
    assert low[int(h * 0.85):, int(w * 0.5):int(w * 0.75)].mean() > 0.8
    assert low[: h // 4, : w // 4].mean() < 0.1

@needs_both
def test_evaluate_opens_the_ensemble_with_another_unet(tmp_path):
    """``training.evaluate`` takes ``ensemble:FILE.onnx``: that U-Net among the members."""
    import shutil

    from training.evaluate import open_model

    other = tmp_path / "other.onnx"
    shutil.copy(default_weights(), other)
    frame = sample_frame()
    with open_model(f"ensemble:{other}+tta", None, photos=True) as model, \
            load_segmenter("ensemble+tta", "cpu", photos=True) as shipped:
        assert model.name == f"ensemble:{other}+tta"
        assert model.members[0].inner.input_width >= 256  # photo size, not video's 160
        assert np.array_equal(model.predict(frame) > 0.5, shipped.predict(frame) > 0.5)
