"""Stream a grounded answer from the video_thinker graph: each <time>/<caption>/<think> step as it is parsed.

    python examples/graph_stream.py [VIDEO] [--backend fake|transformers|vllm|openai] [--model ...] [--verify]

With the default ``fake`` backend the trace is scripted (hand-written text, not a model's answer),
and the answer line says so.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from graphs import GraphContext
from graphs.video_thinker import graph
from vt_agent.backends import load_backend
from vt_agent.errors import VTAgentError
from vt_agent.reasoner import VideoReasoner

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos" / "bigbuckbunny.mp4"


async def main(video: str, backend_name: str, model: str | None, verify: bool) -> None:
    backend = load_backend(backend_name, **({"model": model} if model else {}))
    context = GraphContext(reasoner=VideoReasoner(backend))
    inputs = {
        "videos": [video],
        "question": "What animal is the main character of this clip?",
        "options": ["A fox", "A rabbit", "A bear", "A squirrel"],
        "verify": verify,
    }
    async for mode, chunk in graph.astream(inputs, context=context, stream_mode=["custom", "updates"]):
        if mode == "updates":
            print(f"[node] {', '.join(chunk)}")
        elif chunk["type"] == "segment":
            print(f"  {chunk['start']}-{chunk['end']}  {chunk['caption']}")
            print(f"      think: {chunk['think']}")
        elif chunk["type"] == "answer":
            note = " (scripted: a hand-written trace)" if backend.scripted else ""
            print(f"  answer: {chunk['letter']}{note}")
        elif chunk["type"] == "verify":
            print(f"  verify segment {chunk['index']}: confirmed={chunk['confirmed']}")
        elif chunk["type"] == "progress":
            print(f"  ({chunk['stage']}: {chunk['message']})")
        # chunk["type"] == "token": raw text deltas, e.g. for a live view
    await backend.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", nargs="?", default=str(CLIP))
    parser.add_argument("--backend", default="fake")
    parser.add_argument("--model", default=None)
    parser.add_argument("--verify", action="store_true", help="zoom in on each cited span to check it")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.video, args.backend, args.model, args.verify))
    except VTAgentError as exc:  # a bad path or backend: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
