"""The case catalogue's part of the LINE dialogue (#14): `事例` searches the published
cases (a carousel, ten at a time), and a group answers whether the case written about its
project may be published (公開してよい / 公開しないでほしい / 修正をお願いしたい, the last
followed by its words in a short flow). The dialogue routes here; the answers become
effects applied in the event's transaction (bot/effects.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot import postback, work_chat
from bot.conversation.model import Choice, Panel, Reply
from bot.flows.cases import CASE, CASE_CHANGE_FLOW
from bot.flows.side import ANSWER
from bot.i18n import T, Texts, fold, join_list, normalise
from bot.taxonomy import INTERESTS, label

PAGE = 10  # cases per carousel (LINE shows at most 12 bubbles)
MAX_WORDS = 100  # characters of search words kept (they travel in the "more" button)

SEARCH_WORDS = frozenset(
    fold(w) for w in ("事例", "事例集", "事例を探す", "事例検索", "cases", "case studies")
)


@dataclass(frozen=True)
class CaseCard:
    """A published case as a search in the chat shows it, in the reader's language."""

    case_id: int
    title: str
    area: str
    field: str  # a key of the fields of interest
    year: int
    outcome: str
    partners: tuple[str, ...] = ()
    line: str = ""  # one line for the text version: #id title (area, field, year)


@dataclass(frozen=True)
class AnswerCase:
    """A group's answer to publishing its case: yes, no, or change (with its words)."""

    case_id: int
    answer: str
    words: str = ""


CaseEffect = AnswerCase


class CaseLookups(Protocol):
    """What this part reads (inside the event's transaction)."""

    async def case_state(self, case_id: int) -> str | None: ...

    async def cases(self, words: str, offset: int, limit: int, locale: str) -> list[CaseCard]: ...


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    found = T(
        "事例 {first}〜{last} 件目です{about}。",
        "Cases {first} to {last}{about}.",
    )
    about = T("（「{words}」）", " for “{words}”")
    none = T(
        "「{words}」に合う事例はまだありません。ほかの言葉（地域や分野など）でお試しください。",
        "No case matches “{words}” yet. Try other words (an area or a field, say).",
    )
    none_at_all = T(
        "公開されている事例はまだありません。",
        "No case has been published yet.",
    )
    hint = T(
        "「事例 子育て 八王子」のように言葉を添えると絞り込めます。",
        "Add words to narrow it down, like “cases childcare Hachioji”.",
    )
    more = T("次の事例を見る", "More cases")
    no_more = T("この言葉で見つかる事例は以上です。", "That is every case for these words.")
    not_yours = T(
        "この事例についてはお答えいただけません（別の団体の事例か、見つかりません）。",
        "This case is not one you can answer for (another group's, or not found).",
    )
    closed = T(
        "この事例のお返事はもういただいています。ありがとうございました。"
        "変えたいときは事務局へお知らせください。",
        "We already have your answer about this case, thank you. "
        "To change it, please tell the programme office.",
    )
    yes = T(
        "ありがとうございます。事務局が事例集に公開します。",
        "Thank you! The office will publish the case in the catalogue.",
    )
    no = T(
        "承知しました。この事例は公開しません。",
        "Understood: the case will not be published.",
    )
    change_sent = T(
        "ありがとうございます。事務局に伝えました。直したものをあらためてお見せします。",
        "Thank you, the office has your words. We will show you the changed case again.",
    )
    area = T("地域", "Area")
    field = T("活動分野", "Field")
    year = T("年度", "Year")


TXT = _Texts


# What the dialogue does next, as the work part answers it.
Step = work_chat.PartStep[CaseEffect]


def search_words(word: str) -> str | None:
    """The words of a case search typed in the chat ("" for all), or None when the text
    is not one: `事例`, `事例 子育て 八王子`, `cases childcare`."""
    text = normalise(word)
    head, _, rest = text.partition(" ")
    if fold(text) in SEARCH_WORDS:
        return ""
    if fold(head) in SEARCH_WORDS and rest.strip():
        return rest.strip()[:MAX_WORDS]
    return None


def _card(case: CaseCard, loc: str) -> Panel:
    outcome = case.outcome
    return Panel(
        title=case.title,
        kind="case",
        fields=(
            (TXT.area(loc), case.area),
            (TXT.field(loc), label(INTERESTS, case.field, loc)),
            (TXT.year(loc), str(case.year)),
        ),
        body=outcome[:280] + ("…" if len(outcome) > 280 else "") if outcome else None,
        note=join_list(list(case.partners), loc) or None,
    )


async def on_search(words: str, offset: int, loc: str, load: CaseLookups) -> Step:
    """A page of published cases for the words, as a carousel (text: its alt text)."""
    found = await load.cases(words, offset, PAGE + 1, loc)
    page, more = found[:PAGE], len(found) > PAGE
    if not page:
        if offset:
            return Step([Reply(TXT.no_more(loc))])
        if words:
            return Step([Reply(TXT.none(loc, words=words))])
        return Step([Reply(TXT.none_at_all(loc))])
    about = TXT.about(loc, words=words) if words else ""
    head = TXT.found(loc, first=offset + 1, last=offset + len(page), about=about)
    lines = [head, *(f"・{c.line}" for c in page)]
    if not words and not offset:
        lines.append(TXT.hint(loc))
    choices: tuple[Choice, ...] = ()
    if more:
        data = postback.CaseMore(offset + PAGE, words).pack()
        choices = (Choice(TXT.more(loc), data, TXT.more(loc)),)
    cards = tuple(_card(c, loc) for c in page)
    return Step([Reply("\n".join(lines), choices, cards)], reprompt=False)


async def on_postback(pb: postback.Cases, loc: str, load: CaseLookups) -> Step:
    """The "more" button of a search, or a group's answer under its case's card."""
    if isinstance(pb, postback.CaseMore):
        return await on_search(pb.words[:MAX_WORDS], max(0, pb.offset), loc, load)
    state = await load.case_state(pb.case_id)
    if state is None:
        return Step([Reply(TXT.not_yours(loc))])
    if state != "consent_asked":
        return Step([Reply(TXT.closed(loc))])
    if pb.answer == "change":
        return Step(side=(CASE_CHANGE_FLOW, {CASE: pb.case_id}))
    said = TXT.yes if pb.answer == "yes" else TXT.no
    return Step([Reply(said(loc))], [AnswerCase(pb.case_id, pb.answer)])


def on_completed(flow_id: str, answers: dict[str, Any], loc: str) -> Step | None:
    """The words asking for changes (None: not this part's flow)."""
    if flow_id != CASE_CHANGE_FLOW.id:
        return None
    case_id = int(answers.get(CASE) or 0)
    words = str(answers.get(ANSWER) or "")
    return Step([Reply(TXT.change_sent(loc))], [AnswerCase(case_id, "change", words)])
