"""Overhead of the video_thinker graph over a direct reasoner call (scripted fake backend).

Both sides answer the same question about bigbuckbunny.mp4 with the same reasoner; frames come
from the frame cache after a warm-up, so what is compared is the graph machinery (state, nodes,
checkpoint-free channels, custom stream events) against the reasoner's own streaming. Rounds are
interleaved so both see the same machine load; medians are reported, with the ratio, once with
no pause between chunks (the pure fixed cost in ms) and once paced like a fast engine.

    .venv/bin/python bench/graph_overhead.py [--rounds 30] [--chunk-chars 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT / "tests" / "data" / "videos" / "bigbuckbunny.mp4"
QUESTION = "What animal is the main character of this clip?"
OPTIONS = ["A fox", "A rabbit", "A bear", "A squirrel"]


async def main_async(rounds: int, chunk_chars: int, delay_ms: float) -> None:
    from graphs import GraphContext
    from graphs.video_thinker import graph
    from vt_agent.backends.fake_backend import FakeBackend
    from vt_agent.reasoner import VideoReasoner

    backend = FakeBackend(chunk_chars=chunk_chars, delay_s=delay_ms / 1000)
    backend.requests = []
    reasoner = VideoReasoner(backend)
    context = GraphContext(reasoner=reasoner)
    inputs = {"videos": [str(VIDEO)], "question": QUESTION, "options": OPTIONS}

    async def direct() -> str | None:
        result = await reasoner.areason([str(VIDEO)], QUESTION, OPTIONS)
        return result.answer

    async def graph_invoke() -> str | None:
        out = await graph.ainvoke(inputs, context=context)  # type: ignore[arg-type]
        return out["answer"]  # type: ignore[no-any-return]

    async def graph_stream() -> str | None:
        answer = None
        async for mode, chunk in graph.astream(inputs, context=context, stream_mode=["custom", "values"]):  # type: ignore[arg-type]
            if mode == "values":
                answer = chunk.get("answer")
        return answer

    runs = {"direct": direct, "graph.ainvoke": graph_invoke, "graph.astream(custom)": graph_stream}
    for fn in runs.values():  # warm-up: decode once, import everything
        assert await fn() == "B"
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            backend.requests.clear()
            t0 = time.perf_counter()
            await fn()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["direct"])
    print(
        f"fake backend: {chunk_chars} chars per chunk, {delay_ms:g} ms between chunks; {rounds} interleaved rounds"
    )
    print(f"  {'path':24} {'median ms':>10} {'+ms':>7} {'ratio':>7}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:24} {1000 * med:10.2f} {1000 * (med - base):7.2f} {med / base:7.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--chunk-chars", type=int, default=8)
    parser.add_argument(
        "--delay-ms",
        type=float,
        action="append",
        default=None,
        help="pause between chunks (repeatable; default: 0, the pure overhead, and 2, a fast engine's pace)",
    )
    args = parser.parse_args()
    for delay in args.delay_ms or [0.0, 2.0]:
        asyncio.run(
            main_async(args.rounds if delay == 0 else max(5, args.rounds // 3), args.chunk_chars, delay)
        )
    print("target: graph/direct ratio under 1.10 at a model's pace; '+ms' is the graph's fixed cost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
