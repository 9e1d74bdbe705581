"""A video_thinker thread in SQLite survives a crash: the rerun continues from the last saved step.

    python examples/graph_resume_sqlite.py [--db FILE] [--crash-at N]

The graph generates one grounded step per graph step and the SQLite checkpointer
(``langgraph-checkpoint-sqlite``, in the ``graphs`` extra) saves the thread after each. Run 1, in
a child process, dies (``os._exit``) when the model is asked for step N (default 2); run 2 opens
the same file, resumes the thread with ``invoke(None, config)`` and generates only what is
missing. The scripted fake backend stands in for a model (hand-written traces).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from graphs import GraphContext
from graphs.video_thinker import build_graph
from vt_agent.backends.base import Delta, GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.reasoner import VideoReasoner

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos" / "bigbuckbunny.mp4"
INPUTS = {
    "videos": [str(CLIP)],
    "question": "What animal is the main character of this clip?",
    "options": ["A fox", "A rabbit", "A bear", "A squirrel"],
}
CONFIG: Any = {"configurable": {"thread_id": "bbb-animal"}}


class DiesAt(FakeBackend):
    """The scripted backend, but the process dies when asked for step ``at`` (a crashed engine host)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        if request.assistant_prefix.count("</think>") + 1 >= self.at:
            print(f"run 1: the process dies while generating step {self.at}", flush=True)
            os._exit(3)
        return super().stream(request)


def show(update: dict[str, Any], run: int) -> None:
    for seg in update.get("reason", {}).get("steps", []):
        print(f"run {run}: step {seg['index'] + 1}  {seg['start']}-{seg['end']}  {seg['caption'][:60]}")


def run_1(db: Path, crash_at: int) -> None:
    with SqliteSaver.from_conn_string(str(db)) as saver:
        graph = build_graph().compile(checkpointer=saver)
        context = GraphContext(reasoner=VideoReasoner(DiesAt(crash_at)))
        for update in graph.stream(INPUTS, CONFIG, context=context, stream_mode="updates", durability="sync"):
            show(update, 1)


def run_2(db: Path) -> None:
    backend = FakeBackend()
    with SqliteSaver.from_conn_string(str(db)) as saver:
        graph = build_graph().compile(checkpointer=saver)
        saved = graph.get_state(CONFIG)
        print(
            f"saved in {db.name}: {len(saved.values['segments'])} step(s), next node: {', '.join(saved.next)}"
        )
        context = GraphContext(reasoner=VideoReasoner(backend))
        for update in graph.stream(None, CONFIG, context=context, stream_mode="updates"):
            show(update, 2)
        out = graph.get_state(CONFIG).values
    first = backend.requests[0].assistant_prefix.count("</think>")
    print(f"run 2: {len(backend.requests)} model request(s), the first continuing {first} saved step(s)")
    print(f"answer: {out['answer']} (scripted: a hand-written trace), {len(out['segments'])} steps")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "vt-agent-examples" / "vt.sqlite"
    )
    parser.add_argument("--crash-at", type=int, default=2, help="the step whose generation crashes (1-3)")
    parser.add_argument("--run-1", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.run_1:
        run_1(args.db, args.crash_at)
        return 0
    args.db.parent.mkdir(parents=True, exist_ok=True)
    args.db.unlink(missing_ok=True)  # a new thread each time the example runs
    child = [sys.executable, __file__, "--run-1", "--db", str(args.db), "--crash-at", str(args.crash_at)]
    code = subprocess.run(child, check=False).returncode
    print(f"run 1 exited with code {code}")
    run_2(args.db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
