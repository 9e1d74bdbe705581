"""Frame sampling: which frames the model sees, decoded with as little work as possible."""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from vt_agent.errors import VideoDecodeError, WindowError
from vt_agent.result import SamplingRecord
from vt_agent.video import probing as _probe
from vt_agent.video.cache import FRAMES
from vt_agent.video.inputs import TEMPORAL_PATCH_SIZE, grid_thw, video_tokens
from vt_agent.video.prepared import PreparedVideo
from vt_agent.video.presets import DEFAULT_PRESET, Preset, get_preset, smart_nframes
from vt_agent.video.resize import resize_rgb, smart_resize

SEEK_MIN_SKIP = 48  # seek only when it skips at least this many frames of decoding
CONVERT_WORKERS = 2  # threads converting + resizing kept frames while decoding continues
DECODE_WORKERS = 2  # decoders working on separate keyframe segments at once (kept packets)
PARALLEL_MIN_FRAMES = 48  # a second decoder only when at least this many frames are to decode
KEEP_PACKETS_MAX = 128 * 2**20  # a cold sample keeps up to this many bytes of packets from its scan


class _Mismatch(Exception):
    """Decoded frames disagree with the timeline used to plan the decode."""


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


def _frames_from(container: Any, stream: Any, problems: list[str], path: _probe.Source) -> Iterator[Any]:
    for packet in _probe.with_flush(_probe.safe_demux(container, stream, problems)):
        yield from _probe.decode_packet(packet, stream, problems, path)


def collect(
    path: _probe.Source,
    tl: _probe.Timeline,
    positions: list[int],
    convert: Callable[[Any], np.ndarray],
    *,
    seek: bool = True,
    workers: int = 0,
    kept: _probe.KeptPackets | None = None,
) -> tuple[dict[int, np.ndarray], bool]:
    """Decode the frames at ``positions`` (converted with ``convert``).

    With ``kept`` packets (in presentation order, one per timeline position) only each wanted
    frame's keyframe segment up to it is decoded, segments in DECODE_WORKERS threads (see
    _Segments). Otherwise one forward pass over the file, which seeks to the keyframe before a
    wanted frame when that skips at least SEEK_MIN_SKIP frames and decodes forward otherwise.
    Every decoded frame is checked against ``tl``: a frame it does not list, or one it lists
    that does not decode, raises _Mismatch. Returns the frames and whether every frame of the
    file decoded in order (then ``tl`` is verified). With ``workers`` > 0 conversions run in
    that many threads while decoding goes on (PyAV and Pillow release the GIL).
    """
    if kept is not None:
        return _Segments(path, tl, convert, kept).run(sorted(set(positions)), workers)
    if workers <= 0:
        return _Pass(path, tl, convert, None).run(positions, seek)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vt-video") as pool:
        return _Pass(path, tl, convert, pool).run(positions, seek)


def _segment_frames(ctx: Any, packets: list[Any]) -> Iterator[Any]:
    """Frames of ``packets`` decoded with ``ctx`` from a keyframe, then drained; ``ctx`` is left
    flushed for the next segment. Any decoding error is a _Mismatch (the caller then decodes the
    plain way, which records problems)."""
    av = _probe._av()
    try:
        for packet in packets:
            yield from ctx.decode(packet)
        yield from ctx.decode(None)
    except av.error.FFmpegError as exc:
        raise _Mismatch(f"decoding error ({exc})") from None
    finally:
        ctx.flush_buffers()


