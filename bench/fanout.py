"""One announcement to 10,000 LINE members and 200 team Slack channels, beside a push loop.

Everything goes through the real code and the real SDK clients to the fakes on
127.0.0.1, which answer after a simulated latency (20 ms) and enforce the platforms'
rate limits (LINE multicast 200 requests/s and push 2,000/s; Slack chat.postMessage
1 a second per channel and a workspace-wide limit, 429 beyond). Runs, in one process
and against the same fakes:

- fan-out: the announcement written as the scheduler writes it (`fan_out` for the LINE
  members, one post row per team channel, one transaction), dispatched by the outbox's
  `Dispatcher` (concurrent rows, held to each limit, LINE budget on). Timed from the
  commit until every row is marked sent.
- push rows: the same members as one outbox push row each (what the bot would do
  without multicast), same dispatcher.
- baseline: one push per member in a loop through line-bot-sdk's `AsyncMessagingApi`,
  each awaited before the next.

Each run checks that every member received the message exactly once (and every
channel its post), and reports requests made, 429 answers and LINE quota consumed.

    .venv/bin/python bench/fanout.py              # 10,000 members, 200 channels (~6 min)
    .venv/bin/python bench/fanout.py --quick      # 1,000 members, 20 channels
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The SDK clients honour proxy variables; the fakes live on loopback.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

from linebot.v3.messaging import (  # noqa: E402
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    TextMessage,
)
from sqlalchemy import func, select  # noqa: E402

from bot.budget import Budget  # noqa: E402
from bot.conversation.model import Reply  # noqa: E402
from bot.coordination import Coordination  # noqa: E402
from bot.dialogue import Dialogue  # noqa: E402
from bot.effects import EffectContext  # noqa: E402
from bot.inbox import Inbox  # noqa: E402
from bot.outbox import Dispatcher, enqueue, fan_out, key_for, replies_payload  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.line import LineChannel, render_line_messages  # noqa: E402
from handlers.slack import SlackChannel  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import OutboxMessage  # noqa: E402
from tests.fakes.line_api import LINE_RATE_LIMITS, FakeLineApi  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402

LINE_TOKEN = "bench-line-token"
LINE_SECRET = "bench-line-secret-0123456789abcdef"
SLACK_TOKEN = "xoxb-bench-token"
TEXT = "【お知らせ】キックオフは12月5日 19:00 から、オンラインで行います。"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Result:
    name: str
    seconds: float
    line_seconds: float
    slack_seconds: float | None
    line_requests: int
    line_429: int
    slack_requests: int
    slack_429: int
    quota: int


def member_ids(n: int) -> list[str]:
    return [f"U{i:032x}" for i in range(1, n + 1)]


class Fakes:
    def __init__(self, latency: float, slack_rate: float, channels: int) -> None:
        # Schema validation off (0.3 ms a request); LINE's documented limits still apply.
        self.line = FakeLineApi(
            LINE_TOKEN, latency, validate=False, rate_limits=LINE_RATE_LIMITS, quota=None
        )
        self.slack = FakeSlackApi(SLACK_TOKEN, latency, post_rate_limits=(1.0, slack_rate))
        self.line.start()
        self.slack.start()
        self.channels = [self.slack.add_channel(f"team-{i:03d}") for i in range(channels)]

    def stop(self) -> None:
        self.line.stop()
        self.slack.stop()

    def line_calls(self, path: str) -> tuple[int, int]:
        calls = [q for q in self.line.requests if q.path == path]
        return len(calls), sum(q.status == 429 for q in calls)

    def slack_calls(self) -> tuple[int, int]:
        calls = [q for q in self.slack.requests if q.path.endswith("chat.postMessage")]
        return len(calls), sum(q.status == 429 for q in calls)

    def check_members(self, members: list[str]) -> None:
        wrong = [m for m in members if len(self.line.messages_to(m)) != 1]
        if wrong:
            raise SystemExit(f"{len(wrong)} members did not receive exactly one message")

    def check_channels(self) -> None:
        wrong = [c for c in self.channels if len(self.slack.messages(c)) != 1]
        if wrong:
            raise SystemExit(f"{len(wrong)} channels did not receive exactly one post")


async def until_sent(
    maker: object, started: float, timeout: float
) -> tuple[float, dict[str, float]]:
    """Poll until no row is pending or sending; return total and per-channel finish times."""
    finished: dict[str, float] = {}
    deadline = time.perf_counter() + timeout
    while True:
        async with maker() as session:  # type: ignore[operator]
            rows = await session.execute(
                select(OutboxMessage.channel, func.count())
                .where(OutboxMessage.status.in_(("pending", "sending", "deferred")))
                .group_by(OutboxMessage.channel)
            )
            left = dict(rows.all())
        now = time.perf_counter() - started
        for channel in ("line", "slack"):
            if not left.get(channel) and channel not in finished:
                finished[channel] = now
        if not left:
            return now, finished
        if time.perf_counter() > deadline:
            raise SystemExit(f"not delivered within {timeout:.0f}s: {left}")
        await asyncio.sleep(0.01)


async def run_outbox(
    name: str,
    fakes: Fakes,
    database_url: str,
    members: list[str],
    *,
    multicast: bool,
    with_slack: bool,
) -> Result:
    """Write one announcement in one transaction and let the dispatcher deliver it."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        LINE_CHANNEL_SECRET=LINE_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
        LINE_API_BASE_URL=fakes.line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET="bench",
        SLACK_API_BASE_URL=fakes.slack.base_url,
        TSUNAGU_LOG_LEVEL="WARNING",
    )
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    budget = Budget(maker)
    dispatcher = Dispatcher(maker, {}, budget=budget)
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    coordination = Coordination(maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="")
    line = LineChannel(settings, inbox, dispatcher)
    slack = SlackChannel(settings, coordination, inbox)
    dispatcher._transports.update(line=line, slack=slack)
    budget.reader = line
    fakes.line.clear()
    fakes.slack.clear()
    quota_before = fakes.line.quota_used
    await dispatcher.start()
    try:
        started = time.perf_counter()
        async with maker.begin() as session:
            if multicast:
                await fan_out(
                    session, channel="line", targets=members, replies=[Reply(TEXT)], key=name
                )
            else:
                for member in members:
                    await enqueue(
                        session,
                        channel="line",
                        kind="push",
                        target=member,
                        payload=replies_payload([Reply(TEXT)]),
                        key=key_for(name, member),
                    )
            if with_slack:
                for channel in fakes.channels:
                    await enqueue(
                        session,
                        channel="slack",
                        kind="post",
                        target=channel,
                        payload={"text": TEXT},
                        key=key_for(name, channel),
                    )
        dispatcher.notify()
        total, finished = await until_sent(maker, started, timeout=1800)
    finally:
        await dispatcher.stop()
        await line.close()
        await engine.dispose()
    fakes.check_members(members)
    path = "/v2/bot/message/multicast" if multicast else "/v2/bot/message/push"
    line_requests, line_429 = fakes.line_calls(path)
    slack_requests, slack_429 = fakes.slack_calls()
    if with_slack:
        fakes.check_channels()
    return Result(
        name,
        total,
        finished.get("line", total),
        finished.get("slack") if with_slack else None,
        line_requests,
        line_429,
        slack_requests,
        slack_429,
        fakes.line.quota_used - quota_before,
    )


