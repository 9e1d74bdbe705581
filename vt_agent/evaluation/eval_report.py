"""Evaluation reports in Markdown and HTML: per-type tables, counts, published numbers side by side.

For Video-Holmes, CG-Bench-Reasoning and VRBench the report puts the published Video-Thinker
table (docs/protocol.md, Published numbers) beside the run. For ActivityNet, STAR, ScaleLong, YouCook2 and LVBench it
says why the paper's columns of the same names are not comparable (the authors' unreleased
conversions). The HTML page is self-contained (inline CSS), in the style of the triage report.
"""

from __future__ import annotations

import html
from pathlib import Path

from vt_agent.evaluation.extractors import canonical_benchmark
from vt_agent.evaluation.metrics import CaptionScores
from vt_agent.evaluation.published import COMPARABLE, IN_DOMAIN, IN_DOMAIN_NOTE, MODELS, PUBLISHED
from vt_agent.evaluation.scoring import BenchmarkScore
from vt_agent.report import PAGE_CSS

__all__ = ["render_html", "render_markdown", "write_report"]


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}"


def _pooled(c: CaptionScores) -> str:
    return f"per video, mean of {c.n_groups}" if c.average == "video" else "corpus"


def _comparison(score: BenchmarkScore) -> tuple[str | None, str]:
    """(published column or None, the sentence saying how the run compares)."""
    raw = score.benchmark.lower().replace("_", "-")
    name = canonical_benchmark(score.benchmark)
    if name == "cg-bench" and "reasoning" not in raw:
        return (
            COMPARABLE[name],
            "The published column is CG-Bench-Reasoning; this run covers all CG-Bench sub-categories, so it is "
            "not the same question set (run the cg-bench-reasoning loader to compare). The paper does not say "
            "which sub-categories make its reasoning subset.",
        )
    if name in COMPARABLE:
        extra = ""
        if name == "cg-bench":
            extra = (
                " The paper does not say which sub-categories make CG-Bench-Reasoning; the subset used by this "
                "run is the loader's documented choice."
            )
        return (
            COMPARABLE[name],
            "Published figures: Video-Thinker paper, 16 frames, its own prompt and answer ladder (the "
            "video-thinker protocol). Compare like with like: same protocol, preset and question set."
            + extra,
        )
    if name in IN_DOMAIN:
        return None, IN_DOMAIN_NOTE
    return None, "The paper publishes no figure for this benchmark."


def _noise_label(score: BenchmarkScore) -> str:
    """What the totals are worth when some answers came from no trained model ("" when all did)."""
    random = score.counts.get("answers_from_random_weights", 0)
    scripted = score.counts.get("answers_from_scripted_traces", 0)
    parts = []
    if random:
        parts.append(f"{random} answer(s) from random weights: noise")
    if scripted:
        parts.append(f"{scripted} answer(s) scripted: not a model")
    return "; ".join(parts)


def _rows(score: BenchmarkScore) -> list[tuple[str, int, int, float]]:
    rows: list[tuple[str, int, int, float]] = []
    if score.accuracy is None:
        return rows
    for name, acc in score.accuracy.per_type.items():
        rows.append((name, acc.correct, acc.total, acc.fraction))
    o = score.accuracy.overall
    rows.append(("Overall", o.correct, o.total, o.fraction))
    return rows


