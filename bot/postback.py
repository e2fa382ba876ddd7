"""One typed codec for postback data (the string a button sends back when tapped).

Every button the bot offers carries one of the kinds below, packed as
`prefix|field|field...` (like aiogram's `CallbackData.pack/unpack`). `pack` refuses data
over LINE's 300 characters, or a `|` inside any field but the last, at the moment the
button is built; `unpack` turns data back into its kind, or raises `PostbackError` for
anything malformed or foreign (a forged request, a button from another bot).

Verbs are readable words. The one-letter verbs of earlier versions (`f|volunteer|area|c|x`,
`inv|12|y`) still unpack, because those buttons stay in people's chat history.

To add a kind: a frozen dataclass subclassing `Postback` with a unique `prefix`, fields of
type `str` or `int` (a `str` field may list its allowed values in `CHOICES`, and old
spellings in `OLD`); register it in `KINDS`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

MAX_DATA = 300  # LINE's limit on postback data, in characters
SEP = "|"


class PostbackError(ValueError):
    """Data that is not a postback of ours: malformed, foreign, or too long."""


P = TypeVar("P", bound="Postback")


@dataclass(frozen=True)
class Postback:
    """Base of every kind: `pack()` to build a button's data, `unpack()` to read it."""

    prefix: ClassVar[str] = ""
    # Allowed values per `str` field (empty: any value without `|`, except the last field).
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Old spellings of values, per field: {"answer": {"y": "yes"}}.
    OLD: ClassVar[dict[str, dict[str, str]]] = {}
    # Fields that may be missing in old data, with the value to assume.
    DEFAULTS: ClassVar[dict[str, str]] = {}

    def pack(self) -> str:
        fields = dataclasses.fields(self)
        parts = [self.prefix]
        for i, f in enumerate(fields):
            value = str(getattr(self, f.name))
            allowed = self.CHOICES.get(f.name)
            if allowed and value not in allowed:
                raise PostbackError(f"{self.prefix}: {f.name} must be one of {allowed}")
            if SEP in value and i < len(fields) - 1:
                raise PostbackError(f"{self.prefix}: {f.name} may not contain {SEP!r}")
            parts.append(value)
        while len(parts) > 1 and parts[-1] == "" and fields[len(parts) - 2].name in self.DEFAULTS:
            parts.pop()  # an empty optional last field is left out
        data = SEP.join(parts)
        if len(data) > MAX_DATA:
            raise PostbackError(f"{self.prefix}: {len(data)} characters, over {MAX_DATA}")
        return data

    @classmethod
    def _from_parts(cls: type[P], parts: list[str]) -> P:
        fields = dataclasses.fields(cls)
        if len(parts) > len(fields):
            raise PostbackError(f"{cls.prefix}: too many parts")
        values: dict[str, Any] = {}
        for i, f in enumerate(fields):
            if i < len(parts):
                raw = parts[i]
            elif f.name in cls.DEFAULTS:
                raw = cls.DEFAULTS[f.name]
            else:
                raise PostbackError(f"{cls.prefix}: {f.name} is missing")
            raw = cls.OLD.get(f.name, {}).get(raw, raw)
            if f.type in (int, "int"):
                if not raw.isdigit() or len(raw) > 18:
                    raise PostbackError(f"{cls.prefix}: {f.name} is not a number")
                values[f.name] = int(raw)
                continue
            allowed = cls.CHOICES.get(f.name)
            if allowed and raw not in allowed:
                raise PostbackError(f"{cls.prefix}: unknown {f.name}")
            values[f.name] = raw
        return cls(**values)


@dataclass(frozen=True)
class Menu(Postback):
    """A main-menu item: `m|help`."""

    prefix: ClassVar[str] = "m"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "command": (
            "help",
            "delete",
            "signup",
            "profile",
            "edit",
            "pause",
            "resume",
            "group",
            "requests",
            "request",
            "open",
            "slack",
            # life-work (#13)
            "hours",
            "capacity",
            "cases",  # the case catalogue (#14)
        )
    }
    command: str


@dataclass(frozen=True)
class Language(Postback):
    """Switch the conversation's language: `lang|en`."""

    prefix: ClassVar[str] = "lang"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"lang": ("ja", "en")}
    lang: str


