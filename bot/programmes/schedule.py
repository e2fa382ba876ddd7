"""The programme calendar as data: phase kinds, announcement rules, and when each is due.

Everything here is pure (no database, no clock of its own), so every schedule rule can
be tested with fixed times: offsets in days, a local wall-clock time on that day,
time zones (the programme's, default Asia/Tokyo), moving dates, and grace windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import T, day_text

# Phase kinds, in programme order (docs/domain.md).
KINDS: dict[str, T] = {
    "briefing": T("事前説明会", "Briefing session"),
    "team_formation": T("チーム編成", "Team formation"),
    "orientation": T("事前オリエンテーション", "Pre-orientation"),
    "kickoff": T("キックオフミーティング", "Kickoff meeting"),
    "team_work": T("チームごとの作業", "Team work"),
    "presentation": T("成果提案", "Results presentation"),
    "report": T("成果報告会", "Report to the community"),
    "other": T("その他", "Other"),
}

# Who an announcement goes to.
AUDIENCES: dict[str, T] = {
    "team_channels": T("チームチャンネル", "team channels"),
    "coordinators": T("コーディネーター", "coordinators"),
    "members": T("チームメンバー（LINE）", "team members (LINE)"),
    "volunteers": T("登録ボランティア（LINE）", "registered volunteers (LINE)"),
    "followers": T("友だち全員（LINE）", "all followers (LINE)"),
    "rsvp_yes": T("参加予定の方（LINE）", "people attending (LINE)"),
    # life-group (#13): the groups whose projects have a team (a one-team phase: its group).
    "groups": T("団体（LINE）", "groups (LINE)"),
}

# What a programme may set targets for (Sendai reports targets against actuals).
TARGET_KINDS: dict[str, T] = {
    "participants": T("プロボノ参加者", "Pro bono participants"),
    "companies": T("参加企業", "Companies"),
    "consultations": T("相談件数", "Consultations"),
    "applications": T("支援決定件数", "Applications accepted"),
    "teams": T("チーム数", "Teams"),
    "hours": T("活動時間", "Hours"),
}

# How long after its time a missed announcement may still go out, by audience kind:
# a reminder to a team is still useful hours late; a "tomorrow" notice is not.
DEFAULT_GRACE_MINUTES = 6 * 60

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# A programme's short name: it starts its teams' Slack channel names (teams.channel_name).
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,23}$")


def is_slug(text: str) -> bool:
    """2 to 24 lower-case ASCII letters, digits or hyphens, not starting with a hyphen."""
    return bool(_SLUG.match(text))


class ScheduleError(ValueError):
    """A programme definition that cannot be scheduled; the message says why (ja/en)."""

    def __init__(self, ja: str, en: str) -> None:
        super().__init__(en)
        self.text = T(ja, en)


@dataclass(frozen=True)
class AnnouncementSpec:
    """One announcement rule of a phase."""

    key: str
    offset_days: int = 0
    at_local: str | None = None
    offset_minutes: int = 0
    audience: tuple[str, ...] = ("team_channels",)
    audience_filter: dict[str, Any] = field(default_factory=dict)
    text_ja: str = ""
    text_en: str = ""
    grace_minutes: int = DEFAULT_GRACE_MINUTES


@dataclass(frozen=True)
class PhaseSpec:
    """One phase as a programme file or the Slack modal describes it (times in local)."""

    key: str
    kind: str
    title_ja: str
    title_en: str
    starts: datetime  # timezone-aware
    ends: datetime | None = None
    place: str | None = None
    url: str | None = None
    description_ja: str | None = None
    description_en: str | None = None
    rsvp: bool = False
    announcements: tuple[AnnouncementSpec, ...] = ()
    project: int | None = None  # one team's phase (its project id); None: every team


# What a phase meant for one team may announce to: its channel, its members, the
# coordinators and those who signed up for it; never everyone who follows the bot.
TEAM_AUDIENCES = frozenset({"team_channels", "members", "coordinators", "rsvp_yes", "groups"})


def for_one_team(announcements: tuple[AnnouncementSpec, ...]) -> tuple[AnnouncementSpec, ...]:
    """A kind's usual announcements as a one-team phase keeps them (team audiences only)."""
    kept = []
    for a in announcements:
        audience = tuple(x for x in a.audience if x in TEAM_AUDIENCES)
        if audience:
            kept.append(replace(a, audience=audience))
    return tuple(kept)


