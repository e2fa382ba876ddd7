"""Demo data: the five Kawasaki 2017 groups with accepted requests and 18 made-up volunteers.

Everything is created through the core's own operations (the effects sign-up and intake
write, then a coordinator's acceptance), so the demo sends the same cards, pushes and
announcements real people would cause. Used by `tsunagu demo` and the sandbox page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.coordination import Coordination
from bot.dialogue import SaveVolunteer, SubmitRequest
from bot.effects import EffectContext, apply_effect
from storage import repo

CHANNEL = "line"


@dataclass(frozen=True)
class DemoPerson:
    """Someone the demo creates: their LINE id, name, kind (volunteer or group) and language."""

    user_key: str
    name: str
    kind: str
    locale: str


@dataclass
class DemoResult:
    """What a demo load did."""

    people: list[DemoPerson]
    projects: list[int] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)
    already_loaded: bool = False


# Kawasaki 2017's matched groups and their menus (docs/domain.md, from the City of
# Kawasaki's 2017 report). Activities and challenges are written for the demo: the
# report names the groups and menus only.
GROUPS: tuple[dict[str, Any], ...] = (
    {
        "org_name": "こども未来塾",
        "org_kind": "voluntary",
        "org_fields": ["children", "education"],
        "org_area": "川崎市中原区",
        "activity": "放課後の小中学生に無料の学習の場と居場所をつくっています。",
        "strengths": "地域の大学生ボランティアとのつながり",
        "needs_people": "運営を一緒に考える人",
        "needs_money": "教材費",
        "challenge": "活動の目的と優先順位を整理し、来年度の運営計画を立てたい。",
        "menus": ["issue_workshop"],
        "period": "within_3m",
        "mode": "either",
        "contact_name": "山本 由紀",
        "contact_role": "代表",
    },
    {
        "org_name": "シェアドッグスクール",
        "org_kind": "npo",
        "org_fields": ["animals", "community"],
        "org_area": "川崎市多摩区",
        "activity": "保護犬の譲渡会と、飼い主向けのしつけ教室を開いています。",
        "strengths": "獣医師・トレーナーのネットワーク",
        "needs_people": "広報の担い手",
        "challenge": "秋の譲渡会に多くの人が来てくれるよう、チラシとポスターを作りたい。",
        "menus": ["flyer"],
        "period": "asap",
        "mode": "either",
        "contact_name": "佐々木 茜",
        "contact_role": "事務局長",
    },
    {
        "org_name": "みどりなくらし",
        "org_kind": "voluntary",
        "org_fields": ["environment", "community"],
        "org_area": "川崎市麻生区",
        "activity": "里山の手入れと、親子向けの自然体験会を続けています。",
        "strengths": "里山の保全の知識と道具",
        "needs_things": "活動拠点",
        "challenge": "土地の使用や会の規約について、法律面で確認しておきたい。",
        "menus": ["legal"],
        "period": "within_6m",
        "mode": "online",
        "contact_name": "小林 誠",
        "contact_role": "会長",
    },
    {
        "org_name": "青丘社",
        "org_kind": "social_welfare",
        "org_fields": ["international", "children"],
        "org_area": "川崎市川崎区",
        "activity": "多文化のまちで、子どもから高齢者までの交流の場を運営しています。",
        "strengths": "多言語で話せるスタッフと地域のつながり",
        "needs_people": "デザインのわかる人",
        "challenge": "ふれあいまつりの案内を、誰にでも伝わるチラシとポスターにしたい。",
        "menus": ["flyer"],
        "period": "within_3m",
        "mode": "in_person",
        "contact_name": "金 美香",
        "contact_role": "職員",
    },
    {
        "org_name": "じもたんkids",
        "org_kind": "voluntary",
        "org_fields": ["children", "community"],
        "org_area": "川崎市宮前区",
        "activity": "地域を探検する子ども向けのまち歩きとワークショップを開いています。",
        "strengths": "保護者と商店街の協力",
        "needs_people": "企画を手伝う人",
        "challenge": "メンバーが増えて役割が曖昧になった。課題を整理して体制を見直したい。",
        "menus": ["issue_workshop"],
        "period": "within_3m",
        "mode": "either",
        "contact_name": "高橋 純",
        "contact_role": "共同代表",
    },
)

# 18 made-up volunteers: (name, locale, area, skills, occupation, years, hours, slots, mode,
# interests). Their skills cover the five requests with some to spare, as in Kawasaki.
# fmt: off
VOLUNTEERS: tuple[tuple[Any, ...], ...] = (
    ("青木 健", "ja", "川崎市中原区", ["facilitation", "consulting"], "employee", 12, 4,
     ["weekend"], "either", ["children", "education"]),
    ("石田 真理", "ja", "川崎市", ["facilitation", "training"], "self_employed", 8, 3,
     ["weekday_evening"], "in_person", ["children"]),
    ("上田 翔", "ja", "横浜市", ["consulting", "writing"], "employee", 6, 3,
     ["weekend"], "online", ["community"]),
    ("江藤 梓", "ja", "川崎市多摩区", ["graphic_design", "photo_video"], "self_employed", 10, 5,
     ["weekday_day", "weekend"], "either", ["animals"]),
    ("大野 拓海", "ja", "川崎市高津区", ["copywriting", "marketing"], "employee", 7, 3,
     ["weekday_evening"], "online", ["animals", "community"]),
    ("加藤 さくら", "ja", "川崎市麻生区", ["law"], "employee", 15, 2,
     ["weekday_evening", "weekend"], "online", ["environment"]),
    ("木村 大輔", "ja", "東京都世田谷区", ["law", "labour"], "self_employed", 20, 2,
     ["weekday_day"], "online", ["community"]),
    ("久保 彩", "ja", "川崎市川崎区", ["graphic_design", "copywriting"], "employee", 5, 4,
     ["weekend"], "in_person", ["international", "children"]),
    ("小西 悠", "ja", "川崎市宮前区", ["facilitation", "community"], "public_sector", 9, 3,
     ["weekend"], "either", ["children", "community"]),
    ("斎藤 恵", "ja", "川崎市幸区", ["consulting", "presentation"], "employee", 11, 3,
     ["weekday_evening"], "either", ["children"]),
    ("清水 隆", "ja", "川崎市中原区", ["web", "it_cloud"], "employee", 8, 4,
     ["weekend"], "online", ["education"]),
    ("田中 美咲", "ja", "横浜市港北区", ["marketing", "social_media"], "employee", 4, 3,
     ["weekday_evening"], "online", ["animals"]),
    ("中村 光", "ja", "川崎市多摩区", ["photo_video", "graphic_design"], "student", 1, 6,
     ["weekday_day", "weekend"], "in_person", ["environment", "animals"]),
    ("野口 修", "ja", "川崎市麻生区", ["accounting", "tax"], "senior", 35, 6,
     ["weekday_day"], "either", ["environment", "community"]),
    ("林 優子", "ja", "川崎市宮前区", ["training", "facilitation"], "senior", 30, 5,
     ["weekday_day"], "in_person", ["children", "elderly"]),
    ("Emma Clarke", "en", "川崎市川崎区", ["translation", "copywriting"], "self_employed", 6, 3,
     ["weekend"], "either", ["international"]),
    ("Nguyen Van An", "en", "川崎市幸区", ["it_cloud", "translation"], "employee", 3, 3,
     ["weekday_evening"], "online", ["international", "education"]),
    ("Priya Sharma", "en", "東京都大田区", ["consulting", "fundraising"], "employee", 9, 2,
     ["weekend"], "online", ["children", "international"]),
)
# fmt: on


# fmt: off
# Cases for the catalogue, written as Kawasaki 2017's teams might have left them (made up
# for the demo beyond the groups and menus): (group index, team size, team skills,
# deliverable, delivery note, testimonial, tips, publish?).
DEMO_CASES: tuple[tuple[Any, ...], ...] = (
    (0, 3, ("facilitation", "consulting", "training"),
     "来年度の運営計画（優先順位つき）",
     "ワークショップ2回と、スタッフ全員で作った運営計画書（A4 12ページ）",
     "目的を言葉にできたことで、ボランティアの募集もしやすくなりました。",
     "最初のヒアリングで全員の思いを聞き、ワークショップの前に論点を共有しておいたこと。",
     True),
    (1, 3, ("graphic_design", "copywriting", "photo_video"),
     "譲渡会のチラシ（A4両面）とポスター（B2）",
     "チラシ3,000部、ポスター40枚を印刷し、駅と動物病院に掲示",
     "譲渡会の来場者が前回の倍になり、8頭の家族が決まりました。",
     "伝えたい相手（初めて犬を迎える家族）を最初に一人の人物像に絞ったこと。",
     True),
    (2, 2, ("law", "labour"),
     "土地の使用と会の規約についての確認メモ",
     None, None, None, False),
)
# fmt: on


async def load_demo_cases(
    maker: async_sessionmaker[AsyncSession], project_ids: list[int], actor: str
) -> list[int]:
    """Draft the demo's cases from the demo projects (two published with the group's
    consent, one left a draft); their ids. Projects that already have one are skipped."""
    from datetime import UTC, datetime

    from bot.office.cases import Agreement, Cases, Delivery, PublishedFeedback, load_source
    from storage import cases as case_store

    cases = Cases(maker)
    made: list[int] = []
    for index, size, skills, deliverable, note, voice, tips, publish in DEMO_CASES:
        if index >= len(project_ids):
            continue
        project_id = project_ids[index]
        async with maker() as session:
            if await case_store.case_for_project(session, project_id) is not None:
                continue
            base = await load_source(session, project_id, "Asia/Tokyo")
        source = dataclasses.replace(
            base,
            team_size=size,
            team_skills=skills,
            deliverable=deliverable,
            started=datetime(2017, 9, 30, 1, 0, tzinfo=UTC),
            agreement=Agreement(deliverable, ends_on=datetime(2017, 11, 11, 1, 0, tzinfo=UTC)),
            delivery=Delivery(note, delivered_at=datetime(2017, 11, 11, 1, 0, tzinfo=UTC))
            if note
            else None,
            feedback=(PublishedFeedback(voice, str(GROUPS[index]["org_name"]), 5),)
            if voice
            else (),
            programme="プロボノチャレンジKAWASAKI 2017",
        )
        case_id = await cases.draft(project_id, actor, source=source)
        if tips:
            await cases.edit(case_id, {"tips": tips}, actor)
        if publish:
            # The 2017 groups consented long ago, outside the bot: nobody is asked in LINE.
            await cases.record_consent(case_id, actor)
            await cases.publish(case_id, actor)
        made.append(case_id)
    return made


def demo_key(kind: str, index: int) -> str:
    """The demo person's LINE-shaped user id (the same on every machine)."""
    return "U" + hashlib.sha256(f"tsunagu-demo-{kind}-{index}".encode()).hexdigest()[:32]


