"""Frame sampling: which frames the model sees, decoded with as little work as possible."""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import math
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from vt_agent.errors import VideoDecodeError, WindowError
from vt_agent.result import SamplingRecord
from vt_agent.video import limits
from vt_agent.video import probing as _probe
from vt_agent.video.cache import FRAMES
from vt_agent.video.decoding import CONVERT_WORKERS, _Mismatch, collect
from vt_agent.video.inputs import TEMPORAL_PATCH_SIZE, grid_thw, video_tokens
from vt_agent.video.prepared import PreparedVideo
from vt_agent.video.presets import DEFAULT_PRESET, Preset, get_preset, smart_nframes
from vt_agent.video.resize import resize_rgb, smart_resize

__all__ = [
    "KEEP_PACKETS_MAX",
    "cached_sample",
    "keep_sample",
    "linspace_indices",
    "sample",
]

KEEP_PACKETS_MAX = 128 * 2**20  # a cold sample keeps up to this many bytes of packets from its scan


def linspace_indices(start: int, end: int, n: int) -> list[int]:
    """``torch.linspace(start, end, n).round().long()`` exactly (float32, symmetric steps, half to even)."""
    if n <= 0:
        return []
    if n == 1:
        return [start]
    s, e = np.float32(start), np.float32(end)
    step = np.float32((e - s) / np.float32(n - 1))
    i = np.arange(n)
    half = n // 2
    lo = s + step * i[:half].astype(np.float32)
    hi = e - step * (n - 1 - i[half:]).astype(np.float32)
    vals = np.concatenate([lo, hi]).astype(np.float32)
    return [int(v) for v in np.rint(vals)]


def _window_positions(
    path: _probe.Source, tl: _probe.Timeline, start_s: float | None, end_s: float | None
) -> tuple[int, int, tuple[float, float] | None]:
    """First and last timeline positions inside the window, and the window as recorded."""
    n = len(tl.pts)
    if start_s is None and end_s is None:
        return 0, n - 1, None
    duration = tl.duration_s
    start = 0.0 if start_s is None else float(start_s)
    end = duration if end_s is None else float(end_s)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise WindowError(
            str(path), f"window [{start_s}, {end_s}] is not a pair of finite numbers of seconds"
        )
    if end_s is None and start >= duration:
        raise WindowError(
            str(path),
            f"window start {start:g} s is not before the end of the clip ({duration:.3f} s); pick an earlier start",
        )
    if end <= start:
        raise WindowError(str(path), f"window end {end:g} s is not after its start {start:g} s")
    if start >= duration or end <= 0:
        raise WindowError(
            str(path),
            f"window [{start:g}, {end:g}] s lies outside the clip, which runs from 0 to {duration:.3f} s",
        )
    start, end = round(max(0.0, start), 6), round(min(duration, end), 6)  # as recorded
    times = tl.times_s
    first = bisect.bisect_left(times, start - 1e-9)
    last = bisect.bisect_right(times, end + 1e-9) - 1
    if last < first:  # a window narrower than one frame: the frame on screen at its start
        first = last = max(0, bisect.bisect_right(times, start + 1e-9) - 1)
    return first, last, (start, end)


def _plan(preset: Preset, tl: _probe.Timeline, first: int, last: int) -> tuple[list[int], float]:
    """Sampled positions (qwen-vl-utils rule) and sampled_fps over the decoded span."""
    available = last - first + 1
    span = float((tl.pts[last] - tl.pts[first]) * tl.time_base) + tl.frame_duration(last)
    n = smart_nframes(preset, available, span)
    positions = [first + i for i in linspace_indices(0, available - 1, n)]
    return positions, len(positions) / span


