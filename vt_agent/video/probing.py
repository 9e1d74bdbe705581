"""Probing: what a video file holds and the presentation times of the frames that really decode.

Times are seconds from the first decoded frame, taken from presentation timestamps (never from
frame index / header fps): MPEG-PS start offsets, AVI headers that lie and variable frame rates
all come out right.

Two timelines exist:

* the *decoded* timeline (:func:`probe`): one streaming pass that decodes every frame without
  converting or keeping it; this is the truth (``frames_verified=True``);
* the *packet* timeline: a demux-only pass (no decoding, ~100x cheaper) listing the non-empty
  packets with a timestamp. Sampling starts from it and checks every frame it decodes against it;
  on any disagreement it falls back to the decoded timeline. Frames in stretches it does not
  decode (after the last sample of a keyframe segment, or skipped by seeking) are counted from
  their packets. When packets come in presentation order, the pass can keep them
  (:class:`KeptPackets`) so that sampling decodes from memory without reading the file again.

Durations: ``duration_s = last pts - first pts + the last frame's interval`` (the previous
frame's interval; a single frame lasts its packet duration, else 1/header fps, else 1/25 s);
``fps = decoded_frames / duration_s``.

Over 400 lines: container quirks (MPEG-PS offsets, lying AVI headers, variable frame rates) each need handling next to the timeline they correct.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vt_agent._lazy import require
from vt_agent.errors import UnsupportedVideoError, VideoDecodeError, VideoNotFoundError
from vt_agent.sandbox import OpenedFile, check_video_stat
from vt_agent.video import limits

__all__ = [
    "CREATION_TIME_KEYS",
    "DECODED",
    "DEFAULT_FPS",
    "ID_CHUNK",
    "LARGE_FRAME_PIXELS",
    "PACKETS",
    "KeptPackets",
    "Timeline",
    "VideoInfo",
    "check_path",
    "check_source",
    "clear_probe_cache",
    "decode_packet",
    "decode_timeline",
    "file_id",
    "make_info",
    "one_thread",
    "open_video",
    "probe",
    "probe_full",
    "probe_packets",
    "probe_packets_keeping",
    "remember_decoded",
    "safe_demux",
    "single_threaded",
    "with_flush",
]

ID_CHUNK = 64 * 1024
DEFAULT_FPS = 25.0
_PROBE_CACHE_SIZE = 256
LARGE_FRAME_PIXELS = 16_000_000  # above (about 2x 4K UHD): no frame threads
CREATION_TIME_KEYS = (
    ("container", "creation_time"),  # MP4/MOV mvhd, Matroska DateUTC, AVI IDIT (FFmpeg's name)
    ("video stream", "creation_time"),  # MP4/MOV the video track's tkhd/mdhd
    ("container", "com.apple.quicktime.creationdate"),  # phones: local time with its UTC offset
)
"""Where :attr:`VideoInfo.creation_time` is read, first found wins."""

Source = Path | OpenedFile  # a checked path, or a file opened once (vt_agent.sandbox)
VideoSource = str | os.PathLike[str] | OpenedFile  # what the public functions take


def _av() -> Any:
    return require("av", "video", "Reading videos")


class VideoInfo(BaseModel):
    """What :func:`probe` found in a video file."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="absolute path")
    file_id: str = Field(description="identity of the file content (see file_id())")
    size_bytes: int
    container: str = Field(description="FFmpeg demuxer name, e.g. 'mov,mp4,m4a,3gp,3g2,mj2', 'avi', 'mpeg'")
    codec: str = Field(description="video codec name, e.g. 'h264'")
    width: int
    height: int
    duration_s: float = Field(description="decoded timeline: last - first pts + one frame interval")
    start_offset_s: float = Field(
        description="presentation time of the first decoded frame on the container clock"
    )
    header_frames: int = Field(description="frame count the container header claims (0: not stated)")
    header_fps: float = Field(description="frame rate the container header claims (0: not stated)")
    decoded_frames: int = Field(description="frames that really decode")
    fps: float = Field(description="real rate: decoded_frames / duration_s")
    has_audio: bool
    creation_time: str | None = Field(
        default=None,
        description="when the file says it was made, as its metadata writes it (e.g. "
        "'2024-05-01T10:20:30.000000Z'); None when it states none",
    )
    creation_time_from: str | None = Field(
        default=None, description="where creation_time was read (see CREATION_TIME_KEYS); None with it"
    )
    frames_verified: bool = Field(
        default=True, description="True when every frame was decoded; False when counted from packets"
    )
    warnings: list[str] = Field(default_factory=list, description="container lies and decode problems found")


