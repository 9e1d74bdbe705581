"""The transformers backend on the tiny random Qwen2.5-VL, and the shared prompt-token helper."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from vt_agent.backends import transformers_backend as tb
from vt_agent.backends._tokens import (
    VIDEO_PAD,
    build_prompt_tokens,
    check_context,
    count_prompt_tokens,
    video_order,
    video_tokens_for_grid,
)
from vt_agent.backends.base import Backend, Delta, GenerationRequest, PreparedVideo
from vt_agent.backends.transformers_backend import TransformersBackend
from vt_agent.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    ContextLengthError,
    GenerationCancelled,
    MissingExtraError,
)
from vt_agent.prompts import build_messages, build_question
from vt_agent.result import SamplingRecord
from vt_agent.tiny import build_tiny_checkpoint

ROOT = Path(__file__).resolve().parent.parent
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"


def synthetic_video(n: int = 16, h: int = 224, w: int = 420, seed: int = 0) -> PreparedVideo:
    """Random frames with a consistent sampling record (no decoding)."""
    frames = np.random.default_rng(seed).integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    grid = ((n + 1) // 2, h // 14, w // 14)
    record = SamplingRecord(
        path="/synthetic.mp4",
        file_id=f"synthetic-{seed}",
        preset="video-thinker-16f",
        duration_s=10.0,
        decoded_frames=300,
        indices=np.linspace(0, 299, n).round().astype(int).tolist(),
        timestamps_s=[float(i) / 30 for i in np.linspace(0, 299, n).round()],
        sampled_fps=n / 300 * 30,  # the qwen-vl-utils rule: n / total_frames * fps
        second_per_grid_ts=2 / (n / 300 * 30),
        resized=(w, h),
        grid_thw=grid,
        video_tokens=video_tokens_for_grid(grid),
    )
    return PreparedVideo(frames, record)


def request_for(videos: list[PreparedVideo], **kw: Any) -> GenerationRequest:
    question = build_question("What does the rabbit do?", ["It sleeps", "It jumps", "It eats"])
    kw.setdefault("max_tokens", 16)
    return GenerationRequest(messages=build_messages(question, n_videos=len(videos)), videos=videos, **kw)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="module")
def tokenizer(ckpt: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ckpt)


@pytest.fixture(scope="module")
def backend(ckpt: Path) -> Iterator[TransformersBackend]:
    b = TransformersBackend(ckpt, device="cpu")
    yield b
    b.close_sync()


@pytest.fixture(scope="module")
def clip(bbb: Path) -> PreparedVideo:
    """The real clip through vt_agent.video.sample, 16-frame preset."""
    pytest.importorskip("av")
    from vt_agent.video import sample

    return sample(bbb, "video-thinker-16f", cache=False)


def collect(backend: TransformersBackend, request: GenerationRequest) -> list[Delta]:
    async def run() -> list[Delta]:
        return [d async for d in backend.stream(request)]

    return asyncio.run(run())


# ---------------------------------------------------------------- prompt tokens (no model)


def test_video_pads_are_expanded_and_typed(tokenizer: Any) -> None:
    video = synthetic_video()
    prompt = build_prompt_tokens(tokenizer, request_for([video]).messages, [video])
    pad = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
    is_pad = prompt.input_ids == pad
    assert int(is_pad.sum()) == video.record.video_tokens == 960
    assert prompt.video_tokens == 960 and prompt.num_tokens == prompt.text_tokens + 960
    assert np.array_equal(prompt.mm_token_type_ids, np.where(is_pad, 2, 0))
    # the pads form one run between <|vision_start|> and <|vision_end|>
    where = np.flatnonzero(is_pad)
    assert where[-1] - where[0] + 1 == 960
    assert prompt.input_ids[where[0] - 1] == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert prompt.input_ids[where[-1] + 1] == tokenizer.convert_tokens_to_ids("<|vision_end|>")
    # the text is exactly the chat template's, tokenized
    text = tokenizer.apply_chat_template(
        request_for([video]).messages, tokenize=False, add_generation_prompt=True
    )
    unexpanded = tokenizer.encode(text, add_special_tokens=False)
    assert prompt.input_ids[~is_pad].tolist() == [t for t in unexpanded if t != pad]
    assert count_prompt_tokens(tokenizer, request_for([video]).messages, [video]) == prompt.num_tokens


def test_two_videos_follow_message_order(tokenizer: Any) -> None:
    small, large = synthetic_video(n=4, h=112, w=112), synthetic_video(n=8)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video", "video": 1},
                {"type": "text", "text": "and"},
                {"type": "video", "video": 0},
                {"type": "text", "text": "Which is longer?"},
            ],
        }
    ]
    prompt = build_prompt_tokens(tokenizer, messages, [small, large])
    assert prompt.video_order == (1, 0)
    assert prompt.video_token_counts == (large.record.video_tokens, small.record.video_tokens)
    assert prompt.video_tokens == 4 * 16 * 30 // 4 + 2 * 8 * 8 // 4


@pytest.mark.parametrize(
    ("content", "n", "match"),
    [
        ([{"type": "text", "text": "no video"}], 1, "exactly once"),
        ([{"type": "video", "video": 0}, {"type": "video", "video": 0}], 1, "exactly once"),
        ([{"type": "video", "video": "clip.mp4"}], 1, "by index"),
        ([{"type": "image", "image": 0}, {"type": "video", "video": 0}], 1, "images are not supported"),
    ],
)
def test_bad_video_references(content: list[dict[str, Any]], n: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        video_order([{"role": "user", "content": content}], n)


def test_context_error_says_what_would_fit(tokenizer: Any) -> None:
    video = synthetic_video()  # 16 frames, 420x224: grid (8, 16, 30), 120 tokens per 2 frames
    prompt = build_prompt_tokens(tokenizer, request_for([video]).messages, [video])
    max_context = prompt.text_tokens + 64 + 600  # 600 tokens left for video
    check_context(prompt, [video], 64, prompt.num_tokens + 64)  # exactly full: fine
    with pytest.raises(ContextLengthError) as info:
        check_context(prompt, [video], 64, max_context)
    msg = str(info.value)
    assert f"{960 - 600:,} over the context of {max_context:,}" in msg
    assert "at most 10 frames per video fit (now 16)" in msg  # 600 // 120 = 5 steps of 2 frames
    assert f"at most {75 * 784:,} pixels per frame fit (max_pixels=75*28*28; now 94,080)" in msg  # 600 // 8
    assert isinstance(info.value, BackendError)


def test_context_error_when_even_text_does_not_fit(tokenizer: Any) -> None:
    video = synthetic_video()
    prompt = build_prompt_tokens(tokenizer, request_for([video]).messages, [video])
    with pytest.raises(ContextLengthError, match="not even 2 frames fit"):
        check_context(prompt, [video], 1024, prompt.text_tokens + 100)


# ---------------------------------------------------------------- construction and errors (no weights)


def test_is_a_backend(ckpt: Path) -> None:
    b = TransformersBackend(ckpt)
    assert isinstance(b, Backend)
    assert (b.name, b.scripted, b.model) == ("transformers", False, str(ckpt))
    assert not b.loaded


@pytest.mark.parametrize(
    "kwargs",
    [{"device": "tpu"}, {"dtype": "int3"}, {"attn_implementation": "magic"}, {"max_context": 0}],
)
def test_bad_settings(ckpt: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        TransformersBackend(ckpt, **kwargs)


def test_missing_local_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendUnavailableError) as info:
        TransformersBackend(missing).load_sync()
    msg = str(info.value)
    assert str(missing) in msg and "hf download" in msg and "--backend fake" in msg
    assert info.value.extra == "hf"


def test_directory_without_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"no config\.json"):
        TransformersBackend(tmp_path).load_sync()


def test_broken_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(BackendUnavailableError, match="could not load the config"):
        TransformersBackend(tmp_path).load_sync()


def test_uncached_hub_id_offline() -> None:
    model = "vt-agent-test/definitely-not-a-model"
    with pytest.raises(BackendUnavailableError) as info:
        TransformersBackend(model, local_files_only=True).load_sync()
    msg = str(info.value)
    assert model in msg and "offline" in msg and f"hf download {model}" in msg


def test_missing_gpu_is_named_before_any_download() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        TransformersBackend("vt-agent-test/definitely-not-a-model", device="cuda").load_sync()


def test_not_a_qwen25_vl_checkpoint(ckpt: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "qwen2"
    shutil.copytree(ckpt, other)
    (other / "config.json").write_text(json.dumps({"model_type": "qwen2", "vocab_size": 100}))
    with pytest.raises(BackendUnavailableError, match=r"is a 'qwen2' model.*Qwen2\.5-VL"):
        TransformersBackend(other).load_sync()


def test_missing_extra_names_hf(monkeypatch: pytest.MonkeyPatch, ckpt: Path) -> None:
    def missing(module: str, extra: str, feature: str) -> None:
        raise MissingExtraError(module, extra, feature)

    monkeypatch.setattr(tb, "require", missing)
    with pytest.raises(MissingExtraError, match=r"pip install 'vt-agent\[hf\]'"):
        TransformersBackend(ckpt).load_sync()


def test_default_max_context_from_config(ckpt: Path) -> None:
    assert TransformersBackend(ckpt).max_context == 32768  # the tiny config's max_position_embeddings
    assert TransformersBackend(ckpt, max_context=4096).max_context == 4096


@pytest.mark.parametrize("kw", [{"temperature": -1.0}, {"top_p": 0.0}, {"max_tokens": 0}])
def test_bad_sampling_settings(ckpt: Path, kw: dict[str, Any]) -> None:
    b = TransformersBackend(ckpt)
    with pytest.raises(ConfigError):
        collect(b, request_for([synthetic_video()], **kw))
    assert not b.loaded


def test_context_refused_before_loading_weights(ckpt: Path) -> None:
    b = TransformersBackend(ckpt, max_context=500)
    with pytest.raises(ContextLengthError, match="over the context of 500 tokens"):
        collect(b, request_for([synthetic_video()]))
    assert not b.loaded


# ---------------------------------------------------------------- generation (tiny model)


@pytest.mark.slow
def test_load_reports_progress(ckpt: Path) -> None:
    events: list[Any] = []
    b = TransformersBackend(ckpt, device="auto", dtype="auto")

    async def run() -> None:
        await b.load(events.append)
        await b.close()

    asyncio.run(run())
    assert [e.stage for e in events] == ["load"] * len(events)
    assert events[0].fraction == 0.0 and events[-1].fraction == 1.0
    assert b.device in {"cpu", "cuda", "mps"}
    assert not b.loaded  # closed


@pytest.mark.slow
def test_generates_on_a_real_clip(backend: TransformersBackend, clip: PreparedVideo) -> None:
    assert clip.record.video_tokens == 960 and tuple(clip.record.grid_thw) == (8, 16, 30)
    request = request_for([clip], max_tokens=24)
    prompt = backend.prompt_tokens(request)
    assert prompt.video_tokens == clip.record.video_tokens
    deltas = collect(backend, request)
    assert all(isinstance(d, Delta) for d in deltas)
    assert all(d.finish_reason is None for d in deltas[:-1])
    assert deltas[-1].finish_reason in {"stop", "length"}
    assert "".join(d.text for d in deltas)
    stats = backend.last_stats
    assert stats is not None and stats.prompt_tokens == prompt.num_tokens and stats.video_tokens == 960
    assert 1 <= stats.generated_tokens <= 24
    assert (deltas[-1].finish_reason == "length") == (stats.generated_tokens == 24)


@pytest.mark.slow
def test_model_inputs_match_the_record(backend: TransformersBackend, clip: PreparedVideo) -> None:
    request = request_for([clip])
    prompt = backend.prompt_tokens(request)
    backend.load_sync()
    inputs = backend._model_inputs(prompt, request)
    assert inputs["video_grid_thw"].tolist() == [list(clip.record.grid_thw)]
    assert inputs["pixel_values_videos"].shape == (8 * 16 * 30, 1176)
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([clip.record.second_per_grid_ts])
    assert int((inputs["mm_token_type_ids"] == 2).sum()) == clip.record.video_tokens


@pytest.mark.slow
def test_the_model_sees_the_video(backend: TransformersBackend, clip: PreparedVideo) -> None:
    import torch

    backend.load_sync()
    reversed_clip = PreparedVideo(np.ascontiguousarray(clip.frames[::-1]), clip.record)

    def last_logits(video: PreparedVideo) -> Any:
        request = request_for([video])
        inputs = backend._model_inputs(backend.prompt_tokens(request), request)
        with torch.inference_mode():
            return backend._model(**inputs).logits[0, -1].float()

    same = last_logits(clip)
    assert torch.equal(same, last_logits(clip))
    diff = (same - last_logits(reversed_clip)).abs().max().item()
    assert diff > 1e-3


@pytest.mark.slow
def test_greedy_matches_protocol_sampling(backend: TransformersBackend, clip: PreparedVideo) -> None:
    """top_p=0.001 keeps one token: the protocol's sampling is greedy decoding in effect."""
    sampled = collect(backend, request_for([clip], max_tokens=16))
    greedy = collect(backend, request_for([clip], max_tokens=16, temperature=0.0))
    assert "".join(d.text for d in sampled) == "".join(d.text for d in greedy)


