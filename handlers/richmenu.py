"""LINE rich menus: drawn with Pillow, created and aliased with line-bot-sdk, linked per user.

`tsunagu line richmenu` calls `deploy`: for each state and language (bot/richmenu.py)
it draws the image, creates the menu, uploads the image and points the alias at it.
Re-running changes nothing for a menu whose content is the same (its name carries a
hash of it); a changed menu is created anew, its alias moved, the people linked to the
old one relinked, and the old one deleted, so menus are never duplicated. The guest
menu of the default language becomes the account's default menu.

`link` is the outbox's delivery of one `richmenu` row (link or unlink one person).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    AsyncMessagingApi,
    Configuration,
    CreateRichMenuAliasRequest,
    MessageAction,
    MessagingApi,
    MessagingApiBlob,
    RichMenuArea,
    RichMenuBounds,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    RichMenuSize,
    UpdateRichMenuAliasRequest,
)
from PIL import Image, ImageDraw, ImageFont

from bot.fonts import bundled_cjk_font
from bot.richmenu import BREAK, MENUS, MenuButton, MenuSpec, RichMenus, alias, all_aliases, version
from bot.settings import Settings
from storage.db import make_engine, make_sessionmaker
from storage.migrate import upgrade

log = logging.getLogger(__name__)

WIDTH = 2500
ROW_HEIGHT = 843  # one row: 2500x843; two rows: 2500x1686
NAME_PREFIX = "tsunagu:"
BULK_LINK_MAX = 500
ALIAS_TTL_S = 60.0
# Fonts with Japanese glyphs, looked for in this order (Debian's fonts-noto-cjk first).
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/System/Library/Fonts/ヒラギノ角ゴシック W6.ttc",
)
# Colours per state: the background and the button faces.
PALETTE = {
    "guest": ("#1F6F5C", "#FFFFFF", "#1F6F5C"),
    "volunteer": ("#2E5AAC", "#FFFFFF", "#2E5AAC"),
    "group": ("#8A4B12", "#FFFFFF", "#8A4B12"),
    "member": ("#5B3A9E", "#FFFFFF", "#5B3A9E"),
}


@dataclass(frozen=True)
class Fonts:
    """The font file used for labels, and whether it can draw Japanese."""

    path: str | None
    cjk: bool

    def load(self, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        """The font at this pixel size (Pillow's own font when there is no file)."""
        return _font(self.path, size)


@functools.cache
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size, index=0)  # index 0 of Noto's .ttc is JP


def find_fonts(preferred: str | None = None) -> Fonts:
    """A font for the labels: `preferred`, else the first CJK font found (an installed
    one, then the one the project ships), else Pillow's."""
    bundled = bundled_cjk_font()  # installed with the project (matplotlib-fontja)
    for candidate in (preferred, *CJK_FONTS, str(bundled) if bundled else None):
        if candidate and Path(candidate).is_file():
            return Fonts(candidate, cjk=_draws_japanese(candidate))
    return Fonts(None, cjk=False)


def _draws_japanese(path: str) -> bool:
    try:
        font = ImageFont.truetype(path, 40, index=0)
    except OSError:
        return False
    # A font without the glyphs draws the same box for both characters.
    return bytes(font.getmask("あ")) != bytes(font.getmask("ア"))


def drawn_label(button: MenuButton, locale: str, fonts: Fonts) -> str:
    """The label drawn on the image: in English where Japanese cannot be drawn."""
    label = button.label(locale)
    if fonts.cjk or label.isascii():
        return label
    english = button.label("en")
    return english if english.isascii() else button.plain or english


def _fit(
    pen: ImageDraw.ImageDraw, label: str, fonts: Fonts, room: int
) -> tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """The label at the largest size that fits `room` pixels: on one line if it fits at a
    readable size, else on two lines broken where the longer line is shortest."""
    hints = [i for i, c in enumerate(label) if c == BREAK]
    label = label.replace(BREAK, "")
    size = 150
    while size >= 110:
        font = fonts.load(size)
        if pen.textlength(label, font=font) <= room:
            return label, font
        size -= 5
    probe = fonts.load(100)

    def longest(cut: int) -> float:
        head, tail = label[:cut].rstrip(), label[cut:].lstrip()
        return max(pen.textlength(head, font=probe), pen.textlength(tail, font=probe))

    # Where the label says a line may break (between words), else anywhere.
    cuts = [i - n for n, i in enumerate(hints)] or list(range(1, len(label)))
    if cuts:
        cut = min(cuts, key=longest)
        label = label[:cut].rstrip() + "\n" + label[cut:].lstrip()
    size = 140
    while size > 40:
        font = fonts.load(size)
        if max(pen.textlength(line, font=font) for line in label.split("\n")) <= room:
            break
        size -= 5
    return label, fonts.load(size)


