"""Video-Thinker on vLLM's in-process async engine (``vllm.v1.engine.async_llm.AsyncLLM``).

The engine gets the frames vt-agent already sampled and resized, with their metadata and
``do_sample_frames=False``, so vLLM neither resamples nor resizes them:

* ``multi_modal_data={"video": [(frames_THWC_uint8, metadata), ...]}``; the metadata's ``fps`` is
  chosen so that the HF processor's ``sampled_fps = len(frames_indices) / total_num_frames * fps``
  equals ``SamplingRecord.sampled_fps`` exactly, so the model sees
  ``second_per_grid_ts = 2 / sampled_fps`` (docs/protocol.md, Video input), the same value as the transformers path;
* ``mm_processor_kwargs={"min_pixels": w*h, "max_pixels": w*h}`` of the already-resized frames:
  ``smart_resize`` keeps a frame whose sides are multiples of 28 and whose area lies within the
  bounds, so 420x224 stays 420x224 (``min_pixels = 128*28*28`` would enlarge it to 448x252);
* ``multi_modal_uuids={"video": [SamplingRecord.cache_key, ...]}``: file identity + preset + window,
  so a repeated question on the same video hits the engine's multimodal cache (no HF processing,
  no vision encoding) and, with ``enable_prefix_caching``, its prefix cache.

Text deltas stream with ``RequestOutputKind.DELTA``; closing the stream aborts the request in the
engine. Concurrency is bounded by a semaphore at the engine's ``max_num_seqs``; inside it the
engine batches continuously. Decoding as the authors ran it (docs/protocol.md, Decoding: temperature 0.1, top_p 0.001).

Over 400 lines: the engine thread, request translation and cancellation of one engine; the torch-free token logic is in ``_tokens.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vt_agent._lazy import require
from vt_agent.backends._tokens import (
    PromptTokens,
    build_prompt_tokens,
    check_context,
    prefix_ids,
    render_chat,
)
from vt_agent.backends.base import Delta, GenerationRequest, PreparedVideo
from vt_agent.errors import BackendError, BackendUnavailableError, ConfigError, GenerationCancelled

__all__ = [
    "DEFAULT_MODEL",
    "RequestStats",
    "VLLMBackend",
    "processor_kwargs",
    "video_item",
    "video_item_metadata",
]

DEFAULT_MODEL = "ShijianW01/Video-Thinker-7B"
DEFAULT_MAX_MODEL_LEN = 64000  # the authors' max_model_len (docs/protocol.md, Decoding)
FEATURE = "The vllm backend"
T = TypeVar("T")
TEMPORAL_PATCH_SIZE = 2
ENGINE_ARG_NAMES = (
    "tensor_parallel_size",
    "data_parallel_size",
    "pipeline_parallel_size",
    "max_model_len",
    "max_num_seqs",
    "dtype",
    "enforce_eager",
    "gpu_memory_utilization",
    "limit_mm_per_prompt",
    "enable_prefix_caching",
    "seed",
    "trust_remote_code",
    "revision",
)


@dataclass
class RequestStats:
    """What one request did in the engine (for tests, benchmarks and logs)."""

    request_id: str
    prompt_tokens: int = 0
    video_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    finish_reason: str | None = None
    first_token_s: float | None = None
    total_s: float = 0.0
    prompt_token_ids: tuple[int, ...] = ()


def exact_metadata_fps(sampled_fps: float, n_frames: int, total_frames: int) -> float:
    """The metadata ``fps`` for which ``n_frames / total_frames * fps == sampled_fps`` in floats.

    transformers' ``VideoMetadata.sampled_fps`` computes exactly that expression; nudging by ulps
    makes it reproduce the record's value bit for bit where floats allow (M-RoPE positions are floored products of
    it, so one ulp can move a position).
    """
    start = sampled_fps * total_frames / n_frames
    best, best_err = start, abs(n_frames / total_frames * start - sampled_fps)
    for direction in (math.inf, -math.inf):
        fps = start
        for _ in range(16):
            err = abs(n_frames / total_frames * fps - sampled_fps)
            if err < best_err:
                best, best_err = fps, err
            if err == 0.0:
                return fps
            fps = math.nextafter(fps, direction)
    return best


def video_item_metadata(video: PreparedVideo) -> dict[str, Any]:
    """The video metadata vLLM hands to the HF processor: the record's frames, never resampled."""
    record = video.record
    frames = video.frames
    if frames.ndim != 4 or frames.shape[-1] != 3 or str(frames.dtype) != "uint8":
        raise ConfigError(
            f"{record.path}: frames must be a (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}"
        )
    n = int(frames.shape[0])
    if n != len(record.indices) or n < 1:
        raise ConfigError(
            f"{record.path}: {n} frames but the sampling record lists {len(record.indices)} indices"
        )
    total = max(int(record.decoded_frames), max(record.indices) + 1)
    fps = exact_metadata_fps(float(record.sampled_fps), n, total)
    return {
        "total_num_frames": total,
        "fps": fps,
        "duration": total / fps,
        "frames_indices": [int(i) for i in record.indices],
        "video_backend": "pyav",
        "do_sample_frames": False,
    }


