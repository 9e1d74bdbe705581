"""Questions about when the videos were made: recording times from the files, time of day from content."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from video_factory import frame_image

from vt_agent.backends.base import GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import question_from_messages
from vt_agent.errors import ConfigError
from vt_agent.multi import MultiAnswer, answer_videos, plan_question
from vt_agent.multi.dates import period_of
from vt_agent.multi.when import TIME_OF_DAY, phase_of, read_creation_time
from vt_agent.reasoner import VideoReasoner
from vt_agent.video import probe
from vt_agent.video.probing import _creation_time

PATHS = ["/v/a.mp4", "/v/b.mp4", "/v/c.mp4"]
TOD = "time_of_day"


@pytest.mark.parametrize(
    ("question", "kind", "form", "direction", "named"),
    [
        # recording time: the files' creation times
        ("Which video was recorded first?", "comparison", "recorded", "min", None),
        ("Which clip was filmed first?", "comparison", "recorded", "min", None),
        ("Which video was made last?", "comparison", "recorded", "max", None),
        ("Which video was taken most recently?", "comparison", "recorded", "max", None),
        ("Which video was captured earliest?", "comparison", "recorded", "min", None),
        ("Which video was recorded before the others?", "comparison", "recorded", "min", None),
        ("Which of these clips was shot most recently?", "comparison", "recorded", "max", None),
        ("Which of the videos was recorded on the earliest date?", "comparison", "recorded", "min", None),
        ("Which was recorded first, video 1 or video 2?", "comparison", "recorded", "min", None),
        ("Which video was recorded at the latest time of day?", "comparison", TOD, "max", None),
        ("Tell me which file was created first", "comparison", "recorded", "min", None),
        ("Sort the clips from oldest to newest", "comparison", "recorded", "order", None),
        ("Which video is the oldest?", "comparison", "recorded", "min", None),
        ("Which video is older?", "comparison", "recorded", "min", None),
        ("Which recording is older?", "comparison", "recorded", "min", None),
        ("Which is older, video 1 or video 2?", "comparison", "recorded", "min", None),
        ("Which is the newest video?", "comparison", "recorded", "max", None),
        ("Which clip is the most recent?", "comparison", "recorded", "max", None),
        ("Which video has the earliest timestamp?", "comparison", "recorded", "min", None),
        ("Was video 2 recorded before video 1?", "comparison", "recorded", "min", [1, 0]),
        ("Was video 2 recorded after video 1?", "comparison", "recorded", "max", [1, 0]),
        ("Was the second clip filmed earlier than the first?", "comparison", "recorded", "min", [1, 0]),
        ("Did video 1 get recorded before video 3?", "comparison", "recorded", "min", [0, 2]),
        ("Is the first clip older than the second?", "comparison", "recorded", "min", [0, 1]),
        ("Is video 3 newer than video 1?", "comparison", "recorded", "max", [2, 0]),
        ("Was b.mp4 shot after a.mp4?", "comparison", "recorded", "max", [1, 0]),
        ("Was video 1 filmed first?", "comparison", "recorded", "min", [0]),
        ("Order the clips by recording date", "comparison", "recorded", "order", None),
        ("Sort the videos by when they were recorded", "comparison", "recorded", "order", None),
        ("Order the videos by date", "comparison", "recorded", "order", None),
        ("In what order were the videos recorded?", "comparison", "recorded", "order", None),
        ("List the videos in chronological order", "comparison", "recorded", "order", None),
        ("Arrange the videos from oldest to newest", "comparison", "recorded", "order", None),
        ("When was each video recorded?", "per_video", "recorded", None, None),
        ("What date was each video filmed?", "per_video", "recorded", None, None),
        # time of day: what the videos show
        ("Which video was shot later in the day?", "comparison", TOD, "max", None),
        ("Which clip was filmed later in the day?", "comparison", TOD, "max", None),
        ("Which video was shot earlier in the day?", "comparison", TOD, "min", None),
        ("Which clip was filmed first in the day?", "comparison", TOD, "min", None),
        ("Order the clips by time of day", "comparison", TOD, "order", None),
        ("At what time of day was each video filmed?", "per_video", TOD, None, None),
        ("Which clip was filmed at night?", "selection", "yes_no", None, None),
        ("Which clip was filmed in the morning?", "selection", "yes_no", None, None),
        ("Which video was recorded in the evening?", "selection", "yes_no", None, None),
        ("Which video was shot at dusk?", "selection", "yes_no", None, None),
        # in-clip events stay ordering, content stays content
        ("Which video shows a dog first?", "ordering", "yes_no", "min", None),
        ("In which video does the car appear earliest?", "ordering", "yes_no", "min", None),
        ("Which video shows a dog last?", "ordering", "yes_no", "max", None),
        ("Which video shows the sunset first?", "ordering", "yes_no", "min", None),
        ("In which video was the photo taken first?", "ordering", "yes_no", "min", None),
        ("Order the clips by when a person first appears", "ordering", "yes_no", "order", None),
        ("Which video shows the oldest car?", "selection", "yes_no", None, None),
        ("Which clip was shot from a drone?", "selection", "yes_no", None, None),
        ("Which clip was filmed last night?", "selection", "yes_no", None, None),
        ("Which video shows the car being made first?", "ordering", "yes_no", "min", None),
        ("Was the cake made before the party?", "per_video", "answer", None, None),
        ("How many videos were recorded at night?", "counting", "yes_no", None, None),
    ],
)
def test_plan_when(
    question: str, kind: str, form: str, direction: str | None, named: list[int] | None
) -> None:
    plan = plan_question(question, [], PATHS)
    assert (plan.kind, plan.sub.form, plan.direction, plan.named) == (kind, form, direction, named)
    if form == "recorded":
        assert plan.sub.question is None and plan.mode == "per_video" and "creation time" in plan.why
    if form == TOD:
        assert plan.sub.question == TIME_OF_DAY and plan.mode == "per_video" and "what each shows" in plan.why


def test_plan_when_sub_questions() -> None:
    night = plan_question("Which clip was filmed at night?", [], PATHS)
    assert night.sub.question == "Was this video filmed at night?" and "time of day" in night.why
    assert plan_question("Which video shows a dog first?", [], PATHS).sub.question == (
        "Does this video show a dog? If so, when?"
    )
    forced = plan_question("Which video was recorded first?", [], PATHS, mode="joint")
    assert forced.mode == "per_video" and "joint mode does not apply" in forced.why
    assert plan_question("Which video is the oldest?", [], PATHS * 3, mode="joint").mode == "per_video"


@pytest.mark.parametrize(
    ("question", "said", "start", "end"),
    [
        ("How many videos were recorded after 2020?", "after 2020", "2021-01-01", None),
        ("How many of the clips were filmed before June 2023?", "before June 2023", None, "2023-06-01"),
        ("How many videos were shot in 2023?", "in 2023", "2023-01-01", "2024-01-01"),
        ("How many videos were recorded in 2023-12?", "in 2023-12", "2023-12-01", "2024-01-01"),
        ("How many clips were taken on 2024-06-02?", "on 2024-06-02", "2024-06-02", "2024-06-03"),
        ("How many of them were filmed on 15th June 2023?", "on 15th June 2023", "2023-06-15", "2023-06-16"),
        ("How many videos were shot on June 15, 2023?", "on June 15, 2023", "2023-06-15", "2023-06-16"),
        ("How many videos were recorded after Dec 2023?", "after Dec 2023", "2024-01-01", None),
        ("How many videos were recorded since March 2022?", "since March 2022", "2022-03-01", None),
        ("How many videos were recorded between 2019 and 2021?", "between 2019 and 2021", "2019-01-01",
         "2022-01-01"),
    ],
)  # fmt: skip
def test_plan_count_by_recording_time(question: str, said: str, start: str | None, end: str | None) -> None:
    plan = plan_question(question, ["0", "1", "2", "3"], PATHS)
    assert (plan.kind, plan.sub.form, plan.sub.question, plan.mode) == (
        "counting",
        "recorded",
        None,
        "per_video",
    )
    assert plan.period is not None and plan.not_in_files is None and "creation time" in plan.why
    got = (plan.period.said, plan.period.start, plan.period.end)
    assert got == (said, start and start + "T00:00:00+00:00", end and end + "T00:00:00+00:00")


def test_plan_count_by_content_and_bad_dates() -> None:
    for question in ["How many videos were recorded at night?", "How many videos were filmed after the party?",
                     "How many videos show a dog in 2020?"]:  # fmt: skip
        plan = plan_question(question, [], PATHS)
        assert (plan.kind, plan.sub.form, plan.period) == ("counting", "yes_no", None)
    with pytest.raises(ConfigError, match="'2023-02-30' is not a date: write a year"):
        plan_question("How many videos were recorded before 2023-02-30?", [], PATHS)
    with pytest.raises(ConfigError, match="empty span of dates"):
        period_of("between", "2022", "2020")
    assert period_of("between", "2020") is None


@pytest.mark.parametrize(
    ("question", "kind", "direction", "named", "word"),
    [
        ("Which video was uploaded first?", "comparison", "min", None, "uploaded"),
        ("Which clip was posted most recently?", "comparison", "max", None, "posted"),
        ("Which video was published last?", "comparison", "max", None, "published"),
        ("Which video has the earliest upload date?", "comparison", "min", None, "uploaded"),
        ("Order the videos by upload date", "comparison", "order", None, "uploaded"),
        ("Was video 2 uploaded before video 1?", "comparison", "min", [1, 0], "uploaded"),
        ("When was each video posted?", "per_video", None, None, "posted"),
        ("How many videos were uploaded after 2020?", "counting", None, None, "uploaded"),
    ],
)
def test_plan_upload_time_is_not_in_the_files(
    question: str, kind: str, direction: str | None, named: list[int] | None, word: str
) -> None:
    plan = plan_question(question, [], PATHS)
    assert (plan.kind, plan.sub.form, plan.direction, plan.named) == (kind, "recorded", direction, named)
    assert plan.not_in_files == (
        f"no file states when it was {word} (a video's metadata holds at most when it was recorded)"
    )
    assert plan.sub.question is None and plan.mode == "per_video"


def test_plan_upload_words_about_content_stay_content() -> None:
    posted = plan_question("Which video shows a letter being posted first?", [], PATHS)
    assert (posted.kind, posted.not_in_files) == ("ordering", None)
    youtube = plan_question("Which clip was published on YouTube?", [], PATHS)
    assert (youtube.kind, youtube.sub.question, youtube.not_in_files) == (
        "selection", "Was this video published on YouTube?", None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "iso", "note"),
    [
        ("2024-05-01T10:20:30.000000Z", "2024-05-01T10:20:30+00:00", ""),
        ("2024-05-01T10:20:30-0700", "2024-05-01T17:20:30+00:00", ""),
        ("2024-05-01 10:20:30", "2024-05-01T10:20:30+00:00", "no time zone"),
        ("2024:05:01 10:20:30", "2024-05-01T10:20:30+00:00", "no time zone"),
        (None, None, "states no creation time"),
        ("1970-01-01T00:00:00.000000Z", None, "not plausible"),
        ("yesterday", None, "not a date"),
    ],
)
def test_read_creation_time(value: str | None, iso: str | None, note: str) -> None:
    when, said = read_creation_time(value)
    assert (when.isoformat() if when else None) == iso and note in said


def test_phase_of() -> None:
    assert [phase_of(t) for t in ["Night. Street lamps are lit.", "It looks like morning light", "evening"]] == [
        6, 2, 5
    ]  # fmt: skip
    assert phase_of("Not night: bright morning sun") is None  # two phases, not first: unclear
    assert phase_of("daytime") is None and phase_of(None) is None


def clip(path: Path, created: str | None = None, *, first: int = 0) -> Path:
    """A small clip; ``created`` written as the MP4 container's creation_time, or for a .mov as
    the phones' com.apple.quicktime.creationdate (local time with its offset)."""
    import av

    apple = path.suffix == ".mov"
    options = {"movflags": "use_metadata_tags"} if apple else {}
    with av.open(str(path), "w", format=path.suffix[1:], options=options) as c:
        if created:
            c.metadata["com.apple.quicktime.creationdate" if apple else "creation_time"] = created
        s = c.add_stream("mpeg4", rate=5)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for k in range(first, first + 6):  # each clip its own frames (the frame cache goes by content)
            frame = av.VideoFrame.from_ndarray(frame_image(k, 64, 48), format="rgb24")
            frame.pts = k
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def test_probe_reads_creation_time(tmp_path: Path) -> None:
    info = probe(clip(tmp_path / "a.mp4", "2024-05-01T10:20:30.000000Z"))
    assert (info.creation_time, info.creation_time_from) == (
        "2024-05-01T10:20:30.000000Z",
        "container creation_time",
    )
    bare = probe(clip(tmp_path / "b.mp4"))
    assert bare.creation_time is None and bare.creation_time_from is None
    phone = probe(clip(tmp_path / "c.mov", "2024-06-02T10:00:00+0200"))
    assert phone.creation_time_from == "container com.apple.quicktime.creationdate"
    # the video stream's creation time when the container states none
    meta = SimpleNamespace(metadata={}), SimpleNamespace(metadata={"creation_time": "2024-01-01T00:00:00Z"})
    assert _creation_time(*meta) == ("2024-01-01T00:00:00Z", "video stream creation_time")


