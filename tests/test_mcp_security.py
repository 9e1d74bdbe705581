"""MCP server settings and security rules (no network, no server)."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import httpx
import pytest

from mcp_server.sandbox import Sandbox, check_root, client_roots
from mcp_server.security import UrlNotAllowedError, check_url, download
from mcp_server.settings import is_loopback_host, load_settings, needs_no_token
from vt_agent.errors import ConfigError, PathNotAllowedError, VideoError

TOKEN = "s3cret-token-0123456789"


def test_defaults_are_stdio_loopback_and_no_root() -> None:
    s = load_settings(environ={})
    assert s.transport == "stdio" and s.host == "127.0.0.1" and s.token is None
    assert s.roots() == []  # never the working directory
    assert s.backend.backend == "auto"


def test_environment_and_flags(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    env = {
        "VT_AGENT_ALLOWED_ROOTS": f"{a}{os.pathsep}{b}",
        "VT_AGENT_BACKEND": "fake",
        "VT_AGENT_MODEL": "m",
        "VT_AGENT_BASE_URL": "http://gpu:8000/v1",
        "VT_AGENT_MCP_TOKEN": TOKEN,
        "VT_AGENT_MAX_CONCURRENCY": "5",
        "VT_AGENT_TIMEOUT_S": "30",
        "VT_AGENT_ALLOW_URL_HOSTS": "videos.example.com, cdn.example.org",
        "VT_AGENT_ALLOW_BROAD_ROOT": "1",
        "VT_AGENT_MCP_ALLOWED_HOSTS": "box.lan",
    }
    s = load_settings({}, env)
    assert s.allowed_roots == (a, b) and s.max_concurrency == 5 and s.timeout_s == 30
    assert s.token is not None and s.token.get_secret_value() == TOKEN
    assert s.allow_broad_root and s.allowed_hosts == ("box.lan",)
    assert (
        s.backend.backend == "fake" and s.backend.model == "m" and s.backend.base_url == "http://gpu:8000/v1"
    )
    assert s.allow_url_hosts == ("videos.example.com", "cdn.example.org")
    # flags win over the environment
    s2 = load_settings({"allowed_roots": [str(tmp_path)], "backend": "openai", "max_concurrency": 1}, env)
    assert s2.allowed_roots == (tmp_path,) and s2.backend.backend == "openai" and s2.max_concurrency == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", "127.0.0.2", "127.1.2.3"])
def test_http_off_the_three_loopback_names_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="needs a bearer token"):
        load_settings({"transport": "http", "host": host}, environ={})
    s = load_settings({"transport": "http", "host": host, "token": TOKEN}, environ={})
    assert s.host == host
    # env token counts too
    token = load_settings({"transport": "http", "host": host}, {"VT_AGENT_MCP_TOKEN": TOKEN}).token
    assert token is not None and token.get_secret_value() == TOKEN


def test_exact_loopback_http_needs_no_token_and_short_tokens_are_refused() -> None:
    for host in ["127.0.0.1", "localhost", "::1", "[::1]"]:
        assert needs_no_token(host)
        load_settings({"transport": "http", "host": host}, environ={})
    assert is_loopback_host("127.0.0.2") and not needs_no_token("127.0.0.2")
    with pytest.raises(ConfigError, match="at least 16"):
        load_settings({"token": "short"}, environ={})


def test_bad_settings_name_the_setting() -> None:
    with pytest.raises(
        ConfigError, match=r"--max-concurrency 0 \(or VT_AGENT_MAX_CONCURRENCY\): must be at least 1"
    ):
        load_settings({"max_concurrency": 0}, environ={})
    with pytest.raises(ConfigError, match="VT_AGENT_BACKEND"):
        load_settings({}, {"VT_AGENT_BACKEND": "gpt"})


def test_roots_must_be_folders_and_not_broad(tmp_path: Path) -> None:
    assert check_root(tmp_path, allow_broad=False, origin="--allow") == tmp_path.resolve()
    with pytest.raises(ConfigError, match="does not exist"):
        check_root(tmp_path / "absent", allow_broad=False, origin="--allow")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        check_root(tmp_path / "f", allow_broad=False, origin="--allow")
    for broad, why in [(Path("/"), "root of the filesystem"), (Path.home(), "home folder")]:
        with pytest.raises(ConfigError, match=why) as info:
            check_root(broad, allow_broad=False, origin="--allow")
        assert "--allow-broad-root" in str(info.value)
        assert check_root(broad, allow_broad=True, origin="--allow") == broad.resolve()


def test_client_roots_keep_only_valid_local_folders(tmp_path: Path) -> None:
    class R:
        def __init__(self, uris: list[str]) -> None:
            self.roots = [type("Root", (), {"uri": u})() for u in uris]

    good = tmp_path / "ws"
    good.mkdir()
    valid, ignored = client_roots(
        R(
            [
                good.as_uri(),
                "file:///",
                "file://host/x",
                (tmp_path / "absent").as_uri(),
                "https://x/y",
                "file:///a%00b",
            ]
        ),
        allow_broad=False,
    )
    assert valid == [good.resolve()] and len(ignored) == 5
    assert client_roots(R([]), allow_broad=False) == ([], [])


def test_sandbox_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    clip = root / "sub" / "clip.mp4"
    clip.write_bytes(b"x" * 100)
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"y" * 100)
    (root / "esc.mp4").symlink_to(outside)
    (root / "ok.mp4").symlink_to(clip)
    (root / "rel.mp4").symlink_to("sub/clip.mp4")
    box = Sandbox((root.resolve(),), max_file_bytes=1000)

    def opened(text: str) -> bytes:
        with box.open(text) as f:
            return f.pread(100, 0)

    assert opened(str(clip)) == b"x" * 100
    assert opened(clip.as_uri()) == b"x" * 100
    assert opened("sub/clip.mp4") == b"x" * 100  # relative to the first root
    assert opened(str(root / "ok.mp4")) == b"x" * 100  # an (absolute) link that stays inside
    assert opened(str(root / "rel.mp4")) == b"x" * 100
    with pytest.raises(PathNotAllowedError, match="outside the folders"):
        box.open(str(root / "esc.mp4"))
    with pytest.raises(PathNotAllowedError, match=r"'\.\.'"):
        box.open(str(root / "sub" / ".." / "sub" / "clip.mp4"))
    with pytest.raises(PathNotAllowedError, match="outside the folders"):
        box.open(str(outside))
    with pytest.raises(VideoError, match="directory"):
        box.open(str(root / "sub"))
    with pytest.raises(VideoError, match="no such file"):
        box.open(str(root / "nope.mp4"))
    with pytest.raises(PathNotAllowedError, match="outside the folders"):
        box.open("file://evil.example.com/etc/passwd")
    with pytest.raises(PathNotAllowedError, match="NUL"):
        box.open(str(clip) + "\x00")
    with pytest.raises(PathNotAllowedError, match="larger"):
        Sandbox((root,), max_file_bytes=50).open(str(clip))
    with pytest.raises(PathNotAllowedError, match="No folder is readable"):
        Sandbox((), 1000).open(str(clip))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v.mp4",
        "http://127.1.2.3:8080/v.mp4",
        "http://localhost/v.mp4",
        "http://api.localhost/v.mp4",
        "http://[::1]/v.mp4",
        "http://10.0.0.5/v.mp4",
        "http://172.16.3.4/v.mp4",
        "http://192.168.0.1/v.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/v.mp4",
        "http://[::ffff:127.0.0.1]/v.mp4",
        "http://0.0.0.0/v.mp4",
        "http://100.64.0.1/v.mp4",
        "http://224.0.0.1/v.mp4",
    ],
)
def test_urls_to_loopback_private_link_local_are_never_fetched(url: str) -> None:
    host = (
        url.split("//")[1].split("/")[0].rsplit(":", 1)[0]
        if "[" not in url
        else url.split("[")[1].split("]")[0]
    )
    with pytest.raises(UrlNotAllowedError):
        check_url(
            url, [host, "localhost", "api.localhost", "127.0.0.1"], resolver=lambda h: ["93.184.216.34"]
        )


def test_url_policy_allow_list_and_dns_check() -> None:
    public = lambda h: ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]  # noqa: E731
    with pytest.raises(UrlNotAllowedError, match="does not fetch URLs"):
        check_url("https://videos.example.com/a.mp4", [], resolver=public)
    with pytest.raises(UrlNotAllowedError, match="not on this server's URL allow list"):
        check_url("https://other.example.com/a.mp4", ["videos.example.com"], resolver=public)
    assert check_url("https://videos.example.com/a.mp4", ["videos.example.com"], resolver=public)
    # a public name that resolves to a private address (DNS rebinding, internal names)
    with pytest.raises(UrlNotAllowedError, match=r"10\.1\.2\.3"):
        check_url(
            "https://videos.example.com/a.mp4",
            ["videos.example.com"],
            resolver=lambda h: ["93.184.216.34", "10.1.2.3"],
        )
    with pytest.raises(UrlNotAllowedError, match="credentials"):
        check_url("https://u:p@videos.example.com/a.mp4", ["videos.example.com"], resolver=public)
    with pytest.raises(UrlNotAllowedError, match="cannot resolve"):

        def fail(host: str) -> list[str]:
            raise OSError("no such host")

        check_url("https://videos.example.com/a.mp4", ["videos.example.com"], resolver=fail)


def test_download_caps_size_and_refuses_redirects(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/redirect":
            return httpx.Response(302, headers={"location": "http://127.0.0.1/x"})
        if request.url.path == "/big":
            return httpx.Response(200, content=b"z" * 5000)
        if request.url.path == "/missing":
            return httpx.Response(404)
        return httpx.Response(200, content=b"video-bytes")

    transport = httpx.MockTransport(handler)

    async def go() -> None:
        dest = await download("https://v.example.com/ok.mp4", tmp_path / "ok.mp4", 1000, transport=transport)
        assert dest.read_bytes() == b"video-bytes"
        with pytest.raises(UrlNotAllowedError, match="redirects"):
            await download("https://v.example.com/redirect", tmp_path / "r.mp4", 1000, transport=transport)
        with pytest.raises(PathNotAllowedError, match="larger"):
            await download("https://v.example.com/big", tmp_path / "b.mp4", 1000, transport=transport)
        with pytest.raises(VideoError, match="HTTP 404"):
            await download("https://v.example.com/missing", tmp_path / "m.mp4", 1000, transport=transport)

    anyio.run(go)


def test_cli_flags_to_settings(tmp_path: Path) -> None:
    from mcp_server.cli import build_parser, settings_from_args

    args = build_parser().parse_args(
        ["--transport", "http", "--port", "9999", "--allow", str(tmp_path), "--allow", "/srv/videos",
         "--backend", "fake", "--backend-option", "delay_s=0.5", "--backend-option", "model=scripted-x",
         "--max-concurrency", "3", "--timeout", "120", "--wait", "20", "--token", TOKEN]
    )  # fmt: skip
    s = settings_from_args(args, environ={"VT_AGENT_BACKEND": "openai"})
    assert s.transport == "http" and s.port == 9999 and s.token is not None
    assert s.token.get_secret_value() == TOKEN
    assert s.allowed_roots == (tmp_path, Path("/srv/videos"))
    assert s.backend.backend == "fake" and s.backend.options == {"delay_s": 0.5, "model": "scripted-x"}
    assert (s.max_concurrency, s.timeout_s, s.wait_s) == (3, 120.0, 20.0)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        settings_from_args(build_parser().parse_args(["--backend-option", "oops"]), environ={})
