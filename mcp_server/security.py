"""What the server may fetch: the URL policy (local paths are :mod:`mcp_server.sandbox`).

URLs (``http``/``https``) are refused unless the host is on the server's allow list
(``--allow-url-host``), and even then never when any address the host resolves to is loopback,
private, link-local, multicast, reserved or unspecified (``localhost`` is refused by name).
Allowed URLs are downloaded (no redirects, size-capped) to a private temporary file.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from vt_agent.errors import PathNotAllowedError, UrlNotAllowedError, VideoNotFoundError

__all__ = [
    "Resolver",
    "UrlNotAllowedError",
    "check_url",
    "download",
    "is_url",
]

Resolver = Callable[[str], list[str]]
"""host -> every IP address it resolves to."""


def is_url(text: str) -> bool:
    """True for ``scheme://...`` other than ``file://``."""
    scheme = urlsplit(text).scheme.lower()
    return len(scheme) > 1 and "://" in text and scheme != "file"


def _system_resolver(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, allow_hosts: Sequence[str], resolver: Resolver | None = None) -> str:
    """``url`` when the server may fetch it, else :class:`UrlNotAllowedError` saying why and what to do."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlNotAllowedError(
            f"{url}: only local files (or file:// URIs) are accepted, not {scheme}:// URLs"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlNotAllowedError(f"{url}: the URL has no host")
    if not allow_hosts:
        raise UrlNotAllowedError(
            f"{url}: this server does not fetch URLs; download the video into one of the readable folders and "
            "pass its local path (the server's operator can allow a host with --allow-url-host)"
        )
    if parts.username or parts.password:
        raise UrlNotAllowedError(f"{url}: URLs with credentials are refused")
    if host == "localhost" or host.endswith(".localhost"):
        raise UrlNotAllowedError(f"{url}: loopback hosts are never fetched; pass a local file path instead")
    try:
        literal: str | None = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        literal = None
    if literal is not None and not _public(literal):
        raise UrlNotAllowedError(
            f"{url}: {literal} is a loopback, private or link-local address, which is never fetched"
        )
    if host not in {h.lower() for h in allow_hosts}:
        raise UrlNotAllowedError(
            f"{url}: host {host} is not on this server's URL allow list ({', '.join(allow_hosts)}); "
            "download the video and pass a local path"
        )
    if literal is None:
        try:
            addresses = (resolver or _system_resolver)(host)
        except OSError as exc:
            raise UrlNotAllowedError(f"{url}: cannot resolve {host} ({exc})") from None
        if not addresses:
            raise UrlNotAllowedError(f"{url}: {host} resolves to no address")
        bad = [a for a in addresses if not _public(a)]
        if bad:
            raise UrlNotAllowedError(
                f"{url}: {host} resolves to a loopback, private or link-local address ({', '.join(bad)}), "
                "which is never fetched"
            )
    return url


async def download(url: str, dest: Path, max_bytes: int, *, transport: object | None = None) -> Path:
    """Fetch an allowed ``url`` into the file ``dest`` (no redirects; at most ``max_bytes``).

    ``transport``: an ``httpx`` transport (tests use ``httpx.MockTransport``).
    """
    import httpx

    kwargs: dict[str, object] = {"follow_redirects": False, "timeout": 60.0}
    if transport is not None:
        kwargs["transport"] = transport
    async with httpx.AsyncClient(**kwargs) as client, client.stream("GET", url) as response:  # type: ignore[arg-type]
        if response.is_redirect:
            raise UrlNotAllowedError(f"{url}: redirects are not followed; pass the final URL")
        if response.status_code != 200:
            raise VideoNotFoundError(url, f"the server answered HTTP {response.status_code}")
        size = 0
        with dest.open("wb") as out:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PathNotAllowedError(
                        f"{url}: larger than this server's limit of {max_bytes / 2**20:.0f} MiB"
                    )
                out.write(chunk)
    return dest
