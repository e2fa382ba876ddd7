"""Check JSON against LINE's own OpenAPI files and the limits only LINE's docs state.

The specs are LINE's own files, kept in the repository under ``specs/line/``. They are
OpenAPI 3.0, whose polymorphic objects (``Message``, ``Action``, ``Event``, ...)
are described with a ``discriminator``. A generic validator ignores that keyword,
so ``{"type": "text"}`` without ``text`` would pass. We therefore rewrite each
discriminated base schema into a dispatcher: a ``discriminator`` keyword, which
our validator class implements, picks the concrete schema named by the mapping
and validates the object against it. Everything else is jsonschema's and
openapi-schema-validator's own logic.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

REPO_ROOT = Path(__file__).resolve().parents[2]
# LINE's files (Apache-2.0, licence and origin beside them), kept in the repository.
SPEC_DIR = REPO_ROOT / "specs" / "line"

SpecName = Literal["messaging", "webhook"]
_SPEC_FILES: dict[str, str] = {"messaging": "messaging-api.yml", "webhook": "webhook.yml"}
_SCHEMAS = "#/components/schemas/"

# Limits from LINE's documentation that the OpenAPI files do not encode.
MAX_MESSAGES = 5
MAX_TEXT_UTF16 = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_ACTION_LABEL = 20
MAX_POSTBACK_DATA = 300
MAX_POSTBACK_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 400
MAX_BUTTONS_TEXT = 160
MAX_BUTTONS_TEXT_WITH_HEADER = 60
MAX_BUTTONS_TITLE = 40
MAX_BUTTONS_ACTIONS = 4
CONFIRM_ACTIONS = 2
MAX_CONFIRM_TEXT = 240
MAX_CAROUSEL_COLUMNS = 10
MAX_CAROUSEL_ACTIONS = 3
MAX_CAROUSEL_TEXT = 120
MAX_CAROUSEL_TEXT_WITH_HEADER = 60
MAX_MULTICAST_TO = 500
# Flex: at most 12 bubbles in a carousel, 30 KB of JSON a bubble and 50 KB a carousel.
# The alternative text is held to the template messages' 400 characters: never laxer
# than LINE, whichever of its pages one reads.
MAX_FLEX_BUBBLES = 12
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000


class Problem(NamedTuple):
    """One validation failure, shaped like an entry of LINE's error ``details``."""

    property: str
    message: str

    def __str__(self) -> str:
        return f"{self.property}: {self.message}" if self.property else self.message


def spec_path(spec: SpecName) -> Path:
    """Return the path of one of LINE's OpenAPI files."""
    return SPEC_DIR / _SPEC_FILES[spec]


@functools.cache
def load_spec(spec: SpecName) -> dict[str, Any]:
    """Return one OpenAPI file as parsed YAML (read once per process)."""
    # The C loader is ~10x faster on these 6000 lines; fall back if libyaml is absent.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path(spec).open(encoding="utf-8") as f:
        doc: dict[str, Any] = yaml.load(f, Loader=loader)
    return doc


def _uri(spec: SpecName) -> str:
    return f"urn:line-openapi:{spec}"


def _with_dispatchers(doc: dict[str, Any], uri: str) -> dict[str, Any]:
    """Return a copy of ``doc`` whose discriminated bases dispatch to their concrete schemas.

    For a base ``B`` with a discriminator, ``B__base`` keeps B's own keywords and
    ``B`` becomes only the dispatcher. Concrete schemas include the base through
    ``allOf``; pointing that at ``B__base`` keeps them from dispatching back to
    themselves forever, and keeps base-level errors from being reported twice.
    """
    doc = _absolute_refs(copy.deepcopy(doc), uri)
    schemas: dict[str, Any] = doc["components"]["schemas"]
    for name, schema in list(schemas.items()):
        disc = schema.get("discriminator")
        if not disc:
            continue
        base = {k: v for k, v in schema.items() if k != "discriminator"}
        schemas[f"{name}__base"] = base
        mapping = {value: uri + ref for value, ref in disc.get("mapping", {}).items()}
        schemas[name] = {
            "discriminator": {"propertyName": disc["propertyName"], "mapping": mapping}
        }
        for ref in disc.get("mapping", {}).values():
            concrete = schemas[ref.removeprefix(_SCHEMAS)]
            for part in concrete.get("allOf", []):
                if part.get("$ref") == uri + _SCHEMAS + name:
                    part["$ref"] = f"{uri}{_SCHEMAS}{name}__base"
    return doc