def ask(videos: list[str], question: str, options: list[str] | None = None, **kw: object) -> MultiAnswer:
    calls: list[str] = []

    def script(request: GenerationRequest) -> str:
        calls.append(question_from_messages(request.messages))
        return "<time>00:00-00:01</time><caption>-</caption><think>-</think>\n<answer>B</answer>"

    reasoner = VideoReasoner(FakeBackend(script))
    out = asyncio.run(answer_videos(reasoner, videos, question, options, **kw))  # type: ignore[arg-type]
    assert calls == [], "a recording time was asked of the model"
    return out


@pytest.fixture
def dated(tmp_path: Path) -> list[str]:
    return [
        str(clip(tmp_path / "beach.mp4", "2024-06-02T09:00:00.000000Z")),
        str(clip(tmp_path / "city.mp4", "2023-12-24T18:30:00.000000Z", first=10)),
        str(clip(tmp_path / "park.mov", "2024-06-02T10:00:00+0200", first=20)),
    ]


def test_recording_time_from_the_files(dated: list[str]) -> None:
    first = ask(dated, "Which video was recorded first?", ["Video 1", "Video 2", "Video 3"])
    assert (first.answer, first.synthesis, first.partial) == ("B", "rules", False)
    assert first.answer_text == "Video 2 (city.mp4) (recorded 2023-12-24 18:30:00 UTC)"
    assert [c.video for c in first.citations] == [1]
    assert first.citations[0].caption == "the whole clip (recording time from its container creation_time)"
    assert first.per_video[2].answer_text == (
        "recorded 2024-06-02 08:00:00 UTC (from its container com.apple.quicktime.creationdate)"
    )
    assert first.per_video[0].used == "recorded 2024-06-02 09:00:00 UTC: compared"
    newest = ask(dated, "Which is the newest video?")
    assert newest.answer == "Video 1 (beach.mp4) (recorded 2024-06-02 09:00:00 UTC)"
    order = ask(dated, "Order the clips by recording date", ["1, 3, 2", "2, 3, 1", "3, 2, 1"])
    assert order.answer == "B" and order.answer_text.startswith("Video 2 (city.mp4) (2023-12-24")
    before = ask(dated, "Was video 3 recorded before video 1?", ["Yes", "No"])
    assert before.answer == "A" and before.citations and {c.video for c in before.citations} == {0, 2}
    assert ask(dated, "Was video 1 filmed first?").answer_text.startswith("No (")
    among = ask(dated, "Which was recorded last, video 2 or video 3?")
    assert (
        among.plan.among == [1, 2] and among.answer == "Video 3 (park.mov) (recorded 2024-06-02 08:00:00 UTC)"
    )
    assert among.per_video[0].used == "recorded 2024-06-02 09:00:00 UTC: not asked about"
    each = ask(dated, "When was each video recorded?")
    assert each.answer is not None and "Video 3 (park.mov): recorded 2024-06-02 08:00:00 UTC" in each.answer