@dataclass(frozen=True)
class Go(Postback):
    """Leave the current question in a flow: `g|back`, `g|cancel`."""

    prefix: ClassVar[str] = "g"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"command": ("back", "cancel")}
    command: str


@dataclass(frozen=True)
class Delete(Postback):
    """The answer to "delete all my data?": `del|yes`."""

    prefix: ClassVar[str] = "del"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("yes", "no")}
    answer: str


@dataclass(frozen=True)
class Question(Postback):
    """A group tapping "Answer" under a coordinator's question: `qa|12`."""

    prefix: ClassVar[str] = "qa"
    question_id: int


@dataclass(frozen=True)
class Invitation(Postback):
    """A volunteer's answer to an invitation: `inv|12|yes` (old: `inv|12|y`)."""

    prefix: ClassVar[str] = "inv"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("yes", "no")}
    OLD: ClassVar[dict[str, dict[str, str]]] = {"answer": {"y": "yes", "n": "no"}}
    DEFAULTS: ClassVar[dict[str, str]] = {"answer": "no"}
    match_id: int
    answer: str


@dataclass(frozen=True)
class SkipReason(Postback):
    """Decline an invitation without giving a reason: `inv-skip`."""

    prefix: ClassVar[str] = "inv-skip"


@dataclass(frozen=True)
class Hand(Postback):
    """A volunteer raising their hand for an open project: `hand|7`."""

    prefix: ClassVar[str] = "hand"
    project_id: int


@dataclass(frozen=True)
class TeamConfirm(Postback):
    """A group's answer to its proposed team: `team|7|ok`, `team|7|no` (decline),
    `team|7|change` (ask for a change, in words)."""

    prefix: ClassVar[str] = "team"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("ok", "no", "change")}
    DEFAULTS: ClassVar[dict[str, str]] = {"answer": "ok"}
    project_id: int
    answer: str = "ok"


@dataclass(frozen=True)
class Rsvp(Postback):
    """A participant's answer to a phase announcement: `rsvp|3|yes`."""

    prefix: ClassVar[str] = "rsvp"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("yes", "no")}
    phase_id: int
    answer: str


# life-group (#13): the group's answer to a kickoff agreement version.
@dataclass(frozen=True)
class AgreementAnswer(Postback):
    """A group confirming a kickoff agreement version or asking for changes: `agr|3|ok`."""

    prefix: ClassVar[str] = "agr"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("ok", "change")}
    agreement_id: int
    answer: str


@dataclass(frozen=True)
class ShareContact(Postback):
    """Someone asked once whether their contact may be shared with their team/group:
    `share|yes` (then they type it) or `share|no` (life-group, #13)."""

    prefix: ClassVar[str] = "share"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("yes", "no")}
    answer: str


# The verbs of a flow button, and their one-letter spellings before the codec.
FLOW_VERBS = ("more", "skip", "keep", "toggle", "done", "pick", "confirm", "edit", "item")
OLD_FLOW_VERBS = {
    "p": "more",
    "s": "skip",
    "k": "keep",
    "t": "toggle",
    "d": "done",
    "c": "pick",
    "y": "confirm",
    "e": "edit",
    "E": "item",
}
CONFIRM_STEP = "~"  # the "step" of a flow's confirmation summary


@dataclass(frozen=True)
class FlowAction(Postback):
    """A button inside a flow: `f|volunteer|area|pick|tokyo` (old: `...|c|tokyo`)."""

    prefix: ClassVar[str] = "f"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"verb": FLOW_VERBS}
    OLD: ClassVar[dict[str, dict[str, str]]] = {"verb": OLD_FLOW_VERBS}
    DEFAULTS: ClassVar[dict[str, str]] = {"arg": ""}
    flow: str
    step: str
    verb: str
    arg: str = ""


# ---- life-cohort (#13): the next cohort's invitations


@dataclass(frozen=True)
class Cohort(Postback):
    """Opting out of (or back into) invitations to future cohorts: `cohort|out`."""

    prefix: ClassVar[str] = "cohort"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("out", "in")}
    answer: str


