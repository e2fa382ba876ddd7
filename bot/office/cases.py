"""The case catalogue (事例集): what a finished project leaves behind, in Chiba's コラボナビ
fields, drafted from the project, edited and published by coordinators with the group's
consent, and searchable by free words in Japanese or English.

Platform-neutral: the Slack modal, `/tsunagu cases`, LINE's 事例 and the CLI call these.
Coordinators' operations assume the caller has checked who acts (as `Coordination` does).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import postback
from bot.conversation.fields import Option
from bot.conversation.model import Choice, Panel, Reply
from bot.i18n import T, Texts, fold, normalise
from bot.matching.areas import place
from bot.outbox_rows import enqueue, key_for, replies_payload
from bot.taxonomy import INTERESTS, MENUS, ORG_KINDS, SECTORS, label, skill_label
from storage import cases as store
from storage import models, repo
from storage.base import utcnow
from storage.models import Case

# Chiba's twelve fields, in the catalogue's order (docs/domain.md).
FIELDS: dict[str, T] = {
    "title": T("事例名", "Title"),
    "area": T("地域", "Area"),
    "field": T("活動分野", "Field"),
    "partners": T("協働パートナーと種別", "Partners and their kinds"),
    "background": T("協働までの経緯・背景", "Background"),
    "activities": T("主な取り組み", "What was done"),
    "outcome": T("成果", "Outcome"),
    "period": T("期間", "Period"),
    "cost": T("事業費と財源", "Cost and funding"),
    "contact": T("問い合わせ先", "Contact"),
    "tips": T("コラボのコツ", "Points that made it work"),
    "updated": T("最終更新日", "Last updated"),
}
# Free texts a coordinator writes, with their length limits (the columns' sizes).
TEXTS: dict[str, int] = {
    "title": 120,
    "area": 100,
    "background": 2000,
    "activities": 2000,
    "outcome": 2000,
    "period": 200,
    "cost": 500,
    "contact": 300,
    "tips": 2000,
}
# Chiba's partner kinds (企業/行政/教育/地縁/NPO) are the sectors, and a pro bono team.
PROBONO = Option("probono", T("プロボノチーム", "Pro bono team"), ("プロボノ", "pro bono"))
PARTNER_KINDS: tuple[Option, ...] = (*SECTORS, PROBONO)
MAX_PARTNERS = 10

STATES: dict[str, T] = {
    "draft": T("下書き", "Draft"),
    "consent_asked": T("団体の同意待ち", "Waiting for the group's consent"),
    "consented": T("団体が同意", "Group consented"),
    "published": T("公開中", "Published"),
    "withdrawn": T("取り下げ", "Withdrawn"),
}


@dataclass(frozen=True)
class Transition:
    """A change of a case's state: from which states, to which, audited as `action`."""

    action: str
    sources: frozenset[str]
    target: str


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("case_ask_consent", frozenset({"draft"}), "consent_asked"),
        Transition("case_consent_given", frozenset({"consent_asked"}), "consented"),
        Transition("case_consent_refused", frozenset({"consent_asked"}), "withdrawn"),
        Transition("case_publish", frozenset({"consented"}), "published"),
        Transition(
            "case_withdraw",
            frozenset({"draft", "consent_asked", "consented", "published"}),
            "withdrawn",
        ),
        Transition("case_reopen", frozenset({"withdrawn"}), "draft"),
        # The group asked for changes (in words, to the coordinators): back to the draft.
        Transition("case_changes_asked", frozenset({"consent_asked"}), "draft"),
        # An edit after the group's yes: the group is asked again about the new text.
        Transition("case_reask", frozenset({"consented", "published"}), "consent_asked"),
    )
}


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    title = T("{group} × {menus}", "{group} × {menus}")
    background = T(
        "{group}（{kind}）は{activity}\n課題：{challenge}",
        "{group} ({kind}): {activity}\nChallenge: {challenge}",
    )
    activities = T(
        "{menus}について、{size}人のプロボノチーム（{skills}）が支援しました。",
        "A pro bono team of {size} ({skills}) supported the group with: {menus}.",
    )
    deliverable = T("成果物：{text}", "Deliverable: {text}")
    scope = T("取り組みの範囲：{text}", "Scope: {text}")
    measures = T("成功の目安：{text}", "Success measures: {text}")
    delivered = T("納品：{text}", "Delivered: {text}")
    period = T("{start}〜{end}", "{start} to {end}")
    period_open = T("{start}〜", "From {start}")
    programme = T("（{name}）", " ({name})")
    cost = T(
        "プロボノ（専門家ボランティアによる無償の支援）",
        "Pro bono (professionals volunteering their skills, unpaid)",
    )
    contact = T("事務局までお問い合わせください。", "Please ask the programme office.")
    voice = T("「{text}」（{who}）", '"{text}" ({who})')
    anonymous = T("匿名", "anonymous")
    team = T("プロボノチーム", "Pro bono team")