def test_unknown_recording_time_is_named_not_guessed(dated: list[str], tmp_path: Path) -> None:
    videos = [dated[0], str(clip(tmp_path / "nodate.mp4", first=30)), dated[1]]
    out = ask(videos, "Which video was recorded first?", ["Video 1", "Video 2", "Video 3"])
    assert out.answer is None and out.synthesis == "none" and out.partial
    assert out.answer_text is not None and out.answer_text.startswith(
        "Unknown: no recording time for Video 2 (nodate.mp4) (its metadata states no creation time); what "
        "a video shows does not tell when it was recorded, so it is not guessed."
    )
    assert "Known: Video 3 (city.mp4) recorded 2023-12-24 18:30:00 UTC" in out.answer_text
    assert any("Video 2 (nodate.mp4): no answer rather than a guess" in w for w in out.warnings)
    assert out.per_video[1].used == "recording time unknown: not compared"
    # a yes/no over two dated videos does not need the third
    pair = ask(videos, "Was video 3 recorded before video 1?")
    assert pair.answer == "Yes" and not pair.partial
    assert ask(videos, "Order the videos by date").answer is None
    assert (
        ask(videos, "Which is older, video 1 or video 3?").answer
        == "Video 3 (city.mp4) (recorded 2023-12-24 18:30:00 UTC)"
    )


