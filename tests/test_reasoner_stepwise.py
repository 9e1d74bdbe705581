"""Step-by-step generation in the core: each call stops once a grounded step closes, the next
continues the trace, and the steps add up to the one-shot trace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import SCRIPTS
from vt_agent.events import FinishedEvent, SegmentClosed, TokenEvent
from vt_agent.reasoner import VideoReasoner
from vt_agent.result import Result

QUESTION = "What does the character do in the middle of the clip?"
OPTIONS = ["Eats a flower", "Stretches his arms and yawns", "Jumps into a river", "Waves at a bird"]


async def _one_shot(reasoner: VideoReasoner, video: Path) -> Result:
    return await reasoner.areason([video], QUESTION, OPTIONS)


async def _stepwise(reasoner: VideoReasoner, video: Path) -> tuple[list[int], Result]:
    trace, closed_per_call = "", []
    for _ in range(50):
        closed, finished = 0, None
        async for ev in reasoner.astream(
            [video], QUESTION, OPTIONS, assistant_prefix=trace, stop_after_step=True
        ):
            if isinstance(ev, SegmentClosed):
                closed += 1
            elif isinstance(ev, FinishedEvent):
                finished = ev
        assert finished is not None
        closed_per_call.append(closed)
        trace = finished.result.trace
        if not finished.paused:
            return closed_per_call, finished.result
    raise AssertionError("never finished")


@pytest.mark.parametrize("chunk", [1, 8, 64])
def test_steps_add_up_to_the_one_shot_trace(bbb: Path, chunk: int) -> None:
    reasoner = VideoReasoner(FakeBackend(SCRIPTS["bbb-middle"], chunk_chars=chunk))
    one = asyncio.run(_one_shot(reasoner, bbb))
    closed, step = asyncio.run(_stepwise(reasoner, bbb))
    assert step.trace == one.trace
    assert step.answer == one.answer and step.answer is not None
    assert [s.model_dump() for s in step.segments] == [s.model_dump() for s in one.segments]
    # every step closes in exactly one call; one character at a time, one step per paused call
    assert sum(closed) == len(one.segments) >= 2
    if chunk == 1:
        assert closed[:-1] == [1] * (len(closed) - 1)


def test_token_events_carry_the_engine_token_ids(bbb: Path) -> None:
    async def go() -> list[TokenEvent]:
        reasoner = VideoReasoner(FakeBackend(chunk_chars=16))
        return [ev async for ev in reasoner.astream([bbb], QUESTION, OPTIONS) if isinstance(ev, TokenEvent)]

    events = asyncio.run(go())
    assert events and all(ev.token_ids == () for ev in events)  # the fake engine has no tokens
