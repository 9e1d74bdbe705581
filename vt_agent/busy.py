"""How busy the two stages of a run were: is the engine waiting for frames, or the frames for it?

* preparation: the items' summed preparation time over (wall time x preparation workers);
* engine: the time with at least one generation running, per engine, over (wall time x engines).

An engine well below 100 % while the preparation is near it is waiting for frames (more
preparation workers, or a process pool, help); the other way round, the engine is the limit.
Spans are wall-clock seconds (``time.time()``), so spans measured in other processes compare.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["BusyMeter", "busy_text", "covered_seconds"]


def covered_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of ``spans`` (``(start, end)`` pairs)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def busy_text(workers: int, prepare: float | None, engine: float | None) -> str:
    """``preparation N worker(s) X% busy, engine Y% busy`` (the parts measured; '' for none)."""
    parts = [] if prepare is None else [f"preparation {workers} worker(s) {prepare:.0%} busy"]
    if engine is not None:
        parts.append(f"engine {engine:.0%} busy")
    return ", ".join(parts)


@dataclass
class BusyMeter:
    """Collects items' preparation times and generation spans; :meth:`shares` turns them into shares.

    ``workers``: the preparation pool's size, set by whoever runs the pool (for :meth:`text`).
    """

    prepare_s: float = 0.0
    workers: int = 0
    spans: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))

    def add(
        self, prepare_s: float = 0.0, span: tuple[float, float] | None = None, engine: str = "local"
    ) -> None:
        """One item: its preparation seconds and, if it reached the engine, its generation span."""
        self.prepare_s += max(0.0, prepare_s)
        if span is not None:
            self.spans[engine].append(span)

    @property
    def engines(self) -> int:
        return len(self.spans)

    def shares(self, wall_s: float, workers: int) -> tuple[float | None, float | None]:
        """(preparation busy, engine busy), each 0..1, or None where nothing was measured."""
        if wall_s <= 0:
            return None, None
        prepare = min(1.0, self.prepare_s / (wall_s * workers)) if workers > 0 and self.prepare_s else None
        engine = None
        if self.spans:
            busy = sum(covered_seconds(s) for s in self.spans.values())
            engine = min(1.0, busy / (wall_s * len(self.spans)))
        return prepare, engine

    def text(self, wall_s: float) -> str:
        """:func:`busy_text` of this meter over ``wall_s`` seconds."""
        return busy_text(self.workers, *self.shares(wall_s, self.workers))
