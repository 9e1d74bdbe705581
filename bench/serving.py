"""Serving throughput and caching: vLLM (in-process, CPU build) vs transformers, tiny checkpoint.

    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python bench/serving.py [--questions 16] [--max-tokens 32]

* Throughput: N distinct questions over the real clips (16 frames, 128*28*28 pixels each), run at
  concurrency 1 and 8, through the vllm backend and through the transformers backend (both in
  ``.venv-vllm``, which has transformers pinned by vLLM). Output is fixed at ``--max-tokens``
  tokens on vLLM (``ignore_eos``); transformers stops at EOS or max tokens (reported). The
  transformers part also runs from the project's ``.venv``: ``--backends transformers``; its
  concurrent requests are batched (``batch`` column: mean requests per ``generate``), target
  concurrency 8 >= 1.5x the throughput of concurrency 1. ``--rounds`` alternates the concurrency
  levels that many times (the machine's load drifts) and pools each level's requests.
* The same through ``vt-agent serve`` + the openai backend (HTTP, PNG frames) with ``--backends openai``.
* Caching: a question on a video window neither engine has seen, then the identical question
  again: latency ratio second/first end to end (``sample()`` + generation), with the time spent
  preparing frames and vLLM's prefix-cache hit (``num_cached_tokens``).
Prints a table and writes JSON with --json PATH. Needs ``if __name__ == "__main__"`` (vLLM spawns).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
CLIPS = ("bigbuckbunny.mp4", "vtest.avi", "cityCC0.mpg")


TARGET_TRANSFORMERS = 1.5  # concurrency 8 vs 1, transformers backend


def _requests(n: int, max_tokens: int, *, ignore_eos: bool, tag: str) -> list[Any]:
    from vt_agent.backends.base import GenerationRequest
    from vt_agent.prompts import build_messages, build_question
    from vt_agent.video import sample

    videos = [sample(VIDEOS / c) for c in CLIPS]
    extra = {"sampling": {"ignore_eos": True}, "openai": {"ignore_eos": True}} if ignore_eos else {}
    out = []
    for i in range(n):
        q = build_question(
            f"{tag} question {i}: what happens in the video?", ["It rains", "A rabbit wakes up"]
        )
        out.append(
            GenerationRequest(
                messages=build_messages(q),
                videos=[videos[i % len(videos)]],
                max_tokens=max_tokens,
                extra=extra,
                request_id=f"{tag}-{i}",
            )
        )
    return out


def _stats_of(backend: Any, request: Any) -> Any:
    """This request's stats: from ``backend.history`` (transformers) or the last request's."""
    for stats in reversed(getattr(backend, "history", ())):
        if stats.request_id == request.request_id:
            return stats
    return getattr(backend, "last_stats", None)


async def _one(backend: Any, request: Any) -> tuple[float, int | None, int | None]:
    """Latency, generated tokens and batch size (None where the backend does not say)."""
    t0 = time.perf_counter()
    async for _ in backend.stream(request):
        pass
    latency = time.perf_counter() - t0
    stats = _stats_of(backend, request)
    tokens = getattr(stats, "generated_tokens", None) or getattr(stats, "completion_tokens", None)
    return latency, tokens, getattr(stats, "batch_size", None)


async def _throughput(backend: Any, requests: list[Any], concurrency: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)

    async def run(r: Any) -> tuple[float, int | None, int | None]:
        async with sem:
            return await _one(backend, r)

    t0 = time.perf_counter()
    results = await asyncio.gather(*(run(r) for r in requests))
    wall = time.perf_counter() - t0
    own_stats = concurrency == 1 or hasattr(backend, "history")  # else last_stats may be another's
    batches = [r[2] for r in results if r[2]]
    return {
        "output_tokens": sum(r[1] or 0 for r in results) if own_stats else None,
        "concurrency": concurrency,
        "requests": len(requests),
        "wall_s": wall,
        "latencies_s": [r[0] for r in results],
        "mean_batch": statistics.mean(batches) if batches else None,
    }


def _pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One concurrency level over all rounds: requests / wall, median latency."""
    wall = sum(r["wall_s"] for r in runs)
    n = sum(r["requests"] for r in runs)
    tokens = [r["output_tokens"] for r in runs]
    batches = [r["mean_batch"] for r in runs if r["mean_batch"] is not None]
    latencies = [x for r in runs for x in r["latencies_s"]]
    return {
        "concurrency": runs[0]["concurrency"],
        "rounds": len(runs),
        "requests": n,
        "wall_s": wall,
        "req_per_s": n / wall,
        "tokens_per_s": None if None in tokens else sum(tokens) / wall,
        "output_tokens": None if None in tokens else sum(tokens),
        "median_latency_s": statistics.median(latencies),
        "p90_latency_s": statistics.quantiles(latencies, n=10)[-1] if len(latencies) > 1 else latencies[0],
        "mean_batch": statistics.mean(batches) if batches else None,
    }


