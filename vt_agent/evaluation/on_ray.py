"""``eval run --ray``: a benchmark's questions through the Ray Data pipeline of
:mod:`vt_agent.batch.ray_run`, each engine actor answering with the run's protocol (the paper's
prompt and ladder, or the benchmark's own), rows built as :func:`~vt_agent.evaluation.runner.arun_benchmark`
builds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from vt_agent.errors import BackendError, BackendUnavailableError
from vt_agent.evaluation.records import EvalItem, EvalResult
from vt_agent.evaluation.runner import _base_row

if TYPE_CHECKING:
    from vt_agent.batch.ray_run import RayOptions
    from vt_agent.pipeline import ItemResult, PipelineItem, PreparedItem
    from vt_agent.reasoner import VideoReasoner

__all__ = ["run_on_ray"]


def _ray_task(
    protocol: str, run_one: Any, reasoner: VideoReasoner
) -> Callable[[PreparedItem], Awaitable[EvalResult]]:
    """The engine stage of a Ray run, built in each actor around its own reasoner."""

    async def generate(ready: PreparedItem) -> EvalResult:
        item: EvalItem = ready.item.data
        row = _base_row(item, protocol, reasoner.preset, reasoner.backend)
        return EvalResult(**row, **(await run_one(item, ready, reasoner)))

    return generate


async def run_on_ray(
    runnable: list[PipelineItem],
    ray: RayOptions,
    protocol: str,
    run_one: Any,
    record: Callable[[ItemResult[EvalResult]], None],
) -> None:
    """The questions through the Ray Data pipeline; each outcome recorded as it comes back."""
    import functools

    from vt_agent.batch.ray_run import aray_map
    from vt_agent.pipeline import ItemResult

    task = functools.partial(_ray_task, protocol, run_one)
    async for done in aray_map(runnable, ray, task):
        error = done.exception or (BackendError(done.error) if done.error else None)
        if done.fatal:
            raise BackendUnavailableError(f"the engine failed in Ray actor {done.engine}: {done.error}")
        record(ItemResult(done.item, 0, value=done.value, error=error, prepare_s=done.prepare_s))
