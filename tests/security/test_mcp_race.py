"""Attack: swap a checked folder for a symlink to outside the root between the check and the open.

Deterministic: the server runs one job at a time; a slow call holds the slot while a second call
(its path checked at once) waits in the queue; the folder is then replaced by a symlink to a
folder outside the root holding another video under the same name. The queued job must decode
the file it was given, and nothing outside the root may ever be opened.
"""

from __future__ import annotations

import builtins
import os
import pathlib
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client

from mcp_server.server import create_server
from mcp_server.settings import load_settings
from vt_agent.backends.fake_backend import FakeBackend

VIDEOS = Path(__file__).resolve().parent.parent / "data" / "videos"
BBB = VIDEOS / "bigbuckbunny.mp4"
CITY = VIDEOS / "cityCC0.mpg"


def test_swapping_a_checked_folder_for_a_link_never_opens_the_outside_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    av = pytest.importorskip("av")
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    shutil.copy(BBB, root / "dir" / "clip.mp4")
    shutil.copy(BBB, root / "first.mp4")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(CITY, outside / "clip.mp4")  # another video under the same name

    opened: list[str] = []  # names opened after the swap, resolved at once
    swapped = False

    def note(target: Any) -> None:
        if swapped and isinstance(target, str | bytes | os.PathLike):
            opened.append(os.path.realpath(os.fsdecode(target)))

    def spy(real: Any) -> Any:
        def wrapper(target: Any, *args: Any, **kwargs: Any) -> Any:
            note(target)
            return real(target, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "open", spy(os.open))
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(av, "open", spy(av.open))
    real_path_open = pathlib.Path.open
    monkeypatch.setattr(
        pathlib.Path,
        "open",
        lambda self, *a, **k: (note(self), real_path_open(self, *a, **k))[1],
    )

    backend = FakeBackend(chunk_chars=2, delay_s=0.01)
    settings = load_settings(
        {"allowed_roots": [str(root)], "max_concurrency": 1, "preset": "video-thinker-16f"}, environ={}
    )

    async def main() -> dict[str, Any]:
        nonlocal swapped
        async with Client(create_server(settings, backend=backend)) as client:
            first = await client.call_tool(
                "video_reason", {"videos": [str(root / "first.mp4")], "question": "q", "wait_s": 0}
            )
            queued = await client.call_tool(
                "video_reason", {"videos": [str(root / "dir" / "clip.mp4")], "question": "q", "wait_s": 0}
            )
            assert not first.is_error and not queued.is_error, (first, queued)
            assert queued.structured_content is not None and queued.structured_content["status"] == "running"
            # the swap, while the second job waits for the slot
            (root / "dir").rename(root / "dir-old")
            (root / "dir").symlink_to(outside, target_is_directory=True)
            swapped = True
            results = {}
            for name, res in (("first", first), ("queued", queued)):
                job_id = res.structured_content["job_id"]  # type: ignore[index]
                done = await client.call_tool("video_reason", {"job_id": job_id, "wait_s": 120})
                assert not done.is_error, done
                results[name] = done.structured_content
            return results

    results = anyio.run(main)
    record = results["queued"]["videos"][0]
    with av.open(str(BBB)) as bbb, av.open(str(CITY)) as city:
        bbb_s = float(bbb.duration or 0) / 1e6
        city_s = float(city.duration or 0) / 1e6
    assert abs(record["duration_s"] - bbb_s) < abs(record["duration_s"] - city_s)  # the file it was given
    assert not [p for p in opened if p.startswith(str(outside))], opened
