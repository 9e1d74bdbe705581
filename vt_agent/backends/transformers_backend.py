"""Qwen2.5-VL (Video-Thinker-7B) through Hugging Face transformers, streamed from a worker thread.

Inputs are built without torchvision and without the official processor: the chat text comes from
the model's own chat template, ``<|video_pad|>`` is expanded per video (``vt_agent.backends._tokens``)
and the pixels come from ``vt_agent.video.video_model_inputs``.

Decoding follows the Video-Thinker protocol (docs/protocol.md, Decoding, the authors' vLLM settings):
``temperature`` and ``top_p`` from the request (0.1 and 0.001 by default), no top-k, no repetition
penalty, EOS as the only stop. ``top_p=0.001`` keeps only the most likely token, so sampling is in
effect greedy; ``temperature == 0`` asks for plain greedy decoding (``do_sample=False``). The
checkpoint's own ``generation_config`` (Qwen ships ``top_k=1, repetition_penalty=1.05``) is
overridden so that transformers decodes like vLLM did for the authors.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vt_agent._lazy import require
from vt_agent.backends._tokens import PromptTokens, build_prompt_tokens, check_context
from vt_agent.backends.base import Delta, GenerationRequest
from vt_agent.checkpoints import CPU_PARAM_LIMIT, estimate_parameters
from vt_agent.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    GenerationCancelled,
    VTAgentError,
)
from vt_agent.events import ProgressEvent

DEFAULT_MODEL = "ShijianW01/Video-Thinker-7B"
DEFAULT_CONTEXT_CAP = 64000  # the authors' max_model_len; pass max_context to go beyond
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = {
    "auto": "auto",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
}
ATTENTION = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")
FEATURE = "The transformers backend"
JOIN_TIMEOUT_S = 30.0

ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class GenerationStats:
    """What the last generation did (for tests, benchmarks and logs)."""

    prompt_tokens: int = 0
    video_tokens: int = 0
    generated_tokens: int = 0
    finish_reason: str | None = None
    cancelled: bool = False
    prefill_s: float | None = None  # time to the first generated token
    total_s: float = 0.0

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed after the first token."""
        if self.prefill_s is None or self.generated_tokens < 2 or self.total_s <= self.prefill_s:
            return None
        return (self.generated_tokens - 1) / (self.total_s - self.prefill_s)


@dataclass
class _Job:
    model: Any
    inputs: dict[str, Any]
    generation_config: Any
    streamer: Any
    prompt_len: int
    max_new_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    stats: GenerationStats = field(default_factory=GenerationStats)
    new_tokens: list[int] = field(default_factory=list)
    error: BaseException | None = None
    started: float = 0.0


