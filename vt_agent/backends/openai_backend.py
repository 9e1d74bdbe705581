"""Video-Thinker behind an OpenAI-compatible chat-completions server (first of all ``vllm serve``).

Streaming over SSE with httpx. The frames the model sees are exactly the frames vt-agent sampled:
each video goes as ``video_url`` with a ``data:video/jpeg;base64,<f1>,<f2>,...`` URL, vLLM's
frame-sequence format, whose frames are decoded by Pillow whatever their format, so vt-agent
sends them as **PNG** (lossless). With it goes the per-request ``media_io_kwargs`` that vLLM's
``VideoMediaIO`` turns into the video metadata (``num_frames``, ``fps``, ``frames_indices``,
``total_num_frames``, ``duration``, ``do_sample_frames=False``; ``fps`` chosen so that
``second_per_grid_ts = 2 / sampled_fps``), and ``mm_processor_kwargs`` with pixel bounds equal
to the frames' own area so that the server does not resize them. vLLM accepts per-request kwargs
only when started with ``--trust-request-mm-kwargs`` (``vt-agent serve`` passes it). Each video
part carries ``uuid = SamplingRecord.cache_key`` so the server's multimodal cache is reused.

Transient failures (connection errors, 429, 5xx) are retried with exponential backoff before the
first token; other 4xx are not. An unreachable server and a wrong model name raise
:class:`~vt_agent.errors.BackendUnavailableError` saying what to do.

Over 400 lines: request encoding, the server-sent-event reader, retries and error mapping of one HTTP client.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from vt_agent._http import backoff_delay, error_message
from vt_agent.backends._tokens import video_order
from vt_agent.backends.base import Delta, GenerationRequest, PreparedVideo
from vt_agent.config import DEFAULT_BASE_URL
from vt_agent.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    ContextLengthError,
    GenerationCancelled,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "OpenAIBackend",
    "OpenAIStats",
    "encode_video",
    "iter_sse_data",
    "media_kwargs",
]

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
ENCODED_CACHE_SIZE = 8  # videos whose encoded frames the backend keeps
SERVE_HINT = "start one with `vt-agent serve --model <checkpoint>` (it prints the client settings)"


@dataclass
class OpenAIStats:
    """What the last request did (usage as the server reported it)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None  # vLLM with --enable-prompt-tokens-details
    finish_reason: str | None = None
    attempts: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0


def _png_b64(frame: Any) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def encode_video(video: PreparedVideo) -> str:
    """The video as vLLM's frame-sequence data URL, every frame a lossless PNG."""
    frames = video.frames
    if frames.ndim != 4 or frames.shape[-1] != 3 or str(frames.dtype) != "uint8":
        raise ConfigError(
            f"{video.record.path}: frames must be a (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}"
        )
    return "data:video/jpeg;base64," + ",".join(_png_b64(f) for f in frames)


def media_kwargs(videos: Sequence[PreparedVideo]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(media_io_kwargs, mm_processor_kwargs)`` that make vLLM take the frames as they are.

    vLLM takes one set per request, so several videos must share frame count and sampled fps.
    """
    from vt_agent.backends.vllm_backend import processor_kwargs, video_item_metadata

    if not videos:
        return {}, {}
    metas = [video_item_metadata(v) for v in videos]
    first = videos[0].record
    for v in videos[1:]:
        r = v.record
        if len(r.indices) != len(first.indices) or r.sampled_fps != first.sampled_fps:
            raise ConfigError(
                "the openai backend sends one video metadata per request, but the videos differ "
                f"({len(first.indices)} frames at {first.sampled_fps:.4f} fps in {first.path}, "
                f"{len(r.indices)} at {r.sampled_fps:.4f} in {r.path}); ask about them separately "
                "or use the in-process vllm backend"
            )
    meta = dict(metas[0])
    meta["num_frames"] = len(first.indices)
    meta.pop("video_backend", None)
    if len(videos) > 1:  # the indices differ per video; the fps (what the model sees) does not
        meta.pop("frames_indices", None)
        meta.pop("total_num_frames", None)
        meta.pop("duration", None)
        meta["fps"] = first.sampled_fps
    return {"video": meta}, processor_kwargs(videos)


def chat_messages(
    request: GenerationRequest, encode: Callable[[PreparedVideo], str] = encode_video, *, uuids: bool = True
) -> list[dict[str, Any]]:
    """The request's messages in OpenAI form, each video as a ``video_url`` part (with vLLM's
    ``uuid`` field = ``cache_key`` unless ``uuids`` is False)."""
    video_order(request.messages, len(request.videos))  # every video referenced exactly once
    out: list[dict[str, Any]] = []
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for entry in content or []:
            if entry.get("type") == "video" or "video" in entry:
                video = request.videos[int(entry["video"])]
                part: dict[str, Any] = {"type": "video_url", "video_url": {"url": encode(video)}}
                if uuids:
                    part["uuid"] = video.record.cache_key
                parts.append(part)
            elif "text" in entry:
                parts.append({"type": "text", "text": str(entry["text"])})
        out.append({"role": message["role"], "content": parts})
    return out


async def iter_sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` payloads of a server-sent-event stream (multi-line data joined by newlines)."""
    buf: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if buf:
                yield "\n".join(buf)
                buf = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            buf.append(value)
    if buf:
        yield "\n".join(buf)