TXT = _Texts
ERRORS = {
    "no_project": T("プロジェクト #{id} が見つかりません。", "There is no project #{id}."),
    "exists": T(
        "プロジェクト #{id} の事例はすでにあります（事例 #{case}）。",
        "Project #{id} already has a case (case #{case}).",
    ),
    "no_case": T("事例 #{id} が見つかりません。", "There is no case #{id}."),
    "unknown": T("{key} は事例の項目ではありません。", "{key} is not a field of a case."),
    "empty": T("{label}を入力してください。", "Please fill in: {label}."),
    "long": T(
        "{label}は{max}文字以内でお願いします（いま{n}文字です）。",
        "Please keep {label} within {max} characters (that was {n}).",
    ),
    "field": T(
        "活動分野は次から選んでください：{choices}",
        "Please choose the field from: {choices}",
    ),
    "year": T(
        "年は 2000〜2100 の数字でお願いします（{value}）。",
        "The year is a number from 2000 to 2100 ({value}).",
    ),
    "partners": T(
        "協働パートナーは{max}件まで、それぞれ名前と種別（{choices}）でお願いします。",
        "Up to {max} partners, each with a name and a kind ({choices}).",
    ),
    "state": T(
        "事例 #{id} は「{state}」なので、この操作はできません。",
        "Case #{id} is {state}, so this cannot be done now.",
    ),
    "changed": T(
        "事例 #{id} は他の人が更新しました。開き直してからもう一度お願いします。",
        "Someone else updated case #{id}. Please open it again and retry.",
    ),
    "no_group": T(
        "事例 #{id} の団体には LINE でお聞きできません（登録がないか、データが削除されています）。"
        "同意をほかの方法でいただいたら `/tsunagu cases consented {id}` で記録してください。",
        "The group of case #{id} cannot be asked in LINE (not registered there, or its data "
        "was deleted). Once it consents another way, record it with "
        "`/tsunagu cases consented {id}`.",
    ),
}


# The card a group reads in LINE, asked whether its case may be published.
class _AskTexts(Texts):
    """ASK: texts in Japanese and English."""

    title = T("事例の公開についてのお願い", "May we publish your case?")
    text = T(
        "「{summary}」の取り組みを、事例集で紹介させていただけませんか？"
        "下の内容でよろしければ「公開してよい」を、直したい点があれば「修正をお願いしたい」を"
        "押してください。公開しない場合も、今後のご相談には何も影響しません。",
        "May we tell others about “{summary}” in the programme's case catalogue? If the text "
        "below is right, tap “Yes, publish”; to change something, tap “Ask for changes”. "
        "Saying no changes nothing about your future requests.",
    )
    again = T(
        "事例の内容を事務局が更新しました。あらためて公開してよいかお聞かせください。",
        "The office updated the case's text. Please tell us again whether we may publish it.",
    )
    yes = T("公開してよい", "Yes, publish")
    no = T("公開しないでほしい", "Please don't")
    change = T("修正をお願いしたい", "Ask for changes")


ASK = _AskTexts
# What the coordinators read in the project's thread when the group answers in LINE.
ANSWERED = {
    "yes": T(
        "✅ 団体が事例 #{id} の公開に同意しました。`/tsunagu cases publish {id}` で公開できます。",
        "✅ The group consented to publishing case #{id}: `/tsunagu cases publish {id}`.",
    ),
    "no": T(
        "団体は事例 #{id} を公開しないことを希望しました（取り下げにしました）。",
        "The group asked not to publish case #{id} (it is withdrawn).",
    ),
    "change": T(
        "✏️ 団体が事例 #{id} の修正を希望しています（下書きに戻しました）:\n{words}\n"
        "`/tsunagu cases edit {id}` で直して、"
        "`/tsunagu cases consent {id}` であらためてお聞きください。",
        "✏️ The group asks for changes to case #{id} (back to draft):\n{words}\n"
        "Edit it with `/tsunagu cases edit {id}`, then ask again with "
        "`/tsunagu cases consent {id}`.",
    ),
}
_ASK_BODY_CHARS = 600  # of each long text on the card; the full case is in the catalogue


class CaseError(ValueError):
    """A case operation refused; the message says why in ja and en."""

    def __init__(self, text: T, **fields: Any) -> None:
        def filled(locale: str) -> str:
            values = {k: v(locale) if isinstance(v, T) else v for k, v in fields.items()}
            return text(locale, **values)

        super().__init__(filled("en"))
        self.text = T(filled("ja"), filled("en"))


