"""Simultaneous clicks on one Accept: how long until the decision and until every click is
answered, and how /healthz and a LINE webhook fare meanwhile, beside one click alone.

    python bench/clicks.py                      # SQLite in a temporary folder
    python bench/clicks.py --database-url postgresql://postgres@127.0.0.1:5432/bench

The app is the real one under uvicorn, with the fake LINE and Slack APIs (tests/fakes);
each request is a fresh group request. The baseline is one click, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from sqlalchemy import create_engine, text  # noqa: E402

from storage.base import Base  # noqa: E402
from storage.db import sync_url  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakes.line_api import FakeLineApi  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402
from tests.support import (  # noqa: E402
    COORDINATORS,
    OUTSIDER,
    SLACK_SECRET,
    SLACK_TOKEN,
    TOKEN,
    AppServer,
    LineUser,
    make_settings,
    scalar,
    submit_group_request,
)
from tests.test_hold_under_load import CHANNEL, _click_bodies, _storm  # noqa: E402

CHANNEL_ID = "C0COORDS01"


def _fresh(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)
    assert Base.metadata.tables  # the models are loaded


def _decided_at(url: str) -> datetime | None:
    value = scalar(
        url, "SELECT decided_at FROM projects WHERE status='recruiting' ORDER BY id DESC LIMIT 1"
    )
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def run(
    url: str, clicks: int, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> dict[str, float]:
    """One storm of `clicks` on a fresh request; the figures in seconds."""
    _fresh(url)
    fake_slack.clear()
    settings = make_settings(
        url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join(COORDINATORS),
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
    )
    with AppServer(settings) as app:
        submit_group_request(LineUser(app, fake_line))
        fake_slack.wait_for(lambda: fake_slack.messages(CHANNEL, replies=False), timeout=10)
        bodies = _click_bodies(fake_slack, clicks)
        follower = LineUser(app, fake_line)
        codes, health, (_, webhook_s), sent_at = asyncio.run(_storm(app, bodies, follower))
        assert codes == [200] * clicks
        decided = fake_slack.wait_for(lambda: _decided_at(url), timeout=30)

        def answered() -> bool:
            told = fake_slack.ephemerals(COORDINATORS[0]) + fake_slack.ephemerals(COORDINATORS[1])
            return len(told) >= clicks - 1

        fake_slack.wait_for(answered, timeout=30, interval=0.005)
        all_answered = (datetime.now(UTC) - sent_at).total_seconds()
    return {
        "decided": (decided - sent_at).total_seconds(),
        "answered": all_answered,
        "healthz_max": max(health),
        "webhook": webhook_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--clicks", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        with (
            FakeLineApi(access_token=TOKEN) as fake_line,
            FakeSlackApi(token=SLACK_TOKEN) as fake_slack,
        ):
            for user in (*COORDINATORS, OUTSIDER):
                fake_slack.add_user(user, user.lower())
            fake_slack.add_channel(CHANNEL, id=CHANNEL_ID, members=(*COORDINATORS, OUTSIDER))
            started = time.monotonic()
            rows = [(n, run(url, n, fake_line, fake_slack)) for n in (1, args.clicks)]
    print(f"database: {sync_url(url).get_backend_name()}  ({time.monotonic() - started:.0f} s)")
    print("clicks  decided (s)  all answered (s)*  /healthz max (s)  LINE webhook ack (s)")
    for n, f in rows:
        print(
            f"{n:>6}  {f['decided']:>11.3f}  {f['answered']:>17.3f}  "
            f"{f['healthz_max']:>16.3f}  {f['webhook']:>20.3f}"
        )
    print("* includes the storm's 1 s of /healthz polling after the clicks were acknowledged")


if __name__ == "__main__":
    main()
