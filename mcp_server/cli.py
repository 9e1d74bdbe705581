"""``vt-agent-mcp``: run the MCP server (stdio by default, or streamable HTTP).

Logs go to stderr (stdout is the stdio transport). Settings: flags, then ``VT_AGENT_*``
environment variables (see :mod:`mcp_server.settings`).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

from mcp_server.redact import RedactingFilter, Redactor
from mcp_server.server import server_roots
from mcp_server.settings import ServerSettings, load_settings
from mcp_server.transports import BearerTokenMiddleware, http_app, serve_stdio
from vt_agent.config import BACKEND_CHOICES, parse_backend_options
from vt_agent.errors import ConfigError, VTAgentError
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = ["BearerTokenMiddleware", "build_parser", "http_app", "main"]

EPILOG = """examples:
  vt-agent-mcp --allow ~/Videos                               # stdio, for Claude Desktop / Claude Code
  vt-agent-mcp --allow ~/Videos --backend openai --base-url http://gpu-box:8000/v1 --model video-thinker
  vt-agent-mcp --transport http --port 8765 --allow /data/videos
  VT_AGENT_BACKEND=fake vt-agent-mcp --allow .                # scripted traces, no model
"""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _version() -> str:
    from vt_agent import __version__

    return __version__


def log_level(args: argparse.Namespace, environ: Any = None) -> str:
    """``--log-level``, then ``VT_AGENT_LOG_LEVEL``, then INFO."""
    env = os.environ if environ is None else environ
    text = args.log_level or env.get("VT_AGENT_LOG_LEVEL", "").strip().upper() or "INFO"
    if text not in LOG_LEVELS:
        raise ConfigError(f"VT_AGENT_LOG_LEVEL={text!r}: use one of {', '.join(LOG_LEVELS)}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vt-agent-mcp",
        description=(
            "MCP server with one tool, video_reason: Video-Thinker answers questions about local videos, "
            "citing time spans. Every flag can also be set as the VT_AGENT_* environment variable its help "
            "names (table: docs/settings.md)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=_version())
    p.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default=None,
        help="stdio (default) or http (env VT_AGENT_MCP_TRANSPORT)",
    )
    p.add_argument(
        "--host",
        default=None,
        help="HTTP bind address (default 127.0.0.1; others need --token) (env VT_AGENT_MCP_HOST)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="HTTP port (default 8765; 0: any free port) (env VT_AGENT_MCP_PORT)",
    )
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="DIR",
        help="directory videos may be read from (repeatable; no default: without it only the folders a "
        "client sends as MCP roots are readable; env VT_AGENT_ALLOWED_ROOTS, path-separated)",
    )
    p.add_argument(
        "--allow-broad-root",
        action="store_true",
        default=None,
        help="accept /, the home folder or a folder above it as a root (refused otherwise) "
        "(env VT_AGENT_ALLOW_BROAD_ROOT=1)",
    )
    p.add_argument(
        "--allow-url-host",
        dest="allow_url_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="http(s) host videos may be downloaded from (repeatable; default: URLs refused) "
        "(env VT_AGENT_ALLOW_URL_HOSTS, comma-separated)",
    )
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=None,
        help="model backend (default auto) (env VT_AGENT_BACKEND)",
    )
    p.add_argument(
        "--model",
        default=None,
        help="checkpoint directory / hub id, or the served model name (env VT_AGENT_MODEL)",
    )
    p.add_argument(
        "--base-url",
        default=None,
        help="OpenAI-compatible API root, e.g. http://gpu-box:8000/v1 (env VT_AGENT_BASE_URL)",
    )
    p.add_argument("--api-key", default=None, help="bearer token for --base-url (env VT_AGENT_API_KEY)")
    p.add_argument(
        "--backend-option",
        dest="backend_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra keyword option for the backend (repeatable; VALUE parsed as JSON when it can be), "
        "e.g. gpu_memory_utilization=0.8 (env VT_AGENT_BACKEND_OPTIONS: space-separated KEY=VALUE pairs or "
        "a JSON object)",
    )
    p.add_argument(
        "--preset", default=None, help=f"default sampling preset ({DEFAULT_PRESET}) (env VT_AGENT_PRESET)"
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="generation limit per call (1024) (env VT_AGENT_MAX_TOKENS)",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help="calls generating at once (2) (env VT_AGENT_MAX_CONCURRENCY)",
    )
    p.add_argument(
        "--timeout",
        dest="timeout_s",
        type=float,
        default=None,
        help="per-call limit, s (600) (env VT_AGENT_TIMEOUT_S)",
    )
    p.add_argument(
        "--wait",
        dest="wait_s",
        type=float,
        default=None,
        help="seconds a call waits before returning a job_id (45; below the host's tool timeout) "
        "(env VT_AGENT_WAIT_S)",
    )
    p.add_argument(
        "--max-file-mb",
        type=float,
        default=None,
        help="largest video file accepted, MiB (4096) (env VT_AGENT_MAX_FILE_MB)",
    )
    p.add_argument(
        "--token",
        default=None,
        help="bearer token HTTP clients must send; required unless --host is 127.0.0.1, ::1 or localhost "
        "(env VT_AGENT_MCP_TOKEN)",
    )
    p.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="extra Host header name the HTTP server accepts, e.g. a DNS name of this machine (repeatable) "
        "(env VT_AGENT_MCP_ALLOWED_HOSTS, comma-separated)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        choices=LOG_LEVELS,
        help="log detail on stderr (default INFO) (env VT_AGENT_LOG_LEVEL)",
    )
    return p


def settings_from_args(args: argparse.Namespace, environ: Any = None) -> ServerSettings:
    explicit: dict[str, Any] = {
        "transport": args.transport,
        "host": args.host,
        "port": args.port,
        "allowed_roots": args.allow,
        "allow_broad_root": args.allow_broad_root,
        "allowed_hosts": args.allowed_hosts,
        "allow_url_hosts": args.allow_url_hosts,
        "backend": args.backend,
        "model": args.model,
        "base_url": args.base_url,
        "api_key": args.api_key,
        "preset": args.preset,
        "max_tokens": args.max_tokens,
        "max_concurrency": args.max_concurrency,
        "timeout_s": args.timeout_s,
        "wait_s": args.wait_s,
        "max_file_mb": args.max_file_mb,
        "token": args.token,
        "backend_options": parse_backend_options(list(args.backend_options)) or None,
    }
    return load_settings(explicit, os.environ if environ is None else environ)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        level = log_level(args)
    except VTAgentError as exc:
        print(f"vt-agent-mcp: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("mcp_server")
    return _serve(args, log)


def _serve(args: argparse.Namespace, log: logging.Logger) -> int:
    stopped = threading.Event()
    try:
        settings = settings_from_args(args)
        server_roots(settings)
        from mcp_server.server import create_server

        server = create_server(settings, on_stopped=stopped.set)
    except VTAgentError as exc:
        print(f"vt-agent-mcp: {exc}", file=sys.stderr)
        return 2
    redacting = RedactingFilter(Redactor.from_settings(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)
    try:
        if settings.transport == "stdio":
            return serve_stdio(server, stopped)
        import anyio
        import uvicorn

        sock = listen(settings.host, settings.port)
        config = uvicorn.Config(
            http_app(server, settings), host=settings.host, port=settings.port, log_level="warning"
        )
        host = settings.host.strip("[]")
        log.info(
            "streamable HTTP on http://%s:%s%s%s",
            f"[{host}]" if ":" in host else host,
            sock.getsockname()[1],
            settings.http_path,
            " (bearer token required)" if settings.token else "",
        )
        anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))
    except Exception as exc:  # a bad setting met in the lifespan arrives inside an exception group
        error = _vt_agent_error(exc)
        if error is None:
            raise
        print(f"vt-agent-mcp: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: any free port); ConfigError saying what to do instead."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError):
        raise ConfigError(
            f"--host {host}: not an address or name of this machine; use 127.0.0.1 (the default) or one of "
            "this machine's addresses"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            problem = (
                f"port {port} is already in use on {host} (another vt-agent-mcp?): stop that server, or "
                "pick another port with --port (--port 0 takes any free port)"
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            problem = (
                f"--host {host} is not an address of this machine: use 127.0.0.1 (the default), or 0.0.0.0 "
                "for every interface (with --token)"
            )
        elif exc.errno in (errno.EACCES, errno.EPERM):
            problem = f"port {port} needs administrator rights (ports below 1024): use --port 8765 or another"
        else:
            problem = f"cannot listen on {where}: {exc.strerror or exc}"
        raise ConfigError(problem) from None
    sock.setblocking(False)
    return sock


def _vt_agent_error(exc: BaseException) -> VTAgentError | None:
    """``exc`` itself, or the first vt-agent error inside an exception group, else None."""
    if isinstance(exc, VTAgentError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _vt_agent_error(inner)
        if found is not None:
            return found
    return None