# ---------------------------------------------------------------- what a draft is made from


@dataclass(frozen=True)
class Agreement:
    """The kickoff agreement (issue #13): deliverable, scope, success measures, end date."""

    deliverable: str
    scope: str = ""
    success_measures: str = ""
    ends_on: datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """A recorded delivery (納品) the group confirmed."""

    note: str
    link: str = ""
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class PublishedFeedback:
    """Feedback the author agreed to publish: `author` None means anonymously."""

    text: str
    author: str | None
    score: int | None = None


@dataclass(frozen=True)
class CaseSource:
    """Everything a draft case is written from, platform- and storage-neutral. The
    lifecycle's agreement, delivery and published feedback are optional inputs."""

    project_id: int
    group: str
    group_kind: str
    group_sector: str | None
    area: str
    fields: tuple[str, ...]
    activity: str
    challenge: str
    menus: tuple[str, ...]
    menu_other: str | None
    deliverable: str | None
    team_size: int
    team_skills: tuple[str, ...]
    programme: str | None
    started: datetime
    timezone: str = "Asia/Tokyo"
    agreement: Agreement | None = None
    delivery: Delivery | None = None
    feedback: tuple[PublishedFeedback, ...] = ()


@dataclass
class Draft:
    """A case's fields: Japanese texts, English ones where known."""

    title: str
    area: str
    field: str
    year: int
    partners: list[dict[str, str]]
    texts: dict[str, str]
    en: dict[str, str] = dataclasses.field(default_factory=dict)


def _menus(source: CaseSource, locale: str) -> str:
    names = [label(MENUS, m, locale) for m in source.menus]
    if source.menu_other:
        names.append(source.menu_other)
    return ("、" if locale == "ja" else ", ").join(names)


def _lines(source: CaseSource, locale: str, key: str) -> str:
    """The activities or the outcome, from the team, the agreement, the delivery and
    the published feedback (whichever exist)."""
    out: list[str] = []
    if key == "activities":
        skills = ("、" if locale == "ja" else ", ").join(
            skill_label(s, locale) for s in source.team_skills[:6]
        )
        out.append(
            TXT.activities(
                locale, menus=_menus(source, locale), size=source.team_size, skills=skills
            )
        )
        if source.agreement and source.agreement.scope:
            out.append(TXT.scope(locale, text=source.agreement.scope))
        return "\n".join(out)
    deliverable = source.agreement.deliverable if source.agreement else source.deliverable
    if deliverable:
        out.append(TXT.deliverable(locale, text=deliverable))
    if source.agreement and source.agreement.success_measures:
        out.append(TXT.measures(locale, text=source.agreement.success_measures))
    if source.delivery:
        out.append(TXT.delivered(locale, text=source.delivery.note))
    for voice in source.feedback:
        who = voice.author or TXT.anonymous(locale)
        out.append(TXT.voice(locale, text=voice.text, who=who))
    return "\n".join(out)


def draft_from(source: CaseSource) -> Draft:
    """A draft case written from its source; coordinators edit it before publishing."""
    tz = ZoneInfo(source.timezone)
    start = source.started.astimezone(tz)
    end_at = source.agreement.ends_on if source.agreement else None
    if source.delivery and source.delivery.delivered_at:
        end_at = source.delivery.delivered_at

    def period(locale: str) -> str:
        fmt = "%Y年%m月" if locale == "ja" else "%b %Y"
        text = (
            TXT.period(locale, start=start.strftime(fmt), end=end_at.astimezone(tz).strftime(fmt))
            if end_at
            else TXT.period_open(locale, start=start.strftime(fmt))
        )
        if source.programme:
            text += TXT.programme(locale, name=source.programme)
        return text

    def texts(locale: str) -> dict[str, str]:
        kind = label(ORG_KINDS, source.group_kind, locale)
        return {
            "background": TXT.background(
                locale,
                group=source.group,
                kind=kind,
                activity=source.activity,
                challenge=source.challenge,
            ),
            "activities": _lines(source, locale, "activities"),
            "outcome": _lines(source, locale, "outcome"),
            "period": period(locale),
            "cost": TXT.cost(locale),
            "contact": TXT.contact(locale),
            "tips": "",
        }

    partners = [{"name": source.group, "kind": source.group_sector or "npo"}]
    partners.append({"name": TXT.team("ja"), "kind": PROBONO.key})
    ja = texts("ja")
    en = texts("en")
    # Texts the group wrote stay Japanese: the English only carries what was generated.
    en = {k: v for k, v in en.items() if k in ("activities", "period", "cost", "contact")}
    en["title"] = TXT.title("en", group=source.group, menus=_menus(source, "en"))
    fields = [f for f in source.fields if any(o.key == f for o in INTERESTS)]
    return Draft(
        title=TXT.title("ja", group=source.group, menus=_menus(source, "ja"))[:120],
        area=source.area,
        field=fields[0] if fields else "other",
        year=start.year,
        partners=partners,
        texts=ja,
        en=en,
    )