def demo_people() -> list[DemoPerson]:
    """Everyone the demo creates: 5 group contacts, then 18 volunteers."""
    people = [
        DemoPerson(demo_key("group", i), str(g["org_name"]), "group", "ja")
        for i, g in enumerate(GROUPS)
    ]
    people += [
        DemoPerson(demo_key("volunteer", i), str(v[0]), "volunteer", str(v[1]))
        for i, v in enumerate(VOLUNTEERS)
    ]
    return people


def _volunteer_answers(row: tuple[Any, ...]) -> dict[str, Any]:
    name, _locale, area, skills, occupation, years, hours, slots, mode, interests = row
    return {
        "display_name": name,
        "area": area,
        "skills": list(skills),
        "occupation": occupation,
        "experience_years": years,
        "hours_per_week": hours,
        "availability": list(slots),
        "mode": mode,
        "interests": list(interests),
        "consent": "agree",
    }


async def _loaded(session: AsyncSession) -> bool:
    return await repo.get_organization(session, CHANNEL, demo_key("group", 0)) is not None


DEMO_PROGRAMME = Path(__file__).resolve().parents[1] / "examples" / "kawasaki-2017.yaml"


async def import_demo_programme(programmes: Any, today: date) -> int:
    """Import examples/kawasaki-2017.yaml shifted so its first phase is today; its id."""
    import yaml

    from bot.programmes.schedule import parse_programme

    raw = await asyncio.to_thread(DEMO_PROGRAMME.read_text, encoding="utf-8")
    spec = parse_programme(yaml.safe_load(raw), shift_to=today)
    result = await programmes.import_spec(spec, actor="demo")
    return int(result.programme_id)


