"""Answer extractors: each benchmark's official rule for turning a model's output into an answer.

:func:`extract_answer` is the single entry point (``eval run`` calls it on every output). The
rules are ports of the official scorers, quirks included, so that figures agree with the
benchmarks' own scripts (parity is tested against the official code, see ``tests/oracles/``):

``video-holmes`` (TencentARC/Video-Holmes ``evaluate.py``)
    The last ``<answer>…</answer>`` content (case-sensitive tags), else the whole output; then the
    letters **in order A..F**, the first for which ``"X "``, ``"X:"`` or ``"[X"`` occurs anywhere in
    it; then the first of A..F that occurs at all as a capital letter; else ``WRONG`` (None here).
    So an ``"A "`` anywhere in an untagged reasoning beats a later ``"E:"``, and a capital "A" in
    "A man" or "I" does not count but one in "Alice" does.
``vrbench`` (OpenGVLab/VRBench ``evaluation/calculate_scores.py::extract_mcq_answer``)
    ``\\boxed{X}`` → ``<Answer>X`` → the last line-initial ``X.`` → the last of the "answer is X"
    patterns → the last ``X.`` / ``X)`` / ``X:`` → the last ``X`` followed by spaces → a
    punctuation-stripped, lower-cased pass that picks up the article "a" as option A → the last
    standalone capital. Letters A-E, case-insensitive.
``cg-bench`` (CG-Bench/CG-Bench ``run/utils.py::post_process``, modes ``long_acc``/``clue_acc``)
    The ``"result"`` of the first fenced ````` ```json ````` block (bare identifiers after ``": "``
    are quoted first, so ``{"result": B}`` reads); compared exactly with ``right_answer``. When
    that fails, the official scorer counts the answer **correct if the key letter occurs anywhere
    as a standalone A-H** (a lenient fallback); with ``item`` given this function returns the key
    letter in that case, without it the last standalone A-H.
``lvbench`` (THUDM/LVBench ``lvbench/utils/answer_util.py::polish_answer``; scored by exact match in
    ``lvbench/metrics/compute_accuracy.py``)
    Stripped, cut at the first ``)``, the text after ``(`` if any, the first word, its first
    character. ``scalelong`` publishes no scorer; it gets the same rule.
``activitynet-qa`` (MILVLG/activitynet-qa ``evaluation/eval.py``: exact string match)
    The last ``<answer>`` content if the output has one, else the whole output, stripped; the
    match itself is exact, with no case folding, as officially.
``video-r1`` (tulerfeng/Video-R1 ``src/eval_bench.py``)
    The first ``<answer>…</answer>`` content, else the whole output, stripped; exact match with the
    ground-truth ``<answer>`` content, no letter normalisation ("E) Le Minerale" is not "E").
``youcook2``
    Captions: the whole output, stripped.
``video-thinker``, ``star``, ``vt-agent``
    The paper's ladder (docs/protocol.md, Answer rules, :func:`vt_agent.trace.answer_letter`).
``vt-agent`` open questions (a JSONL record without ``options``)
    :func:`open_answer`: the last ``<answer>`` content, else the whole output, stripped; scored
    by :func:`answer_matches` with :func:`normalize_open_answer` on both sides (lower case,
    punctuation and the articles a/an/the removed, whitespace collapsed: the SQuAD
    normalisation), so "The rabbit." matches "rabbit". ActivityNet-QA keeps its official exact
    match.

With ``protocol="video-thinker"`` every multiple-choice benchmark uses the paper's ladder;
open-ended sets (ActivityNet-QA, YouCook2) are refused under that protocol.

Over 400 lines: one official answer extractor per benchmark, each a port checked against the original code, kept side by side so their differences stay visible.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from vt_agent.answers import tag_blocks
from vt_agent.errors import ConfigError

__all__ = [
    "BENCHMARKS",
    "OPEN_ENDED",
    "PROTOCOLS",
    "activitynet_qa_answer",
    "answer_matches",
    "canonical_benchmark",
    "cg_bench_answer",
    "cg_bench_json_result",
    "extract_answer",
    "item_field",
    "lvbench_letter",
    "normalize_open_answer",
    "open_answer",
    "paper_letter",
    "video_holmes_letter",
    "video_r1_answer",
    "vrbench_letter",
]

BENCHMARKS = (
    "video-holmes",
    "cg-bench",
    "vrbench",
    "activitynet-qa",
    "star",
    "youcook2",
    "scalelong",
    "lvbench",
    "video-r1",
    "vt-agent",
    "video-thinker",
)
OPEN_ENDED = frozenset({"activitynet-qa", "youcook2"})
PROTOCOLS = ("official", "video-thinker")

_ALIASES = {
    "videoholmes": "video-holmes",
    "holmes": "video-holmes",
    "cgbench": "cg-bench",
    "cgbenchreasoning": "cg-bench",
    "cgbenchmini": "cg-bench",
    "vrbench": "vrbench",
    "vrbenchmcq": "vrbench",
    "activitynetqa": "activitynet-qa",
    "anetqa": "activitynet-qa",
    "star": "star",
    "youcook2": "youcook2",
    "youcookii": "youcook2",
    "scalelong": "scalelong",
    "lvbench": "lvbench",
    "videor1": "video-r1",
    "vtagent": "vt-agent",
    "jsonl": "vt-agent",
    "videothinker": "video-thinker",
    "paper": "video-thinker",
}


def canonical_benchmark(name: str) -> str:
    """The canonical benchmark name for ``name`` (case, ``-``/``_``/spaces ignored)."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    try:
        return _ALIASES[key]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def item_field(item: object | None, *names: str) -> object | None:
    """The first of ``names`` present on ``item`` (a mapping key or an attribute), else None."""
    if item is None:
        return None
    for name in names:
        if isinstance(item, Mapping):
            found: object = item.get(name)
        else:
            found = getattr(item, name, None)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------
