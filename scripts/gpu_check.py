"""GPU check: a Qwen2.5-VL-7B-shaped model with random weights through the transformers backend.

    bash scripts/gpu_check.sh                 # on the GPU box (installs PyAV/pydantic from .gpu-wheels)
    python scripts/gpu_check.py --cpu --tiny  # the same path on the CPU with the tiny checkpoint

Builds the checkpoint offline (the public Qwen2.5-VL-7B config in tests/data, random bf16 weights
made on the GPU, the tiny tokenizer with the 7B vocabulary size), then runs 16-frame requests on
windows of the bundled clips at batch 1, 4 and 8, twice: frames prepared in the critical path
(each wave of requests prepared one after another, then generated) and prepared ahead in a thread
pool while the engine generates (bounded look-ahead). Prints tokens/s, requests/min, peak GPU
memory and the share of wall time spent preparing frames; writes JSON with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VIDEOS = ROOT / "tests" / "data" / "videos"
CONFIG_7B = ROOT / "tests" / "data" / "qwen2_5_vl_7b_config.json"
# (clip, window start, window length): distinct windows, so no request reuses another's frames
WINDOWS = (("bigbuckbunny.mp4", 0.0, 5.0), ("vtest.avi", 0.0, 20.0), ("cityCC0.mpg", 0.0, 7.5))
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
)


def shaped_config(tiny: Path) -> dict[str, Any]:
    """The public 7B config with the tiny tokenizer's special-token ids (shapes and vocabulary kept)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    cfg = {k: v for k, v in json.loads(CONFIG_7B.read_text()).items() if not k.startswith("_")}
    names = {
        "bos_token_id": "<|endoftext|>",
        "pad_token_id": "<|endoftext|>",
        "eos_token_id": "<|im_end|>",
        "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>",
        "vision_token_id": "<|vision_pad|>",
        "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
    }
    cfg.update({key: int(tok.convert_tokens_to_ids(token)) for key, token in names.items()})
    return cfg


