"""The project carries its own protocol: docs/protocol.md, cited by section name, never an outside file."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"
SKIP_DIRS = {".git", ".venv", ".venv-vllm", "node_modules", "dist", "build", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".yaml", ".yml", ".json", ".cfg", ".sh", ".html", ""}
# built from pieces so this file does not cite it either
OUTSIDE = re.compile("PROTO" + r"COL(\.md)?\s*§|PROTO" + r"COL\.md")


def _project_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            out.append(path)
    return out


def _headings() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^## (.+)$", DOC.read_text(encoding="utf-8"), re.MULTILINE)}


def test_no_file_cites_an_outside_protocol_file() -> None:
    offenders = []
    for path in _project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not offenders, offenders


def test_citations_name_sections_that_exist() -> None:
    headings = _headings()
    anchors = {h.lower().replace(" ", "-") for h in headings}
    assert {
        "Prompt",
        "Video input",
        "Decoding",
        "Trace grammar",
        "Answer rules",
        "Published numbers",
    } <= headings
    cited, linked = set(), set()
    for path in _project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        cited |= set(re.findall(r"docs/protocol\.md, ([A-Z][a-z]+(?: [a-z]+)*)", text))
        linked |= set(re.findall(r"protocol\.md#([a-z-]+)", text))
    assert cited and linked
    assert cited <= headings, cited - headings
    assert linked <= anchors, linked - anchors


def test_prompt_facts_match_the_shipped_files() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name in ("system_prompt.txt", "user_template.txt"):
        raw = (ROOT / "vt_agent" / "data" / name).read_bytes()
        row = next(line for line in doc.splitlines() if f"`vt_agent/data/{name}`" in line)
        assert f"{len(raw):,}" in row and hashlib.sha256(raw).hexdigest()[:16] in row


def test_published_numbers_match_the_code() -> None:
    from vt_agent.evaluation.published import MODELS, PUBLISHED, VIDEO_HOLMES_N

    doc = DOC.read_text(encoding="utf-8")
    for model in MODELS:
        row = next(line for line in doc.splitlines() if line.startswith(f"| {model} |"))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert cells == [f"{PUBLISHED[column][model]:.2f}" for column in PUBLISHED]
    assert f"{VIDEO_HOLMES_N:,} questions" in doc
