"""vt_agent.pipeline: preparation overlaps generation, look-ahead bounded, order and keys kept,
failures recorded, cancellation clean, and the same frames as an unpipelined question."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from video_factory import cfr_video

import vt_agent.reasoner as reasoner_mod
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import ConfigError, VideoNotFoundError
from vt_agent.pipeline import ItemResult, Pipeline, PipelineItem, PreparedItem, prepare_item, reason_with
from vt_agent.reasoner import VideoReasoner
from vt_agent.sandbox import open_beneath
from vt_agent.video import clear_cache

PRESET = "video-thinker-16f"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pipeline")
    return [cfr_video(folder / f"c{i}.mp4", n=30 + 2 * i, fps=10) for i in range(6)]


@pytest.fixture(autouse=True)
def _cold() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


class Watch:
    """Counts preparations as they start and end (wrapping the protocol's sample_video)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.events: dict[str, threading.Event] = {}
        self.holding = 0
        self.max_holding = 0
        real = reasoner_mod.sample_video

        def wrapped(path: Any, preset: str, window: Any = None) -> Any:
            with self.lock:
                self.started.append(str(path))
                self.holding += 1
                self.max_holding = max(self.max_holding, self.holding)
                self.event(str(path)).set()
            return real(path, preset, window)

        monkeypatch.setattr(reasoner_mod, "sample_video", wrapped)

    def event(self, key: str) -> threading.Event:
        return self.events.setdefault(key, threading.Event())

    def released(self) -> None:
        with self.lock:
            self.holding -= 1


def items(paths: list[Path]) -> list[PipelineItem]:
    return [PipelineItem(f"k{i}", str(p), "What happens?") for i, p in enumerate(paths)]


async def collect(
    pipeline: Pipeline, todo: list[PipelineItem], generate: Any, **kw: Any
) -> list[ItemResult[Any]]:
    return [r async for r in pipeline.run(todo, generate, **kw)]


def test_preparation_of_the_next_item_starts_before_generation_ends(
    clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = Watch(monkeypatch)
    todo = items(clips)
    proved: list[bool] = []

    async def generate(prepared: PreparedItem) -> str:
        k = int(str(prepared.item.key)[1:])
        if k + 1 < len(todo):  # generation k ends only once preparation k+1 has started
            nxt = watch.event(str(clips[k + 1]))
            proved.append(await asyncio.to_thread(nxt.wait, 10.0))
        return str(prepared.item.key)

    async def main() -> list[ItemResult[Any]]:
        async with Pipeline(PRESET, workers=1, concurrency=1, look_ahead=2) as p:
            return await collect(p, todo, generate)

    out = asyncio.run(main())
    assert proved == [True] * (len(todo) - 1)
    assert [r.value for r in out] == [f"k{i}" for i in range(len(todo))]
    assert all(r.ok and r.prepare_s > 0 for r in out)


def test_look_ahead_bounds_the_items_holding_frames(
    clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = Watch(monkeypatch)

    async def generate(prepared: PreparedItem) -> None:
        await asyncio.sleep(0.02)  # a slow engine: preparation runs ahead until the bound stops it
        watch.released()

    async def main() -> None:
        async with Pipeline(PRESET, workers=2, concurrency=1, look_ahead=3) as p:
            await collect(p, items(clips * 2), generate)

    asyncio.run(main())
    assert len(watch.started) == 12
    assert watch.max_holding == 3


def test_ordered_results_and_keys(clips: list[Path]) -> None:
    todo = items(clips)

    async def generate(prepared: PreparedItem) -> int:
        k = int(str(prepared.item.key)[1:])
        await asyncio.sleep(0.01 * (len(todo) - k))  # later items finish first
        return k

    async def main() -> tuple[list[ItemResult[Any]], list[ItemResult[Any]]]:
        async with Pipeline(PRESET, workers=2, concurrency=len(todo)) as p:
            return await collect(p, todo, generate, ordered=True), await collect(p, todo, generate)

    ordered, loose = asyncio.run(main())
    assert [r.position for r in ordered] == list(range(len(todo)))
    assert [r.value for r in ordered] == list(range(len(todo)))
    assert sorted(str(r.key) for r in loose) == sorted(str(it.key) for it in todo)
    assert all(r.value == int(str(r.key)[1:]) for r in loose)


def test_failures_are_recorded_and_the_rest_runs(clips: list[Path], tmp_path: Path) -> None:
    todo = items(clips[:3])
    todo.insert(1, PipelineItem("missing", str(tmp_path / "nope.mp4"), "q"))

    async def generate(prepared: PreparedItem) -> str:
        if prepared.item.key == "k2":
            raise RuntimeError("engine hiccup")
        return "fine"

    async def main() -> list[ItemResult[Any]]:
        async with Pipeline(PRESET, workers=2) as p:
            return await collect(p, todo, generate, ordered=True)

    out = asyncio.run(main())
    assert [r.key for r in out] == ["k0", "missing", "k1", "k2"]
    assert out[1].stage == "prepare" and isinstance(out[1].error, VideoNotFoundError)
    assert out[3].stage == "generate" and out[3].message == "RuntimeError: engine hiccup"
    assert [r.value for r in out if r.ok] == ["fine", "fine"]

    async def fatal() -> None:
        async with Pipeline(PRESET) as p:
            await collect(p, todo, generate, fatal=(RuntimeError,))

    with pytest.raises(RuntimeError, match="hiccup"):
        asyncio.run(fatal())


def test_closing_early_cancels_what_is_in_flight(clips: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch(monkeypatch)
    generating: list[str] = []
    cancelled: list[str] = []

    second = asyncio.Event()

    async def generate(prepared: PreparedItem) -> str:
        generating.append(str(prepared.item.key))
        try:
            if prepared.item.key == "k0":  # k0 ends once k1 generates: k1 is in flight at the close
                await asyncio.wait_for(second.wait(), 10)
            else:
                second.set()
                await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(str(prepared.item.key))
            raise
        return "done"

    async def main() -> Pipeline:
        p = Pipeline(PRESET, workers=1, concurrency=2, look_ahead=3)
        stream = p.run(items(clips * 4), generate)
        first = await anext(stream)
        assert first.key == "k0"
        await stream.aclose()
        # the pipeline is still usable afterwards: its slots were all given back
        again = await collect(p, items(clips[:2]), lambda prepared: asyncio.sleep(0, "ok"))
        assert [r.value for r in again] == ["ok", "ok"]
        p.close()
        return p

    asyncio.run(main())
    assert "k1" in cancelled and set(cancelled) <= set(generating)
    assert len(watch.started) <= 3 + 2 + 1  # never more than look-ahead beyond what was yielded (+ rerun)
    assert "k0" not in cancelled


def test_reason_with_gives_the_unpipelined_answer(clips: list[Path]) -> None:
    reasoner = VideoReasoner(FakeBackend(), preset=PRESET)
    todo = [
        PipelineItem("a", str(clips[0]), "What happens first?", ("x", "y")),
        PipelineItem("b", [str(clips[1]), str(clips[2])], "Which video is longer?", window=(0.5, 2.5)),
    ]

    async def main() -> tuple[list[Any], list[Any]]:
        async with Pipeline(PRESET, workers=2, concurrency=2) as p:
            piped = [r.value for r in await collect(p, todo, reason_with(reasoner), ordered=True)]
        clear_cache()
        direct = [
            await reasoner.areason(list(it.sources), it.question, it.options, window=it.window) for it in todo
        ]
        return piped, direct

    piped, direct = asyncio.run(main())
    for a, b in zip(piped, direct, strict=True):
        assert a.trace == b.trace and a.answer == b.answer
        assert [v.model_dump() for v in a.videos] == [v.model_dump() for v in b.videos]
        assert a.timings.decode_s > 0


def test_opened_files_go_through_threads_not_processes(clips: list[Path]) -> None:
    opened = open_beneath(clips[0].parent, clips[0].name)
    item = PipelineItem("fd", opened, "q")
    ready = prepare_item(item, PRESET, model_inputs=True)
    assert len(ready.videos) == 1 and len(ready.inputs) == 1
    assert ready.videos[0].record.video_tokens == ready.inputs[0].video_tokens

    async def via_process() -> None:
        async with Pipeline(PRESET, pool="process") as p:
            await p.prepare(item)

    with pytest.raises(ConfigError, match="pool='thread'"):
        asyncio.run(via_process())
    opened.close()


def test_a_process_pool_prepares_each_frames_once_into_this_process_cache(clips: list[Path]) -> None:
    import numpy as np

    from vt_agent.reasoner import sample_video

    window = (0.5, 2.5)
    items = [PipelineItem(i, clips[0], "q", window=window) for i in range(3)]
    items.append(PipelineItem(3, clips[1], "q"))

    async def frames(ready: PreparedItem) -> Any:
        return ready.videos[0]

    async def main() -> tuple[list[Any], list[Any]]:
        async with Pipeline(PRESET, workers=2, pool="process") as p:
            first = [d.value async for d in p.run(items, frames, ordered=True)]
            again = [d.value async for d in p.run(items[:1], frames)]
        return first, again

    first, again = asyncio.run(main())
    assert first[0] is first[1] is first[2] is again[0]  # one preparation, then the cache's
    asked = list(zip(first[2:], [(clips[0], window), (clips[1], None)], strict=True))
    for got, (path, win) in asked:  # from the cache the pool's frames went into
        assert sample_video(str(path), PRESET, win) is got and not got.frames.flags.writeable
    clear_cache()
    for got, (path, win) in asked:  # the frames a thread decodes
        fresh = sample_video(str(path), PRESET, win)
        assert np.array_equal(fresh.frames, got.frames) and fresh.record == got.record


def test_a_dead_pool_process_stops_the_run_with_a_clear_error(clips: list[Path]) -> None:
    import os

    from vt_agent.errors import PreparationPoolError

    async def frames(ready: PreparedItem) -> Any:
        return ready.videos[0]

    async def main() -> None:
        async with Pipeline(PRESET, workers=1, pool="process") as p:
            with pytest.raises(Exception):  # noqa: B017  # the process exits: the pool breaks
                await asyncio.wrap_future(p._pool().submit(os._exit, 1))
            items = [PipelineItem(i, c, "q") for i, c in enumerate(clips[:3])]
            with pytest.raises(
                PreparationPoolError, match=r"item \d: a process of the preparation pool died"
            ):
                [d async for d in p.run(items, frames)]

    asyncio.run(main())


def test_a_script_without_a_main_guard_is_told_why_the_pool_broke(tmp_path: Path, clips: list[Path]) -> None:
    """Process pools start new interpreters that import the script again: unguarded, its pool
    breaks, and the error says so instead of only suggesting memory."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import asyncio\n"
        "from vt_agent.pipeline import Pipeline, PipelineItem\n"
        f"item = PipelineItem(0, {str(clips[0])!r}, 'q')\n"
        "asyncio.run(Pipeline(workers=1, pool='process').prepare(item))\n",
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("vt_agent.errors.PreparationPoolError") and 'if __name__ == "__main__":' in last


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="workers"):
        Pipeline(workers=0)
    with pytest.raises(ConfigError, match="pool"):
        Pipeline(pool="gpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="window"):
        PipelineItem("w", "a.mp4", "q", window=(3.0, 1.0))


def test_frames_of_another_preset_are_refused(clips: list[Path]) -> None:
    ready = prepare_item(PipelineItem("p", str(clips[0]), "q"), "video-thinker-32f")
    reasoner = VideoReasoner(FakeBackend(), preset=PRESET)
    with pytest.raises(ConfigError, match="video-thinker-32f"):
        asyncio.run(reasoner.areason(str(clips[0]), "What happens?", prepared=ready.videos))


def test_close_cancels_a_run_left_unclosed(clips: list[Path]) -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def generate(prepared: PreparedItem) -> None:
        started.append(str(prepared.item.key))
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(str(prepared.item.key))
            raise

    async def main() -> None:
        p = Pipeline(PRESET, workers=1, concurrency=1, look_ahead=2)
        stream = p.run(items(clips), generate)
        waiter = asyncio.ensure_future(anext(stream))
        while not started:
            await asyncio.sleep(0.01)
        p.close()  # as a caller's finally does after leaving its loop early
        await asyncio.sleep(0.05)
        assert cancelled == started == ["k0"]
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await stream.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("workers", [1, 2])
def test_preparations_beside_others_run_in_one_thread(
    clips: list[Path], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """With several workers, a preparation submitted while another is under way samples inside
    video.one_thread; the first one, and every one of a lone worker, keep the codec's threads."""
    from vt_agent.video.probing import single_threaded

    inside: dict[str, bool] = {}
    real = reasoner_mod.sample_video

    def spy(path: Any, preset: str, window: Any = None) -> Any:
        inside[str(path)] = single_threaded()
        return real(path, preset, window)

    monkeypatch.setattr(reasoner_mod, "sample_video", spy)
    items = [PipelineItem(i, str(c), "q") for i, c in enumerate(clips)]
    reasoner = VideoReasoner(FakeBackend(chunk_chars=64), preset=PRESET)

    async def go() -> None:
        async with Pipeline(PRESET, workers=workers, concurrency=1) as pipeline:
            async for done in pipeline.run(items, reason_with(reasoner)):
                assert done.ok, done.message

    asyncio.run(go())
    assert len(inside) == len(items)
    assert inside[str(clips[0])] is False
    assert any(inside.values()) is (workers > 1)