@pytest.mark.slow
def test_cancel_stops_generation(backend: TransformersBackend, clip: PreparedVideo) -> None:
    request = request_for([clip], max_tokens=2000)

    async def run() -> tuple[int, float]:
        stream = backend.stream(request)
        first = await stream.__anext__()
        assert first.text
        await stream.aclose()
        stats = backend.last_stats
        assert stats is not None
        at_cancel = stats.generated_tokens
        t0 = time.perf_counter()
        while backend.busy and time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.005)
        assert not backend.busy
        return stats.generated_tokens - at_cancel, time.perf_counter() - t0

    extra, waited = asyncio.run(run())
    stats = backend.last_stats
    assert stats is not None and stats.cancelled
    assert stats.generated_tokens < 2000
    assert extra <= 1  # at most the step that was running when the flag was set
    assert waited < 1.0


@pytest.mark.slow
def test_cancel_by_task_cancellation(backend: TransformersBackend, clip: PreparedVideo) -> None:
    request = request_for([clip], max_tokens=2000)
    seen: list[Delta] = []

    async def consume() -> None:
        async for d in backend.stream(request):
            seen.append(d)

    async def run() -> None:
        task = asyncio.create_task(consume())
        while not seen:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        t0 = time.perf_counter()
        while backend.busy and time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.005)

    asyncio.run(run())
    stats = backend.last_stats
    assert stats is not None and stats.cancelled and stats.generated_tokens < 2000
    assert not backend.busy


