"""One scheduler for many questions: the frames of upcoming items are prepared in a pool while the
engine generates the current ones.

::

    async with Pipeline(reasoner.preset, concurrency=2) as pipeline:
        items = [PipelineItem(i, path, question, window=w) for i, (path, w) in enumerate(jobs)]
        async for done in pipeline.run(items, reason_with(reasoner)):
            print(done.key, done.value.answer if done.ok else done.message)

Two stages, each usable alone (an executor such as Ray Data can run the same two):

* :func:`prepare_item` ``(item, preset) -> PreparedItem``, blocking: the protocol's sampling
  (:func:`vt_agent.reasoner.sample_video` for each video, the frame cache included), plus the
  model inputs when asked (``vt_agent.video.cached_model_inputs``, what the transformers backend uses).
* ``generate(prepared) -> R``, async: the engine's part; :func:`reason_with` gives
  :meth:`VideoReasoner.areason` with the ready frames (``prepared=``), nothing decoded again.

Scheduling (:meth:`Pipeline.run`): items are taken in order; each first takes one of
``look_ahead`` slots (an item holds its slot while it is prepared, ready, or generating, so at most
``look_ahead`` items' frames are in memory), is prepared in the pool (``workers`` threads or
processes), then waits for one of the engine's ``concurrency`` slots, first ready first served.
Results come as items finish, each with its ``key`` and input ``position`` (``ordered=True``: in
input order). A failing item becomes an :class:`ItemResult` with ``error`` and ``stage``; the run
goes on, except for exceptions of the ``fatal`` types and a broken process pool
(:class:`~vt_agent.errors.PreparationPoolError`), which stop it. Closing the iterator or
cancelling its task cancels the items in flight: preparations not started never start, running
ones end in their worker and are dropped, generations are cancelled.

Pool: threads by default (PyAV decodes and numpy resizes with the GIL released; bench/pipeline.py
measures threads against processes). A preparation submitted while another is still under way runs
in one thread (``vt_agent.video.one_thread``): the pool already spreads items over the cores, and
a codec's own threads beside it only add hand-offs. Processes need items with plain paths (an
:class:`~vt_agent.sandbox.OpenedFile` cannot cross to another process) and keep no frame cache:
their frames come back to this process's cache, looked up before an item is sent, and items in
flight asking for the same frames share one preparation.

Over 400 lines: one scheduler whose slots, pool, cancellation and ordering rules share one run's state; the two stages it runs (prepare, generate) are small functions usable alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable, Iterable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from vt_agent.errors import ConfigError, PreparationPoolError
from vt_agent.sandbox import OpenedFile

if TYPE_CHECKING:
    from vt_agent.busy import BusyMeter
    from vt_agent.reasoner import VideoPaths, VideoReasoner
    from vt_agent.result import Result
    from vt_agent.video import VideoModelInputs
    from vt_agent.video.prepared import PreparedVideo

__all__ = [
    "ItemResult",
    "Pipeline",
    "PipelineItem",
    "PreparedItem",
    "default_workers",
    "prepare_item",
    "reason_with",
]

R = TypeVar("R")
PoolKind = Literal["thread", "process"]
Generate = Callable[["PreparedItem"], Awaitable[R]]


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class PipelineItem:
    """One question to prepare and generate: its videos (paths or opened files), window and preset.

    ``key`` names the item in results; ``data`` is the caller's own (passed through untouched).
    ``preset`` None: the pipeline's.
    """

    key: Hashable
    videos: VideoPaths
    question: str = ""
    options: tuple[str, ...] | None = None
    window: tuple[float, float] | None = None
    preset: str | None = None
    data: Any = None

    def __post_init__(self) -> None:
        from vt_agent.reasoner import _paths
        from vt_agent.spans import check_window

        object.__setattr__(self, "videos", tuple(_paths(self.videos)))
        object.__setattr__(self, "window", check_window(self.window))
        if self.options is not None:
            object.__setattr__(self, "options", tuple(self.options))

    @property
    def sources(self) -> tuple[str | OpenedFile, ...]:
        """The videos as a tuple (paths as strings, opened files as they are)."""
        return self.videos  # type: ignore[return-value]  # normalised in __post_init__


@dataclass
class PreparedItem:
    """An item's frames, ready for the engine (one per video, in order)."""

    item: PipelineItem
    videos: list[PreparedVideo]
    preset: str
    prepare_s: float
    inputs: list[VideoModelInputs] = field(default_factory=list)
    """Model inputs of each video when the pipeline was asked for them (kept alive with the item)."""