def video_item(video: PreparedVideo) -> tuple[Any, dict[str, Any]]:
    """``(frames, metadata)`` for ``multi_modal_data["video"]``: already sampled, never resampled."""
    meta = video_item_metadata(video)
    return np.array(video.frames, copy=True), meta  # vLLM/torch want writable memory


def processor_kwargs(videos: Sequence[PreparedVideo]) -> dict[str, Any]:
    """Pixel bounds that keep every already-resized frame at its size."""
    areas = [int(v.frames.shape[1]) * int(v.frames.shape[2]) for v in videos]
    if not areas:
        return {}
    return {"size": {"shortest_edge": min(areas), "longest_edge": max(areas)}}


def model_context_limit(
    model: str, *, trust_remote_code: bool = False, revision: str | None = None
) -> int | None:
    """``max_position_embeddings`` of the model's text config, or None if it cannot be read."""
    try:
        tf = require("transformers", "vllm", FEATURE)
        config = tf.AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code, revision=revision)
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        value = getattr(text, "max_position_embeddings", None)
        return int(value) if value else None
    except Exception:
        return None


class VLLMBackend:
    """Video-Thinker (any Qwen2.5-VL checkpoint) on vLLM's in-process async engine.

    ``model``: hub id or local directory. ``engine_args``: passed to ``vllm.AsyncEngineArgs``
    as they are (``tensor_parallel_size``, ``data_parallel_size``, ``dtype``, ``enforce_eager``,
    ``gpu_memory_utilization``, ...); the named keyword arguments are shortcuts for the common
    ones and win over ``engine_args``. ``max_model_len`` defaults to 64,000 capped at the model's
    ``max_position_embeddings``. The engine starts on :meth:`load` or the first request.
    """

    name = "vllm"
    scripted = False

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        engine_args: Mapping[str, Any] | None = None,
        max_model_len: int | None = None,
        max_num_seqs: int | None = None,
        max_videos: int = 4,
        tensor_parallel_size: int | None = None,
        data_parallel_size: int | None = None,
        dtype: str | None = None,
        enforce_eager: bool | None = None,
        gpu_memory_utilization: float | None = None,
        enable_prefix_caching: bool = True,
    ) -> None:
        for key, value in (("max_model_len", max_model_len), ("max_num_seqs", max_num_seqs)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        if isinstance(max_videos, bool) or not isinstance(max_videos, int) or max_videos < 1:
            raise ConfigError(f"max_videos must be a positive integer, got {max_videos!r}")
        if engine_args is not None and not isinstance(engine_args, Mapping):
            raise ConfigError(f"engine_args must be a dict of vLLM engine arguments, got {engine_args!r}")
        self.model = str(model)
        args: dict[str, Any] = {
            "limit_mm_per_prompt": {"video": max_videos, "image": 0},
            "enable_prefix_caching": enable_prefix_caching,
        }
        args.update(dict(engine_args or {}))
        shortcuts = {
            "max_model_len": max_model_len,
            "max_num_seqs": max_num_seqs,
            "tensor_parallel_size": tensor_parallel_size,
            "data_parallel_size": data_parallel_size,
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            "gpu_memory_utilization": gpu_memory_utilization,
        }
        args.update({k: v for k, v in shortcuts.items() if v is not None})
        args.pop("model", None)
        self._args = args
        self._engine: Any = None
        self._tokenizer: Any = None
        self._semaphore: asyncio.Semaphore | None = None  # on the engine loop
        self._runner: _EngineLoop | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.max_model_len: int | None = None
        self.max_num_seqs: int | None = None
        self.last_stats: RequestStats | None = None
        self.stats: list[RequestStats] = []

    @property
    def engine_args(self) -> dict[str, Any]:
        """The arguments the engine is (or will be) built with, ``model`` included."""
        return {"model": self.model, **self._args}

    @property
    def engine(self) -> Any:
        """The ``AsyncLLM`` engine (None before :meth:`load`)."""
        return self._engine

    def _resolved_args(self) -> dict[str, Any]:
        args = self.engine_args
        if "max_model_len" not in args:
            limit = model_context_limit(
                self.model,
                trust_remote_code=bool(args.get("trust_remote_code", False)),
                revision=args.get("revision"),
            )
            args["max_model_len"] = min(DEFAULT_MAX_MODEL_LEN, limit) if limit else DEFAULT_MAX_MODEL_LEN
        return args

    def _build_engine(self) -> Any:
        vllm = require("vllm", "vllm", FEATURE)
        async_llm = require("vllm.v1.engine.async_llm", "vllm", FEATURE)
        args = self._resolved_args()
        try:
            engine_args = vllm.AsyncEngineArgs(**args)
        except TypeError as exc:
            raise ConfigError(f"unknown vLLM engine argument: {exc}") from exc
        try:
            return async_llm.AsyncLLM.from_engine_args(engine_args)
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendUnavailableError(
                f"vLLM could not start the engine for {self.model!r}: {type(exc).__name__}: {exc}",
                extra="vllm",
            ) from exc

    async def load(self) -> None:
        """Start the engine (about 30 s on a CPU with a tiny model) if it is not running."""
        if self._closed:
            raise BackendError("the vllm backend is closed")
        with self._start_lock:
            if self._runner is None:
                self._runner = _EngineLoop()
        await asyncio.wrap_future(self._runner.submit(self._load_on_engine_loop()))

    async def _load_on_engine_loop(self) -> None:
        if self._engine is not None:
            return
        engine = self._build_engine()  # blocks only the engine's own loop
        config = engine.vllm_config
        self.max_model_len = int(config.model_config.max_model_len)
        self.max_num_seqs = int(config.scheduler_config.max_num_seqs)
        self._tokenizer = engine.get_tokenizer()
        self._semaphore = asyncio.Semaphore(self.max_num_seqs)
        self._engine = engine

    async def on_engine(self, func: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """Run ``func(engine)`` on the engine's event loop (for tests and diagnostics)."""
        await self.load()
        assert self._runner is not None
        return await asyncio.wrap_future(self._runner.submit(func(self._engine)))

    def check_request(self, request: GenerationRequest) -> PromptTokens:
        """Tokenize the prompt as the transformers path does and refuse what cannot fit."""
        prompt = build_prompt_tokens(
            self._tokenizer,
            request.messages,
            request.videos,
            assistant_prefix=request.assistant_prefix,
            prefix_token_ids=request.prefix_token_ids,
        )
        check_context(prompt, request.videos, request.max_tokens, self.max_model_len or DEFAULT_MAX_MODEL_LEN)
        return prompt

    def engine_prompt(self, request: GenerationRequest, prompt: PromptTokens) -> dict[str, Any]:
        """The vLLM prompt for ``request``: chat text, frames + metadata, stable ids.

        A continued reply is the chat text followed by the prefix's own token ids (a
        ``TokensPrompt``: vLLM expands the video placeholders in token ids as in text).
        """
        text = render_chat(self._tokenizer, request.messages)
        ordered = [request.videos[i] for i in prompt.video_order]
        out: dict[str, Any] = {"prompt": text}
        if request.assistant_prefix:
            chat_ids = self._tokenizer.encode(text, add_special_tokens=False)
            tail = prefix_ids(self._tokenizer, request.assistant_prefix, request.prefix_token_ids)
            out = {"prompt_token_ids": [int(t) for t in chat_ids] + [int(t) for t in tail.tolist()]}
        if ordered:
            out["multi_modal_data"] = {"video": [video_item(v) for v in ordered]}
            out["multi_modal_uuids"] = {"video": [v.record.cache_key for v in ordered]}
            out["mm_processor_kwargs"] = processor_kwargs(ordered)
        return out

    def sampling_params(self, request: GenerationRequest) -> Any:
        vllm = require("vllm", "vllm", FEATURE)
        sampling = require("vllm.sampling_params", "vllm", FEATURE)
        if not 0.0 < request.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {request.top_p}")
        if request.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {request.temperature}")
        extra = (
            dict(request.extra.get("sampling", {})) if isinstance(request.extra.get("sampling"), dict) else {}
        )
        return vllm.SamplingParams(
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            output_kind=sampling.RequestOutputKind.DELTA,
            **extra,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        """Stream the model's text; closing the iterator aborts the request in the engine.

        The engine lives on its own event loop in a background thread, so the backend can be used
        from any loop (``asyncio.run`` per call included); outputs cross over through a queue.
        """
        if self._closed:
            raise BackendError("the vllm backend is closed")
        await self.load()
        assert self._runner is not None
        prompt = self.check_request(request)
        engine_prompt = self.engine_prompt(request, prompt)
        params = self.sampling_params(request)
        request_id = request.request_id or f"vt-{uuid.uuid4().hex}"
        stats = RequestStats(request_id=request_id)
        self.last_stats = stats
        self.stats.append(stats)
        pad_id = int(self._tokenizer.convert_tokens_to_ids("<|video_pad|>"))
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def put(kind: str, item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone
                caller.call_soon_threadsafe(queue.put_nowait, (kind, item))

        async def produce() -> None:  # on the engine loop
            assert self._semaphore is not None
            try:
                async with self._semaphore:
                    async for out in self._engine.generate(engine_prompt, params, request_id):
                        put("out", out)
                put("end", None)
            except asyncio.CancelledError:
                raise  # generate() aborted the request in the engine
            except BaseException as exc:
                put("error", exc)

        started = time.perf_counter()
        future = self._runner.submit(produce())
        finished = False
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    if not finished:
                        raise BackendError(f"vLLM ended request {request_id} without finishing it")
                    return
                if kind == "error":
                    raise _engine_error(item, request_id) from item
                out = item
                if out.prompt_token_ids is not None and not stats.prompt_tokens:
                    ids = tuple(int(t) for t in out.prompt_token_ids)
                    stats.prompt_token_ids = ids
                    stats.prompt_tokens = len(ids)
                    stats.video_tokens = sum(1 for t in ids if t == pad_id)
                if out.num_cached_tokens:
                    stats.cached_tokens = int(out.num_cached_tokens)
                completion = out.outputs[0] if out.outputs else None
                if completion is None:
                    continue
                stats.generated_tokens += len(completion.token_ids)
                if completion.text or completion.token_ids:  # ids of a split character come before its text
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - started
                    yield Delta(completion.text, token_ids=tuple(int(t) for t in completion.token_ids))
                if out.finished:
                    finished = True
                    reason = completion.finish_reason
                    stats.finish_reason = reason
                    stats.total_s = time.perf_counter() - started
                    if reason == "abort":
                        raise GenerationCancelled(f"vLLM aborted request {request_id}")
                    if reason not in ("stop", "length"):
                        raise BackendError(f"vLLM finished request {request_id} with {reason!r}")
                    yield Delta("", finish_reason="length" if reason == "length" else "stop")
        finally:
            stats.total_s = time.perf_counter() - started
            if not finished:
                stats.finish_reason = stats.finish_reason or "cancelled"
                future.cancel()  # cancels generate() on the engine loop, which aborts the request
                engine = self._engine
                if engine is not None and self._runner is not None:
                    with contextlib.suppress(Exception):
                        self._runner.submit(engine.abort(request_id))

    async def close(self) -> None:
        """Shut the engine down (its processes and their memory) and stop its event loop."""
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._engine is not None:
            await asyncio.wrap_future(runner.submit(self._shutdown_on_engine_loop()))
        await asyncio.to_thread(runner.stop)

    async def _shutdown_on_engine_loop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        # Stop the output task first: shutting the engine core down under it logs EngineDeadError.
        handler = getattr(engine, "output_handler", None)
        if handler is not None and not handler.done():
            handler.cancel()
            with contextlib.suppress(BaseException):
                await handler
        engine.shutdown()
        # AsyncLLM.__del__ calls shutdown() again, at interpreter exit when its module globals are
        # gone (a "NoneType is not callable" traceback); it has nothing left to do.
        with contextlib.suppress(AttributeError, TypeError):
            engine.shutdown = lambda *args, **kwargs: None


def _engine_error(exc: BaseException, request_id: str) -> BaseException:
    if isinstance(exc, BackendError | ConfigError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if type(exc).__name__ in ("VLLMValidationError", "ValueError") or isinstance(cause, ValueError):
        return ConfigError(f"vLLM refused request {request_id}: {text}")
    return BackendError(f"vLLM failed on request {request_id}: {text}")


class _EngineLoop:
    """A private event loop in a daemon thread: the engine's output task and sockets live there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="vt-agent-vllm-engine", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        if not self.thread.is_alive():
            self.loop.close()