@pytest.mark.slow
def test_close_during_generation_stops_it(ckpt: Path, clip: PreparedVideo) -> None:
    b = TransformersBackend(ckpt, device="cpu")

    async def run() -> None:
        stream = b.stream(request_for([clip], max_tokens=2000))
        assert (await stream.__anext__()).text
        await b.close()  # cancels the running generation and waits for it
        with pytest.raises(GenerationCancelled, match="closed"):
            async for _ in stream:
                pass

    asyncio.run(run())
    assert b.last_stats is not None and b.last_stats.cancelled and b.last_stats.generated_tokens < 2000
    assert not b.loaded and not b.busy


@pytest.mark.slow
def test_close_frees_the_model(ckpt: Path) -> None:
    b = TransformersBackend(ckpt, device="cpu")
    b.load_sync()
    assert b.loaded
    asyncio.run(b.close())
    assert not b.loaded
    with pytest.raises(BackendError, match="closed"):
        collect(b, request_for([synthetic_video()]))


@pytest.mark.slow
@pytest.mark.skipif(not REF_PYTHON.exists(), reason="the reference venv .venv-ref is not set up")
def test_tokens_equal_the_official_processor(ckpt: Path, tokenizer: Any, tmp_path: Path) -> None:
    """The official Qwen2.5-VL processor (torchvision, in .venv-ref) gives the same ids and types."""
    video = synthetic_video()
    messages = request_for([video]).messages
    np.save(tmp_path / "frames.npy", video.frames)
    (tmp_path / "messages.json").write_text(json.dumps(messages))
    code = (
        "import json, sys, numpy as np\n"
        "from transformers import AutoProcessor\n"
        "from transformers.video_utils import VideoMetadata\n"
        "ckpt, d = sys.argv[1], sys.argv[2]\n"
        "p = AutoProcessor.from_pretrained(ckpt)\n"
        "msgs = json.load(open(d + '/messages.json'))\n"
        "text = p.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)\n"
        "frames = np.load(d + '/frames.npy')\n"
        "meta = VideoMetadata(total_num_frames=300, fps=30.0, duration=10.0, frames_indices=np.linspace(0, 299, 16).round().astype(int).tolist())\n"
        "out = p(text=[text], videos=[frames], video_metadata=[meta], do_sample_frames=False, do_resize=False,\n"
        "        return_tensors='np')\n"
        "np.savez(d + '/ref.npz', ids=out['input_ids'][0], mm=out['mm_token_type_ids'][0],\n"
        "         grid=out['video_grid_thw'], sp=out['second_per_grid_ts'])\n"
    )
    subprocess.run([str(REF_PYTHON), "-c", code, str(ckpt), str(tmp_path)], check=True, capture_output=True)
    ref = np.load(tmp_path / "ref.npz")
    prompt = build_prompt_tokens(tokenizer, messages, [video])
    assert np.array_equal(ref["ids"], prompt.input_ids)
    assert np.array_equal(ref["mm"], prompt.mm_token_type_ids)
    assert ref["grid"].tolist() == [list(video.record.grid_thw)]
    assert ref["sp"].tolist() == pytest.approx([video.record.second_per_grid_ts])


