"""Discovery without a second tool: the videos under the readable folders as MCP resources.

In-process (``mcp.Client(server)``), then the same over stdio and streamable HTTP subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from mcp_server.catalog import Catalog, Found, scan
from mcp_server.server import create_server
from mcp_server.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
BBB = VIDEOS / "bigbuckbunny.mp4"
TOKEN = "test-token-abcdef0123456789"


def _in_process(roots: list[Path], fn: Any) -> Any:
    server = create_server(
        load_settings({"backend": "fake", "allowed_roots": [str(r) for r in roots]}, environ={})
    )

    async def main() -> Any:
        async with Client(server) as client:
            return await fn(client)

    return anyio.run(main)


def test_videos_under_the_roots_are_listed_with_duration_and_size() -> None:
    async def go(c: Client) -> Any:
        listed = (await c.list_resources()).resources
        read = await c.read_resource(listed[0].uri)
        return listed, read

    listed, read = _in_process([VIDEOS], go)
    by_name = {r.name: r for r in listed}
    assert set(by_name) == {"bigbuckbunny.mp4", "cityCC0.mpg", "vtest.avi"}  # README.md is not a video
    bbb = by_name["bigbuckbunny.mp4"]
    assert bbb.uri == BBB.as_uri() and bbb.size == BBB.stat().st_size and bbb.mime_type == "video/mp4"
    assert bbb.meta is not None and bbb.meta["vt-agent/duration_s"] == pytest.approx(5.28, abs=0.05)
    assert "5.3 s video, 1280x720" in (bbb.description or "") and "video_reason" in (bbb.description or "")
    # reading gives the video's record as JSON, not its bytes
    (content,) = read.contents
    assert content.mime_type == "application/json"
    record = json.loads(content.text)
    assert record["path"] == str(BBB) and record["duration_s"] == pytest.approx(5.28, abs=0.05)
    assert record["width"] == 1280 and "video_reason" in record["how_to_ask"]


def test_a_listed_uri_is_usable_as_it_is_in_the_tool() -> None:
    async def go(c: Client) -> Any:
        uri = (await c.list_resources()).resources[0].uri
        return await c.call_tool(
            "video_reason", {"videos": [uri], "question": "What happens?", "thumbnails": 0}
        )

    res = _in_process([VIDEOS], go)
    assert not res.is_error and res.structured_content["status"] == "done"


def test_listing_is_bounded_and_never_follows_links_out_of_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "a" / "b" / "c" / "d" / "e").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(BBB, outside / "secret.mp4")
    shutil.copy(BBB, root / "top.mp4")
    shutil.copy(BBB, root / "a" / "b" / "level2.mp4")
    shutil.copy(BBB, root / "a" / "b" / "c" / "d" / "e" / "deep.mp4")  # below the depth cap
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "outdir").symlink_to(outside)
    (root / ".hidden.mp4").write_bytes(BBB.read_bytes())
    (root / "empty.mp4").write_bytes(b"")
    for i in range(5):
        (root / f"z{i}.webm").write_bytes(b"not really a video")

    found, cut = scan([root])
    names = [f.rel for f in found]
    assert names[0] == "top.mp4" and "a/b/level2.mp4" in names and not cut
    assert not any(
        "secret" in n or "deep" in n or "link" in n or "hidden" in n or "empty" in n for n in names
    )
    few, cut = scan([root], limit=3)
    assert len(few) == 3 and cut
    _, cut = scan([root], max_entries=4)
    assert cut
    # a file that does not decode is still listed, without a duration
    catalog = Catalog()
    broken = Found(root, "z0.webm", 18, 0)
    assert catalog.probe_now(broken) is None
    assert "read this resource for its duration" in (catalog.resource(broken).description or "")

    async def go(c: Client) -> Any:
        listed = (await c.list_resources()).resources
        errors = []
        for uri in [
            (outside / "secret.mp4").as_uri(),
            (root / "link.mp4").as_uri(),
            (root / "nope.mp4").as_uri(),
        ]:
            with pytest.raises(MCPError) as err:
                await c.read_resource(uri)
            errors.append(str(err.value))
        return listed, errors

    listed, errors = _in_process([root], go)
    assert all(str(outside) not in r.uri for r in listed)
    assert "outside the folders" in errors[0] and "outside the folders" in errors[1]
    assert str(outside) not in errors[1]  # the link's target is never told
    assert "no such file" in errors[2]


def test_no_roots_lists_nothing() -> None:
    async def go(c: Client) -> Any:
        return (await c.list_resources()).resources

    assert _in_process([], go) == []


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


async def _contract(client: Client) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    resources = (await client.list_resources()).resources
    read = await client.read_resource(resources[0].uri)
    wrong = await client.call_tool("video_reason", {"video": [str(BBB)], "question": "q"})
    return {"tools": tools, "resources": resources, "read": read, "wrong": wrong}


def _check(out: dict[str, Any]) -> None:
    (tool,) = out["tools"]
    assert tool.input_schema["required"] == ["videos", "question"] and "anyOf" not in tool.input_schema
    assert str(VIDEOS) in (tool.description or "")
    assert {r.name for r in out["resources"]} >= {"bigbuckbunny.mp4", "vtest.avi"}
    assert json.loads(out["read"].contents[0].text)["duration_s"] > 0
    assert "did you mean 'videos'" in out["wrong"].content[0].text


def test_contract_over_stdio() -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--backend", "fake", "--allow", str(VIDEOS)],
        env=_env(),
        cwd=str(ROOT),
    )

    async def go() -> dict[str, Any]:
        async with Client(params) as client:
            return await _contract(client)

    _check(anyio.run(go))


def test_contract_over_streamable_http(tmp_path: Path) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--transport", "http", "--port", "0", "--backend", "fake",
         "--allow", str(VIDEOS), "--token", TOKEN],
        env=_env(), cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        url = ""
        while not url:
            text = (tmp_path / "server.log").read_text()
            for line in text.splitlines():
                if "streamable HTTP on http://" in line:
                    url = line.split("streamable HTTP on ", 1)[1].split(" ", 1)[0]
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)

        async def go() -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                return await _contract(client)

        _check(anyio.run(go))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_a_listing_waits_for_slow_probes_at_most_its_budget_and_never_blocks_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mcp_server.catalog as catalog_module

    real = catalog_module._probe
    calls: list[str] = []

    def slow(item: Found) -> Any:
        calls.append(item.rel)
        time.sleep(1.0)
        return real(item)

    monkeypatch.setattr(catalog_module, "_probe", slow)
    catalog = Catalog(budget_s=0.3)

    async def go() -> tuple[float, int, list[Found], list[Found]]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            t0 = time.perf_counter()
            found, _ = await catalog.list([VIDEOS])
            took = time.perf_counter() - t0
            again, _ = await catalog.list([VIDEOS])  # the probes still running are not started twice
            tg.cancel_scope.cancel()
        return took, ticks, found, again

    took, ticks, found, again = anyio.run(go)
    assert took < 0.9 and ticks >= 10  # back after the budget; the loop kept running meanwhile
    assert all(
        "read this resource for its duration" in (catalog.resource(f).description or "") for f in found
    )
    assert len(calls) == len(found) == len(again) == 3
    deadline = time.monotonic() + 10
    while not all(catalog.known(f)[0] for f in found):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert all("s video," in (catalog.resource(f).description or "") for f in found)  # listed next time


def test_a_recording_time_in_the_file_is_listed_and_read(tmp_path: Path) -> None:
    """An assistant asked which video was recorded first sees each file's creation time."""
    import av
    import numpy as np

    path = tmp_path / "dated.mp4"
    with av.open(str(path), "w", format="mp4") as c:
        c.metadata["creation_time"] = "2024-05-01T10:20:30.000000Z"
        s = c.add_stream("mpeg4", rate=5)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for k in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k, np.uint8), format="rgb24")
            frame.pts = k
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)

    async def go(c: Client) -> Any:
        listed = (await c.list_resources()).resources
        return listed, await c.read_resource(listed[0].uri)

    listed, read = _in_process([tmp_path], go)
    assert "recorded 2024-05-01T10:20:30" in (listed[0].description or "")
    assert listed[0].meta is not None and listed[0].meta["vt-agent/creation_time"].startswith("2024-05-01")
    record = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    assert record["creation_time"].startswith("2024-05-01") and "container" in record["creation_time_from"]
