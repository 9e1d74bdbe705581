"""bench/pipeline.py's in-order bound: the least wall time when the engine takes items in input order."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_pipeline", module)
    spec.loader.exec_module(module)
    return module


def test_costly_item_first_delays_every_generation(bench: ModuleType) -> None:
    # 4 s of preparation on 2 cores before the first generation, then 4 generations of 1 s
    assert bench.in_order_bound([4.0, 0.0, 0.0, 0.0], cores=2, gen_s=1.0, conc=1) == pytest.approx(6.0)


def test_costly_item_last_overlaps_the_others(bench: ModuleType) -> None:
    # the cheap items generate while the costly one prepares: only the order-free bound is left
    assert bench.in_order_bound([0.0, 0.0, 0.0, 4.0], cores=2, gen_s=1.0, conc=1) == pytest.approx(4.0)


def test_engine_concurrency_divides_the_generation(bench: ModuleType) -> None:
    assert bench.in_order_bound([2.0, 2.0], cores=2, gen_s=1.0, conc=2) == pytest.approx(3.0)


def test_items_of_the_bench(bench: ModuleType) -> None:
    items = bench.make_items()
    assert len(items) >= 24  # the minimum
    assert len({item.key for item in items}) == len(items)
