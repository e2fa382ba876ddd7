"""The console channel: the same flows, engine and storage, in a terminal (`tsunagu chat`).

A line starting with `/tsunagu` is a coordinator's command, answered by the same command
registry as Slack's slash command (bot.commands); the person at the terminal has the
database in hand, so acts as a coordinator."""

from __future__ import annotations

import itertools
import re
import time
import uuid

from bot.commands import PREFIX, CommandReply, CommandRequest, Commands
from bot.conversation.model import Choice, Reply
from bot.events import Event
from bot.inbox import Inbox

CHANNEL = "console"
_NUMBER_CHOICE = re.compile(r"\|c\|\d+$")


class ConsoleChat:
    """One person chatting with the bot through the inbox, as a LINE user would."""

    def __init__(
        self,
        inbox: Inbox,
        user: str = "console-user",
        *,
        commands: Commands | None = None,
        locale: str = "ja",
    ) -> None:
        self.inbox = inbox
        self.commands = commands
        self.locale = locale
        self.user = user
        self.user_key = f"console:{user}"[:64]
        self.choices: tuple[Choice, ...] = ()
        self._received: list[Reply] = []
        self._clock = itertools.count(int(time.time() * 1000))
        inbox.register(CHANNEL, self._collect)

    async def _collect(self, event: Event, replies: list[Reply]) -> None:
        self._received.extend(replies)

    async def _exchange(self, kind: str, **fields: str) -> list[Reply]:
        self._received = []
        event = Event(
            channel=CHANNEL,
            event_id=uuid.uuid4().hex,
            user_key=self.user_key,
            occurred_ms=next(self._clock),
            kind=kind,
            **fields,  # type: ignore[arg-type]
        )
        await self.inbox.submit([event])
        await self.inbox.drain()
        last = next((r.choices for r in reversed(self._received) if r.choices), ())
        self.choices = last
        return list(self._received)

    async def follow(self) -> list[Reply]:
        """Start as a LINE follow would."""
        return await self._exchange("follow")

    def would_tap(self, text: str) -> bool:
        """True if `say(text)` taps a numbered choice rather than sending the text."""
        stripped = text.strip()
        # On a number question ("how many hours?") a typed number is the answer itself,
        # not the number of a choice.
        asks_number = any(_NUMBER_CHOICE.search(c.data) for c in self.choices)
        return stripped.isdigit() and not asks_number and 1 <= int(stripped) <= len(self.choices)

    async def say(self, text: str) -> list[Reply]:
        """Send a line; a number picks the numbered choice, as a tap would."""
        if self.would_tap(text):
            return await self.pick(int(text.strip()))
        return await self._exchange("text", text=text)

    async def pick(self, number: int) -> list[Reply]:
        """Tap the choice shown as [number]."""
        return await self._exchange("postback", data=self.choices[number - 1].data)

    async def tap(self, label: str) -> list[Reply]:
        """Tap the offered choice with this label (as shown)."""
        for choice in self.choices:
            if choice.label == label or choice.label.removeprefix("✓ ") == label:
                return await self._exchange("postback", data=choice.data)
        offered = ", ".join(c.label for c in self.choices)
        raise LookupError(f"no choice {label!r}; offered: {offered}")

    def is_command(self, text: str) -> bool:
        """True if `text` is a `/tsunagu` command this console answers."""
        words = text.split()
        return self.commands is not None and bool(words) and words[0].lower() == PREFIX

    async def command(self, text: str) -> str:
        """Answer `/tsunagu VERB ...` through the command registry, as terminal text."""
        assert self.commands is not None
        request = CommandRequest.parse(
            text.strip()[len(PREFIX) :],
            actor=self.user,
            locale=self.locale,
            channel=None,
            coordinator=True,
        )
        reply = await self.commands.run(request)
        out = [render_command(reply)]
        if reply.later is not None:
            out.append(await reply.later())
        return "\n".join(t for t in out if t)

    async def send_media(self, kind: str) -> list[Reply]:
        """Send a sticker, image or other non-text message."""
        return await self._exchange("media", media=kind)


def render(replies: list[Reply]) -> str:
    """Replies as terminal text; the last message's choices numbered."""
    out: list[str] = []
    for reply in replies:
        out.append(reply.text)
    choices = next((r.choices for r in reversed(replies) if r.choices), ())
    if choices:
        out.append("  " + "  ".join(f"[{i}] {c.label}" for i, c in enumerate(choices, 1)))
    return "\n".join(out)


def render_command(reply: CommandReply) -> str:
    """A command's answer as terminal text (a card as its text, programmes one a line)."""
    if reply.card is not None:
        return reply.card.fallback
    if reply.programmes is not None:
        lines = [reply.text]
        lines += [f"  {p.slug}  {p.name}  ({len(p.live)})" for p in reply.programmes]
        return "\n".join(lines)
    return reply.text
