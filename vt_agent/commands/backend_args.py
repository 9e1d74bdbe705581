"""Backend and reasoner flags shared by every command that runs the model (reason, triage, eval run).

One resolution everywhere: explicit flags, then the ``VT_AGENT_*`` variable named in each flag's
help (:data:`vt_agent.config.BACKEND_ENV`, :data:`vt_agent.config.REASONER_ENV`; table in
docs/settings.md), then ``auto`` (see :mod:`vt_agent.config`). Before a model loads, the checks
speak in flags: a GPU device with no GPU, a hub model with no network, flags the chosen backend
ignores (warned).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from vt_agent.config import (
    BACKEND_CHOICES,
    USED_FIELDS,
    BackendConfig,
    ignored_settings,
    merge_settings,
    parse_backend_options,
    reasoner_settings_from_env,
    settings_from_env,
)
from vt_agent.errors import ConfigError
from vt_agent.video.presets import DEFAULT_PRESET

if TYPE_CHECKING:
    from vt_agent.backends.base import Backend

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_PRESET",
    "add_backend_arguments",
    "add_reasoner_arguments",
    "backend_from_args",
    "backend_spec_from_args",
    "positive_int",
    "reasoner_settings",
]

DEFAULT_MAX_TOKENS = 1024
FLAGS = {
    "backend": "--backend",
    "model": "--model",
    "base_url": "--base-url",
    "api_key": "--api-key",
    "device": "--device",
    "dtype": "--dtype",
    "force_cpu_7b": "--force-cpu-7b",
    "options": "--backend-option",
    "attn_implementation": "attn_implementation",
    "max_context": "max_context",
}


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (argparse names the flag in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"write a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend --model --base-url --api-key --device --dtype --backend-option --force-cpu-7b``."""
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=None,
        help="model backend (default: auto) (env VT_AGENT_BACKEND)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="hub id or local checkpoint directory (or served model name) (env VT_AGENT_MODEL)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (env VT_AGENT_BASE_URL)",
    )
    parser.add_argument("--api-key", default=None, help="bearer token for --base-url (env VT_AGENT_API_KEY)")
    parser.add_argument(
        "--device", default=None, help="cuda, cuda:N, mps or cpu (transformers) (env VT_AGENT_DEVICE)"
    )
    parser.add_argument(
        "--dtype", default=None, help="bfloat16, float16, float32 or auto (env VT_AGENT_DTYPE)"
    )
    parser.add_argument(
        "--backend-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra backend option (repeatable; VALUE is read as JSON when it parses, else as text) "
        "(env VT_AGENT_BACKEND_OPTIONS: space-separated KEY=VALUE pairs or a JSON object)",
    )
    parser.add_argument(
        "--force-cpu-7b",
        action="store_true",
        default=None,
        help="allow a full-size model on the CPU (slow) (env VT_AGENT_FORCE_CPU_7B=1)",
    )


def add_reasoner_arguments(
    parser: argparse.ArgumentParser, *, preset_help: str = "frame sampling preset"
) -> None:
    """``--preset`` and ``--max-tokens`` (env ``VT_AGENT_PRESET``, ``VT_AGENT_MAX_TOKENS``)."""
    parser.add_argument(
        "--preset", default=None, help=f"{preset_help} (default: {DEFAULT_PRESET}) (env VT_AGENT_PRESET)"
    )
    parser.add_argument(
        "--max-tokens",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"generation limit (default: {DEFAULT_MAX_TOKENS}) (env VT_AGENT_MAX_TOKENS)",
    )


def reasoner_settings(args: argparse.Namespace, environ: Any = None) -> tuple[str, int]:
    """The preset and token limit: flags, then ``VT_AGENT_PRESET`` / ``VT_AGENT_MAX_TOKENS``, then defaults.

    An unknown preset or a limit below 1 is a ConfigError naming the flag or variable.
    """
    from vt_agent.video import get_preset

    env = reasoner_settings_from_env(os.environ if environ is None else environ)
    preset = args.preset or env.get("preset") or DEFAULT_PRESET
    where = "--preset" if args.preset else "VT_AGENT_PRESET"
    try:
        get_preset(preset)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    max_tokens = args.max_tokens if args.max_tokens is not None else env.get("max_tokens", DEFAULT_MAX_TOKENS)
    if max_tokens < 1:
        raise ConfigError(f"VT_AGENT_MAX_TOKENS={max_tokens}: the generation limit must be at least 1")
    return preset, int(max_tokens)


def _explicit(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "backend": args.backend,
        "model": args.model,
        "base_url": args.base_url,
        "api_key": args.api_key,
        "device": args.device,
        "dtype": args.dtype,
        "force_cpu_7b": args.force_cpu_7b or None,
        "options": parse_backend_options(args.backend_option) or None,
    }


def _where(field: str, explicit: dict[str, Any]) -> str:
    if explicit.get(field) is not None:
        return FLAGS.get(field, field)
    from vt_agent.config import BACKEND_ENV

    return next((s.var for s in BACKEND_ENV if s.field == field), field)


def _check_device(config: BackendConfig, explicit: dict[str, Any]) -> None:
    device = (config.device or "").lower()
    if not device.startswith(("cuda", "mps")):
        return
    try:
        import torch
    except ImportError:
        return  # the backend names the missing extra
    if device.startswith("cuda"):
        ok = bool(torch.cuda.is_available())
        what = "torch sees no CUDA GPU here (a CPU-only torch build, or no driver)"
    else:
        ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        what = "torch sees no Apple GPU (mps) here"
    if not ok:
        raise ConfigError(
            f"{_where('device', explicit)} {config.device}: {what}. Leave it out (auto picks what is there), "
            "use a `vllm serve` endpoint (--backend openai --base-url http://HOST:8000/v1), "
            "or --backend fake to try the pipeline"
        )


def backend_from_args(args: argparse.Namespace, environ: Any = None) -> tuple[Backend, list[str]]:
    """The backend the flags and ``VT_AGENT_*`` variables choose, with its notices.

    Refused before anything loads (ConfigError naming the flag): ``--device cuda``/``mps`` with no
    such GPU, a hub model that is not cached while the hub is unreachable or ``HF_HUB_OFFLINE`` is
    set. Flags the chosen backend ignores come back as notices.
    """
    from vt_agent.backends import load_backend

    name, options, notices = backend_spec_from_args(args, environ)
    return load_backend(name, **options), notices


def backend_spec_from_args(
    args: argparse.Namespace, environ: Any = None, *, local_checks: bool = True
) -> tuple[str, dict[str, Any], list[str]]:
    """The backend name, options and notices of :func:`backend_from_args`, nothing created.

    ``local_checks`` False skips the GPU and hub checks (the backend is built on other machines).
    """
    from vt_agent.config import resolve_backend
    from vt_agent.hub import hub_problem

    env = os.environ if environ is None else environ
    explicit = _explicit(args)
    config = merge_settings(explicit, env)
    settings_from_env(env)  # a bad variable is named even when a flag overrides it
    resolved = resolve_backend(config)
    notices = list(resolved.notices)
    for field in sorted(ignored_settings(config, resolved.name)):
        notices.append(f"NOTICE: {_where(field, explicit)} is ignored by the {resolved.name} backend")
    if resolved.name in ("transformers", "vllm") and local_checks:
        if "device" in USED_FIELDS[resolved.name]:
            _check_device(config, explicit)
        model = str(resolved.options.get("model") or "")
        problem = hub_problem(model)
        if problem is not None:
            raise ConfigError(f"{_where('model', explicit)}: {problem}" if config.model else problem)
    return resolved.name, dict(resolved.options), notices
