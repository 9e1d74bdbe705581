"""README code comes from the examples (which tests run), and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_blocks_are_verbatim_excerpts_of_examples() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no python examples"
    examples = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "examples").glob("*.py")}
    for block in blocks:
        owners = [name for name, text in examples.items() if block in text]
        assert owners, f"README block not found verbatim in examples/*.py:\n{block}"


def test_named_files_exist() -> None:
    named = set(re.findall(r"\b((?:docs|examples|bench|scripts|tests)/[\w./-]+\.(?:py|md|json|sh|yaml))", README))
    assert named
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README names files that do not exist: {missing}"


def test_quick_start_is_two_make_targets_that_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test", "demo-fake", "test-vllm"):
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), target
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, flags=re.M), ".ci/run must call the README's test command"
