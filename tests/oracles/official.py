"""Run the benchmarks' own answer extractors, loaded from their official source files.

No official code is kept in this repository. The files are read from the directory named by
``VT_AGENT_OFFICIAL_SRC`` (see ``README.md`` beside this file for where each comes from); the
functions are lifted out of them with :mod:`ast` (only the extractor definitions, so the
scripts' heavy imports and ``__main__`` blocks never run) and executed as written.

``record_official.py`` uses these loaders to write ``tests/data/eval_outputs/official_expected.json``,
the recorded outputs of the official code on the parity corpus; the parity tests compare
vt-agent's ports with that file always, and with the live official code when the directory is
available.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ENV = "VT_AGENT_OFFICIAL_SRC"

# file name in $VT_AGENT_OFFICIAL_SRC -> (repository, path, commit the recording was made from)
SOURCES: dict[str, tuple[str, str, str]] = {
    "holmes_evaluate.py": (
        "TencentARC/Video-Holmes",
        "evaluate.py",
        "52ef8da286ccad03036a65e7b67c160bc3a24fb9",
    ),
    "vrbench_calculate_scores.py": (
        "OpenGVLab/VRBench",
        "evaluation/calculate_scores.py",
        "47a22dbdf4eeacbc656a3b12f6e19ae9f0285df4",
    ),
    "cgbench_utils.py": ("CG-Bench/CG-Bench", "run/utils.py", "f826608752443a13b21f214c2d9c4156c526f030"),
    "lvbench_answer_util.py": (
        "THUDM/LVBench",
        "lvbench/utils/answer_util.py",
        "f998d95541cd5f0953c52449b185c6467b9b099d",
    ),
}


def source_dir() -> Path | None:
    """The directory holding the official files, or None when the variable is unset or incomplete."""
    value = os.environ.get(ENV)
    if not value:
        return None
    path = Path(value)
    if not all((path / name).is_file() for name in SOURCES):
        return None
    return path


def _functions(source: str, names: set[str]) -> dict[str, Callable[..., Any]]:
    tree = ast.parse(source)
    keep: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    missing = names - {n.name for n in keep if isinstance(n, ast.FunctionDef)}
    if missing:
        raise LookupError(f"official source has no function(s) {sorted(missing)}")
    namespace: dict[str, Any] = {"re": re, "json": json}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "<official>", "exec"), namespace)
    return {name: namespace[name] for name in names}


def _holmes_ladder(source: str) -> Callable[[str], str]:
    """The answer ladder inside ``evaluate()``'s loop, wrapped as ``f(predicted_answer) -> letter``."""
    tree = ast.parse(source)
    evaluate = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "evaluate")
    loop = next(n for n in ast.walk(evaluate) if isinstance(n, ast.For))
    body = loop.body

    def assigns(stmt: ast.stmt, name: str) -> bool:
        return isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        )

    start = next(i for i, s in enumerate(body) if assigns(s, "pattern"))
    end = next(
        i
        for i, s in enumerate(body)
        if i > start
        and isinstance(s, ast.If)
        and "choise" in ast.unparse(s.test)
        and "'A '" in ast.unparse(s.test)
    )
    func = ast.FunctionDef(
        name="holmes_ladder",
        args=ast.arguments(
            posonlyargs=[], args=[ast.arg(arg="predicted_answer")], kwonlyargs=[], kw_defaults=[], defaults=[]
        ),
        body=[*body[start : end + 1], ast.Return(value=ast.Name(id="predicted_answer", ctx=ast.Load()))],
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    module = ast.fix_missing_locations(ast.Module(body=[func], type_ignores=[]))
    namespace: dict[str, Any] = {"re": re}
    exec(compile(module, "<official Video-Holmes evaluate.py>", "exec"), namespace)
    ladder: Callable[[str], str] = namespace["holmes_ladder"]
    return ladder


class Official:
    """The official extractors, loaded from ``directory``."""

    def __init__(self, directory: Path) -> None:
        def read(name: str) -> str:
            return (directory / name).read_text(encoding="utf-8")

        self.holmes = _holmes_ladder(read("holmes_evaluate.py"))
        self.vrbench = _functions(read("vrbench_calculate_scores.py"), {"extract_mcq_answer"})[
            "extract_mcq_answer"
        ]
        cg = _functions(
            read("cgbench_utils.py"), {"post_process", "calculate_intervals_iou", "merge_intervals"}
        )
        self._cg_post_process = cg["post_process"]
        self.cg_intervals_iou = cg["calculate_intervals_iou"]
        self.lvbench = _functions(read("lvbench_answer_util.py"), {"polish_answer"})["polish_answer"]

    def cg_bench(self, response: str, right_answer: str) -> Any:
        """``post_process`` in ``long_acc`` mode: 1 correct, 0 wrong, None unparsed."""
        args = SimpleNamespace(task_mode="long_acc")
        return self._cg_post_process(args, {"right_answer": right_answer}, response)
