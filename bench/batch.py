"""Batch runs on Ray Data against the same jobs through ``eval run`` without Ray, in one run.

    nice -n 10 .venv/bin/python bench/batch.py [--gen-s S] [--engine-concurrency 1] [--cpus 2]

Jobs: the bundled clips whole and in halves, and 6 s windows of vtest.avi (18 jobs, asked
``--repeat`` times: 36), each a multiple-choice question with the paper preset. The engine is paced like a GPU: a FakeBackend
behind a wrapper holding each request ``--gen-s`` seconds, ``--engine-concurrency`` at once (no CPU
of ours), in one engine actor. Default ``--gen-s``: a quarter of the mean preparation time, so the
preparation stage is the bottleneck and its worker count is what the ratios show.

Rows of the table (each with cold frame caches):

* ray, 1 / 2 preparation workers: :func:`vt_agent.batch.ray_run.ray_map` (the batch command's Ray
  path) on a local Ray instance of ``--cpus`` CPUs started once before timing, its worker processes
  warmed by a first untimed run. jobs/s of the
  preparation stage (first preparation start to last end: what the worker count changes, and the
  run's pace once running while the engine keeps up), and of the whole run, Ray's start-up of the
  actor and workers included;
* eval run: the same jobs as vt-agent's own JSONL benchmark through
  :func:`vt_agent.evaluation.runner.arun_benchmark` (the ``eval run`` command's path, no Ray: the
  core scheduler with a thread per core), the same paced engine and concurrency; its whole wall
  time (it has no start-up), run before and after the Ray rows (the mean is used: the load drifts).


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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vt_agent.backends.fake_backend import FakeBackend  # noqa: E402
from vt_agent.batch import EngineSpec, Job  # noqa: E402
from vt_agent.pipeline import prepare_item  # noqa: E402
from vt_agent.video import clear_cache, set_cache_limit  # noqa: E402

VIDEOS = ROOT / "tests" / "data" / "videos"
PRESET = "video-thinker-16f"
OPTIONS = ("People walk", "A car parks")


def make_jobs(repeat: int) -> list[Job]:
    return [
        Job(f"{job.id}#{r}", job.video, job.question, job.options, job.window)
        for r in range(repeat)
        for job in _jobs()
    ]


def _jobs() -> list[Job]:
    q = "What happens in the video?"
    jobs = []
    for name, dur in (("bigbuckbunny.mp4", 5.2), ("cityCC0.mpg", 7.6)):
        video = str(VIDEOS / name)
        jobs.append(Job(name, video, q, OPTIONS))
        jobs += [Job(f"{name}@{a}", video, q, OPTIONS, (a, a + dur / 2)) for a in (0.0, dur / 2)]
    vtest = str(VIDEOS / "vtest.avi")
    jobs += [Job(f"vtest@{s}", vtest, q, OPTIONS, (float(s), s + 6.0)) for s in range(0, 72, 6)]
    return jobs


def on_ray(jobs: list[Job], spec: EngineSpec, workers: int, conc: int) -> dict[str, float]:
    """One Ray run: jobs/s of the preparation stage (first preparation start to last end), of the
    whole run (start-up included), seconds to the first row, mean preparation s, engine busy share."""
    from vt_agent.batch.ray_run import RayOptions, ray_map

    t0 = time.time()
    dones = list(
        ray_map([j.item() for j in jobs], RayOptions(spec, concurrency=conc, prepare_workers=workers))
    )
    t1 = time.time()
    if any(not d.ok for d in dones):
        raise SystemExit(f"jobs failed: {[d.error for d in dones if not d.ok][:3]}")
    first_start = min(d.prepared_at - d.prepare_s for d in dones)
    last_end = max(d.prepared_at for d in dones)
    engine_busy = sum(d.end - d.start for d in dones) / (
        max(d.end for d in dones) - min(d.start for d in dones)
    )
    return {
        "prepare": len(dones) / (last_end - first_start),
        "whole": len(dones) / (t1 - t0),
        "first": min(d.end for d in dones) - t0,
        "prep_s": sum(d.prepare_s for d in dones) / len(dones),
        "engine_busy": engine_busy,
    }


async def eval_run(jobs: list[Job], spec: EngineSpec, conc: int, tmp: Path) -> tuple[float, int]:
    """jobs/s of the same jobs through arun_benchmark (own JSONL benchmark), and errors."""
    from vt_agent.evaluation.loaders import load_benchmark
    from vt_agent.evaluation.runner import arun_benchmark

    tmp.mkdir(parents=True, exist_ok=True)
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

    jobs = make_jobs(args.repeat)
    clear_cache()
    set_cache_limit(0)  # no frame cache anywhere (Ray's workers keep none): repeated jobs decode again
    prep = [prepare_item(j.item(), PRESET).prepare_s for j in jobs]
    clear_cache()
    conc = args.engine_concurrency
    gen_s = args.gen_s if args.gen_s is not None else sum(prep) / len(prep) / 4
    spec = EngineSpec(
        preset=PRESET,
        factory=functools.partial(FakeBackend, chunk_chars=64, request_s=gen_s, concurrency=conc),
    )
    print(
        f"{len(jobs)} jobs, preparation {sum(prep) / len(prep) * 1000:.0f} ms a job on average (one at a time), "
        f"engine: 1 actor, {conc} at once, {gen_s * 1000:.0f} ms a request"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    cluster = connect("auto", num_cpus=args.cpus)
    print(f"{cluster.line()} (in {time.perf_counter() - t0:.1f} s, not timed below)")
    with tempfile.TemporaryDirectory() as tmp:
        evals = [asyncio.run(eval_run(jobs, spec, conc, Path(tmp) / "first"))]
        on_ray(jobs[:4], spec, 2, conc)  # warm-up: Ray's worker processes start and import once
        runs = {w: on_ray(jobs, spec, w, conc) for w in (1, 2)}
        evals.append(asyncio.run(eval_run(jobs, spec, conc, Path(tmp) / "last")))
    for w, r in runs.items():
        print(
            f"ray, {w} preparation worker(s): first row after {r['first']:.1f} s, preparation "
            f"{r['prep_s'] * 1000:.0f} ms a job in the workers, engine busy {r['engine_busy']:.0%} "
            "from its first to its last job"
        )
    eval_rate = sum(rate for rate, _ in evals) / len(evals)
    print(
        f"eval run (no Ray), before and after the Ray runs: errors {sum(e for _, e in evals)}, "
        f"{evals[1][0] / evals[0][0]:.2f}x apart (the machine's drift)"
    )
    one, two = runs[1], runs[2]
    print("\njobs/s as ratios (one run):")
    print(
        f"  ray, preparation stage, 2 vs 1 workers: {two['prepare'] / one['prepare']:.2f}x "
        f"(ideal with {args.cpus} free cores: 2x)"
    )
    print(
        f"  ray (2 workers) vs eval run without Ray (mean of the two): {two['prepare'] / eval_rate:.2f}x "
        f"once running (its preparation stage; the paced engine keeps up), {two['whole'] / eval_rate:.2f}x "
        "with Ray's start-up of the actor and workers"
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
    parser.add_argument("--repeat", type=int, default=2, help="times each of the 18 jobs is asked")
    raise SystemExit(main(parser.parse_args()))