def size_of(spec: MenuSpec) -> tuple[int, int]:
    """The image size LINE is told: 2500 wide, 843 per row."""
    return WIDTH, ROW_HEIGHT * spec.rows


def cells(spec: MenuSpec) -> list[tuple[int, int, int, int]]:
    """The tap areas (x, y, width, height), in the order of the buttons."""
    width = size_of(spec)[0]
    cols = spec.columns()
    out = []
    for i in range(len(spec.buttons)):
        row, col = divmod(i, cols)
        x0 = col * width // cols
        x1 = (col + 1) * width // cols
        out.append((x0, row * ROW_HEIGHT, x1 - x0, ROW_HEIGHT))
    return out


@functools.cache  # the same menu in the same font is the same picture (sandbox restarts)
def draw(spec: MenuSpec, locale: str, fonts: Fonts) -> bytes:
    """The menu's image as PNG: one rounded button per area, its label centred."""
    width, height = size_of(spec)
    background, face, ink = PALETTE[spec.state]
    image = Image.new("RGB", (width, height), background)
    pen = ImageDraw.Draw(image)
    margin = 28
    for (x, y, w, h), button in zip(cells(spec), spec.buttons, strict=True):
        pen.rounded_rectangle(
            (x + margin, y + margin, x + w - margin, y + h - margin), radius=48, fill=face
        )
        label, font = _fit(pen, drawn_label(button, locale, fonts), fonts, w - 5 * margin)
        pen.multiline_text(
            (x + w / 2, y + h / 2),
            label,
            font=font,
            fill=ink,
            anchor="mm",
            align="center",
            spacing=24,
        )
    out = io.BytesIO()
    # Flat colours compress well even at the fastest level (~60-100 KB; LINE allows 1 MB).
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def request_for(spec: MenuSpec, locale: str) -> RichMenuRequest:
    """The rich menu object for LINE: its size, name (with a content hash) and areas."""
    width, height = size_of(spec)
    return RichMenuRequest(
        size=RichMenuSize(width=width, height=height),
        selected=False,
        name=f"{NAME_PREFIX}{alias(spec.state, locale)}:{version(spec.state, locale)}",
        chatBarText=spec.chat_bar(locale),
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=x, y=y, width=w, height=h),
                action=MessageAction(
                    label=button.label(locale).replace(BREAK, "")[:20], text=button.text(locale)
                ),
            )
            for (x, y, w, h), button in zip(cells(spec), spec.buttons, strict=True)
        ],
    )


@dataclass
class DeployReport:
    """What `deploy` did, one line per menu, and the font it drew with."""

    lines: list[str]
    fonts: Fonts


def _relink(api: MessagingApi, menu_id: str, users: list[str]) -> None:
    """Link people to a menu, in LINE's bulk batches."""
    for start in range(0, len(users), BULK_LINK_MAX):
        api.link_rich_menu_id_to_users(
            RichMenuBulkLinkRequest(
                richMenuId=menu_id, userIds=users[start : start + BULK_LINK_MAX]
            )
        )


def _set_default(api: MessagingApi, default: str, name: str, say: Callable[[str], None]) -> None:
    """Make `default` the menu of people linked to none (LINE answers 404 when unset)."""
    try:
        now_default: str | None = api.get_default_rich_menu_id().rich_menu_id
    except ApiException as exc:
        if exc.status != 404:
            raise
        now_default = None
    if now_default != default:
        api.set_default_rich_menu(default)
        say(f"default menu: {name} ({default})")