@dataclass(frozen=True)
class ProgrammeSpec:
    """A whole programme: name, time zone, menus and phases."""

    name: str
    slug: str
    timezone: str = "Asia/Tokyo"
    description: str | None = None
    menus: tuple[str, ...] = ()
    phases: tuple[PhaseSpec, ...] = ()
    # TARGET_KINDS key -> a whole number the office aims for; None: not given, so an
    # import keeps the targets the programme has (set in the modal, say).
    targets: dict[str, int] | None = None


# ---------------------------------------------------------------- when


def send_time(
    starts_at: datetime,
    tz: ZoneInfo,
    *,
    offset_days: int = 0,
    at_local: str | None = None,
    offset_minutes: int = 0,
) -> datetime:
    """When an announcement is due, in UTC.

    Days are calendar days in the programme's zone. With `at_local` ("18:00") the
    announcement goes at that wall-clock time on that day ("the day before at 18:00");
    without it, at the phase's own local start time plus `offset_minutes`.
    """
    if starts_at.tzinfo is None:
        raise ValueError("phase start must be timezone-aware")
    local = starts_at.astimezone(tz)
    if at_local:
        hh, mm = parse_hhmm(at_local)
        day = local.date() + timedelta(days=offset_days)
        due = datetime.combine(day, time(hh, mm), tzinfo=tz)
    else:
        # Wall-clock arithmetic: "7 days before" keeps the local hour across DST.
        due = local + timedelta(days=offset_days, minutes=offset_minutes)
        due = due.replace(tzinfo=None).replace(tzinfo=tz)
    return due.astimezone(UTC)


