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

Concurrent requests are batched (``vt_agent.backends._batching``): requests ready together share
one ``generate`` (left padding, all their videos in one vision pass), up to ``max_batch_size``
requests and ``max_batch_tokens`` padded tokens. Each keeps its own stream: a row ends at its own
EOS or ``max_tokens``, and closing one stream stops only that row (the batch ends when all rows do).
Batches are static: a request that arrives while one runs waits for the next.

Over 400 lines: loading, device and dtype choice and the batched generation of one engine; the torch-free batching is in ``_batching.py``, the tokens in ``_tokens.py``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from vt_agent._lazy import require
from vt_agent.backends._batching import (
    DEFAULT_BATCH_WAIT_S,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    END,
    BatchQueue,
    BatchSettings,
    GenerationStats,
    Job,
    RequestArrays,
    RowText,
    collate,
)
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

__all__ = [
    "ATTENTION",
    "DEFAULT_CONTEXT_CAP",
    "DEFAULT_MODEL",
    "DEVICES",
    "DTYPES",
    "FEATURE",
    "HISTORY",
    "JOIN_TIMEOUT_S",
    "TransformersBackend",
]

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
HISTORY = 1024  # stats of the latest requests kept in ``backend.history``

ProgressCallback = Callable[[ProgressEvent], None]