async def run_baseline(fakes: Fakes, members: list[str]) -> Result:
    """One push per member, each awaited before the next, through the SDK."""
    fakes.line.clear()
    quota_before = fakes.line.quota_used
    messages = [TextMessage.from_dict(m) for m in render_line_messages([Reply(TEXT)])]
    async with AsyncApiClient(
        Configuration(host=fakes.line.base_url, access_token=LINE_TOKEN)
    ) as client:
        api = AsyncMessagingApi(client)
        started = time.perf_counter()
        for member in members:
            await api.push_message(
                PushMessageRequest(to=member, messages=messages),
                x_line_retry_key=str(uuid.uuid4()),
            )
        seconds = time.perf_counter() - started
    fakes.check_members(members)
    requests, limited = fakes.line_calls("/v2/bot/message/push")
    return Result(
        "baseline",
        seconds,
        seconds,
        None,
        requests,
        limited,
        0,
        0,
        fakes.line.quota_used - quota_before,
    )


def report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"One announcement to {args.members:,} LINE members and {args.channels} team Slack "
        f"channels; fakes answer after {args.latency * 1000:.0f} ms; limits: LINE multicast "
        f"200/s, push 2,000/s; Slack chat.postMessage 1/s per channel, "
        f"{args.slack_rate:g}/s per workspace."
    )
    print()
    header = (
        "| run | all delivered | LINE members reached | Slack channels posted "
        "| LINE requests (429) | Slack requests (429) | LINE quota used |"
    )
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "fanout": "fan-out (multicast rows + posts, outbox)",
        "push-rows": "one push row per member (outbox)",
        "baseline": "baseline: one push per member in a loop (SDK)",
    }
    for r in results:
        slack = f"{r.slack_seconds:.2f} s" if r.slack_seconds is not None else "-"
        slack_calls = f"{r.slack_requests:,} ({r.slack_429})" if r.slack_requests else "-"
        print(
            f"| {labels[r.name]} | {r.seconds:.2f} s | {r.line_seconds:.2f} s | {slack} "
            f"| {r.line_requests:,} ({r.line_429}) | {slack_calls} | {r.quota:,} |"
        )
    base = next((r for r in results if r.name == "baseline"), None)
    fan = next((r for r in results if r.name == "fanout"), None)
    if base and fan:
        print()
        print(
            f"LINE members reached {base.line_seconds / fan.line_seconds:.0f}x sooner with "
            f"multicast than with the push loop; quota used is the same "
            f"({fan.quota:,} vs {base.quota:,}): LINE counts recipients, not requests."
        )


