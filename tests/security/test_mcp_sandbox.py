"""Attacks on the MCP server's file sandbox: implicit roots, broad roots, and what errors reveal."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client
from mcp_types import CallToolResult, ListRootsResult, Root

from mcp_server.sandbox import Sandbox
from mcp_server.server import create_server
from mcp_server.settings import load_settings
from vt_agent.errors import VTAgentError

VIDEOS = Path(__file__).resolve().parent.parent / "data" / "videos"
BBB = VIDEOS / "bigbuckbunny.mp4"


def _call(
    settings_values: dict[str, Any], videos: list[str], roots: list[str] | None = None
) -> CallToolResult:
    settings = load_settings({"backend": "fake", **settings_values}, environ={})
    kwargs: dict[str, Any] = {}
    if roots is not None:

        async def cb(context: Any) -> ListRootsResult:
            return ListRootsResult(roots=[Root(uri=u) for u in roots])  # type: ignore[arg-type]

        kwargs["list_roots_callback"] = cb

    async def main() -> CallToolResult:
        async with Client(create_server(settings), **kwargs) as client:
            return await client.call_tool("video_reason", {"videos": videos, "question": "What happens?"})

    return anyio.run(main)


def _text(res: CallToolResult) -> str:
    assert res.is_error, res
    first = res.content[0]
    assert first.type == "text"
    return first.text


def test_no_implicit_root_even_when_the_working_directory_holds_the_video(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Hosts start servers with the working directory at / : it must never become a root."""
    monkeypatch.chdir(VIDEOS)
    caplog.set_level(logging.WARNING, logger="mcp_server")
    for video in [str(BBB), "bigbuckbunny.mp4"]:
        text = _text(_call({}, [video]))
        assert "No folder is readable" in text and "--allow" in text and "VT_AGENT_ALLOWED_ROOTS" in text
    assert any("NO ROOTS" in r.getMessage() for r in caplog.records)  # said loudly at start


@pytest.mark.parametrize("broad", ["/", "~"])
def test_root_and_home_are_refused_as_roots_unless_allowed(
    broad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mcp_server.cli import main
    from mcp_server.server import server_roots

    path = str(Path(broad).expanduser())
    assert main(["--allow", path, "--backend", "fake"]) == 2
    err = capsys.readouterr().err
    assert "--allow-broad-root" in err and "Traceback" not in err
    allowed = load_settings({"allowed_roots": [path], "allow_broad_root": True}, environ={})
    assert server_roots(allowed)[0] == (Path(path).resolve(),)
    # a client cannot widen to / either: its root is ignored and the server's roots apply
    assert "outside the folders" in _text(
        _call({"allowed_roots": [str(VIDEOS)]}, ["/etc/hostname"], ["file:///"])
    )


def test_inspector_empty_roots_keep_the_server_roots_and_valid_client_roots_replace_them(
    tmp_path: Path,
) -> None:
    assert not _call({"allowed_roots": [str(VIDEOS)]}, [str(BBB)], roots=[]).is_error
    shutil.copy(BBB, tmp_path / "ws.mp4")
    assert not _call(
        {"allowed_roots": [str(VIDEOS)]}, [str(tmp_path / "ws.mp4")], [tmp_path.as_uri()]
    ).is_error
    assert "outside the folders" in _text(
        _call({"allowed_roots": [str(VIDEOS)]}, [str(BBB)], [tmp_path.as_uri()])
    )


def test_relative_path_resolves_beneath_the_first_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    shutil.copy(BBB, tmp_path / "bigbuckbunny.mp4")
    res = _call({"allowed_roots": [str(VIDEOS)]}, ["bigbuckbunny.mp4"])
    assert not res.is_error and res.structured_content is not None


@pytest.fixture()
def jail(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "jail"
    root.mkdir()
    secret = tmp_path / "secret.mp4"
    shutil.copy(BBB, secret)
    (root / "to-secret.mp4").symlink_to(secret)
    (root / "to-missing.mp4").symlink_to(tmp_path / "missing.mp4")
    (root / "up.mp4").symlink_to("../secret.mp4")
    return root, secret


OUTSIDE_INPUTS = [
    "{secret}",  # exists outside
    "{tmp}/missing.mp4",  # does not exist outside
    "/etc/passwd/x",  # below a file outside ("Not a directory")
    "{root}/to-secret.mp4",  # link inside -> existing outside file
    "{root}/to-missing.mp4",  # link inside -> missing outside file
    "{root}/up.mp4",  # relative link leaving the root
    "~root/x.mp4",
    "~/x.mp4",
    "~nosuchuser0xdead/x.mp4",
    "file://otherhost/etc/passwd",
    "file://{secret}",
]


def test_every_path_outside_the_roots_gets_one_message(jail: tuple[Path, Path]) -> None:
    root, secret = jail
    values = {"secret": str(secret), "tmp": str(secret.parent), "root": str(root)}
    inputs = [s.format(**values) for s in OUTSIDE_INPUTS]
    texts = [_text(_call({"allowed_roots": [str(root)]}, [p])) for p in inputs]
    shapes = {t.replace(repr(p), "<PATH>") for p, t in zip(inputs, texts, strict=True)}
    assert len(shapes) == 1, shapes  # identical but for the caller's own text
    (shape,) = shapes
    assert "<PATH>" in shape and "outside the folders" in shape and "--allow" in shape
    for leak in [
        str(secret),
        "missing.mp4",
        "Not a directory",
        "No such file",
        "link",
        "/root",
        os.path.expanduser("~"),
    ]:
        assert leak not in shape


def test_outside_paths_are_decided_without_touching_the_filesystem_outside(
    jail: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, secret = jail
    box = Sandbox((root.resolve(),), max_file_bytes=1 << 30)
    inside = str(root.resolve())
    touched: list[str] = []
    for name in ["lstat", "stat", "readlink", "open", "access", "listdir", "scandir"]:
        real = getattr(os, name)

        def spy(path: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            touched.append(os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    values = {"secret": str(secret), "tmp": str(secret.parent), "root": str(root)}
    for text in OUTSIDE_INPUTS:
        with pytest.raises(VTAgentError, match="outside the folders"):
            box.open(text.format(**values))
    assert touched, "the links inside the root are read"
    assert all(p == inside or p.startswith(inside + os.sep) for p in touched), touched
