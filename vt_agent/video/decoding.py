"""Decoding the sampled frames with as little work, and as little memory, as possible.

Frames are converted (RGB + resize) as they are decoded, with at most a few in flight, so a fast
decoder never piles up full-size frames: memory stays near one source frame however large it is.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from vt_agent.video import limits
from vt_agent.video import probing as _probe

__all__ = [
    "CONVERT_WORKERS",
    "DECODE_WORKERS",
    "FRAME_BUDGET_BYTES",
    "PARALLEL_MIN_FRAMES",
    "SEEK_MIN_SKIP",
    "collect",
    "in_flight_limit",
]

SEEK_MIN_SKIP = 48  # seek only when it skips at least this many frames of decoding
CONVERT_WORKERS = 2  # threads converting + resizing kept frames while decoding continues
DECODE_WORKERS = 2  # decoders working on separate keyframe segments at once (kept packets)
PARALLEL_MIN_FRAMES = 48  # a second decoder only when at least this many frames are to decode


class _Mismatch(Exception):
    """Decoded frames disagree with the timeline used to plan the decode."""


FRAME_BUDGET_BYTES = 64 * 2**20  # RGB bytes of source frames converted at once (at least one)


def in_flight_limit(width: int, height: int) -> int:
    """How many decoded frames may wait for or be in conversion at once: as many as fit in
    FRAME_BUDGET_BYTES of RGB, at least one (a single one for very large frames)."""
    return max(1, FRAME_BUDGET_BYTES // max(1, width * height * 3))


class _Converter:
    """Converts kept frames, in ``pool`` when given one, with at most :func:`in_flight_limit`
    frames in flight: decoding waits rather than holding full-size frames in a queue."""

    def __init__(
        self,
        label: str,
        convert: Callable[[Any], np.ndarray],
        pool: ThreadPoolExecutor | None,
    ) -> None:
        self.label, self.convert, self.pool = label, convert, pool
        self.done: dict[int, np.ndarray] = {}
        self.pending: dict[int, Future[np.ndarray]] = {}
        self.inflight: deque[Future[np.ndarray]] = deque()

    def keep(self, pos: int, frame: Any) -> None:
        limits.check_frame_size(self.label, frame.width, frame.height)
        if self.pool is None:
            self.done[pos] = self.convert(frame)
            return
        limit = in_flight_limit(frame.width, frame.height)
        while len(self.inflight) >= limit:
            self.inflight.popleft().result()
        fut = self.pool.submit(self.convert, frame)
        self.pending[pos] = fut
        self.inflight.append(fut)

    def finish(self) -> dict[int, np.ndarray]:
        for pos, fut in self.pending.items():
            self.done[pos] = fut.result()
        self.pending.clear()
        self.inflight.clear()
        return self.done

    def cancel(self) -> None:
        for fut in self.pending.values():
            fut.cancel()


class _SharedConverter(_Converter):
    """Conversions shared by several decoders: a decoder queues the frames it keeps, and once it
    has nothing left to decode converts queued frames (any decoder's) until every decoder is done.
    Keyframe segments seldom split evenly, so the decoder with less to decode converts for the
    other. A decoder converts its own frame at once only when :func:`in_flight_limit` frames wait."""

    def __init__(self, label: str, convert: Callable[[Any], np.ndarray], decoders: int) -> None:
        super().__init__(label, convert, None)
        self.queue: deque[tuple[int, Any]] = deque()
        self.cond = threading.Condition()
        self.decoding = decoders

    def keep(self, pos: int, frame: Any) -> None:
        limits.check_frame_size(self.label, frame.width, frame.height)
        with self.cond:
            if len(self.queue) < in_flight_limit(frame.width, frame.height):
                self.queue.append((pos, frame))
                self.cond.notify()
                return
        self.done[pos] = self.convert(frame)

    def drain(self) -> None:
        """Called once by each decoder when it has nothing left to decode."""
        with self.cond:
            self.decoding -= 1
            self.cond.notify_all()
        while True:
            with self.cond:
                while not self.queue and self.decoding > 0:
                    self.cond.wait()
                if not self.queue:
                    return
                pos, frame = self.queue.popleft()
            self.done[pos] = self.convert(frame)

    def cancel(self) -> None:
        """A decoder failed: drop what waits and release the others."""
        with self.cond:
            self.queue.clear()
            self.decoding = 0
            self.cond.notify_all()


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
    that many threads while decoding goes on (PyAV and Pillow release the GIL); inside
    probing.one_thread everything runs in the calling thread.
    """
    if _probe.single_threaded():
        workers = 0
    if kept is not None:
        return _Segments(path, tl, convert, kept).run(sorted(set(positions)), workers)
    if workers <= 0:
        return _Pass(path, tl, _Converter(str(path), convert, None)).run(positions, seek)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vt-video") as pool:
        return _Pass(path, tl, _Converter(str(path), convert, pool)).run(positions, seek)


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
        inline = _Converter(str(self.path), self.convert, None)
        small = in_flight_limit(ctx.width, ctx.height) >= DECODE_WORKERS
        parallel = DECODE_WORKERS > 1 and not _probe.single_threaded() and len(runs) > 1
        if parallel and todo >= PARALLEL_MIN_FRAMES and small:
            queue = sorted(runs, key=lambda r: r[0] - r[1])  # longest first
            ctx.thread_type = "NONE"
            shared = _SharedConverter(str(self.path), self.convert, DECODE_WORKERS)
            with ThreadPoolExecutor(max_workers=DECODE_WORKERS - 1, thread_name_prefix="vt-decode") as pool:
                helpers = [
                    pool.submit(self._helper, queue, wanted_set, shared) for _ in range(DECODE_WORKERS - 1)
                ]
                try:
                    self._decode_and_convert(ctx, queue, wanted_set, shared)
                finally:
                    with self.lock:
                        queue.clear()  # stop the helpers early if this thread failed
                    errors = [f.exception() for f in helpers]
                for exc in errors:
                    if exc is not None:
                        raise exc
            return shared.done, whole
        if workers <= 0:
            self._work(ctx, runs, wanted_set, inline)
            return inline.done, whole
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vt-video") as pool:
            conv = _Converter(str(self.path), self.convert, pool)
            try:
                self._work(ctx, runs, wanted_set, conv)
                return conv.finish(), whole
            finally:
                conv.cancel()

    def _helper(self, queue: list[tuple[int, int]], wanted: set[int], conv: _SharedConverter) -> None:
        with self.lock:
            idle = not queue
        if idle:
            self._decode_and_convert(None, queue, wanted, conv)
            return
        container, stream = _probe.open_video(self.path)
        try:
            stream.thread_type = "NONE"
            self._decode_and_convert(stream.codec_context, queue, wanted, conv)
        finally:
            container.close()

    def _decode_and_convert(
        self, ctx: Any, queue: list[tuple[int, int]], wanted: set[int], conv: _SharedConverter
    ) -> None:
        """One decoder's share: runs from ``queue`` (none without ``ctx``), then conversions."""
        try:
            if ctx is not None:
                self._work(ctx, queue, wanted, conv)
            conv.drain()
        except BaseException:
            conv.cancel()
            with self.lock:
                queue.clear()  # the other decoder stops after its current run
            raise

    def _work(
        self,
        ctx: Any,
        queue: list[tuple[int, int]],
        wanted: set[int],
        conv: _Converter,
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
                    conv.keep(pos, frame)
                pos += 1
            if pos != last + 1:
                raise _Mismatch(f"frames {pos}..{last} did not decode")


class _Pass:
    """One decoding pass over a file, keeping the converted frames at wanted positions."""

    def __init__(
        self,
        path: _probe.Source,
        tl: _probe.Timeline,
        conv: _Converter,
    ) -> None:
        self.path, self.tl, self.conv = path, tl, conv
        self.pos_of = {p: i for i, p in enumerate(tl.pts)}
        self.problems: list[str] = []

    def run(self, positions: list[int], seek: bool) -> tuple[dict[int, np.ndarray], bool]:
        container, stream = _probe.open_video(self.path)
        try:
            whole = self._decode(container, stream, sorted(set(positions)), seek)
            done = self.conv.finish()
        finally:
            self.conv.cancel()
            container.close()
        return done, whole and not self.problems

    def _frames(self, container: Any, stream: Any) -> Iterator[Any]:
        return _frames_from(container, stream, self.problems, self.path)

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
                    self.conv.keep(pos, frame)
        if not (whole and cur == len(tl.pts) - 1):
            return False
        if next(frames, None) is not None:
            raise _Mismatch("more frames decode than the timeline lists")
        return True
