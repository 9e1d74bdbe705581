"""Batching of concurrent requests for the transformers backend (numpy only, no torch).

Requests that arrive together share one ``generate``: their prompts are left-padded to the
longest (attention mask 0 on the padding, ``mm_token_type_ids`` 0), their videos are concatenated
in batch order (``pixel_values_videos`` rows, one ``video_grid_thw`` row and one
``second_per_grid_ts`` entry per video), which is how transformers' Qwen2.5-VL ``get_rope_index``
walks them: row by row, skipping the masked positions.

A batch takes jobs first in, first out, up to ``max_batch_size`` jobs and ``max_batch_tokens``
padded tokens (batch size x (longest prompt + largest ``max_tokens``): what the KV cache holds);
a job with other sampling settings waits for the next batch, and a job larger than the budget
runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from vt_agent.errors import BackendError, ConfigError

DEFAULT_MAX_BATCH_SIZE = 8
DEFAULT_MAX_BATCH_TOKENS = 32768
DEFAULT_BATCH_WAIT_S = 0.05
END = object()  # the last item a job's queue receives


@dataclass(frozen=True)
class BatchSettings:
    """How many requests one ``generate`` may serve.

    ``batch_wait_s``: once a request is ready, how long the scheduler waits at most for requests
    that are still being prepared (tokenized, patched) to join it; it never waits when none are.
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    batch_wait_s: float = DEFAULT_BATCH_WAIT_S

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_batch_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        wait = self.batch_wait_s
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= 10:
            raise ConfigError(f"batch_wait_s must be a number of seconds between 0 and 10, got {wait!r}")


@dataclass(frozen=True, eq=False)
class RequestArrays:
    """One request's model inputs as arrays, videos in prompt order."""

    input_ids: np.ndarray  # int64 [L]
    mm_token_type_ids: np.ndarray  # int32 [L]
    pixel_values_videos: np.ndarray | None  # float32 [patches, C*T*P*P] of all videos, or None
    video_grid_thw: tuple[tuple[int, int, int], ...]
    second_per_grid_ts: tuple[float, ...]


def collate(items: Sequence[RequestArrays], pad_id: int) -> dict[str, np.ndarray]:
    """Left-pad the prompts to the longest and concatenate the videos in batch order."""
    if not items:
        raise ValueError("collate needs at least one request")
    length = max(int(a.input_ids.shape[0]) for a in items)
    n = len(items)
    input_ids = np.full((n, length), pad_id, dtype=np.int64)
    attention_mask = np.zeros((n, length), dtype=np.int64)
    types = np.zeros((n, length), dtype=np.int32)
    for row, a in enumerate(items):
        size = int(a.input_ids.shape[0])
        input_ids[row, length - size :] = a.input_ids
        attention_mask[row, length - size :] = 1
        types[row, length - size :] = a.mm_token_type_ids
    out: dict[str, np.ndarray] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "mm_token_type_ids": types,
    }
    pixels = [a.pixel_values_videos for a in items if a.pixel_values_videos is not None]
    if pixels:
        out["pixel_values_videos"] = np.concatenate(pixels, axis=0)
        out["video_grid_thw"] = np.asarray([g for a in items for g in a.video_grid_thw], dtype=np.int64)
        out["second_per_grid_ts"] = np.asarray(
            [s for a in items for s in a.second_per_grid_ts], dtype=np.float32
        )
    return out


