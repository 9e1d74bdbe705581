"""``run_batch``: a jobs file through the model, one result row per job, on this machine or on Ray.

::

    spec = EngineSpec("vllm", {"model": "/models/Video-Thinker-7B"})
    summary = run_batch("jobs.jsonl", "results.jsonl", spec)                   # this machine
    summary = run_batch("jobs.jsonl", "results.jsonl", spec, ray="auto", actors=4, gpus_per_actor=1)

Both ways run the same two stages (:mod:`vt_agent.pipeline`: preparation, then the engine) and
write the same rows; the results file is resumable (see :mod:`vt_agent.batch.output`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Literal, TextIO

from vt_agent.batch.engine import EngineSpec
from vt_agent.batch.jobs import read_jobs
from vt_agent.batch.output import ResultsFile
from vt_agent.batch.progress import BatchSummary, Progress
from vt_agent.errors import ConfigError

if TYPE_CHECKING:
    from vt_agent.batch.ray_run import RayOptions

__all__ = ["check_prepare_pool", "join_cluster", "run_batch"]


def run_batch(
    jobs_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    spec: EngineSpec,
    *,
    ray: str | None = None,
    videos_dir: str | os.PathLike[str] | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0,
    cpus_per_actor: float | None = None,
    concurrency: int = 4,
    prepare_workers: int | None = None,
    prepare_pool: Literal["thread", "process"] = "thread",
    retry_failed: bool = False,
    log: TextIO | None = sys.stderr,
    every_s: float = 2.0,
) -> BatchSummary:
    """Answer every job of ``jobs_path`` not yet in ``out``; rows appended to ``out`` as jobs end.

    ``ray``: None runs here (the core scheduler, ``prepare_workers`` threads, or processes with
    ``prepare_pool="process"``, the engine taking ``concurrency`` jobs at once); ``"auto"`` or an
    address runs the Ray Data pipeline with ``actors`` engine actors (``gpus_per_actor``,
    ``cpus_per_actor`` each; ``concurrency`` jobs at once in each; ``prepare_pool`` does not apply).
    ``log``: progress lines and the cluster line (None: silent).
    """
    check_prepare_pool(prepare_pool, ray is not None)
    jobs = read_jobs(jobs_path, videos_dir)
    summary = BatchSummary(total=len(jobs))
    with ResultsFile(out, retry_failed=retry_failed) as results:
        todo = [job for job in jobs if job.key not in results.done]
        summary.skipped = len(jobs) - len(todo)
        if log is not None:
            _say_resume(log, results, summary)
        if ray is not None:
            from vt_agent.batch.executors import run_on_ray
            from vt_agent.batch.ray_run import RayOptions

            run = RayOptions(spec, actors, gpus_per_actor, cpus_per_actor, concurrency, prepare_workers)
            join_cluster(ray, run, log)
            progress = Progress(summary, log, every_s)
            run_on_ray(todo, run, results, progress)
        else:
            from vt_agent.batch.executors import arun_local

            progress = Progress(summary, log, every_s)

            async def main() -> None:
                reasoner = spec.reasoner()
                try:
                    await arun_local(
                        todo,
                        reasoner,
                        results,
                        progress,
                        workers=prepare_workers,
                        concurrency=concurrency,
                        pool=prepare_pool,
                    )
                finally:
                    await reasoner.aclose()

            asyncio.run(main())
    return progress.finish()


def check_prepare_pool(pool: str, on_ray: bool) -> None:
    """``pool`` is ``"thread"`` or ``"process"``, and ``"thread"`` on Ray (whose tasks prepare)."""
    if pool not in ("thread", "process"):
        raise ConfigError(f"prepare_pool must be 'thread' or 'process', got {pool!r}")
    if on_ray and pool != "thread":
        raise ConfigError(
            f"prepare_pool={pool!r} does not apply on Ray: Ray runs each preparation in its own task; "
            "leave prepare_pool at 'thread' or run without ray"
        )


def join_cluster(address: str, run: RayOptions, log: TextIO | None) -> None:
    """Connect to Ray (:func:`vt_agent.batch.ray_run.connect`) and say where and with which engines."""
    from vt_agent.batch.ray_run import connect

    cluster = connect(address)
    if log is not None:
        print(f"{cluster.line()}; {run.line()}", file=log, flush=True)


def _say_resume(log: TextIO, results: ResultsFile, summary: BatchSummary) -> None:
    if results.truncated:
        print(f"{results.path}: its last line was cut off (a crash?); dropped, that job runs again", file=log)
    if results.dropped_errors:
        print(
            f"{results.path}: {results.dropped_errors} failed job(s) dropped to run again (--retry-failed)",
            file=log,
        )
    if summary.skipped:
        print(
            f"{results.path}: {summary.skipped} of {summary.total} job(s) already there, skipped "
            f"({results.errors_before} of them failed; --retry-failed runs those again)",
            file=log,
        )
