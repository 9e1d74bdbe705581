"""``vt-agent batch`` without Ray: the jobs file, the resumable results file, the local run on the
core scheduler (fake backend over the bundled clips and windows of vtest.avi), a run killed halfway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vt_agent.batch import EngineSpec, ResultsFile, read_jobs, run_batch
from vt_agent.cli import main
from vt_agent.errors import ConfigError, MissingExtraError

pytest.importorskip("av")

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
OPTIONS = ["People walk", "A car parks"]


@pytest.fixture(autouse=True)
def _keep_frame_cache_limit() -> Iterator[None]:
    """The triage commands turn the frame cache off in this process: give the next tests theirs back."""
    from vt_agent.video import cache_info, set_cache_limit

    limit = cache_info()["limit_bytes"]
    yield
    set_cache_limit(limit)


def jobs_of_clips() -> list[dict[str, object]]:
    """The bundled clips whole, windows of vtest.avi, a missing video and a job with a bad field."""
    jobs: list[dict[str, object]] = [
        {
            "id": "bbb",
            "video": "bigbuckbunny.mp4",
            "question": "What happens in the video?",
            "options": OPTIONS,
        },
        {"id": "city", "video": "cityCC0.mpg", "question": "What happens in the video?"},
    ]
    for i, start in enumerate((0, 6, 12)):
        jobs.append(
            {"id": i, "video": "vtest.avi", "question": "Do people walk?", "window": [start, start + 6]}
        )
    jobs.append({"id": "missing", "video": "no-such-clip.mp4", "question": "Anything?"})
    jobs.append({"id": "one-option", "video": "vtest.avi", "question": "Q?", "options": ["only"]})
    return jobs


def write_jobs(path: Path, jobs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs), encoding="utf-8")
    return path


def rows(path: Path) -> dict[str, dict[str, object]]:
    """Rows of a results file by id text, timings dropped (they differ between runs)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row.pop("timings", None)
        key = json.dumps(row["id"])
        assert key not in out, f"job {key} answered twice"
        out[key] = row
    return out


# ---------------------------------------------------------------------- the jobs file


def test_jobs_file_fields_paths_and_problems(tmp_path: Path) -> None:
    path = write_jobs(tmp_path / "jobs.jsonl", jobs_of_clips())
    jobs = read_jobs(path, VIDEOS)
    assert [j.id for j in jobs] == ["bbb", "city", 0, 1, 2, "missing", "one-option"]
    assert jobs[0].video == str(VIDEOS / "bigbuckbunny.mp4") and jobs[0].options == tuple(OPTIONS)
    assert jobs[3].window == (6.0, 12.0) and not jobs[3].problem
    assert "two or more" in jobs[-1].problem
    assert read_jobs(path)[0].video == str(tmp_path / "bigbuckbunny.mp4")  # default: the file's folder


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "line 2 is not JSON"),
        ("[1, 2]", "line 2 is a JSON list"),
        ('{"video": "a.mp4", "question": "q"}', "'id' must be"),
        ('{"id": "a", "video": "b.mp4", "question": "q"}', 'id "a" is already the id of line 1'),
    ],
)
def test_jobs_file_lines_that_stop_the_command(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"id": "a", "video": "a.mp4", "question": "q"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace("[", r"\[")):
        read_jobs(path)


@pytest.mark.parametrize(
    ("job", "words"),
    [
        ({"video": "a.mp4", "question": "q", "qestion": "q"}, "unknown field(s) qestion"),
        ({"video": "a.mp4"}, "'question' must be"),
        ({"video": 3, "question": "q"}, "'video' must be"),
        ({"video": "a.mp4", "question": "q", "window": [5, 2]}, "'window': the window must end after"),
        ({"video": "a.mp4", "question": "q", "window": "0-5"}, "'window' must be [start_s, end_s]"),
    ],
)
def test_a_job_with_a_bad_field_carries_its_problem(
    tmp_path: Path, job: dict[str, object], words: str
) -> None:
    path = write_jobs(tmp_path / "jobs.jsonl", [{"id": "x", **job}])
    assert words in read_jobs(path)[0].problem


