"""MediaPipe Pose's body mask, people found one at a time: a member of the photo ensemble.

MediaPipe Pose (BlazePose: a person detector, then a landmark model that also outlines the
whole body, arms and legs included; Apache-2.0, both models inside the mediapipe wheel) sees
one person per call. ``PoseSegmenter`` finds the most visible person, paints their region
grey and looks again, up to ``max_people`` times, and returns the union of the outlines. It
is a different kind of model from the selfie segmenters: it knows where a body's limbs are,
so it keeps legs and the small people of a street photo, and it finds no person in a flag or
a poster. Inside the photo ensemble (assets/MODEL.md, sessions 15-16) realworld/val goes from
73.82 to 77.17 mIoU (its groups 68.45 → 73.62) and EG1800 from 96.63 to 96.81.

Where it finds no one it has no opinion (``no_vote``): a close-up's face with no body below
it is still a person, and the other members decide there alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from livebg.errors import LivebgError
from livebg.limits import check_frame
from livebg.quiet import quiet_native_stderr
from livebg.resize import Thumbnails, downscale_shared
from livebg.segment.base import SegmenterBase, abstains, no_vote
from livebg.segment.mediapipe import import_mediapipe

POSE_NAME = "pose"
MAX_PEOPLE = 6  # a search per person, plus one that finds no one
WORKING_LONG_SIDE = 512  # the detector sees 224 px: a larger input only costs time
FOUND = 0.3  # what is painted out once a person is found: their outline at this level...
MARGIN = 15  # ...grown by this many working pixels (hair, a blurred edge)
GREY = 127
# A found "person" covering less than this share of the image is a speck: the search stops.
MIN_SHARE = 0.002
# The detector's confidence needed to outline someone. An unsure detection's outline is a
# guess, and its "no" everywhere else is a vote against people it never saw: at 0.7 rather
# than MediaPipe's 0.5 the ensemble scores single people on realworld/val's COCO photos
# 74.19 → 76.25, for 0.9 on its groups (assets/MODEL.md, session 16).
MIN_CONFIDENCE = 0.7


def working_size(width: int, height: int, long_side: int = WORKING_LONG_SIDE) -> tuple[int, int]:
    """(w, h) with the longer side at most ``long_side``, aspect kept (never enlarged)."""
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def paint_out(image_bgr: np.ndarray, mask: np.ndarray, level: float = FOUND,
              margin: int = MARGIN) -> float:
    """Paints the region where ``mask`` > ``level``, grown by ``margin`` px, grey in place,
    so that the next search finds someone else; returns the share of the image painted."""
    region = (mask > level).astype(np.uint8)
    region = cv2.dilate(region, np.ones((margin, margin), np.uint8)) > 0
    image_bgr[region] = GREY
    return float(region.mean())


class PoseSegmenter(SegmenterBase):
    """Person probability of a frame as the union of up to ``max_people`` MediaPipe Pose
    outlines, each found after the ones before were painted out (``paint_out``)."""

    name = POSE_NAME
    device = "cpu"

    def __init__(self, max_people: int = MAX_PEOPLE,
                 min_confidence: float = MIN_CONFIDENCE) -> None:
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, not {max_people}")
        mp = import_mediapipe("the pose model comes with mediapipe, which is not installed")
        self.max_people = max_people
        try:
            with quiet_native_stderr():
                self._solution = mp.solutions.pose.Pose(
                    static_image_mode=True, model_complexity=1, enable_segmentation=True,
                    min_detection_confidence=min_confidence)
        except Exception as exc:  # a damaged install: its graph names the missing model file
            raise LivebgError(
                f"MediaPipe Pose, the photo default's pose model, failed to load ({exc}): "
                "reinstall it with pip install --force-reinstall --no-deps mediapipe==0.10.21, "
                "or give photos --model unet") from exc
        self._closed = False

    def infer(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None = None) -> np.ndarray:
        """The union of the people's outlines at the working size (``working_size``), or
        ``no_vote`` where it finds no one: in a close-up the body it looks for is out of
        frame, and a pose model that sees no body does not know there is no person."""
        return self._union(self._work(frame_bgr, thumbnails))

    def infer_mirrored(self, frame_bgr: np.ndarray,
                       thumbnails: Thumbnails | None = None) -> np.ndarray:
        return self._mirrored_union(self._work(frame_bgr, thumbnails))

    def infer_with_mirror(self, frame_bgr: np.ndarray,
                          thumbnails: Thumbnails | None = None) -> np.ndarray:
        """``+tta``: the mean of the two ways round that found someone (one that found no one
        has no vote, as in the ensemble), ``no_vote`` if neither did. One downscale serves
        both: the mirrored search runs on a flipped copy, before the upright one paints it."""
        work = self._work(frame_bgr, thumbnails)
        mirrored = self._mirrored_union(work)
        found = [m for m in (self._union(work), mirrored) if not abstains(m)]
        if not found:
            return no_vote(work.shape[:2])
        return found[0] if len(found) == 1 else cv2.addWeighted(found[0], 0.5, found[1], 0.5, 0)

    def _work(self, frame_bgr: np.ndarray, thumbnails: Thumbnails | None) -> np.ndarray:
        # a copy: the search paints it
        height, width = check_frame(frame_bgr).shape[:2]
        size = working_size(width, height)
        return downscale_shared(frame_bgr, size, thumbnails).copy()

    def _mirrored_union(self, work_bgr: np.ndarray) -> np.ndarray:
        """``_union`` of the mirror image of ``work_bgr`` (left as it is), flipped back."""
        union = self._union(cv2.flip(work_bgr, 1))
        return union if abstains(union) else cv2.flip(union, 1)

    def _union(self, work_bgr: np.ndarray) -> np.ndarray:
        people = self.people(work_bgr)
        if not people:
            return no_vote(work_bgr.shape[:2])
        union = people[0]
        for person in people[1:]:
            np.maximum(union, person, out=union)
        return union

    def people(self, work_bgr: np.ndarray) -> list[np.ndarray]:
        """Each person's outline (float32, ``work_bgr``'s size), most visible first.
        ``work_bgr`` is painted grey where they were found."""
        found = []
        for _ in range(self.max_people):
            result = self._solution.process(cv2.cvtColor(work_bgr, cv2.COLOR_BGR2RGB))
            if result.segmentation_mask is None:
                break
            mask = np.array(result.segmentation_mask, dtype=np.float32)
            found.append(mask)
            if paint_out(work_bgr, mask) < MIN_SHARE:
                break
        return found

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._solution.close()
