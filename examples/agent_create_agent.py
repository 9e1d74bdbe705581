"""A LangChain agent (``langchain.agents.create_agent``) that answers with the video_reason tool.

    python examples/agent_create_agent.py [--chat-model openai:gpt-5-mini] [--base-url http://gpu-box:8000/v1]

The agent's chat model calls ``video_reason`` on a clip in the allowed folder, the tool's
``progress``/``segment``/``answer`` events stream live (``stream_mode="custom"``), and the model
answers from the tool's JSON. By default both models are scripted, so this runs anywhere: the chat
model below asks once and answers from what the tool returned, and the fake video backend replays
a hand-written trace (the last line says so). ``--chat-model`` takes any ``init_chat_model``
name (its provider package installed, e.g. ``langchain-openai``); ``--base-url`` names a
Video-Thinker server (``vt-agent serve``) for the video model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from graphs import GraphContext
from graphs.tools import make_video_reason_tool
from vt_agent.backends import load_backend
from vt_agent.errors import VTAgentError
from vt_agent.reasoner import VideoReasoner

VIDEOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
QUESTION = "What animal is the main character of bigbuckbunny.mp4: a fox, a rabbit, a bear or a squirrel?"


class ScriptedChatModel(BaseChatModel):
    """Stands in for a real chat model: calls video_reason once, then answers from its JSON."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            args = {"videos": ["bigbuckbunny.mp4"], "question": "What animal is the main character?",
                    "options": ["A fox", "A rabbit", "A bear", "A squirrel"]}  # fmt: skip
            reply = AIMessage("", tool_calls=[{"name": "video_reason", "args": args, "id": "call-1"}])
        elif results[-1].status == "error":
            reply = AIMessage(f"The video tool failed: {results[-1].content}")
        else:
            found = json.loads(str(results[-1].content))
            first = found["segments"][0]
            reply = AIMessage(f"Answer {found['answer']}, seen at {first['span']}: {first['caption']}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


async def main(chat_model: str | None, base_url: str | None) -> None:
    if chat_model:
        from langchain.chat_models import init_chat_model

        model: Any = init_chat_model(chat_model)
    else:
        model = ScriptedChatModel()
    backend = load_backend("openai", base_url=base_url) if base_url else load_backend("fake")
    context = GraphContext(reasoner=VideoReasoner(backend))
    tool = make_video_reason_tool(roots=[VIDEOS])  # the model may read videos in this folder only
    agent = create_agent(model, [tool], context_schema=GraphContext)
    inputs = {"messages": [{"role": "user", "content": QUESTION}]}
    async for mode, chunk in agent.astream(inputs, context=context, stream_mode=["updates", "custom"]):
        if mode == "custom" and chunk["type"] == "segment":  # the tool's events, while it runs
            print(f"  [video_reason] {chunk['start']}-{chunk['end']}  {chunk['caption']}")
        elif mode == "custom" and chunk["type"] == "progress":
            print(f"  [video_reason] ({chunk['stage']}: {chunk['message']})")
        elif mode == "updates":
            for node, update in chunk.items():
                for message in update["messages"]:
                    print(f"[{node}] {message.type}: {message.content or message.tool_calls}")
    if backend.scripted:
        print("(video model: the scripted fake backend, a hand-written trace, not a model's answer)")
    await backend.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chat-model", help="an init_chat_model name, e.g. openai:gpt-5-mini (default: scripted)"
    )
    parser.add_argument("--base-url", help="OpenAI-compatible Video-Thinker server (default: scripted fake)")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.chat_model, args.base_url))
    except VTAgentError as exc:  # e.g. the video model's server is down: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