async def _cache_probe(backend: Any, max_tokens: int, start_s: float, rounds: int) -> dict[str, Any]:
    """First vs identical second question on a video window not seen before; median of ``rounds``."""
    from vt_agent.backends.base import GenerationRequest
    from vt_agent.prompts import build_messages, build_question
    from vt_agent.video import sample

    q = build_question("Where is the rabbit at the end?", ["Left", "Right"])
    pairs: list[list[dict[str, float]]] = []
    for k in range(rounds):
        pair: list[dict[str, float]] = []
        for _ in range(2):
            t0 = time.perf_counter()
            video = sample(VIDEOS / "bigbuckbunny.mp4", start_s=start_s + 0.1 * k, end_s=5.0)
            prep = time.perf_counter() - t0
            req = GenerationRequest(messages=build_messages(q), videos=[video], max_tokens=max_tokens)
            gen, _, _ = await _one(backend, req)
            row = {"prepare_s": prep, "generate_s": gen, "total_s": time.perf_counter() - t0}
            stats = getattr(backend, "last_stats", None)
            if stats is not None and hasattr(stats, "cached_tokens"):
                row["cached_tokens"] = stats.cached_tokens
                row["prompt_tokens"] = stats.prompt_tokens
            pair.append(row)
        pairs.append(pair)
    pairs.sort(key=lambda p: p[1]["total_s"] / p[0]["total_s"])
    first, second = pairs[len(pairs) // 2]
    return {"first": first, "second": second, "ratio_second_over_first": second["total_s"] / first["total_s"]}


async def bench_backend(name: str, backend: Any, args: argparse.Namespace, start_s: float) -> dict[str, Any]:
    warm = _requests(1, args.max_tokens, ignore_eos=name in ("vllm", "openai"), tag="warm-up")
    await _one(backend, warm[0])  # engine/model load
    out: dict[str, Any] = {"backend": name, "throughput": []}
    runs: dict[int, list[dict[str, Any]]] = {c: [] for c in args.concurrency}
    for k in range(args.rounds):  # alternating, so that a drift in the machine's load hits both levels
        for c in args.concurrency:
            # distinct questions per run: no run profits from another's prefix cache
            tag = f"r{k}c{c}"
            reqs = _requests(args.questions, args.max_tokens, ignore_eos=name in ("vllm", "openai"), tag=tag)
            runs[c].append(await _throughput(backend, reqs, c))
    out["throughput"] = [_pool(runs[c]) for c in args.concurrency]
    out["cache"] = await _cache_probe(backend, args.max_tokens, start_s, args.cache_rounds)
    return out


def _start_server(tiny: Path) -> tuple[Any, str, float]:
    """``vt-agent serve`` with this Python on a free port; waits for /health."""
    import socket
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable, "-m", "vt_agent.cli", "serve", "--python", sys.executable, "--model", str(tiny),
        "--served-model-name", "tiny", "--port", str(port), "--max-model-len", "8192", "--max-videos", "1",
        "--", "--dtype", "float32", "--enforce-eager", "--max-num-seqs", "8",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while time.perf_counter() - t0 < 300:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}: {' '.join(cmd)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1", time.perf_counter() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    _stop_server(proc)
    raise SystemExit("the server did not start in 300 s")


def _stop_server(proc: Any) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    from vt_agent.tiny import build_tiny_checkpoint

    tiny = build_tiny_checkpoint(Path(tempfile.mkdtemp(prefix="vt-bench-")) / "tiny")
    results = []
    if "vllm" in args.backends:
        from vt_agent.backends.vllm_backend import VLLMBackend

        b = VLLMBackend(tiny, dtype="float32", enforce_eager=True, max_model_len=8192, max_num_seqs=8)
        t0 = time.perf_counter()
        await b.load()
        load_s = time.perf_counter() - t0
        try:
            res = await bench_backend("vllm", b, args, start_s=0.5)
            res["load_s"] = load_s
            results.append(res)
        finally:
            await b.close()
    if "openai" in args.backends:
        from vt_agent.backends.openai_backend import OpenAIBackend

        proc, url, load_s = _start_server(tiny)
        ob = OpenAIBackend("tiny", base_url=url)
        try:
            res = await bench_backend("openai", ob, args, start_s=0.75)
            res["load_s"] = load_s
            results.append(res)
        finally:
            await ob.close()
            _stop_server(proc)
    if "transformers" in args.backends:
        from vt_agent.backends.transformers_backend import TransformersBackend

        tb = TransformersBackend(tiny, device="cpu", dtype="float32")
        try:
            results.append(await bench_backend("transformers", tb, args, start_s=0.25))
        finally:
            await tb.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["vllm", "openai", "transformers"],
        choices=["vllm", "openai", "transformers"],
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the concurrency levels")
    parser.add_argument("--cache-rounds", type=int, default=5, help="first/second pairs (median reported)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.rounds < 1 or args.questions < 1 or min(args.concurrency) < 1:
        parser.error("--rounds, --questions and --concurrency must be at least 1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    load_before = os.getloadavg()[0]
    results = asyncio.run(main_async(args))
    load_after = os.getloadavg()[0]
    print(
        f"{args.questions} questions over {len(CLIPS)} clips, 16 frames each, {args.max_tokens} max tokens, "
        f"{args.rounds} round(s); {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
        f"{load_after:.1f} after"
    )
    print(
        f"{'backend':<13}{'conc':>5}{'wall s':>9}{'req/s':>8}{'tok/s':>8}{'p50 s':>8}{'p90 s':>8}"
        f"{'batch':>7}{'out tokens':>12}"
    )
    for r in results:
        for t in r["throughput"]:
            toks = "" if t["output_tokens"] is None else str(t["output_tokens"])
            tps = "" if t["tokens_per_s"] is None else f"{t['tokens_per_s']:.1f}"
            batch = "" if t["mean_batch"] is None else f"{t['mean_batch']:.1f}"
            print(
                f"{r['backend']:<13}{t['concurrency']:>5}{t['wall_s']:>9.2f}{t['req_per_s']:>8.2f}{tps:>8}"
                f"{t['median_latency_s']:>8.3f}{t['p90_latency_s']:>8.3f}{batch:>7}{toks:>12}"
            )
    by = {r["backend"]: {t["concurrency"]: t["req_per_s"] for t in r["throughput"]} for r in results}
    cs = args.concurrency
    for name, tp in by.items():
        if len(cs) > 1:
            ratio = tp[cs[-1]] / tp[cs[0]]
            verdict = ""
            if name == "transformers" and (cs[0], cs[-1]) == (1, 8):
                ok = ratio >= TARGET_TRANSFORMERS
                verdict = f" [{'ok' if ok else 'MISSED'}] (target >= {TARGET_TRANSFORMERS}x, never < 1.0x)"
            print(f"{name}: concurrency {cs[-1]} vs {cs[0]}: {ratio:.2f}x{verdict}")
    for other in ("openai", "transformers"):
        if "vllm" in by and other in by:
            for c in cs:
                print(f"vllm vs {other} at concurrency {c}: {by['vllm'][c] / by[other][c]:.2f}x")
    for r in results:
        c = r["cache"]
        f, s = c["first"], c["second"]
        extra = ""
        if "cached_tokens" in s:
            extra = f"; prefix cache: first {f['cached_tokens']}/{f['prompt_tokens']}, second {s['cached_tokens']}/{s['prompt_tokens']} tokens"
        print(
            f"{r['backend']}: repeated question, second/first = {c['ratio_second_over_first']:.2f} "
            f"(first {f['total_s']:.3f} s = prepare {f['prepare_s']:.3f} + generate {f['generate_s']:.3f}; "
            f"second {s['total_s']:.3f} s = prepare {s['prepare_s']:.4f} + generate {s['generate_s']:.3f}){extra}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