@dataclass(frozen=True)
class Timeline:
    """Presentation timestamps of the frames, in output order, plus keyframe positions."""

    pts: tuple[int, ...]
    time_base: Fraction
    keyframes: tuple[int, ...]
    last_duration: float  # seconds the last frame lasts
    verified: bool

    @property
    def start_offset_s(self) -> float:
        return float(self.pts[0] * self.time_base)

    @functools.cached_property
    def times_s(self) -> list[float]:
        """Seconds from the first frame (float(pts * time_base) - first, as PyAV's frame.time)."""
        first = self.start_offset_s
        return [float(p * self.time_base) - first for p in self.pts]

    def frame_duration(self, i: int) -> float:
        """How long frame ``i`` is shown: until the next frame, the last one as long as the one before."""
        if i + 1 < len(self.pts):
            return float((self.pts[i + 1] - self.pts[i]) * self.time_base)
        return self.last_duration

    @property
    def duration_s(self) -> float:
        return float((self.pts[-1] - self.pts[0]) * self.time_base) + self.last_duration


@dataclass(frozen=True)
class _Header:
    container: str
    codec: str
    width: int
    height: int
    header_frames: int
    header_fps: float
    has_audio: bool
    time_base: Fraction
    creation_time: tuple[str, str] | None = None  # (value, where it was read)


# ---------------------------------------------------------------- paths and identity


def check_path(path: str | os.PathLike[str]) -> Path:
    """The resolved path of a readable, non-empty regular file, or a specific VideoError.

    ``file://`` URLs are accepted (as qwen-vl-utils does); other URLs are refused.
    """
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text) or text.startswith("data:"):
        raise VideoNotFoundError(text, "is a URL; vt-agent reads local files only: download it first")
    p = Path(text).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoNotFoundError(p, "no such file; check the path") from None
    except OSError as exc:
        raise VideoNotFoundError(p, f"cannot be read ({exc.strerror or exc})") from None
    check_video_stat(st, p)
    if not os.access(p, os.R_OK):
        raise VideoNotFoundError(p, "is not readable (permission denied)")
    return p.resolve()


_ID_LOCK = threading.Lock()
_ID_CACHE: OrderedDict[tuple[str, int, int], str] = OrderedDict()


def _identity_key(path: Source) -> tuple[str, int, int]:
    """Cache key: (resolved path, size, mtime) of a path; (content identity, size, mtime) of an
    opened file, taken from its descriptor (never from the name)."""
    if isinstance(path, OpenedFile):
        st = path.stat()
        return (f"open:{path.identity()}", st.st_size, st.st_mtime_ns)
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def _size(path: Source) -> int:
    return path.size if isinstance(path, OpenedFile) else path.stat().st_size


def check_source(source: VideoSource) -> Source:
    """:func:`check_path` for a path; an :class:`OpenedFile` (checked when it was opened) as it is."""
    if isinstance(source, OpenedFile):
        source.stat()  # a closed one fails here, with a message naming it
        return source
    return check_path(source)


def file_id(path: VideoSource) -> str:
    """Cheap identity of a file's content: sha256 of size, mtime_ns, the first and last 64 KiB.

    Changes when the file is rewritten (mtime) or its length or ends change; 20 hex digits. For
    an opened file, also of its device and inode (:meth:`OpenedFile.identity`).
    """
    if isinstance(path, OpenedFile):
        return path.identity()
    p = check_path(path)
    key = _identity_key(p)
    with _ID_LOCK:
        got = _ID_CACHE.get(key)
    if got is not None:
        return got
    size = key[1]
    h = hashlib.sha256(f"{size}:{key[2]}:".encode())
    with p.open("rb") as f:
        h.update(f.read(ID_CHUNK))
        if size > ID_CHUNK:
            f.seek(max(ID_CHUNK, size - ID_CHUNK))
            h.update(f.read(ID_CHUNK))
    fid = h.hexdigest()[:20]
    with _ID_LOCK:
        _ID_CACHE[key] = fid
        while len(_ID_CACHE) > 4 * _PROBE_CACHE_SIZE:
            _ID_CACHE.popitem(last=False)
    return fid


# ---------------------------------------------------------------- opening