def parse_hhmm(value: str) -> tuple[int, int]:
    """'18:00' as (18, 0); ScheduleError if it is not a time of day."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ScheduleError(
            f"時刻は HH:MM で書いてください（{value}）", f"Write times as HH:MM ({value})"
        )
    return int(match.group(1)), int(match.group(2))


def describe_offset(spec: AnnouncementSpec | Any, locale: str) -> str:
    """'7日前 10:00' / '7 days before at 10:00' / '開始時' / 'at the start'."""
    days = int(spec.offset_days)
    minutes = int(spec.offset_minutes or 0)
    at = spec.at_local
    if days == 0 and not at and minutes == 0:
        return T("開始時", "at the start")(locale)
    if days == 0:
        day = T("当日", "on the day")(locale)
    elif days == -1:
        day = T("前日", "the day before")(locale)
    elif days < 0:
        day = T("{n}日前", "{n} days before")(locale, n=-days)
    elif days == 1:
        day = T("翌日", "the day after")(locale)
    else:
        day = T("{n}日後", "{n} days after")(locale, n=days)
    if at:
        return f"{day} {at}" if locale == "ja" else f"{day} at {at}"
    if minutes:
        sign = "+" if minutes > 0 else "-"
        return f"{day} {sign}{abs(minutes)}min"
    return day


def in_grace(send_at: datetime, now: datetime, grace_minutes: int) -> bool:
    """Whether an announcement due at `send_at` may still go out at `now`."""
    return now - send_at <= timedelta(minutes=max(0, grace_minutes))


# ---------------------------------------------------------------- defaults per kind

_D = AnnouncementSpec


# Templates may use {programme} {phase} {date} {time} {place} {url} {description}.
DEFAULT_ANNOUNCEMENTS: dict[str, tuple[AnnouncementSpec, ...]] = {
    "briefing": (
        _D(
            "invite",
            offset_days=-14,
            at_local="10:00",
            audience=("followers",),
            grace_minutes=3 * 24 * 60,
            text_ja="【{programme}】{phase}のご案内\n日時: {date} {time}\n場所: {place}\n{description}\n参加できるかボタンでお知らせください。",
            text_en="[{programme}] {phase}\nWhen: {date} {time}\nWhere: {place}\n{description}\nPlease tell us with the buttons whether you can come.",
        ),
        _D(
            "reminder",
            offset_days=-1,
            at_local="18:00",
            audience=("rsvp_yes",),
            grace_minutes=12 * 60,
            text_ja="明日は{phase}です。{time}から、{place}でお待ちしています。",
            text_en="Tomorrow is the {phase}: {time} at {place}. See you there.",
        ),
    ),
    "orientation": (
        _D(
            "week-before",
            offset_days=-7,
            at_local="10:00",
            audience=("team_channels", "members"),
            grace_minutes=2 * 24 * 60,
            text_ja="{date} {time}から{phase}があります（{place}）。チームの顔合わせです。",
            text_en="The {phase} is on {date} at {time} ({place}): meet your team.",
        ),
        _D(
            "day-before",
            offset_days=-1,
            at_local="18:00",
            audience=("team_channels",),
            grace_minutes=12 * 60,
            text_ja="明日{time}から{phase}です（{place}）。",
            text_en="Tomorrow at {time}: {phase} ({place}).",
        ),
    ),
    "kickoff": (
        _D(
            "week-before",
            offset_days=-7,
            at_local="10:00",
            audience=("team_channels", "coordinators"),
            grace_minutes=2 * 24 * 60,
            text_ja="{date} {time}から{phase}です（{place}）。団体との初顔合わせで、成果物と進め方を合意します。",
            text_en="The {phase} is on {date} at {time} ({place}): you meet the group and agree the deliverable and how you will work.",
        ),
        _D(
            "day-before",
            offset_days=-1,
            at_local="18:00",
            audience=("team_channels",),
            grace_minutes=12 * 60,
            text_ja="明日{time}から{phase}です（{place}）。よろしくお願いします。",
            text_en="Tomorrow at {time}: {phase} ({place}). Looking forward to it.",
        ),
        # life-group (#13): the group hears of its kickoff too, in its own words.
        _D(
            "group-week-before",
            offset_days=-7,
            at_local="10:00",
            audience=("groups",),
            grace_minutes=2 * 24 * 60,
            text_ja="{date} {time}から{phase}です（{place}）。チームとの初顔合わせで、成果物と進め方を一緒に決めます。",
            text_en="The {phase} is on {date} at {time} ({place}): you meet your team and agree together on the deliverable and how you will work.",
        ),
        _D(
            "start",
            audience=("team_channels",),
            grace_minutes=3 * 60,
            text_ja="{phase}の時間です。成果物と役割分担が決まったら `/tsunagu progress` で記録しましょう。",
            text_en="It is time for the {phase}. Once the deliverable and roles are agreed, note them with `/tsunagu progress`.",
        ),
    ),
    "team_work": (
        _D(
            "start",
            audience=("team_channels",),
            grace_minutes=24 * 60,
            text_ja="{phase}が始まりました（{date}〜）。進み具合は毎週のチェックインと `/tsunagu progress` で共有してください。",
            text_en="{phase} has begun ({date}). Share how it goes in the weekly check-ins and with `/tsunagu progress`.",
        ),
    ),
    "presentation": (
        _D(
            "week-before",
            offset_days=-7,
            at_local="10:00",
            audience=("team_channels", "coordinators"),
            grace_minutes=2 * 24 * 60,
            text_ja="{date} {time}から{phase}です（{place}）。提案の準備を進めましょう。",
            text_en="The {phase} is on {date} at {time} ({place}). Time to prepare the proposal.",
        ),
        # life-group (#13): the group is invited to hear its team's results.
        _D(
            "group-week-before",
            offset_days=-7,
            at_local="10:00",
            audience=("groups",),
            grace_minutes=2 * 24 * 60,
            text_ja="{date} {time}から{phase}です（{place}）。チームが取り組みの成果をご報告します。ぜひご参加ください。",
            text_en="The {phase} is on {date} at {time} ({place}). Your team will present what it achieved; we hope you can come.",
        ),
        _D(
            "follow-up",
            offset_days=3,
            at_local="10:00",
            audience=("team_channels",),
            grace_minutes=3 * 24 * 60,
            text_ja="{phase}お疲れさまでした。振り返りや団体からのフィードバックを `/tsunagu progress` で残してください。",
            text_en="Thank you for the {phase}. Please record the retrospective and the group's feedback with `/tsunagu progress`.",
        ),
    ),
    "report": (
        _D(
            "week-before",
            offset_days=-7,
            at_local="10:00",
            audience=("volunteers", "coordinators"),
            grace_minutes=2 * 24 * 60,
            text_ja="{date} {time}から{phase}を開きます（{place}）。どなたでもご参加ください。",
            text_en="The {phase} is on {date} at {time} ({place}). Everyone is welcome.",
        ),
    ),
    "team_formation": (
        _D(
            "start",
            audience=("coordinators",),
            grace_minutes=24 * 60,
            text_ja="{phase}の日です。`/tsunagu teams` でチーム案を作れます。",
            text_en="Today is {phase}: `/tsunagu teams` proposes the teams.",
        ),
    ),
    "other": (),
}


def default_announcements(kind: str) -> tuple[AnnouncementSpec, ...]:
    """The announcements a phase of this kind gets when its definition lists none."""
    return DEFAULT_ANNOUNCEMENTS.get(kind, ())


# ---------------------------------------------------------------- rendering


def render(template: str, fields: dict[str, str]) -> str:
    """Fill {placeholders}; an unknown or malformed one is left as written."""

    def sub(match: re.Match[str]) -> str:
        return fields.get(match.group(1), match.group(0))

    text = re.sub(r"\{([a-z_]+)\}", sub, template)
    # Lines whose only content was an empty field ("場所: ") read better removed.
    return "\n".join(line for line in text.splitlines() if line.strip() not in ("", ":")).strip()


def phase_fields(
    *,
    programme: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None,
    tz: ZoneInfo,
    place: str | None,
    url: str | None,
    description: str | None,
    locale: str,
) -> dict[str, str]:
    """The values an announcement template may use, in the reader's language."""
    local = starts_at.astimezone(tz)
    day = day_text(local, locale, year=False)
    until = ""
    if ends_at is not None:
        end_local = ends_at.astimezone(tz)
        until = f"〜{end_local:%H:%M}" if end_local.date() == local.date() else ""
    where = place or ""
    if url:
        where = f"{where} {url}".strip()
    return {
        "programme": programme,
        "phase": title,
        "date": day,
        "time": f"{local:%H:%M}{until}",
        "place": where or T("未定", "to be announced")(locale),
        "url": url or "",
        "description": description or "",
    }


