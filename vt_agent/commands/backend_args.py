"""Backend flags shared by every command that runs the model (reason, triage, eval run).

One resolution everywhere: explicit flags, then ``VT_AGENT_BACKEND`` / ``VT_AGENT_MODEL`` /
``VT_AGENT_BASE_URL`` / ``VT_AGENT_API_KEY``, then ``auto`` (see :mod:`vt_agent.config`).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from vt_agent.config import BACKEND_CHOICES, merge_settings, parse_backend_options

if TYPE_CHECKING:
    from vt_agent.backends.base import Backend

__all__ = ["add_backend_arguments", "backend_from_args"]


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend --model --base-url --device --dtype --backend-option --force-cpu-7b``."""
    parser.add_argument(
        "--backend", choices=BACKEND_CHOICES, default=None, help="model backend (default: auto)"
    )
    parser.add_argument(
        "--model", default=None, help="hub id or local checkpoint directory (or served model name)"
    )
    parser.add_argument(
        "--base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    parser.add_argument("--device", default=None, help="cuda, cuda:N, mps or cpu (transformers)")
    parser.add_argument("--dtype", default=None, help="bfloat16, float16, float32 or auto")
    parser.add_argument(
        "--backend-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra backend option (repeatable; VALUE is read as JSON when it parses, else as text)",
    )
    parser.add_argument(
        "--force-cpu-7b", action="store_true", help="allow a full-size model on the CPU (slow)"
    )


def backend_from_args(args: argparse.Namespace) -> tuple[Backend, list[str]]:
    """The backend the flags and ``VT_AGENT_*`` variables choose, with its notices."""
    from vt_agent.backends import backend_from_config

    explicit = {
        "backend": args.backend,
        "model": args.model,
        "base_url": args.base_url,
        "device": args.device,
        "dtype": args.dtype,
        "force_cpu_7b": args.force_cpu_7b or None,
        "options": parse_backend_options(args.backend_option) or None,
    }
    return backend_from_config(merge_settings(explicit, os.environ))