class TransformersBackend:
    """Video-Thinker (any Qwen2.5-VL checkpoint) on CUDA, MPS or CPU through transformers.

    ``model`` is a hub id or a local checkpoint directory. Nothing is loaded until :meth:`load`
    or the first request. A model of more than a billion parameters (Video-Thinker-7B) is refused
    on the CPU unless ``force_cpu``: it needs ~30 GB there and minutes per answer. ``max_context`` defaults to the model's ``max_position_embeddings``,
    capped at 64,000 (the authors' setting); requests that do not fit are refused before any
    generation with :class:`~vt_agent.errors.ContextLengthError`.
    """

    name = "transformers"
    scripted = False

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str | None = None,
        max_context: int | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        trust_remote_code: bool = False,
        force_cpu: bool = False,
    ) -> None:
        if device not in DEVICES and not device.startswith("cuda:"):
            raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}")
        if dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if attn_implementation is not None and attn_implementation not in ATTENTION:
            raise ConfigError(
                f"attn_implementation must be one of {', '.join(ATTENTION)}, got {attn_implementation!r}"
            )
        if max_context is not None and (isinstance(max_context, bool) or max_context < 1):
            raise ConfigError(f"max_context must be a positive number of tokens, got {max_context!r}")
        self.model = str(model)
        self.device_setting = device
        self.dtype_setting = DTYPES[dtype]
        self.attn_implementation = attn_implementation
        self.local_files_only = local_files_only
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.force_cpu = force_cpu
        self._max_context = max_context
        self._tokenizer: Any = None
        self._config: Any = None
        self._model: Any = None
        self._device: str | None = None
        self._source: str | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._threads: dict[threading.Thread, _Job] = {}
        self._closed = False
        self.last_stats: GenerationStats | None = None

    # ------------------------------------------------------------------ settings

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def device(self) -> str | None:
        """The device the model is (or will be) on, once resolved."""
        return self._device

    @property
    def max_context(self) -> int:
        """Context length used for the length check (loads the config if needed)."""
        self._ensure_tokenizer()
        if self._max_context is not None:
            return self._max_context
        limit = (
            getattr(self._config.get_text_config(), "max_position_embeddings", None) or DEFAULT_CONTEXT_CAP
        )
        return min(int(limit), DEFAULT_CONTEXT_CAP)

    # ------------------------------------------------------------------ loading

    async def load(self, progress: ProgressCallback | None = None) -> None:
        """Load tokenizer, config and weights now (in a thread), reporting progress."""
        await asyncio.to_thread(self.load_sync, progress)

    def load_sync(self, progress: ProgressCallback | None = None) -> None:
        """Blocking :meth:`load`."""
        self._check_open()
        report = progress or (lambda event: None)
        if self._model is not None:
            report(ProgressEvent("load", f"{self.model} already loaded", 1.0))
            return
        self._resolve_device(require("torch", "hf", FEATURE))  # a missing GPU is named before any download
        report(ProgressEvent("load", f"loading tokenizer and config of {self.model}", 0.0))
        self._ensure_tokenizer()
        self._ensure_model(report)
        report(ProgressEvent("load", f"{self.model} loaded on {self._device}", 1.0))

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("this TransformersBackend is closed; create a new one")

    def _resolve_source(self) -> str:
        path = Path(self.model).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise BackendUnavailableError(
                    f"{path} is not a Hugging Face checkpoint directory (no config.json). Pass a directory "
                    f"holding config.json and the weights, a hub id such as {DEFAULT_MODEL}, or use --backend fake "
                    "to try the pipeline without a model.",
                    extra="hf",
                )
            return str(path)
        if _looks_like_path(self.model):
            raise BackendUnavailableError(
                f"the local model directory {self.model} does not exist. Download the weights with "
                f"`huggingface-cli download {DEFAULT_MODEL} --local-dir {self.model}`, pass an existing "
                "checkpoint directory or a hub id, or use --backend fake to try the pipeline without a model.",
                extra="hf",
            )
        return self.model

    def _hub_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "local_files_only": self.local_files_only,
            "trust_remote_code": self.trust_remote_code,
        }
        if self.revision is not None:
            kw["revision"] = self.revision
        return kw

    def _unavailable(self, exc: BaseException, what: str) -> BackendUnavailableError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        offline = " (offline: only the local cache is searched)" if self.local_files_only else ""
        return BackendUnavailableError(
            f"could not load the {what} of model {self.model!r}{offline}: {reason}. Download it first with "
            f"`huggingface-cli download {self.model}`, pass a local checkpoint directory with --model, "
            "or use --backend fake to try the pipeline without a model.",
            extra="hf",
        )

    def _ensure_tokenizer(self) -> None:
        if self._tokenizer is not None:
            return
        with self._load_lock:
            if self._tokenizer is not None:
                return
            require("torch", "hf", FEATURE)
            tf = require("transformers", "hf", FEATURE)
            source = self._resolve_source()
            try:
                config = tf.AutoConfig.from_pretrained(source, **self._hub_kwargs())
            except Exception as exc:  # missing, unreachable, or an invalid config.json
                raise self._unavailable(exc, "config") from exc
            if getattr(config, "model_type", None) != "qwen2_5_vl":
                raise BackendUnavailableError(
                    f"model {self.model!r} is a {getattr(config, 'model_type', 'unknown')!r} model; the transformers "
                    "backend runs Qwen2.5-VL checkpoints such as Video-Thinker-7B",
                    extra="hf",
                )
            try:
                tokenizer = tf.AutoTokenizer.from_pretrained(source, **self._hub_kwargs())
            except Exception as exc:
                raise self._unavailable(exc, "tokenizer") from exc
            self._source, self._config, self._tokenizer = source, config, tokenizer

    def _resolve_device(self, torch: Any) -> str:
        setting = self.device_setting
        if setting == "auto":
            if torch.cuda.is_available():
                return "cuda"
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return "mps"
            return "cpu"
        if setting.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(
                "device 'cuda' was asked for but torch sees no CUDA GPU (a CPU-only torch build, or no driver); "
                "use device='cpu' or install a CUDA build of torch",
                extra="hf",
            )
        if setting == "mps":
            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                raise BackendUnavailableError("device 'mps' was asked for but is not available", extra="hf")
        return setting

    def _resolve_dtype(self, torch: Any, device: str) -> Any:
        name = self.dtype_setting
        if name == "auto":
            if device.startswith("cuda"):
                name = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
            elif device == "mps":
                name = "float16"
            else:
                name = "float32"
        return getattr(torch, name)

    def _ensure_model(self, report: ProgressCallback) -> None:
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            torch = require("torch", "hf", FEATURE)
            tf = require("transformers", "hf", FEATURE)
            device = self._resolve_device(torch)
            dtype = self._resolve_dtype(torch, device)
            params = estimate_parameters(self._config)
            if device == "cpu" and params > CPU_PARAM_LIMIT and not self.force_cpu:
                raise BackendUnavailableError(
                    f"model {self.model!r} has about {params / 1e9:.1f} B parameters: on the CPU it needs about "
                    f"{params * 4 / 2**30:.0f} GiB of memory in float32 and minutes per answer, and no GPU was "
                    "found. Run it on a GPU (device='cuda'), point vt-agent at a vLLM/OpenAI-compatible server "
                    "(--backend openai --base-url ...), or force it with force_cpu=True (--force-cpu).",
                    extra="hf",
                )
            report(ProgressEvent("load", f"loading weights of {self.model} ({dtype}, {device})", 0.1))
            kwargs: dict[str, Any] = {"dtype": dtype, **self._hub_kwargs()}
            if self.attn_implementation is not None:
                kwargs["attn_implementation"] = self.attn_implementation
            if device != "cpu":
                kwargs["device_map"] = device
            try:
                model = tf.Qwen2_5_VLForConditionalGeneration.from_pretrained(self._source, **kwargs)
            except ImportError as exc:
                # e.g. flash_attention_2 without flash-attn, device_map without accelerate
                raise BackendUnavailableError(
                    f"could not load {self.model!r} with attn_implementation={self.attn_implementation!r} on "
                    f"{device}: {exc}. Install the missing package or choose attn_implementation='sdpa'.",
                    extra="hf",
                ) from exc
            except Exception as exc:
                if "out of memory" in str(exc).lower():
                    raise _generation_error(exc) from exc
                raise self._unavailable(exc, "weights") from exc
            if device == "cpu":
                model = model.to(device)
            model.eval()
            self._model, self._device = model, device

    # ------------------------------------------------------------------ requests

    def prompt_tokens(self, request: GenerationRequest) -> PromptTokens:
        """Tokenize a request's prompt with video placeholders expanded (loads the tokenizer only)."""
        self._check_open()
        self._ensure_tokenizer()
        return build_prompt_tokens(self._tokenizer, request.messages, request.videos)

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        """Prompt length in tokens, text plus video."""
        return self.prompt_tokens(request).num_tokens

    def check_request(self, request: GenerationRequest) -> PromptTokens:
        """Tokenize and refuse a request that does not fit the context (no weights needed)."""
        if request.temperature < 0 or not 0 < request.top_p <= 1:
            raise ConfigError(
                f"temperature must be >= 0 and top_p in (0, 1], got {request.temperature} and {request.top_p}"
            )
        prompt = self.prompt_tokens(request)
        check_context(prompt, request.videos, request.max_tokens, self.max_context)
        return prompt

    def _model_inputs(self, prompt: PromptTokens, request: GenerationRequest) -> dict[str, Any]:
        torch = require("torch", "hf", FEATURE)
        from vt_agent.video import cached_model_inputs

        device = self._device
        inputs: dict[str, Any] = {
            "input_ids": torch.from_numpy(prompt.input_ids[None, :]).to(device),
            "attention_mask": torch.from_numpy(prompt.attention_mask[None, :]).to(device),
            "mm_token_type_ids": torch.from_numpy(prompt.mm_token_type_ids[None, :]).to(device),
        }
        if not prompt.video_order:
            return inputs
        pixels, grids, seconds = [], [], []
        for index in prompt.video_order:
            prepared = request.videos[index]
            mi = cached_model_inputs(prepared.frames, prepared.record.second_per_grid_ts)
            grid = tuple(int(x) for x in np.asarray(mi.video_grid_thw).reshape(-1))
            if grid != tuple(prepared.record.grid_thw):
                raise BackendError(
                    f"video {index} ({prepared.record.path}): its frames give the grid {grid} but the sampling "
                    f"record says {tuple(prepared.record.grid_thw)}; prepare the video again"
                )
            pixels.append(np.asarray(mi.pixel_values_videos, dtype=np.float32))
            grids.append(grid)
            seconds.append(float(mi.second_per_grid_ts))
        dtype = self._model.dtype
        inputs["pixel_values_videos"] = torch.from_numpy(np.concatenate(pixels, axis=0)).to(device, dtype)
        inputs["video_grid_thw"] = torch.tensor(grids, dtype=torch.int64, device=device)
        inputs["second_per_grid_ts"] = torch.tensor(seconds, dtype=torch.float32, device=device)
        return inputs

    def _generation_config(self, request: GenerationRequest) -> Any:
        tf = require("transformers", "hf", FEATURE)
        if request.temperature == 0:
            sampling: dict[str, Any] = {"do_sample": False, "temperature": 1.0, "top_p": 1.0}
        else:
            sampling = {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p}
        base = self._model.generation_config
        return tf.GenerationConfig(
            max_new_tokens=request.max_tokens,
            top_k=0,
            repetition_penalty=1.0,
            eos_token_id=base.eos_token_id,
            pad_token_id=base.pad_token_id if base.pad_token_id is not None else self._tokenizer.pad_token_id,
            bos_token_id=base.bos_token_id,
            **sampling,
        )

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        """Stream the model's text for ``request``; closing the iterator stops generation."""
        self._check_open()
        prompt = await asyncio.to_thread(self.check_request, request)
        if self._model is None:
            await asyncio.to_thread(self._ensure_model, lambda event: None)
        inputs = await asyncio.to_thread(self._model_inputs, prompt, request)
        job = _Job(
            model=self._model,
            inputs=inputs,
            generation_config=self._generation_config(request),
            streamer=_make_streamer(self._tokenizer),
            prompt_len=prompt.num_tokens,
            max_new_tokens=request.max_tokens,
        )
        job.stats.prompt_tokens = prompt.num_tokens
        job.stats.video_tokens = prompt.video_tokens
        self.last_stats = job.stats
        thread = threading.Thread(target=self._worker, args=(job,), name="vt-agent-generate", daemon=True)
        self._threads[thread] = job
        thread.start()
        try:
            async for text in job.streamer:
                if text:
                    yield Delta(text)
            await asyncio.to_thread(thread.join)
            if job.error is not None:
                raise _generation_error(job.error) from job.error
            if job.cancel.is_set():
                raise GenerationCancelled("generation stopped: the transformers backend was closed")
            job.stats.finish_reason = self._finish_reason(job)
            yield Delta("", finish_reason="length" if job.stats.finish_reason == "length" else "stop")
        finally:
            job.cancel.set()
            if thread.is_alive():
                job.stats.cancelled = True

    def _finish_reason(self, job: _Job) -> str:
        if len(job.new_tokens) >= job.max_new_tokens:
            eos = job.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos])
            if job.new_tokens[-1] not in eos_ids:
                return "length"
        return "stop"

    def _worker(self, job: _Job) -> None:
        tf = require("transformers", "hf", FEATURE)
        torch = require("torch", "hf", FEATURE)
        try:
            with self._generate_lock:
                if job.cancel.is_set():
                    job.stats.cancelled = True
                    return
                job.started = time.perf_counter()
                stop = tf.StoppingCriteriaList([_cancel_criteria(job)])
                with torch.inference_mode():
                    out = job.model.generate(
                        **job.inputs,
                        generation_config=job.generation_config,
                        streamer=job.streamer,
                        stopping_criteria=stop,
                    )
                job.new_tokens = out[0, job.prompt_len :].tolist()
                job.stats.generated_tokens = len(job.new_tokens)
                job.stats.cancelled = job.cancel.is_set()
        except BaseException as exc:
            job.error = exc
        finally:
            if job.started:
                job.stats.total_s = time.perf_counter() - job.started
            job.streamer.finish()
            self._threads.pop(threading.current_thread(), None)

    async def close(self) -> None:
        """Stop running generations, wait for them and free the model."""
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        """Blocking :meth:`close`."""
        self._closed = True
        running = list(self._threads.items())
        for _, job in running:
            job.cancel.set()
        for thread, _ in running:
            thread.join(JOIN_TIMEOUT_S)
        with self._load_lock:
            on_cuda = bool(self._device and self._device.startswith("cuda"))
            self._model = None
            self._tokenizer = None
            self._config = None
        gc.collect()
        if on_cuda:
            torch = require("torch", "hf", FEATURE)
            torch.cuda.empty_cache()


