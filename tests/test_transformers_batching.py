"""Batched generation on the transformers backend: the batching helpers, and the tiny model batched."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vt_agent.backends._batching import (
    END,
    BatchQueue,
    BatchSettings,
    Job,
    RequestArrays,
    RowText,
    batch_is_full,
    collate,
    padded_tokens,
    take_batch,
)
from vt_agent.backends.base import GenerationRequest, PreparedVideo
from vt_agent.errors import ConfigError
from vt_agent.prompts import build_messages, build_question

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ("bigbuckbunny.mp4", "vtest.avi", "cityCC0.mpg")
NEAR_TIE = 1e-4  # a greedy divergence is accepted only where the two best logits are this close


def arrays(length: int, videos: int = 1, seed: int = 0) -> RequestArrays:
    rng = np.random.default_rng(seed)
    grids = tuple((2, 4, 6) for _ in range(videos))
    patches = sum(t * h * w for t, h, w in grids)
    ids = rng.integers(10, 100, length).astype(np.int64)
    return RequestArrays(
        input_ids=ids,
        mm_token_type_ids=np.where(ids % 2 == 0, 2, 0).astype(np.int32),
        pixel_values_videos=rng.random((patches, 1176), dtype=np.float32) if videos else None,
        video_grid_thw=grids,
        second_per_grid_ts=tuple(0.5 + k for k in range(videos)),
    )


def job(length: int = 10, max_new: int = 8, sampling: tuple[bool, float, float] = (False, 1.0, 1.0)) -> Job:
    loop = asyncio.new_event_loop()
    loop.close()  # nobody listens: send() must not fail
    return Job(
        arrays=arrays(length),
        max_new_tokens=max_new,
        sampling=sampling,
        loop=loop,
        queue=asyncio.Queue(),
        text=RowText(lambda ids: bytes(ids).decode("utf-8", errors="replace")),
        eos_ids=frozenset({0}),
    )


# ---------------------------------------------------------------- helpers (no model)


def test_collate_left_pads_and_concatenates_videos_in_batch_order() -> None:
    a, b, c = arrays(5, videos=1, seed=1), arrays(8, videos=2, seed=2), arrays(3, videos=0, seed=3)
    out = collate([a, b, c], pad_id=7)
    assert out["input_ids"].shape == (3, 8)
    assert out["input_ids"][0].tolist() == [7, 7, 7, *a.input_ids.tolist()]
    assert out["attention_mask"].tolist() == [[0] * 3 + [1] * 5, [1] * 8, [0] * 5 + [1] * 3]
    assert out["mm_token_type_ids"][0, :3].tolist() == [0, 0, 0]
    assert out["mm_token_type_ids"][1].tolist() == b.mm_token_type_ids.tolist()
    assert a.pixel_values_videos is not None and b.pixel_values_videos is not None
    assert np.array_equal(
        out["pixel_values_videos"], np.concatenate([a.pixel_values_videos, b.pixel_values_videos])
    )
    assert out["video_grid_thw"].tolist() == [[2, 4, 6]] * 3
    assert out["second_per_grid_ts"].tolist() == [0.5, 0.5, 1.5]


def test_collate_without_videos_has_no_video_inputs() -> None:
    out = collate([arrays(4, videos=0)], pad_id=0)
    assert set(out) == {"input_ids", "attention_mask", "mm_token_type_ids"}
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1]]


def test_take_batch_respects_size_budget_and_sampling() -> None:
    settings = BatchSettings(max_batch_size=3, max_batch_tokens=100)
    sampled = job(10, 8, (True, 0.1, 0.001))
    big = job(60, 8)  # joined with anything it goes over 100 padded tokens
    small = [job(10, 8) for _ in range(4)]
    queue = deque([small[0], sampled, big, *small[1:]])
    assert batch_is_full(queue, settings)
    first = take_batch(queue, settings)
    assert first == small[:3]  # the sampled job waits, the big one does not fit
    assert padded_tokens(first) == 3 * (10 + 8) <= 100
    assert list(queue) == [sampled, big, small[3]]
    assert take_batch(queue, settings) == [sampled]  # alone: the others decode differently
    assert take_batch(queue, settings) == [big]  # larger than the budget with a partner: alone
    assert take_batch(queue, settings) == [small[3]]
    assert take_batch(queue, settings) == []


def test_take_batch_drops_cancelled_jobs_and_ends_their_streams() -> None:
    gone, kept = job(), job()
    gone.cancel.set()
    queue = deque([gone, kept])
    assert take_batch(queue, BatchSettings()) == [kept]
    assert gone.done and gone.stats.cancelled and gone.stats.finish_reason is None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_batch_size": 0}, {"max_batch_tokens": -1}, {"max_batch_size": 2.5}, {"batch_wait_s": -1}],
)
def test_bad_batch_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        BatchSettings(**kwargs)


def test_row_text_releases_exactly_the_decoded_text() -> None:
    text = "Hmm, the rabbit — 兔子 — jumps.\nThen <answer>B</answer> ça va 🐇 end"
    data = list(text.encode("utf-8"))
    row = RowText(lambda ids: bytes(ids).decode("utf-8", errors="replace"))
    pieces = [row.push(t) for t in data]
    released = "".join(pieces)
    pieces.append(row.flush())
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)  # a character split over tokens waits for its end
    assert released == text[: text.rfind(" ") + 1]  # streamed word by word, the last word at the end
    assert pieces[len("Hmm, the rabbit — 兔子 — jumps.\n".encode()) - 1].endswith("jumps.\n")


def test_job_finishes_at_eos_or_max_tokens_and_once() -> None:
    loop = asyncio.new_event_loop()
    try:
        j = job(max_new=3)
        j.loop, j.queue = loop, asyncio.Queue()
        for token in b"ab ":
            j.add_token(token, now=1.0, started=0.5)
        assert j.done and j.stats.finish_reason == "length" and j.new_tokens == list(b"ab ")
        j.add_token(ord("c"), now=2.0, started=0.5)  # after the end: ignored
        assert j.stats.generated_tokens == 3 and j.stats.prefill_s == 0.5
        loop.run_until_complete(asyncio.sleep(0))
        items = [j.queue.get_nowait() for _ in range(j.queue.qsize())]
        assert items == [("ab ", tuple(b"ab ")), END]
        stop = job(max_new=10)
        stop.add_token(ord("x"), 1.0, 0.0)
        stop.add_token(0, 1.0, 0.0)  # EOS
        assert stop.done and stop.stats.finish_reason == "stop"
        cancelled = job(max_new=10)
        cancelled.cancel.set()
        cancelled.add_token(ord("x"), 1.0, 0.0)
        assert cancelled.done and cancelled.stats.cancelled and cancelled.new_tokens == []
    finally:
        loop.close()


def test_batch_queue_waits_for_requests_in_preparation_and_ends_every_job() -> None:
    seen: list[int] = []

    def run_batch(batch: list[Job]) -> None:
        seen.append(len(batch))
        if len(seen) == 2:
            raise RuntimeError("boom")
        batch[0].add_token(0, 1.0, 0.0)  # EOS for the first; the others end after the batch

    queue = BatchQueue(BatchSettings(max_batch_size=4, batch_wait_s=5.0), run_batch)
    jobs = [job(max_new=2) for _ in range(4)]
    with queue.preparing(), queue.preparing(), queue.preparing():
        queue.submit(jobs[0])  # two more are being prepared: the worker waits for them
        time.sleep(0.05)
        assert seen == []
        queue.submit(jobs[1])
        queue.submit(jobs[2])
    t0 = time.perf_counter()
    while queue.busy and time.perf_counter() - t0 < 5:
        time.sleep(0.01)
    assert seen == [3]
    assert [j.stats.finish_reason for j in jobs[:3]] == ["stop", "stop", "stop"]
    queue.submit(jobs[3])  # the second batch fails: its job ends with the error
    while queue.busy and time.perf_counter() - t0 < 5:
        time.sleep(0.01)
    assert seen == [3, 1] and jobs[3].done and isinstance(jobs[3].error, RuntimeError)
    queue.close(5.0)
    with pytest.raises(Exception, match="closed"):
        queue.submit(job())


# ---------------------------------------------------------------- the tiny model, batched

torch_needed = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "av")),
    reason="needs torch, transformers and PyAV",
)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vt_agent.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="module")
def clips() -> list[PreparedVideo]:
    from vt_agent.video import sample

    return [sample(ROOT / "tests" / "data" / "videos" / c, cache=False) for c in CLIPS]


def requests(clips: list[PreparedVideo], n: int, **kw: Any) -> list[GenerationRequest]:
    """Distinct questions over the clips: prompts of different lengths, so the batch is padded."""
    kw.setdefault("max_tokens", 24)
    kw.setdefault("temperature", 0.0)
    out = []
    for i in range(n):
        q = build_question(
            f"Question {i}: what happens" + " next" * i + "?", ["It rains", "A rabbit wakes up"]
        )
        video = [clips[i % len(clips)]]
        out.append(GenerationRequest(messages=build_messages(q), videos=video, request_id=f"r{i}", **kw))
    return out


def stats_of(backend: Any, request: GenerationRequest) -> Any:
    return next(s for s in reversed(backend.history) if s.request_id == request.request_id)


async def _run(backend: Any, request: GenerationRequest) -> tuple[str, Any]:
    text = "".join([d.text async for d in backend.stream(request)])
    return text, stats_of(backend, request)


def _margin(backend: Any, request: GenerationRequest, prefix: list[int]) -> float:
    """Gap between the two best logits after ``prefix`` (greedy, alone)."""
    import torch

    prompt = backend.prompt_tokens(request)
    inputs = backend._model_inputs(prompt, request)
    extra = torch.tensor([prefix], dtype=torch.int64)
    inputs["input_ids"] = torch.cat([inputs["input_ids"], extra], dim=1)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    inputs["mm_token_type_ids"] = torch.cat(
        [inputs["mm_token_type_ids"], torch.zeros_like(extra).int()], dim=1
    )
    with torch.inference_mode():
        logits = backend._model(**inputs).logits[0, -1].float()
    top = torch.topk(logits, 2).values
    return float(top[0] - top[1])


@pytest.mark.slow
@torch_needed
def test_batched_greedy_output_equals_alone(ckpt: Path, clips: list[PreparedVideo]) -> None:
    from vt_agent.backends.transformers_backend import TransformersBackend

    reqs = requests(clips, 4)
    alone_backend = TransformersBackend(ckpt, device="cpu", dtype="float32", max_batch_size=1)
    batched = TransformersBackend(ckpt, device="cpu", dtype="float32", max_batch_size=8, batch_wait_s=5.0)

    async def run() -> tuple[list[Any], list[tuple[str, Any]]]:
        alone = [await _run(alone_backend, r) for r in reqs]
        await batched.load()
        return alone, list(await asyncio.gather(*(_run(batched, r) for r in reqs)))

    try:
        alone, together = asyncio.run(run())
        assert [s.batch_size for _, s in together] == [4] * 4
        assert len({s.prompt_tokens for _, s in together}) > 1  # the batch was padded
        for k, ((text_a, stats_a), (text_b, stats_b)) in enumerate(zip(alone, together, strict=True)):
            assert stats_a.batch_size == 1
            ids_a, ids_b = stats_a.token_ids, stats_b.token_ids
            if ids_a == ids_b:
                assert text_a == text_b
                assert stats_a.finish_reason == stats_b.finish_reason
                continue
            first = next(i for i, (x, y) in enumerate(zip(ids_a, ids_b, strict=False)) if x != y)
            margin = _margin(alone_backend, reqs[k], ids_a[:first])
            assert margin < NEAR_TIE, (
                f"request {k}: batched output differs from alone at token {first} "
                f"({ids_b[first]} vs {ids_a[first]}) where the best logit leads by {margin:.3g}"
            )
    finally:
        alone_backend.close_sync()
        batched.close_sync()


@pytest.mark.slow
@torch_needed
def test_rows_end_on_their_own_and_cancelling_one_keeps_the_others(
    ckpt: Path, clips: list[PreparedVideo]
) -> None:
    from vt_agent.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(ckpt, device="cpu", dtype="float32", batch_wait_s=5.0)
    short, long_a, long_b = requests(clips, 3, max_tokens=2000)
    short = GenerationRequest(short.messages, short.videos, max_tokens=3, temperature=0.0, request_id="short")

    async def drain(request: GenerationRequest, cancel_after: int | None = None) -> int:
        seen = 0
        stream = backend.stream(request)
        async for d in stream:
            seen += bool(d.text)
            if cancel_after is not None and seen >= cancel_after:
                await stream.aclose()
                break
        return seen

    async def run() -> None:
        await backend.load()
        cancelled = asyncio.create_task(drain(long_a, cancel_after=2))
        kept = asyncio.create_task(drain(long_b))
        done_short = asyncio.create_task(drain(short))
        await asyncio.gather(cancelled, done_short)
        s_long_a, s_long_b, s_short = (stats_of(backend, r) for r in (long_a, long_b, short))
        assert {s.batch_size for s in (s_long_a, s_long_b, s_short)} == {3}
        assert s_short.finish_reason in {"length", "stop"} and s_short.generated_tokens <= 3
        assert s_long_b.finish_reason is None and not kept.done()  # the short row ended on its own
        await asyncio.sleep(0.5)
        assert s_long_a.cancelled and s_long_a.generated_tokens < 50
        at = s_long_b.generated_tokens
        await asyncio.sleep(0.5)
        assert s_long_b.generated_tokens > at  # still generating
        kept.cancel()
        t0 = time.perf_counter()
        while backend.busy and time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.01)
        assert not backend.busy
        assert s_long_b.cancelled and s_long_b.generated_tokens < 2000

    try:
        asyncio.run(run())
    finally:
        backend.close_sync()


@pytest.mark.slow
@torch_needed
def test_close_ends_queued_and_running_streams(ckpt: Path, clips: list[PreparedVideo]) -> None:
    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.errors import GenerationCancelled

    backend = TransformersBackend(ckpt, device="cpu", dtype="float32", max_batch_size=1)
    outcomes: list[str] = []

    async def drain(request: GenerationRequest) -> None:
        try:
            async for _ in backend.stream(request):
                pass
            outcomes.append("finished")
        except GenerationCancelled:
            outcomes.append("cancelled")

    async def run() -> None:
        await backend.load()
        tasks = [asyncio.create_task(drain(r)) for r in requests(clips, 2, max_tokens=2000)]
        while not any(s.generated_tokens for s in backend.history):
            await asyncio.sleep(0.01)
        await backend.close()  # one runs, one waits in the queue
        await asyncio.gather(*tasks)

    asyncio.run(run())
    assert outcomes == ["cancelled", "cancelled"]
    assert not backend.busy and not backend.loaded
