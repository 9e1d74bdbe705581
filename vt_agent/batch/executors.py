"""The two executors of a batch run, writing one row per job as each ends.

* :func:`arun_local`: this machine, the core scheduler (:class:`vt_agent.pipeline.Pipeline`)
  preparing upcoming jobs in its pool while the engine answers the ready ones;
* :func:`run_on_ray`: the same stages as a Ray Data pipeline (:func:`vt_agent.batch.ray_run.ray_map`).

A job whose fields are wrong gets its error row first. A backend failure that ends the engine
(:data:`~vt_agent.batch.engine.FATAL`) stops the run: the rows written so far stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from vt_agent.batch.engine import FATAL
from vt_agent.batch.jobs import Job
from vt_agent.batch.output import ResultsFile, error_row, result_row
from vt_agent.batch.progress import Progress
from vt_agent.errors import BackendUnavailableError

if TYPE_CHECKING:
    from vt_agent.batch.ray_run import RayOptions
    from vt_agent.reasoner import VideoReasoner

__all__ = ["arun_local", "run_on_ray"]


def _runnable(jobs: Sequence[Job], results: ResultsFile, progress: Progress) -> list[Job]:
    """The jobs that can run; the others get their error row now."""
    out = []
    for job in jobs:
        if job.problem:
            results.write(error_row(job.id, f"ConfigError: {job.problem}"))
            progress.add(False)
        else:
            out.append(job)
    return out


async def arun_local(
    jobs: Sequence[Job],
    reasoner: VideoReasoner,
    results: ResultsFile,
    progress: Progress,
    *,
    workers: int | None = None,
    concurrency: int = 1,
    pool: Literal["thread", "process"] = "thread",
) -> None:
    """Every job through the core scheduler here (``workers`` preparing in a ``pool`` of threads or processes)."""
    from vt_agent.pipeline import Pipeline, reason_with

    items = [job.item() for job in _runnable(jobs, results, progress)]
    if not items:
        return
    pipeline = Pipeline(  # the transformers backend's model inputs are prepared ahead too
        reasoner.preset,
        workers=workers,
        concurrency=concurrency,
        pool=pool,
        model_inputs=reasoner.backend.name == "transformers",
    )
    progress.prepare_workers = pipeline.workers
    try:
        async for done in pipeline.run(items, reason_with(reasoner), fatal=FATAL):
            job_id = done.item.data
            value = done.value
            results.write(result_row(job_id, value) if value is not None else error_row(job_id, done.message))
            progress.add(
                value is not None, prepare_s=done.prepare_s, engine="local", gen_span=done.generate_span
            )
    finally:
        pipeline.close()


def run_on_ray(jobs: Sequence[Job], run: RayOptions, results: ResultsFile, progress: Progress) -> None:
    """Every job through :func:`~vt_agent.batch.ray_run.ray_map` (Ray connected)."""
    from vt_agent.batch.ray_run import ray_map

    items = [job.item() for job in _runnable(jobs, results, progress)]
    progress.prepare_workers = run.prepare_workers
    for done in ray_map(items, run):
        if done.fatal:  # no row: the job runs again when the command is run again
            raise BackendUnavailableError(
                f"the engine failed in actor {done.engine}: {done.error}; the rows written so far are kept, "
                "run the same command again to go on"
            )
        job_id = done.item.data
        results.write(result_row(job_id, done.value) if done.ok else error_row(job_id, done.error))
        span = (done.start, done.end) if done.stage != "prepare" else None
        progress.add(done.ok, prepare_s=done.prepare_s, worker=done.worker, engine=done.engine, gen_span=span)
