"""Triage a long video for a query and write the HTML report (timeline, thumbnails, captions).

    python examples/triage_report.py [VIDEO] [--query ...] [--out report.html] [--backend ...]

Same as ``vt-agent triage VIDEO QUERY --html report.html``. With the default ``fake``
backend the traces are scripted (hand-written text, not a model's answer), and the output says so.
The report goes to the system's temporary folder unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from graphs import GraphContext
from graphs.triage import graph
from vt_agent.backends import load_backend
from vt_agent.errors import VTAgentError
from vt_agent.reasoner import VideoReasoner
from vt_agent.report import write_triage_html
from vt_agent.video import set_cache_limit

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos" / "vtest.avi"


async def main(video: str, query: str, out: Path, backend_name: str, model: str | None) -> None:
    set_cache_limit(0)  # every window is sampled once: keep no frames (memory of one window)
    backend = load_backend(backend_name, **({"model": model} if model else {}))
    context = GraphContext(reasoner=VideoReasoner(backend), concurrency=2)
    inputs = {"video": video, "query": query, "window_s": 20.0, "overlap_s": 5.0}
    report = {}
    async for mode, chunk in graph.astream(inputs, context=context, stream_mode=["custom", "values"]):
        if mode == "custom" and chunk["type"] == "window":
            print(f"window {chunk['index'] + 1}/{chunk['total']}: answer {chunk['answer']}")
        elif mode == "values" and "report" in chunk:
            report = chunk["report"]
    await backend.close()
    if report.get("scripted"):
        print("(scripted fake backend: hand-written traces, not a model's answers)")
    for f in report["findings"]:
        print(f"#{f['rank']} {f['start']}-{f['end']} confidence {f['confidence']:.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_triage_html(report, out)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", nargs="?", default=str(CLIP))
    parser.add_argument("--query", default="someone crosses the lawn")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "vt-agent-examples" / "triage_report.html"
    )
    parser.add_argument("--backend", default="fake")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.video, args.query, args.out, args.backend, args.model))
    except VTAgentError as exc:  # a bad path or backend: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
