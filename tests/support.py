"""Test support: the app served on a real port, and a LINE user who talks to it.

The app is the real ASGI app served by uvicorn; the LINE user sends complete, signed
webhook bodies over HTTP and reads what the bot sent from the fake LINE API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from bot.clock import ShiftableClock
from bot.inbox import Inbox
from bot.outbox_rows import key_for
from bot.settings import Settings
from handlers.asgi import create_app
from tests import line_events as le
from tests.fakes.line_api import FakeLineApi

# One HTTP client for every request a test sends: httpx.post() builds a client per call,
# and with it an SSL context (the CA bundle parsed again), about 20 ms of CPU a request.
# Idle connections are let go after 1 s, long before the server (uvicorn: 5 s) would close
# one under a request being sent.
HTTP = httpx.Client(timeout=httpx.Timeout(5.0), limits=httpx.Limits(keepalive_expiry=1.0))

SECRET = "test-channel-secret-0123456789abcdef"
TOKEN = "test-channel-access-token"


def make_settings(database_url: str, line_api: str | None = None, **extra: Any) -> Settings:
    """Settings for a test app: nothing read from a .env file."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        # The sandbox never uses DATABASE_URL; its test servers use the test database too.
        "TSUNAGU_SANDBOX_DATABASE_URL": database_url,
        "LINE_CHANNEL_SECRET": SECRET if line_api else "",
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN if line_api else "",
        "LINE_API_BASE_URL": line_api or "http://127.0.0.1:9",
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        # The level the app runs at: the whole run's logs are checked for personal data.
        "TSUNAGU_LOG_LEVEL": "INFO",
        # Slack's one-post-a-second pace per channel, shortened: the order of posts,
        # which the pace keeps, is what the tests check (test_outbox checks the pace).
        "TSUNAGU_SLACK_PACE": "0.01",
        # Rows a test writes from its own engine (a job run with a fixed clock) are
        # picked up by the app's outbox at its next look: look often.
        "TSUNAGU_OUTBOX_POLL": "0.05",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, told to stop instead of noticing it at its next 0.1 s tick (a
    run starts and stops a few hundred apps: up to 0.1 s of a worker's time each)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._wake, self._loop = asyncio.Event(), asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            # A second of uvicorn's ticks: on_tick refreshes the Date header each time.
            counter = (counter + 10) % 864000
            should_exit = await self.on_tick(counter)

    def stop(self) -> None:
        """Ask the server to shut down now (from any thread)."""
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(self._wake.set)


class AppServer:
    """The real app under uvicorn in a thread, on a free port of 127.0.0.1.

    `clock`, if given, is the programme calendar's time: a test moves it forward with
    `clock.advance(...)` instead of waiting for real time to pass. `freeze_gc` is off by
    default: a long-lived server freezes what it loaded at start (after a full
    collection), which in a test process starting hundreds of apps cost ~0.2 s of CPU
    per start; conftest freezes once for the whole run instead, and
    tests/test_line_webhook.py checks the server's default.
    """

    def __init__(
        self, settings: Settings, *, clock: ShiftableClock | None = None, freeze_gc: bool = False
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.freeze_gc = freeze_gc
        self._app: Any = None
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> AppServer:
        """Serve until stop(); returns when the app has migrated and is listening."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self._app = create_app(self.settings, calendar_clock=self.clock, freeze_gc=self.freeze_gc)
        config = uvicorn.Config(
            self._app,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        server = _Uvicorn(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{port}"
        return self

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the app is idle: every event it accepted so far is applied and
        replied to, and no outbox row is waiting or being sent. This is the positive
        signal before checking that nothing more arrives (instead of a fixed sleep).

        Work a Slack listener does after its ack is covered once it has written its
        outbox rows, so wait first for what the listener visibly does."""
        services = getattr(self._app.state, "services", None) if self._app else None
        if not services:
            raise RuntimeError("the app has not started")
        inbox, loop = services["inbox"], services["loop"]
        assert isinstance(inbox, Inbox)
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.1, deadline - time.monotonic())
            asyncio.run_coroutine_threadsafe(inbox.drain(), loop).result(timeout=left)
            waiting = scalar(
                self.settings.database_url,
                "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')",
            )
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} outbox rows still waiting after {timeout}s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Shut down gracefully (lifespan shutdown runs: the inbox drains)."""
        if self._server is not None and self._thread is not None:
            self._server.stop()
            self._thread.join(timeout=30)
        self._server = None
        self._thread = None

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def said(message: dict[str, Any]) -> str:
    """What a LINE message says in words: its text, or a flex message's alternative text."""
    return str(message.get("text") or message.get("altText") or "")