def test_options_naming_videos_for_a_recording_time_yes_no(dated: list[str]) -> None:
    # city (video 2) was recorded first, then park (video 3, 08:00 UTC), then beach (video 1, 09:00 UTC)
    pair = ask(dated, "Was video 2 recorded before video 1?", ["Video 1", "Video 2"])
    assert (pair.answer, pair.partial) == ("B", False) and pair.answer_text.startswith("Yes (")
    after = ask(dated, "Was video 2 recorded after video 1?", ["Video 1", "Video 2"])
    assert after.answer == "A" and after.answer_text.startswith("No (")  # video 1 was the later one
    alone = ask(dated, "Was video 1 filmed first?", ["Video 1", "Video 2", "Video 3"])
    assert alone.answer == "B" and {c.video for c in alone.citations} == {0, 1}
    said = ask(dated, "Was video 3 recorded before video 1?", ["No, video 1 was", "Yes, video 3 was"])
    assert (said.answer, said.warnings) == ("B", [])
    older = ask(dated, "Is the first clip older than the second?", ["the first clip", "the second clip"])
    assert older.answer == "B"
    which = ask(dated, "Which video was recorded first?", ["beach.mp4", "city.mp4", "park.mov"])
    assert which.answer == "B"


def test_count_by_recording_time(dated: list[str], tmp_path: Path) -> None:
    after = ask(dated, "How many videos were recorded after 2023?", ["0", "1", "2", "3"])
    assert (after.answer, after.synthesis, after.partial) == ("C", "rules", False)
    assert after.answer_text == "2 (Video 1 (beach.mp4) and Video 3 (park.mov) were recorded after 2023)"
    assert [e.used for e in after.per_video] == [
        "recorded 2024-06-02 09:00:00 UTC: counted",
        "recorded 2023-12-24 18:30:00 UTC: not counted (not after 2023)",
        "recorded 2024-06-02 08:00:00 UTC: counted",
    ]
    assert {c.video for c in after.citations} == {0, 2}
    before = ask(dated, "How many of the clips were filmed before June 2023?")
    assert (before.answer, before.answer_text) == ("0", "0 (none was recorded before June 2023)")
    day = ask(dated, "How many videos were shot on 2024-06-02?", ["None", "One", "Two", "All three"])
    assert day.answer == "C"
    near = ask(dated, "How many videos were recorded before 2023-12-25?")
    assert near.answer == "1" and any(
        "Video 2 (city.mp4) was recorded within 14 hours of 2023-12-25 00:00 UTC" in w for w in near.warnings
    )
    videos = [*dated, str(clip(tmp_path / "nodate.mp4", first=30))]
    part = ask(videos, "How many videos were recorded after 2023?")
    assert (part.answer, part.partial) == ("2", True)
    assert part.answer_text is not None and part.answer_text.startswith(
        "at least 2 (Video 1 (beach.mp4) and Video 3 (park.mov) were recorded after 2023); up to 3 with "
        "Video 4 (nodate.mp4), whose recording time is unknown (its metadata states no creation time)"
    )
    assert part.per_video[3].used == "recording time unknown: not counted"
    fits = ask(videos, "How many videos were recorded after 2023?", ["1", "2", "3"])
    assert fits.answer is None and any("options B and C fit the count (2 to 3)" in w for w in fits.warnings)
    one = ask(videos, "How many videos were recorded after 2023?", ["2 or 3", "None", "4"])
    assert one.answer == "A" and one.partial


