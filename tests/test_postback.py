"""The postback codec, checked once: every kind round-trips, old one-letter forms still
unpack, overlong and malformed data are refused (at pack time, or politely in the
person's language over real HTTP, with the conversation left where it was)."""

from __future__ import annotations

import json

import pytest

from bot import postback
from bot.postback import (
    KINDS,
    MAX_DATA,
    AgreementAnswer,
    Capacity,
    CaseConsent,
    CaseMore,
    Cohort,
    Delete,
    DeliveryAnswer,
    FeedbackStart,
    Finish,
    FlowAction,
    Go,
    Hand,
    HoursFor,
    Invitation,
    Language,
    Menu,
    Postback,
    PostbackError,
    Question,
    Rsvp,
    ShareContact,
    SkipReason,
    TeamConfirm,
    Withdraw,
)
from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import AppServer, LineUser, scalar

SAMPLES: list[Postback] = [
    Menu("help"),
    Menu("delete"),
    Language("en"),
    Go("back"),
    Go("cancel"),
    Delete("yes"),
    Delete("no"),
    Question(12),
    Invitation(5, "yes"),
    Invitation(5, "no"),
    SkipReason(),
    Hand(7),
    TeamConfirm(7),
    TeamConfirm(7, "no"),
    TeamConfirm(7, "change"),
    Rsvp(3, "yes"),
    Rsvp(3, "no"),
    FlowAction("volunteer", "area", "pick", "kawasaki"),
    FlowAction("volunteer", "skills", "done"),
    FlowAction("volunteer", "~", "item", "skills"),
    FlowAction("group", "need", "pick", "a|b"),  # the last field may hold the separator
    # life-cohort (#13)
    Cohort("out"),
    Cohort("in"),
    AgreementAnswer(3, "ok"),
    AgreementAnswer(3, "change"),
    ShareContact("yes"),
    ShareContact("no"),
    # life-work (#13)
    DeliveryAnswer(12, "ok"),
    DeliveryAnswer(12, "missing"),
    Finish(12),
    FeedbackStart(12),
    HoursFor(12),
    Withdraw(12, "ask"),
    Withdraw(12, "yes"),
    Capacity(2),
    # the case catalogue (#14)
    Menu("cases"),
    CaseConsent(3, "yes"),
    CaseConsent(3, "no"),
    CaseConsent(3, "change"),
    CaseMore(10, "子育て 八王子"),
    CaseMore(10, "a|b"),  # the words come last and may hold the separator
    CaseMore(0, ""),
]


def test_every_kind_has_a_sample_and_round_trips() -> None:
    assert {type(s) for s in SAMPLES} == set(KINDS)
    for sample in SAMPLES:
        data = sample.pack()
        assert len(data) <= MAX_DATA
        assert postback.unpack(data) == sample, data


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("f|welcome|role|c|volunteer", FlowAction("welcome", "role", "pick", "volunteer")),
        ("f|volunteer|name|p", FlowAction("volunteer", "name", "more")),
        ("f|volunteer|name|s", FlowAction("volunteer", "name", "skip")),
        ("f|volunteer|name|k", FlowAction("volunteer", "name", "keep")),
        ("f|volunteer|skills|t|it", FlowAction("volunteer", "skills", "toggle", "it")),
        ("f|volunteer|skills|d", FlowAction("volunteer", "skills", "done")),
        ("f|volunteer|~|y", FlowAction("volunteer", "~", "confirm")),
        ("f|volunteer|~|e", FlowAction("volunteer", "~", "edit")),
        ("f|volunteer|~|E|area", FlowAction("volunteer", "~", "item", "area")),
        ("inv|12|y", Invitation(12, "yes")),
        ("inv|12|n", Invitation(12, "no")),
        ("inv|12", Invitation(12, "no")),
        ("team|4|ok", TeamConfirm(4)),
        ("team|4", TeamConfirm(4)),
        ("hand|9", Hand(9)),
        ("rsvp|2|yes", Rsvp(2, "yes")),
        ("qa|31", Question(31)),
        ("inv-skip", SkipReason()),
        ("del|yes", Delete("yes")),
        ("m|signup", Menu("signup")),
        ("lang|ja", Language("ja")),
        ("g|back", Go("back")),
    ],
)
def test_old_forms_in_chat_history_unpack(old: str, new: Postback) -> None:
    assert postback.unpack(old) == new


@pytest.mark.parametrize(
    "data",
    [
        "",
        "|",
        "nothing",
        "other-bot|1",
        "inv|abc|y",
        "inv|-1|y",
        "inv|12|maybe",
        "inv|12|y|extra",
        "hand|",
        "hand|1|2",
        "qa|1e3",
        "rsvp|2",
        "del|perhaps",
        "m|format-disk",
        "lang|fr",
        "g|sideways",
        "f|volunteer",
        "f|volunteer|name|zz",
        "inv-skip|1",
        "hand|" + "9" * 40,
        "f|volunteer|name|pick|" + "x" * MAX_DATA,
    ],
)
def test_malformed_or_foreign_data_is_refused(data: str) -> None:
    with pytest.raises(PostbackError):
        postback.unpack(data)
    assert postback.parse(data) is None


def test_pack_refuses_overlong_and_ambiguous_data() -> None:
    assert len(FlowAction("f", "s", "pick", "x" * (MAX_DATA - 11)).pack()) == MAX_DATA
    with pytest.raises(PostbackError, match="over 300"):
        FlowAction("f", "s", "pick", "x" * (MAX_DATA - 10)).pack()
    with pytest.raises(PostbackError):
        FlowAction("a|b", "s", "pick").pack()  # a separator in a middle field
    with pytest.raises(PostbackError):
        FlowAction("volunteer", "name", "c").pack()  # old verbs are read, never written
    with pytest.raises(PostbackError):
        Rsvp(1, "maybe").pack()


def _state(database_url: str) -> object:
    raw = scalar(database_url, "SELECT state FROM conversations")
    state = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(state, dict)
    return {k: v for k, v in state.items() if k not in ("last_ms", "seen_ms", "at_ms")}


BAD = [
    "other-bot|1",
    "inv|abc|y",
    "f|volunteer|display_name|zz",
    "m|format-disk",
    "x" * (MAX_DATA + 1),
]


@pytest.mark.parametrize(
    ("language", "said", "asked"),
    [
        ("ja", "そのボタンは読み取れませんでした", "お名前"),
        ("en", "that button could not be read", "name"),
    ],
)
def test_bad_button_data_is_refused_politely_and_the_question_stays(
    app: AppServer, fake_line: FakeLineApi, database_url: str, language: str, said: str, asked: str
) -> None:
    user = LineUser(app, fake_line, language=language)
    user.follow()
    user.tap(user.labels()[0])  # sign up as a volunteer: the first question is the name
    assert asked in user.text()
    before = _state(database_url)
    for data in BAD:
        user.send(le.postback(user.user_id, user.token(), data))
        assert said in user.text(), data
        assert asked in user.text(), data
        assert _state(database_url) == before, data
    assert fake_line.errors == []
