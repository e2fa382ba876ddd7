"""End to end with the real scheduler: a programme imported for tomorrow, a team formed
through LINE and Slack, the calendar's clock moved to a second before the kickoff, and
the kickoff announcement fired by APScheduler on the lease holder reaching the team
channel and, in LINE, the member who has not linked Slack.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.clock import ShiftableClock
from bot.coordination import Coordination
from bot.programmes.schedule import parse_programme
from bot.programmes.service import Programmes
from storage.base import utcnow
from storage.models import Announcement
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    SLACK_SECRET,
    SLACK_TOKEN,
    AppServer,
    make_settings,
    said,
    scalar,
)
from tests.test_matching_flow import pushes_to
from tests.test_team_channels import ISHIDA, form_team, run, team_channel

TOKYO = ZoneInfo("Asia/Tokyo")
# The kickoff is a day ahead: the team is formed long before it, however loaded the
# machine; then the test moves the calendar's clock instead of waiting.
LEAD = timedelta(days=1)


def import_programme(database_url: str, kickoff: Any) -> Any:
    """Import a programme whose kickoff starts at `kickoff`, as `tsunagu programme
    import` would (another process: the running app only sees the rows)."""
    kickoff = kickoff.astimezone(TOKYO)
    data = {
        "programme": {"name": "川崎プロボノ e2e", "slug": "kawasaki-e2e"},
        "phases": [
            {
                "key": "kickoff",
                "kind": "kickoff",
                "starts": kickoff.replace(tzinfo=None).isoformat(timespec="seconds"),
                "place": "川崎市役所",
                "announcements": [
                    {
                        "key": "start",
                        "to": ["team_channels"],
                        "text": {
                            "ja": "{phase}の時間です（{place}）。よろしくお願いします！",
                            "en": "It is time for the {phase} ({place}). Let's go!",
                        },
                    }
                ],
            },
            {
                "key": "presentation",
                "kind": "presentation",
                "starts": (kickoff + timedelta(days=40)).replace(tzinfo=None).isoformat(),
                "announcements": [],
            },
        ],
    }

    async def job(maker: Any) -> int:
        coordination = Coordination(
            maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=COORDINATOR_CHANNEL_ID
        )
        result = await Programmes(maker, coordination, locale="ja").import_spec(
            parse_programme(data), actor="test"
        )
        return result.scheduled

    return run(database_url, job)


def test_kickoff_announcement_reaches_the_team_channel_and_unlinked_members(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    # Whole seconds: the calendar file has no smaller unit.
    kickoff = (utcnow() + LEAD).replace(microsecond=0)
    assert import_programme(database_url, kickoff) == 1
    clock = ShiftableClock()
    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=COORDINATOR_CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join([*COORDINATORS, "S0COORDGRP"]),
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
        TSUNAGU_SCHEDULER_LEASE_SECONDS="3",
    )
    fake_slack.add_user(ISHIDA, "ishida")
    with AppServer(settings, clock=clock) as app:
        # The app took the lease and mirrored the announcement into APScheduler's store.
        fake_slack.wait_for(
            lambda: scalar(database_url, "SELECT count(*) FROM apscheduler_jobs") >= 1,
            timeout=15,
        )
        ids = form_team(
            app, fake_line, fake_slack, database_url, programme=False, linked={"石田 真理": ISHIDA}
        )
        # The accepted request joined the programme that is running.
        assert scalar(database_url, "SELECT count(*) FROM projects WHERE programme_id=1") == 1
        assert scalar(database_url, "SELECT state FROM announcements") == "scheduled"
        channel = team_channel(fake_slack, database_url)
        assert not [
            m for m in fake_slack.messages(channel) if "よろしくお願いします！" in m["text"]
        ]

        # A second before the kickoff: the scheduler moves its job to one wall-clock
        # second from now, and APScheduler fires it.
        clock.advance(kickoff - clock() - timedelta(seconds=1))
        posted = fake_slack.wait_for(
            lambda: [
                m for m in fake_slack.messages(channel) if "よろしくお願いします！" in m["text"]
            ],
            timeout=20,
        )
        assert "川崎市役所" in posted[0]["text"] and "Let's go!" in posted[0]["text"]
        line_copy = fake_line.wait_for(
            lambda: [
                m
                for m in pushes_to(fake_line, ids["青木 健"])
                if "よろしくお願いします！" in said(m)
            ],
            timeout=20,
        )
        assert "キックオフミーティング" in said(line_copy[0]) or "キックオフ" in said(line_copy[0])
        # The linked member reads it in Slack only.
        assert not [
            m for m in pushes_to(fake_line, ids["石田 真理"]) if "よろしくお願いします！" in said(m)
        ]

    async def state(maker: Any) -> tuple[str, dict[str, Any]]:
        async with maker() as session:
            row = (await session.execute(select(Announcement))).scalar_one()
            return row.state, row.detail

    sent, detail = run(database_url, state)
    assert sent == "sent" and detail.get("team_channels") == 1
    # Exactly once: one post in the channel, one LINE copy.
    assert (
        len([m for m in fake_slack.messages(channel) if "よろしくお願いします！" in m["text"]]) == 1
    )
    assert (
        len(
            [m for m in pushes_to(fake_line, ids["青木 健"]) if "よろしくお願いします！" in said(m)]
        )
        == 1
    )
