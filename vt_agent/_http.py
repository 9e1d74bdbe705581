"""Small helpers shared by the HTTP clients (the ``openai`` backend, the training LLM client)."""

from __future__ import annotations

import contextlib
import random

import httpx

__all__ = ["backoff_delay", "error_message"]


def error_message(response: httpx.Response) -> str:
    """The server's own words for a failed request (OpenAI-style ``error.message`` when present)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)
        return str(err)
    return str(body)[:500]


def backoff_delay(
    attempt: int, backoff_s: float, max_backoff_s: float, response: httpx.Response | None
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): exponential, ``Retry-After`` honoured, jittered."""
    delay = min(max_backoff_s, backoff_s * (2**attempt))
    if response is not None:
        retry_after = response.headers.get("retry-after")
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(max_backoff_s, max(delay, float(retry_after)))
    return float(delay * (0.8 + 0.4 * random.random()))
