"""The input file's sound, copied packet by packet into a video being written (no re-encode).

Only meaningful when the output has one frame per input frame (a file job: ``--no-window``
without ``--realtime`` or ``--loop``), so the video's clock is the input's. ``FileSink`` owns
one and calls ``mux_until(t)`` after each video frame, so the two streams interleave, then
``finish(t_end)`` with the video's duration: sound past the last frame is cut.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("livebg.sinks")

# what each container can carry without re-encoding (WebM: Opus/Vorbis only)
_CONTAINER_CODECS = {".webm": {"opus", "vorbis"}}


class AudioPassthrough:
    """Demuxes ``source``'s first audio stream and muxes its packets into ``container``."""

    def __init__(self, source: Path, container: Any, suffix: str) -> None:
        import av

        self._input = av.open(str(source))
        self._packets: Iterator[Any] | None = None
        self._pending: Any | None = None
        self.stream: Any | None = None
        self.copied = 0
        try:
            audio = self._input.streams.audio
            if not audio:
                return
            src = audio[0]
            allowed = _CONTAINER_CODECS.get(suffix)
            if allowed is not None and src.codec_context.name not in allowed:
                log.warning("livebg: the input's %s sound is not copied: %s files take %s; "
                            "use .mp4 or .mkv to keep it", src.codec_context.name, suffix,
                            "/".join(sorted(allowed)))
                return
            self.stream = container.add_stream_from_template(src)
            video = self._input.streams.video
            # the output's first frame is the input's first video frame: line the sound up to it
            start = video[0].start_time if video and video[0].start_time else 0
            self._offset = float(start * video[0].time_base) if start else 0.0
            self._src = src
            self._packets = iter(self._input.demux(src))
        finally:
            if self.stream is None:
                self.close()

    def mux_until(self, container: Any, t: float) -> None:
        """Copy every packet that starts before ``t`` seconds of the output."""
        if self._packets is None:
            return
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._packets = None
                return
            if packet.pts is None or packet.size == 0:
                continue  # the demuxer's final empty packet
            when = float(packet.pts * packet.time_base) - self._offset
            if when >= t:
                self._pending = packet
                return
            end = when + float((packet.duration or 0) * packet.time_base)
            if end <= 0 and self.copied:
                continue  # sound from before the first frame (the first packet may be the
                # encoder's priming, at negative time on purpose: kept)
            shift = round(self._offset / packet.time_base)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.stream
            container.mux(packet)
            self.copied += 1

    def finish(self, container: Any, t_end: float) -> None:
        self.mux_until(container, t_end)
        self.close()

    def close(self) -> None:
        self._packets = self._pending = None
        if self._input is not None:
            self._input.close()
            self._input = None