def render_markdown(score: BenchmarkScore, title: str | None = None) -> str:
    """The report as Markdown."""
    out = [f"# {title or f'{score.benchmark} evaluation'}", ""]
    out += [f"> **Warning:** {w}\n" for w in score.warnings]
    out.append(f"Source: `{score.source}`")
    run = {k: v for k, v in score.run.items() if v}
    if run:
        out.append("")
        out.append("Run: " + ", ".join(f"{k} `{v}`" for k, v in run.items()))
    if score.accuracy is not None:
        out += [
            "",
            "## Accuracy",
            "",
            "| question type | correct / N | accuracy | % |",
            "|---|---:|---:|---:|",
        ]
        noise = _noise_label(score)
        for name, k, n, frac in _rows(score):
            label = f"**{name}**" if name == "Overall" else name
            if name == "Overall" and noise:
                label += f" ({noise})"
            if n == 0:
                out.append(f"| {label} | 0/0 | - | - |")
                continue
            out.append(f"| {label} | {k}/{n} | {frac:.4f} | {_pct(frac)} |")
    if score.figures:
        out += ["", "| figure | value |", "|---|---:|"]
        for key, value in score.figures.items():
            out.append(f"| {key.replace('_', ' ')} | {value:.4f} |")
    if score.grounding is not None:
        g = score.grounding
        out += [
            "",
            "## Temporal grounding (best IoU per gold span)",
            "",
            "| gold spans | mIoU | R@0.3 | R@0.5 |",
            "|---:|---:|---:|---:|",
            f"| {g.n_spans} | {_pct(g.miou)} | {_pct(g.recall_at_0_3)} | {_pct(g.recall_at_0_5)} |",
        ]
    if score.captions is not None:
        c = score.captions
        meteor = "n/a" if c.meteor is None else _pct(c.meteor)
        out += [
            "",
            "## Captions",
            "",
            "| captions | averaged | METEOR | ROUGE-L | BLEU-1 | BLEU-4 | CIDEr | tokenizer |",
            "|---:|---|---:|---:|---:|---:|---:|---|",
            f"| {c.n} | {_pooled(c)} | {meteor} | {_pct(c.rouge_l)} | {_pct(c.bleu_1)} | {_pct(c.bleu_4)} "
            f"| {_pct(c.cider)} | {c.tokenizer} |",
        ]
    column, sentence = _comparison(score)
    out += ["", "## Published numbers", ""]
    if column is not None and score.accuracy is not None:
        out += [f"| model | {column} (%) |", "|---|---:|"]
        for model in MODELS:
            out.append(f"| {model} (published) | {PUBLISHED[column][model]:.2f} |")
        noise = _noise_label(score)
        run_label = f"**this run** ({noise})" if noise else "**this run**"
        out.append(f"| {run_label} | **{_pct(score.accuracy.overall.fraction)}** |")
        out.append("")
    out.append(sentence)
    if score.counts:
        out += ["", "## Counts", "", "| what | n |", "|---|---:|"]
        out += [f"| {k.replace('_', ' ')} | {v} |" for k, v in score.counts.items()]
    if score.notes:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in score.notes]
    return "\n".join(out) + "\n"


