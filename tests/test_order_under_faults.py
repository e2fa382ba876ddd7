"""Order per person under faults (issue #16, item 6): while LINE answers 429 and 500, no
message overtakes an earlier one to the same person that is waiting for a retry."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import AppServer, LineUser, make_settings, scalar

PEOPLE = 4


class RecordingUser(LineUser):
    """A LINE user whose events are kept, to be sent again by others."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[dict[str, Any]] = []

    def send(self, event: dict[str, Any], *, wait: bool = True) -> list[dict[str, Any]]:
        self.sent.append(event)
        return super().send(event, wait=wait)


@pytest.fixture
def app(database_url: str, fake_line: FakeLineApi) -> Iterator[AppServer]:
    """The app with quick outbox retries, and enough of them to outlast the storm."""
    settings = make_settings(
        database_url,
        fake_line.base_url,
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
        TSUNAGU_OUTBOX_MAX_ATTEMPTS="20",
    )
    with AppServer(settings) as server:
        yield server


def _same_input(event: dict[str, Any], user: LineUser) -> dict[str, Any]:
    """The event a recorded one was, from another person, now, with a fresh reply token."""
    token = user.token()
    if event["type"] == "follow":
        return le.follow(user.user_id, token)
    if event["type"] == "postback":
        return le.postback(user.user_id, token, event["postback"]["data"])
    return le.text(user.user_id, token, event["message"]["text"])


def _applied(database_url: str, event_id: str) -> bool:
    status = scalar(
        database_url, "SELECT status FROM inbound_events WHERE event_id = :id", id=event_id
    )
    return status == "done"


def _settled(database_url: str) -> bool:
    return not scalar(
        database_url, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending', 'held')"
    )


def test_a_fault_storm_keeps_every_persons_messages_in_order(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    # What one person sees in calm weather: the first questions of the sign-up.
    calm = RecordingUser(app, fake_line)
    calm.follow()
    calm.tap("ボランティアとして登録")
    calm.say("山田 花子")
    calm.say("川崎市中原区")
    calm.say("ちがう答え")  # not a choice: the polite answer and the question again
    calm.tap("◀ 戻る")
    calm.say("横浜市港北区")
    expected = fake_line.messages_to(calm.user_id)
    assert len(expected) >= len(calm.sent)

    # The same steps by four people while LINE keeps failing. Some rounds fail the
    # replies (they fall back to pushes) and the pushes; the others fail only pushes
    # (500, or 429 with Retry-After), so a person's next reply could go straight out
    # while an earlier message of theirs waits for its retry.
    people = [LineUser(app, fake_line) for _ in range(PEOPLE)]
    faults = itertools.cycle(
        [(True, 500, None), (False, 429, 1.0), (True, 429, 0.2), (False, 500, None)]
    )
    for step in calm.sent:
        replies_fail, status, retry_after = next(faults)
        if replies_fail:
            fake_line.fail_next(PEOPLE, status, "/v2/bot/message/reply", retry_after=retry_after)
        fake_line.fail_next(PEOPLE, status, "/v2/bot/message/push", retry_after=retry_after)
        events = [_same_input(step, person) for person in people]
        for person, event in zip(people, events, strict=True):
            assert person.post([event]).status_code == 200
        for event in events:
            fake_line.wait_for(lambda e=event: _applied(database_url, e["webhookEventId"]))
    fake_line.wait_for(lambda: _settled(database_url), timeout=30)

    injected = [r for r in fake_line.requests if r.injected]
    assert len(injected) >= PEOPLE * len(calm.sent) // 2  # the storm did happen
    for person in people:
        # Everything arrived, once, in the order the person's steps caused it.
        assert fake_line.messages_to(person.user_id) == expected
    assert not scalar(database_url, "SELECT count(*) FROM outbox WHERE status = 'dead'")
