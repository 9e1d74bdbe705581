"""Batch runs: many (video, question) jobs through the model, one JSONL row each, resumable; on this
machine (the core scheduler) or on a Ray cluster (Ray Data, the ``[ray]`` extra). See
docs/scale-out.md."""

from __future__ import annotations

from vt_agent.batch.engine import EngineSpec
from vt_agent.batch.jobs import Job, read_jobs
from vt_agent.batch.output import ResultsFile, error_row, result_row
from vt_agent.batch.progress import BatchSummary, Progress
from vt_agent.batch.runner import run_batch

__all__ = [
    "BatchSummary",
    "EngineSpec",
    "Job",
    "Progress",
    "ResultsFile",
    "error_row",
    "read_jobs",
    "result_row",
    "run_batch",
]