async def is_loaded(maker: async_sessionmaker[AsyncSession]) -> bool:
    """Whether the demo data is in the database already."""
    async with maker() as session:
        return await _loaded(session)


async def load_demo(
    maker: async_sessionmaker[AsyncSession],
    effects: EffectContext,
    coordination: Coordination,
    *,
    actor: str,
    notify: Callable[[], None] = lambda: None,
    after: Callable[[DemoResult], Awaitable[None]] | None = None,
    programmes: Any = None,
    today: date | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> DemoResult:
    """Create the demo volunteers and groups, submit and accept the five requests.

    Loading twice does nothing the second time. ``after`` runs once the requests are
    accepted: the hook for the programme calendar (issue #5 imports the Kawasaki 2017
    programme there).
    """
    people = demo_people()
    async with maker.begin() as session:
        if await _loaded(session):
            return DemoResult(people, already_loaded=True)
    # Steps: the programme, each volunteer, each group, each request accepted.
    total = (1 if programmes is not None else 0) + len(VOLUNTEERS) + 2 * len(GROUPS)
    done = 0

    def step(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    if programmes is not None:
        # The Kawasaki 2017 calendar moved to start today; the requests accepted below
        # join it (bot.programmes.service.Programmes.join_current).
        await import_demo_programme(programmes, today or date.today())
        step("programme")
    async with maker.begin() as session:
        for i, row in enumerate(VOLUNTEERS):
            await apply_effect(
                session,
                CHANNEL,
                demo_key("volunteer", i),
                str(row[1]),
                SaveVolunteer(_volunteer_answers(row)),
                effects,
            )
            step("volunteers")
        for i, group in enumerate(GROUPS):
            answers = {"needs_things": None, "needs_money": None, "needs_people": None, **group}
            await apply_effect(
                session, CHANNEL, demo_key("group", i), "ja", SubmitRequest(answers), effects
            )
            step("groups")
    notify()
    result = DemoResult(people)
    async with maker() as session:
        for i in range(len(GROUPS)):
            org = await repo.get_organization(session, CHANNEL, demo_key("group", i))
            if org is not None:
                result.projects += [p.id for p in await repo.projects_of(session, org.id)]
    for project_id in result.projects:
        await coordination.accept(project_id, actor)
        step("accepting requests")
    result.cases = await load_demo_cases(maker, result.projects, actor)
    if after is not None:
        await after(result)
    return result
