"""Serving the MCP server: streamable HTTP behind the token and Host/Origin checks, stdio with signals.

HTTP. :func:`http_app` is the SDK's streamable-HTTP app with transport security configured for
the address actually bound (:func:`transport_security`): the SDK switches its DNS-rebinding
protection on by itself only for exactly ``127.0.0.1``/``localhost``/``::1``, so any other
address (``127.0.0.2``, a LAN address, ``0.0.0.0``) would otherwise accept any ``Host`` and
``Origin``. Requests with another ``Host`` get 421, with another ``Origin`` 403. When a token
is set (required everywhere but exactly those three names), :class:`BearerTokenMiddleware`
answers 401 to any request without ``Authorization: Bearer <token>``.

stdio. :func:`serve_stdio` stops on SIGINT/SIGTERM: the server's lifespan closes the backend,
then the process exits even though the SDK's stdin reader thread still waits for a line.
"""

from __future__ import annotations

import hmac
import logging
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from mcp_server.settings import LOOPBACK_HOSTS, ServerSettings

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["BearerTokenMiddleware", "http_app", "serve_stdio", "transport_security"]

logger = logging.getLogger("mcp_server")

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class BearerTokenMiddleware:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    def __repr__(self) -> str:
        return f"BearerTokenMiddleware({self.app!r}, token='***')"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="vt-agent-mcp"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _machine_names() -> list[str]:
    """Names and addresses of this machine, for a server bound to every interface."""
    names = ["127.0.0.1", "localhost", "::1"]
    try:
        hostname = socket.gethostname()
        names += [hostname, socket.getfqdn()]
        names += [str(info[4][0]) for info in socket.getaddrinfo(hostname, None)]
    except OSError:
        pass
    return names


def transport_security(settings: ServerSettings) -> TransportSecuritySettings:
    """Host/Origin checks for the bound address (and ``--allowed-host`` names), always on."""
    from mcp.server.transport_security import TransportSecuritySettings

    host = settings.host.strip().strip("[]").lower()
    if host in LOOPBACK_HOSTS:
        names = list(LOOPBACK_HOSTS)
    elif host in WILDCARD_HOSTS:
        names = _machine_names()
    else:
        names = [host]
    names += [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
    unique = list(dict.fromkeys(_bracket(n.split("%", 1)[0]) for n in names if n))
    port = "*" if settings.port == 0 else str(settings.port)
    hosts = [f"{n}:{port}" for n in unique]
    if settings.port == 80:
        hosts += unique
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for h in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def http_app(server: Any, settings: ServerSettings) -> Any:
    """The streamable-HTTP ASGI app: Host/Origin checked for the bound address, token when set."""
    app = server.streamable_http_app(
        streamable_http_path=settings.http_path,
        host=settings.host,
        transport_security=transport_security(settings),
    )
    if settings.token is not None:
        return BearerTokenMiddleware(app, settings.token.get_secret_value())
    return app


def serve_stdio(server: Any, stopped: threading.Event, *, grace_s: float = 60.0) -> int:
    """Run ``server`` on stdio until stdin closes or SIGINT/SIGTERM; the exit status.

    ``stopped`` is set by the server's lifespan once the backend is closed; after a signal the
    process exits then (or after ``grace_s``), without waiting for the stdin reader thread.
    """
    import anyio
    import anyio.abc

    interrupted: list[int] = []

    async def run() -> None:
        async with anyio.create_task_group() as tg:

            async def on_signal(
                *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
            ) -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    task_status.started()
                    async for signum in signals:
                        interrupted.append(signum)
                        logger.info("%s received: stopping", signal.Signals(signum).name)
                        threading.Thread(target=_exit_when, args=(stopped, grace_s), daemon=True).start()
                        tg.cancel_scope.cancel()
                        return

            await tg.start(on_signal)  # handlers in place before the server starts
            await server.run_stdio_async()
            tg.cancel_scope.cancel()

    anyio.run(run)
    return 130 if interrupted else 0


def _exit_when(stopped: threading.Event, grace_s: float) -> None:
    stopped.wait(grace_s)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(130)
