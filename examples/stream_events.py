"""Stream the reasoning as it is written: progress, tokens, and each grounded segment.

    python examples/stream_events.py [VIDEO] [--backend fake|transformers|vllm|openai] [--model M]

Defaults to the scripted ``fake`` backend (hand-written traces, not a model's answers).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from vt_agent.backends import load_backend
from vt_agent.errors import VTAgentError
from vt_agent.events import AnswerEvent, FinishedEvent, ProgressEvent, SegmentClosed, TokenEvent
from vt_agent.reasoner import VideoReasoner

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos" / "cityCC0.mpg"


async def main(video: str, backend_name: str, model: str | None) -> None:
    backend = load_backend(backend_name, **({"model": model} if model else {}))
    async with VideoReasoner(backend) as reasoner:
        tokens = 0
        async for event in reasoner.astream([video], "How many distinct camera shots does the clip contain?",
                                            ["1", "2", "3", "4"]):  # fmt: skip
            if isinstance(event, ProgressEvent):
                print(f"[{event.stage}] {event.message}")
            elif isinstance(event, TokenEvent):
                tokens += 1
            elif isinstance(event, SegmentClosed):
                seg = event.segment
                print(f"segment {seg.index}: {seg.start}-{seg.end} {seg.caption}")
            elif isinstance(event, AnswerEvent):
                print(f"answer tag: {event.text!r} -> {event.letter}")
            elif isinstance(event, FinishedEvent):
                r = event.result
                notes = "".join(f" ({note})" for note in r.provenance())
                print(
                    f"done: answer {r.answer}{notes}, {tokens} deltas, {r.timings.total_s:.2f} s, "
                    f"scripted={r.scripted}"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(CLIP))
    parser.add_argument("--backend", default="fake")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.video, args.backend, args.model))
    except VTAgentError as exc:  # a bad path or backend: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
