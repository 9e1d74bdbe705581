"""Training recipe: Video-Thinker-10K style data building, hindsight curation, SFT and GRPO.

Importing this package is light (no torch, transformers or trl): each module imports its heavy
dependencies inside the functions that need them. Modules:

* :mod:`vt_agent.training.schema`: the training record (``TrainRecord``) and JSONL read/write;
* :mod:`vt_agent.training.llm`: a client for a text LLM behind an OpenAI-compatible endpoint;
* :mod:`vt_agent.training.builders`: records from caption-labelled and QA-labelled sources
  (``DatasetBuilder``), over :mod:`~vt_agent.training.sources` (the annotation files, read by
  :mod:`vt_agent.benchmarks` as evaluation reads them), :mod:`~vt_agent.training.video_check`,
  :mod:`~vt_agent.training.writer_prompts`, :mod:`~vt_agent.training.replies` and
  :mod:`~vt_agent.training.writer`;
* :mod:`vt_agent.training.curation`: hindsight curation with a decision log.

``vt-agent train build`` and ``vt-agent train curate`` live in :mod:`vt_agent.commands.train_data`.
"""

from vt_agent.training.schema import RecordError, Span, TrainRecord, read_records, write_records

__all__ = ["RecordError", "Span", "TrainRecord", "read_records", "write_records"]