def test_upload_time_is_not_guessed(dated: list[str], tmp_path: Path) -> None:
    videos = [dated[0], str(clip(tmp_path / "nodate.mp4", first=30))]
    out = ask(videos, "Which video was uploaded first?", ["Video 1", "Video 2"])
    assert (out.answer, out.synthesis) == (None, "none")
    assert out.answer_text == (
        "Unknown: no file states when it was uploaded (a video's metadata holds at most when it was "
        "recorded), so it is not guessed. The recording times, if that is what you meant: Video 1 "
        "(beach.mp4): recorded 2024-06-02 09:00:00 UTC (from its container creation_time); Video 2 "
        "(nodate.mp4): recording time unknown: its metadata states no creation time."
    )
    assert any("no answer rather than a guess" in w for w in out.warnings)
    assert out.per_video[0].used == "recorded 2024-06-02 09:00:00 UTC: listed, not the time asked about"
    posted = ask(dated, "When was each video posted?")
    assert posted.answer is None and posted.answer_text is not None
    assert "Video 2 (city.mp4): recorded 2023-12-24 18:30:00 UTC" in posted.answer_text
    assert ask(dated, "How many videos were published after 2020?", ["3"]).answer is None


def time_of_day_backend(phase: dict[str, str]) -> FakeBackend:
    def script(request: GenerationRequest) -> str:
        assert question_from_messages(request.messages).startswith("At what time of day")
        said = phase[Path(request.videos[0].record.path).stem]
        return f"<time>00:00-00:01</time><caption>{said}</caption><think>-</think>\n<answer>{said}</answer>"

    return FakeBackend(script)