async def load_source(session: AsyncSession, project_id: int, timezone: str) -> CaseSource:
    """A project's case source from the database, with the lifecycle's confirmed
    agreement, the newest delivery and the feedback its authors let us publish."""
    row = await store.project_source(session, project_id)
    if row is None:
        raise CaseError(ERRORS["no_project"], id=project_id)
    size, skills = await store.team_skills(session, project_id)
    agreement, delivery, feedback = await _lifecycle_source(session, project_id)
    return CaseSource(
        project_id=row.id,
        group=row.org_name,
        group_kind=row.org_kind,
        group_sector=row.org_sector,
        area=row.org_area,
        fields=tuple(row.org_fields or ()),
        activity=row.org_activity,
        challenge=row.challenge,
        menus=tuple(row.menus or ()),
        menu_other=row.menu_other,
        deliverable=row.deliverable,
        team_size=size,
        team_skills=tuple(skills),
        programme=row.programme_name,
        started=row.decided_at or row.created_at,
        timezone=row.programme_timezone or timezone,
        agreement=agreement,
        delivery=delivery,
        feedback=feedback,
    )


async def _lifecycle_source(
    session: AsyncSession, project_id: int
) -> tuple[Agreement | None, Delivery | None, tuple[PublishedFeedback, ...]]:
    """The newest confirmed agreement, the newest delivery, and published feedback (the
    group's first, named authors by their first name, anonymous ones without)."""
    agreed = await session.scalar(
        select(models.Agreement)
        .where(models.Agreement.project_id == project_id, models.Agreement.status == "confirmed")
        .order_by(models.Agreement.version.desc())
        .limit(1)
    )
    agreement = (
        Agreement(
            deliverable=agreed.deliverable,
            scope=agreed.scope,
            success_measures=agreed.success_measures,
            ends_on=datetime.combine(agreed.end_date, time(3), UTC),  # noon in Japan
        )
        if agreed is not None
        else None
    )
    done = await session.scalar(
        select(models.Delivery)
        .where(models.Delivery.project_id == project_id)
        .order_by(models.Delivery.id.desc())
        .limit(1)
    )
    delivery = (
        Delivery(note=done.note, link=done.link or "", delivered_at=done.recorded_at)
        if done is not None
        else None
    )
    rows = await session.scalars(
        select(models.Feedback)
        .where(
            models.Feedback.project_id == project_id,
            models.Feedback.publish != "no",
            models.Feedback.words.is_not(None),
        )
        .order_by(models.Feedback.author_type.desc(), models.Feedback.id)
    )
    published: list[PublishedFeedback] = []
    for fb in rows:
        author: str | None = None
        if fb.publish == "named":
            if fb.author_type == "organization":
                org = await session.get(models.Organization, fb.author_id)
                author = org.name if org else None
            else:
                person = await session.get(models.Volunteer, fb.author_id)
                author = (person.display_name.split() or [""])[0] if person else None
        published.append(PublishedFeedback(text=fb.words or "", author=author, score=fb.score))
    return agreement, delivery, tuple(published)


# ---------------------------------------------------------------- search text


def fold_search(text: str) -> str:
    """Text folded for search: NFKC, case-folded, katakana as hiragana, no white space.

    Japanese has no spaces between words, so a word matches anywhere inside the folded
    text (LIKE '%word%'); カタカナ and ひらがな, full- and half-width, upper and lower
    case all meet.
    """
    out: list[str] = []
    for c in unicodedata.normalize("NFKC", text).casefold():
        code = ord(c)
        if 0x30A1 <= code <= 0x30F6:  # katakana ァ..ヶ -> hiragana ぁ..ゖ
            out.append(chr(code - 0x60))
        elif not c.isspace():
            out.append(c)
    return "".join(out)


def search_words(text: str) -> list[str]:
    """The words of a search, each folded (full-width spaces separate words too)."""
    return [w for w in (fold_search(part) for part in normalise(text).split()) if w]


# Words that name a field also find the cases of related fields (子育て: children too).
RELATED_FIELDS: dict[str, str] = {"parenting": "children", "children": "parenting"}


