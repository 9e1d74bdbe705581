"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 for the training-data tests.

``FakeLLMServer(respond)`` serves ``GET /v1/models`` and ``POST /v1/chat/completions`` from a
real HTTP server in a thread; ``respond(body)`` returns the reply text, or ``(status, json)`` to
answer an error. Every request body is kept in ``requests``.

The scripted "models" below answer from the prompt they get, the way a real LLM would, so that
the builders and curation are tested on realistic replies:

* :func:`caption_writer`: reads the timed captions of a question prompt and writes a question on
  what comes after the first moment, with a grounded trace;
* :func:`qa_writer`: writes a trace for an existing question from the prompt's known facts;
* :func:`overlap_judge`: answers a judge prompt with the option sharing most words with the notes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | tuple[int, dict[str, Any]]
Respond = Callable[[dict[str, Any]], Reply]

MODEL = "fake-writer-72b"


class FakeLLMServer:
    def __init__(self, respond: Respond, models: tuple[str, ...] = (MODEL,)) -> None:
        self.respond = respond
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(
                        200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}
                    )
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                if body.get("model") not in server.models:
                    self._send(
                        404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
                    )
                    return
                with server._lock:
                    server.requests.append(body)
                reply = server.respond(body)
                if isinstance(reply, tuple):
                    self._send(*reply)
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 100,
                            "completion_tokens": len(reply) // 4,
                            "total_tokens": 0,
                        },
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def user_text(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


_LINE_RE = re.compile(r"^(\d\d:\d\d(?:\.\d)?)-(\d\d:\d\d(?:\.\d)?): (.+)$", re.MULTILINE)


def timed_lines(text: str) -> list[tuple[str, str, str]]:
    """``(start, end, caption)`` lines of a prompt."""
    return [(m.group(1), m.group(2), m.group(3).strip()) for m in _LINE_RE.finditer(text)]


DISTRACTORS = ["The picture fades to black", "A dog runs across the frame", "It starts to rain heavily"]


def caption_writer(body: dict[str, Any]) -> str:
    """A valid question-and-trace reply built from the prompt's timed captions.

    First question of a video: what happens right after the first moment. When the prompt lists
    earlier questions, the question is on the first moment no earlier question used (and the one
    after it); with every moment used, it asks what happens right *before* the second moment;
    if that question was asked too, it repeats the first one (a duplicate, as a weak LLM would).
    """
    text = user_text(body)
    captions, _, rest = text.partition("Questions already written for this video")
    lines = timed_lines(captions)
    earlier = re.findall(r"^- (.+)$", rest, re.MULTILINE)
    _, marker, unused_text = rest.partition("which no earlier question used")
    unused = timed_lines(unused_text) if marker else []
    if unused:
        i = lines.index(unused[0])
        i = min(i, len(lines) - 2)
        return _after_reply(lines[i], lines[i + 1])
    if earlier:
        before = _before_reply(lines[0], lines[1])
        if _question(before) not in earlier:
            return before
    return _after_reply(lines[0], lines[1])


def _question(reply: str) -> str:
    m = re.search(r"<question>(.*?)</question>", reply)
    assert m is not None
    return m.group(1)


def _reply(question: str, right: str, first: tuple[str, str, str], second: tuple[str, str, str]) -> str:
    (s0, e0, c0), (s1, e1, c1) = first, second
    options = [DISTRACTORS[0], right.rstrip("."), DISTRACTORS[1], DISTRACTORS[2]]
    return (
        f"<question>{question}</question>\n"
        "<options>\n" + "".join(f"{'ABCD'[i]}. {o}\n" for i, o in enumerate(options)) + "</options>\n"
        "<correct>B</correct>\n<trace>I need to find the moment the question names and see what is next to it.\n"
        f"<time>{s0}-{e0}</time><caption>{c0}</caption><think>This bears on the question.</think>\n"
        "Let's see what happens next...\n"
        f"<time>{s1}-{e1}</time><caption>{c1}</caption><think>This comes right after it.</think>\n"
        f"A does not happen. B matches what is seen. C and D are not seen.\n<answer>B</answer></trace>"
    )


def _lower(caption: str) -> str:
    text = caption.rstrip(".")
    return text[0].lower() + text[1:]


def _after_reply(first: tuple[str, str, str], second: tuple[str, str, str]) -> str:
    return _reply(f"What happens right after this moment: {_lower(first[2])}?", second[2], first, second)


def _before_reply(first: tuple[str, str, str], second: tuple[str, str, str]) -> str:
    return _reply(f"What happens right before this moment: {_lower(second[2])}?", first[2], first, second)


def qa_trace(body: dict[str, Any], *, generic: bool = False) -> str:
    """A valid trace for a trace prompt: one group per known timed line (or per question span)."""
    text = user_text(body)
    answer = re.search(r"Correct answer: ([A-Z])", text)
    assert answer is not None
    letter = answer.group(1)
    option = re.search(rf"^{letter}\. (.+)$", text, re.MULTILINE)
    assert option is not None
    lines = timed_lines(text)
    if not lines:
        span = re.search(r"concerns (\S+)-(\S+) of the video", text)
        m = re.search(r"Video length: (\S+)", text)
        assert m is not None
        start, end = (span.group(1), span.group(2)) if span else ("00:00", m.group(1))
        lines = [(start, end, f"{option.group(1)} can be seen")]
    groups = "Let's look further...\n".join(
        f"<time>{s}-{e}</time><caption>{'The scene goes on as before' if generic else c}</caption>"
        "<think>This bears on the question.</think>\n"
        for s, e, c in lines
    )
    return (
        f"<trace>Let me check the video for the question.\n{groups}"
        f"The other options do not fit what is seen; {letter} does.\n<answer>{letter}</answer></trace>"
    )


def qa_writer(body: dict[str, Any]) -> str:
    return qa_trace(body)


_WORD_RE = re.compile(r"[a-z]{4,}")


def overlap_judge(body: dict[str, Any]) -> str:
    """The option with most words (4+ letters) in the notes; ties and no overlap pick the first."""
    text = user_text(body)
    notes, _, rest = text.partition("Question:")
    words = set(_WORD_RE.findall(notes.lower()))
    options = re.findall(r"^([A-O])\. (.+)$", rest, re.MULTILINE)
    scores = [(len(set(_WORD_RE.findall(o.lower())) & words), letter) for letter, o in options]
    best = max(scores, key=lambda s: s[0])
    return f"<answer>{best[1]}</answer>"