class LineUser:
    """A person in LINE: sends signed webhooks to the app, reads the bot's messages."""

    def __init__(
        self,
        app: AppServer,
        fake: FakeLineApi,
        user_id: str | None = None,
        *,
        language: str | None = "ja",
    ) -> None:
        self.app = app
        self.fake = fake
        self.user_id = user_id or le.new_user_id()
        self.last: list[dict[str, Any]] = []
        # Every LINE user has a profile; its language is what the app greets them in.
        fake.set_profile(self.user_id, display_name="LINE user", language=language)

    # -- sending

    def post(self, events: list[dict[str, Any]], *, secret: str = SECRET) -> httpx.Response:
        """POST one webhook body with these events, signed with the channel secret."""
        body = le.payload(events)
        return HTTP.post(
            f"{self.app.url}/line/webhook",
            content=body,
            headers=le.webhook_headers(body, secret),
            timeout=10,
        )

    def send(self, event: dict[str, Any], *, wait: bool = True) -> list[dict[str, Any]]:
        """Send one event and return the messages the bot replied to it with."""
        response = self.post([event])
        assert response.status_code == 200, response.text
        token = event.get("replyToken")
        if not wait or token is None:
            return []
        # The answer comes as the reply, or as a push (the app's outbox key for a reply)
        # when a message to this person was still in the outbox: a reply must not
        # overtake it. A safety net, not a measure: the wait ends as soon as either is
        # there (a loaded machine running the workers side by side can take over 10 s).
        event_id = str(event.get("webhookEventId") or "")
        pushed = key_for("reply", "line", event_id) if event_id else ""
        reply = self.fake.wait_for(
            lambda: self._reply_for(token) or (pushed and self.fake.push_with_key(pushed)),
            timeout=30,
        )
        self.last = list(reply["messages"])
        return self.last

    def _reply_for(self, token: str) -> dict[str, Any] | None:
        for body in self.fake.replies:
            if body.get("replyToken") == token:
                return body
        return None

    def token(self) -> str:
        """A fresh reply token known to the fake LINE API."""
        return self.fake.issue_reply_token(self.user_id)

    def follow(self) -> list[dict[str, Any]]:
        """Add the bot as a friend."""
        return self.send(le.follow(self.user_id, self.token()))

    def say(self, text: str) -> list[dict[str, Any]]:
        """Type a text message."""
        return self.send(le.text(self.user_id, self.token(), text))

    def tap(self, label: str) -> list[dict[str, Any]]:
        """Tap the quick reply with this label on the bot's last message."""
        items = self.quick_replies()
        for item in items:
            action = item["action"]
            if action["label"] in (label, f"✓ {label}"):
                return self.send(le.postback(self.user_id, self.token(), action["data"]))
        labels = [i["action"]["label"] for i in items]
        raise AssertionError(f"no quick reply {label!r}; offered {labels}")

    def sticker(self) -> list[dict[str, Any]]:
        """Send a sticker."""
        return self.send(le.sticker(self.user_id, self.token()))

    # -- reading

    def texts(self) -> list[str]:
        """The texts of the bot's last reply (a flex message by its alternative text)."""
        return [said(m) for m in self.last if m.get("type") in ("text", "flex")]

    def text(self) -> str:
        """All texts of the last reply, joined."""
        return "\n".join(self.texts())

    def quick_replies(self) -> list[dict[str, Any]]:
        """The quick reply items on the last message of the bot's last reply."""
        if not self.last:
            return []
        quick = self.last[-1].get("quickReply") or {}
        return list(quick.get("items", []))

    def labels(self) -> list[str]:
        """Labels of the quick replies offered last."""
        return [i["action"]["label"] for i in self.quick_replies()]

    def pick_all(self, *labels: str) -> None:
        """Tap each label (paging with More as needed), then Done."""
        for label in labels:
            for _ in range(5):
                if any(lab.removeprefix("✓ ") == label for lab in self.labels()):
                    break
                more = next(lab for lab in self.labels() if lab.endswith("▶"))
                self.tap(more)
            self.tap(label)
        done = next(lab for lab in self.labels() if lab.startswith(("完了", "Done")))
        self.tap(done)


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    """Run one SELECT on the test database with a blocking engine; return the rows."""
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def scalar(database_url: str, sql: str, **params: Any) -> Any:
    """Run one SELECT returning a single value."""
    rows = query(database_url, sql, **params)
    return rows[0][0] if rows else None