def word_fields(words: Sequence[str]) -> dict[str, str]:
    """For each search word naming a field (label or synonym), the related field whose
    cases it also finds."""
    out: dict[str, str] = {}
    for word in words:
        for option in INTERESTS:
            names = [option.label.ja, option.label.en, option.key, *option.synonyms]
            if option.key in RELATED_FIELDS and any(fold_search(n) == word for n in names):
                out[word] = RELATED_FIELDS[option.key]
    return out


def search_text(case: Case) -> str:
    """Everything a case can be found by, in both languages, folded."""
    parts: list[str] = [case.title, case.area, str(case.year)]
    parts += [label(INTERESTS, case.field, lo) for lo in ("ja", "en")]
    for partner in case.partners:
        parts.append(str(partner.get("name", "")))
        parts += [label(PARTNER_KINDS, str(partner.get("kind", "")), lo) for lo in ("ja", "en")]
    parts += [str(getattr(case, key)) for key in TEXTS if key not in ("title", "area")]
    parts += [str(v) for v in (case.en or {}).values()]
    return "\x1f".join(fold_search(p) for p in parts if p)


# ---------------------------------------------------------------- checks


def _check(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validated, normalised changes; CaseError on the first bad one."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in TEXTS:
            text = normalise_block(str(value or ""))
            if key in ("title", "area") and not text:
                raise CaseError(ERRORS["empty"], label=FIELDS[key])
            if len(text) > TEXTS[key]:
                raise CaseError(ERRORS["long"], label=FIELDS[key], max=TEXTS[key], n=len(text))
            out[key] = text
        elif key == "field":
            found = next(
                (o.key for o in INTERESTS if o.key == value or o.matches(fold(str(value)))), None
            )
            if found is None:
                raise CaseError(ERRORS["field"], choices=_choices(INTERESTS))
            out[key] = found
        elif key == "year":
            try:
                year = int(str(value).strip())
            except ValueError:
                raise CaseError(ERRORS["year"], value=value) from None
            if not 2000 <= year <= 2100:
                raise CaseError(ERRORS["year"], value=value)
            out[key] = year
        elif key == "partners":
            out[key] = _partners(value)
        elif key == "en":
            if not isinstance(value, Mapping) or any(k not in TEXTS for k in value):
                raise CaseError(ERRORS["unknown"], key="en")
            english: dict[str, str] = {}
            for k, v in value.items():
                text = normalise_block(str(v or ""))
                if len(text) > TEXTS[k]:
                    raise CaseError(ERRORS["long"], label=FIELDS[k], max=TEXTS[k], n=len(text))
                if text:
                    english[k] = text
            out[key] = english
        else:
            raise CaseError(ERRORS["unknown"], key=key)
    return out


def check_fields(changes: Mapping[str, Any]) -> dict[str, T]:
    """Each bad field's reason (key -> ja/en message): for a form that shows every error
    under its own field rather than the first one alone."""
    errors: dict[str, T] = {}
    for key, value in changes.items():
        try:
            _check({key: value})
        except CaseError as exc:
            errors[key] = exc.text
    return errors


def _choices(options: tuple[Option, ...]) -> T:
    return T("、".join(o.label.ja for o in options), ", ".join(o.label.en for o in options))


def _partners(value: Any) -> list[dict[str, str]]:
    bad = CaseError(ERRORS["partners"], max=MAX_PARTNERS, choices=_choices(PARTNER_KINDS))
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) > MAX_PARTNERS:
        raise bad
    out: list[dict[str, str]] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise bad
        name = normalise(str(item.get("name") or ""))
        kind = str(item.get("kind") or "")
        found = next((o.key for o in PARTNER_KINDS if o.key == kind or o.matches(fold(kind))), None)
        if not name or len(name) > 80 or found is None:
            raise bad
        out.append({"name": name, "kind": found})
    return out


def normalise_block(text: str) -> str:
    """NFKC and trimmed lines, keeping line breaks (paragraphs of a case's texts)."""
    lines = [normalise(line) for line in unicodedata.normalize("NFKC", text).splitlines()]
    return "\n".join(lines).strip()


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class CaseSummary:
    """One search result."""

    id: int
    status: str
    title: str
    area: str
    field: str
    year: int
    partners: tuple[tuple[str, str], ...]
    outcome: str
    updated_at: datetime
    en: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def line(self, locale: str) -> str:
        """One line for a list: #id title (area, field, year), in the reader's language."""
        field_label = label(INTERESTS, self.field, locale)
        title = localised(self.en, "title", self.title, locale)
        text = f"#{self.id} {title}（{self.area}・{field_label}・{self.year}）"
        if locale == "en":
            text = f"#{self.id} {title} ({self.area}, {field_label}, {self.year})"
        if self.status != "published":
            text += f" [{STATES[self.status](locale)}]"
        return text