# ---------------------------------------------------------------------- the results file


def test_results_file_drops_a_cut_off_line_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(
        '{"id": "a", "answer": "A"}\n{"id": 2, "error": "VideoNotFoundError: x"}\n{"id": "c", "ans', "utf-8"
    )
    with ResultsFile(out) as results:
        assert results.truncated and results.done == {'"a"', "2"} and results.errors_before == 1
        results.write({"id": "c", "answer": "B"})
    assert out.read_text("utf-8").splitlines()[-1] == '{"id": "c", "answer": "B"}'
    with ResultsFile(out, retry_failed=True) as results:
        assert results.dropped_errors == 1 and results.done == {'"a"', '"c"'}
    assert '"error"' not in out.read_text("utf-8")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"key": "x", "prediction": "A"}\n', "utf-8")
    with pytest.raises(ConfigError, match="line 1 is not a batch result row"):
        ResultsFile(foreign)


# ---------------------------------------------------------------------- the local run


def test_local_run_answers_every_job_and_resumes(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path / "jobs.jsonl", jobs_of_clips())
    out = tmp_path / "out.jsonl"
    summary = run_batch(jobs, out, EngineSpec("fake"), videos_dir=VIDEOS, log=None, prepare_workers=2)
    got = rows(out)
    assert len(got) == 7 and summary.answered == 5 and summary.failed == 2
    assert got['"missing"']["error"].startswith("VideoNotFoundError: ")
    assert got['"one-option"']["error"].startswith("ConfigError: 'options' holds one option")
    assert got['"bbb"']["answer"] == "A" and got['"bbb"']["scripted"] is True
    assert got["1"]["videos"][0]["window"] == [6.0, 12.0]
    assert all(got[k]["question"] for k in got if "error" not in got[k])
    before = out.read_bytes()
    again = run_batch(jobs, out, EngineSpec("fake"), videos_dir=VIDEOS, log=None)
    assert again.skipped == 7 and again.done == 0 and out.read_bytes() == before


