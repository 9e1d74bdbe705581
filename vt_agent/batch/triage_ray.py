"""Triage of several recordings at once on Ray: every window of every recording through the Ray
Data pipeline of :mod:`vt_agent.batch.ray_run`, one report per recording.

Each recording is planned as :func:`vt_agent.triage.plan_triage` plans it (probe, windows); each
window is prepared by a Ray task and asked in an engine actor by :func:`vt_agent.triage.scan_window`
(the same question and Yes/No options); the outcomes of each recording are merged into its report
by :func:`vt_agent.triage.build_report`, exactly as a triage of that recording alone.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from vt_agent.errors import BackendUnavailableError

if TYPE_CHECKING:
    from vt_agent.batch.ray_run import RayOptions
    from vt_agent.pipeline import PreparedItem
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.triage import TriagePlan

__all__ = ["triage_on_ray"]


def _window_task(
    plans: Sequence[TriagePlan], reasoner: VideoReasoner
) -> Callable[[PreparedItem], Awaitable[dict[str, Any]]]:
    """The engine stage: one window's outcome, from its ready frames."""
    from vt_agent.triage import scan_window

    async def ask(ready: PreparedItem) -> dict[str, Any]:
        n, i = ready.item.data
        plan = plans[n]
        start, end = plan.windows[i]
        return await scan_window(
            reasoner, plan.video, plan.question, i, start, end, preset=ready.preset, prepared=ready.videos
        )

    return ask


async def triage_on_ray(
    plans: Sequence[TriagePlan],
    run: RayOptions,
    on_window: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """The report of each plan (in order), its windows asked on the connected Ray cluster.

    ``on_window(plan_index, outcome)`` is called as each window comes back. A window that fails
    (its frames or its answer) is an outcome with ``error``, as in :func:`vt_agent.triage.scan_windows`;
    an engine that is gone stops the run (BackendUnavailableError).
    """
    from vt_agent.batch.ray_run import aray_map
    from vt_agent.pipeline import PipelineItem
    from vt_agent.triage import build_report

    items = [
        PipelineItem((n, i), plan.video, plan.question, window=window, data=(n, i))
        for n, plan in enumerate(plans)
        for i, window in enumerate(plan.windows)
    ]
    outcomes: list[list[dict[str, Any]]] = [[] for _ in plans]
    async for done in aray_map(items, run, functools.partial(_window_task, tuple(plans))):
        if done.fatal:
            raise BackendUnavailableError(f"the engine failed in Ray actor {done.engine}: {done.error}")
        n, i = done.item.data
        if done.ok:
            outcome = done.value
        else:
            start, end = plans[n].windows[i]
            message = str(done.exception) if done.exception is not None else done.error
            outcome = {
                "index": i,
                "start_s": start,
                "end_s": end,
                "answer": None,
                "error": message,
                "segments": [],
            }
        outcomes[n].append(outcome)
        if on_window is not None:
            on_window(n, outcome)
    return [build_report(plan, found) for plan, found in zip(plans, outcomes, strict=True)]
