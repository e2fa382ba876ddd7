"""LINE rich menus, decided by the core: which menu a person sees, and its buttons.

A person is in one of four states: not registered (`guest`), a `volunteer`, a
`group`'s contact, or a team `member` (a volunteer on a formed team). Each state has
a menu per language, known to LINE by an alias (`tsunagu-volunteer-ja`). The menu of
a guest in the default language is the account's default menu and needs no link.

When a person's state or language changes, `RichMenus.sync` writes an outbox row in
the same transaction (kind `richmenu`, the alias to link or None to unlink), so the
change reaches LINE once, in order with their messages, and is retried if LINE fails.
The LINE calls themselves live in handlers/richmenu.py; this module imports no SDK.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.i18n import LOCALES, T
from bot.rules.states import TEAM_STATES
from storage import repo
from storage.models import Match, Organization, Project, RichMenuLink, Volunteer

log = logging.getLogger(__name__)

CHANNEL = "line"
# In a menu label: where the drawn label may break onto a second line (between words).
BREAK = "\u200b"
KIND = repo.RICHMENU
STATES = ("guest", "volunteer", "group", "member")
# Projects whose accepted volunteers are a team.
TEAM_STATUSES = TEAM_STATES  # the project has a formed team (bot/lifecycle)


@dataclass(frozen=True)
class MenuButton:
    """One area of a menu: its label, and the keyword it sends as the person's message."""

    label: T
    text: T
    # Drawn instead of a label that needs Japanese glyphs when no such font is present.
    plain: str | None = None


@dataclass(frozen=True)
class MenuSpec:
    """A state's menu: its buttons in reading order, in one row (2500x843) or two (x1686)."""

    state: str
    rows: int
    buttons: tuple[MenuButton, ...]
    chat_bar: T

    def columns(self) -> int:
        """Buttons per row."""
        return -(-len(self.buttons) // self.rows)


_HELP = MenuButton(T("ヘルプ", "Help"), T("ヘルプ", "help"))
# The other language, written in itself so that a reader of either finds it.
_LANG = MenuButton(T("English", "日本語"), T("English", "日本語"), plain="Japanese")
_PROFILE = MenuButton(T("プロフィール", "Profile"), T("プロフィール", "profile"))
_OPEN = MenuButton(T("募集中", "Open projects"), T("募集中", "open projects"))
_EDIT = MenuButton(T("登録内容の\u200b変更", "Edit profile"), T("変更", "edit"))

MENUS: dict[str, MenuSpec] = {
    "guest": MenuSpec(
        "guest",
        1,
        (
            MenuButton(T("ボランティア\u200b登録", "Sign up"), T("ボランティア登録", "sign up")),
            MenuButton(T("団体として\u200b相談", "Ask as a group"), T("団体として相談", "group")),
            _HELP,
            _LANG,
        ),
        T("メニュー", "Menu"),
    ),
    "volunteer": MenuSpec(
        "volunteer",
        2,
        (
            _OPEN,
            _PROFILE,
            _EDIT,
            MenuButton(T("休止する", "Pause"), T("休止", "pause")),
            _HELP,
            _LANG,
        ),
        T("メニュー", "Menu"),
    ),
    "group": MenuSpec(
        "group",
        1,
        (
            MenuButton(T("相談状況", "My requests"), T("相談状況", "my requests")),
            MenuButton(T("新しい相談", "New request"), T("新しい相談", "new request")),
            _HELP,
            _LANG,
        ),
        T("メニュー", "Menu"),
    ),
    "member": MenuSpec(
        "member",
        2,
        (
            MenuButton(T("Slack連携", "Link Slack"), T("Slack連携", "link slack")),
            _OPEN,
            _PROFILE,
            _EDIT,
            _HELP,
            _LANG,
        ),
        T("チームメニュー", "Team menu"),
    ),
}


def alias(state: str, locale: str) -> str:
    """The alias LINE knows a menu by (1-32 characters: a-z, 0-9, - and _)."""
    return f"tsunagu-{state}-{'en' if locale == 'en' else 'ja'}"


def all_aliases() -> list[tuple[str, str, str]]:
    """Every (alias, state, locale) the account has."""
    return [(alias(s, loc), s, loc) for s in STATES for loc in LOCALES]


def version(state: str, locale: str) -> str:
    """A short hash of what a menu shows: a menu whose content is unchanged is kept."""
    spec = MENUS[state]
    data = [
        spec.rows,
        spec.chat_bar(locale),
        [(b.label(locale), b.text(locale)) for b in spec.buttons],
        DRAWING_VERSION,
    ]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()[:10]


# Bump when the drawing changes without the buttons changing (the images are redrawn).
DRAWING_VERSION = 1


async def state_of(session: AsyncSession, channel: str, user_key: str) -> str:
    """Which menu state a person is in: member, volunteer, group or guest."""
    volunteer_id = await session.scalar(
        select(Volunteer.id).where(Volunteer.channel == channel, Volunteer.user_key == user_key)
    )
    if volunteer_id is not None:
        on_team = await session.scalar(
            select(Match.id)
            .join(Project, Project.id == Match.project_id)
            .where(
                Match.volunteer_id == volunteer_id,
                Match.state == "accepted",
                Project.status.in_(TEAM_STATUSES),
            )
            .limit(1)
        )
        return "member" if on_team is not None else "volunteer"
    org = await session.scalar(
        select(Organization.id).where(
            Organization.channel == channel, Organization.user_key == user_key
        )
    )
    return "group" if org is not None else "guest"


class RichMenus:
    """Keeps each LINE user's rich menu in step with their state and language."""

    def __init__(self, default_locale: str = "ja") -> None:
        self.default_locale = default_locale

    def menu_for(self, state: str, locale: str) -> str | None:
        """The alias to link, or None where the account's default menu applies."""
        if state == "guest" and (locale == "en") == (self.default_locale == "en"):
            return None
        return alias(state, locale)

    async def sync(
        self,
        session: AsyncSession,
        channel: str,
        user_key: str,
        locale: str,
        now: datetime,
    ) -> str | None:
        """Queue a link (or unlink) if the person's menu changed; return the alias now due.

        Runs in the caller's transaction, beside the change that caused it.
        """
        if channel != CHANNEL or user_key.startswith("deleted:"):
            return None
        wanted = self.menu_for(await state_of(session, channel, user_key), locale)
        row = await session.scalar(
            select(RichMenuLink).where(
                RichMenuLink.channel == channel, RichMenuLink.user_key == user_key
            )
        )
        current = row.menu if row is not None else None
        if current == wanted:
            return wanted
        if wanted is None:
            await session.execute(
                delete(RichMenuLink).where(
                    RichMenuLink.channel == channel, RichMenuLink.user_key == user_key
                )
            )
        elif row is None:
            session.add(RichMenuLink(channel=channel, user_key=user_key, menu=wanted))
        else:
            row.menu = wanted
        await outbox.enqueue(
            session,
            channel=channel,
            kind=KIND,
            target=user_key,
            payload={"menu": wanted, "urgent": True},
            key=outbox.key_for(KIND, channel, user_key, wanted, now.isoformat()),
            now=now,
        )
        log.info("richmenu: %s for a user queued", wanted or "default")
        return wanted

    async def linked(self, session: AsyncSession, menu: str) -> list[str]:
        """The LINE users linked to this alias (to relink them when the menu is replaced)."""
        rows = await session.scalars(
            select(RichMenuLink.user_key).where(
                RichMenuLink.channel == CHANNEL, RichMenuLink.menu == menu
            )
        )
        return list(rows)