class TransformersBackend:
    """Video-Thinker (any Qwen2.5-VL checkpoint) on CUDA, MPS or CPU through transformers.

    ``model`` is a hub id or a local checkpoint directory. Nothing is loaded until :meth:`load`
    or the first request. A model of more than a billion parameters (Video-Thinker-7B) is refused
    on the CPU unless ``force_cpu``: it needs ~30 GB there and minutes per answer. ``max_context``
    defaults to the model's ``max_position_embeddings``, capped at 64,000 (the authors' setting);
    requests that do not fit are refused before any generation with
    :class:`~vt_agent.errors.ContextLengthError`. ``max_batch_size`` (1 turns batching off),
    ``max_batch_tokens`` and ``batch_wait_s`` bound how concurrent requests are batched.
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
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        batch_wait_s: float = DEFAULT_BATCH_WAIT_S,
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
        self._batches = BatchQueue(
            BatchSettings(max_batch_size, max_batch_tokens, batch_wait_s), self._generate
        )
        self._load_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer is not safe across threads
        self._closed = False
        self.last_stats: GenerationStats | None = None
        self.history: deque[GenerationStats] = deque(maxlen=HISTORY)  # the latest requests, in order

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
                f"`hf download {DEFAULT_MODEL} --local-dir {self.model}`, pass an existing "
                "checkpoint directory or a hub id, or use --backend fake to try the pipeline without a model.",
                extra="hf",
            )
        if not self.local_files_only:  # a hub id: fail in seconds, not after the hub's ~25 s of retries
            from vt_agent.hub import hub_problem

            problem = hub_problem(self.model)
            if problem is not None:
                raise BackendUnavailableError(problem, extra="hf")
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
            f"`hf download {self.model}`, pass a local checkpoint directory with --model, "
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
        with self._tokenizer_lock:
            return build_prompt_tokens(
                self._tokenizer,
                request.messages,
                request.videos,
                assistant_prefix=request.assistant_prefix,
                prefix_token_ids=request.prefix_token_ids,
            )

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

    def request_arrays(self, prompt: PromptTokens, request: GenerationRequest) -> RequestArrays:
        """The request's model inputs as arrays (pixels patched and normalized), videos in prompt order."""
        from vt_agent.video import cached_model_inputs

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
            grids.append((grid[0], grid[1], grid[2]))
            seconds.append(float(mi.second_per_grid_ts))
        return RequestArrays(
            input_ids=prompt.input_ids,
            mm_token_type_ids=prompt.mm_token_type_ids,
            pixel_values_videos=np.concatenate(pixels, axis=0) if pixels else None,
            video_grid_thw=tuple(grids),
            second_per_grid_ts=tuple(seconds),
        )

    def _model_inputs(self, prompt: PromptTokens, request: GenerationRequest) -> dict[str, Any]:
        """Tensors on the model's device for one request (as a batch of one)."""
        return self._to_device(collate([self.request_arrays(prompt, request)], self._pad_id()))

    def _to_device(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        torch = require("torch", "hf", FEATURE)
        out: dict[str, Any] = {}
        for key, value in arrays.items():
            tensor = torch.from_numpy(value).to(self._device)
            out[key] = tensor.to(self._model.dtype) if key == "pixel_values_videos" else tensor
        return out

    def _pad_id(self) -> int:
        pad = self._model.generation_config.pad_token_id if self._model is not None else None
        if pad is None:
            pad = self._tokenizer.pad_token_id
        if pad is None:
            raise BackendError(
                "the model has no pad token id: set pad_token_id in its generation_config.json"
            )
        return int(pad[0] if isinstance(pad, list) else pad)

    def _eos_ids(self) -> frozenset[int]:
        eos = self._model.generation_config.eos_token_id
        return frozenset(int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None)

    def _generation_config(self, batch: list[Job]) -> Any:
        tf = require("transformers", "hf", FEATURE)
        do_sample, temperature, top_p = batch[0].sampling
        sampling: dict[str, Any] = {"do_sample": do_sample, "temperature": temperature, "top_p": top_p}
        base = self._model.generation_config
        return tf.GenerationConfig(
            max_new_tokens=max(j.max_new_tokens for j in batch),
            top_k=0,
            repetition_penalty=1.0,
            eos_token_id=base.eos_token_id,
            pad_token_id=self._pad_id(),
            bos_token_id=base.bos_token_id,
            **sampling,
        )

    def _decode(self, ids: list[int]) -> str:
        with self._tokenizer_lock:
            text = self._tokenizer.decode(ids, skip_special_tokens=True)
        return str(text)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta, None]:
        """Stream the model's text for ``request``; closing the iterator stops its generation.

        Requests in flight together are batched (see ``max_batch_size``); each keeps its own stream.
        """
        self._check_open()
        with self._batches.preparing():
            prompt = await asyncio.to_thread(self.check_request, request)
            if self._model is None:
                await asyncio.to_thread(self._ensure_model, lambda event: None)
            arrays = await asyncio.to_thread(self.request_arrays, prompt, request)
            greedy = request.temperature == 0
            job = Job(
                arrays=arrays,
                max_new_tokens=request.max_tokens,
                sampling=(False, 1.0, 1.0) if greedy else (True, request.temperature, request.top_p),
                loop=asyncio.get_running_loop(),
                queue=asyncio.Queue(),
                text=RowText(self._decode),
                eos_ids=self._eos_ids(),
            )
            job.stats.request_id = request.request_id
            job.stats.prompt_tokens = prompt.num_tokens
            job.stats.video_tokens = prompt.video_tokens
            self.last_stats = job.stats
            self.history.append(job.stats)
            self._batches.submit(job)
        try:
            while (item := await job.queue.get()) is not END:
                text, ids = cast("tuple[str, tuple[int, ...]]", item)
                yield Delta(text, token_ids=ids)
            if job.error is not None:
                raise _generation_error(job.error) from job.error
            if job.stats.finish_reason is None:
                raise GenerationCancelled("generation stopped: the transformers backend was closed")
            yield Delta("", finish_reason="length" if job.stats.finish_reason == "length" else "stop")
        finally:
            if not job.done:
                job.cancel.set()
                job.stats.cancelled = True
                self._batches.wake()

    @property
    def busy(self) -> bool:
        """True while a generation runs or requests wait for one."""
        return self._batches.busy

    @property
    def batching(self) -> BatchSettings:
        """How concurrent requests are batched; assign a new :class:`BatchSettings` to change it."""
        return self._batches.settings

    @batching.setter
    def batching(self, settings: BatchSettings) -> None:
        self._batches.settings = settings

    def _generate(self, batch: list[Job]) -> None:
        tf = require("transformers", "hf", FEATURE)
        torch = require("torch", "hf", FEATURE)
        started = time.perf_counter()
        for job in batch:
            job.stats.batch_size = len(batch)
            job.stats.queued_s = started - job.ready_at
        inputs = self._to_device(collate([j.arrays for j in batch], self._pad_id()))
        stop = tf.StoppingCriteriaList([_batch_criteria(batch, int(inputs["input_ids"].shape[1]))])
        with torch.inference_mode():
            self._model.generate(
                **inputs,
                generation_config=self._generation_config(batch),
                streamer=_batch_streamer(batch, started),
                stopping_criteria=stop,
            )

    async def close(self) -> None:
        """Stop running generations, wait for them and free the model."""
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        """Blocking :meth:`close`."""
        self._closed = True
        self._batches.close(JOIN_TIMEOUT_S)
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


def _batch_streamer(batch: list[Job], started: float) -> Any:
    """A transformers streamer that hands each row's token to its job (the prompt comes first)."""
    tf = require("transformers", "hf", FEATURE)
    base: Any = tf.generation.streamers.BaseStreamer

    class _BatchStreamer(base):  # type: ignore[misc]
        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            now = time.perf_counter()
            for job, token in zip(batch, value.reshape(-1).tolist(), strict=True):
                job.add_token(int(token), now, started)

        def end(self) -> None:
            return None

    return _BatchStreamer()


def _batch_criteria(batch: list[Job], prompt_len: int) -> Any:
    """Stops each row at its own ``max_tokens``, when it is done, or when its consumer left."""
    tf = require("transformers", "hf", FEATURE)
    torch = require("torch", "hf", FEATURE)
    base: Any = tf.StoppingCriteria

    class _BatchCriteria(base):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            n = int(input_ids.shape[-1]) - prompt_len
            stop = [j.done or j.cancel.is_set() or n >= j.max_new_tokens for j in batch]
            return torch.tensor(stop, dtype=torch.bool, device=input_ids.device)

    return _BatchCriteria()
