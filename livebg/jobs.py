"""The jobs the ``livebg`` command runs once its options are checked: photos and photo
folders (``run_stills``), and video from a file or a camera to the window, the virtual
camera and an output file (``run_video``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from livebg.assets import sample_clip
from livebg.capture import IMAGE_EXTENSIONS, check_video_path, open_source
from livebg.cli_checks import (
    background_file,
    check_background,
    check_cuda,
    check_models,
    check_virtual_cam_exists,
    check_weights,
    config_overrides,
    given_config_fields,
    is_transparent,
    note,
    resolve_video_output,
    source_spec,
    warn_camera_options,
    with_tta,
)
from livebg.display import window_problem
from livebg.errors import LivebgError
from livebg.pipeline import CAMERA_FIELDS, pick_fields
from livebg.safeio import ReadFiles, refuse_overwrite
from livebg.segment.mirror import ALT_SUFFIX, TTA_SUFFIX
from livebg.signals import exit_code
from livebg.sinks.file import check_quality, check_writable_folder, video_format


def run_command(args: argparse.Namespace) -> int:
    check_models([args.model], [args.device])
    check_weights(args.weights, [args.model])
    if args.input is not None:
        path = Path(args.input)
        if not path.exists():
            raise LivebgError(f"input {path} does not exist: check the path, or use --camera N")
        if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
            args.model = with_tta(args.model, args.tta, default=TTA_SUFFIX)
            if args.model.endswith(ALT_SUFFIX):
                # +alt averages across a clip's frames: a photo is one frame of its own
                args.model = args.model[: -len(ALT_SUFFIX)] + TTA_SUFFIX
                note(f"photos: {ALT_SUFFIX} averages across video frames; each photo gets "
                     f"{TTA_SUFFIX} (both passes) instead")
            return run_stills(args, path)
        check_video_path(path)
        warn_camera_options(args)
    args.model = with_tta(args.model, args.tta, default=ALT_SUFFIX)
    check_cuda([args.device], args.cuda_fallback)
    alpha = is_transparent(args.bg) and not args.mask_only
    output = (resolve_video_output(args.output, _input_path(args), alpha=alpha)
              if args.output else None)
    check_background(args.bg, video=not args.mask_only, output=output)
    if output is not None:
        check_quality(video_format(output, alpha=alpha), args.quality)
        refuse_overwrite(output, [args.input, background_file(args.bg), args.weights])
    if args.virtual_cam and args.no_window and output is None:
        check_virtual_cam_exists()
    return run_video(args, output)


def _input_path(args: argparse.Namespace) -> Path | None:
    return Path(args.input) if args.input else None


def run_stills(args: argparse.Namespace, source: Path) -> int:
    from livebg.segment import load_segmenter_with_fallback
    from livebg.stills import StillJob, plan_outputs, process_stills

    warn_camera_options(args)
    if args.output is None:
        raise LivebgError("photos need --output: a folder (or a file name for one photo)")
    job = StillJob(background=args.bg, mask_only=args.mask_only,
                   blur_strength=args.blur_strength, feather=args.feather)
    if not job.mask_only:
        check_background(args.bg, video=False)
    out = Path(args.output)
    check_writable_folder(out if out.is_dir() or source.is_dir() else out.parent, "output")
    pairs = plan_outputs(source, out, job)
    # every photo of the folder, not only this job's: a.jpg may be written as a.png
    read = ReadFiles([*(src for src, _ in pairs), *_folder_files(source),
                      background_file(args.bg), args.weights])
    for _, dst in pairs:
        refuse_overwrite(dst, read)
    check_cuda([args.device], args.cuda_fallback)
    segmenter = load_segmenter_with_fallback(
        args.model, args.device, args.weights, cuda_fallback=args.cuda_fallback, photos=True
    )
    logging.getLogger("livebg").info("photos: %s on %s", segmenter.name, segmenter.device)
    try:
        written = process_stills(pairs, segmenter, job, progress=_progress(len(pairs), "photos"))
    finally:
        segmenter.close()
    target = out if out.is_dir() else written[0]
    note(f"wrote {len(written)} image(s) to {target}")
    return 0


def _folder_files(source: Path) -> list[Path]:
    return [p for p in source.iterdir() if p.is_file()] if source.is_dir() else []


def _progress(total: int | None, unit: str) -> Any:
    """A tqdm-updating callback (shown only on a terminal and when the total is known)."""
    if not total:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit[:-1], disable=None, leave=False, file=sys.stderr)

    def step(*_: Any) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step


def _open_video_source(args: argparse.Namespace, realtime: bool) -> Any:
    """The source asked for; with neither --input nor --camera: camera 0, else the sample clip."""
    kwargs = pick_fields(args, CAMERA_FIELDS)
    if args.input is not None or args.camera is not None:
        return open_source(source_spec(args), realtime=realtime, loop=args.loop, **kwargs)
    try:
        return open_source(0, **kwargs)
    except LivebgError:
        return open_source(_sample_fallback(), realtime=realtime, loop=args.loop)


def _sample_fallback() -> str:
    clip = sample_clip()
    note(f"no camera found: playing the bundled sample clip {clip} (use --input or --camera)")
    return str(clip)


def default_source() -> str | int:
    """Camera 0 if it opens, else the bundled sample clip (with a note)."""
    try:
        open_source(0).close()
        return 0
    except LivebgError:
        return _sample_fallback()


def _pipeline_config(args: argparse.Namespace, source: Any, realtime: bool) -> Any:
    from livebg.pipeline import PipelineConfig

    spec = getattr(source, "path", None) or getattr(source, "index", 0)
    same_named = ("loop", "model", "device", "smoothing", "mirror", "mask_only", "max_frames")
    return PipelineConfig(
        source=str(spec) if isinstance(spec, Path) else spec,
        realtime=realtime,
        background=args.bg,
        **pick_fields(args, same_named),
        **config_overrides(args),
    )


def _make_sinks(args: argparse.Namespace, output: Path | None, source: Any) -> list[Any]:
    """The --output file and --virtual-cam sinks for the window, which plays in real time."""
    sinks: list[Any] = []
    try:
        if output is not None:
            sinks.append(_file_sink(args, output, source))
        cam = _virtual_cam_sink(args, source)
        if cam is not None:
            sinks.append(cam)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def _file_sink(args: argparse.Namespace, output: Path, source: Any) -> Any:
    from livebg.sinks import create_sink

    return create_sink("file", path=output, fps=source.fps, size=source.size,
                       alpha=is_transparent(args.bg) and not args.mask_only,
                       quality=args.quality, audio_from=_sound_source(args, source))


def _virtual_cam_sink(args: argparse.Namespace, source: Any) -> Any | None:
    """The --virtual-cam sink, or None (not asked for, or no device: the hint is printed)."""
    if not args.virtual_cam:
        return None
    from livebg.sinks import create_sink
    from livebg.sinks.virtualcam import VirtualCamUnavailable

    width, height = source.size
    try:
        return create_sink("virtualcam", width=width, height=height, fps=source.fps)
    except VirtualCamUnavailable as exc:
        note(f"virtual camera unavailable: {exc}")
        return None


def _sound_source(args: argparse.Namespace, source: Any) -> Path | None:
    """The input file whose sound the output keeps: only when every input frame is written
    once (a file job that is not played in real time and not looped), so the clocks agree."""
    path = getattr(source, "path", None)
    if path is None or getattr(source, "realtime", True) or args.loop:
        return None
    return Path(path)


def run_video(args: argparse.Namespace, output: Path | None) -> int:
    from livebg.pipeline import Pipeline

    window = not args.no_window
    if window and (problem := window_problem()) is not None:
        note(f"{problem}: running headless (add --no-window to skip this check)")
        window = False
    if window and is_transparent(args.bg) and not args.mask_only:
        note("the window cannot show transparency: writing the alpha video headless")
        window = False
    # Files play at their own pace when someone watches; an --output-only job runs flat out.
    realtime = args.realtime or window or args.virtual_cam or output is None
    source = _open_video_source(args, realtime)
    config = _pipeline_config(args, source, realtime)
    if window:
        if args.max_frames:
            note("--max-frames stops headless jobs only: the window plays until it is closed "
                 "(add --no-window to stop after that many frames)")
        try:
            sinks = _make_sinks(args, output, source)
        except BaseException:
            source.close()
            raise
        return _run_window(config, source, sinks, given_config_fields(args))
    total = _expected_frames(source, args.max_frames)
    pipe = Pipeline(config, source=source, on_frame=_progress(total, "frames"))
    # Model and compositor first: a bad --weights or --feather leaves no half-made output file.
    with pipe.open():
        cam = _virtual_cam_sink(args, source)  # the pipeline closes what it holds
        if cam is not None:
            pipe.add_sink(cam)
        elif args.virtual_cam and output is not None and not args.realtime \
                and getattr(source, "realtime", False):
            # no device and no window: nothing needs the file's pace any more, so the job
            # reads it flat out again (every frame, and its sound)
            source.realtime = False
            pipe.config = dataclasses.replace(config, realtime=False)
            note(f"writing {output} as fast as it goes instead of in real time")
        if output is not None:
            pipe.add_sink(_file_sink(args, output, source))
        made = pipe.sinks  # a failed run lets go of its sinks: keep them to report on
        if not made:
            why = "the virtual camera is unavailable" if args.virtual_cam else "no --output"
            note(f"{why} and no window: processing without writing anything")
        try:
            stats = pipe.run()
        except LivebgError as exc:
            raise LivebgError(f"{exc}{_what_was_kept(made, output)}") from None
    if pipe.interrupted:
        where = f": {output} holds them" if output and output.exists() else ""
        note(f"stopped after {pipe.frames_written} frames{where}")
        return exit_code()
    where = f" to {output}" if output else ""
    note(f"wrote {pipe.frames_written} frames{where} ({stats.fps:.1f} fps)")
    return 0


def _what_was_kept(sinks: list[Any], output: Path | None) -> str:
    """After a failed run: whether the --output video was finished with the frames so far."""
    files = [s for s in sinks if getattr(s, "committed", False)]
    if output is None or not files:
        return ""
    return f" ({output} was finished with the {files[0].frames} frames written before)"


def _expected_frames(source: Any, max_frames: int | None) -> int | None:
    count = getattr(source, "frame_count", None)
    if count is None:
        return max_frames
    return min(count, max_frames) if max_frames else count


def _run_window(config: Any, source: Any, sinks: list[Any], given: frozenset[str]) -> int:
    """Hand over to the desktop app (livebg.gui): it builds its own Pipeline from ``config``
    and carries ``sinks`` (--output, --virtual-cam) along; they are closed here once it ends.
    ``given`` (options typed) beat the window's saved settings; so does --virtual-cam, which
    the window retries and, with no device, answers with the setup hint by its toggle."""
    source.close()  # checked that it opens; the GUI's pipeline opens it again itself
    from livebg.gui import run_app
    from livebg.gui.settings import settings_path

    if settings_path().is_file():
        note(f"window settings from {settings_path()}: options typed here win over them "
             "(Settings > Reset to defaults in the window)")

    try:
        return int(run_app(config, sinks=sinks, given=given) or 0)
    finally:
        for sink in sinks:
            sink.close()