def _gather(
    path: _probe.Source,
    preset: Preset,
    start_s: float | None,
    end_s: float | None,
    cache: bool,
    known: tuple[_probe.VideoInfo, _probe.Timeline] | None = None,
) -> tuple[_probe.VideoInfo, _probe.Timeline, list[int], float, dict[int, np.ndarray], tuple[int, int]]:
    size: list[tuple[int, int]] = []

    def convert(frame: Any) -> np.ndarray:
        if not size:
            h, w = smart_resize(
                frame.height, frame.width, min_pixels=preset.min_pixels, max_pixels=preset.max_pixels
            )
            size.append((w, h))
        w, h = size[0]
        return resize_rgb(frame.to_ndarray(format="rgb24"), w, h)

    kept: _probe.KeptPackets | None = None
    if known is None:
        got, kept = _probe.probe_packets_keeping(path, cache=cache, keep_bytes=KEEP_PACKETS_MAX)
    else:
        got = known
    if got is not None:
        info, tl = got
        limits.check_timeline(str(path), len(tl.pts), tl.duration_s)
        try:
            first, last, _ = _window_positions(path, tl, start_s, end_s)
            positions, fps = _plan(preset, tl, first, last)
            try:
                frames, whole = collect(
                    path, tl, positions, convert, seek=True, workers=CONVERT_WORKERS, kept=kept
                )
            except _Mismatch:
                if tl.verified:
                    raise
                size.clear()
                frames, whole = collect(path, tl, positions, convert, seek=False, workers=CONVERT_WORKERS)
            if whole and not tl.verified:  # every frame decoded as the packets said: now verified
                tl = _probe.Timeline(tl.pts, tl.time_base, tl.keyframes, tl.last_duration, verified=True)
                info = info.model_copy(update={"frames_verified": True})
                if cache:
                    _probe.remember_decoded(path, info, tl)
            return info, tl, positions, fps, frames, size[0]
        except _Mismatch:
            size.clear()
        finally:
            if kept is not None:
                kept.close()
    # the packets do not tell the truth (or cannot): decode everything once, then sample
    info, tl = _probe.probe_full(path, cache=cache)
    limits.check_timeline(str(path), len(tl.pts), tl.duration_s)
    first, last, _ = _window_positions(path, tl, start_s, end_s)
    positions, fps = _plan(preset, tl, first, last)
    try:
        frames, _ = collect(path, tl, positions, convert, seek=False, workers=CONVERT_WORKERS)
    except _Mismatch as exc:
        raise VideoDecodeError(
            str(path), f"frames decode differently on a second pass ({exc}); the file is damaged"
        ) from None
    return info, tl, positions, fps, frames, size[0]


def sample(
    path: _probe.VideoSource,
    preset: str | Preset = DEFAULT_PRESET,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    cache: bool = True,
) -> PreparedVideo:
    """Sample and resize frames as the model was trained (docs/protocol.md, Video input).

    Indices are ``round(linspace(0, total - 1, n))`` over the frames that really decode inside
    the window (all of the clip by default); ``n`` from the preset, even, never above the frames
    available. Timestamps and indices are global (seconds from the first decoded frame).
    ``sampled_fps = n / decoded duration of the sampled span``, ``second_per_grid_ts = 2 / sampled_fps``.
    Cached by file identity + preset + window unless ``cache=False``. ``path`` may be an
    :class:`~vt_agent.sandbox.OpenedFile`: every read then goes through its descriptor.
    """
    p = _probe.check_source(path)
    pre = get_preset(preset)
    fid, key, known = _lookup_key(p, pre, start_s, end_s, cache)
    if not cache:
        return _prepare(p, fid, pre, start_s, end_s, False, known)
    hit = FRAMES.get(key)
    if hit is not None:
        return hit
    with _inflight(key):  # callers asking for the same frames at once decode them once
        hit = FRAMES.get(key)
        if hit is not None:
            return hit
        prepared = _prepare(p, fid, pre, start_s, end_s, True, known)
        _remember(fid, pre, key, prepared)
    return prepared


def _remember(fid: str, pre: Preset, key: str, prepared: PreparedVideo) -> None:
    """Cache ``prepared`` under the key of the window it recorded, and under ``key`` (the one looked
    up) when they differ: the packets and the decoded timeline disagreed on the window."""
    FRAMES.put(prepared_key := _cache_key(fid, pre, prepared.record.window), prepared)
    if key != prepared_key:
        FRAMES.put(key, prepared)