SLACK_TOKEN = "xoxb-test-token"
SLACK_SECRET = "test-slack-signing-secret"
COORDINATORS = ("U0COORD001", "U0COORD002")
OUTSIDER = "U0OUTSIDE1"


class SlackUser:
    """A person in the Slack workspace: clicks buttons, submits modals, types commands."""

    def __init__(self, app: AppServer, fake: Any, user_id: str, channel: str) -> None:
        self.app = app
        self.fake = fake
        self.user_id = user_id
        self.channel = channel

    def post(self, body: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST a body to the app's Slack request URL, signed with the signing secret."""
        from tests import slack_requests as sr

        sent = sr.signed(body, SLACK_SECRET)
        sent.update(headers or {})
        return HTTP.post(f"{self.app.url}/slack/events", content=body, headers=sent, timeout=10)

    def click(self, label_or_action: str) -> httpx.Response:
        """Click the newest button with this label in the coordinator channel."""
        from tests import slack_requests as sr

        found = self.fake.find_button(self.channel, label_or_action)
        body = sr.block_actions(
            self.user_id,
            found.action_id,
            found.value,
            found.channel_id,
            found.message_ts,
            message=found.message,
        )
        response = self.post(body)
        assert response.status_code == 200, response.text
        return response

    def submit(self, text: str, *, view: dict[str, Any] | None = None) -> httpx.Response:
        """Fill the one text box of the last modal opened for this user and submit it."""
        from tests import slack_requests as sr

        opened = view or self.fake.wait_for(lambda: self._last_view())
        body = sr.view_submission(
            self.user_id,
            opened["callback_id"],
            opened.get("private_metadata", ""),
            {"text_block": {"text": text}},
            view=opened,
        )
        return self.post(body)

    def _last_view(self) -> dict[str, Any] | None:
        views = self.fake.views_opened()
        return views[-1] if views else None

    def command(self, text: str) -> httpx.Response:
        """Type `/tsunagu TEXT` in the coordinator channel."""
        from tests import slack_requests as sr

        body = sr.slash_command(self.user_id, "/tsunagu", text, self.fake.channel_id(self.channel))
        return self.post(body)


def submit_group_request(user: LineUser, *, challenge: str = "") -> None:
    """Walk a group's first request in LINE (Japanese), tapping and typing."""
    user.follow()
    user.tap("団体として相談")
    assert "団体名" in user.text()
    user.say("こども未来塾")
    user.tap("任意団体")
    assert "セクター" in user.text()
    user.tap("NPO・市民活動")
    user.pick_all("福祉（子ども）", "子育て")
    user.say("川崎市")
    user.say("放課後の子どもたちに学習の場を提供しています。")
    user.say("地域の大学生ボランティアとのつながり")
    user.say("運営を手伝う人")
    user.tap("スキップ")
    user.say("活動資金が足りない")
    user.say(challenge or "活動の目的や優先順位を整理して、来年度の計画を立てたい。")
    user.pick_all("課題整理ワークショップ")
    user.tap("3か月以内")
    user.tap("どちらでも")
    user.say("佐藤 一郎")
    user.say("代表")
    user.tap("共有しない")  # contact sharing (#13)
    user.tap("同意する")
    assert "この内容でよろしいですか" in user.text()
    user.tap("この内容で相談する")
    assert "ご相談を受け付けました" in user.text()