class _Segments:
    """Decode wanted frames from kept packets, one keyframe segment at a time.

    A segment runs from the keyframe before a wanted frame to the last wanted frame before the
    next keyframe; frames after it up to the next keyframe are not decoded at all (their
    timestamps come from the packets, as for stretches skipped by seeking). Contiguous segments
    merge into one run. With enough work and DECODE_WORKERS > 1, a second thread with its own
    decoder takes segments too (longest first); both decoders then run single-threaded (no
    frame-thread hand-offs competing for two cores) and convert their own frames. A single run
    uses the codec's own threads and converts frames in a pool of ``workers`` threads.
    """

    def __init__(
        self,
        path: _probe.Source,
        tl: _probe.Timeline,
        convert: Callable[[Any], np.ndarray],
        kept: _probe.KeptPackets,
    ) -> None:
        self.path, self.tl, self.convert, self.kept = path, tl, convert, kept
        self.done: dict[int, np.ndarray] = {}
        self.lock = threading.Lock()

    def runs(self, wanted: list[int]) -> list[tuple[int, int]]:
        """(first, last) positions to decode, each starting at a keyframe."""
        keys = self.tl.keyframes
        out: list[tuple[int, int]] = []
        for pos in wanted:
            k = keys[bisect.bisect_right(keys, pos) - 1]
            if out and k <= out[-1][1] + 1:
                out[-1] = (out[-1][0], pos)
            else:
                out.append((k, pos))
        return out

    def run(self, wanted: list[int], workers: int) -> tuple[dict[int, np.ndarray], bool]:
        packets, pts = self.kept.packets, self.tl.pts
        if len(packets) != len(pts) or any(int(p.pts) != t for p, t in zip(packets, pts, strict=True)):
            raise _Mismatch("the kept packets and the timeline disagree")
        if not wanted:
            return {}, False
        runs = self.runs(wanted)
        todo = sum(last - first + 1 for first, last in runs)
        whole = runs == [(0, len(pts) - 1)]
        wanted_set = set(wanted)
        ctx = self.kept.stream.codec_context
        if DECODE_WORKERS > 1 and len(runs) > 1 and todo >= PARALLEL_MIN_FRAMES:
            queue = sorted(runs, key=lambda r: r[0] - r[1])  # longest first
            ctx.thread_type = "NONE"
            with ThreadPoolExecutor(max_workers=DECODE_WORKERS - 1, thread_name_prefix="vt-decode") as pool:
                helpers = [pool.submit(self._helper, queue, wanted_set) for _ in range(DECODE_WORKERS - 1)]
                try:
                    self._work(ctx, queue, wanted_set, None)
                finally:
                    with self.lock:
                        queue.clear()  # stop the helpers early if this thread failed
                    errors = [f.exception() for f in helpers]
                for exc in errors:
                    if exc is not None:
                        raise exc
            return self.done, whole
        if workers <= 0:
            self._work(ctx, runs, wanted_set, None)
            return self.done, whole
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vt-video") as conv:
            pending: dict[int, Future[np.ndarray]] = {}
            try:
                self._work(ctx, runs, wanted_set, pending, conv)
                for pos, fut in pending.items():
                    self.done[pos] = fut.result()
            finally:
                for fut in pending.values():
                    fut.cancel()
        return self.done, whole

    def _helper(self, queue: list[tuple[int, int]], wanted: set[int]) -> None:
        with self.lock:
            if not queue:
                return
        container, stream = _probe.open_video(self.path)
        try:
            stream.thread_type = "NONE"
            self._work(stream.codec_context, queue, wanted, None)
        finally:
            container.close()

    def _work(
        self,
        ctx: Any,
        queue: list[tuple[int, int]],
        wanted: set[int],
        pending: dict[int, Future[np.ndarray]] | None,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        """Decode runs taken from the front of ``queue`` until it is empty."""
        pts = self.tl.pts
        while True:
            with self.lock:
                if not queue:
                    return
                first, last = queue.pop(0)
            pos = first
            for frame in _segment_frames(ctx, self.kept.packets[first : last + 1]):
                if pos > last or frame.pts != pts[pos]:
                    raise _Mismatch(f"decoded a frame at pts {frame.pts} where frame {pos} was expected")
                if pos in wanted:
                    if pending is not None and pool is not None:
                        pending[pos] = pool.submit(self.convert, frame)
                    else:
                        self.done[pos] = self.convert(frame)
                pos += 1
            if pos != last + 1:
                raise _Mismatch(f"frames {pos}..{last} did not decode")


class _Pass:
    """One decoding pass over a file, keeping the converted frames at wanted positions."""

    def __init__(
        self,
        path: _probe.Source,
        tl: _probe.Timeline,
        convert: Callable[[Any], np.ndarray],
        pool: ThreadPoolExecutor | None,
    ) -> None:
        self.path, self.tl, self.convert, self.pool = path, tl, convert, pool
        self.pos_of = {p: i for i, p in enumerate(tl.pts)}
        self.problems: list[str] = []
        self.done: dict[int, np.ndarray] = {}
        self.pending: dict[int, Future[np.ndarray]] = {}

    def run(self, positions: list[int], seek: bool) -> tuple[dict[int, np.ndarray], bool]:
        container, stream = _probe.open_video(self.path)
        try:
            whole = self._decode(container, stream, sorted(set(positions)), seek)
            for pos, fut in self.pending.items():
                self.done[pos] = fut.result()
        finally:
            for fut in self.pending.values():
                fut.cancel()
            container.close()
        return self.done, whole and not self.problems

    def _frames(self, container: Any, stream: Any) -> Iterator[Any]:
        return _frames_from(container, stream, self.problems, self.path)

    def _keep(self, pos: int, frame: Any) -> None:
        if self.pool is None:
            self.done[pos] = self.convert(frame)
        else:
            self.pending[pos] = self.pool.submit(self.convert, frame)

    def _locate(self, pts: int | None, cur: int, after_seek: bool) -> int:
        """Timeline position of a decoded frame: the next one when its pts matches (or it has
        none: raw streams, timed at the header rate by probing.decode_timeline), else by pts."""
        nxt = cur + 1
        if not after_seek and nxt < len(self.tl.pts) and (pts is None or pts == self.tl.pts[nxt]):
            return nxt
        pos = self.pos_of.get(pts) if pts is not None else None
        if pos is None:
            raise _Mismatch(f"decoded a frame at pts {pts} that the timeline lacks")
        return pos

    def _decode(self, container: Any, stream: Any, wanted: list[int], seek: bool) -> bool:
        tl, wanted_set = self.tl, set(wanted)
        frames = self._frames(container, stream)
        cur = -1  # position of the last decoded frame
        whole = True  # every frame so far decoded in order from the first
        for target in wanted:
            if target <= cur:
                continue
            after_seek = False
            if seek:
                k = tl.keyframes[bisect.bisect_right(tl.keyframes, target) - 1]
                if k > cur + SEEK_MIN_SKIP:
                    container.seek(tl.pts[k], stream=stream, backward=True, any_frame=False)
                    stream.codec_context.flush_buffers()
                    frames = self._frames(container, stream)
                    after_seek, whole = True, False
            while cur < target:
                frame = next(frames, None)
                if frame is None:
                    raise _Mismatch(f"decoding ended at frame {cur}, before frame {target}")
                pos = self._locate(frame.pts, cur, after_seek)
                if after_seek:
                    if pos > target:
                        raise _Mismatch(f"seek landed after frame {target}")
                    after_seek = False
                elif pos != cur + 1:
                    raise _Mismatch(f"frame {cur + 1} did not decode (got {pos})")
                cur = pos
                if pos in wanted_set:
                    self._keep(pos, frame)
        if not (whole and cur == len(tl.pts) - 1):
            return False
        if next(frames, None) is not None:
            raise _Mismatch("more frames decode than the timeline lists")
        return True


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
    fid = _probe.file_id(p)
    window: tuple[float, float] | None = None
    known: tuple[_probe.VideoInfo, _probe.Timeline] | None = None
    if start_s is not None or end_s is not None:  # the key holds the window as clamped to the clip
        known = _probe.probe_packets(p, cache=cache) or _probe.probe_full(p, cache=cache)
        window = _window_positions(p, known[1], start_s, end_s)[2]
    key = _cache_key(fid, pre, window)
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
        FRAMES.put(prepared_key := _cache_key(fid, pre, prepared.record.window), prepared)
        if key != prepared_key:  # the packets and the decoded timeline disagreed on the window
            FRAMES.put(key, prepared)
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
    _info, tl, positions, fps, frames, (w, h) = _gather(p, pre, start_s, end_s, cache, known)
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
