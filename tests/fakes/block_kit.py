"""Block Kit checks the fake Slack API applies, written as tables of Slack's documented limits.

Slack rejects a message or view it cannot render: ``chat.*`` answers ``invalid_blocks`` and
``views.*`` answers ``invalid_arguments``, each with ``[ERROR] <problem> [json-pointer:<where>]``
lines in ``response_metadata.messages``. The checks below cover what a renderer is likely to get
wrong: unknown block or element types, missing required fields, text object types
(``plain_text`` where Slack demands it), length and count limits, unknown properties, and
duplicated ``block_id``/``action_id``. They are importable on their own, so a renderer test can
call ``message_problems(blocks)`` without a server.

Sources: the Block Kit reference pages for each block, element and composition object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000


@dataclass(frozen=True)
class Problem:
    """One thing Slack would reject, and where (a JSON pointer into the request)."""

    message: str
    pointer: str

    def __str__(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


class Kind(Enum):
    """What a field holds."""

    TEXT = "a text object"
    STRING = "a string"
    ENUM = "one of a few strings"
    INT = "an integer"
    BOOL = "a boolean"
    ELEMENT = "a block element"
    ELEMENTS = "a list of block elements"
    TEXTS = "a list of text objects"
    CONTEXT = "a list of text objects and image elements"
    OPTIONS = "a list of option objects"
    OPTION = "an option object"
    CONFIRM = "a confirmation dialog object"
    ANY = "anything (not checked)"


PLAIN = frozenset({"plain_text"})
ANY_TEXT = frozenset({"plain_text", "mrkdwn"})


@dataclass(frozen=True)
class Field:
    """One property of a block, element or view: what it holds and its limits.

    ``limit`` is characters for text and strings, items for lists. ``allowed`` is the text
    types a text field may use, the element types a slot may hold, or an enum's values.
    """

    key: str
    kind: Kind
    limit: int | None = None
    required: bool = False
    allowed: frozenset[str] = frozenset()
    minimum: int = 0
    item_limit: int | None = None  # characters per item of a TEXTS list


def text(key: str, limit: int, *, plain: bool = False, required: bool = False) -> Field:
    """Return a text object field; ``plain`` when Slack accepts only ``plain_text`` there."""
    return Field(key, Kind.TEXT, limit, required, PLAIN if plain else ANY_TEXT, minimum=1)


def string(key: str, limit: int, *, required: bool = False) -> Field:
    """Return a string field of at most ``limit`` characters."""
    return Field(key, Kind.STRING, limit, required)


def flag(key: str) -> Field:
    """Return a boolean field."""
    return Field(key, Kind.BOOL)


def anything(*keys: str) -> tuple[Field, ...]:
    """Return fields that are allowed but not checked further."""
    return tuple(Field(key, Kind.ANY) for key in keys)


ACTION_ID = string("action_id", 255)
PLACEHOLDER = text("placeholder", 150, plain=True)
CONFIRM = Field("confirm", Kind.CONFIRM)
FOCUS = flag("focus_on_load")

# Elements by where Slack lets them appear.
SELECTS = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
INTERACTIVE = SELECTS | {
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "workflow_button",
}
ACCESSORIES = (INTERACTIVE - {"datetimepicker", "workflow_button"}) | {"image"}
INPUTS = SELECTS | {
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
}


def _select(*extra: Field, options: bool = False) -> tuple[Field, ...]:
    fields = (ACTION_ID, PLACEHOLDER, CONFIRM, FOCUS, *extra)
    if options:
        fields += (
            Field("options", Kind.OPTIONS, 100, allowed=PLAIN),
            Field("option_groups", Kind.ANY),
        )
    return fields


def _text_input(*extra: Field) -> tuple[Field, ...]:
    return (
        ACTION_ID,
        PLACEHOLDER,
        FOCUS,
        string("initial_value", 3000),
        *anything("dispatch_action_config"),
        *extra,
    )


# Every block element Slack documents, with the fields it accepts.
ELEMENTS: Mapping[str, tuple[Field, ...]] = {
    "button": (
        text("text", 75, plain=True, required=True),
        ACTION_ID,
        string("value", 2000),
        string("url", 3000),
        Field("style", Kind.ENUM, allowed=frozenset({"primary", "danger"})),
        CONFIRM,
        string("accessibility_label", 75),
    ),
    "static_select": _select(Field("initial_option", Kind.OPTION), options=True),
    "multi_static_select": _select(
        *anything("initial_options", "max_selected_items"), options=True
    ),
    "external_select": _select(*anything("initial_option", "min_query_length")),
    "multi_external_select": _select(
        *anything("initial_options", "min_query_length", "max_selected_items")
    ),
    "users_select": _select(*anything("initial_user")),
    "multi_users_select": _select(*anything("initial_users", "max_selected_items")),
    "conversations_select": _select(
        *anything(
            "initial_conversation",
            "default_to_current_conversation",
            "response_url_enabled",
            "filter",
        )
    ),
    "multi_conversations_select": _select(
        *anything("initial_conversations", "default_to_current_conversation", "max_selected_items"),
        *anything("filter"),
    ),
    "channels_select": _select(*anything("initial_channel", "response_url_enabled")),
    "multi_channels_select": _select(*anything("initial_channels", "max_selected_items")),
    "overflow": (
        ACTION_ID,
        Field("options", Kind.OPTIONS, 5, required=True, allowed=PLAIN, minimum=1),
        CONFIRM,
    ),
    "datepicker": (ACTION_ID, PLACEHOLDER, CONFIRM, FOCUS, *anything("initial_date")),
    "timepicker": (ACTION_ID, PLACEHOLDER, CONFIRM, FOCUS, *anything("initial_time", "timezone")),
    "datetimepicker": (ACTION_ID, CONFIRM, FOCUS, *anything("initial_date_time")),
    "checkboxes": (
        ACTION_ID,
        Field("options", Kind.OPTIONS, 10, required=True, allowed=ANY_TEXT, minimum=1),
        CONFIRM,
        FOCUS,
        *anything("initial_options"),
    ),
    "radio_buttons": (
        ACTION_ID,
        Field("options", Kind.OPTIONS, 10, required=True, allowed=ANY_TEXT, minimum=1),
        CONFIRM,
        FOCUS,
        *anything("initial_option"),
    ),
    "plain_text_input": _text_input(flag("multiline"), *anything("min_length", "max_length")),
    "number_input": _text_input(
        Field("is_decimal_allowed", Kind.BOOL, required=True),
        *anything("min_value", "max_value"),
    ),
    "email_text_input": _text_input(),
    "url_text_input": _text_input(),
    "rich_text_input": (ACTION_ID, PLACEHOLDER, FOCUS, *anything("initial_value")),
    "file_input": (ACTION_ID, *anything("filetypes", "max_files")),
    "image": (string("image_url", 3000), string("alt_text", 2000, required=True)),
    "workflow_button": (
        text("text", 75, plain=True, required=True),
        ACTION_ID,
        *anything("workflow", "style", "accessibility_label"),
    ),
}

# Every block Slack documents, with the fields it accepts (``block_id`` is common to all).
BLOCKS: Mapping[str, tuple[Field, ...]] = {
    "section": (
        text("text", 3000),
        Field("fields", Kind.TEXTS, 10, allowed=ANY_TEXT, item_limit=2000),
        Field("accessory", Kind.ELEMENT, allowed=ACCESSORIES),
        flag("expand"),
    ),
    "header": (text("text", 150, plain=True, required=True),),
    "divider": (),
    "actions": (
        Field("elements", Kind.ELEMENTS, 25, required=True, allowed=INTERACTIVE, minimum=1),
    ),
    "context": (Field("elements", Kind.CONTEXT, 10, required=True, minimum=1),),
    "image": (
        string("image_url", 3000),
        string("alt_text", 2000, required=True),
        text("title", 2000, plain=True),
        *anything("slack_file"),
    ),
    "input": (
        text("label", 2000, plain=True, required=True),
        Field("element", Kind.ELEMENT, required=True, allowed=INPUTS),
        text("hint", 2000, plain=True),
        flag("optional"),
        flag("dispatch_action"),
    ),
    "rich_text": anything("elements"),
    "markdown": (string("text", 12_000, required=True),),
    "file": (string("external_id", 255, required=True), string("source", 255, required=True)),
    "video": (
        string("alt_text", 2000, required=True),
        text("title", 200, plain=True, required=True),
        string("video_url", 3000, required=True),
        string("thumbnail_url", 3000, required=True),
        text("description", 200, plain=True),
        *anything("author_name", "provider_icon_url", "provider_name", "title_url"),
    ),
}

# Checks that need more than one field at a time.
BLOCK_EXTRAS: Mapping[str, Callable[[dict[str, Any], str], list[Problem]]] = {
    "section": lambda block, at: (
        [] if "text" in block or "fields" in block else [Problem("must provide text or fields", at)]
    ),
    "image": lambda block, at: (
        []
        if "image_url" in block or "slack_file" in block
        else [Problem("must provide image_url or slack_file", at)]
    ),
}

_TEXT_KEYS = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}
_OPTION_FIELDS = (string("value", 150), text("description", 75, plain=True), string("url", 3000))
_CONFIRM_FIELDS = (
    text("title", 100, plain=True, required=True),
    text("text", 300, required=True),
    text("confirm", 30, plain=True, required=True),
    text("deny", 30, plain=True, required=True),
    Field("style", Kind.ENUM, allowed=frozenset({"primary", "danger"})),
)
_MODAL_FIELDS = (
    text("title", 24, plain=True, required=True),
    text("submit", 24, plain=True),
    text("close", 24, plain=True),
    string("callback_id", 255),
    string("private_metadata", 3000),
    string("external_id", 255),
    flag("clear_on_close"),
    flag("notify_on_close"),
    *anything("submit_disabled"),
)
_HOME_FIELDS = (
    string("callback_id", 255),
    string("private_metadata", 3000),
    string("external_id", 255),
)


def _too_long(limit: int) -> str:
    # Slack words every length limit this way ("must be less than 3001 characters").
    return f"must be less than {limit + 1} characters"


class _Checker:
    """Walks one message's or view's blocks, collecting problems and ids seen."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.block_ids: set[str] = set()

    def add(self, message: str, pointer: str) -> None:
        self.problems.append(Problem(message, pointer))

    def blocks(self, blocks: Any, at: str, limit: int) -> None:
        if not isinstance(blocks, list):
            self.add("must be an array", at)
            return
        if len(blocks) > limit:
            self.add(f"no more than {limit} items allowed", at)
        for i, block in enumerate(blocks):
            self.block(block, f"{at}/{i}")

    def block(self, block: Any, at: str) -> None:
        if not isinstance(block, dict):
            self.add("must be an object", at)
            return
        kind = block.get("type")
        fields = BLOCKS.get(kind) if isinstance(kind, str) else None
        if fields is None:
            self.add(f"unsupported type: {kind}", f"{at}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                self.add("must be a non-empty string", f"{at}/block_id")
            elif len(block_id) > 255:
                self.add(_too_long(255), f"{at}/block_id")
            elif block_id in self.block_ids:
                self.add(f"duplicate block_id: {block_id}", f"{at}/block_id")
            else:
                self.block_ids.add(block_id)
        self.fields(block, fields, at, common={"type", "block_id"})
        extra = BLOCK_EXTRAS.get(str(kind))
        if extra is not None:
            self.problems.extend(extra(block, at))
        # action_id must be unique within its block (Slack's rule; two blocks may share one).
        seen: set[str] = set()
        for i, element in enumerate(block_elements(block)):
            action_id = element.get("action_id")
            if isinstance(action_id, str):
                if action_id in seen:
                    where = "accessory" if kind == "section" else f"elements/{i}"
                    self.add(f"duplicate action_id: {action_id}", f"{at}/{where}/action_id")
                seen.add(action_id)

    def fields(
        self, obj: dict[str, Any], fields: Iterable[Field], at: str, common: set[str]
    ) -> None:
        known = set(common)
        for f in fields:
            known.add(f.key)
            if f.key not in obj:
                if f.required:
                    self.add(f"missing required field: {f.key}", at)
                continue
            self.field(f, obj[f.key], f"{at}/{f.key}")
        for key in obj:
            if key not in known:
                self.add(f"invalid additional property: {key}", at)

    def field(self, f: Field, value: Any, at: str) -> None:
        check = _FIELD_CHECKS[f.kind]
        check(self, f, value, at)

    def text_object(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            self.add("must be a text object", at)
            return
        kind = value.get("type")
        if kind not in f.allowed:
            self.add(f"must be one of: {', '.join(sorted(f.allowed))}", f"{at}/type")
            return
        for key in value:
            if key not in _TEXT_KEYS[kind]:
                self.add(f"invalid additional property: {key}", at)
        content = value.get("text")
        if not isinstance(content, str):
            self.add("missing required field: text", at)
        elif len(content) < max(f.minimum, 1):
            self.add("must be more than 0 characters", f"{at}/text")
        elif f.limit is not None and len(content) > f.limit:
            self.add(_too_long(f.limit), f"{at}/text")

    def string(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, str):
            self.add("must be a string", at)
        elif f.limit is not None and len(value) > f.limit:
            self.add(_too_long(f.limit), at)

    def enum(self, f: Field, value: Any, at: str) -> None:
        if value not in f.allowed:
            self.add(f"must be one of: {', '.join(sorted(f.allowed))}", at)

    def integer(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.add("must be an integer", at)

    def boolean(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, bool):
            self.add("must be a boolean", at)

    def count(self, f: Field, value: Any, at: str) -> bool:
        """Check a list's length; return False if it is not a list at all."""
        if not isinstance(value, list):
            self.add("must be an array", at)
            return False
        if f.limit is not None and len(value) > f.limit:
            self.add(f"no more than {f.limit} items allowed", at)
        if len(value) < f.minimum:
            self.add(f"must have at least {f.minimum} items", at)
        return True

    def element(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            self.add("must be an object", at)
            return
        kind = value.get("type")
        if kind not in f.allowed or kind not in ELEMENTS:
            self.add(f"unsupported type: {kind}", f"{at}/type")
            return
        self.fields(value, ELEMENTS[kind], at, common={"type"})

    def elements(self, f: Field, value: Any, at: str) -> None:
        if self.count(f, value, at):
            for i, item in enumerate(value):
                self.element(f, item, f"{at}/{i}")

    def texts(self, f: Field, value: Any, at: str) -> None:
        if self.count(f, value, at):
            item = Field(f.key, Kind.TEXT, f.item_limit, allowed=f.allowed, minimum=1)
            for i, obj in enumerate(value):
                self.text_object(item, obj, f"{at}/{i}")

    def context(self, f: Field, value: Any, at: str) -> None:
        if self.count(f, value, at):
            image = Field(f.key, Kind.ELEMENT, allowed=frozenset({"image"}))
            words = Field(f.key, Kind.TEXT, 3000, allowed=ANY_TEXT, minimum=1)
            for i, item in enumerate(value):
                is_image = isinstance(item, dict) and item.get("type") == "image"
                check = self.element if is_image else self.text_object
                check(image if is_image else words, item, f"{at}/{i}")

    def option(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            self.add("must be an object", at)
            return
        label = Field("text", Kind.TEXT, 75, True, f.allowed or PLAIN, minimum=1)
        self.fields(value, (label, *_OPTION_FIELDS), at, common=set())

    def options(self, f: Field, value: Any, at: str) -> None:
        if self.count(f, value, at):
            for i, item in enumerate(value):
                self.option(f, item, f"{at}/{i}")

    def confirm(self, f: Field, value: Any, at: str) -> None:
        if not isinstance(value, dict):
            self.add("must be an object", at)
            return
        self.fields(value, _CONFIRM_FIELDS, at, common=set())

    def ignore(self, f: Field, value: Any, at: str) -> None:
        return


_FIELD_CHECKS: Mapping[Kind, Callable[[_Checker, Field, Any, str], None]] = {
    Kind.TEXT: _Checker.text_object,
    Kind.STRING: _Checker.string,
    Kind.ENUM: _Checker.enum,
    Kind.INT: _Checker.integer,
    Kind.BOOL: _Checker.boolean,
    Kind.ELEMENT: _Checker.element,
    Kind.ELEMENTS: _Checker.elements,
    Kind.TEXTS: _Checker.texts,
    Kind.CONTEXT: _Checker.context,
    Kind.OPTIONS: _Checker.options,
    Kind.OPTION: _Checker.option,
    Kind.CONFIRM: _Checker.confirm,
    Kind.ANY: _Checker.ignore,
}


def block_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the interactive elements of a block (accessory, input element, actions)."""
    if block.get("type") == "section" and isinstance(block.get("accessory"), dict):
        return [block["accessory"]]
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    if block.get("type") == "actions" and isinstance(block.get("elements"), list):
        return [e for e in block["elements"] if isinstance(e, dict)]
    return []


def message_problems(blocks: Any, at: str = "/blocks") -> list[Problem]:
    """Return what Slack would reject in a message's ``blocks`` (empty if it is valid)."""
    checker = _Checker()
    checker.blocks(blocks, at, MAX_MESSAGE_BLOCKS)
    return checker.problems


def view_problems(view: Any, at: str = "/view") -> list[Problem]:
    """Return what Slack would reject in a modal or home tab ``view`` (empty if it is valid)."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.add("must be an object", at)
        return checker.problems
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.add("must be one of: home, modal", f"{at}/type")
        return checker.problems
    if "blocks" not in view:
        checker.add("missing required field: blocks", at)
    else:
        checker.blocks(view["blocks"], f"{at}/blocks", MAX_VIEW_BLOCKS)
    fields = _MODAL_FIELDS if kind == "modal" else _HOME_FIELDS
    checker.fields(
        {k: v for k, v in view.items() if k != "blocks"}, fields, at, common={"type", "blocks"}
    )
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if kind == "modal" and has_input and "submit" not in view:
        # Slack will not open a modal with inputs that cannot be submitted.
        checker.add("missing required field: submit (a modal with input blocks needs one)", at)
    return checker.problems


__all__ = [
    "BLOCKS",
    "ELEMENTS",
    "MAX_MESSAGE_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_VIEW_BLOCKS",
    "Field",
    "Kind",
    "Problem",
    "block_elements",
    "message_problems",
    "view_problems",
]
