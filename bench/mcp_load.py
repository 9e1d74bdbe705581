"""Overhead of the ``video_reason`` MCP tool over a direct reasoner call, and a bounded load.

Same question about bigbuckbunny.mp4, same scripted fake backend (no pause between chunks, so
what is measured is the fixed cost: validation, path checks, the job, progress notifications,
result conversion, JSON-RPC framing), frames from the cache after a warm-up. Rounds interleave
the three ways so they see the same machine load; medians and ratios against the direct call:

* direct: ``await VideoReasoner.areason(...)``;
* in-process: ``mcp.Client(server).call_tool(...)`` (no transport);
* stdio: ``vt-agent-mcp --backend fake`` as a subprocess, over JSON-RPC on pipes.

Then ``--load`` concurrent calls (in-process, the server's limiter at ``--max-concurrency``):
calls/s, p50/p95 latency and the error count (must be 0).

    .venv/bin/python bench/mcp_load.py [--rounds 20] [--load 32] [--max-concurrency 4]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
VIDEO = str(ROOT / "tests" / "data" / "videos" / "bigbuckbunny.mp4")
QUESTION = "What does the character do in the middle of the clip?"
OPTIONS = ["Eats a flower", "Stretches his arms and yawns", "Jumps into a river", "Waves at a bird"]
ARGS: dict[str, Any] = {"videos": [VIDEO], "question": QUESTION, "options": OPTIONS, "thumbnails": 0}


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


async def main_async(rounds: int, load: int, max_concurrency: int) -> int:
    from mcp import Client, StdioServerParameters

    from mcp_server.server import create_server
    from mcp_server.settings import load_settings
    from vt_agent.backends.fake_backend import FakeBackend
    from vt_agent.reasoner import VideoReasoner

    settings = load_settings(
        {"backend": "fake", "allowed_roots": [str(Path(VIDEO).parent)], "max_concurrency": max_concurrency,
         "wait_s": 300, "max_jobs": max(32, load)},
        environ={},
    )  # fmt: skip
    reasoner = VideoReasoner(FakeBackend())
    server = create_server(settings, backend=FakeBackend())
    stdio = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "mcp_server",
            "--backend",
            "fake",
            "--allow",
            str(Path(VIDEO).parent),
            "--log-level",
            "WARNING",
        ],
        cwd=str(ROOT),
    )
    times: dict[str, list[float]] = {"direct": [], "in-process": [], "stdio": []}
    async with Client(server) as inproc, Client(stdio) as piped:

        async def direct() -> None:
            await reasoner.areason([VIDEO], QUESTION, OPTIONS, thumbnails=0)

        async def via_inproc() -> None:
            res = await inproc.call_tool("video_reason", ARGS)
            assert not res.is_error, res.content

        async def via_stdio() -> None:
            res = await piped.call_tool("video_reason", ARGS)
            assert not res.is_error, res.content

        ways = {"direct": direct, "in-process": via_inproc, "stdio": via_stdio}
        for fn in ways.values():  # warm-up: decode once, fill the frame caches
            await fn()
        for _ in range(rounds):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                await fn()
                times[name].append(time.perf_counter() - t0)

        base = statistics.median(times["direct"])
        print(f"round trip, median of {rounds} (fake backend, cached frames):")
        for name, values in times.items():
            med = statistics.median(values)
            print(
                f"  {name:<10} {med * 1000:8.1f} ms   x{med / base:5.2f}   +{(med - base) * 1000:6.1f} ms over direct"
            )

        latencies: list[float] = []
        errors = 0

        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            res = await inproc.call_tool("video_reason", ARGS)
            latencies.append(time.perf_counter() - t0)
            if res.is_error or (res.structured_content or {}).get("status") != "done":
                errors += 1

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(load):
                tg.start_soon(one)
        wall = time.perf_counter() - t0
        print(
            f"load: {load} concurrent calls, limiter {max_concurrency}: {load / wall:.1f} calls/s, "
            f"p50 {_pct(latencies, 0.5) * 1000:.0f} ms, p95 {_pct(latencies, 0.95) * 1000:.0f} ms, errors {errors}"
        )
    await reasoner.aclose()
    return 0 if errors == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--load", type=int, default=32)
    p.add_argument("--max-concurrency", type=int, default=4)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # before the SDK's own INFO default
    code: int = anyio.run(main_async, a.rounds, a.load, a.max_concurrency)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