@dataclass
class ItemResult(Generic[R]):
    """What one item gave: ``value``, or ``error`` and the ``stage`` that raised it."""

    item: PipelineItem
    position: int
    value: R | None = None
    error: Exception | None = None
    stage: Literal["prepare", "generate"] | None = None
    prepare_s: float = 0.0
    generate_s: float = 0.0
    generate_span: tuple[float, float] | None = None
    """Wall-clock (``time.time()``) start and end of the generation, when the item reached the engine."""

    @property
    def key(self) -> Hashable:
        return self.item.key

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        """The error as ``Type: text`` ('' when the item succeeded)."""
        return "" if self.error is None else f"{type(self.error).__name__}: {self.error}"


def prepare_item(
    item: PipelineItem, preset: str, model_inputs: bool = False, one_thread: bool = False
) -> PreparedItem:
    """Blocking: sample every video of ``item`` as a question does (and its model inputs if asked).

    ``one_thread``: all in the calling thread (``vt_agent.video.one_thread``), for when other
    preparations keep the other cores busy.
    """
    from vt_agent.reasoner import sample_video
    from vt_agent.video import cached_model_inputs
    from vt_agent.video import one_thread as threads_off

    t0 = time.perf_counter()
    name = item.preset or preset
    with threads_off() if one_thread else contextlib.nullcontext():
        videos = [sample_video(v, name, item.window) for v in item.sources]
        inputs: list[VideoModelInputs] = []
        if model_inputs:
            inputs = [cached_model_inputs(v.frames, v.record.second_per_grid_ts) for v in videos]
    return PreparedItem(item, videos, name, time.perf_counter() - t0, inputs)


def _process_init() -> None:
    """A pool process keeps no frames: they travel back to the caller, which keeps them."""
    from vt_agent.video import set_cache_limit

    set_cache_limit(0)


def _bounds(item: PipelineItem) -> tuple[float | None, float | None]:
    """``item``'s window as sample()'s ``start_s``, ``end_s``."""
    return item.window if item.window is not None else (None, None)


def _cached(item: PipelineItem, preset: str) -> list[PreparedVideo] | None:
    """Every video of ``item`` from this process's frame cache, or None (also when the cache is off)."""
    from vt_agent.video.cache import FRAMES
    from vt_agent.video.sampling import cached_sample

    if FRAMES.limit_bytes == 0:
        return None

    start_s, end_s = _bounds(item)
    videos = []
    for v in item.sources:
        hit = cached_sample(v, preset, start_s=start_s, end_s=end_s)
        if hit is None:
            return None
        videos.append(hit)
    return videos


def _keep(prepared: PreparedItem) -> None:
    """Frames prepared in another process into this process's frame cache (unless it is off)."""
    from vt_agent.video.cache import FRAMES
    from vt_agent.video.sampling import keep_sample

    if FRAMES.limit_bytes == 0:
        return

    start_s, end_s = _bounds(prepared.item)
    for v, video in zip(prepared.item.sources, prepared.videos, strict=True):
        keep_sample(v, video, prepared.preset, start_s=start_s, end_s=end_s)


def reason_with(reasoner: VideoReasoner, **kwargs: Any) -> Callable[[PreparedItem], Awaitable[Result]]:
    """The engine stage for a reasoner: :meth:`VideoReasoner.areason` on the ready frames.

    ``kwargs`` go to ``areason`` (``thumbnails``, ``max_tokens``). The result's
    ``timings.decode_s`` is the item's preparation time (spent off the engine's path).
    """

    async def generate(prepared: PreparedItem) -> Result:
        it = prepared.item
        result = await reasoner.areason(
            list(it.sources),
            it.question,
            list(it.options) if it.options else None,
            window=it.window,
            preset=prepared.preset,
            prepared=prepared.videos,
            **kwargs,
        )
        result.timings = result.timings.model_copy(update={"decode_s": round(prepared.prepare_s, 6)})
        return result

    return generate


class _Turns:
    """Positions pass one after another (0, 1, 2, ...)."""

    def __init__(self) -> None:
        self.next = 0
        self.cond = asyncio.Condition()

    async def wait(self, position: int) -> None:
        async with self.cond:
            await self.cond.wait_for(lambda: self.next >= position)

    async def pass_turn(self, position: int) -> None:
        async with self.cond:
            await self.cond.wait_for(lambda: self.next >= position)
            self.next = position + 1
            self.cond.notify_all()


def _positive(name: str, value: int | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}"
        )