class OpenAIBackend:
    """Streams chat completions from an OpenAI-compatible server.

    ``base_url`` is the API root (``.../v1``). ``model`` is the served model name; None picks the
    server's only model. ``timeout_s`` bounds the wait for each piece of the stream,
    ``connect_timeout_s`` the connection. ``max_retries`` retries of transient failures with
    backoff ``backoff_s * 2**attempt`` (capped at ``max_backoff_s``, ``Retry-After`` honoured).
    ``send_media_kwargs=False`` leaves out the vLLM-specific ``media_io_kwargs``,
    ``mm_processor_kwargs`` and ``uuid`` fields (for servers that reject unknown fields; the server then decides fps
    and pixels itself).
    """

    name = "openai"
    scripted = False

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        send_media_kwargs: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must be an http(s) URL like {DEFAULT_BASE_URL}, got {base_url!r}")
        for key, value in (("timeout_s", timeout_s), ("connect_timeout_s", connect_timeout_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{key} must be a positive number of seconds, got {value!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ConfigError("backoff_s and max_backoff_s must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model or ""
        self.api_key = api_key
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.send_media_kwargs = send_media_kwargs
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        self.last_stats: OpenAIStats | None = None
        self._encoded: OrderedDict[str, str] = OrderedDict()  # cache_key -> data URL

    def _encode(self, video: PreparedVideo) -> str:
        """PNG-encode once per video (cache_key identifies the frames); a few recent ones are kept."""
        key = f"{video.record.cache_key}|{video.frames.shape}"
        url = self._encoded.get(key)
        if url is None:
            url = encode_video(video)
            self._encoded[key] = url
            while len(self._encoded) > ENCODED_CACHE_SIZE:
                self._encoded.popitem(last=False)
        else:
            self._encoded.move_to_end(key)
        return url

    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise BackendError("the openai backend is closed")
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(timeout=self.timeout, headers=headers, transport=self._transport)
        return self._client

    def _unreachable(self, exc: Exception) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach the OpenAI-compatible server at {self.base_url} ({type(exc).__name__}: {exc}); "
            f"check the URL or {SERVE_HINT}"
        )

    async def list_models(self) -> list[str]:
        """Names the server serves (``GET /models``)."""
        try:
            response = await self._http().get(f"{self.base_url}/models")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code != 200:
            raise BackendError(
                f"GET {self.base_url}/models answered {response.status_code}: {error_message(response)}"
            )
        data = response.json().get("data", [])
        return [str(m.get("id")) for m in data if isinstance(m, dict)]

    async def _model_name(self) -> str:
        if self.model:
            return self.model
        models = await self.list_models()
        if len(models) != 1:
            raise ConfigError(
                f"the server at {self.base_url} serves {len(models)} models ({', '.join(models) or 'none'}); "
                "choose one with model=... (VT_AGENT_MODEL)"
            )
        self.model = models[0]
        return self.model

    def payload(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        """The JSON body of the chat-completions request."""
        if request.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {request.max_tokens}")
        body: dict[str, Any] = {
            "model": model,
            "messages": chat_messages(request, self._encode, uuids=self.send_media_kwargs),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
        }
        if request.videos and self.send_media_kwargs:
            ordered = [request.videos[i] for i in video_order(request.messages, len(request.videos))]
            media, proc = media_kwargs(ordered)
            body["media_io_kwargs"] = media
            body["mm_processor_kwargs"] = proc
        if request.assistant_prefix:
            # continue the assistant's reply (vLLM's chat API): the server re-tokenizes the text, so
            # a step boundary can tokenize differently from how the model generated it
            body["messages"].append({"role": "assistant", "content": request.assistant_prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        extra = request.extra.get("openai")
        if isinstance(extra, dict):
            body.update(extra)
        return body

    async def _delay(self, attempt: int, response: httpx.Response | None) -> None:
        await asyncio.sleep(backoff_delay(attempt, self.backoff_s, self.max_backoff_s, response))

    async def _raise_for(self, response: httpx.Response, model: str) -> None:
        await response.aread()
        message = error_message(response)
        status = response.status_code
        if status == 404 and ("model" in message.lower() or "does not exist" in message.lower()):
            try:
                models = await self.list_models()
            except BackendError:
                models = []
            raise BackendUnavailableError(
                f"the server at {self.base_url} does not serve the model {model!r} ({message}); "
                f"it serves: {', '.join(models) or 'nothing'}. Set model= (VT_AGENT_MODEL) to one of them"
            )
        if status in (401, 403):
            raise BackendUnavailableError(
                f"the server at {self.base_url} refused the credentials ({status}: {message}); set api_key"
            )
        low = message.lower()
        if "mm_processor_kwargs" in low or "media_io_kwargs" in low:
            raise BackendUnavailableError(
                f"the server at {self.base_url} refuses per-request media settings ({message}). vt-agent needs "
                "them to send the exact protocol frames: restart vLLM with --trust-request-mm-kwargs "
                "(`vt-agent serve` does), or pass send_media_kwargs=False to let the server resample"
            )
        if status == 400 and ("context length" in low or "max_model_len" in low or "maximum context" in low):
            raise ContextLengthError(f"the server refused the request as too long: {message}")
        if 400 <= status < 500:
            raise BackendError(f"the server at {self.base_url} rejected the request ({status}): {message}")
        raise BackendError(f"the server at {self.base_url} failed ({status}) after retries: {message}")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        """Stream text deltas; closing the iterator closes the HTTP stream (the server aborts)."""
        client = self._http()
        model = await self._model_name()
        body = self.payload(request, model)
        stats = OpenAIStats()
        self.last_stats = stats
        started = time.perf_counter()
        url = f"{self.base_url}/chat/completions"
        response: httpx.Response | None = None
        attempt = 0
        while True:
            stats.attempts = attempt + 1
            try:
                req = client.build_request("POST", url, json=body)
                response = await client.send(req, stream=True)
            except (
                httpx.ConnectError,
                httpx.ConnectTimeout,
                httpx.PoolTimeout,
                httpx.RemoteProtocolError,
            ) as exc:
                if attempt >= self.max_retries:
                    raise self._unreachable(exc) from exc
                await self._delay(attempt, None)
                attempt += 1
                continue
            except httpx.TimeoutException as exc:
                raise BackendError(
                    f"the server at {self.base_url} sent no response within {self.timeout.read} s"
                ) from exc
            if response.status_code == 200:
                break
            if response.status_code in RETRY_STATUS and attempt < self.max_retries:
                await response.aclose()
                await self._delay(attempt, response)
                attempt += 1
                continue
            try:
                await self._raise_for(response, model)
            finally:
                await response.aclose()
        finished = False
        try:
            async for data in iter_sse_data(response.aiter_lines()):
                if data.strip() == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError as exc:
                    raise BackendError(
                        f"the server sent a stream event that is not JSON: {data[:200]!r}"
                    ) from exc
                if not isinstance(chunk, dict):
                    raise BackendError(f"the server sent an unexpected stream event: {data[:200]!r}")
                if "error" in chunk:
                    err = chunk["error"]
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    raise BackendError(f"the server failed during generation: {msg}")
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    stats.prompt_tokens = usage.get("prompt_tokens")
                    stats.completion_tokens = usage.get("completion_tokens")
                    details = usage.get("prompt_tokens_details")
                    if isinstance(details, dict) and details.get("cached_tokens") is not None:
                        stats.cached_tokens = int(details["cached_tokens"])
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content") or ""
                    if text:
                        if stats.first_token_s is None:
                            stats.first_token_s = time.perf_counter() - started
                        yield Delta(text)
                    reason = choice.get("finish_reason")
                    if reason:
                        stats.finish_reason = reason
            if stats.finish_reason is None:
                raise BackendError(f"the stream from {self.base_url} ended without a finish_reason")
            if stats.finish_reason == "abort":
                raise GenerationCancelled(f"the server at {self.base_url} aborted the request")
            finished = True
            stats.total_s = time.perf_counter() - started
            yield Delta("", finish_reason="length" if stats.finish_reason == "length" else "stop")
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"the server at {self.base_url} sent nothing for {self.timeout.read} s during generation"
            ) from exc
        except httpx.TransportError as exc:
            raise BackendError(f"the connection to {self.base_url} broke during generation: {exc}") from exc
        finally:
            stats.total_s = time.perf_counter() - started
            if not finished and stats.finish_reason is None:
                stats.finish_reason = "cancelled"
            await response.aclose()

    async def close(self) -> None:
        """Close the HTTP client."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