# ---- end life-cohort
# ---------------------------------------------------------------- life-work (#13)


@dataclass(frozen=True)
class DeliveryAnswer(Postback):
    """The group on a delivery: received it, or something is missing: `dlv|12|ok`."""

    prefix: ClassVar[str] = "dlv"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("ok", "missing")}
    project_id: int
    answer: str


@dataclass(frozen=True)
class Finish(Postback):
    """The group completes its project after confirming the delivery: `fin|12`."""

    prefix: ClassVar[str] = "fin"
    project_id: int


@dataclass(frozen=True)
class FeedbackStart(Postback):
    """Start the feedback questions about a completed project: `fb|12`."""

    prefix: ClassVar[str] = "fb"
    project_id: int


@dataclass(frozen=True)
class HoursFor(Postback):
    """A member picks the project to log hours on: `hrs|12`."""

    prefix: ClassVar[str] = "hrs"
    project_id: int


@dataclass(frozen=True)
class Withdraw(Postback):
    """The group withdraws a request (asked, then confirmed): `wd|12|ask`."""

    prefix: ClassVar[str] = "wd"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("ask", "yes", "no")}
    project_id: int
    answer: str


@dataclass(frozen=True)
class Capacity(Postback):
    """A volunteer sets how many projects at a time: `cap|2`."""

    prefix: ClassVar[str] = "cap"
    projects: int


@dataclass(frozen=True)
class CaseConsent(Postback):
    """A group's answer to publishing the case written about its project (#14):
    `case|3|yes` (publish it), `no` (don't), `change` (then it says what to change)."""

    prefix: ClassVar[str] = "case"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"answer": ("yes", "no", "change")}
    case_id: int
    answer: str


@dataclass(frozen=True)
class CaseMore(Postback):
    """The next page of a case search in LINE: `cases|10|子育て 八王子` (the words last,
    so they may hold anything)."""

    prefix: ClassVar[str] = "cases"
    offset: int
    words: str


# The kinds the case catalogue's part of the dialogue answers (bot.cases_chat).
Cases = CaseConsent | CaseMore
CASES = (CaseConsent, CaseMore)


# The kinds the work part of the dialogue answers (bot.lifecycle.line).
Work = DeliveryAnswer | Finish | FeedbackStart | HoursFor | Withdraw | Capacity
WORK = (DeliveryAnswer, Finish, FeedbackStart, HoursFor, Withdraw, Capacity)


# The kinds the matching part of the dialogue answers.
Matching = Invitation | Hand | TeamConfirm | Rsvp
MATCHING = (Invitation, Hand, TeamConfirm, Rsvp)
# Buttons that belong to the flow running now (its answers, back and cancel, skip).
IN_FLOW = (FlowAction, Go, SkipReason)

KINDS: tuple[type[Postback], ...] = (
    Menu,
    Language,
    Go,
    Delete,
    Question,
    Invitation,
    SkipReason,
    Hand,
    TeamConfirm,
    Rsvp,
    FlowAction,
    Cohort,  # life-cohort (#13)
    # life-group (#13)
    AgreementAnswer,
    ShareContact,
    # life-work (#13)
    *WORK,
    *CASES,  # the case catalogue (#14)
)
_BY_PREFIX = {k.prefix: k for k in KINDS}
assert len(_BY_PREFIX) == len(KINDS), "two postback kinds share a prefix"


def unpack(data: str) -> Postback:
    """The kind a button's data stands for; PostbackError when it is none of ours."""
    if not data or len(data) > MAX_DATA:
        raise PostbackError("empty or over the length limit")
    prefix, _, rest = data.partition(SEP)
    kind = _BY_PREFIX.get(prefix)
    if kind is None:
        raise PostbackError("unknown prefix")
    n = len(dataclasses.fields(kind))
    parts = rest.split(SEP, n - 1) if (rest or SEP in data) and n else []
    if not n and (rest or SEP in data):
        raise PostbackError(f"{prefix}: takes no parts")
    return kind._from_parts(parts)


def parse(data: str) -> Postback | None:
    """`unpack`, or None for empty, malformed or foreign data."""
    try:
        return unpack(data)
    except PostbackError:
        return None
