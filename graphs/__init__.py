"""LangGraph graphs over vt_agent: ``video_thinker``, ``multi_video``, ``triage``.

``from graphs import GraphContext`` gives the run context every graph takes; import the graphs
from their submodules (``from graphs.video_thinker import build_graph``). This package itself
imports nothing heavy (no langgraph, no torch).
"""

from graphs.context import GraphContext

__all__ = ["GraphContext"]
