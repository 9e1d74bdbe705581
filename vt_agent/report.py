"""A self-contained HTML page for a triage report: timeline of findings, thumbnails, captions, reasoning.

Everything is inline (CSS, JPEG thumbnails as ``data:`` URIs), so the file can be mailed or
attached to a ticket and opened anywhere. Thumbnails are taken from the video at the middle of
each cited span (PyAV, no cache); pass ``thumbnails=False`` to leave them out.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vt_agent.errors import VTAgentError
from vt_agent.result import FALLBACK_NOTE, SOURCE_NOTES, has_random_weights, mmss

__all__ = ["PAGE_CSS", "render_triage_html", "write_triage_html"]

# The look shared by vt-agent's HTML pages (triage and evaluation reports); each adds its own rules.
PAGE_CSS = """
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#5b6475; --accent:#d9480f; --line:#dde1e8; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:15px/1.5 system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; }
main { margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.banner { background:#fff4e6; border:1px solid #ffc078; padding:8px 12px; border-radius:6px; margin:12px 0; }
"""

_CSS = (
    PAGE_CSS
    + """
main { max-width: 1180px; }
.meta { display:grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap:6px 18px;
  background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
.meta div span { color: var(--muted); display:block; font-size:12px; text-transform:uppercase; }
.timeline { position:relative; height:64px; background:var(--card); border:1px solid var(--line);
  border-radius:8px; margin: 8px 0 4px; overflow:hidden; }
.timeline .win { position:absolute; top:0; height:7px; background:#e3e7ed; border-left:1px solid #aab2bf; border-right:1px solid #aab2bf; }
.timeline .win.odd { top:7px; }
.timeline .win.yes { background:#ffe8cc; }
.timeline .win.err { background:#ffa8a8; }
.timeline .win.miss { background:repeating-linear-gradient(45deg,#e3e7ed 0 4px,#adb5bd 4px 6px); }
.timeline .hit { position:absolute; top:18px; height:40px; min-width:6px; background:var(--accent);
  border-radius:4px; color:#fff; font-size:12px; font-weight:600; text-align:center; line-height:40px;
  text-decoration:none; }
.axis { position:relative; height:22px; color:var(--muted); font-size:12px; margin-bottom:4px; }
.axis span { position:absolute; top:5px; transform:translateX(-50%); white-space:nowrap; }
.axis span::before { content:""; position:absolute; left:50%; top:-5px; height:4px; border-left:1px solid #aab2bf; }
.axis span.first { transform:none; } .axis span.first::before { left:0; }
.axis span.last { transform:translateX(-100%); } .axis span.last::before { left:auto; right:0; }
.banner.noise { background:#ffe3e3; border-color:#ff8787; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px;
  margin: 12px 0; }
.card h3 { margin:0 0 6px; font-size:16px; }
.conf { display:inline-block; width:120px; height:8px; background:#e9ecef; border-radius:4px;
  vertical-align:middle; margin-left:8px; }
.conf b { display:block; height:8px; background:var(--accent); border-radius:4px; }
.thumbs { display:flex; flex-wrap:wrap; gap:10px; margin:10px 0; }
.thumbs figure { margin:0; }
.thumbs img { display:block; border-radius:4px; border:1px solid var(--line); max-width:240px; height:auto; }
.thumbs figcaption { font-size:12px; color:var(--muted); }
.seg { border-left:3px solid var(--accent); padding:2px 0 2px 10px; margin:8px 0; }
.seg .span { font-weight:600; font-variant-numeric: tabular-nums; }
.seg .think { color:var(--muted); }
details { margin-top:8px; } summary { cursor:pointer; color:var(--muted); }
pre { white-space:pre-wrap; background:#f1f3f5; padding:8px 10px; border-radius:6px; font-size:13px; }
table { border-collapse:collapse; width:100%; background:var(--card); }
td, th { border:1px solid var(--line); padding:4px 8px; text-align:left; font-size:13px;
  font-variant-numeric: tabular-nums; }
.none { color: var(--muted); font-style: italic; }
"""
)

_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img');
  var ok = 0;
  imgs.forEach(function (im) { var good = im.complete && im.naturalWidth > 0;
    im.setAttribute('data-rendered', good ? 'yes' : 'no'); if (good) { ok += 1; } });
  var bar = document.querySelector('.timeline').getBoundingClientRect();
  var hits = Array.prototype.map.call(document.querySelectorAll('.timeline .hit'),
    function (h) { var r = h.getBoundingClientRect(); return r.width > 0 && r.left >= bar.left - 1 &&
      r.right <= bar.right + 1; });
  document.body.setAttribute('data-images-ok', String(ok));
  document.body.setAttribute('data-images-total', String(imgs.length));
  document.body.setAttribute('data-timeline-width', String(Math.round(bar.width)));
  document.body.setAttribute('data-hits-visible', String(hits.filter(Boolean).length));
});
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _pct(t: float, duration: float) -> float:
    return max(0.0, min(100.0, 100.0 * t / duration)) if duration > 0 else 0.0


def _thumb(path: str, time_s: float, max_side: int, quality: int) -> str | None:
    from vt_agent.video import frame_at, jpeg_bytes

    try:
        img = frame_at(path, time_s, max_side=max_side, cache=False)
    except VTAgentError:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(img, quality=quality)).decode("ascii")


def _thumb_times(finding: Mapping[str, Any], limit: int) -> list[float]:
    spans = [(s["start_s"], s["end_s"]) for s in finding.get("segments", []) if s.get("start_s") is not None]
    if not spans:
        spans = [(finding["start_s"], finding["end_s"])]
    times = sorted({round((a + b) / 2, 2) for a, b in spans})
    if len(times) > limit:
        step = (len(times) - 1) / max(1, limit - 1)
        times = [times[round(i * step)] for i in range(limit)]
    return times


# Tick spacings a reader counts in: 1 s ... 10 s, 30 s, 1 min ... 1 h ...
_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_TICKS = 10


def tick_times(duration: float, max_ticks: int = MAX_TICKS) -> list[float]:
    """Round times for the axis of a ``duration``-second timeline: the smallest step of
    :data:`_TICK_STEPS` that gives at most ``max_ticks`` intervals, from 0 to the duration."""
    if not duration > 0:
        return [0.0]
    step = next((t for t in _TICK_STEPS if duration / t <= max_ticks), None)
    if step is None:  # longer than the steps go: whole days
        step = 86400 * int(duration // (86400 * max_ticks) + 1)
    return [float(k * step) for k in range(int(duration // step) + 1)]


def timeline_end(report: Mapping[str, Any]) -> float:
    """The length the page shows: the probed duration, stretched to cover every window and span."""
    info = report.get("info", {})
    ends = [float(info.get("duration_s") or 0.0)]
    ends += [float(w["end_s"]) for w in report.get("windows", [])]
    ends += [float(f["end_s"]) for f in report.get("findings", [])]
    for w in report.get("windows", []):
        ends += [float(seg["end_s"]) for seg in w.get("segments", []) if seg.get("end_s") is not None]
    return max(ends)


def _clock(seconds: float) -> str:
    """``MM:SS`` with tenths when the time is not whole (a duration of 79.5 s is 01:19.5, not 01:20)."""
    whole = int(seconds)
    tenths = round((seconds - whole) * 10)
    if tenths == 10:
        whole, tenths = whole + 1, 0
    return mmss(whole) + (f".{tenths}" if tenths else "")


def _timeline(report: Mapping[str, Any], duration: float) -> str:
    parts = ['<div class="timeline" id="timeline">']
    for w in report.get("windows", []):
        reason = no_answer_reason(w)
        cls = "win err" if reason == "error" else ("win miss" if reason else "win")
        cls += " yes" if w.get("answer") == "A" else ""
        cls += " odd" if w["index"] % 2 else ""
        left, right = _pct(w["start_s"], duration), _pct(w["end_s"], duration)
        parts.append(
            f'<div class="{cls}" style="left:{left:.3f}%;width:{max(0.2, right - left):.3f}%" '
            f'title="window {w["index"] + 1}: {_clock(w["start_s"])}-{_clock(w["end_s"])}, '
            f'{_e(_answer_word(w))}"></div>'
        )
    for f in report.get("findings", []):
        left, right = _pct(f["start_s"], duration), _pct(f["end_s"], duration)
        parts.append(
            f'<a class="hit" href="#finding-{f["rank"]}" style="left:{left:.3f}%;width:{max(0.6, right - left):.3f}%" '
            f'title="#{f["rank"]} {f["start"]}-{f["end"]} (confidence {f["confidence"]:.2f})">{f["rank"]}</a>'
        )
    parts.append("</div>")
    ticks = tick_times(duration)
    spans = []
    for k, t in enumerate(ticks):
        cls = ' class="first"' if k == 0 else (' class="last"' if _pct(t, duration) > 97 else "")
        spans.append(f'<span{cls} style="left:{_pct(t, duration):.3f}%">{mmss(t)}</span>')
    parts.append(f'<div class="axis" id="axis">{"".join(spans)}</div>')
    return "".join(parts)


def _spans_text(w: Mapping[str, Any]) -> str:
    spans = [s for s in w.get("segments", []) if s.get("start_s") is not None and s.get("end_s") is not None]
    return "; ".join(f"{mmss(s['start_s'])}-{mmss(s['end_s'])}" for s in spans)


def no_answer_reason(w: Mapping[str, Any]) -> str | None:
    """Why a window has no yes/no answer (error, cut off, no answer tag, ...); None when it has one."""
    if w.get("error"):
        return "error"
    answer = w.get("answer")
    if answer in ("A", "B"):
        return None
    if answer:
        return f"answered {answer}, which is not an option"
    warnings = [str(x) for x in w.get("warnings", [])]
    if w.get("finish_reason") == "length" or any("cut off" in x for x in warnings):
        return "cut off at the token limit before an answer"
    if w.get("answer_text") is not None:
        return "the <answer> tag holds no option letter"
    if any("wrote nothing" in x for x in warnings):
        return "the model wrote nothing"
    return "no <answer> tag, and no letter in the text"


def _fallback(w: Mapping[str, Any]) -> bool:
    if "answer_fallback" in w:
        return bool(w["answer_fallback"])
    has_tag_field = "answer_text" in w  # rows written before the field existed do not say
    return has_tag_field and bool(w.get("answer")) and w["answer_text"] is None and not w.get("error")


def _answer_word(w: Mapping[str, Any]) -> str:
    reason = no_answer_reason(w)
    if reason == "error":
        return "error"
    if reason is not None:
        return f"no answer: {reason}"
    word = {"A": "yes", "B": "no"}[w["answer"]]
    return f"{word} (no <answer> tag: fallback rules)" if _fallback(w) else word


def report_source(report: Mapping[str, Any]) -> str:
    """Where the report's answers came from: ``model``, ``random weights`` or ``scripted``."""
    if report.get("source") in SOURCE_NOTES:
        return str(report["source"])
    sources = {w.get("source") for w in report.get("windows", []) if not w.get("error")}
    for name in ("scripted", "random weights"):
        if name in sources:
            return name
    if report.get("scripted"):
        return "scripted"
    model = str(report.get("model") or "")
    return "random weights" if report.get("backend") != "fake" and has_random_weights(model) else "model"


def _banners(report: Mapping[str, Any]) -> list[str]:
    source = report_source(report)
    out = []
    if source == "scripted":
        out.append(
            '<div class="banner" id="source-banner">Scripted output: a fake backend wrote these traces '
            "(hand-written text, not a model's answer).</div>"
        )
    elif source == "random weights":
        out.append(
            '<div class="banner noise" id="source-banner"><b>Random weights:</b> the model '
            f"<code>{_e(report.get('model'))}</code> is a random-weight checkpoint; its answers are noise, "
            "so these findings mean nothing about the video.</div>"
        )
    fallback = [w for w in report.get("windows", []) if _fallback(w)]
    if fallback:
        out.append(
            f'<div class="banner" id="fallback-banner">{len(fallback)} window(s) without an &lt;answer&gt; '
            f"tag: {_e(FALLBACK_NOTE.split(': ', 1)[1])} (windows "
            f"{', '.join(str(w['index'] + 1) for w in fallback)}).</div>"
        )
    return out


def _finding_card(
    f: Mapping[str, Any], windows: Mapping[int, Mapping[str, Any]], video: str, thumbs: bool, max_side: int
) -> str:
    conf = float(f["confidence"])
    out = [
        f'<section class="card" id="finding-{f["rank"]}">',
        f"<h3>#{f['rank']} &nbsp; {_e(f['start'])} – {_e(f['end'])} "
        f'<span class="sub">({f["start_s"]:.1f} s – {f["end_s"]:.1f} s)</span></h3>',
        f'<div>confidence {conf:.2f}<span class="conf"><b style="width:{100 * conf:.0f}%"></b></span>'
        f" &nbsp; windows {', '.join(str(w + 1) for w in f['windows'])}"
        f"{' &nbsp; (the model said yes without citing a span: whole window)' if f.get('whole_window') else ''}</div>",
    ]
    if thumbs:
        figs = []
        for t in _thumb_times(f, 3):
            uri = _thumb(video, t, max_side, 75)
            if uri is not None:
                figs.append(f'<figure><img src="{uri}" alt="frame at {mmss(t)}"><figcaption>{_e(mmss(t))} '
                            f"({t:.1f} s)</figcaption></figure>")  # fmt: skip
        if figs:
            out.append('<div class="thumbs">' + "".join(figs) + "</div>")
    for seg in f.get("segments", []):
        out.append(
            '<div class="seg">'
            f'<div><span class="span">{_e(mmss(seg["start_s"]))}–{_e(mmss(seg["end_s"]))}</span> '
            f'<span class="sub">window {seg["window"] + 1}, step {seg["index"] + 1}</span></div>'
            f"<div>{_e(seg.get('caption')) or '<span class=none>no caption</span>'}</div>"
            f'<div class="think">{_e(seg.get("think"))}</div></div>'
        )
    for w_index in f["windows"]:
        w = windows.get(w_index)
        if w and w.get("reasoning"):
            out.append(
                f"<details><summary>Reasoning of window {w_index + 1} ({_clock(w['start_s'])}–{_clock(w['end_s'])})"
                f"</summary><pre>{_e(w['reasoning'])}</pre></details>"
            )
    out.append("</section>")
    return "".join(out)


def render_triage_html(
    report: Mapping[str, Any], *, thumbnails: bool = True, max_side: int = 240, title: str | None = None
) -> str:
    """The HTML page for a triage report (the ``report`` output of ``graphs.triage``)."""
    info = report.get("info", {})
    duration = timeline_end(report)
    video = str(report.get("video", ""))
    name = Path(video).name
    heading = title or f"Triage: {report.get('query', '')}"
    windows = {int(w["index"]): w for w in report.get("windows", [])}
    findings: Sequence[Mapping[str, Any]] = report.get("findings", [])
    meta = [
        ("video", name),
        ("duration", f"{_clock(duration)} ({duration:.1f} s)"),
        (
            "size",
            f"{info.get('width', '?')}×{info.get('height', '?')}, {float(info.get('fps') or 0):.2f} fps",
        ),
        ("codec", info.get("codec", "")),
        (
            "windows",
            f"{len(windows)} × {report.get('window_s', 0):g} s, overlap {report.get('overlap_s', 0):g} s",
        ),
        ("findings", str(len(findings))),
        ("model", f"{report.get('model', '')} ({report.get('backend', '')})"),
    ]
    body = [
        "<main>",
        f"<h1>{_e(heading)}</h1>",
        f'<p class="sub">{_e(video)}</p>',
    ]
    body.extend(_banners(report))
    body.append(
        '<div class="meta">'
        + "".join(f"<div><span>{_e(k)}</span>{_e(v)}</div>" for k, v in meta)
        + f'<div style="grid-column:1/-1"><span>question asked per window</span>{_e(report.get("question", ""))}'
        "</div></div>"
    )
    body.append("<h2>Timeline</h2>")
    body.append(_timeline(report, duration))
    body.append(
        '<p class="sub">Top bands: the windows, alternating rows (orange: the model said yes; striped: no '
        "answer; red: error). Bars: findings, numbered by rank.</p>"
    )
    body.append("<h2>Findings</h2>")
    if findings:
        body.extend(_finding_card(f, windows, video, thumbnails, max_side) for f in findings)
    else:
        body.append('<p class="none">No window answered yes.</p>')
    rows = "".join(
        f"<tr><td>{w['index'] + 1}</td><td>{_clock(w['start_s'])}–{_clock(w['end_s'])}</td>"
        f"<td>{_e(_answer_word(w))}</td><td>{_e(w.get('error') or _spans_text(w))}</td></tr>"
        for w in windows.values()
    )
    body.append(
        "<h2>Windows</h2><table><tr><th>#</th><th>span</th><th>answer</th><th>spans / error</th></tr>"
    )
    body.append(rows + "</table>")
    body.append("</main>")
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + f"<script>{_CHECK_SCRIPT}</script></body></html>\n"
    )


def write_triage_html(report: Mapping[str, Any], path: str | Path, **options: Any) -> Path:
    """Write :func:`render_triage_html` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.write_text(render_triage_html(report, **options), encoding="utf-8")
    return out