# ---------------------------------------------------------------- programme files


def parse_programme(data: Any, *, shift_to: date | None = None) -> ProgrammeSpec:
    """A programme definition (the YAML file's content) as a checked spec.

    With `shift_to`, every date moves by the same number of days so the first phase
    falls on that date; local times of day stay as written.
    """
    if not isinstance(data, dict):
        raise ScheduleError("プログラム定義が読めません", "The programme file is not a mapping")
    head = data.get("programme", data)
    if not isinstance(head, dict):
        raise ScheduleError("programme: が必要です", "A 'programme:' section is required")
    name = _str(head.get("name"), "programme.name")
    slug = _str(head.get("slug"), "programme.slug")
    if not is_slug(slug):
        raise ScheduleError(
            "slug は英小文字・数字・- で24文字まで", "slug: lower-case ASCII, digits, '-', max 24"
        )
    tz_name = str(head.get("timezone") or "Asia/Tokyo")
    tz = zone(tz_name)
    menus = tuple(str(m) for m in (data.get("menus") or head.get("menus") or ()))
    raw_targets = data.get("targets", head.get("targets"))
    targets = None if raw_targets is None else parse_targets(raw_targets)
    raw_phases = data.get("phases") or []
    if not isinstance(raw_phases, list) or not raw_phases:
        raise ScheduleError("phases: が空です", "'phases:' must list at least one phase")
    phases = [_phase(p, tz, i) for i, p in enumerate(raw_phases)]
    keys = [p.key for p in phases]
    if len(set(keys)) != len(keys):
        raise ScheduleError("phase の key が重複しています", "Phase keys must be unique")
    if shift_to is not None:
        first = min(p.starts.astimezone(tz).date() for p in phases)
        delta = shift_to - first
        phases = [shift_phase(p, delta.days, tz) for p in phases]
    return ProgrammeSpec(
        name=name,
        slug=slug,
        timezone=tz_name,
        description=head.get("description"),
        menus=menus,
        phases=tuple(phases),
        targets=targets,
    )


