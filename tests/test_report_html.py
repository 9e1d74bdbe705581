"""vt_agent.report: the triage HTML page (self-contained), rendered in headless Chromium when installed."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("av")
pytest.importorskip("langgraph")

from graphs.triage import merge_findings, plan_windows, triage_question
from vt_agent.report import render_triage_html, write_triage_html
from vt_agent.video import probe

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def make_report(video: Path, query: str = "someone crosses the lawn") -> dict[str, Any]:
    """A triage report as graphs.triage builds it, with hand-written window answers."""
    info = probe(video)
    windows = plan_windows(info.duration_s, 20, 5)
    cited = {2: [(33.0, 38.0)], 3: [(47.0, 52.0)], 4: [(47.5, 53.0), (70.0, 74.0)]}
    scans = []
    for i, (start, end) in enumerate(windows):
        spans = cited.get(i, [])
        scans.append(
            {
                "index": i,
                "start_s": start,
                "end_s": end,
                "answer": "A" if spans else "B",
                "format_ok": True,
                "segments": [
                    {
                        "index": k,
                        "start_s": a,
                        "end_s": b,
                        "time_text": "",
                        "caption": f"A person <b>walks</b> across the lawn ({a:.0f}-{b:.0f} s).",
                        "think": "The query matches.",
                    }
                    for k, (a, b) in enumerate(spans)
                ],
                "reasoning": f"Scripted reasoning for window {i + 1}.",
            }
        )
    return {
        "video": info.path,
        "info": {"duration_s": info.duration_s, "width": info.width, "height": info.height, "fps": info.fps,
                 "codec": info.codec},
        "query": query,
        "question": triage_question(query),
        "window_s": 20.0,
        "overlap_s": 5.0,
        "windows": scans,
        "findings": merge_findings(scans),
        "errors": [],
        "backend": "fake",
        "model": "scripted-fake",
        "scripted": True,
    }  # fmt: skip


def test_page_is_self_contained_and_escaped(vtest: Path) -> None:
    report = make_report(vtest, query='lawn <script>alert("x")</script>')
    page = render_triage_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<b>walks</b>" not in page and "&lt;b&gt;walks&lt;/b&gt;" in page
    # nothing loaded from elsewhere
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    assert "<link" not in page
    # one card per finding, thumbnails as data URIs (one per distinct cited span, up to 3 per card)
    assert len(report["findings"]) == 3
    assert page.count('class="card"') == 3
    assert page.count("data:image/jpeg;base64,") == 1 + 2 + 1
    # timeline bars positioned by time: finding 33-38 s on a 79.5 s clip
    first = report["findings"][0]
    assert (first["start_s"], first["end_s"]) == (47.0, 53.0)
    assert f"left:{100 * 47.0 / 79.5:.3f}%" in page
    assert f"left:{100 * 33.0 / 79.5:.3f}%" in page
    assert "Scripted output" in page


def test_no_thumbnails_and_no_findings(vtest: Path, tmp_path: Path) -> None:
    report = make_report(vtest)
    for w in report["windows"]:
        w["answer"], w["segments"] = "B", []
    report["findings"] = merge_findings(report["windows"])
    out = write_triage_html(report, tmp_path / "r.html", thumbnails=False)
    page = out.read_text(encoding="utf-8")
    assert "No window answered yes." in page and "data:image" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_renders_in_headless_chromium(vtest: Path, tmp_path: Path) -> None:
    from PIL import Image

    report = make_report(vtest)
    page = write_triage_html(report, tmp_path / "report.html")
    base = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [*base, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-images-total"] == "4"
    assert attrs["data-images-ok"] == "4"  # every thumbnail decoded (naturalWidth > 0)
    assert int(attrs["data-timeline-width"]) > 800
    assert attrs["data-hits-visible"] == "3"  # each finding bar inside the timeline, non-zero width

    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [*base, f"--user-data-dir={profile}", f"--screenshot={shot}", page.as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 1600)
    # the finding bars: accent-coloured pixels (#d9480f) in the upper part of the page
    px = img.load()
    assert px is not None
    accent = [
        (x, y)
        for y in range(0, 700, 2)
        for x in range(0, 1280, 2)
        if abs(px[x, y][0] - 0xD9) < 12 and abs(px[x, y][1] - 0x48) < 12 and abs(px[x, y][2] - 0x0F) < 12
    ]
    assert len(accent) > 200

    # three separate bars along the timeline: some pixel row crosses three accent clusters
    def clusters(row: int) -> int:
        xs = sorted(x for x, y in accent if y == row)
        return (1 + sum(1 for a, b in itertools.pairwise(xs) if b - a > 20)) if xs else 0

    assert max(clusters(y) for y in {y for _, y in accent}) == 3


def test_ticks_fall_on_round_times() -> None:
    from vt_agent.report import tick_times

    assert tick_times(5.28) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert tick_times(79.5) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert tick_times(250.0) == [30.0 * k for k in range(9)]
    assert tick_times(3 * 3600.0) == [1800.0 * k for k in range(7)]
    for duration in (0.7, 12.0, 59.9, 61.0, 600.0, 5000.0, 86400.0 * 30):
        ticks = tick_times(duration)
        assert len(ticks) <= 11 and ticks[0] == 0.0 and ticks[-1] <= duration
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        assert step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) or step % 86400 == 0


def test_axis_labels_and_duration_agree_with_the_spans(vtest: Path) -> None:
    report = make_report(vtest)
    page = render_triage_html(report, thumbnails=False)
    axis = re.search(r'<div class="axis" id="axis">(.*?)</div>', page)
    assert axis is not None
    labels = re.findall(r">([0-9:]+)</span>", axis.group(1))
    assert labels == ["00:00", "00:10", "00:20", "00:30", "00:40", "00:50", "01:00", "01:10"]
    assert f"left:{100 * 10 / 79.5:.3f}%" in axis.group(1)
    # 79.5 s is shown as 01:19.5, as the last window ends, not rounded up to 01:20
    assert "01:19.5 (79.5 s)" in page and "–01:19.5</td>" in page
    # a span past the probed duration stretches the timeline instead of leaving it
    report["windows"][-1]["segments"].append(
        {"index": 9, "start_s": 80.0, "end_s": 81.0, "time_text": "", "caption": "late", "think": ""}
    )
    assert "01:21 (81.0 s)" in render_triage_html(report, thumbnails=False)


def test_windows_without_an_answer_say_why(vtest: Path) -> None:
    report = make_report(vtest)
    w = report["windows"]
    w[0].update(answer=None, warnings=["the output was cut off at max tokens (1024): the trace is incomplete"])
    w[1].update(answer=None, answer_text=None, warnings=[])
    w[2].update(answer=None, answer_text="maybe", warnings=[])
    w[3].update(answer=None, error="cannot decode the window", segments=[])
    w[4].update(answer="A", answer_text=None)  # letter read by the fallback rules
    page = render_triage_html(report, thumbnails=False)
    assert "no answer: cut off at the token limit before an answer" in page
    assert "no answer: no &lt;answer&gt; tag, and no letter in the text" in page
    assert "no answer: the &lt;answer&gt; tag holds no option letter" in page
    assert "<td>error</td><td>cannot decode the window</td>" in page
    assert "yes (no &lt;answer&gt; tag: fallback rules)" in page
    assert 'id="fallback-banner">1 window(s) without an &lt;answer&gt; tag' in page
    assert page.count('class="win miss') == 3 and page.count('class="win err') == 1


def test_random_weight_banner(vtest: Path, tmp_path: Path) -> None:
    from vt_agent.tiny import MARKER, TINY_VERSION

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / MARKER).write_text(f'{{"version": "{TINY_VERSION}"}}', encoding="utf-8")
    report = make_report(vtest)
    report.update(backend="transformers", model=str(tiny), scripted=False)
    page = render_triage_html(report, thumbnails=False)
    assert 'class="banner noise" id="source-banner"><b>Random weights:</b>' in page
    assert "Scripted output" not in page
    report["model"] = str(tmp_path)  # a directory without the marker: a real model, no banner
    assert 'id="source-banner"' not in render_triage_html(report, thumbnails=False)
