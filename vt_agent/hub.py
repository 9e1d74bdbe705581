"""Is a Hugging Face hub model reachable? Answered in seconds, before a backend spends ~25 s retrying.

:func:`hub_problem` returns None when ``model`` is a local folder, is already in the local hub
cache, or the hub answers a TCP connection; else one sentence saying why it cannot be fetched
and the command that downloads it (``hf download``, the CLI of current ``huggingface_hub``).
Needs ``huggingface_hub`` (installed with transformers); without it the check is skipped.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["download_command", "hub_problem", "looks_like_hub_id"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_id(model: str) -> bool:
    """``owner/name`` that is not an existing local path."""
    return bool(_HUB_ID.match(model)) and not Path(model).expanduser().exists()


def download_command(model: str) -> str:
    return f"hf download {model} --local-dir DIR"


def hub_problem(model: str, *, timeout_s: float = 3.0) -> str | None:
    """None if ``model`` can be loaded without waiting on an unreachable hub, else why not."""
    if not looks_like_hub_id(model):
        return None
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return None
    try:
        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # an id the hub library rejects: let the backend say so
        return None
    if isinstance(cached, str):
        return None
    advice = (
        f"download it where there is network with `{download_command(model)}` and pass --model DIR "
        "(or fill the hub cache with `hf download " + model + "`), use a `vllm serve` endpoint "
        "(--backend openai --base-url http://HOST:8000/v1), or --backend fake to try the pipeline"
    )
    if constants.HF_HUB_OFFLINE:
        return f"model {model} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: {advice}"
    url = urlparse(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return (
            f"model {model} is not in the local Hugging Face cache and {host} cannot be reached "
            f"({reason}): {advice}"
        )