_CSS = (
    PAGE_CSS
    + """
main { max-width: 1000px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin:12px 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; }
tr.total td { font-weight: 700; }
tr.run td { font-weight: 700; color: var(--accent); }
.bar { display:inline-block; width:120px; height:8px; background:#e9ecef; border-radius:4px; vertical-align:middle; }
.bar b { display:block; height:8px; background:var(--accent); border-radius:4px; }
.noise { color:#c92a2a; font-weight:600; }
.note { background:#fff4e6; border:1px solid #ffc078; padding:8px 12px; border-radius:6px; margin:8px 0; }
"""
)


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def render_html(score: BenchmarkScore, title: str | None = None) -> str:
    """The report as one self-contained HTML page."""
    head = title or f"{score.benchmark} evaluation"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(head)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_esc(head)}</h1>",
        f'<p class="sub">Source: <code>{_esc(score.source)}</code></p>',
    ]
    parts += [f'<p class="banner"><b>Warning:</b> {_esc(w)}</p>' for w in score.warnings]
    run = {k: v for k, v in score.run.items() if v}
    if run:
        parts.append(
            '<p class="sub">'
            + ", ".join(f"{_esc(k)} <code>{_esc(v)}</code>" for k, v in run.items())
            + "</p>"
        )
    if score.accuracy is not None:
        parts.append('<h2>Accuracy</h2><div class="card"><table>')
        parts.append(
            '<tr><th>question type</th><th class="num">correct / N</th><th class="num">accuracy</th>'
            '<th class="num">%</th><th></th></tr>'
        )
        noise = _noise_label(score)
        for name, k, n, frac in _rows(score):
            cls = ' class="total"' if name == "Overall" else ""
            label = _esc(name)
            if name == "Overall" and noise:
                label += f' <span class="noise">({_esc(noise)})</span>'
            parts.append(
                f'<tr{cls}><td>{label}</td><td class="num">{k}/{n}</td><td class="num">{frac:.4f}</td>'
                f'<td class="num">{_pct(frac)}</td><td><span class="bar"><b style="width:{100 * frac:.1f}%"></b>'
                "</span></td></tr>"
            )
        parts.append("</table></div>")
    if score.figures:
        parts.append('<div class="card"><table><tr><th>figure</th><th class="num">value</th></tr>')
        for key, value in score.figures.items():
            parts.append(f'<tr><td>{_esc(key.replace("_", " "))}</td><td class="num">{value:.4f}</td></tr>')
        parts.append("</table></div>")
    if score.grounding is not None:
        g = score.grounding
        parts.append(
            '<h2>Temporal grounding (best IoU per gold span)</h2><div class="card"><table>'
            '<tr><th class="num">gold spans</th><th class="num">mIoU</th><th class="num">R@0.3</th>'
            '<th class="num">R@0.5</th></tr>'
            f'<tr><td class="num">{g.n_spans}</td><td class="num">{_pct(g.miou)}</td>'
            f'<td class="num">{_pct(g.recall_at_0_3)}</td><td class="num">{_pct(g.recall_at_0_5)}</td></tr>'
            "</table></div>"
        )
    if score.captions is not None:
        c = score.captions
        meteor = "n/a" if c.meteor is None else _pct(c.meteor)
        parts.append(
            '<h2>Captions</h2><div class="card"><table><tr><th class="num">captions</th><th>averaged</th>'
            '<th class="num">METEOR</th><th class="num">ROUGE-L</th><th class="num">BLEU-1</th>'
            '<th class="num">BLEU-4</th><th class="num">CIDEr</th><th>tokenizer</th></tr>'
            f'<tr><td class="num">{c.n}</td><td>{_esc(_pooled(c))}</td><td class="num">{meteor}</td>'
            f'<td class="num">{_pct(c.rouge_l)}</td><td class="num">{_pct(c.bleu_1)}</td>'
            f'<td class="num">{_pct(c.bleu_4)}</td><td class="num">{_pct(c.cider)}</td>'
            f"<td>{_esc(c.tokenizer)}</td></tr></table></div>"
        )
    column, sentence = _comparison(score)
    parts.append("<h2>Published numbers</h2>")
    if column is not None and score.accuracy is not None:
        parts.append(
            f'<div class="card"><table><tr><th>model</th><th class="num">{_esc(column)} (%)</th></tr>'
        )
        for model in MODELS:
            parts.append(
                f'<tr><td>{_esc(model)} (published)</td><td class="num">{PUBLISHED[column][model]:.2f}</td></tr>'
            )
        noise = _noise_label(score)
        run_label = "this run" + (f' <span class="noise">({_esc(noise)})</span>' if noise else "")
        parts.append(
            f'<tr class="run"><td>{run_label}</td><td class="num">{_pct(score.accuracy.overall.fraction)}</td></tr>'
            "</table></div>"
        )
    parts.append(f'<p class="note">{_esc(sentence)}</p>')
    if score.counts:
        parts.append('<h2>Counts</h2><div class="card"><table>')
        parts += [
            f'<tr><td>{_esc(k.replace("_", " "))}</td><td class="num">{v}</td></tr>'
            for k, v in score.counts.items()
        ]
        parts.append("</table></div>")
    if score.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in score.notes) + "</ul>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    score: BenchmarkScore,
    *,
    md: str | Path | None = None,
    html_path: str | Path | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write the Markdown and/or HTML report; returns the paths written."""
    written: list[Path] = []
    for path, render in ((md, render_markdown), (html_path, render_html)):
        if path is None:
            continue
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(render(score, title), encoding="utf-8")
        written.append(p)
    return written
