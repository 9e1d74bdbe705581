"""Allowed folders for the graphs: ``GraphContext(roots=...)`` or the server's VT_AGENT_ALLOWED_ROOTS.

With roots, every node opens the videos beneath them and the reasoner reads only through those
descriptors (an OpenedFile, never the name again); a path outside gets one message whatever
exists there, and a JSON context from a client cannot change the roots.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("av")

from graphs import GraphContext
from graphs.multi_video import graph as multi_graph
from graphs.triage import graph as triage_graph
from graphs.video_thinker import graph
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import ConfigError, PathNotAllowedError
from vt_agent.events import ReasonerEvent
from vt_agent.reasoner import VideoReasoner
from vt_agent.sandbox import ROOTS_ENV, OpenedFile

QUESTION = "What animal is the main character of this clip?"
OPTIONS = ["A fox", "A rabbit", "A bear", "A squirrel"]


class Spy(VideoReasoner):
    """A VideoReasoner that records what kind of video each call was given."""

    seen: list[str]

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.seen = []

    def _note(self, videos: Any) -> None:
        items = videos if isinstance(videos, list | tuple) else [videos]
        self.seen += ["opened" if isinstance(v, OpenedFile) else "path" for v in items]

    async def prepare(self, videos: Any, *args: Any, **kwargs: Any) -> Any:
        self._note(videos)
        return await super().prepare(videos, *args, **kwargs)

    def astream(self, videos: Any, *args: Any, **kwargs: Any) -> AsyncIterator[ReasonerEvent]:
        self._note(videos)
        return super().astream(videos, *args, **kwargs)


@pytest.fixture
def folder(tmp_path: Path, videos_dir: Path) -> Path:
    """An allowed folder with one clip, and a clip beside it (outside)."""
    inside = tmp_path / "allowed"
    inside.mkdir()
    shutil.copy(videos_dir / "bigbuckbunny.mp4", inside / "bigbuckbunny.mp4")
    shutil.copy(videos_dir / "bigbuckbunny.mp4", tmp_path / "outside.mp4")
    return inside


def ask(video: str) -> dict[str, Any]:
    return {"videos": [video], "question": QUESTION, "options": OPTIONS}


def test_video_thinker_reads_through_descriptors(folder: Path) -> None:
    spy = Spy(FakeBackend())
    out = graph.invoke(
        ask("bigbuckbunny.mp4"), context=GraphContext(reasoner=spy, roots=[folder], verify=True)
    )
    assert out["answer"] == "B"
    assert spy.seen and set(spy.seen) == {"opened"}  # prepare, each step and each verification
    assert out["result"]["videos"][0]["path"] == str(
        folder / "bigbuckbunny.mp4"
    )  # relative: beneath the root


def test_without_roots_the_paths_go_as_they_are(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    spy = Spy(FakeBackend())
    graph.invoke(ask(str(folder.parent / "outside.mp4")), context=GraphContext(reasoner=spy))
    assert set(spy.seen) == {"path"}


@pytest.mark.parametrize("outside", ["outside.mp4", "missing.mp4"])
def test_outside_is_refused_with_one_message(folder: Path, outside: str) -> None:
    spy = Spy(FakeBackend())
    path = str(folder.parent / outside)
    with pytest.raises(PathNotAllowedError) as err:
        graph.invoke(ask(path), context=GraphContext(reasoner=spy, roots=[folder]))
    assert str(err.value) == f"{path!r} is not inside the allowed folders"  # the same whether it exists
    assert spy.seen == []


@pytest.mark.parametrize("given", ["../outside.mp4", "sub/../../outside.mp4"])
def test_climbing_out_is_refused(folder: Path, given: str) -> None:
    with pytest.raises(PathNotAllowedError):
        graph.invoke(ask(given), context=GraphContext(reasoner=Spy(FakeBackend()), roots=[folder]))


def test_a_link_out_of_the_folder_is_refused(folder: Path) -> None:
    os.symlink(folder.parent / "outside.mp4", folder / "link.mp4")
    with pytest.raises(PathNotAllowedError):
        graph.invoke(ask("link.mp4"), context=GraphContext(reasoner=Spy(FakeBackend()), roots=[folder]))


def test_env_roots_apply_to_json_contexts(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A LangGraph server client sends JSON; the operator's VT_AGENT_ALLOWED_ROOTS holds for it."""
    monkeypatch.setenv(ROOTS_ENV, str(folder))
    out = graph.invoke(ask(str(folder / "bigbuckbunny.mp4")), context={"backend": "fake"})
    assert out["answer"] == "B"
    with pytest.raises(PathNotAllowedError):
        graph.invoke(ask(str(folder.parent / "outside.mp4")), context={"backend": "fake"})
    with pytest.raises(ConfigError, match="roots"):  # not a field a client may send
        graph.invoke(ask("bigbuckbunny.mp4"), context={"backend": "fake", "roots": ["/"]})


