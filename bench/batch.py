"""Batch runs on Ray Data against the same jobs through ``eval run`` without Ray, in one run.

    nice -n 10 .venv/bin/python bench/batch.py [--gen-s S] [--engine-concurrency 1] [--cpus 2]

Jobs: the bundled clips whole and in halves, and 6 s windows of vtest.avi (18 jobs), each a
multiple-choice question with the paper preset. The engine is paced like a GPU: a FakeBackend
behind a wrapper holding each request ``--gen-s`` seconds, ``--engine-concurrency`` at once (no CPU
of ours), in one engine actor. Default ``--gen-s``: a quarter of the mean preparation time, so the
preparation stage is the bottleneck and its worker count is what the ratios show.

Rows of the table (each with cold frame caches):

* ray, 1 / 2 preparation workers: :func:`vt_agent.batch.ray_run.ray_map` (the batch command's Ray
  path) on a local Ray instance of ``--cpus`` CPUs started once before timing. ``jobs/s`` counts
  from the first row back to the last (steady state: the actor's start-up, about as long as a few
  jobs here, is left out and printed apart);
* eval run: the same jobs as vt-agent's own JSONL benchmark through
  :func:`vt_agent.evaluation.runner.arun_benchmark` (the ``eval run`` command's path, no Ray), the
  same paced engine and concurrency; its whole wall time (it has no start-up).

Ratios only, from one run; the machine is shared, so the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vt_agent.backends.base import Delta, GenerationRequest  # noqa: E402
from vt_agent.backends.fake_backend import FakeBackend  # noqa: E402
from vt_agent.batch import EngineSpec, Job  # noqa: E402
from vt_agent.pipeline import prepare_item  # noqa: E402
from vt_agent.video import clear_cache  # noqa: E402

VIDEOS = ROOT / "tests" / "data" / "videos"
PRESET = "video-thinker-16f"
OPTIONS = ("People walk", "A car parks")


class PacedBackend:
    """FakeBackend behind an engine that runs ``concurrency`` requests at once, ``gen_s`` each."""

    scripted = True

    def __init__(self, gen_s: float, concurrency: int) -> None:
        self.inner = FakeBackend(chunk_chars=64)
        self.name, self.model = self.inner.name, self.inner.model
        self.gen_s, self.concurrency = gen_s, concurrency
        self._slots: asyncio.Semaphore | None = None

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            await asyncio.sleep(self.gen_s)  # the GPU's time: no CPU of ours
            async for delta in self.inner.stream(request):
                yield delta

    async def close(self) -> None:
        await self.inner.close()


def make_jobs() -> list[Job]:
    q = "What happens in the video?"
    jobs = []
    for name, dur in (("bigbuckbunny.mp4", 5.2), ("cityCC0.mpg", 7.6)):
        video = str(VIDEOS / name)
        jobs.append(Job(name, video, q, OPTIONS))
        jobs += [Job(f"{name}@{a}", video, q, OPTIONS, (a, a + dur / 2)) for a in (0.0, dur / 2)]
    vtest = str(VIDEOS / "vtest.avi")
    jobs += [Job(f"vtest@{s}", vtest, q, OPTIONS, (float(s), s + 6.0)) for s in range(0, 72, 6)]
    return jobs


def on_ray(jobs: list[Job], spec: EngineSpec, workers: int, conc: int) -> tuple[float, float, float, int]:
    """Steady jobs/s (first row to last), jobs/s over the whole run, seconds to the first row, failures."""
    from vt_agent.batch.ray_run import RayOptions, ray_map

    t0 = time.perf_counter()
    times, failed = [], 0
    for done in ray_map([j.item() for j in jobs], RayOptions(spec, concurrency=conc, prepare_workers=workers)):
        times.append(time.perf_counter())
        failed += not done.ok
    steady = (len(times) - 1) / (times[-1] - times[0])
    return steady, len(times) / (times[-1] - t0), times[0] - t0, failed


async def eval_run(jobs: list[Job], spec: EngineSpec, conc: int, tmp: Path) -> tuple[float, int]:
    """jobs/s of the same jobs through arun_benchmark (own JSONL benchmark), and errors."""
    from vt_agent.evaluation.loaders import load_benchmark
    from vt_agent.evaluation.runner import arun_benchmark

    data = tmp / "eval.jsonl"
    with data.open("w") as fh:
        for j in jobs:
            rec = {"id": j.id, "video": Path(j.video).name, "question": j.question, "options": list(OPTIONS)}
            fh.write(
                json.dumps({**rec, "answer": "A", **({"window": list(j.window)} if j.window else {})}) + "\n"
            )
    loaded = load_benchmark("jsonl", data, VIDEOS)
    reasoner = spec.reasoner()
    clear_cache()
    t0 = time.perf_counter()
    summary = await arun_benchmark(loaded, reasoner, tmp / "eval-out.jsonl", concurrency=conc, progress=False)
    wall = time.perf_counter() - t0
    await reasoner.aclose()
    return len(jobs) / wall, summary.errors + summary.skipped


def main(args: argparse.Namespace) -> int:
    from vt_agent.batch.ray_run import connect

    jobs = make_jobs()
    clear_cache()
    prep = [prepare_item(j.item(), PRESET).prepare_s for j in jobs]
    clear_cache()
    conc = args.engine_concurrency
    gen_s = args.gen_s if args.gen_s is not None else sum(prep) / len(prep) / 4
    spec = EngineSpec(preset=PRESET, factory=functools.partial(PacedBackend, gen_s, conc))
    print(
        f"{len(jobs)} jobs, preparation {sum(prep) / len(prep) * 1000:.0f} ms a job on average (one at a time), "
        f"engine: 1 actor, {conc} at once, {gen_s * 1000:.0f} ms a request"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    cluster = connect("auto", num_cpus=args.cpus)
    print(f"{cluster.line()} (in {time.perf_counter() - t0:.1f} s, not timed below)")
    rates: dict[str, float] = {}
    for workers in (1, 2):
        steady, whole, first, failed = on_ray(jobs, spec, workers, conc)
        rates[f"ray{workers}"], rates[f"ray{workers}-whole"] = steady, whole
        print(f"ray, {workers} preparation worker(s): first row after {first:.1f} s, failed {failed}")
    with tempfile.TemporaryDirectory() as tmp:
        rate, errors = asyncio.run(eval_run(jobs, spec, conc, Path(tmp)))
    rates["eval"] = rate
    print(f"eval run (no Ray): errors {errors}")
    bound1 = 1 / max(sum(prep) / len(prep), gen_s / conc)
    print("\njobs/s as ratios (one run):")
    print(
        f"  ray, 2 vs 1 preparation workers: {rates['ray2'] / rates['ray1']:.2f}x (ideal on {args.cpus} free cores: 2x)"
    )
    print(
        f"  ray (2 workers) vs eval run without Ray: {rates['ray2'] / rates['eval']:.2f}x steady, "
        f"{rates['ray2-whole'] / rates['eval']:.2f}x with the actor's start-up"
    )
    print(
        f"  ray, 1 worker vs its bound 1 / max(preparation, generation / concurrency): {rates['ray1'] / bound1:.2f}x"
    )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(
        "\nExpected on a cluster: preparation runs as Ray tasks on every node's CPUs, the engine in one actor "
        "per GPU (or per TP group), so jobs/s ~ min(cluster CPU cores / preparation s a job, actors x one "
        "engine's jobs/s) until the driver or the object store is the limit (a 16-frame job's frames are "
        "a few MB; rows back are a few kB). Here both stages share 2 cores with other work, so the 2-worker "
        "ratio shows what a second core gives, not a second node."
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gen-s", type=float, default=None, help="seconds per request (default: preparation / 4)"
    )
    parser.add_argument(
        "--engine-concurrency", type=int, default=1, help="requests the paced engine takes at once"
    )
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    raise SystemExit(main(parser.parse_args()))