def test_time_of_day_from_what_the_videos_show(dated: list[str]) -> None:
    said = {"beach": "Morning: low sun, long shadows.", "city": "Night, the street lamps are lit.",
            "park": "Afternoon light."}  # fmt: skip
    later = asyncio.run(
        answer_videos(
            VideoReasoner(time_of_day_backend(said)), dated, "Which video was shot later in the day?",
            ["Video 1", "Video 2", "Video 3"],
        )
    )  # fmt: skip
    assert (later.answer, later.plan.sub.form) == ("B", "time_of_day")
    assert later.answer_text == "Video 2 (city.mp4) (night, as the video looks)"
    assert [e.used for e in later.per_video] == [
        "looks like morning: compared", "looks like night: chosen", "looks like afternoon: compared"
    ]  # fmt: skip
    order = asyncio.run(
        answer_videos(VideoReasoner(time_of_day_backend(said)), dated, "Order the clips by time of day")
    )
    assert order.answer == (
        "Video 1 (beach.mp4) (morning), then Video 3 (park.mov) (afternoon), then Video 2 (city.mp4) (night)"
    )
    said["park"] = "Hard to say, it is overcast."
    unclear = asyncio.run(
        answer_videos(
            VideoReasoner(time_of_day_backend(said)), dated, "Which clip was filmed earlier in the day?"
        )
    )
    assert unclear.answer is not None and unclear.per_video[2].number is None  # the descriptions, listed
    assert "Hard to say" in unclear.answer and any("no rule decides" in w for w in unclear.warnings)


def test_inspect_shows_when_a_file_was_recorded(tmp_path: Path) -> None:
    from vt_agent.cli import main

    dated_clip = clip(tmp_path / "dated.mp4", "2024-05-01T10:20:30.000000Z")
    undated = clip(tmp_path / "undated.mp4", first=10)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["inspect", str(dated_clip), "--preset", "video-thinker-16f"]) == 0
    line = next(x for x in out.getvalue().splitlines() if x.startswith("recorded"))
    assert "2024-05-01" in line and "container" in line
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["inspect", str(undated)]) == 0
    assert not any(x.startswith("recorded") for x in out.getvalue().splitlines())