class RowText:
    """Incremental text of one generated sequence, released like transformers' TextStreamer.

    Text is released up to the last space (a word may still change as tokens arrive), at a
    newline (the token cache is then reset, so decoding stays cheap), or when it ends in a CJK
    character; the rest comes with :meth:`flush`.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self._tokens: list[int] = []
        self._released = 0

    def push(self, token: int) -> str:
        self._tokens.append(token)
        text = self._decode(self._tokens)
        if text.endswith("\n"):
            out = text[self._released :]
            self._tokens, self._released = [], 0
            return out
        if text and _is_cjk(text[-1]):
            out = text[self._released :]
        else:
            out = text[self._released : text.rfind(" ") + 1]
        self._released += len(out)
        return out

    def flush(self) -> str:
        out = self._decode(self._tokens)[self._released :] if self._tokens else ""
        self._tokens, self._released = [], 0
        return out


def _is_cjk(char: str) -> bool:
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


@dataclass
class GenerationStats:
    """What one request's generation did (for tests, benchmarks and logs)."""

    request_id: str = ""
    prompt_tokens: int = 0
    video_tokens: int = 0
    generated_tokens: int = 0
    finish_reason: str | None = None
    cancelled: bool = False
    batch_size: int = 0  # requests in the generate() that served this one
    queued_s: float = 0.0  # from ready to the start of its batch
    prefill_s: float | None = None  # from the start of its batch to its first generated token
    total_s: float = 0.0  # from the start of its batch to its last token
    token_ids: list[int] = field(default_factory=list, repr=False)  # generated, EOS included

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed after the first token."""
        if self.prefill_s is None or self.generated_tokens < 2 or self.total_s <= self.prefill_s:
            return None
        return (self.generated_tokens - 1) / (self.total_s - self.prefill_s)


@dataclass(eq=False)  # compared by identity: a queue removes exactly this job
class Job:
    """One request waiting for, or inside, a batch; its text goes to an asyncio queue as
    ``(text, token ids)`` pairs (the ids of the tokens that text was released from)."""

    arrays: RequestArrays
    max_new_tokens: int
    sampling: tuple[bool, float, float]  # do_sample, temperature, top_p: a batch shares them
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[object]
    text: RowText
    eos_ids: frozenset[int]
    stats: GenerationStats = field(default_factory=GenerationStats)
    cancel: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    done: bool = False
    ready_at: float = 0.0
    pending_ids: list[int] = field(default_factory=list)  # tokens whose text is not released yet

    @property
    def new_tokens(self) -> list[int]:
        return self.stats.token_ids

    @property
    def prompt_len(self) -> int:
        return int(self.arrays.input_ids.shape[0])

    def send(self, item: object) -> None:
        """Hand ``item`` to the consumer's loop (nobody listens once that loop is closed)."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def add_token(self, token: int, now: float, started: float) -> None:
        """Record a generated token, release its text, and finish at EOS or ``max_new_tokens``."""
        if self.done:
            return
        if self.cancel.is_set():  # the consumer left (or the backend closed): stop here
            self.finish(None)
            return
        if not self.new_tokens:
            self.stats.prefill_s = now - started
        self.new_tokens.append(token)
        self.stats.generated_tokens = len(self.new_tokens)
        self.stats.total_s = now - started
        if token not in self.eos_ids:
            self.pending_ids.append(token)
        text = self.text.push(token)
        if text:
            self.send((text, tuple(self.pending_ids)))
            self.pending_ids.clear()
        if token in self.eos_ids:
            self.finish("stop")
        elif len(self.new_tokens) >= self.max_new_tokens:
            self.finish("length")

    def finish(self, reason: str | None, error: BaseException | None = None) -> None:
        """End the job's stream once (``reason`` None: stopped without an answer)."""
        if self.done:
            return
        self.done = True
        self.error = error
        self.stats.finish_reason = reason
        if reason is None and error is None:
            self.stats.cancelled = True
        tail = self.text.flush() if reason is not None else ""
        if tail or (reason is not None and self.pending_ids):
            self.send((tail, tuple(self.pending_ids)))
        self.pending_ids.clear()
        self.send(END)


def padded_tokens(jobs: Sequence[Job]) -> int:
    """Tokens the KV cache holds for ``jobs`` batched: batch x (longest prompt + most new tokens)."""
    if not jobs:
        return 0
    return len(jobs) * (max(j.prompt_len for j in jobs) + max(j.max_new_tokens for j in jobs))


