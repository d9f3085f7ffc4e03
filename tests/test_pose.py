"""The pose member of the photo ensemble (``livebg.segment.pose``): the search for one person
after another against a fake MediaPipe, then the real one on the bundled sample's figure."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from conftest import sample_frame

import livebg.segment as segment
from livebg.errors import LivebgError
from livebg.segment.pose import GREY, PoseSegmenter, paint_out, working_size

needs_mediapipe = pytest.mark.skipif(not segment.mediapipe_installed(),
                                     reason="needs mediapipe")


def test_working_size_caps_the_long_side_and_never_enlarges():
    assert working_size(1280, 720) == (512, 288)
    assert working_size(600, 800) == (384, 512)
    assert working_size(320, 200) == (320, 200)


def test_paint_out_greys_the_found_person_with_a_margin():
    image = np.full((100, 100, 3), 200, np.uint8)
    mask = np.zeros((100, 100), np.float32)
    mask[40:60, 40:60] = 0.9
    share = paint_out(image, mask, margin=11)
    assert (image[40:60, 40:60] == GREY).all()
    assert (image[36, 50] == GREY).all()  # the margin: hair, a blurred edge
    assert (image[10, 10] == 200).all()
    assert share == pytest.approx(30 * 30 / 100 / 100, abs=0.005)


class FakePose:
    """MediaPipe Pose as seen by ``PoseSegmenter``: finds the brightest columns of what it is
    shown (a "person" is a band of columns brighter than 150), or no one."""

    def __init__(self) -> None:
        self.calls, self.closed = 0, 0

    def process(self, rgb: np.ndarray) -> SimpleNamespace:
        self.calls += 1
        columns = rgb[..., 1].mean(axis=0)
        if columns.max() <= 150:
            return SimpleNamespace(segmentation_mask=None)
        mask = np.zeros(rgb.shape[:2], np.float32)
        mask[:, columns >= columns.max() - 1] = 1.0
        return SimpleNamespace(segmentation_mask=mask)

    def close(self) -> None:
        self.closed += 1


def fake_pose_segmenter(max_people: int = 6) -> tuple[PoseSegmenter, FakePose]:
    pose = PoseSegmenter.__new__(PoseSegmenter)
    fake = FakePose()
    pose.max_people, pose._solution, pose._closed = max_people, fake, False
    return pose, fake


def three_people(width: int = 300) -> np.ndarray:
    frame = np.full((120, width, 3), 60, np.uint8)
    for centre, level in ((50, 250), (150, 220), (250, 190)):  # most visible first
        frame[:, centre - 8:centre + 8] = level
    return frame


def test_people_are_found_one_after_another_until_no_one_is_left():
    pose, fake = fake_pose_segmenter()
    people = pose.people(three_people())
    centres = [int(np.flatnonzero(m.mean(axis=0) > 0.5).mean()) for m in people]
    assert centres == [49, 149, 249]  # each search sees the ones before painted grey
    assert fake.calls == 4  # three people, then a search that finds no one
    union = pose.infer(three_people())
    assert union.shape == (120, 300) and (union.mean(axis=0) > 0.5).sum() == 3 * 16


def test_max_people_bounds_the_searches():
    pose, fake = fake_pose_segmenter(max_people=2)
    assert len(pose.people(three_people())) == 2 and fake.calls == 2
    with pytest.raises(ValueError, match="at least 1"):
        PoseSegmenter(max_people=0)


def test_infer_works_at_the_working_size_and_close_is_idempotent():
    pose, fake = fake_pose_segmenter()
    big = cv2.resize(three_people(), (1500, 600), interpolation=cv2.INTER_NEAREST)
    assert pose.infer(big).shape == (205, 512)
    assert pose.predict(big).shape == (600, 1500)  # photos: at the frame's size
    pose.close()
    pose.close()
    assert fake.closed == 1


def test_a_missing_mediapipe_names_the_fix(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mediapipe(name, *args, **kwargs):
        if name == "mediapipe":
            raise ImportError("No module named 'mediapipe'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    with pytest.raises(LivebgError, match="pip install --no-deps mediapipe"):
        PoseSegmenter()



@needs_mediapipe
def test_a_damaged_install_names_the_reinstall(monkeypatch):
    import mediapipe as mp

    def damaged(**_kwargs):
        raise RuntimeError("pose_landmark_full.tflite: No such file or directory")

    monkeypatch.setattr(mp.solutions.pose, "Pose", damaged)
    with pytest.raises(LivebgError, match="force-reinstall --no-deps mediapipe.*--model unet"):
        PoseSegmenter()

@needs_mediapipe
def test_a_failing_pose_model_closes_the_members_already_open(monkeypatch):
    import livebg.segment.mediapipe as mp_backend
    import livebg.segment.pose as pose_module

    opened = []

    class Tracked(mp_backend.MediaPipeSegmenter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    def broken(*_args, **_kwargs):
        raise LivebgError("pose model failed to load")

    monkeypatch.setattr(mp_backend, "MediaPipeSegmenter", Tracked)
    monkeypatch.setattr(pose_module, "PoseSegmenter", broken)
    monkeypatch.setattr(segment, "_load_unet", lambda *args: Tracked())
    with pytest.raises(LivebgError, match="pose model"):
        segment.load_segmenter("ensemble", "cpu", photos=True)
    assert len(opened) == 3 and all(m._closed for m in opened)


@needs_mediapipe
def test_the_real_pose_model_outlines_the_sample_figure_and_finds_two_copies():
    """On the bundled clip's figure: the body (shirt included) and not the wall; side by side
    with its own copy, two people, one in each half; on a plain wall, no one."""
    frame = sample_frame()
    with PoseSegmenter() as pose:
        mask = pose.predict(frame)
        h, w = mask.shape
        assert mask[int(h * 0.85):, int(w * 0.5):int(w * 0.75)].mean() > 0.8  # the shirt
        assert mask[: h // 4, : w // 4].mean() < 0.05
        pair = cv2.resize(np.concatenate([frame, frame], axis=1), (1024, 288))
        people = pose.people(pair)
        assert len(people) == 2
        halves = sorted(float(np.flatnonzero((m > 0.5).any(axis=0)).mean()) / 1024
                        for m in people)
        assert halves[0] < 0.5 < halves[1]
        assert pose.people(np.full((288, 512, 3), 90, np.uint8)) == []