def build_7b_shaped(out: Path, device: str) -> Path:
    """A checkpoint with the 7B's shapes, random bf16 weights made on ``device``, the tiny tokenizer."""
    import torch
    import transformers as tf

    from vt_agent.tiny import build_tiny_checkpoint

    tiny = build_tiny_checkpoint(out.parent / "tiny")
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (tiny / name).exists():
            shutil.copy(tiny / name, out / name)
    config = tf.Qwen2_5_VLConfig(**shaped_config(tiny))
    with torch.device(device):
        model = tf.Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config = tf.GenerationConfig.from_pretrained(tiny)
    model.save_pretrained(out)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def make_requests(n: int, max_tokens: int) -> list[tuple[str, float, float, Any]]:
    """(clip, start, end, messages) for ``n`` requests over distinct windows of the clips."""
    from vt_agent.prompts import build_messages, build_question

    out = []
    for i in range(n):
        clip, start, length = WINDOWS[i % len(WINDOWS)]
        start += 0.1 * (i // len(WINDOWS))  # a new window each round
        q = build_question(f"Request {i}: what happens in the video?", ["It rains", "A rabbit wakes up"])
        out.append((clip, start, start + length, build_messages(q)))
    return out


def prepare(item: tuple[str, float, float, Any]) -> tuple[Any, float]:
    from vt_agent.video import sample

    clip, start, end, _ = item
    t0 = time.perf_counter()
    video = sample(VIDEOS / clip, "video-thinker-16f", start_s=start, end_s=end, cache=False)
    return video, time.perf_counter() - t0


async def generate(backend: Any, item: Any, video: Any, max_tokens: int, tag: str) -> None:
    from vt_agent.backends.base import GenerationRequest

    request = GenerationRequest(item[3], [video], max_tokens=max_tokens, temperature=0.0, request_id=tag)
    async for _ in backend.stream(request):
        pass


async def run_level(
    backend: Any, items: list[Any], batch: int, max_tokens: int, overlap: bool
) -> dict[str, Any]:
    """All ``items`` at concurrency ``batch``; frames prepared in the critical path or ahead."""
    from vt_agent.backends._batching import BatchSettings

    backend.batching = BatchSettings(max_batch_size=batch, batch_wait_s=1.0)
    tag = f"b{batch}{'o' if overlap else 's'}"
    prep: list[float] = []
    t0 = time.perf_counter()
    if overlap:  # the core's scheduler, as eval run and triage use it (vt_agent.pipeline)
        from vt_agent.pipeline import Pipeline, PipelineItem, PreparedItem
        from vt_agent.video import clear_cache

        clear_cache()  # cold, like the in-path rows (which sample with cache=False)

        async def engine(ready: PreparedItem) -> None:
            k, item = ready.item.data
            prep.append(ready.prepare_s)
            await generate(backend, item, ready.videos[0], max_tokens, f"{tag}{k}")

        todo = [
            PipelineItem(k, str(VIDEOS / it[0]), window=(it[1], it[2]), data=(k, it))
            for k, it in enumerate(items)
        ]
        # bounded: at most 2 batches of frames wait beside the batch generating
        pipeline = Pipeline("video-thinker-16f", concurrency=batch, look_ahead=3 * batch, model_inputs=True)
        try:
            async for done in pipeline.run(todo, engine):
                if done.error is not None:
                    raise done.error
        finally:
            pipeline.close()
    else:
        for start in range(0, len(items), batch):
            wave = items[start : start + batch]
            videos = []
            for item in wave:  # in the critical path: the engine waits for these
                video, secs = prepare(item)
                videos.append(video)
                prep.append(secs)
            await asyncio.gather(
                *(
                    generate(backend, it, v, max_tokens, f"{tag}{start + k}")
                    for k, (it, v) in enumerate(zip(wave, videos, strict=True))
                )
            )
    wall = time.perf_counter() - t0
    stats = [s for s in backend.history if s.request_id.startswith(tag)]
    tokens = sum(s.generated_tokens for s in stats)
    return {
        "batch": batch,
        "overlap": overlap,
        "requests": len(items),
        "wall_s": wall,
        "tokens": tokens,
        "tokens_per_s": tokens / wall,
        "requests_per_min": 60 * len(items) / wall,
        "prepare_s": sum(prep),
        "prepare_share": sum(prep) / wall,
        "mean_batch": sum(s.batch_size for s in stats) / max(len(stats), 1),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.tiny import build_tiny_checkpoint

    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU is visible to torch: run with --cpu --tiny to check the CPU path")
    work = Path(tempfile.mkdtemp(prefix="vt-gpu-check-"))
    try:
        t0 = time.perf_counter()
        if args.tiny:
            ckpt = build_tiny_checkpoint(work / "tiny")
        else:
            ckpt = build_7b_shaped(work / "qwen2.5-vl-7b-random", device)
        build_s = time.perf_counter() - t0
        dtype = "float32" if args.cpu else "bfloat16"
        backend = TransformersBackend(ckpt, device=device, dtype=dtype, force_cpu=args.cpu)
        t0 = time.perf_counter()
        await backend.load()
        load_s = time.perf_counter() - t0
        items = make_requests(args.requests, args.max_tokens)
        warm, _ = prepare(items[0])
        await generate(backend, items[0], warm, 4, "warm-up")
        rows = []
        for overlap in (False, True):
            for batch in args.batches:
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                row = await run_level(backend, items, batch, args.max_tokens, overlap)
                row["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
                rows.append(row)
                print_row(row, flush=True)
        await backend.close()
        gpu = torch.cuda.get_device_name() if device == "cuda" else "none (CPU)"
        return {"device": gpu, "checkpoint": "tiny" if args.tiny else "7B-shaped random bf16", "build_s": build_s,
                "load_s": load_s, "max_tokens": args.max_tokens, "rows": rows}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


HEADER = f"{'prep':<10}{'batch':>6}{'wall s':>9}{'tok/s':>9}{'req/min':>9}{'peak GiB':>10}{'prep share':>12}{'mean batch':>12}"


def print_row(row: dict[str, Any], flush: bool = False) -> None:
    peak = "-" if row["peak_gpu_gib"] is None else f"{row['peak_gpu_gib']:.1f}"
    mode = "ahead" if row["overlap"] else "in path"
    print(
        f"{mode:<10}{row['batch']:>6}{row['wall_s']:>9.2f}{row['tokens_per_s']:>9.1f}{row['requests_per_min']:>9.1f}"
        f"{peak:>10}{row['prepare_share']:>11.0%}{row['mean_batch']:>12.1f}",
        flush=flush,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (float32) instead of CUDA (bf16)")
    parser.add_argument(
        "--tiny", action="store_true", help="the tiny random checkpoint instead of the 7B shape"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--requests", type=int, default=8, help="requests per level (16 frames each)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.requests < 1 or args.max_tokens < 1 or min(args.batches) < 1:
        parser.error("--requests, --max-tokens and --batches must be at least 1")
    if args.cpu and not args.tiny:
        parser.error("the 7B shape on the CPU needs ~35 GB and hours: use --cpu --tiny")
    print(HEADER, flush=True)
    result = asyncio.run(main_async(args))
    print(
        f"{result['device']}: {result['checkpoint']}, built in {result['build_s']:.0f} s, loaded in "
        f"{result['load_s']:.0f} s; {args.requests} requests per row, {args.max_tokens} max tokens, greedy. "
        "prep share: frame preparation (decode + resize) time / wall time"
    )
    rows = {(r["overlap"], r["batch"]): r for r in result["rows"]}
    for batch in args.batches:
        seq, ahead = rows[(False, batch)], rows[(True, batch)]
        print(f"batch {batch}: preparing ahead vs in path: {seq['wall_s'] / ahead['wall_s']:.2f}x")
    if 1 in args.batches:
        for batch in args.batches:
            if batch != 1:
                ratio = rows[(False, batch)]["tokens_per_s"] / rows[(False, 1)]["tokens_per_s"]
                print(f"batch {batch} vs 1 (frames in path): {ratio:.2f}x tokens/s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