def take_batch(queue: deque[Job], settings: BatchSettings) -> list[Job]:
    """Remove and return the next batch from ``queue`` (cancelled jobs are dropped and ended)."""
    for job in [j for j in queue if j.cancel.is_set()]:
        queue.remove(job)
        job.finish(None)
    if not queue:
        return []
    batch = [queue.popleft()]
    for job in list(queue):
        if len(batch) >= settings.max_batch_size:
            break
        if job.sampling != batch[0].sampling:
            continue
        if padded_tokens([*batch, job]) > settings.max_batch_tokens:
            continue
        queue.remove(job)
        batch.append(job)
    return batch


def batch_is_full(queue: deque[Job], settings: BatchSettings) -> bool:
    """True when the jobs queued behind the first one would fill a batch on their own."""
    if not queue:
        return False
    head = queue[0]
    return sum(1 for j in queue if j.sampling == head.sampling) >= settings.max_batch_size


class BatchQueue:
    """Jobs waiting for a batch, and the worker thread that runs one batch after another.

    ``run_batch(jobs)`` runs in the worker; jobs it leaves unfinished are ended after it returns
    (with its exception, if it raised). The worker starts with the first job and ends when the
    queue is empty. While requests are still being prepared
    (:meth:`preparing`), a ready job waits up to ``settings.batch_wait_s`` for them to join.
    """

    def __init__(self, settings: BatchSettings, run_batch: Callable[[list[Job]], None]) -> None:
        self.settings = settings
        self._run_batch = run_batch
        self._cond = threading.Condition()  # guards everything below
        self._queue: deque[Job] = deque()
        self._running: list[Job] = []
        self._preparing = 0
        self._worker: threading.Thread | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while a batch runs or jobs wait for one."""
        with self._cond:
            return bool(self._queue or self._running)

    @contextlib.contextmanager
    def preparing(self) -> Iterator[None]:
        """Count a request as being prepared for as long as the block runs (or until it is submitted)."""
        with self._cond:
            self._preparing += 1
        try:
            yield
        finally:
            with self._cond:
                self._preparing -= 1
                self._cond.notify_all()

    def submit(self, job: Job) -> None:
        """Queue ``job`` (made inside a :meth:`preparing` block) and start the worker if none runs."""
        with self._cond:
            if self._closed:
                raise BackendError("this TransformersBackend is closed; create a new one")
            job.ready_at = time.perf_counter()
            self._queue.append(job)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="vt-agent-generate", daemon=True)
                self._worker.start()
            self._cond.notify_all()

    def wake(self) -> None:
        """A job was cancelled: let a waiting worker drop it now."""
        with self._cond:
            self._cond.notify_all()

    def close(self, timeout_s: float) -> None:
        """Cancel queued and running jobs and wait up to ``timeout_s`` for the worker to end."""
        with self._cond:
            self._closed = True
            for job in [*self._queue, *self._running]:
                job.cancel.set()
            worker = self._worker
            self._cond.notify_all()
        if worker is not None:
            worker.join(timeout_s)

    def _next_batch(self) -> list[Job]:
        with self._cond:
            while self._queue and not self._closed and self._preparing > 0:
                if batch_is_full(self._queue, self.settings):
                    break
                left = self._queue[0].ready_at + self.settings.batch_wait_s - time.perf_counter()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = take_batch(self._queue, self.settings)
            if not batch:
                self._worker = None
            self._running = batch
            return batch

    def _work(self) -> None:
        while batch := self._next_batch():
            error: BaseException | None = None
            try:
                self._run_batch(batch)
            except BaseException as exc:
                error = exc
            with self._cond:
                self._running = []  # before the streams end: a caller who saw its end sees no work
            for job in batch:  # rows the streamer did not end (cancelled, failed, stopped early)
                if error is not None:
                    job.finish(None, error)
                elif job.cancel.is_set():
                    job.finish(None)
                else:
                    job.finish("length" if len(job.new_tokens) >= job.max_new_tokens else "stop")