def _lookup_key(
    p: _probe.Source, pre: Preset, start_s: float | None, end_s: float | None, cache: bool = True
) -> tuple[str, str, tuple[_probe.VideoInfo, _probe.Timeline] | None]:
    """The file's identity, the frame cache key of ``sample`` and the probe it took (windows only)."""
    fid = _probe.file_id(p)
    window: tuple[float, float] | None = None
    known: tuple[_probe.VideoInfo, _probe.Timeline] | None = None
    if start_s is not None or end_s is not None:  # the key holds the window as clamped to the clip
        known = _probe.probe_packets(p, cache=cache) or _probe.probe_full(p, cache=cache)
        window = _window_positions(p, known[1], start_s, end_s)[2]
    return fid, _cache_key(fid, pre, window), known


def cached_sample(
    path: _probe.VideoSource,
    preset: str | Preset = DEFAULT_PRESET,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
) -> PreparedVideo | None:
    """The frames :func:`sample` would give if the frame cache holds them, else None (nothing decoded;
    a window needs the file's packets probed once)."""
    return FRAMES.get(_lookup_key(_probe.check_source(path), get_preset(preset), start_s, end_s)[1])


def keep_sample(
    path: _probe.VideoSource,
    prepared: PreparedVideo,
    preset: str | Preset = DEFAULT_PRESET,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
) -> PreparedVideo:
    """Put frames that :func:`sample` gave elsewhere (another process) in this process's frame cache,
    under the keys ``sample`` looks up; they become read-only, as ``sample``'s are. Returns ``prepared``."""
    p, pre = _probe.check_source(path), get_preset(preset)
    prepared.frames.flags.writeable = False
    fid, key, _ = _lookup_key(p, pre, start_s, end_s)
    _remember(fid, pre, key, prepared)
    return prepared


_INFLIGHT_LOCK = threading.Lock()
_INFLIGHT: dict[str, tuple[threading.Lock, int]] = {}


@contextlib.contextmanager
def _inflight(key: str) -> Iterator[None]:
    """Hold the per-key lock for ``key`` (shared by concurrent callers, dropped when unused)."""
    with _INFLIGHT_LOCK:
        lock, users = _INFLIGHT.get(key, (threading.Lock(), 0))
        _INFLIGHT[key] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _INFLIGHT_LOCK:
            lock, users = _INFLIGHT[key]
            if users == 1:
                del _INFLIGHT[key]
            else:
                _INFLIGHT[key] = (lock, users - 1)


def _prepare(
    p: _probe.Source,
    fid: str,
    pre: Preset,
    start_s: float | None,
    end_s: float | None,
    cache: bool,
    known: tuple[_probe.VideoInfo, _probe.Timeline] | None,
) -> PreparedVideo:
    """Decode, resize and record one sample (no frame cache involved)."""
    info, tl, positions, fps, frames, (w, h) = _gather(p, pre, start_s, end_s, cache, known)
    if timing := limits.timing_warning(len(tl.pts), tl.duration_s, info.header_fps):
        warnings.warn(f"{p}: {timing}", limits.VideoTimingWarning, stacklevel=4)
    _, _, window = _window_positions(p, tl, start_s, end_s)
    stack = np.stack([frames[i] for i in positions])
    stack.flags.writeable = False
    times = tl.times_s
    record = SamplingRecord(
        path=str(p),
        file_id=fid,
        preset=pre.name,
        window=window,
        duration_s=tl.duration_s,
        decoded_frames=len(tl.pts),
        indices=positions,
        timestamps_s=[times[i] for i in positions],
        sampled_fps=fps,
        second_per_grid_ts=TEMPORAL_PATCH_SIZE / fps,
        resized=(w, h),
        grid_thw=grid_thw(len(positions), h, w),
        video_tokens=video_tokens(len(positions), h, w),
    )
    return PreparedVideo(frames=stack, record=record)


def _cache_key(fid: str, preset: Preset, window: tuple[float, float] | None) -> str:
    """Like SamplingRecord.cache_key, with the window to the microsecond and a fingerprint of the preset."""
    win = "" if window is None else f"@{window[0]!r}-{window[1]!r}"
    return f"{fid}:{preset.name}{win}|{_fingerprint(preset)}"


@functools.lru_cache(maxsize=64)
def _fingerprint(preset: Preset) -> str:
    """Short hash of a preset's values (presets are frozen, hence hashable)."""
    return hashlib.sha256(preset.model_dump_json().encode()).hexdigest()[:12]
