"""vt_agent.busy: how busy the preparation and the engine were over a run."""

from __future__ import annotations

import asyncio

import pytest

from vt_agent.busy import BusyMeter, busy_text, covered_seconds
from vt_agent.pipeline import Pipeline, PipelineItem, PreparedItem


def test_covered_seconds_counts_overlaps_once() -> None:
    assert covered_seconds([]) == 0.0
    assert covered_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == pytest.approx(4.0)
    assert covered_seconds([(0.0, 10.0), (2.0, 3.0)]) == pytest.approx(10.0)  # inside another


def test_shares_per_worker_and_per_engine() -> None:
    meter = BusyMeter()
    meter.add(3.0, (0.0, 2.0))
    meter.add(1.0, (1.0, 4.0))
    meter.add(2.0)  # failed before the engine: preparation only
    prepare, engine = meter.shares(wall_s=8.0, workers=2)
    assert prepare == pytest.approx(6.0 / 16.0)
    assert engine == pytest.approx(4.0 / 8.0)
    meter.add(0.0, (0.0, 8.0), engine="actor-2")  # a second engine, busy all along
    assert meter.shares(8.0, 2)[1] == pytest.approx((4.0 + 8.0) / 16.0)
    assert meter.engines == 2


def test_text_names_the_parts_measured() -> None:
    assert busy_text(2, 0.5, 0.25) == "preparation 2 worker(s) 50% busy, engine 25% busy"
    assert busy_text(4, None, 1.0) == "engine 100% busy"
    assert busy_text(4, None, None) == ""
    meter = BusyMeter(workers=2)
    meter.add(2.0, (0.0, 1.0))
    assert meter.text(4.0) == "preparation 2 worker(s) 25% busy, engine 25% busy"


def test_nothing_measured_gives_none() -> None:
    assert BusyMeter().shares(5.0, 2) == (None, None)
    assert BusyMeter().shares(0.0, 2) == (None, None)
    meter = BusyMeter()
    meter.add(100.0)
    assert meter.shares(1.0, 1) == (1.0, None)  # capped at 100 %


def test_pipeline_results_carry_their_generation_span(tmp_path: object) -> None:
    async def main() -> list[tuple[float, float] | None]:
        async def generate(ready: PreparedItem) -> str:
            await asyncio.sleep(0.05)
            return str(ready.item.key)

        async def prepare(item: PipelineItem) -> PreparedItem:
            if item.key == "bad":
                raise ValueError("no frames")
            return PreparedItem(item, [], "p", 0.01)

        pipeline = Pipeline(concurrency=1, workers=3)
        pipeline.prepare = prepare  # type: ignore[method-assign]  # no video needed for the spans
        items = [PipelineItem(k, "v.mp4") for k in ("a", "bad", "b")]
        return [r.generate_span async for r in pipeline.run(items, generate, ordered=True, meter=meter)]

    meter = BusyMeter()
    a, bad, b = asyncio.run(main())
    assert meter.workers == 3 and meter.prepare_s == pytest.approx(0.02)  # the failed item prepared nothing
    assert meter.spans["local"] == [a, b]  # the run fed the meter as items ended
    assert bad is None
    assert a is not None and b is not None
    assert a[1] - a[0] >= 0.04 and b[0] >= a[1] - 1e-3  # one at a time: b starts after a ends
