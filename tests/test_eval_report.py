"""Evaluation reports: Markdown tables, HTML that parses, published numbers side by side."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from vt_agent.cli import main
from vt_agent.evaluation.eval_report import render_html, render_markdown
from vt_agent.evaluation.records import EvalResult, read_results, write_results
from vt_agent.evaluation.scoring import score_results

VOID = {"meta", "br", "img", "hr", "input", "link"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (
            f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        )
        self.stack.pop()


def _results(
    tmp_path: Path, benchmark: str, qtypes: list[str], backend: str = "vllm", model: str = "Video-Thinker-7B"
) -> Path:
    rows = []
    for i, qt in enumerate(qtypes):
        rows.append(
            EvalResult(
                key=f"k{i}",
                benchmark=benchmark,
                id=str(i),
                video="v.mp4",
                question_type=qt,
                problem="?",
                options=["a", "b"],
                answer="A",
                prediction="A" if i % 2 == 0 else "B",
                raw_output=f"<answer>{'A' if i % 2 == 0 else 'B'}</answer>",
                protocol="video-thinker",
                preset="video-thinker-16f",
                backend=backend,
                model=model,
                gold_spans=[(0.0, 4.0)],
                segments=[{"start_s": 0.0, "end_s": 2.0, "caption": "c"}],
            )
        )
    path = tmp_path / f"{benchmark}.jsonl"
    write_results(path, rows)
    return path


def test_video_holmes_report_with_published_numbers(tmp_path: Path) -> None:
    s = score_results("video-holmes", _results(tmp_path, "video-holmes", ["SR", "IMC", "SR", "TA"]))
    md = render_markdown(s)
    assert "| question type | correct / N | accuracy | % |" in md
    assert "| SR | 2/2 | 1.0000 | 100.00 |" in md
    assert "| **Overall** | 2/4 | 0.5000 | 50.00 |" in md
    assert (
        "| Video-Thinker-7B (published) | 43.22 |" in md
        and "| Qwen2.5-VL-7B-Instruct (published) | 34.02 |" in md
    )
    assert "| **this run** | **50.00** |" in md
    assert "mIoU" in md and "| 4 | 50.00 | 100.00 | 100.00 |" in md
    page = render_html(s)
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [] and checker.tables >= 3
    assert "43.22" in page and "Video-Thinker-7B" in page


@pytest.mark.parametrize(
    ("benchmark", "column", "value"),
    [("vrbench", "VRBench", "80.69"), ("cg-bench-reasoning", "CG-Bench-Reasoning", "33.25")],
)
def test_other_public_benchmarks(tmp_path: Path, benchmark: str, column: str, value: str) -> None:
    md = render_markdown(score_results(benchmark, _results(tmp_path, benchmark, ["x", "y"])))
    assert f"| model | {column} (%) |" in md and value in md


def test_cg_bench_all_categories_is_flagged(tmp_path: Path) -> None:
    md = render_markdown(score_results("cg-bench", _results(tmp_path, "cg-bench", ["x"])))
    assert "not the same question set" in md


def test_in_domain_benchmarks_are_not_compared(tmp_path: Path) -> None:
    s = score_results("activitynet-qa", _results(tmp_path, "activitynet-qa", ["Yes/No", "Color"]))
    md = render_markdown(s)
    assert "unreleased" in md and "does not compare" in md
    assert "78.72" not in md and "(published)" not in md


def test_report_command_writes_md_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _results(tmp_path, "video-holmes", ["SR", "PAR"])
    md, page = tmp_path / "out" / "r.md", tmp_path / "out" / "r.html"
    assert (
        main(
            [
                "eval",
                "report",
                str(results),
                "--benchmark",
                "video-holmes",
                "--md",
                str(md),
                "--html",
                str(page),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "1/2" in captured.out and "wrote" in captured.err
    assert "43.22" in md.read_text() and "<table>" in page.read_text()
    assert main(["eval", "report", str(results), "--benchmark", "video-holmes", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["accuracy"]["overall"]["total"] == 2


def test_scripted_and_tiny_runs_are_flagged_first(tmp_path: Path) -> None:
    from vt_agent.tiny import build_tiny_checkpoint

    fake = score_results(
        "video-holmes", _results(tmp_path, "video-holmes", ["SR", "TA"], "fake", "scripted-fake")
    )
    assert len(fake.warnings) == 1 and "SCRIPTED" in fake.warnings[0]
    md = render_markdown(fake)
    assert md.index("Warning") < md.index("## Accuracy")
    assert "SCRIPTED" in render_html(fake).split("<h2>")[0]
    tiny_dir = str(build_tiny_checkpoint())
    (tmp_path / "t").mkdir()
    tiny = score_results(
        "video-holmes", _results(tmp_path / "t", "video-holmes", ["SR"], "transformers", tiny_dir)
    )
    assert len(tiny.warnings) == 1 and "noise" in tiny.warnings[0]
    (tmp_path / "r").mkdir()
    real = score_results(
        "video-holmes",
        _results(tmp_path / "r", "video-holmes", ["SR"], "vllm", "ShijianW01/Video-Thinker-7B"),
    )
    assert real.warnings == [] and "Warning" not in render_markdown(real)


def _youcook2_results(tmp_path: Path) -> Path:
    captions = [  # (video, gold, prediction)
        ("v1.mp4", "A man slices an onion on a board.", "a man cuts an onion"),
        ("v1.mp4", "Pour the oil into the pan.", "the oil is poured in a pan"),
        ("v2.mp4", "Stir, then serve.", "stir then serve"),
    ]
    rows = [
        EvalResult(
            key=f"k{i}",
            benchmark="youcook2",
            id=f"{video[:2]}/{i}",
            video=video,
            problem="Provide a one-sentence caption for the provided video.",
            answer=gold,
            prediction=pred,
            raw_output=pred,
            protocol="official",
            preset="video-thinker-16f",
            backend="fake",
            model="m",
        )
        for i, (video, gold, pred) in enumerate(captions)
    ]
    path = tmp_path / "yc2.jsonl"
    write_results(path, rows)
    return path


def test_youcook2_report_averages_over_videos_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _youcook2_results(tmp_path)
    video = score_results("youcook2", path, meteor=False, caption_tokenizer="simple")
    corpus = score_results(
        "youcook2", path, meteor=False, caption_tokenizer="simple", caption_average="corpus"
    )
    assert video.captions is not None and corpus.captions is not None
    assert video.captions.average == "video" and video.captions.n_groups == 2
    assert corpus.captions.average == "corpus" and corpus.captions.n_groups == 1
    # v2's caption is exact: the video mean is lifted by it, the pooled corpus figure less so
    assert video.captions.bleu_1 > corpus.captions.bleu_1
    assert any("per video" in n for n in video.notes)
    md = render_markdown(video)
    assert "per video, mean of 2" in md and "CIDEr" in md and "BLEU-4" in md
    checker = _Checker()
    checker.feed(render_html(video))
    assert not checker.stack and checker.tables >= 1
    args = [
        "eval",
        "report",
        str(path),
        "--benchmark",
        "youcook2",
        "--no-meteor",
        "--caption-tokenizer",
        "simple",
    ]
    assert main([*args, "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)["captions"]
    assert data["average"] == "video" and data["n_videos"] == 2
    assert data["bleu_1"] == pytest.approx(video.captions.bleu_1)
    assert main([*args, "--caption-average", "corpus", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["captions"]["bleu_1"] == pytest.approx(corpus.captions.bleu_1)


def test_totals_say_when_answers_are_noise_scripted_or_fallback(tmp_path: Path) -> None:
    from vt_agent.tiny import MARKER, TINY_VERSION

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / MARKER).write_text(f'{{"version": "{TINY_VERSION}"}}', encoding="utf-8")
    path = _results(tmp_path, "video-holmes", ["SR", "IMC"], "transformers", str(tiny))
    rows = [r.model_copy(update={"raw_output": "B is it"}) if r.id == "1" else r for r in read_results(path)]
    write_results(path, rows)
    s = score_results("video-holmes", path)
    assert s.counts["answers_from_random_weights"] == 2 and s.counts["letters_from_fallback_rules"] == 1
    assert s.run["answer source"] == "random weights"
    md = render_markdown(s)
    assert "| **Overall** (2 answer(s) from random weights: noise) | 1/2 |" in md
    assert "| **this run** (2 answer(s) from random weights: noise) | **50.00** |" in md
    assert "| letters from fallback rules | 1 |" in md and "answer source `random weights`" in md
    page = render_html(s)
    assert 'Overall <span class="noise">(2 answer(s) from random weights: noise)</span>' in page
    assert 'this run <span class="noise">(2 answer(s) from random weights: noise)</span>' in page
    scripted = score_results("video-holmes", _results(tmp_path / "f", "video-holmes", ["SR"], "fake", "x"))
    assert "| **Overall** (1 answer(s) scripted: not a model) |" in render_markdown(scripted)
    real = score_results("video-holmes", _results(tmp_path / "r", "video-holmes", ["SR"]))
    assert "| **Overall** | 1/1 |" in render_markdown(real) and real.run["answer source"] == "model"
