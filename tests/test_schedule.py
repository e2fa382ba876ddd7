"""Schedule rules as pure functions: offsets, local times, time zones, moving dates, grace."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.programmes.schedule import (
    DEFAULT_ANNOUNCEMENTS,
    KINDS,
    TEAM_AUDIENCES,
    ScheduleError,
    describe_offset,
    in_grace,
    parse_programme,
    phase_fields,
    render,
    send_time,
)

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kawasaki-2017.yaml"


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


# ---------------------------------------------------------------- send_time


def test_at_the_start_is_the_phase_start_in_utc() -> None:
    kickoff = tokyo(2017, 9, 30, 13, 0)
    assert send_time(kickoff, TOKYO) == datetime(2017, 9, 30, 4, 0, tzinfo=UTC)


def test_days_before_keep_the_local_time_of_day() -> None:
    kickoff = tokyo(2017, 9, 30, 13, 0)
    assert send_time(kickoff, TOKYO, offset_days=-7) == tokyo(2017, 9, 23, 13, 0)


def test_the_day_before_at_18_is_local_wall_clock() -> None:
    kickoff = tokyo(2017, 9, 30, 13, 0)
    due = send_time(kickoff, TOKYO, offset_days=-1, at_local="18:00")
    assert due == tokyo(2017, 9, 29, 18, 0)
    assert due == datetime(2017, 9, 29, 9, 0, tzinfo=UTC)


def test_the_calendar_day_is_the_programmes_not_utcs() -> None:
    # 08:00 in Tokyo is still the previous day in UTC; "the day before" counts in Tokyo.
    early = tokyo(2017, 10, 2, 8, 0)
    assert early.astimezone(UTC).day == 1
    due = send_time(early, TOKYO, offset_days=-1, at_local="09:00")
    assert due == tokyo(2017, 10, 1, 9, 0)


def test_follow_ups_after_and_minutes() -> None:
    start = tokyo(2017, 11, 11, 13, 0)
    assert send_time(start, TOKYO, offset_days=3, at_local="10:00") == tokyo(2017, 11, 14, 10, 0)
    assert send_time(start, TOKYO, offset_minutes=-30) == tokyo(2017, 11, 11, 12, 30)


def test_offsets_across_a_dst_change_keep_the_wall_clock() -> None:
    # The clocks in London go forward on 26 March 2017: "7 days before" a 10:00 start
    # is 10:00 local both times, though one is GMT and the other BST.
    start = datetime(2017, 3, 30, 10, 0, tzinfo=LONDON)
    due = send_time(start, LONDON, offset_days=-7)
    assert due.astimezone(LONDON).hour == 10
    assert due == datetime(2017, 3, 23, 10, 0, tzinfo=UTC)
    assert start.astimezone(UTC).hour == 9


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError):
        send_time(datetime(2017, 9, 30, 13, 0), TOKYO)


def test_bad_times_of_day_are_refused_in_both_languages() -> None:
    with pytest.raises(ScheduleError) as caught:
        send_time(tokyo(2017, 9, 30, 13), TOKYO, at_local="25:00")
    assert "HH:MM" in caught.value.text("ja") and "HH:MM" in caught.value.text("en")


# ---------------------------------------------------------------- grace


def test_grace_window() -> None:
    due = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert in_grace(due, due, 0)
    assert in_grace(due, due + timedelta(minutes=59), 60)
    assert in_grace(due, due + timedelta(minutes=60), 60)
    assert not in_grace(due, due + timedelta(minutes=61), 60)


# ---------------------------------------------------------------- texts


def test_describe_offset_in_both_languages() -> None:
    class Rule:
        def __init__(self, days: int, at: str | None = None, minutes: int = 0) -> None:
            self.offset_days, self.at_local, self.offset_minutes = days, at, minutes

    assert describe_offset(Rule(-7, "10:00"), "ja") == "7日前 10:00"
    assert describe_offset(Rule(-7, "10:00"), "en") == "7 days before at 10:00"
    assert describe_offset(Rule(-1, "18:00"), "ja") == "前日 18:00"
    assert describe_offset(Rule(0), "en") == "at the start"
    assert describe_offset(Rule(3, "10:00"), "en") == "3 days after at 10:00"


def test_render_fills_fields_and_drops_empty_lines() -> None:
    fields = phase_fields(
        programme="プロボノチャレンジ",
        title="キックオフミーティング",
        starts_at=tokyo(2017, 9, 30, 13, 0),
        ends_at=tokyo(2017, 9, 30, 16, 0),
        tz=TOKYO,
        place="青丘社",
        url=None,
        description=None,
        locale="ja",
    )
    text = render("{phase}\n日時: {date} {time}\n{description}\n場所: {place}", fields)
    assert text == "キックオフミーティング\n日時: 9月30日(土) 13:00〜16:00\n場所: 青丘社"
    en = phase_fields(
        programme="P",
        title="Kickoff",
        starts_at=tokyo(2017, 9, 30, 13, 0),
        ends_at=None,
        tz=TOKYO,
        place=None,
        url="https://meet.example/abc",
        description=None,
        locale="en",
    )
    assert render("{date} {time} {place} {unknown}", en) == (
        "Sat, Sep 30 13:00 https://meet.example/abc {unknown}"
    )


def test_every_default_announcement_has_both_languages_and_known_audiences() -> None:
    assert set(DEFAULT_ANNOUNCEMENTS) == set(KINDS)
    for kind, rules in DEFAULT_ANNOUNCEMENTS.items():
        keys = [r.key for r in rules]
        assert len(keys) == len(set(keys)), kind
        for rule in rules:
            assert rule.text_ja and rule.text_en, (kind, rule.key)
            assert rule.grace_minutes > 0


# ---------------------------------------------------------------- programme files


def test_the_kawasaki_example_reproduces_the_2017_calendar() -> None:
    spec = parse_programme(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    assert spec.slug == "kawasaki2017" and spec.timezone == "Asia/Tokyo"
    by_key = {p.key: p for p in spec.phases}
    assert by_key["orientation"].starts == tokyo(2017, 9, 2, 13, 0)
    assert by_key["kickoff"].starts == tokyo(2017, 9, 30, 13, 0)
    assert by_key["presentation"].starts == tokyo(2017, 11, 11, 13, 0)
    briefings = [p for p in spec.phases if p.kind == "briefing"]
    assert len(briefings) == 4 and all(p.rsvp for p in briefings)
    assert all(date(2017, 6, 20) <= p.starts.date() <= date(2017, 7, 31) for p in briefings)
    # The menus are Kawasaki's challenge menus.
    assert {"issue_workshop", "flyer", "legal", "translation"} <= set(spec.menus)
    # A phase listing no announcements gets its kind's defaults.
    assert [a.key for a in by_key["kickoff"].announcements] == [
        "week-before",
        "day-before",
        "group-week-before",  # the group hears of its kickoff too (#13)
        "start",
    ]
    group = by_key["kickoff"].announcements[2]
    assert group.audience == ("groups",) and "チームとの初顔合わせ" in group.text_ja
    # Listed ones keep the default texts where none is written.
    invite = by_key["briefing-1"].announcements[0]
    assert invite.offset_days == -10 and invite.audience == ("followers",)
    assert invite.text_ja and invite.text_en


def test_shift_to_moves_every_date_by_the_same_days_keeping_local_times() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    original = parse_programme(data)
    shifted = parse_programme(data, shift_to=date(2026, 12, 1))
    first = min(p.starts for p in shifted.phases)
    assert first.date() == date(2026, 12, 1)
    delta = shifted.phases[0].starts.date() - original.phases[0].starts.date()
    for before, after in zip(original.phases, shifted.phases, strict=True):
        assert after.starts.date() - before.starts.date() == delta
        assert after.starts.time() == before.starts.time()
        if before.ends is not None:
            assert (
                after.ends is not None and after.ends - after.starts == before.ends - before.starts
            )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"programme": {"name": "x", "slug": "Bad Slug"}}, "slug"),
        ({"programme": {"name": "x", "slug": "ok-slug", "timezone": "Mars/Base"}}, "time zone"),
        ({"phases": []}, "phases"),
        ({"phases": [{"key": "a", "kind": "party", "starts": "2026-01-01 10:00"}]}, "kind"),
        ({"phases": [{"key": "a", "kind": "kickoff", "starts": "someday"}]}, "date"),
        (
            {"phases": [{"key": "a", "starts": "2026-01-02", "ends": "2026-01-01"}]},
            "end is before",
        ),
        (
            {
                "phases": [
                    {
                        "key": "a",
                        "starts": "2026-01-02 10:00",
                        "announcements": [{"key": "x", "to": ["everyone"], "text": "hi"}],
                    }
                ]
            },
            "audience",
        ),
        (
            {
                "phases": [
                    {
                        "key": "a",
                        "starts": "2026-01-02 10:00",
                        "announcements": [{"key": "x", "text": {"ja": "こんにちは"}}],
                    }
                ]
            },
            "Japanese and English",
        ),
        (
            {
                "phases": [
                    {"key": "a", "starts": "2026-01-02"},
                    {"key": "a", "starts": "2026-01-03"},
                ]
            },
            "unique",
        ),
        (
            {"phases": [{"key": "a", "starts": "2026-01-02 10:00", "project": "A団体"}]},
            "project (request) number",
        ),
        (
            {"phases": [{"key": "a", "starts": "2026-01-02 10:00", "team": 0}]},
            "from 1",
        ),
        (
            {
                "phases": [
                    {
                        "key": "a",
                        "starts": "2026-01-02 10:00",
                        "project": 3,
                        "announcements": [{"key": "x", "to": "followers", "text": "hi"}],
                    }
                ]
            },
            "announces only to team_channels",
        ),
    ],
)
def test_bad_programme_files_are_explained(change: dict[str, object], words: str) -> None:
    data: dict[str, object] = {
        "programme": {"name": "テスト", "slug": "test"},
        "phases": [{"key": "kickoff", "kind": "kickoff", "starts": "2026-12-01 13:00"}],
    }
    data.update(change)
    with pytest.raises(ScheduleError) as caught:
        parse_programme(data)
    assert words in caught.value.text("en")
    assert caught.value.text("ja") != caught.value.text("en")


def test_a_phase_for_one_team_keeps_only_team_audiences() -> None:
    data = {
        "programme": {"name": "テスト", "slug": "test"},
        "phases": [
            {"key": "kickoff-a", "kind": "kickoff", "starts": "2026-12-01 13:00", "team": 12},
            {"key": "kickoff", "kind": "kickoff", "starts": "2026-12-02 13:00"},
            {"key": "report", "kind": "report", "starts": "2027-01-10 10:00", "project": "7"},
        ],
    }
    one, shared, report = parse_programme(data).phases
    assert (one.project, shared.project, report.project) == (12, None, 7)
    assert one.announcements and [a.key for a in one.announcements] == [
        a.key for a in shared.announcements
    ]
    for phase in (one, report):
        assert all(set(a.audience) <= TEAM_AUDIENCES for a in phase.announcements)
