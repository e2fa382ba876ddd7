"""Platform-neutral inputs and replies: what a channel hands the core and gets back."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Choice:
    """One tappable answer: a label (at most 20 characters) and the data it sends back."""

    label: str
    data: str
    # What appears in the chat as the person's own message when they tap it.
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Panel:
    """A card a chat can draw (in LINE a flex bubble): a title, label/value rows, a body,
    a small note and its own buttons. Several panels in one reply are a carousel.

    `kind` picks the accent (summary, invitation, proposal, project, announcement).
    The kickoff agreement will be one more kind once it exists (a later issue).
    """

    title: str
    kind: str = "info"
    fields: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    note: str | None = None
    buttons: tuple[Choice, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from the bot, optionally with choices (LINE quick replies).

    `text` is always complete: the console shows it, and LINE uses it as the flex
    message's alternative text when the reply also has `panels`.
    """

    text: str
    choices: tuple[Choice, ...] = field(default=())
    panels: tuple[Panel, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class TextIn:
    """The person typed text."""

    text: str


@dataclass(frozen=True, slots=True)
class PostbackIn:
    """The person tapped a button or quick reply carrying data."""

    data: str


@dataclass(frozen=True, slots=True)
class MediaIn:
    """The person sent something that is not text: sticker, image, video, audio, file, location."""

    kind: str


UserInput = TextIn | PostbackIn | MediaIn
