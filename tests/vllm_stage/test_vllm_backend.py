"""The in-process vLLM backend on the tiny random Qwen2.5-VL: same tokens as the transformers path,
streaming, abort on cancel, multimodal/prefix cache on a repeated question."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("vllm")

from vt_agent.backends._tokens import build_prompt_tokens
from vt_agent.backends.base import Delta, GenerationRequest, PreparedVideo
from vt_agent.backends.vllm_backend import VLLMBackend, exact_metadata_fps, video_item
from vt_agent.errors import ContextLengthError
from vt_agent.prompts import build_messages, build_question
from vt_agent.video import sample

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def backend(tiny_dir: Path, loop: asyncio.AbstractEventLoop) -> Iterator[VLLMBackend]:
    b = VLLMBackend(
        tiny_dir,
        engine_args={"dtype": "float32", "enforce_eager": True, "max_model_len": 8192},
        max_num_seqs=8,
    )
    loop.run_until_complete(b.load())
    yield b
    loop.run_until_complete(b.close())


def _request(videos: list[PreparedVideo], question: str = "What happens?", **kw: Any) -> GenerationRequest:
    msgs = build_messages(build_question(question, ["A", "B"]), n_videos=len(videos))
    return GenerationRequest(messages=msgs, videos=videos, **kw)


async def _collect(backend: VLLMBackend, request: GenerationRequest) -> list[Delta]:
    return [d async for d in backend.stream(request)]


def test_exact_metadata_fps() -> None:
    for s, n, total in [(2.909090909, 16, 132), (0.2, 16, 795), (1.7, 32, 313), (3.0, 64, 101)]:
        fps = exact_metadata_fps(s, n, total)
        assert abs(n / total * fps - s) <= 2 * math.ulp(s)  # exact where floats allow
        assert fps == pytest.approx(s * total / n)


@pytest.mark.parametrize("clip", ["bigbuckbunny.mp4", "vtest.avi"])
def test_same_tokens_grid_and_timing_as_transformers(
    backend: VLLMBackend, loop: asyncio.AbstractEventLoop, videos_dir: Path, clip: str
) -> None:
    video = sample(videos_dir / clip, "video-thinker-16f")
    req = _request([video], max_tokens=4)
    ours = build_prompt_tokens(backend._tokenizer, req.messages, req.videos)  # the transformers path's ids

    # What vLLM's own multimodal processor makes of the frames (no stable id: content hash).
    prompt = backend.engine_prompt(req, ours)
    del prompt["multi_modal_uuids"]

    async def process(engine: Any) -> Any:
        return await engine.input_processor.process_inputs_async(
            f"probe-{clip}",
            prompt,
            backend.sampling_params(req),
            supported_tasks=await engine.get_supported_tasks(),
        )

    core = loop.run_until_complete(backend.on_engine(process))
    (feature,) = core.mm_features
    data = feature.data
    grid = tuple(int(x) for x in data["video_grid_thw"].data.tolist())
    spg = float(data["second_per_grid_ts"].data.item())
    assert grid == tuple(video.record.grid_thw)
    assert np.float32(spg) == np.float32(video.record.second_per_grid_ts)
    assert np.float32(spg) == np.float32(2 / video.record.sampled_fps)  # vLLM keeps it as float32, as HF does
    assert list(core.prompt_token_ids) == ours.input_ids.tolist()

    # And through the engine: the RequestOutput's prompt ids equal the transformers path's ids.
    deltas = loop.run_until_complete(_collect(backend, req))
    stats = backend.last_stats
    assert stats is not None
    assert stats.prompt_token_ids == tuple(ours.input_ids.tolist())
    assert stats.video_tokens == video.record.video_tokens == ours.video_tokens
    if clip == "bigbuckbunny.mp4":
        assert video.record.video_tokens == 960 and tuple(video.record.grid_thw) == (8, 16, 30)
    assert deltas[-1].finish_reason in ("stop", "length")


def test_metadata_is_the_record(videos_dir: Path) -> None:
    video = sample(videos_dir / "vtest.avi", "video-thinker-16f")
    frames, meta = video_item(video)
    assert frames.shape == video.frames.shape and frames.flags.writeable
    assert meta["do_sample_frames"] is False
    assert meta["frames_indices"] == list(video.record.indices)
    assert meta["total_num_frames"] == video.record.decoded_frames


def test_streams_on_a_real_clip(backend: VLLMBackend, loop: asyncio.AbstractEventLoop, bbb: Path) -> None:
    req = _request([sample(bbb)], max_tokens=24)
    deltas = loop.run_until_complete(_collect(backend, req))
    assert len(deltas) >= 2
    assert all(d.finish_reason is None for d in deltas[:-1])
    assert deltas[-1].finish_reason in ("stop", "length")
    text = "".join(d.text for d in deltas)
    stats = backend.last_stats
    assert stats is not None and stats.generated_tokens >= 1 and text


def test_cancel_aborts_in_the_engine(
    backend: VLLMBackend, loop: asyncio.AbstractEventLoop, bbb: Path
) -> None:
    req = _request([sample(bbb)], max_tokens=2000, request_id="cancel-me")
    engine = backend.engine

    async def run() -> int:
        got = 0
        agen = backend.stream(req)
        async for _ in agen:
            got += 1
            if got == 2:
                break
        await agen.aclose()  # type: ignore[attr-defined]
        for _ in range(50):
            if engine.get_num_unfinished_requests() == 0:
                break
            await asyncio.sleep(0.05)
        return got

    assert loop.run_until_complete(run()) == 2
    assert engine.get_num_unfinished_requests() == 0
    stats = backend.last_stats
    assert stats is not None and stats.finish_reason == "cancelled"
    assert stats.generated_tokens < 2000

    async def task_cancel() -> None:
        task = asyncio.ensure_future(_collect(backend, _request([sample(bbb)], max_tokens=2000)))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if engine.get_num_unfinished_requests() == 0:
                break
            await asyncio.sleep(0.05)

    loop.run_until_complete(task_cancel())
    assert engine.get_num_unfinished_requests() == 0


def test_repeated_question_hits_the_caches(
    backend: VLLMBackend, loop: asyncio.AbstractEventLoop, videos_dir: Path
) -> None:
    video = sample(videos_dir / "cityCC0.mpg")
    req = _request([video], "Where is the car?", max_tokens=8)
    t0 = time.perf_counter()
    loop.run_until_complete(_collect(backend, req))
    first_s = time.perf_counter() - t0
    first = backend.last_stats
    t0 = time.perf_counter()
    loop.run_until_complete(_collect(backend, req))
    second_s = time.perf_counter() - t0
    second = backend.last_stats
    assert first is not None and second is not None
    assert first.cached_tokens < first.prompt_tokens // 2
    # The whole prompt but the last block comes from the prefix cache (video tokens included).
    assert second.cached_tokens >= second.prompt_tokens - 64
    assert second_s < first_s


def test_concurrent_requests_batch(backend: VLLMBackend, loop: asyncio.AbstractEventLoop, bbb: Path) -> None:
    video = sample(bbb)

    async def many() -> list[list[Delta]]:
        reqs = [_request([video], f"Question {i}?", max_tokens=16) for i in range(6)]
        return await asyncio.gather(*(_collect(backend, r) for r in reqs))

    outs = loop.run_until_complete(many())
    assert len(outs) == 6 and all(o[-1].finish_reason in ("stop", "length") for o in outs)


def test_context_length_refused_before_generation(
    tiny_dir: Path, backend: VLLMBackend, loop: asyncio.AbstractEventLoop, bbb: Path
) -> None:
    req = _request([sample(bbb, "video-thinker-64f")], max_tokens=7000)
    with pytest.raises(ContextLengthError, match="over the context of 8,192"):
        loop.run_until_complete(_collect(backend, req))


def test_usable_from_successive_event_loops(backend: VLLMBackend, bbb: Path) -> None:
    """``asyncio.run`` per call (what sync callers do): the engine keeps its own loop."""
    req = _request([sample(bbb)], max_tokens=4)
    for _ in range(2):
        deltas = asyncio.run(asyncio.wait_for(_collect(backend, req), 120))
        assert deltas[-1].finish_reason in ("stop", "length")


def test_video_reasoner_on_the_engine(backend: VLLMBackend, bbb: Path) -> None:
    """The sync reasoner (asyncio.run per call) over the in-process engine, twice."""
    from vt_agent.reasoner import VideoReasoner

    reasoner = VideoReasoner(backend, max_tokens=16)
    for _ in range(2):
        result = reasoner.reason(bbb, "What animal is it?", ["A rabbit", "A fish"])
        assert result.backend == "vllm" and result.finish_reason in ("stop", "length")
        assert result.videos[0].video_tokens == 960 and result.trace


def test_continuing_from_generated_token_ids_gives_the_one_shot_tokens(
    backend: VLLMBackend, loop: asyncio.AbstractEventLoop, bbb: Path
) -> None:
    """Greedy step-by-step generation: continuing from exactly the generated token ids gives the
    one-shot tokens (prefix caching on); a divergence is reported with where it happens."""
    video = sample(bbb, "video-thinker-16f")
    one_shot = loop.run_until_complete(_collect(backend, _request([video], max_tokens=24, temperature=0.0)))
    ids = [t for d in one_shot for t in d.token_ids]
    assert len(ids) >= 8 and "".join(d.text for d in one_shot)
    for k in (3, len(ids) // 2):
        prefix = backend._tokenizer.decode(ids[:k])
        req = _request(
            [video],
            max_tokens=24 - k,
            temperature=0.0,
            assistant_prefix=prefix,
            prefix_token_ids=tuple(ids[:k]),
        )
        rest = loop.run_until_complete(_collect(backend, req))
        got = [t for d in rest for t in d.token_ids]
        if got != ids[k:]:
            first = next((i for i, (a, b) in enumerate(zip(got, ids[k:], strict=False)) if a != b), len(got))
            pytest.fail(
                f"continuation from {k} tokens diverges at generated token {k + first}: {got} vs {ids[k:]}"
            )
