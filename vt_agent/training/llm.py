"""A small client for a text LLM behind any OpenAI-compatible chat-completions endpoint.

Used by the data builders (the LLM writes questions and traces) and by hindsight curation (a
model answers from a trace's captions). Works with OpenAI, vLLM (``vllm serve``), llama.cpp,
Ollama, LM Studio, TGI and anything else that serves ``POST {base_url}/chat/completions``.

Errors: an unreachable server, refused credentials and a model the server does not serve raise
:class:`~vt_agent.errors.BackendUnavailableError` (with what to do); connection failures,
timeouts, 408, 429 and 5xx are retried ``max_retries`` times with exponential backoff
(``Retry-After`` honoured); other failures raise :class:`~vt_agent.errors.BackendError`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from vt_agent._http import backoff_delay, error_message
from vt_agent.errors import BackendError, BackendUnavailableError, ConfigError

__all__ = ["ChatLLM", "LLMConfig", "LLMReply"]

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class LLMConfig:
    """Where the LLM is and how to talk to it.

    ``base_url`` is the API root (``http://host:8000/v1``); ``model`` the served model name (None:
    the server's only model, asked from ``GET /models``). ``api_key`` is sent as a bearer token.
    ``timeout_s`` bounds each request, ``connect_timeout_s`` the connection. Transient failures are
    retried ``max_retries`` times, waiting ``backoff_s * 2**attempt`` (at most ``max_backoff_s``).
    ``temperature`` and ``max_tokens`` are the defaults of :meth:`ChatLLM.complete`; ``extra_body``
    is merged into every request body (e.g. ``{"seed": 0}``).
    """

    base_url: str
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    temperature: float = 0.7
    max_tokens: int = 2048
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the LLM base URL must be an http(s) URL like http://127.0.0.1:8000/v1, got {self.base_url!r}"
            )
        for key in ("timeout_s", "connect_timeout_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{key} must be a positive number of seconds, got {value!r}")
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ConfigError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ConfigError("backoff_s and max_backoff_s must be >= 0")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")

    @property
    def label(self) -> str:
        """``model@base_url``, for provenance fields."""
        return f"{self.model or '?'}@{self.base_url.rstrip('/')}"


@dataclass(frozen=True)
class LLMReply:
    """One completion: its text, why it stopped, token usage and how many HTTP attempts it took."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    attempts: int
    seconds: float


class ChatLLM:
    """Synchronous chat-completions client (thread-safe: one connection pool shared by threads).

    ``transport`` replaces the network (an ``httpx.MockTransport`` in tests).
    """

    def __init__(self, config: LLMConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            headers=headers,
            transport=transport,
        )
        self._model: str | None = config.model
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def label(self) -> str:
        """``model@base_url`` (the model resolved once known)."""
        return f"{self._model or '?'}@{self.base_url}"

    def _unreachable(self, exc: Exception) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach the LLM server at {self.base_url} ({type(exc).__name__}: {exc}); check "
            "--llm-base-url (the API root, e.g. http://127.0.0.1:8000/v1) and that the server is running"
        )

    def list_models(self) -> list[str]:
        """Names the server serves (``GET /models``)."""
        try:
            response = self._client.get(f"{self.base_url}/models")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise BackendUnavailableError(
                f"the LLM server at {self.base_url} refused the credentials ({response.status_code}); "
                "give the API key (--llm-api-key-env VAR names the environment variable holding it)"
            )
        if response.status_code != 200:
            raise BackendError(
                f"GET {self.base_url}/models answered {response.status_code}: {error_message(response)}"
            )
        try:
            data = response.json().get("data", [])
        except (ValueError, AttributeError) as exc:
            raise BackendError(f"GET {self.base_url}/models did not answer an OpenAI model list") from exc
        return [str(m.get("id")) for m in data if isinstance(m, dict)]

    def check(self) -> str:
        """Fail fast: the server answers and serves the model; returns the model name.

        Servers without ``GET /models`` (404/405) are given the benefit of the doubt when a model
        is configured.
        """
        try:
            response = self._client.get(f"{self.base_url}/models")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (404, 405) and self._model:
            return self._model
        if response.status_code == 200:
            try:
                data = response.json().get("data") or []
            except (ValueError, AttributeError):
                data = []  # not an OpenAI model list: let the first request tell
            models = [str(m.get("id")) for m in data if isinstance(m, dict)]
        else:
            models = self.list_models()  # raises the error that fits the status
        if self._model and models and self._model not in models:
            raise BackendUnavailableError(
                f"the LLM server at {self.base_url} does not serve the model {self._model!r}; "
                f"it serves: {', '.join(models)}. Pass one of them with --llm-model"
            )
        return self.model()

    def model(self) -> str:
        """The model name used in requests (asked from the server when not configured)."""
        with self._lock:
            if self._model:
                return self._model
            models = self.list_models()
            if len(models) != 1:
                raise ConfigError(
                    f"the LLM server at {self.base_url} serves {len(models)} models "
                    f"({', '.join(models) or 'none'}); choose one with --llm-model"
                )
            self._model = models[0]
            return self._model

    def _sleep(self, attempt: int, response: httpx.Response | None) -> None:
        time.sleep(backoff_delay(attempt, self.config.backoff_s, self.config.max_backoff_s, response))

    def _raise_for(self, response: httpx.Response, model: str) -> None:
        message = error_message(response)
        status = response.status_code
        low = message.lower()
        if status == 404 and ("model" in low or "does not exist" in low or "not found" in low):
            try:
                models = self.list_models()
            except BackendError:
                models = []
            raise BackendUnavailableError(
                f"the LLM server at {self.base_url} does not serve the model {model!r} ({message}); "
                f"it serves: {', '.join(models) or 'nothing'}. Pass one of them with --llm-model"
            )
        if status in (401, 403):
            raise BackendUnavailableError(
                f"the LLM server at {self.base_url} refused the credentials ({status}: {message}); "
                "give the API key (--llm-api-key-env VAR names the environment variable holding it)"
            )
        if 400 <= status < 500:
            raise BackendError(
                f"the LLM server at {self.base_url} rejected the request ({status}): {message}"
            )
        raise BackendError(
            f"the LLM server at {self.base_url} failed ({status}) after {self.config.max_retries} retries: {message}"
        )

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> LLMReply:
        """One chat completion (no streaming); retries transient failures."""
        model = self.model()
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": self.config.temperature if temperature is None else temperature,
            "max_tokens": self.config.max_tokens if max_tokens is None else max_tokens,
            "stream": False,
        }
        if seed is not None:
            body["seed"] = seed
        body.update(self.config.extra_body)
        url = f"{self.base_url}/chat/completions"
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                response = self._client.post(url, json=body)
            except (
                httpx.ConnectError,
                httpx.ConnectTimeout,
                httpx.PoolTimeout,
                httpx.RemoteProtocolError,
            ) as exc:
                if attempt >= self.config.max_retries:
                    raise self._unreachable(exc) from exc
                self._sleep(attempt, None)
                attempt += 1
                continue
            except httpx.TimeoutException as exc:
                if attempt >= self.config.max_retries:
                    raise BackendError(
                        f"the LLM server at {self.base_url} sent no answer within {self.config.timeout_s} s "
                        f"({self.config.max_retries + 1} tries); raise the timeout or use a faster model"
                    ) from exc
                self._sleep(attempt, None)
                attempt += 1
                continue
            if response.status_code == 200:
                break
            if response.status_code in RETRY_STATUS and attempt < self.config.max_retries:
                self._sleep(attempt, response)
                attempt += 1
                continue
            self._raise_for(response, model)
        with self._lock:
            self.calls += 1
        return self._reply(response, attempt + 1, time.perf_counter() - started)

    def _reply(self, response: httpx.Response, attempts: int, seconds: float) -> LLMReply:
        try:
            data = response.json()
        except ValueError as exc:
            raise BackendError(
                f"the LLM server at {self.base_url} answered something that is not JSON: {response.text[:200]!r}"
            ) from exc
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise BackendError(f"the LLM server at {self.base_url} answered no choices: {str(data)[:200]}")
        message = choices[0].get("message") or {}
        text = message.get("content")
        if not isinstance(text, str):
            text = ""
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return LLMReply(
            text=text,
            finish_reason=choices[0].get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            attempts=attempts,
            seconds=seconds,
        )

    def complete(self, system: str, user: str, **kwargs: Any) -> LLMReply:
        """:meth:`chat` with one system and one user message."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return self.chat(messages, **kwargs)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatLLM:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