def test_cli_batch_exits_0_with_failed_jobs_and_never_imports_ray(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path / "jobs.jsonl", jobs_of_clips())
    out = tmp_path / "out.jsonl"
    code = (
        "import sys\nfrom vt_agent.cli import main\n"
        f"rc = main(['batch', {str(jobs)!r}, '--out', {str(out)!r}, '--videos', {str(VIDEOS)!r}, '--backend', 'fake'])\n"
        "print(rc, 'ray' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.stdout.splitlines()[-1] == "0 False", proc.stderr
    assert "batch: 7/7 jobs done (2 failed)" in proc.stdout
    assert len(rows(out)) == 7


def test_console_script_with_a_process_pool_writes_the_thread_rows(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("vt-agent")
    if not script.is_file():
        pytest.skip("the vt-agent console script is not installed beside this Python")
    jobs = write_jobs(tmp_path / "jobs.jsonl", jobs_of_clips())
    threads, processes = tmp_path / "threads.jsonl", tmp_path / "processes.jsonl"
    run_batch(jobs, threads, EngineSpec("fake"), videos_dir=VIDEOS, log=None, prepare_workers=2)
    argv = [
        str(script),
        "batch",
        str(jobs),
        "--out",
        str(processes),
        "--videos",
        str(VIDEOS),
        "--backend",
        "fake",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pool = ["--prepare-pool", "process", "--prepare-workers", "2"]
    proc = subprocess.run([*argv, *pool], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "batch: 7/7 jobs done (2 failed)" in proc.stdout and "preparation 2 worker(s)" in proc.stdout
    assert rows(processes) == rows(threads)
    with pytest.raises(ConfigError, match="does not apply on Ray"):
        run_batch(jobs, processes, EngineSpec("fake"), ray="auto", prepare_pool="process", log=None)


def test_cli_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = write_jobs(tmp_path / "jobs.jsonl", jobs_of_clips()[:1])
    assert main(["batch", str(jobs), "--out", str(jobs), "--backend", "fake"]) == 2
    assert "is the jobs file" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "JOBS: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["batch", str(jobs), "--out", str(tmp_path / "o.jsonl"), "--gpus-per-actor", "-1"])
    assert "--gpus-per-actor" in capsys.readouterr().err
    out = tmp_path / "o.jsonl"
    assert (
        main(
            [
                "batch",
                str(jobs),
                "--out",
                str(out),
                "--backend",
                "fake",
                "--videos",
                str(VIDEOS),
                "--engine-actors",
                "2",
                "-q",
            ]
        )
        == 0
    )
    assert "--engine-actors is used with --ray only" in capsys.readouterr().err


def test_ray_missing_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from vt_agent.batch import ray_run

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vt-agent\[ray\]'"):
        ray_run.connect("auto")


def test_a_run_killed_halfway_resumes_without_redoing_answered_jobs(tmp_path: Path) -> None:
    jobs = [
        {"id": f"w{i}", "video": "vtest.avi", "question": "Do people walk?", "window": [i, i + 2]}
        for i in range(12)
    ]
    path = write_jobs(tmp_path / "jobs.jsonl", jobs)
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "vt_agent.cli",
        "batch",
        str(path),
        "--out",
        str(out),
        "--videos",
        str(VIDEOS),
        "--backend",
        "fake",
        "--backend-option",
        "delay_s=0.02",
        "--concurrency",
        "1",
        "-q",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not out.exists() or out.read_text("utf-8").count("\n") < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    first = out.read_bytes()
    answered = first.count(b"\n")
    assert 3 <= answered < 12, "the run ended before it could be killed halfway"
    with out.open("ab") as fh:
        fh.write(b'{"id": "w11", "schema_ver')  # as if killed while writing a line
    proc2 = subprocess.run(cmd[:-1], env=env, capture_output=True, text=True, timeout=300)
    assert proc2.returncode == 0, proc2.stderr
    assert f"{answered} of 12 job(s) already there" in proc2.stderr
    assert "last line was cut off" in proc2.stderr
    assert out.read_bytes().startswith(first)
    assert sorted(rows(out)) == sorted(json.dumps(j["id"]) for j in jobs)


def _triage_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_triage_of_several_recordings_gives_each_its_own_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vt_agent.commands.triage_many import html_paths

    query, flags = "people walk", ["--backend", "fake", "--json", "-q", "--window", "30", "--overlap", "5"]
    bbb, vtest = str(VIDEOS / "bigbuckbunny.mp4"), str(VIDEOS / "vtest.avi")
    alone = [_triage_json(capsys, ["triage", v, query, *flags]) for v in (bbb, vtest)]
    pool = ["--prepare-pool", "process", "--prepare-workers", "2"]  # the same windows from processes
    both = _triage_json(
        capsys, ["triage", bbb, query, "--video", vtest, *flags, *pool, "--html", str(tmp_path / "r.html")]
    )
    assert both == alone
    assert (tmp_path / "r-bigbuckbunny.html").is_file() and (tmp_path / "r-vtest.html").is_file()
    assert [p.name for p in html_paths(Path("d/x.html"), ["a/c.mp4", "b/c.mp4"])] == [
        "x-c-1.html",
        "x-c-2.html",
    ]
    assert main(["triage", bbb, query, "--video", vtest, "--resume", "--backend", "fake"]) == 2
    assert "--resume keeps the windows of one recording" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("address", "words"), [("127.0.0.1:1", "nothing answers there"), ("nohost", "HOST:PORT")]
)
def test_a_ray_address_that_does_not_answer_fails_at_once(address: str, words: str) -> None:
    from vt_agent.batch import ray_run

    with pytest.raises(ConfigError, match=words):
        ray_run._check_reachable(address, timeout_s=2)