def _absolute_refs(node: Any, uri: str) -> Any:
    """Prefix local ``$ref``s with the document's URI, so a ref names one schema everywhere."""
    # Both files have e.g. an `Emoji` schema; the memo below is keyed by ref.
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                node[key] = uri + value
            else:
                _absolute_refs(value, uri)
    elif isinstance(node, list):
        for value in node:
            _absolute_refs(value, uri)
    return node


def _discriminator(
    validator: Any, disc: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """Validate ``instance`` against the concrete schema its discriminating property names."""
    if not validator.is_type(instance, "object"):
        yield ValidationError(f"{instance!r} is not of type 'object'")
        return
    prop = disc["propertyName"]
    mapping: Mapping[str, str] = disc["mapping"]
    value = instance.get(prop)
    if value is None:
        yield ValidationError(f"{prop!r} is a required property", validator="required")
        return
    ref = mapping.get(value) if isinstance(value, str) else None
    if ref is None:
        yield ValidationError(
            f"must be one of {sorted(mapping)} (got {value!r})", path=[prop], validator="enum"
        )
        return
    yield from validator.descend(instance, {"$ref": ref})


# Bots send the same prompts and buttons over and over, and jsonschema costs ~10 us
# per subschema, so the result of each (schema ref, object) pair is memoised; a new
# text above the same quick reply then only revalidates the text. Errors are stored
# as plain data because jsonschema mutates the paths of errors it re-yields.
_REF = OAS30Validator.VALIDATORS["$ref"]  # jsonschema's own $ref keyword
_CACHE_MAX = 50_000
_ref_cache: dict[tuple[str, str], tuple[tuple[str, list[Any], Any, Any, Any], ...]] = {}


def _memoised_ref(
    validator: Any, ref: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """Validate a ``$ref`` like jsonschema does, reusing the result for an identical object."""
    if isinstance(instance, dict | list):
        try:
            # Unsorted keys: another key order only costs a cache miss.
            key = (ref, json.dumps(instance, ensure_ascii=False))
        except (TypeError, ValueError):  # not JSON data: validate without the memo
            key = None
    else:  # scalars are cheap to check and not worth a cache entry
        key = None
    if key is None:
        yield from _REF(validator, ref, instance, schema)
        return
    cached = _ref_cache.get(key)
    if cached is None:
        cached = tuple(
            (e.message, list(e.relative_path), e.validator, e.validator_value, e.instance)
            for e in _REF(validator, ref, instance, schema)
        )
        if len(_ref_cache) >= _CACHE_MAX:
            _ref_cache.clear()
        _ref_cache[key] = cached
    for message, path, kind, expected, inst in cached:
        yield ValidationError(
            message, path=path, validator=kind, validator_value=expected, instance=inst
        )


# openapi-schema-validator leaves `discriminator` unimplemented unless it sits next to
# allOf/anyOf/oneOf, which LINE's bases never do; this class implements it for them.
LineOAS30Validator = extend(
    OAS30Validator, {"discriminator": _discriminator, "$ref": _memoised_ref}
)


@functools.cache
def _registry() -> Registry[Any]:
    specs: tuple[SpecName, ...] = ("messaging", "webhook")
    # OpenAPI 3.0 schemas are a JSON Schema draft 4 dialect, so refs resolve as in draft 4.
    resources = [
        (_uri(spec), DRAFT4.create_resource(_with_dispatchers(load_spec(spec), _uri(spec))))
        for spec in specs
    ]
    return Registry().with_resources(resources)


@functools.cache
def _validator(spec: SpecName, schema_name: str) -> Any:
    if schema_name not in load_spec(spec)["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {_SPEC_FILES[spec]}")
    schema = {"$ref": f"{_uri(spec)}{_SCHEMAS}{schema_name}"}
    return LineOAS30Validator(schema, registry=_registry(), format_checker=oas30_format_checker)


def property_path(parts: Iterable[str | int]) -> str:
    """Render a JSON path the way LINE's error details do: ``messages[0].quickReply``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(error: ValidationError) -> Problem:
    """Turn a jsonschema error into a short LINE-style (property, message) pair."""
    path: list[str | int] = list(error.absolute_path)
    kind, expected, inst = error.validator, error.validator_value, error.instance
    # jsonschema's own messages repr the whole instance (six messages for maxItems),
    # which buries the point; say what was expected instead.
    if kind == "required":
        match = _REQUIRED.match(error.message)
        if match:
            return Problem(property_path([*path, match.group(1)]), "must be specified")
    if kind == "maxItems" and isinstance(inst, list):
        return Problem(property_path(path), f"must have at most {expected} items (got {len(inst)})")
    if kind == "minItems" and isinstance(inst, list):
        return Problem(
            property_path(path), f"must have at least {expected} items (got {len(inst)})"
        )
    if kind == "maxLength" and isinstance(inst, str):
        return Problem(
            property_path(path), f"must be at most {expected} characters (got {len(inst)})"
        )
    if kind == "minLength" and isinstance(inst, str):
        return Problem(property_path(path), f"must be at least {expected} characters")
    if kind == "type":
        return Problem(property_path(path), f"must be of type {expected} (got {_short(inst)})")
    if kind == "enum" and isinstance(expected, list):
        return Problem(property_path(path), f"must be one of {expected} (got {_short(inst)})")
    if kind == "pattern":
        return Problem(property_path(path), f"must match {expected!r} (got {_short(inst)})")
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return Problem(property_path(path), message)


def schema_problems(spec: SpecName, schema_name: str, instance: Any) -> list[Problem]:
    """Return the spec violations of ``instance`` against a named component schema."""
    errors = sorted(
        _validator(spec, schema_name).iter_errors(instance),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    problems: list[Problem] = []
    for error in errors:
        problem = _describe(error)
        if problem not in problems:
            problems.append(problem)
    return problems


# --- limits from LINE's documentation -------------------------------------------------


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, as LINE counts message text."""
    return len(text.encode("utf-16-le")) // 2


def _too_long(
    value: Any, limit: int, path: list[str | int], what: str = "characters"
) -> list[Problem]:
    if isinstance(value, str) and len(value) > limit:
        return [Problem(property_path(path), f"must be at most {limit} {what} (got {len(value)})")]
    return []


def _postback_problems(node: Any, path: list[str | int]) -> Iterator[Problem]:
    """Yield problems of every postback action found anywhere under ``node``."""
    # Postback actions can sit in quick replies, templates, flex buttons and
    # default actions; "postback" names no other object type, so a walk finds them all.
    if isinstance(node, dict):
        if node.get("type") == "postback":
            if "data" not in node:
                # The spec leaves it optional; LINE's docs say data is required.
                yield Problem(property_path([*path, "data"]), "must be specified")
            yield from _too_long(node.get("data"), MAX_POSTBACK_DATA, [*path, "data"])
            yield from _too_long(
                node.get("displayText"), MAX_POSTBACK_DISPLAY_TEXT, [*path, "displayText"]
            )
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _postback_problems(value, [*path, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _postback_problems(value, [*path, i])


def _actions(
    value: Any, limit: int | None, exact: int | None, path: list[str | int]
) -> Iterator[Problem]:
    if not isinstance(value, list):
        return
    where = property_path(path)
    if exact is not None and len(value) != exact:
        yield Problem(where, f"must have exactly {exact} actions (got {len(value)})")
    if limit is not None and len(value) > limit:
        yield Problem(where, f"must have at most {limit} actions (got {len(value)})")
    for i, action in enumerate(value):
        if isinstance(action, dict):
            yield from _too_long(action.get("label"), MAX_ACTION_LABEL, [*path, i, "label"])


def _template_problems(template: Any, path: list[str | int]) -> Iterator[Problem]:
    if not isinstance(template, dict):
        return
    kind = template.get("type")
    if kind == "buttons":
        has_header = bool(template.get("title") or template.get("thumbnailImageUrl"))
        limit = MAX_BUTTONS_TEXT_WITH_HEADER if has_header else MAX_BUTTONS_TEXT
        yield from _too_long(template.get("text"), limit, [*path, "text"])
        yield from _too_long(template.get("title"), MAX_BUTTONS_TITLE, [*path, "title"])
        yield from _actions(template.get("actions"), MAX_BUTTONS_ACTIONS, None, [*path, "actions"])
    elif kind == "confirm":
        yield from _too_long(template.get("text"), MAX_CONFIRM_TEXT, [*path, "text"])
        yield from _actions(template.get("actions"), None, CONFIRM_ACTIONS, [*path, "actions"])
    elif kind == "carousel":
        columns = template.get("columns")
        if isinstance(columns, list):
            if len(columns) > MAX_CAROUSEL_COLUMNS:
                yield Problem(
                    property_path([*path, "columns"]),
                    f"must have at most {MAX_CAROUSEL_COLUMNS} columns (got {len(columns)})",
                )
            for i, column in enumerate(columns):
                if not isinstance(column, dict):
                    continue
                col = [*path, "columns", i]
                has_header = bool(column.get("title") or column.get("thumbnailImageUrl"))
                limit = MAX_CAROUSEL_TEXT_WITH_HEADER if has_header else MAX_CAROUSEL_TEXT
                yield from _too_long(column.get("text"), limit, [*col, "text"])
                yield from _actions(
                    column.get("actions"), MAX_CAROUSEL_ACTIONS, None, [*col, "actions"]
                )


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _flex_problems(container: Any, path: list[str | int]) -> Iterator[Problem]:
    """LINE's documented flex limits: bubbles, sizes, and no empty text components."""
    if not isinstance(container, dict):
        return
    if container.get("type") == "carousel":
        bubbles = container.get("contents")
        if isinstance(bubbles, list):
            if not 1 <= len(bubbles) <= MAX_FLEX_BUBBLES:
                yield Problem(
                    property_path([*path, "contents"]),
                    f"must have 1 to {MAX_FLEX_BUBBLES} bubbles (got {len(bubbles)})",
                )
            if _json_bytes(container) > MAX_CAROUSEL_BYTES:
                yield Problem(property_path(path), f"must be at most {MAX_CAROUSEL_BYTES} bytes")
            for i, bubble in enumerate(bubbles):
                yield from _flex_problems(bubble, [*path, "contents", i])
        return
    if container.get("type") == "bubble" and _json_bytes(container) > MAX_BUBBLE_BYTES:
        yield Problem(property_path(path), f"must be at most {MAX_BUBBLE_BYTES} bytes")

    def walk(node: Any, where: list[str | int]) -> Iterator[Problem]:
        if isinstance(node, dict):
            if node.get("type") == "text" and not node.get("contents"):
                text = node.get("text")
                if not isinstance(text, str) or not text.strip():
                    yield Problem(property_path([*where, "text"]), "must be a non-empty string")
            for key, value in node.items():
                if key != "action" and isinstance(value, dict | list):
                    yield from walk(value, [*where, key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, [*where, i])

    yield from walk(container, path)


def _message_problems(message: Any, path: list[str | int]) -> Iterator[Problem]:
    if not isinstance(message, dict):
        return
    kind = message.get("type")
    text = message.get("text")
    if kind in ("text", "textV2") and isinstance(text, str) and utf16_len(text) > MAX_TEXT_UTF16:
        yield Problem(
            property_path([*path, "text"]),
            f"must be at most {MAX_TEXT_UTF16} UTF-16 code units (got {utf16_len(text)})",
        )
    if kind == "template":
        yield from _too_long(message.get("altText"), MAX_ALT_TEXT, [*path, "altText"])
        yield from _template_problems(message.get("template"), [*path, "template"])
    if kind == "flex":
        yield from _too_long(message.get("altText"), MAX_ALT_TEXT, [*path, "altText"])
        if isinstance(message.get("altText"), str) and not message["altText"].strip():
            yield Problem(property_path([*path, "altText"]), "must not be empty")
        yield from _flex_problems(message.get("contents"), [*path, "contents"])
    quick = message.get("quickReply")
    items = quick.get("items") if isinstance(quick, dict) else None
    if isinstance(items, list):
        where = [*path, "quickReply", "items"]
        if len(items) > MAX_QUICK_REPLY_ITEMS:
            yield Problem(
                property_path(where),
                f"must have at most {MAX_QUICK_REPLY_ITEMS} items (got {len(items)})",
            )
        for i, item in enumerate(items):
            action = item.get("action") if isinstance(item, dict) else None
            if isinstance(action, dict):
                yield from _too_long(
                    action.get("label"), MAX_ACTION_LABEL, [*where, i, "action", "label"]
                )
    yield from _postback_problems(message, path)


def limit_problems(schema_name: str, body: Any) -> list[Problem]:
    """Return violations of LINE's documented limits in a send-message request body."""
    if not isinstance(body, dict):
        return [Problem("", "request body must be a JSON object")]
    problems: list[Problem] = []
    # The fake needs these shapes to work at all, even with schema validation off.
    if schema_name == "ReplyMessageRequest" and not isinstance(body.get("replyToken"), str):
        problems.append(Problem("replyToken", "must be specified as a string"))
    if schema_name == "PushMessageRequest" and not isinstance(body.get("to"), str):
        problems.append(Problem("to", "must be specified as a string"))
    if schema_name == "MulticastRequest" and not isinstance(body.get("to"), list):
        problems.append(Problem("to", "must be specified as an array"))
    messages = body.get("messages")
    if not isinstance(messages, list):
        problems.append(Problem("messages", "must be specified as an array"))
    else:
        if not 1 <= len(messages) <= MAX_MESSAGES:
            problems.append(
                Problem("messages", f"must have 1 to {MAX_MESSAGES} messages (got {len(messages)})")
            )
        for i, message in enumerate(messages):
            problems.extend(_message_problems(message, ["messages", i]))
    if schema_name == "MulticastRequest":
        to = body.get("to")
        if isinstance(to, list) and not 1 <= len(to) <= MAX_MULTICAST_TO:
            problems.append(
                Problem("to", f"must have 1 to {MAX_MULTICAST_TO} recipients (got {len(to)})")
            )
    return problems


# --- rich menus: LINE's documented limits beyond the schema ----------------------------

MAX_RICH_MENU_AREAS = 20
MAX_RICH_MENU_LABEL = 20
MIN_RICH_MENU_WIDTH, MAX_RICH_MENU_WIDTH, MIN_RICH_MENU_HEIGHT = 800, 2500, 250
MIN_RICH_MENU_RATIO = 1.45


def rich_menu_problems(body: dict[str, Any]) -> list[Problem]:
    """A rich menu object's size, areas (within the image) and action labels."""
    problems: list[Problem] = []
    size = body.get("size")
    if not isinstance(size, dict):
        return [Problem("size", "must be specified")]
    width, height = size.get("width"), size.get("height")
    if not isinstance(width, int) or not isinstance(height, int):
        return [Problem("size", "must have integer width and height")]
    if not MIN_RICH_MENU_WIDTH <= width <= MAX_RICH_MENU_WIDTH:
        problems.append(Problem("size.width", "must be between 800 and 2500"))
    if height < MIN_RICH_MENU_HEIGHT or width / height < MIN_RICH_MENU_RATIO:
        problems.append(Problem("size.height", "must be at least 250 and width/height >= 1.45"))
    areas = body.get("areas")
    if not isinstance(areas, list) or not 1 <= len(areas) <= MAX_RICH_MENU_AREAS:
        problems.append(Problem("areas", f"must have 1 to {MAX_RICH_MENU_AREAS} areas"))
        return problems
    for i, area in enumerate(areas):
        bounds = area.get("bounds") if isinstance(area, dict) else None
        if not isinstance(bounds, dict):
            continue
        x, y = bounds.get("x", 0), bounds.get("y", 0)
        w, h = bounds.get("width", 0), bounds.get("height", 0)
        if x < 0 or y < 0 or x + w > width or y + h > height:
            problems.append(Problem(f"areas[{i}].bounds", "must lie within the image"))
        action = area.get("action") or {}
        problems.extend(
            _too_long(action.get("label"), MAX_RICH_MENU_LABEL, ["areas", i, "action", "label"])
        )
        problems.extend(_too_long(action.get("text"), 300, ["areas", i, "action", "text"]))
    return problems


def image_problem(image: bytes, content_type: str, size: dict[str, int]) -> str | None:
    """Why LINE would refuse this rich menu image, or None: its format and exact size."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(image)) as picture:
            fmt, dims = picture.format, picture.size
    except (UnidentifiedImageError, OSError):
        return "the image cannot be read"
    if {"image/png": "PNG", "image/jpeg": "JPEG"}.get(content_type) != fmt:
        return f"the image is {fmt}, not {content_type}"
    if dims != (size["width"], size["height"]):
        return f"image size {dims} differs from the rich menu size"
    return None


# --- public entry points -------------------------------------------------------------


def request_problems(schema_name: str, body: Any, *, schema: bool = True) -> list[Problem]:
    """Return limit violations and (if ``schema``) spec violations of a Messaging API request."""
    problems = limit_problems(schema_name, body)
    if schema:
        # A limit the spec also encodes (5 messages) would otherwise be reported twice.
        seen = {p.property for p in problems}
        problems += [
            p for p in schema_problems("messaging", schema_name, body) if p.property not in seen
        ]
    return problems


def validate_request(schema_name: str, body: Any, *, schema: bool = True) -> list[str]:
    """Return readable errors of a request body (e.g. ``ReplyMessageRequest``); empty if valid."""
    return [str(p) for p in request_problems(schema_name, body, schema=schema)]


def validate_response(schema_name: str, body: Any) -> list[str]:
    """Return readable errors of a Messaging API response body against its schema."""
    return [str(p) for p in schema_problems("messaging", schema_name, body)]


def validate_event(event: Any) -> list[str]:
    """Return readable errors of one webhook event against webhook.yml ``Event``."""
    return [str(p) for p in schema_problems("webhook", "Event", event)]


def validate_callback(body: Any) -> list[str]:
    """Return readable errors of a whole webhook body against webhook.yml ``CallbackRequest``."""
    return [str(p) for p in schema_problems("webhook", "CallbackRequest", body)]


def warm_up() -> None:
    """Load both specs and build the common validators now rather than on first use."""
    for name in ("ReplyMessageRequest", "PushMessageRequest", "MulticastRequest"):
        _validator("messaging", name)
    _validator("webhook", "Event")
    _validator("webhook", "CallbackRequest")
