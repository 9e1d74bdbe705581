"""Progress of a batch run: jobs done of total, throughput, and how busy each stage was.

Busy shares (:mod:`vt_agent.busy`): the preparation stage's summed preparation time over (wall time
x its workers); the engine stage's time with at least one generation running, per actor, over
(wall time x actors).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from vt_agent.busy import BusyMeter

__all__ = ["BatchSummary", "Progress"]


@dataclass
class BatchSummary:
    """What a run did: jobs answered, failed, skipped (already in the results file), and its pace."""

    total: int = 0
    skipped: int = 0
    answered: int = 0
    failed: int = 0
    wall_s: float = 0.0
    prepare_busy: float | None = None
    engine_busy: float | None = None
    prepare_workers: int = 0
    engine_actors: int = 0
    local: bool = False

    @property
    def done(self) -> int:
        return self.answered + self.failed

    @property
    def jobs_per_s(self) -> float:
        return self.done / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        parts = [
            f"{self.done}/{self.total - self.skipped} jobs done ({self.failed} failed)",
            f"{self.skipped} already in the results file" if self.skipped else "",
            f"{self.jobs_per_s:.2f} jobs/s over {self.wall_s:.1f} s",
        ]
        if self.prepare_busy is not None:
            parts.append(f"preparation {self.prepare_workers} worker(s) {self.prepare_busy:.0%} busy")
        if self.engine_busy is not None:
            actors = f" {self.engine_actors} actor(s)" if self.engine_actors and not self.local else ""
            parts.append(f"engine{actors} {self.engine_busy:.0%} busy")
        return "batch: " + ", ".join(p for p in parts if p)


@dataclass
class Progress:
    """Counts jobs as they end and prints a progress line on ``stream`` at most every ``every_s``.

    ``prepare_workers``: the preparation stage's size when known (else the workers seen).
    """

    summary: BatchSummary
    stream: TextIO | None = sys.stderr
    every_s: float = 2.0
    prepare_workers: int | None = None
    t0: float = field(default_factory=time.time)
    _meter: BusyMeter = field(default_factory=BusyMeter)
    _workers: set[str] = field(default_factory=set)
    _printed: float = 0.0

    def add(
        self,
        ok: bool,
        *,
        prepare_s: float = 0.0,
        worker: str = "",
        engine: str = "",
        gen_span: tuple[float, float] | None = None,
    ) -> None:
        """One job ended (``ok``: answered); its preparation time and generation span (wall clock)."""
        if ok:
            self.summary.answered += 1
        else:
            self.summary.failed += 1
        self._meter.add(prepare_s, gen_span if engine else None, engine)
        if worker:
            self._workers.add(worker)
        now = time.time()
        if self.stream is not None and now - self._printed >= self.every_s:
            self._printed = now
            print(self.update().line(), file=self.stream, flush=True)

    def update(self) -> BatchSummary:
        """The summary with the wall time and busy shares so far."""
        s = self.summary
        s.wall_s = max(time.time() - self.t0, 1e-9)
        s.prepare_workers = self.prepare_workers or len(self._workers)
        prepare, engine = self._meter.shares(s.wall_s, s.prepare_workers)
        s.prepare_busy = prepare if prepare is not None else s.prepare_busy
        s.engine_busy = engine if engine is not None else s.engine_busy
        s.engine_actors = self._meter.engines
        s.local = set(self._meter.spans) == {"local"}
        return s

    def finish(self) -> BatchSummary:
        s = self.update()
        if self.stream is not None:
            print(s.line(), file=self.stream, flush=True)
        return s