def parse_targets(raw: Any) -> dict[str, int]:
    """A programme's targets ({kind: whole number >= 0}); ScheduleError (ja/en) if not."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScheduleError(
            "targets: は「種類: 数」の形で書いてください（例: participants: 30）",
            "targets: write 'kind: number' pairs (e.g. participants: 30)",
        )
    out: dict[str, int] = {}
    for key, value in raw.items():
        kind = str(key)
        if kind not in TARGET_KINDS:
            raise ScheduleError(
                f"targets: 不明な目標の種類 {kind}（{', '.join(TARGET_KINDS)}）",
                f"targets: unknown kind {kind} ({', '.join(TARGET_KINDS)})",
            )
        if isinstance(value, bool) or not isinstance(value, int | str):
            number = None
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                number = None
        if number is None or number < 0:
            raise ScheduleError(
                f"targets.{kind}: 0以上の整数で書いてください（{value}）",
                f"targets.{kind}: write a whole number, 0 or more ({value})",
            )
        out[kind] = number
    return out


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name; ScheduleError if unknown."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ScheduleError(f"不明なタイムゾーン: {name}", f"Unknown time zone: {name}") from exc


def shift_phase(phase: PhaseSpec, days: int, tz: ZoneInfo) -> PhaseSpec:
    """The phase moved by whole calendar days, keeping its local times of day."""

    def move(at: datetime | None) -> datetime | None:
        if at is None:
            return None
        local = at.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
        return local.replace(tzinfo=tz)

    starts = move(phase.starts)
    assert starts is not None
    return replace(phase, starts=starts, ends=move(phase.ends))


def _phase(raw: Any, tz: ZoneInfo, index: int) -> PhaseSpec:
    if not isinstance(raw, dict):
        raise ScheduleError(
            f"phase {index + 1} が読めません", f"Phase {index + 1} is not a mapping"
        )
    key = _str(raw.get("key"), f"phases[{index}].key")
    if not _KEY.match(key):
        raise ScheduleError(
            f"phase key は英小文字・数字・-_ で（{key}）",
            f"Phase keys are lower-case ASCII, digits, '-' and '_' ({key})",
        )
    kind = str(raw.get("kind") or "other")
    if kind not in KINDS:
        raise ScheduleError(
            f"不明な phase の種類: {kind}", f"Unknown phase kind: {kind} ({', '.join(KINDS)})"
        )
    title = raw.get("title") or {}
    if isinstance(title, str):
        title = {"ja": title, "en": title}
    title_ja = str(title.get("ja") or KINDS[kind]("ja"))
    title_en = str(title.get("en") or KINDS[kind]("en"))
    starts = _when(raw.get("starts"), tz, f"{key}.starts")
    ends = _when(raw["ends"], tz, f"{key}.ends") if raw.get("ends") else None
    if ends is not None and ends < starts:
        raise ScheduleError(f"{key}: 終了が開始より前です", f"{key}: the end is before the start")
    desc = raw.get("description") or {}
    if isinstance(desc, str):
        desc = {"ja": desc, "en": desc}
    project = _project(raw, key)
    raw_ann = raw.get("announcements")
    if raw_ann is None:
        announcements = default_announcements(kind)
        if project is not None:
            announcements = for_one_team(announcements)
    else:
        announcements = tuple(_announcement(a, key, kind) for a in raw_ann)
        ann_keys = [a.key for a in announcements]
        if len(set(ann_keys)) != len(ann_keys):
            raise ScheduleError(
                f"{key}: お知らせの key が重複しています",
                f"{key}: announcement keys must be unique",
            )
    return PhaseSpec(
        key=key,
        kind=kind,
        title_ja=title_ja,
        title_en=title_en,
        starts=starts,
        ends=ends,
        place=raw.get("place"),
        url=raw.get("url"),
        description_ja=desc.get("ja"),
        description_en=desc.get("en"),
        rsvp=bool(raw.get("rsvp", kind == "briefing")),
        announcements=announcements,
        project=project,
    )


def _project(raw: dict[str, Any], key: str) -> int | None:
    """The optional `project:` (or `team:`) of a phase: the id of the one team it is for."""
    value = raw.get("project", raw.get("team"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ScheduleError(
            f"{key}.project は相談（プロジェクト）の番号です（例: project: 12）",
            f"{key}.project is a project (request) number, e.g. project: 12",
        )
    number = int(value)
    if number < 1:
        raise ScheduleError(
            f"{key}.project は1以上の番号です", f"{key}.project must be a number from 1"
        )
    for a in raw.get("announcements") or ():
        wrong = [
            x
            for x in _listed(a.get("to") if isinstance(a, dict) else None)
            if x not in TEAM_AUDIENCES
        ]
        if wrong:
            raise ScheduleError(
                f"{key}: 1チーム向けのフェーズのお知らせは team_channels, members, coordinators, "
                f"rsvp_yes, groups にだけ送れます（{', '.join(map(str, wrong))}）",
                f"{key}: a phase for one team announces only to team_channels, members, "
                f"coordinators, rsvp_yes or groups (not {', '.join(map(str, wrong))})",
            )
    return number


def _announcement(raw: Any, phase_key: str, kind: str) -> AnnouncementSpec:
    if not isinstance(raw, dict):
        raise ScheduleError(f"{phase_key}: お知らせが読めません", f"{phase_key}: bad announcement")
    key = _str(raw.get("key"), f"{phase_key}.announcements.key")
    default = {a.key: a for a in default_announcements(kind)}.get(key)
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise ScheduleError(
            f"{phase_key}.{key}: when が読めません", f"{phase_key}.{key}: bad 'when'"
        )
    at = when.get("at")
    if at is not None:
        at = str(at)
        parse_hhmm(at)
    audience = raw.get("to") or (default.audience if default else ("team_channels",))
    if isinstance(audience, str):
        audience = [audience]
    unknown = [a for a in audience if a not in AUDIENCES]
    if unknown:
        raise ScheduleError(
            f"{phase_key}.{key}: 不明な宛先 {unknown}",
            f"{phase_key}.{key}: unknown audience {unknown} ({', '.join(AUDIENCES)})",
        )
    text = raw.get("text") or {}
    if isinstance(text, str):
        text = {"ja": text, "en": text}
    text_ja = str(text.get("ja") or (default.text_ja if default else ""))
    text_en = str(text.get("en") or (default.text_en if default else ""))
    if not text_ja or not text_en:
        raise ScheduleError(
            f"{phase_key}.{key}: 日本語と英語の文面が必要です",
            f"{phase_key}.{key}: the text is needed in Japanese and English",
        )
    grace = raw.get("grace_hours")
    return AnnouncementSpec(
        key=key,
        offset_days=int(when.get("days", 0)),
        at_local=at,
        offset_minutes=int(when.get("minutes", 0)),
        audience=tuple(audience),
        audience_filter=dict(raw.get("filter") or {}),
        text_ja=text_ja,
        text_en=text_en,
        grace_minutes=int(float(grace) * 60)
        if grace is not None
        else (default.grace_minutes if default else DEFAULT_GRACE_MINUTES),
    )


def _when(value: Any, tz: ZoneInfo, where: str) -> datetime:
    """A local date-time from the file ('2017-09-30 13:00', a date, or a datetime)."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, date):
        at = datetime.combine(value, time(10, 0))
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError as exc:
            raise ScheduleError(
                f"{where}: 日時が読めません（{value}）", f"{where}: cannot read the date ({value})"
            ) from exc
    else:
        raise ScheduleError(f"{where}: 日時が必要です", f"{where}: a date and time is required")
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at


def _str(value: Any, where: str) -> str:
    if value is None or not str(value).strip():
        raise ScheduleError(f"{where} が必要です", f"{where} is required")
    return str(value).strip()


def _listed(value: Any) -> list[Any]:
    """A YAML value that may be one item or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
