"""``vt-agent reason``: JSON only on stdout, live view on stderr, clean errors, settings precedence."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from vt_agent.cli import main
from vt_agent.result import Result

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What does he do in the middle of the clip?"
OPTS = [
    "-o",
    "Eats a flower",
    "-o",
    "Stretches his arms and yawns",
    "-o",
    "Jumps into a river",
    "-o",
    "Waves",
]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    return subprocess.run(
        [sys.executable, "-m", "vt_agent.cli", "reason", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**base, **(env or {})},
        timeout=120,
    )


def test_json_stdout_is_only_the_result(bbb: Path) -> None:
    out = _run(str(bbb), QUESTION, *OPTS, "--backend", "fake", "--json", "--thumbnails", "1")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # nothing but the JSON on stdout
    assert data["answer"] == "B" and len(data["segments"]) == 3 and data["schema_version"] == "1"
    assert data["segments"][1]["start"] == "00:02" and data["scripted"] is True
    Result.model_validate(data)
    assert len(data["thumbnails"]) == 1
    # the live view and the notice went to stderr
    assert "SCRIPTED" in out.stderr and "[00:02-00:04]" in out.stderr and "[decode" in out.stderr
    assert "caption:" in out.stderr


def test_summary_and_settings_from_the_environment(bbb: Path, tmp_path: Path) -> None:
    out = _run(
        str(bbb), QUESTION, *OPTS, "--save-thumbnails", str(tmp_path), "--thumbnails", "2",
        env={"VT_AGENT_BACKEND": "fake"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Answer: B. Stretches his arms and yawns" in out.stdout
    assert "[00:02-00:04]" in out.stdout and "Format check: ok" in out.stdout and "Timings:" in out.stdout
    assert "scripted" in out.stdout
    jpgs = sorted(tmp_path.glob("*.jpg"))
    assert len(jpgs) == 2 and all(p.read_bytes()[:2] == b"\xff\xd8" for p in jpgs)


def test_explicit_flag_beats_the_environment(bbb: Path) -> None:
    # the environment asks for an unreachable server; --backend fake wins
    out = _run(
        str(bbb), QUESTION, "--backend", "fake", "--json", "-q",
        env={"VT_AGENT_BACKEND": "openai", "VT_AGENT_BASE_URL": "http://127.0.0.1:9/v1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["backend"] == "fake"
    assert "[decode" not in out.stderr  # --quiet: no live view, notices only


def test_window_and_extra_videos(bbb: Path, city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "reason",
            str(bbb),
            "q",
            "--video",
            str(city),
            "--backend",
            "fake",
            "--json",
            "--start",
            "1",
            "--backend-option",
            "chunk_chars=3",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    assert [v["path"] for v in data["videos"]] == [str(bbb.resolve()), str(city.resolve())]
    assert data["videos"][0]["window"][0] == pytest.approx(1.0, abs=0.05)
    assert "video 1 [" in captured.err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["missing.mp4", "q", "--backend", "fake"], "missing.mp4: no such file"),
        (["{bbb}", "q", "--backend", "fake", "--start", "3", "--end", "2"], "--end"),
        (["{bbb}", "q", "--backend", "fake", "--max-tokens", "0"], "argument --max-tokens: must be at least 1"),
        (["{bbb}", "q", "--backend", "fake", "--preset", "nope"], "nope"),
        (
            ["{bbb}", "q", "--backend", "transformers", "--model", "/no/such/model", "--device", "cpu"],
            "model /no/such/model: no such folder",
        ),
        (
            [
                "{bbb}",
                "q",
                "--backend",
                "transformers",
                "--model",
                "someone/Video-Thinker-7B",
                "--device",
                "cpu",
            ],
            "16 GB",
        ),
        (["{bbb}", "q", "--backend", "fake", "-o", "A. x", "-o", "y"], "lettered"),
        (
            ["{bbb}", "q", "--backend", "fake", "--backend-option", "nope=3"],
            "unexpected keyword argument 'nope'",
        ),
        (["{bbb}", "q", "--backend", "fake", "--backend-option", "nope"], "KEY=VALUE"),
    ],
)
def test_errors_exit_2_without_traceback(bbb: Path, args: list[str], words: str) -> None:
    out = _run(*[a.replace("{bbb}", str(bbb)) for a in args])
    assert out.returncode == 2
    assert out.stdout == ""
    assert "Traceback" not in out.stderr and words in out.stderr


def test_bad_env_backend_is_reported(bbb: Path) -> None:
    out = _run(str(bbb), "q", env={"VT_AGENT_BACKEND": "gpt"})
    assert out.returncode == 2 and "VT_AGENT_BACKEND" in out.stderr and "Traceback" not in out.stderr


def test_thumbnail_files_decode(bbb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reason", str(bbb), QUESTION, *OPTS, "--backend", "fake", "--json", "--thumbnails", "3"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    for t in data["thumbnails"]:
        assert base64.b64decode(t["jpeg_base64"])[:2] == b"\xff\xd8"


def test_auto_without_gpu_runs_the_tiny_model_with_a_loud_notice(bbb: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    out = _run(
        str(bbb), QUESTION, *OPTS, "--device", "cpu", "--max-tokens", "16", "--json",
        env={"XDG_CACHE_HOME": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["backend"] == "transformers" and "tiny" in data["model"]
    assert data["finish_reason"] == "length" and data["timings"]["generated_chars"] > 0
    assert "NOISE" in out.stderr and "--backend openai --base-url" in out.stderr
    assert "[load" in out.stderr and "[generate]" in out.stderr


def test_live_view_and_summary_rendering() -> None:
    import io

    from vt_agent.backends.fake_backend import FakeBackend
    from vt_agent.console import LiveView, summary
    from vt_agent.events import TokenEvent
    from vt_agent.reasoner import VideoReasoner

    plain = io.StringIO()
    view = LiveView(plain, color=False)
    for _ in range(100):
        view.handle(TokenEvent("abcd"))
    assert plain.getvalue() == ""  # no counter off a terminal
    tty = io.StringIO()
    view = LiveView(tty, color=True)
    for _ in range(100):
        view.handle(TokenEvent("abcd"))
    view.write("next")
    assert "[generate] 400 chars" in tty.getvalue() and tty.getvalue().endswith("\r\033[Knext\n")

    result = VideoReasoner(FakeBackend("no-tags")).reason(
        ROOT / "tests" / "data" / "videos" / "cityCC0.mpg", "How many shots?", ["1", "2", "3", "4"]
    )
    text = summary(result)
    assert "\033[" not in text
    assert "(no <answer> tag: read by the fallback rules)" in text and "Cited segments: none" in text
    assert "\033[" in summary(result, color=True)


SERVED_TRACE = "<time>00:01-00:02</time><caption>a rabbit</caption><think>t</think><answer>B</answer>"


class _Server(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible chat-completions server streaming SERVED_TRACE."""

    protocol_version = "HTTP/1.1"
    posts: ClassVar[list[dict[str, object]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(
            json.dumps({"object": "list", "data": [{"id": "vt", "object": "model"}]}).encode(),
            "application/json",
        )

    def do_POST(self) -> None:
        _Server.posts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        pieces = [SERVED_TRACE[i : i + 9] for i in range(0, len(SERVED_TRACE), 9)]
        events: list[dict[str, Any]] = [
            {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces
        ]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(body.encode(), "text/event-stream")


@pytest.fixture()
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _Server.posts = []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_openai_endpoint_by_flag_and_by_environment(bbb: Path, server: str) -> None:
    by_flag = _run(str(bbb), QUESTION, *OPTS, "--backend", "openai", "--base-url", server, "--json")
    assert by_flag.returncode == 0, by_flag.stderr
    data = json.loads(by_flag.stdout)
    assert data["backend"] == "openai" and data["model"] == "vt" and data["answer"] == "B"
    assert data["segments"][0]["start_s"] == 1.0 and not data["scripted"]
    by_env = _run(str(bbb), QUESTION, "--json", env={"VT_AGENT_BASE_URL": server})  # auto -> openai
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["backend"] == "openai"
    assert len(_Server.posts) == 2 and _Server.posts[0]["model"] == "vt"


def test_save_thumbnails_checks_its_folder_and_implies_thumbnails(
    bbb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "file.jpg"
    a_file.write_bytes(b"x")
    assert (
        main(["reason", str(bbb), QUESTION, "--backend", "fake", "-q", "--save-thumbnails", str(a_file)]) == 2
    )
    assert "--save-thumbnails" in capsys.readouterr().err
    out_dir = tmp_path / "thumbs"
    assert (
        main(["reason", str(bbb), QUESTION, "--backend", "fake", "-q", "--save-thumbnails", str(out_dir)])
        == 0
    )
    assert len(list(out_dir.glob("thumb-*.jpg"))) == 3  # one per cited span of the scripted trace


def test_start_past_the_end_and_unknown_flag_are_named(bbb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reason", str(bbb), QUESTION, "--backend", "fake", "--start", "90"]) == 2
    assert "--start (90) is not before the end of the video" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["reason", str(bbb), QUESTION, "--bogus"])
    assert exit_info.value.code == 2
    assert "vt-agent reason: error: unrecognized arguments: --bogus" in capsys.readouterr().err
