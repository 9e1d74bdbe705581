"""Questions over several videos: plan the question, ask each video what it can answer alone
(or all of them in one joint prompt), and synthesise an answer that cites videos and spans.

::

    from vt_agent.multi import answer_videos
    out = await answer_videos(reasoner, ["a.mp4", "b.avi"], "Which video shows a white van?",
                              ["Video 1", "Video 2", "None of them"])
    out.answer, out.answer_text, out.citations, out.per_video  # per video: sub-question, evidence, use

Modules: ``plan`` (kinds and sub-questions), ``when`` (questions about when the videos were made:
the files' creation times, the time of day shown), ``dates`` (a question's dates, for counting by
recording time), ``refs`` (videos named in options), ``evidence`` (Result -> evidence, citations),
``rules`` (rule-based synthesis; ``decision``: what a rule decides; ``recorded``: the rules on
recording times), ``chat`` (the chat model for comparison and synthesis), ``answer`` (the steps),
``run`` (the whole answer without LangGraph).
"""

from vt_agent.multi.answer import Ask, ask_joint, ask_video, failure, synthesize
from vt_agent.multi.chat import ChatFn, as_chat
from vt_agent.multi.plan import DEFAULT_JOINT_MAX_VIDEOS, plan_question
from vt_agent.multi.run import answer_videos, ask_each
from vt_agent.multi.types import (
    Citation,
    Kind,
    Mode,
    MultiAnswer,
    Period,
    Plan,
    Span,
    SubQuestion,
    VideoEvidence,
    VideoFailure,
)

__all__ = [
    "DEFAULT_JOINT_MAX_VIDEOS",
    "Ask",
    "ChatFn",
    "Citation",
    "Kind",
    "Mode",
    "MultiAnswer",
    "Period",
    "Plan",
    "Span",
    "SubQuestion",
    "VideoEvidence",
    "VideoFailure",
    "answer_videos",
    "as_chat",
    "ask_each",
    "ask_joint",
    "ask_video",
    "failure",
    "plan_question",
    "synthesize",
]