class Pipeline:
    """Prepare items in a pool, ``look_ahead`` at most in memory, and feed the engine as each is ready.

    ``preset``: for items without their own; ``workers``: pool size (default: the cores);
    ``concurrency``: generations at once (None: no limit here, e.g. the caller holds its own);
    ``look_ahead``: items holding frames at once (default ``concurrency + 2 * workers``);
    ``pool``: ``"thread"`` or ``"process"``; ``model_inputs``: also compute the model inputs
    ahead (threads only: what the transformers backend turns frames into).
    """

    def __init__(
        self,
        preset: str | None = None,
        *,
        workers: int | None = None,
        concurrency: int | None = 1,
        look_ahead: int | None = None,
        pool: PoolKind = "thread",
        model_inputs: bool = False,
    ) -> None:
        from vt_agent.video import DEFAULT_PRESET, get_preset

        _positive("workers", workers, allow_none=True)
        _positive("concurrency", concurrency, allow_none=True)
        _positive("look_ahead", look_ahead, allow_none=True)
        if pool not in ("thread", "process"):
            raise ConfigError(f"pool must be 'thread' or 'process', got {pool!r}")
        self.preset = get_preset(preset or DEFAULT_PRESET).name
        self.workers = workers or default_workers()
        self.concurrency = concurrency
        self.look_ahead = look_ahead or (concurrency or 1) + 2 * self.workers
        self.pool = pool
        self.model_inputs = model_inputs and pool == "thread"
        self._executor: Executor | None = None
        self._preparing = 0  # preparations submitted and not yet back
        self._shared: dict[Hashable, asyncio.Task[PreparedItem]] = {}  # process pool: one per frames
        self._live: set[asyncio.Task[Any]] = set()  # every run's tasks, cancelled by close()
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[asyncio.Semaphore, ...]] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ the two stages

    def _pool(self) -> Executor:
        if self._executor is None:
            if self.pool == "thread":
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="vt-prepare")
            else:
                import multiprocessing

                ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
                self._executor = ProcessPoolExecutor(self.workers, ctx, initializer=_process_init)
        return self._executor

    async def prepare(self, item: PipelineItem) -> PreparedItem:
        """Prepare ``item`` in the pool (holds no look-ahead slot: see :meth:`slot`)."""
        if self.pool == "process" and any(isinstance(v, OpenedFile) for v in item.sources):
            raise ConfigError(
                f"item {item.key!r}: a file opened beneath a folder cannot be prepared in another process; "
                "use Pipeline(pool='thread')"
            )
        if self.pool == "process":
            return await self._prepare_shared(item)
        return await self._prepare_in_pool(item)

    async def _prepare_in_pool(self, item: PipelineItem) -> PreparedItem:
        # a preparation that starts beside others runs in one thread: the pool spreads the cores
        one = self.workers > 1 and self._preparing > 0
        self._preparing += 1
        try:
            future = self._pool().submit(prepare_item, item, self.preset, self.model_inputs, one)
            return await asyncio.wrap_future(future)
        except BrokenExecutor as exc:
            raise PreparationPoolError(
                f"item {item.key!r}: a process of the preparation pool died (out of memory, killed, or a "
                'script that starts the pool outside `if __name__ == "__main__":`, which new processes '
                "import again); no item can be prepared now: use fewer workers, guard the script's main "
                "code, or pool='thread'"
            ) from exc
        finally:
            self._preparing -= 1

    async def _prepare_shared(self, item: PipelineItem) -> PreparedItem:
        """In a process: frames from this process's frame cache when there, else prepared once for
        every item in flight asking for the same ones, then kept in the cache (as threads do)."""
        t0 = time.perf_counter()
        name = item.preset or self.preset
        key = (item.sources, name, item.window)
        task = self._shared.get(key)
        if task is None:
            hit = await asyncio.to_thread(_cached, item, name)
            if hit is not None:
                return PreparedItem(item, hit, name, time.perf_counter() - t0)
            task = self._shared.get(key)  # another item may have started it meanwhile
        if task is None:
            task = asyncio.create_task(self._prepare_and_keep(item))
            self._shared[key] = task
            self._live.add(task)  # cancelled by close()
            task.add_done_callback(functools.partial(self._shared_done, key))
        ready = await asyncio.shield(task)
        return PreparedItem(item, ready.videos, name, time.perf_counter() - t0, ready.inputs)

    def _shared_done(self, key: Hashable, task: asyncio.Task[PreparedItem]) -> None:
        self._shared.pop(key, None)
        self._live.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its waiters may all have gone

    async def _prepare_and_keep(self, item: PipelineItem) -> PreparedItem:
        prepared = await self._prepare_in_pool(item)
        await asyncio.to_thread(_keep, prepared)
        return prepared

    def _semaphores(self) -> tuple[asyncio.Semaphore, ...]:
        loop = asyncio.get_running_loop()
        sems = self._sems.get(loop)
        if sems is None:
            sems = (asyncio.Semaphore(self.look_ahead), asyncio.Semaphore(self.concurrency or 1))
            self._sems[loop] = sems
        return sems

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``look_ahead`` slots (shared by every run and submit on this loop)."""
        async with self._semaphores()[0]:
            yield

    @contextlib.asynccontextmanager
    async def engine_slot(self) -> AsyncIterator[None]:
        """Hold one of the engine's ``concurrency`` slots (no limit when None)."""
        if self.concurrency is None:
            yield
            return
        async with self._semaphores()[1]:
            yield

    async def process(
        self,
        item: PipelineItem,
        generate: Generate[R],
        position: int = 0,
        fatal: tuple[type[BaseException], ...] = (),
        turns: _Turns | None = None,
    ) -> ItemResult[R]:
        """Prepare ``item``, then generate it in an engine slot; errors recorded (``fatal`` ones raised).

        The caller holds the item's look-ahead slot (:meth:`slot`). ``turns``: take the engine
        slot only after the items before ``position`` took theirs.
        """
        out: ItemResult[R] = ItemResult(item, position)
        try:
            prepared = await self.prepare(item)
        except PreparationPoolError:
            raise  # every item after it would fail the same way
        except Exception as exc:
            out.error, out.stage = exc, "prepare"
            if turns is not None:
                await turns.pass_turn(position)
            return out
        out.prepare_s = prepared.prepare_s
        if turns is not None:
            await turns.wait(position)
        async with self.engine_slot():
            if turns is not None:
                await turns.pass_turn(position)
            t0, wall0 = time.perf_counter(), time.time()
            try:
                out.value = await generate(prepared)
            except fatal:
                raise
            except Exception as exc:
                out.error, out.stage = exc, "generate"
            out.generate_s = time.perf_counter() - t0
            out.generate_span = (wall0, wall0 + out.generate_s)
        return out

    async def submit(self, item: PipelineItem, generate: Generate[R]) -> R:
        """One item through both stages, sharing slots and pool with everything else; errors raised."""
        async with self.slot():
            prepared = await self.prepare(item)
            async with self.engine_slot():
                return await generate(prepared)

    # ------------------------------------------------------------------ many items

    async def run(
        self,
        items: Iterable[PipelineItem],
        generate: Generate[R],
        *,
        ordered: bool = False,
        in_order: bool = True,
        fatal: tuple[type[BaseException], ...] = (),
        meter: BusyMeter | None = None,
    ) -> AsyncGenerator[ItemResult[R], None]:
        """Every item through both stages; yield each :class:`ItemResult` as it ends (or in order).

        ``meter``: given the pool's size and each item's preparation time and generation span as it
        ends (:mod:`vt_agent.busy`: how busy the two stages were).

        ``in_order``: the engine takes the items in input order (an item ready early waits for
        the ones before it to start generating), so a deterministic engine answers as it would
        one item at a time; False: first ready, first served.
        """
        done: asyncio.Queue[ItemResult[R] | BaseException | int] = asyncio.Queue()
        turns = _Turns() if in_order else None
        if meter is not None:
            meter.workers = self.workers
        tasks: set[asyncio.Task[None]] = set()
        sem = self._semaphores()[0]

        async def one(position: int, item: PipelineItem) -> None:
            try:
                done.put_nowait(await self.process(item, generate, position, fatal, turns))
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # a fatal error: the consumer raises it
                done.put_nowait(exc)

        def release(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            self._live.discard(task)
            sem.release()

        async def feed() -> None:
            n = 0
            try:
                for n, item in enumerate(items, 1):
                    if not isinstance(item, PipelineItem):
                        raise ConfigError(f"pipeline items must be PipelineItem, got {type(item).__name__}")
                    await sem.acquire()
                    task = asyncio.create_task(one(n - 1, item))
                    tasks.add(task)
                    self._live.add(task)
                    task.add_done_callback(release)  # also when cancelled before it ran
            except Exception as exc:
                done.put_nowait(exc)
                return
            done.put_nowait(n)

        feeder = asyncio.create_task(feed())
        self._live.add(feeder)
        feeder.add_done_callback(self._live.discard)
        total: int | None = None
        seen = 0
        waiting: dict[int, ItemResult[R]] = {}
        try:
            while total is None or seen < total:
                got = await done.get()
                if isinstance(got, BaseException):
                    raise got
                if isinstance(got, int):
                    total = got
                    continue
                seen += 1
                if meter is not None:
                    meter.add(got.prepare_s, got.generate_span)
                if not ordered:
                    yield got
                    continue
                waiting[got.position] = got
                while (next_pos := seen - len(waiting)) in waiting:
                    yield waiting.pop(next_pos)
        finally:
            feeder.cancel()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(feeder, *tasks, return_exceptions=True)

    # ------------------------------------------------------------------ life

    def close(self) -> None:
        """Cancel the items of runs still in flight (a run left without closing its iterator
        included) and stop the pool: queued preparations are dropped, running ones end on their own.
        """
        for task in list(self._live):
            task.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