def localised(case_en: Mapping[str, Any] | None, key: str, ja: str, locale: str) -> str:
    """A field in the reader's language: the English where written, else the Japanese."""
    if locale == "en" and case_en and case_en.get(key):
        return str(case_en[key])
    return ja


async def _case_or_refuse(session: AsyncSession, case_id: int) -> Case:
    case = await session.get(Case, case_id)
    if case is None:
        raise CaseError(ERRORS["no_case"], id=case_id)
    return case


async def move_in(session: AsyncSession, case_id: int, action: str, actor: str) -> str:
    """`Cases.move` in the caller's transaction: one conditional UPDATE (one winner of
    two at once) and its audit row; CaseError names the state that refused it."""
    step = TRANSITIONS[action]
    now = utcnow()
    values: dict[str, Any] = {"status": step.target, "version": Case.version + 1}
    if step.target == "consent_asked":
        values["consent_asked_at"] = now
    if action in ("case_consent_given", "case_consent_refused", "case_changes_asked"):
        values["consent_answered_at"] = now
    if step.target == "published":
        values |= {"published_at": now, "published_by": actor, "updated_at": now}
    done = await session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status.in_(step.sources))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        case = await _case_or_refuse(session, case_id)
        await session.refresh(case)
        raise CaseError(ERRORS["state"], id=case_id, state=STATES[case.status])
    await repo.audit(
        session, actor=actor, action=action, subject_type="case", subject_id=case_id,
        detail={"to": step.target},
    )  # fmt: skip
    return step.target


async def _case_and_project(
    session: AsyncSession, case_id: int
) -> tuple[Case, models.Project] | None:
    """A case made from a project, with that project (and its group) loaded."""
    case = await session.get(Case, case_id)
    if case is None or case.project_id is None:
        return None
    project = await repo.get_project(session, case.project_id)
    return None if project is None else (case, project)


async def group_of(session: AsyncSession, case_id: int) -> models.Organization | None:
    """The group a case is about, when it can be asked in its chat (not deleted)."""
    found = await _case_and_project(session, case_id)
    if found is None or found[1].organization.user_key.startswith("deleted:"):
        return None
    return found[1].organization


def consent_panel(case: Case, loc: str) -> Panel:
    """The case as the group reads it before saying yes: its fields and texts (clipped),
    with the three answers as the card's buttons."""

    def text(key: str) -> str:
        value = localised(case.en, key, str(getattr(case, key) or ""), loc)
        return value if len(value) <= _ASK_BODY_CHARS else value[: _ASK_BODY_CHARS - 1] + "…"

    body = "\n\n".join(
        f"【{FIELDS[k](loc)}】\n{text(k)}"
        for k in ("background", "activities", "outcome")
        if text(k)
    )
    return Panel(
        title=localised(case.en, "title", case.title, loc),
        kind="case",
        fields=(
            (FIELDS["area"](loc), case.area),
            (FIELDS["field"](loc), label(INTERESTS, case.field, loc)),
            (FIELDS["period"](loc), text("period") or str(case.year)),
        ),
        body=body or None,
        note=ASK.title(loc),
        buttons=consent_buttons(case.id, loc),
    )


def consent_buttons(case_id: int, loc: str) -> tuple[Choice, ...]:
    """公開してよい / 公開しないでほしい / 修正をお願いしたい, through the postback codec."""
    return tuple(
        Choice(said(loc)[:20], postback.CaseConsent(case_id, a).pack(), said(loc))
        for a, said in (("yes", ASK.yes), ("no", ASK.no), ("change", ASK.change))
    )


async def send_consent_card(
    session: AsyncSession, case_id: int, group: models.Organization, *, again: bool = False
) -> None:
    """Queue the consent card to the group in its language (once per case version)."""
    case = await _case_or_refuse(session, case_id)
    await session.refresh(case)
    loc = group.locale
    title = localised(case.en, "title", case.title, loc)
    text = (ASK.again(loc) + "\n") if again else ""
    text += ASK.text(loc, summary=title)
    panel = consent_panel(case, loc)
    await enqueue(
        session,
        channel=group.channel,
        kind="push",
        target=group.user_key,
        payload=replies_payload([Reply(text, panel.buttons, (panel,))], urgent=True),
        key=key_for("case-consent", case_id, case.version),
    )


async def _groups_case(
    session: AsyncSession, case_id: int, organization_id: int | None
) -> tuple[Case, models.Project] | None:
    """The case and its project, if the case is about this group's project."""
    found = await _case_and_project(session, case_id)
    if found is None or organization_id is None or found[1].organization_id != organization_id:
        return None
    return found