# Video-Holmes

_HOLMES_MARK = re.compile(r"[A-F][ :]|\[[A-F]")  # no match hides another letter's (see trace.py)


def video_holmes_letter(raw_output: str | None) -> str | None:
    """The Video-Holmes ``evaluate.py`` letter ladder; None where it gives ``WRONG``."""
    if raw_output is None:
        return None
    found = tag_blocks(raw_output, "answer", ignore_case=False)
    choice = found[-1].strip() if found else raw_output
    # the first rung in one pass over the text (the official loop scans it three times a letter)
    marked: set[str] = {
        m[1] if m[0] == "[" else m[0] for m in _HOLMES_MARK.findall(choice)
    }  # "L ", "L:", "[L"
    if marked:
        return min(marked)
    for letter in "ABCDEF":
        if letter in choice:
            return letter
    return None


# ---------------------------------------------------------------------------------------------
# VRBench

# The official pattern reads "(?!<=\d)", a negative look-ahead for the text "<=" + digit (the
# intended look-behind was mistyped); kept as is.
_VR_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_VR_COMMA = re.compile(r"(\d)(\,)(\d)")
_VR_PUNCT = (
    ";",
    r"/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_VR_BOXED = re.compile(r"\\boxed\{([A-E])\}", re.IGNORECASE)
_VR_TAG = re.compile(r"<Answer>\s*([A-E])", re.IGNORECASE)
_VR_LINE_OPTION = re.compile(r"^([A-E])\.\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_VR_STATEMENTS = tuple(
    re.compile(p + r"[:\s]+([A-E])(?:\s|$|\.|,)", re.IGNORECASE)
    for p in ("Answer", "answer is", "correct answer", "final answer", "final", "therefore", "conclusion")
)
_VR_LABELS = tuple(re.compile(p, re.IGNORECASE) for p in (r"([A-E])\.", r"([A-E])\)", r"([A-E]):"))
_VR_SPACED = re.compile(r"(?:^|\n|\s)([A-E])\s+(?=[A-Z]|$|\n)", re.IGNORECASE | re.MULTILINE)
_VR_WORD = re.compile(r"\b([A-E])\b", re.IGNORECASE)
_VR_WORD_CAPS = re.compile(r"\b([A-E])\b")


def _vrbench_strip_punctuation(text: str) -> str:
    out = text
    has_number_comma = _VR_COMMA.search(text) is not None
    for p in _VR_PUNCT:
        # the tests look at the original text, the replacements accumulate in ``out``
        if p + " " in text or " " + p in text or has_number_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    # officially ``sub("", out, re.UNICODE)``: re.UNICODE (32) lands in ``count``
    return _VR_PERIOD.sub("", out, count=int(re.UNICODE))


def vrbench_letter(raw_output: str | None) -> str | None:
    """VRBench ``extract_mcq_answer``: the option letter A-E, or None."""
    if not raw_output:
        return None
    m = _VR_BOXED.search(raw_output)
    if m:
        return m.group(1).upper()
    m = _VR_TAG.search(raw_output)
    if m:
        return m.group(1).upper()
    lines = _VR_LINE_OPTION.findall(raw_output.strip())
    if lines:
        return str(lines[-1][0]).upper()
    statements: list[str] = []
    for pattern in _VR_STATEMENTS:
        statements.extend(pattern.findall(raw_output))
    if statements:
        return statements[-1].upper()
    for pattern in _VR_LABELS:
        labels = pattern.findall(raw_output)
        if labels:
            return str(labels[-1]).upper()
    spaced = _VR_SPACED.findall(raw_output)
    if spaced:
        return str(spaced[-1]).upper()
    processed = raw_output.replace("\n", " ").replace("\t", " ").strip()
    processed = _vrbench_strip_punctuation(processed)
    processed = processed.strip("'").strip('"').strip(")").strip("(").strip().lower()
    words = _VR_WORD.findall(processed)
    if words:
        return str(words[-1]).upper()
    # reached when the punctuation pass deleted a mark and glued a capital to a word ("x-B" -> "xb")
    capitals = _VR_WORD_CAPS.findall(raw_output)
    if capitals:
        tail = _VR_WORD.findall(raw_output.lower()[-50:])
        return str(tail[-1]).upper() if tail else str(capitals[-1]).upper()
    return None


# ---------------------------------------------------------------------------------------------
# CG-Bench

_CG_BARE = re.compile(r"(?<=:\s)([A-Za-z_]\w*)")
_CG_STANDALONE = re.compile(r"\b[A-H]\b")
_MISSING = object()


def cg_bench_json_result(raw_output: str | None) -> object:
    """The ``"result"`` value of the first fenced json block, as ``post_process`` reads it.

    Returns the module-private sentinel when there is no block or it does not parse; use
    :func:`cg_bench_answer` for a letter.
    """
    if not raw_output:
        return _MISSING
    start = raw_output.find("```json")
    end = raw_output.find("```", start + len("```json"))
    if start == -1 or end == -1:
        return _MISSING
    content = raw_output[start + len("```json") : end].strip()
    if not content:
        return _MISSING
    content = _CG_BARE.sub(r'"\1"', content)
    try:
        parsed = json.loads(content)
        return parsed["result"]
    except Exception:  # the official code catches everything here, so does the port
        return _MISSING


def cg_bench_answer(raw_output: str | None, right_answer: str | None = None) -> str | None:
    """The CG-Bench answer: the JSON result, else the official lenient letter fallback.

    With ``right_answer`` given, the fallback returns it when it occurs as a standalone A-H
    anywhere in the output (the official scorer counts that correct); otherwise the last
    standalone A-H, or None.
    """
    if not raw_output:
        return None
    result = cg_bench_json_result(raw_output)
    if result is not _MISSING:
        if isinstance(result, str):
            return result
        # a number, list or null never equals a letter key: keep it visible, never correct
        return json.dumps(result)
    letters = _CG_STANDALONE.findall(raw_output)
    if not letters:
        return None
    if right_answer is not None and right_answer in letters:
        return right_answer
    return str(letters[-1])


# ---------------------------------------------------------------------------------------------
# LVBench / ScaleLong


def lvbench_letter(raw_output: str | None) -> str | None:
    """LVBench ``polish_answer``: ``"(B) text"`` → ``"B"``, ``"C. x"`` → ``"C"``; None when empty."""
    if raw_output is None:
        return None
    answer = raw_output.strip().split(")")[0].strip()
    if "(" in answer:
        answer = answer.split("(")[1].strip()
    answer = answer.split(" ")[0]
    return answer[0] if answer else None


# ---------------------------------------------------------------------------------------------
# ActivityNet-QA, Video-R1, captions, the paper


def activitynet_qa_answer(raw_output: str | None) -> str | None:
    """The short answer: last ``<answer>`` content, else the whole output, stripped (exact match)."""
    if raw_output is None:
        return None
    found = tag_blocks(raw_output, "answer")
    text = found[-1] if found else raw_output
    return text.strip()


def video_r1_answer(raw_output: str | None) -> str | None:
    """Video-R1: first ``<answer>…</answer>`` content, else the whole output, stripped."""
    if raw_output is None:
        return None
    found = tag_blocks(raw_output, "answer", ignore_case=False)
    return (found[0] if found else raw_output).strip()


def paper_letter(raw_output: str | None) -> str | None:
    """The paper's ladder (docs/protocol.md, Answer rules); None where it gives ``WRONG``."""
    if raw_output is None:
        return None
    from vt_agent.trace import answer_letter

    return answer_letter(raw_output)


def _caption(raw_output: str | None) -> str | None:
    if raw_output is None:
        return None
    found = tag_blocks(raw_output, "answer")
    return (found[-1] if found else raw_output).strip()


_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize_open_answer(text: str) -> str:
    """SQuAD-style normalisation of a short answer: case-folded, Unicode punctuation removed, the
    articles a/an/the removed, whitespace collapsed (``"The  Rabbit."`` -> ``"rabbit"``)."""
    folded = text.casefold()
    no_punct = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(_ARTICLES.sub(" ", no_punct).split())


def open_answer(raw_output: str | None) -> str | None:
    """An open question's answer: last ``<answer>`` content, else the whole output, stripped;
    None when that is empty."""
    if raw_output is None:
        return None
    found = tag_blocks(raw_output, "answer")
    text = (found[-1] if found else raw_output).strip()
    return text or None


def _has_options(item: object | None) -> bool:
    options = item_field(item, "options")
    return bool(options)


def answer_matches(
    benchmark: str, prediction: str | None, gold: str, *, options: Sequence[str] | None = None
) -> bool:
    """Whether ``prediction`` scores as ``gold`` under ``benchmark``'s rule.

    vt-agent's own open questions (no ``options``) compare :func:`normalize_open_answer` of both
    sides (an empty gold never matches); everything else is the official exact match of the
    stripped texts (letters for multiple choice, ActivityNet-QA's and Video-R1's exact strings).
    """
    if prediction is None:
        return False
    if canonical_benchmark(benchmark) == "vt-agent" and not options:
        want = normalize_open_answer(gold)
        return bool(want) and normalize_open_answer(prediction) == want
    return prediction.strip() == gold.strip()


def _vt_agent(raw_output: str | None, item: object | None) -> str | None:
    if item is not None and not _has_options(item):
        return open_answer(raw_output)
    return paper_letter(raw_output)


def _cg_bench(raw_output: str | None, item: object | None) -> str | None:
    key = item_field(item, "right_answer")
    if key is None:
        answer = item_field(item, "answer")
        key = answer if isinstance(answer, str) and len(answer.strip()) == 1 else None
    return cg_bench_answer(raw_output, str(key).strip() if key is not None else None)


_OFFICIAL: dict[str, Callable[[str | None, object | None], str | None]] = {
    "video-holmes": lambda raw, item: video_holmes_letter(raw),
    "vrbench": lambda raw, item: vrbench_letter(raw),
    "cg-bench": _cg_bench,
    "lvbench": lambda raw, item: lvbench_letter(raw),
    "scalelong": lambda raw, item: lvbench_letter(raw),
    "activitynet-qa": lambda raw, item: activitynet_qa_answer(raw),
    "video-r1": lambda raw, item: video_r1_answer(raw),
    "youcook2": lambda raw, item: _caption(raw),
    "star": lambda raw, item: paper_letter(raw),
    "vt-agent": _vt_agent,
    "video-thinker": lambda raw, item: paper_letter(raw),
}


def extract_answer(
    benchmark: str, raw_output: str, item: object | None = None, *, protocol: str = "official"
) -> str | None:
    """The answer in ``raw_output`` by ``benchmark``'s official rule (see the module docs).

    ``item`` is the benchmark record (a mapping or an object with attributes); CG-Bench uses its
    ``right_answer``/``answer`` letter (the official lenient fallback), vt-agent's JSONL its
    ``options`` (none: an open question, read with :func:`open_answer`).
    ``protocol="video-thinker"`` applies the paper's ladder to any multiple-choice question and
    refuses open-ended benchmarks and open questions. Returns None when nothing can be extracted
    (scored wrong).
    """
    name = canonical_benchmark(benchmark)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of: {', '.join(PROTOCOLS)}")
    if protocol == "video-thinker":
        if name in OPEN_ENDED:
            raise ConfigError(
                f"{name} is open-ended: the video-thinker protocol's answer ladder reads an option "
                "letter, so it cannot score free-form answers; use --protocol official"
            )
        if item is not None and name in ("vt-agent", "video-r1") and not _has_options(item):
            raise ConfigError(
                f"{name} question {item_field(item, 'id')!r} is open-ended (no options): the video-thinker "
                "protocol's answer ladder reads an option letter; use --protocol official (rescore official)"
            )
        return paper_letter(raw_output)
    return _OFFICIAL[name](raw_output, item)
