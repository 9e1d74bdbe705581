"""Video-R1's evaluation JSON (``eval_*.json``): the gold answer inside ``<answer>`` of the solution."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vt_agent.benchmarks.files import LETTERS, Options, Question, RecordProblem, field, gold_letter

__all__ = ["parse"]


_VR1_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL | re.IGNORECASE)


_VR1_LETTERED = re.compile(r"^\s*([A-O])\s*[.):]\s*(.*)$", re.DOTALL)


def parse(rec: Any, opts: Options) -> list[Question]:
    if rec.get("data_type", "video") != "video":
        raise RecordProblem(f"data_type {rec.get('data_type')!r}: only video records can be evaluated")
    problem = field(rec, "problem")  # verbatim: the official prompt appends "Options:" right after it
    ptype = field(rec, "problem_type")
    solution = field(rec, "solution")
    m = _VR1_ANSWER.search(solution)
    if m is None:
        raise RecordProblem(f"solution {solution[:60]!r} has no <answer>...</answer>")
    gold = m.group(1).strip()
    raw_options = rec.get("options") or []
    options: list[str] = []
    if ptype == "multiple choice":
        if not isinstance(raw_options, list) or not raw_options:
            raise RecordProblem("a multiple-choice record needs 'options' ['A. ...', 'B. ...']")
        for i, o in enumerate(raw_options):
            lm = _VR1_LETTERED.match(str(o))
            if lm is None or lm.group(1) != LETTERS[i]:
                raise RecordProblem(
                    f"option {i + 1} {str(o)[:40]!r} does not start with its letter {LETTERS[i]}."
                )
            options.append(lm.group(2).strip())
        gold = gold_letter(gold, len(options), "solution")
    path = field(rec, "path")
    return [
        {
            "id": str(rec.get("problem_id", rec.get("id", ""))),
            "video": [path, Path(path).name],
            "problem": problem,
            "options": options,
            "answer": gold,
            "question_type": ptype,
            "extra": {
                "solution": solution,
                "data_source": rec.get("data_source"),
                "raw_options": raw_options,
            },
        }
    ]