async def answer_consent_in(
    session: AsyncSession, case_id: int, organization_id: int, answer: str, actor: str
) -> tuple[Case, models.Project] | None:
    """The group's answer from its chat: yes (consented), no (withdrawn) or change (back
    to the draft); returns the case (as it was when asked) and its project. None when
    the case is not this group's or no longer asked (a second or late click): nothing
    changes."""
    found = await _groups_case(session, case_id, organization_id)
    if found is None or found[0].status != "consent_asked":
        return None
    action = {
        "yes": "case_consent_given",
        "no": "case_consent_refused",
        "change": "case_changes_asked",
    }[answer]
    try:
        await move_in(session, case_id, action, actor)
    except CaseError:
        return None  # another click of the same group won
    return found


async def consent_state(
    session: AsyncSession, case_id: int, organization_id: int | None
) -> str | None:
    """Where a case stands for the group answering it (None: not this group's case)."""
    found = await _groups_case(session, case_id, organization_id)
    return None if found is None else found[0].status


def summaries(rows: Sequence[Any]) -> list[CaseSummary]:
    return [
        CaseSummary(
            id=r.id,
            status=r.status,
            title=r.title,
            area=r.area,
            field=r.field,
            year=r.year,
            partners=tuple((str(p.get("name")), str(p.get("kind"))) for p in r.partners),
            outcome=r.outcome,
            updated_at=r.updated_at,
            en=dict(r.en or {}),
        )
        for r in rows
    ]


async def search_in(
    session: AsyncSession, text: str, *, limit: int = 10, offset: int = 0
) -> list[CaseSummary]:
    """Published cases matching every word of `text`, newest first (LINE's 事例)."""
    words = search_words(text)
    rows = await store.search(
        session, words, word_fields=word_fields(words), limit=limit, offset=offset
    )
    return summaries(rows)


def area_key(area: str) -> str:
    """What an area is searched by: the place's key (八王子 and 八王子市 meet), else the
    folded text."""
    return place(area).key or fold_search(area)


def _draft_columns(d: Draft) -> dict[str, Any]:
    """A case's columns as a draft writes them (made, or written again)."""
    return {
        "title": d.title,
        "area": d.area,
        "area_key": area_key(d.area),
        "field": d.field,
        "year": d.year,
        "partners": d.partners,
        "en": d.en,
        **d.texts,
    }