def deploy(
    api: MessagingApi,
    blob: MessagingApiBlob,
    *,
    default_locale: str,
    fonts: Fonts,
    linked: Callable[[str], Iterable[str]] = lambda _alias: (),
    progress: Callable[[str], None] = lambda _line: None,
) -> DeployReport:
    """Create or update every menu and alias, set the default; idempotent.

    `linked(alias)` gives the LINE users linked to an alias, relinked when it moves.
    """
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        progress(line)

    menus = {m.rich_menu_id: m.name for m in api.get_rich_menu_list().richmenus}
    aliases = {a.rich_menu_alias_id: a.rich_menu_id for a in api.get_rich_menu_alias_list().aliases}
    current: dict[str, str] = {}
    for name, state, locale in all_aliases():
        spec = MENUS[state]
        wanted = request_for(spec, locale)
        old = aliases.get(name)
        if old is not None and menus.get(old) == wanted.name:
            current[name] = old
            say(f"{name}: unchanged ({old})")
            continue
        new = api.create_rich_menu(wanted).rich_menu_id
        png = draw(spec, locale, fonts)
        blob.set_rich_menu_image(new, png, _headers={"Content-Type": "image/png"})
        if old is None:
            request = CreateRichMenuAliasRequest(richMenuAliasId=name, richMenuId=new)
            api.create_rich_menu_alias(request)
            say(f"{name}: created ({new})")
        else:
            api.update_rich_menu_alias(name, UpdateRichMenuAliasRequest(richMenuId=new))
            users = list(linked(name))
            _relink(api, new, users)
            say(f"{name}: updated ({new}), {len(users)} people relinked")
        current[name] = new
    # Menus of ours that no alias points at: replaced ones, or left by an interrupted run.
    for menu_id, menu_name in menus.items():
        if menu_name.startswith(NAME_PREFIX) and menu_id not in current.values():
            api.delete_rich_menu(menu_id)
            say(f"deleted the old menu {menu_id}")
    guest = alias("guest", default_locale)
    _set_default(api, current[guest], guest, say)
    return DeployReport(lines, fonts)


class Linker:
    """Links people's rich menus for the outbox, knowing the aliases from LINE's list.

    The list is read once a minute at most (an alias moves only when
    `tsunagu line richmenu` runs, and that relinks people itself). Before the menus
    exist the list is empty and linking is skipped; that is not an error.
    """

    def __init__(self, api: AsyncMessagingApi, clock: Callable[[], float] = time.monotonic):
        self._api = api
        self._clock = clock
        self._aliases: dict[str, str] = {}
        self._read_at: float | None = None

    async def _menu_id(self, alias: str) -> str | None:
        now = self._clock()
        if self._read_at is None or now - self._read_at > ALIAS_TTL_S or alias not in self._aliases:
            listed = await self._api.get_rich_menu_alias_list()
            self._aliases = {a.rich_menu_alias_id: a.rich_menu_id for a in listed.aliases}
            self._read_at = now
        return self._aliases.get(alias)

    async def link(self, user_id: str, menu: str | None) -> bool:
        """Link one person to the menu of this alias (None: unlink, the default applies).

        Returns False when there is no such alias (the menus were never made). Raises
        ApiException when LINE refuses; a refused link forgets the aliases read, so a
        retry reads them again.
        """
        if menu is None:
            await self._api.unlink_rich_menu_id_from_user(user_id)
            return True
        menu_id = await self._menu_id(menu)
        if menu_id is None:
            return False
        try:
            await self._api.link_rich_menu_id_to_user(user_id, menu_id)
        except ApiException:
            self._read_at = None  # the menu may have just been replaced
            raise
        return True


def describe(report: DeployReport) -> str:
    """The report as the CLI prints it, with a word on the font."""
    fonts = report.fonts
    if fonts.cjk:
        note = f"labels drawn with {fonts.path}"
    else:
        note = (
            "no font with Japanese glyphs was found: the Japanese menus show English labels. "
            "Install fonts-noto-cjk (or pass --font FILE) and run this again."
        )
    return "\n".join([*report.lines, note])


def run_cli(settings: Settings, *, font: str | None = None) -> int:
    """`tsunagu line richmenu`: deploy the menus, printing each step; 0 on success."""
    fonts = find_fonts(font)
    if font and fonts.path != font:
        print(f"font not found: {font}", file=sys.stderr)
        return 2
    linked = asyncio.run(_linked_users(settings))
    config = Configuration(
        host=settings.line_api_base_url.rstrip("/"),
        access_token=settings.line_channel_access_token,
    )
    data = Configuration(
        host=settings.line_data_url, access_token=settings.line_channel_access_token
    )
    try:
        with ApiClient(config) as client, ApiClient(data) as data_client:
            report = deploy(
                MessagingApi(client),
                MessagingApiBlob(data_client),
                default_locale=settings.default_locale,
                fonts=fonts,
                linked=lambda name: linked.get(name, ()),
                progress=print,
            )
    except ApiException as exc:
        print(f"LINE refused a rich menu call ({exc.status}): {exc.body!r}", file=sys.stderr)
        return 1
    print(describe(report).splitlines()[-1])
    return 0


async def _linked_users(settings: Settings) -> dict[str, list[str]]:
    """Who is linked to which alias now (from the database), to relink them on update."""
    engine = make_engine(settings.database_url)
    try:
        await asyncio.to_thread(upgrade, settings.database_url)
        menus = RichMenus(settings.default_locale)
        async with make_sessionmaker(engine)() as session:
            return {name: await menus.linked(session, name) for name, _, _ in all_aliases()}
    finally:
        await engine.dispose()