def test_a_7b_is_refused_on_the_cpu_unless_forced(ckpt: Path, tmp_path: Path) -> None:
    import shutil

    big = tmp_path / "big"
    shutil.copytree(ckpt, big)
    cfg = json.loads((big / "config.json").read_text())
    cfg["text_config"].update(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
    )
    cfg["text_config"].pop("layer_types")
    (big / "config.json").write_text(json.dumps(cfg))
    b = TransformersBackend(big, device="cpu")
    with pytest.raises(BackendUnavailableError, match=r"about [0-9.]+ B parameters.*force_cpu=True"):
        b.load_sync()
    assert not b.loaded


@pytest.mark.slow
def test_generation_failure_is_a_backend_error(
    ckpt: Path, monkeypatch: pytest.MonkeyPatch, clip: PreparedVideo
) -> None:
    b = TransformersBackend(ckpt, device="cpu")
    b.load_sync()

    def boom(**kwargs: Any) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(b._model, "generate", boom)
    with pytest.raises(BackendError, match=r"ran out of memory.*fewer frames"):
        collect(b, request_for([clip]))
    assert not b.busy
    b.close_sync()


@pytest.mark.gpu
def test_cuda_bf16_and_close_frees_memory(ckpt: Path, clip: PreparedVideo) -> None:
    import torch

    b = TransformersBackend(ckpt)  # device and dtype "auto"
    b.load_sync()
    assert b.device == "cuda" and b._model.dtype == torch.bfloat16
    deltas = collect(b, request_for([clip], max_tokens=16))
    assert deltas[-1].finish_reason in {"stop", "length"}
    before = torch.cuda.memory_allocated()
    b.close_sync()
    assert torch.cuda.memory_allocated() < before