class Cases:
    """The catalogue's operations (drafts, edits, consent, publishing, search)."""

    def __init__(
        self, maker: async_sessionmaker[AsyncSession], *, timezone: str = "Asia/Tokyo"
    ) -> None:
        self.maker = maker
        self.timezone = timezone

    async def draft(self, project_id: int, actor: str, *, source: CaseSource | None = None) -> int:
        """Make a draft case from a project (its source read from the database unless
        given); refused if the project already has one. Returns the case id."""
        async with self.maker.begin() as session:
            return await self.draft_in(session, project_id, actor, source=source)

    async def draft_in(
        self,
        session: AsyncSession,
        project_id: int,
        actor: str,
        *,
        source: CaseSource | None = None,
    ) -> int:
        """`draft` in the caller's transaction (e.g. the one completing the project)."""
        existing = await store.case_for_project(session, project_id)
        if existing is not None:
            raise CaseError(ERRORS["exists"], id=project_id, case=existing.id)
        src = source or await load_source(session, project_id, self.timezone)
        case = Case(
            project_id=project_id,
            status="draft",
            created_by=actor,
            **_draft_columns(draft_from(src)),
        )
        case.search_text = search_text(case)
        session.add(case)
        await session.flush()
        await repo.audit(
            session, actor=actor, action="case_draft", subject_type="case", subject_id=case.id,
            detail={"project_id": project_id},
        )  # fmt: skip
        return int(case.id)

    async def refresh_draft_in(self, session: AsyncSession, project_id: int) -> str | None:
        """Feedback that came after the draft was written (#14): an untouched draft is
        written again from the project ("refreshed"); one a coordinator has edited is left
        as it is ("edited", for them to add the new words). None: no draft to refresh."""
        case = await store.case_for_project(session, project_id)
        if case is None or case.status != "draft":
            return None
        edited = await session.scalar(
            select(models.AuditEntry.id)
            .where(
                models.AuditEntry.subject_type == "case",
                models.AuditEntry.subject_id == case.id,
                models.AuditEntry.action == "case_edit",
            )
            .limit(1)
        )
        if edited is not None:
            return "edited"
        d = draft_from(await load_source(session, project_id, self.timezone))
        for key, value in _draft_columns(d).items():
            setattr(case, key, value)
        case.search_text = search_text(case)
        case.updated_at = utcnow()
        return "refreshed"

    async def get(self, case_id: int) -> Case:
        """One case (any state): for coordinators' editing."""
        async with self.maker() as session:
            case = await session.get(Case, case_id)
            if case is None:
                raise CaseError(ERRORS["no_case"], id=case_id)
            return case

    async def edit(
        self, case_id: int, changes: Mapping[str, Any], actor: str, *, version: int | None = None
    ) -> Case:
        """Change fields of a case (checked; `version` refuses a stale edit). The group
        consented to a text, not to any later one: an edit after its yes (consented or
        published) asks it again, and the case is out of the catalogue until it answers."""
        checked = _check(changes)
        async with self.maker.begin() as session:
            case = await session.get(Case, case_id, with_for_update=True)
            if case is None:
                raise CaseError(ERRORS["no_case"], id=case_id)
            if version is not None and case.version != version:
                raise CaseError(ERRORS["changed"], id=case_id)
            if case.status == "withdrawn":
                raise CaseError(ERRORS["state"], id=case_id, state=STATES[case.status])
            for key, value in checked.items():
                setattr(case, key, value)
            if "area" in checked:
                case.area_key = area_key(case.area)
            case.search_text = search_text(case)
            case.version += 1
            case.updated_at = utcnow()
            await repo.audit(
                session, actor=actor, action="case_edit", subject_type="case", subject_id=case_id,
                detail={"fields": sorted(checked)},
            )  # fmt: skip
            if checked and case.status in TRANSITIONS["case_reask"].sources:
                await session.flush()
                await move_in(session, case_id, "case_reask", actor)
                group = await group_of(session, case_id)
                if group is not None:
                    await send_consent_card(session, case_id, group, again=True)
            await session.flush()
            await session.refresh(case)
            return case

    async def move(self, case_id: int, action: str, actor: str) -> str:
        """Apply a transition (`TRANSITIONS` key) if the case is in one of its source
        states: exactly one of two people acting at once wins. Returns the new state."""
        async with self.maker.begin() as session:
            return await move_in(session, case_id, action, actor)

    async def ask_consent(self, case_id: int, actor: str) -> str:
        """A coordinator asks the group whether the case may be published: the card goes
        to the group in LINE in the same transaction as the state change. A group that
        cannot be asked there is refused (`no_group`): record a consent given another
        way with `record_consent`."""
        async with self.maker.begin() as session:
            group = await group_of(session, case_id)
            if group is None:
                await _case_or_refuse(session, case_id)
                raise CaseError(ERRORS["no_group"], id=case_id)
            state = await move_in(session, case_id, "case_ask_consent", actor)
            await send_consent_card(session, case_id, group)
        return state

    async def record_consent(self, case_id: int, actor: str) -> str:
        """A coordinator records a consent the group gave outside LINE (audited as theirs)."""
        async with self.maker.begin() as session:
            case = await _case_or_refuse(session, case_id)
            if case.status == "draft":
                await move_in(session, case_id, "case_ask_consent", actor)
            return await move_in(session, case_id, "case_consent_given", actor)

    async def consent(self, case_id: int, given: bool, actor: str) -> str:
        """The group's answer: consented, or the case is withdrawn."""
        action = "case_consent_given" if given else "case_consent_refused"
        return await self.move(case_id, action, actor)

    async def publish(self, case_id: int, actor: str) -> str:
        """A coordinator publishes a case the group consented to."""
        return await self.move(case_id, "case_publish", actor)

    async def withdraw(self, case_id: int, actor: str) -> str:
        """A coordinator (or the group) takes a case down or drops a draft."""
        return await self.move(case_id, "case_withdraw", actor)

    async def search(
        self,
        text: str = "",
        *,
        area: str | None = None,
        field: str | None = None,
        year: int | None = None,
        drafts: bool = False,
        limit: int = 20,
    ) -> list[CaseSummary]:
        """Cases matching every word of `text` and the filters; published ones only,
        unless `drafts` (coordinators see every state)."""
        field_key = None
        if field:
            field_key = _check({"field": field})["field"]
        wanted_area = area_key(area) if area else None
        words = search_words(text)
        async with self.maker() as session:
            rows = await store.search(
                session,
                words,
                word_fields=word_fields(words),
                area_key=wanted_area,
                field=field_key,
                year=year,
                statuses=None if drafts else store.PUBLIC,
                limit=limit,
            )
        return summaries(rows)

    async def published(self) -> list[Case]:
        """Every published case (the static site and the JSON)."""
        async with self.maker() as session:
            return await store.published(session)