async def main(args: argparse.Namespace) -> None:
    members = member_ids(args.members)
    fakes = Fakes(args.latency, args.slack_rate, args.channels)
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tsunagu-fanout-") as tmp:
            for name, multicast, slack in (("fanout", True, True), ("push-rows", False, False)):
                if name == "push-rows" and args.no_push_rows:
                    continue
                url = args.database_url or f"sqlite:///{tmp}/{name}.sqlite3"
                if args.database_url:
                    from sqlalchemy import create_engine, text

                    from storage.db import sync_url

                    engine = create_engine(sync_url(url))
                    with engine.begin() as conn:
                        conn.execute(text("DROP SCHEMA public CASCADE"))
                        conn.execute(text("CREATE SCHEMA public"))
                    engine.dispose()
                await asyncio.to_thread(upgrade, url)
                log(f"{name}: delivering to {len(members):,} members")
                results.append(
                    await run_outbox(
                        name, fakes, url, members, multicast=multicast, with_slack=slack
                    )
                )
                log(f"{name}: {results[-1].seconds:.2f} s")
            log(f"baseline: {len(members):,} pushes in a loop")
            results.append(await run_baseline(fakes, members))
            log(f"baseline: {results[-1].seconds:.2f} s")
    finally:
        fakes.stop()
    report(results, args)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/fanout.py", description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds, both fakes")
    parser.add_argument(
        "--slack-rate",
        type=float,
        default=5.0,
        help="chat.postMessage per second per workspace (Slack does not publish it)",
    )
    parser.add_argument("--no-push-rows", action="store_true", help="skip the push-rows run")
    parser.add_argument("--quick", action="store_true", help="1,000 members, 20 channels")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL to run the outbox on (its schema is dropped!); default SQLite",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.channels = 1000, 20
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