def test_importing_the_backend_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, vt_agent.tiny, vt_agent.backends._tokens, vt_agent.backends.transformers_backend\n"
        "print(','.join(m for m in ('torch', 'transformers', 'tokenizers', 'av') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---------------------------------------------------------------- continuing a reply (stepwise)


def test_deltas_carry_their_token_ids(backend: TransformersBackend) -> None:
    deltas = collect(backend, request_for([synthetic_video()], max_tokens=12, temperature=0.0))
    ids = [t for d in deltas for t in d.token_ids]
    assert ids == [t for t in backend.last_stats.token_ids if t not in backend._eos_ids()]
    assert "".join(d.text for d in deltas) == backend._decode(ids)


@pytest.mark.slow
def test_continuing_from_the_generated_token_ids_gives_the_one_shot_tokens(
    backend: TransformersBackend,
) -> None:
    """Greedy: generating k tokens, then continuing from exactly those ids, gives the one-shot ids
    (the step-by-step graph's guarantee); a divergence is reported with its logit margin."""
    video = synthetic_video()
    one_shot = collect(backend, request_for([video], max_tokens=24, temperature=0.0))
    ids = [t for d in one_shot for t in d.token_ids]
    assert len(ids) >= 8, "the tiny model ended too early to test continuation"
    for k in (3, len(ids) // 2):
        prefix = backend._decode(ids[:k])
        rest = collect(
            backend,
            request_for(
                [video], max_tokens=24 - k, temperature=0.0, assistant_prefix=prefix, prefix_token_ids=ids[:k]
            ),
        )
        got = [t for d in rest for t in d.token_ids]
        if got != ids[k:]:
            first = next(i for i, (a, b) in enumerate(zip(got, ids[k:], strict=False)) if a != b)
            pytest.fail(
                f"continuation from {k} tokens diverges at generated token {k + first}: {got} vs {ids[k:]}"
            )
        assert prefix + "".join(d.text for d in rest) == "".join(d.text for d in one_shot)