def test_env_roots_must_be_folders(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(folder), "/no/such/folder"]))
    with pytest.raises(ConfigError, match=f"{ROOTS_ENV}: '/no/such/folder' is not a folder"):
        graph.invoke(ask("bigbuckbunny.mp4"), context={"backend": "fake"})


@pytest.mark.parametrize(
    ("roots", "message"), [([], "is empty"), ("/tmp", "use \\[path\\]"), (["/no/such"], "not a folder")]
)
def test_bad_context_roots(roots: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GraphContext(backend="fake", roots=roots)


def test_beneath_shares_the_model_and_the_slots(folder: Path) -> None:
    base = GraphContext(backend="fake", concurrency=3)
    child = base.beneath([folder])
    assert child.get_reasoner() is base.get_reasoner()
    assert child.limiter() is base.limiter()
    assert child.allowed_roots() == [str(folder)] and base.roots is None
    assert child.beneath([folder]).get_reasoner() is base.get_reasoner()


def test_multi_video_records_an_outside_video_as_failed(folder: Path) -> None:
    spy = Spy(FakeBackend())
    videos: Sequence[str] = [str(folder / "bigbuckbunny.mp4"), str(folder.parent / "outside.mp4")]
    out = multi_graph.invoke(
        {"videos": list(videos), "question": "Which video shows a rabbit?"},
        context=GraphContext(reasoner=spy, roots=[folder]),
    )
    assert [(e["index"], e["error"]) for e in out["errors"]] == [(1, "PathNotAllowedError")]
    assert spy.seen and set(spy.seen) == {"opened"}


def test_triage_reads_through_descriptors(folder: Path) -> None:
    spy = Spy(FakeBackend())
    context = GraphContext(reasoner=spy, roots=[folder])
    out = triage_graph.invoke(
        {"video": "bigbuckbunny.mp4", "query": "a rabbit", "window_s": 3.0, "overlap_s": 0.0}, context=context
    )
    assert out["report"]["windows"] and set(spy.seen) == {"opened"}
    with pytest.raises(PathNotAllowedError):
        triage_graph.invoke(
            {"video": str(folder.parent / "outside.mp4"), "query": "a rabbit"}, context=context
        )


def test_async_runs_close_every_descriptor(folder: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))

    async def main() -> None:
        for _ in range(3):
            await graph.ainvoke(
                ask("bigbuckbunny.mp4"), context=GraphContext(reasoner=Spy(FakeBackend()), roots=[folder])
            )

    asyncio.run(main())
    assert len(os.listdir("/proc/self/fd")) <= before + 2  # the event loop's own, at most


def test_the_tool_with_roots_reads_through_descriptors(folder: Path) -> None:
    """make_video_reason_tool(roots=...): checked for the model's sake, then read by the graph
    only through descriptors opened beneath the roots (a name swapped between the two is not read)."""
    import json

    from graphs.tools import make_video_reason_tool

    spy = Spy(FakeBackend())
    base = GraphContext(reasoner=spy)
    tool = make_video_reason_tool(base, roots=[folder])
    answer = json.loads(
        tool.invoke({"videos": ["bigbuckbunny.mp4"], "question": QUESTION, "options": OPTIONS})
    )
    assert answer["answer"] == "B" and spy.seen and set(spy.seen) == {"opened"}
    assert base.roots is None  # the caller's context is left as it was
    out = tool.invoke({"videos": [str(folder.parent / "outside.mp4")], "question": QUESTION})
    assert "is not inside the allowed folders" in out


def test_the_tool_never_reads_a_folder_swapped_after_its_check(
    folder: Path, videos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check-then-open race: once the tool has checked 'sub/clip.mp4', 'sub' becomes a link to a
    folder outside; the graph opens beneath the roots again and refuses it (before, it read the
    outside file by name)."""
    import graphs.tools as tools

    (folder / "sub").mkdir()
    shutil.copy(videos_dir / "bigbuckbunny.mp4", folder / "sub" / "clip.mp4")
    elsewhere = folder.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(videos_dir / "cityCC0.mpg", elsewhere / "clip.mp4")
    checked = tools._Runner._allowed

    def check_then_swap(self: Any, video: str) -> str:
        path = checked(self, video)
        shutil.rmtree(folder / "sub")
        os.symlink(elsewhere, folder / "sub")
        return path

    monkeypatch.setattr(tools._Runner, "_allowed", check_then_swap)
    spy = Spy(FakeBackend())
    tool = tools.make_video_reason_tool(GraphContext(reasoner=spy), roots=[folder])
    out = tool.invoke({"videos": ["sub/clip.mp4"], "question": QUESTION})
    assert "is not inside the allowed folders" in out or "symbolic link" in out, out
    assert spy.seen == []  # nothing was read