def _looks_like_path(model: str) -> bool:
    """A local path rather than a hub id (``org/name``)."""
    if model.startswith(("/", "./", "../", "~", "\\")) or model in {".", ".."}:
        return True
    if len(model) > 1 and model[1] == ":":  # C:\...
        return True
    return model.count("/") > 1 or "\\" in model


def _generation_error(exc: BaseException) -> VTAgentError:
    if isinstance(exc, VTAgentError):
        return exc
    text = str(exc)
    if "out of memory" in text.lower():
        return BackendError(
            f"the model ran out of memory: {text.splitlines()[0]}. Use fewer frames or pixels "
            "(a smaller preset), lower max_tokens, or a GPU with more memory."
        )
    return BackendError(f"generation failed: {type(exc).__name__}: {text}")


def _make_streamer(tokenizer: Any) -> Any:
    """An AsyncTextIteratorStreamer (created in the running loop) that tolerates a closed loop."""
    tf = require("transformers", "hf", FEATURE)

    base: Any = tf.AsyncTextIteratorStreamer

    class _Streamer(base):  # type: ignore[misc]
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            with contextlib.suppress(RuntimeError):  # the consumer's loop is gone: nobody is listening
                super().on_finalized_text(text, stream_end)

        def finish(self) -> None:
            """Make sure the consumer sees the end, even when generate() failed before end()."""
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.text_queue.put_nowait, self.stop_signal)

    return _Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _cancel_criteria(job: _Job) -> Any:
    """A StoppingCriteria that stops when the job is cancelled; it also counts tokens and times the first."""
    tf = require("transformers", "hf", FEATURE)
    torch = require("torch", "hf", FEATURE)

    base: Any = tf.StoppingCriteria

    class _CancelCriteria(base):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            job.stats.generated_tokens = int(input_ids.shape[-1]) - job.prompt_len
            if job.stats.prefill_s is None:
                job.stats.prefill_s = time.perf_counter() - job.started
            stop = job.cancel.is_set()
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return _CancelCriteria()