_THREADS = threading.local()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Prepare videos in the calling thread only, inside the block (this thread only): codecs
    without threads of their own, one decoder, conversions inline. For pools that already run
    one preparation per core, where extra threads per video only add hand-offs (bench/pipeline.py)."""
    before = single_threaded()
    _THREADS.one = True
    try:
        yield
    finally:
        _THREADS.one = before


def single_threaded() -> bool:
    """Whether this thread is inside :func:`one_thread`."""
    return bool(getattr(_THREADS, "one", False))


def open_video(path: Source) -> tuple[Any, Any]:
    """(container, first video stream) or a specific VideoError."""
    av = _av()
    # an opened file is read through a reader of its own (own descriptor and position), which
    # the container closes with itself
    reader = path.reader() if isinstance(path, OpenedFile) else None
    try:
        try:
            container = av.open(str(path) if reader is None else reader, metadata_errors="ignore")
        except BaseException:
            if reader is not None:
                reader.close()
            raise
    except av.error.InvalidDataError:
        raise VideoDecodeError(
            str(path),
            "is not a video FFmpeg can read (invalid data: not a media file, or truncated or corrupt)",
        ) from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoDecodeError(str(path), f"cannot be opened as a video ({exc})") from None
    art = int(av.stream.Disposition.attached_pic)
    videos = [s for s in container.streams.video if not int(s.disposition) & art]
    if not videos:
        kinds = sorted({s.type for s in container.streams})
        codecs = sorted(
            {getattr(s.codec_context, "name", "?") for s in container.streams if s.type == "audio"}
        )
        cover = " with cover art" if container.streams.video else ""
        container.close()
        what = (
            f"audio only ({', '.join(codecs)}){cover}" if codecs else f"streams: {', '.join(kinds) or 'none'}"
        )
        raise UnsupportedVideoError(
            str(path), f"has no video stream ({what}); give a file with a video track"
        )
    stream = videos[0]
    ctx = stream.codec_context
    name = getattr(ctx, "name", None) if ctx is not None else None
    if ctx is None or not name or name == "none":
        container.close()
        raise UnsupportedVideoError(
            str(path), "its video codec is unknown to FFmpeg (no decoder); re-encode it, e.g. to H.264 MP4"
        )
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    try:
        limits.check_frame_size(str(path), width, height)
    except BaseException:
        container.close()
        raise
    # frame threads hold a frame each: very large frames decode with slice threads only
    if single_threaded():
        stream.thread_type = "NONE"
    else:
        stream.thread_type = "AUTO" if width * height <= LARGE_FRAME_PIXELS else "SLICE"
    return container, stream


def _creation_time(container: Any, stream: Any) -> tuple[str, str] | None:
    for where, key in CREATION_TIME_KEYS:
        meta = container.metadata if where == "container" else stream.metadata
        value = str(meta.get(key) or "").strip()
        if value:
            return value, f"{where} {key}"
    return None


def _header(container: Any, stream: Any) -> _Header:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return _Header(
        container=str(container.format.name),
        codec=str(ctx.name),
        width=int(ctx.width or 0),
        height=int(ctx.height or 0),
        header_frames=int(stream.frames or 0),
        header_fps=float(rate) if rate else 0.0,
        has_audio=bool(container.streams.audio),
        time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000),
        creation_time=_creation_time(container, stream),
    )


def _single_duration(dur_ticks: int | None, tb: Fraction, header_fps: float) -> float:
    if dur_ticks:
        return float(dur_ticks * tb)
    return 1.0 / header_fps if header_fps > 0 else 1.0 / DEFAULT_FPS


def safe_demux(container: Any, stream: Any, problems: list[str]) -> Iterator[Any]:
    """Packets of ``stream``; a read error (truncated file) ends the stream and is noted."""
    av = _av()
    it = container.demux(stream)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            problems.append(f"reading stopped early: {exc}")
            return
        yield packet


def decode_packet(packet: Any, stream: Any, problems: list[str], path: Source) -> list[Any]:
    """Frames from one packet (None flushes); a decode error drops the packet and is noted."""
    av = _av()
    try:
        if packet is None:
            return list(stream.codec_context.decode(None))
        return list(packet.decode())
    except av.error.DecoderNotFoundError as exc:
        raise UnsupportedVideoError(str(path), f"no decoder for this video codec ({exc})") from None
    except av.error.FFmpegError as exc:
        problems.append(str(exc))
        return []


# ---------------------------------------------------------------- the two passes


@dataclass
class KeptPackets:
    """The packets of a demux-only pass, kept (compressed) with their still open container.

    Only made when demux order is presentation order (no reordered frames), so ``packets[i]``
    is the frame at timeline position ``i``. Close it when done.
    """

    container: Any
    stream: Any
    packets: list[Any]

    def close(self) -> None:
        self.container.close()


def _scan_packets(path: Source, keep_bytes: int = 0) -> tuple[_Header, Timeline | None, KeptPackets | None]:
    """Demux-only pass: the packet timeline (None when packets cannot stand for frames).

    With ``keep_bytes`` > 0 the packets are also kept (see KeptPackets) when they are in
    presentation order and hold at most that many bytes; the container then stays open.
    """
    container, stream = open_video(path)
    kept: list[Any] | None = [] if keep_bytes > 0 else None
    try:
        head = _header(container, stream)
        pts: list[int] = []
        keys: set[int] = set()
        last_dur: int | None = None
        problems: list[str] = []
        usable = True
        in_order = True
        held = 0
        for packet in safe_demux(container, stream, problems):
            if packet.size == 0:
                continue
            if packet.pts is None:
                usable = False
                break
            p = int(packet.pts)
            if pts and p <= pts[-1]:
                in_order = False
            pts.append(p)
            last_dur = packet.duration
            if packet.is_keyframe:
                keys.add(p)
            if kept is not None:
                held += packet.size
                if in_order and held <= keep_bytes:
                    kept.append(packet)
                else:
                    kept = None
    except BaseException:
        container.close()
        raise
    tl = _packet_timeline(head, pts, keys, last_dur) if usable and pts and not problems else None
    if tl is None or kept is None:
        container.close()
        return head, tl, None
    return head, tl, KeptPackets(container, stream, kept)


def _packet_timeline(head: _Header, pts: list[int], keys: set[int], last_dur: int | None) -> Timeline | None:
    order = sorted(pts)
    if len(set(order)) != len(order):
        return None  # duplicate timestamps: only decoding tells
    keyframes = tuple(i for i, p in enumerate(order) if p in keys)
    if not keyframes or keyframes[0] != 0:
        return None  # stream does not start on a keyframe: leading frames may not decode
    tb = head.time_base
    last = (
        float((order[-1] - order[-2]) * tb)
        if len(order) > 1
        else _single_duration(last_dur, tb, head.header_fps)
    )
    return Timeline(tuple(order), tb, keyframes, last, verified=False)


def decode_timeline(path: Source) -> tuple[_Header, Timeline, list[str], tuple[int, int]]:
    """One streaming pass decoding every frame (none kept): the true timeline.

    Returns header, timeline, problems, and the decoded frame size (width, height).
    """
    container, stream = open_video(path)
    problems: list[str] = []
    with container:
        head = _header(container, stream)
        tb = head.time_base
        pts: list[int] = []
        keys: list[int] = []
        size = (head.width, head.height)
        missing_pts = 0
        last_dur: int | None = None
        packets = safe_demux(container, stream, problems)
        for packet in with_flush(packets):
            for frame in decode_packet(packet, stream, problems, path):
                if not pts or (frame.width, frame.height) != size:
                    limits.check_frame_size(str(path), frame.width, frame.height)
                if not pts:
                    size = (frame.width, frame.height)
                p = frame.pts
                if p is None:
                    missing_pts += 1
                    step = round(1 / ((head.header_fps or DEFAULT_FPS) * tb))
                    p = pts[-1] + step if pts else 0
                if frame.key_frame:
                    keys.append(len(pts))
                pts.append(int(p))
                last_dur = getattr(frame, "duration", None)
    if not pts:
        detail = f" ({problems[0]})" if problems else ""
        raise VideoDecodeError(str(path), f"no frame decodes: the file is truncated or corrupt{detail}")
    warn: list[str] = []
    if problems:
        warn.append(f"{len(problems)} decode problem(s), frames may be missing: {problems[0]}")
    if missing_pts:
        warn.append(f"{missing_pts} frame(s) had no timestamp; timed at the header rate")
    if any(b <= a for a, b in itertools.pairwise(pts)):
        warn.append("presentation timestamps are not increasing; frames kept in decode order")
    if not keys or keys[0] != 0:
        keys.insert(0, 0)
    last = (
        float((pts[-1] - pts[-2]) * tb) if len(pts) > 1 else _single_duration(last_dur, tb, head.header_fps)
    )
    if last <= 0:
        last = _single_duration(None, tb, head.header_fps)
    return head, Timeline(tuple(pts), tb, tuple(keys), last, verified=True), warn, size


def with_flush(packets: Iterator[Any]) -> Iterator[Any]:
    """Packets, then None to flush the decoder (PyAV's own flush packet is skipped)."""
    for packet in packets:
        if packet.size == 0 and packet.pts is None:
            continue
        yield packet
    yield None


# ---------------------------------------------------------------- VideoInfo and caches


def make_info(
    path: Source, fid: str, head: _Header, tl: Timeline, size: tuple[int, int], problems: list[str]
) -> VideoInfo:
    n = len(tl.pts)
    duration = tl.duration_s
    fps = n / duration if duration > 0 else 0.0
    warn = list(problems)
    if head.header_frames and head.header_frames != n:
        warn.append(f"container header claims {head.header_frames} frames, {n} decode")
    if head.header_fps and fps and abs(head.header_fps - fps) > 0.01 * fps:
        warn.append(f"container header says {head.header_fps:g} fps, frames decode at {fps:.4g} fps")
    if timing := limits.timing_warning(n, duration, head.header_fps):
        warn.append(timing)
    return VideoInfo(
        path=str(path),
        file_id=fid,
        size_bytes=_size(path),
        container=head.container,
        codec=head.codec,
        width=size[0],
        height=size[1],
        duration_s=duration,
        start_offset_s=tl.start_offset_s,
        header_frames=head.header_frames,
        header_fps=head.header_fps,
        decoded_frames=n,
        fps=fps,
        has_audio=head.has_audio,
        creation_time=head.creation_time[0] if head.creation_time else None,
        creation_time_from=head.creation_time[1] if head.creation_time else None,
        frames_verified=tl.verified,
        warnings=warn,
    )


class _Cache:
    """A small thread-safe LRU of (VideoInfo, Timeline) by file identity."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.data: OrderedDict[tuple[str, int, int], tuple[VideoInfo, Timeline]] = OrderedDict()

    def get(self, key: tuple[str, int, int]) -> tuple[VideoInfo, Timeline] | None:
        with self.lock:
            got = self.data.get(key)
            if got is not None:
                self.data.move_to_end(key)
            return got

    def put(self, key: tuple[str, int, int], value: tuple[VideoInfo, Timeline]) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


DECODED = _Cache(_PROBE_CACHE_SIZE)  # verified: every frame decoded
PACKETS = _Cache(_PROBE_CACHE_SIZE)  # from the packet index


def probe_full(path: Source, *, cache: bool = True) -> tuple[VideoInfo, Timeline]:
    """Decoded timeline and info for a checked path (cached by path, size and mtime)."""
    key = _identity_key(path)
    if cache and (got := DECODED.get(key)) is not None:
        return got
    fid = file_id(path)
    head, tl, problems, size = decode_timeline(path)
    out = (make_info(path, fid, head, tl, size, problems), tl)
    if cache:
        DECODED.put(key, out)
    return out


def remember_decoded(path: Source, info: VideoInfo, tl: Timeline) -> None:
    """Store a timeline that a sampling pass verified frame by frame over the whole file."""
    DECODED.put(_identity_key(path), (info, tl))


def probe_packets(path: Source, *, cache: bool = True) -> tuple[VideoInfo, Timeline] | None:
    """The packet timeline (cheap), or the decoded one if already known; None if unusable."""
    return probe_packets_keeping(path, cache=cache)[0]


def probe_packets_keeping(
    path: Source, *, cache: bool = True, keep_bytes: int = 0
) -> tuple[tuple[VideoInfo, Timeline] | None, KeptPackets | None]:
    """Like probe_packets; when it has to scan, also the packets it read (see _scan_packets).

    A timeline found in the caches comes without packets. The caller closes what is kept.
    """
    key = _identity_key(path)
    if cache:
        got = DECODED.get(key) or PACKETS.get(key)
        if got is not None:
            return got, None
    head, tl, kept = _scan_packets(path, keep_bytes)
    if tl is None:
        return None, None
    try:
        out = (make_info(path, file_id(path), head, tl, (head.width, head.height), []), tl)
    except BaseException:
        if kept is not None:
            kept.close()
        raise
    if cache:
        PACKETS.put(key, out)
    return out, kept


def probe(path: VideoSource, *, cache: bool = True, decode_all: bool = True) -> VideoInfo:
    """Container, codec, size, header claims and the decoded timeline of a video file.

    Decodes every frame once (without converting or keeping any); cached by resolved path,
    size and mtime. With ``decode_all=False`` a timeline already known, or else the packet
    index (``frames_verified=False``), is enough: fast on long videos. Raises
    VideoNotFoundError, VideoDecodeError or UnsupportedVideoError. ``path`` may be an
    :class:`~vt_agent.sandbox.OpenedFile`: then every read goes through its descriptor.
    """
    p = check_source(path)
    if not decode_all:
        got = probe_packets(p, cache=cache)
        if got is not None:
            return got[0]
    return probe_full(p, cache=cache)[0]


def clear_probe_cache() -> None:
    DECODED.clear()
    PACKETS.clear()
    with _ID_LOCK:
        _ID_CACHE.clear()
