"""``vt-agent batch --ray`` on a local Ray instance (2 CPUs, one per test module): the same rows,
job for job, as the same jobs run without Ray; a resumed run skips the answered jobs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_batch import VIDEOS, jobs_of_clips, rows, write_jobs
from vt_agent.batch import EngineSpec, run_batch

pytest.importorskip("av")
ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(autouse=True)
def _keep_frame_cache_limit() -> Iterator[None]:
    """The triage commands turn the frame cache off in this process: give the next tests theirs back."""
    from vt_agent.video import cache_info, set_cache_limit

    limit = cache_info()["limit_bytes"]
    yield
    set_cache_limit(limit)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


class Log:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_ray_rows_equal_local_rows_and_a_resumed_run_skips_answered_jobs(
    local_ray: Any, tmp_path: Path
) -> None:
    jobs = jobs_of_clips() + [
        {"id": f"v{s}", "video": "vtest.avi", "question": "What happens?", "window": [s, s + 4]}
        for s in (20, 40)
    ]
    path = write_jobs(tmp_path / "jobs.jsonl", jobs)
    local = tmp_path / "local.jsonl"
    run_batch(path, local, EngineSpec("fake"), videos_dir=VIDEOS, log=None)

    log = Log()
    on_ray = tmp_path / "ray.jsonl"
    summary = run_batch(
        path, on_ray, EngineSpec("fake"), videos_dir=VIDEOS, ray="auto", log=log, concurrency=2
    )  # type: ignore[arg-type]
    assert rows(on_ray) == rows(local)
    assert summary.answered == len(jobs) - 2 and summary.failed == 2
    assert "ray: Ray cluster at " in log.text and "1 node(s), 2 CPU(s)" in log.text
    assert "engine: 1 actor(s)" in log.text and "jobs/s" in log.text and "% busy" in log.text

    half = tmp_path / "half.jsonl"
    lines = on_ray.read_text("utf-8").splitlines(keepends=True)
    half.write_text("".join(lines[:4]) + lines[4][:30], "utf-8")  # killed while writing line 5
    before = "".join(lines[:4])
    again = run_batch(path, half, EngineSpec("fake"), videos_dir=VIDEOS, ray="auto", log=None)
    assert again.skipped == 4 and again.done == len(jobs) - 4
    assert half.read_text("utf-8").startswith(before)
    assert rows(half) == rows(local)


@pytest.mark.slow
def test_tiny_model_on_ray_matches_the_local_run(local_ray: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch

    from vt_agent.tiny import build_tiny_checkpoint

    ckpt = build_tiny_checkpoint()
    jobs = [
        {
            "id": "bbb",
            "video": "bigbuckbunny.mp4",
            "question": "What happens?",
            "options": ["A rabbit", "A car"],
        },
        {"id": "w0", "video": "vtest.avi", "question": "Do people walk?", "window": [0, 4]},
    ]
    path = write_jobs(tmp_path / "jobs.jsonl", jobs)
    spec = EngineSpec(
        "transformers",
        {"model": str(ckpt), "device": "cpu"},
        preset="video-thinker-16f",
        max_tokens=16,
        torch_threads=1,
    )
    threads = torch.get_num_threads()
    try:
        run_batch(path, tmp_path / "local.jsonl", spec, videos_dir=VIDEOS, log=None, concurrency=1)
    finally:
        torch.set_num_threads(threads)
    run_batch(
        path,
        tmp_path / "ray.jsonl",
        spec,
        videos_dir=VIDEOS,
        ray="auto",
        log=None,
        concurrency=1,
        cpus_per_actor=1,
    )
    local, on_ray = rows(tmp_path / "local.jsonl"), rows(tmp_path / "ray.jsonl")
    assert sorted(local) == sorted(on_ray)
    for key in local:
        assert "error" not in local[key], local[key]
        assert on_ray[key]["source"] == "random weights"
        # torch threads pinned to 1 on both sides: the same greedy tokens
        assert on_ray[key]["trace"] == local[key]["trace"], f"job {key}: the tiny model's text differs"
        assert on_ray[key] == local[key]
    json.dumps(local)  # rows are plain JSON
    assert "ray" in sys.modules


def test_eval_run_on_ray_writes_the_rows_of_eval_run(local_ray: Any, tmp_path: Path) -> None:
    from vt_agent.cli import main

    records = [
        {
            "id": "bbb",
            "video": "bigbuckbunny.mp4",
            "question": "What happens?",
            "options": ["A rabbit", "A car"],
        },
        {
            "id": "w0",
            "video": "vtest.avi",
            "question": "Who walks?",
            "options": ["People", "Cars"],
            "window": [0, 6],
        },
        {"id": "gone", "video": "gone.mp4", "question": "What?", "options": ["This", "That"]},
    ]
    data = tmp_path / "bench.jsonl"
    data.write_text("".join(json.dumps({**r, "answer": "A"}) + "\n" for r in records), "utf-8")
    common = ["eval", "run", "jsonl", "--data", str(data), "--videos", str(VIDEOS), "--backend", "fake", "-q"]
    assert main([*common, "--out", str(tmp_path / "local.jsonl")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray.jsonl"), "--ray", "auto", "--concurrency", "2"]) == 0

    def by_key(path: Path) -> dict[str, Any]:
        out = {}
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line)
            row.pop("timings", None)
            out[row["key"]] = row
        return out

    local, on_ray = by_key(tmp_path / "local.jsonl"), by_key(tmp_path / "ray.jsonl")
    assert on_ray == local and len(local) == 3
    assert sum(1 for r in local.values() if r.get("skipped")) == 1


def test_triage_of_several_recordings_on_ray_gives_the_reports_of_each_alone(
    local_ray: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from vt_agent.cli import main

    query, flags = "people walk", ["--backend", "fake", "--json", "-q", "--window", "30", "--overlap", "5"]
    bbb, vtest = str(VIDEOS / "bigbuckbunny.mp4"), str(VIDEOS / "vtest.avi")
    alone = []
    for v in (bbb, vtest):
        assert main(["triage", v, query, *flags]) == 0
        alone.append(json.loads(capsys.readouterr().out))
    assert main(["triage", bbb, query, "--video", vtest, *flags, "--ray", "auto", "--concurrency", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == alone
    assert len(alone[1]["windows"]) == 3


def test_an_engine_that_cannot_start_stops_the_run_naming_why(local_ray: Any, tmp_path: Path) -> None:
    from vt_agent.errors import BackendUnavailableError

    def broken() -> Any:
        raise RuntimeError("no engine here")

    path = write_jobs(tmp_path / "jobs.jsonl", jobs_of_clips()[:2])
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        BackendUnavailableError, match=r"RuntimeError: no engine here .*run the same command again"
    ):
        run_batch(path, out, EngineSpec(factory=broken), videos_dir=VIDEOS, ray="auto", log=None)
    assert out.read_text("utf-8") == ""  # nothing answered, nothing written: a rerun does every job
