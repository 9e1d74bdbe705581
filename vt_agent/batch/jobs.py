"""The jobs file of ``vt-agent batch``: one JSON object a line,
``{"id": ..., "video": PATH, "question": ..., "options": [...]?, "window": [start_s, end_s]?}``.

The file is read whole before anything runs. A line that is not a JSON object with an ``id``, and
an ``id`` given twice, stop the command (ConfigError naming the line): results could not be keyed.
A job with an ``id`` whose other fields are wrong becomes a :class:`Job` carrying ``problem``; it is
answered with an error row like any failing job, and the run goes on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vt_agent.errors import ConfigError

if TYPE_CHECKING:
    from vt_agent.pipeline import PipelineItem

__all__ = ["FIELDS", "Job", "job_key", "read_jobs"]

FIELDS = ("id", "video", "question", "options", "window")
JobId = str | int


def job_key(job_id: Any) -> str:
    """The text a job id is compared by (JSON: ``1`` and ``"1"`` are two ids)."""
    return json.dumps(job_id, ensure_ascii=False)


@dataclass(frozen=True)
class Job:
    """One question about one video (``window`` in seconds); ``problem``: why it cannot run."""

    id: JobId
    video: str = ""
    question: str = ""
    options: tuple[str, ...] | None = None
    window: tuple[float, float] | None = None
    problem: str = ""

    @property
    def key(self) -> str:
        return job_key(self.id)

    def item(self) -> PipelineItem:
        """The core scheduler's item for this job (``key``: the id text, ``data``: the id)."""
        from vt_agent.pipeline import PipelineItem

        return PipelineItem(
            self.key, self.video, self.question, self.options, window=self.window, data=self.id
        )

    def to_dict(self) -> dict[str, Any]:
        """The job as its JSON line has it (``problem`` left out)."""
        out: dict[str, Any] = {"id": self.id, "video": self.video, "question": self.question}
        if self.options is not None:
            out["options"] = list(self.options)
        if self.window is not None:
            out["window"] = list(self.window)
        return out


def _check_fields(raw: dict[str, Any], base: Path) -> tuple[dict[str, Any], str]:
    """The job's fields, normalised, and the first problem found ('' when none)."""
    from vt_agent.spans import check_window

    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        return {}, f"unknown field(s) {', '.join(unknown)}; a job has {', '.join(FIELDS)}"
    video, question = raw.get("video"), raw.get("question")
    if not isinstance(video, str) or not video.strip():
        return {}, "'video' must be the path of a video file (text)"
    if not isinstance(question, str) or not question.strip():
        return {}, "'question' must be non-empty text"
    path = Path(os.path.expanduser(video))
    fields: dict[str, Any] = {"video": str(path if path.is_absolute() else base / path), "question": question}
    options = raw.get("options")
    if options is not None:
        if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
            return {}, "'options' must be a list of non-empty texts"
        if len(options) == 1:
            return {}, "'options' holds one option: a multiple-choice question needs two or more"
        fields["options"] = tuple(options) or None
    window = raw.get("window")
    if window is not None:
        if not isinstance(window, list) or len(window) != 2:
            return {}, "'window' must be [start_s, end_s]"
        try:
            fields["window"] = check_window(window)
        except ConfigError as exc:
            return {}, f"'window': {exc}"
    return fields, ""


def read_jobs(path: str | os.PathLike[str], videos_dir: str | os.PathLike[str] | None = None) -> list[Job]:
    """Every job of ``path`` in file order; relative video paths are taken under ``videos_dir``
    (default: the jobs file's folder)."""
    path = Path(path)
    base = Path(videos_dir).resolve() if videos_dir is not None else path.resolve().parent
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path} line {n}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where} is not JSON ({exc.msg}); write one job object a line") from None
            if not isinstance(raw, dict):
                raise ConfigError(f"{where} is a JSON {type(raw).__name__}, not an object like {EXAMPLE}")
            job_id = raw.get("id")
            if isinstance(job_id, bool) or not isinstance(job_id, str | int) or job_id == "":
                raise ConfigError(f"{where}: 'id' must be a non-empty text or a whole number, like {EXAMPLE}")
            key = job_key(job_id)
            if key in seen:
                raise ConfigError(
                    f"{where}: id {key} is already the id of line {seen[key]}; ids must be unique"
                )
            seen[key] = n
            fields, problem = _check_fields(raw, base)
            jobs.append(Job(job_id, problem=problem, **fields))
    return jobs


EXAMPLE = '{"id": "q1", "video": "clip.mp4", "question": "What happens first?"}'
