"""LINE adapter: line-bot-sdk v3 verifies and parses webhooks and sends the replies."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from dataclasses import replace
from typing import Any

from aiohttp import ClientError, ClientSession, TCPConnector
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    ShowLoadingAnimationRequest,
)
from linebot.v3.webhooks import (
    AudioMessageContent,
    FileMessageContent,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
    VideoMessageContent,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot import richmenu
from bot.budget import Quota
from bot.conversation.model import Choice, Panel, Reply
from bot.dialogue import Dialogue
from bot.events import Event, clean_text
from bot.inbox import Inbox, InboxClosed
from bot.outbox import (
    Dispatcher,
    Item,
    PermanentError,
    QuotaExceeded,
    TransientError,
    replies_from,
)
from bot.settings import Settings
from handlers import metrics
from handlers.richmenu import Linker

log = logging.getLogger(__name__)

CHANNEL = "line"
MAX_MESSAGES = 5
MAX_TEXT_UTF16 = 5000
MAX_LABEL = 20
MAX_QUICK_REPLIES = 13
# A follow is rare and its greeting depends on the person's language: ask LINE, but
# never hold the webhook answer longer than this.
PROFILE_TIMEOUT_S = 1.5
QUOTA_TIMEOUT_S = 5.0
# The loading animation: shown until the answer arrives, at most this long (5-60, by 5).
LOADING_SECONDS = 20
LOADING_TIMEOUT_S = 2.0
# LINE's documented request limits per channel (requests a second).
RATE_LIMITS = {"push": 2000.0, "multicast": 200.0}
_SEND_PATHS = {"push": "/v2/bot/message/push", "multicast": "/v2/bot/message/multicast"}

_MEDIA = (
    (StickerMessageContent, "sticker"),
    (ImageMessageContent, "image"),
    (VideoMessageContent, "video"),
    (AudioMessageContent, "audio"),
    (FileMessageContent, "file"),
    (LocationMessageContent, "location"),
)


def translate(event: Any) -> Event | None:
    """A LINE SDK event as a neutral Event; None for events the bot does not act on."""
    source = getattr(event, "source", None)
    if not isinstance(source, UserSource) or not source.user_id:
        return None  # group and room chats are not where people sign up
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "event_id": event.webhook_event_id,
        "user_key": source.user_id,
        "occurred_ms": int(event.timestamp),
        "redelivery": bool(event.delivery_context and event.delivery_context.is_redelivery),
        "reply_token": getattr(event, "reply_token", None),
    }
    if isinstance(event, FollowEvent):
        return Event(kind="follow", **base)
    if isinstance(event, UnfollowEvent):
        return Event(kind="unfollow", **base)
    if isinstance(event, PostbackEvent):
        return Event(kind="postback", data=clean_text(event.postback.data or ""), **base)
    if isinstance(event, MessageEvent):
        message = event.message
        if isinstance(message, TextMessageContent):
            return Event(kind="text", text=clean_text(message.text or ""), **base)
        for cls, kind in _MEDIA:
            if isinstance(message, cls):
                return Event(kind="media", media=kind, **base)
        return Event(kind="media", media="file", **base)
    return None


def _loggable_id(event_id: str) -> str:
    """An event id for the log: at most 64 plain characters (a refused id may be anything)."""
    kept = "".join(c if c.isascii() and c.isalnum() else "?" for c in event_id[:64])
    return kept + (f"…(+{len(event_id) - 64})" if len(event_id) > 64 else "")


class _JsonReady(dict[str, Any]):
    """A request body already made of JSON types (what render_line_messages builds)."""


class _ApiClient(AsyncApiClient):  # type: ignore[misc]
    """The SDK's API client, told that our bodies are already JSON-ready.

    Its sanitize_for_serialization walks every value of a body to convert models;
    for a plain dict that walk was 7 % of the webhook process's time (bench/README.md).
    Anything else (models, header values) still goes through the SDK's conversion.
    """

    def sanitize_for_serialization(self, obj: Any) -> Any:
        if isinstance(obj, _JsonReady):
            return obj
        return super().sanitize_for_serialization(obj)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _clip_text(text: str) -> str:
    if _utf16_len(text) <= MAX_TEXT_UTF16:
        return text
    out = text
    while _utf16_len(out) > MAX_TEXT_UTF16 - 1:
        out = out[: len(out) - max(1, (_utf16_len(out) - MAX_TEXT_UTF16) // 2 + 1)]
    return out + "…"


def _clip_label(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


# Flex: LINE's documented limits (the OpenAPI file does not state them) and our look.
MAX_ALT_TEXT = 400
MAX_BUBBLES = 12
MAX_FLEX_TEXT = 1000  # a bubble is at most 30 KB of JSON; long free text is clipped
MAX_CAROUSEL_TEXT = 300
MAX_CAROUSEL_BYTES = 48_000  # LINE's limit is 50 KB; some room for the message around it
MAX_FIELD_VALUE = 300
ACCENTS = {
    "summary": "#2E7D6B",
    "invitation": "#D9653B",
    "proposal": "#3B6FD9",
    "project": "#6B4FBB",
    "announcement": "#B5832F",
    "agreement": "#2F8F4E",  # life-group (#13): the kickoff agreement
    "case": "#8A5A44",  # a case of the catalogue (#14)
    "info": "#4A5A6A",
}


def _clip(text: str, limit: int) -> str:
    text = text.strip() or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _postback(choice: Choice) -> dict[str, Any]:
    return {
        "type": "postback",
        "label": _clip_label(choice.label),
        "data": choice.data,
        "displayText": choice.display or choice.label,
    }


def _flex_text(text: str, limit: int, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": _clip(text, limit), "wrap": True, **style}


def _bubble_body(panel: Panel, limit: int) -> list[dict[str, Any]]:
    """The bubble's body: the panel's text, its label/value rows, its small note."""
    body: list[dict[str, Any]] = []
    if panel.body:
        body.append(_flex_text(panel.body, limit, size="sm", color="#1F2933"))
    if panel.fields:
        value_limit = min(limit, MAX_FIELD_VALUE)
        rows = [
            {
                "type": "box",
                "layout": "baseline",
                "spacing": "sm",
                "contents": [
                    _flex_text(label, limit, size="xs", color="#7B8794", flex=2),
                    _flex_text(value, value_limit, size="sm", color="#1F2933", flex=5),
                ],
            }
            for label, value in panel.fields
        ]
        body.append({"type": "box", "layout": "vertical", "spacing": "sm", "contents": rows})
    if panel.note:
        body.append(_flex_text(panel.note, limit, size="xs", color="#7B8794"))
    return body or [_flex_text(panel.title, limit, size="sm")]


def _bubble_footer(panel: Panel, accent: str) -> dict[str, Any]:
    """The panel's buttons, the first in its accent colour."""
    return {
        "type": "box",
        "layout": "vertical",
        "spacing": "sm",
        "contents": [
            {
                "type": "button",
                "style": "primary" if i == 0 else "secondary",
                "color": accent if i == 0 else "#E4E7EB",
                "height": "sm",
                "action": _postback(choice),
            }
            for i, choice in enumerate(panel.buttons)
        ],
    }


def render_bubble(
    panel: Panel, *, size: str = "mega", limit: int = MAX_FLEX_TEXT
) -> dict[str, Any]:
    """One neutral panel as a flex bubble: a coloured header, the rows, the buttons.

    Each text is clipped to `limit` characters (a bubble is at most 30 KB of JSON).
    """
    accent = ACCENTS.get(panel.kind, ACCENTS["info"])
    title = _flex_text(panel.title, limit, weight="bold", color="#FFFFFF", size="md")
    bubble: dict[str, Any] = {
        "type": "bubble",
        "size": size,
        "header": {
            "type": "box",
            "layout": "vertical",
            "backgroundColor": accent,
            "paddingAll": "lg",
            "contents": [title],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "md",
            "contents": _bubble_body(panel, limit),
        },
    }
    if panel.buttons:
        bubble["footer"] = _bubble_footer(panel, accent)
    return bubble


def render_flex(reply: Reply) -> dict[str, Any]:
    """A reply with panels as a flex message: one bubble, or a carousel of up to 12.

    The reply's text is the alternative text (notifications, the chat list, old clients).
    """
    panels = reply.panels[:MAX_BUBBLES]
    contents: dict[str, Any]
    if len(panels) == 1:
        contents = render_bubble(panels[0])
    else:
        bubbles = [render_bubble(p, size="kilo", limit=MAX_CAROUSEL_TEXT) for p in panels]
        # A carousel is at most 50 KB: leave out the last bubbles rather than be refused.
        while len(bubbles) > 1 and _json_size(bubbles) > MAX_CAROUSEL_BYTES:
            bubbles.pop()
        contents = {"type": "carousel", "contents": bubbles}
    return {"type": "flex", "altText": _clip(reply.text, MAX_ALT_TEXT), "contents": contents}


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def render_line_messages(replies: list[Reply]) -> list[dict[str, Any]]:
    """Neutral replies as LINE message objects within LINE's limits.

    Text replies become text messages, replies with panels flex messages. At most 5
    messages: neighbouring texts are joined first when there are more. LINE shows quick
    replies only on the last message, so the last choices offered go there. Plain JSON
    objects (as messaging-api.yml defines them) rather than SDK models: building the
    SDK's pydantic models was the largest CPU cost of a reply (see bench/README.md).
    """
    if not replies:
        return []
    # Each item: the text of a text message, or a reply drawn as flex.
    items: list[str | Reply] = [r if r.panels else r.text for r in replies if r.text or r.panels]
    while len(items) > MAX_MESSAGES:
        for i in range(len(items) - 1):
            if isinstance(items[i], str) and isinstance(items[i + 1], str):
                items[i : i + 2] = [f"{items[i]}\n\n{items[i + 1]}"]
                break
        else:  # no two texts side by side: the earliest card is read as its text
            first = next(i for i, item in enumerate(items) if isinstance(item, Reply))
            item = items[first]
            assert isinstance(item, Reply)
            items[first] = item.text
    choices = next((r.choices for r in reversed(replies) if r.choices), ())
    messages: list[dict[str, Any]] = [
        render_flex(item) if isinstance(item, Reply) else {"type": "text", "text": _clip_text(item)}
        for item in items
    ]
    if messages and choices:
        messages[-1]["quickReply"] = {
            "items": [
                {"type": "action", "action": _postback(c)} for c in choices[:MAX_QUICK_REPLIES]
            ]
        }
    return messages


def _failure(exc: ApiException) -> TransientError | PermanentError:
    """A refused call as the outbox's error: 429 and 5xx are retried, other errors not."""
    if exc.status == 429 or exc.status >= 500:
        headers = exc.headers or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after")
        return TransientError(f"line {exc.status}", float(retry_after) if retry_after else None)
    return PermanentError(f"line {exc.status}")


def _monthly_limit(exc: ApiException) -> bool:
    """True if a 429 says the plan's monthly message quota is used up (not a rate limit)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return exc.status == 429 and "monthly limit" in str(body or "")


class LineChannel:
    """The LINE webhook endpoint and the replies back, wired to the inbox."""

    rate_limits = RATE_LIMITS

    def __init__(self, settings: Settings, inbox: Inbox, dispatcher: Dispatcher) -> None:
        self._parser = WebhookParser(settings.line_channel_secret)
        self._client = _ApiClient(
            Configuration(
                host=settings.line_api_base_url.rstrip("/"),
                access_token=settings.line_channel_access_token,
            )
        )
        # The SDK's HTTP session reads proxy settings and ~/.netrc on every request
        # (trust_env=True, in a thread) and keeps 10 connections: at webhook rates that was
        # a fifth of the process's time. Same SDK client, a session configured for a server.
        rest = self._client.rest_client
        default_session = rest.pool_manager
        rest.pool_manager = ClientSession(
            connector=TCPConnector(limit=64, ssl=ssl.create_default_context()),
            trust_env=False,
        )
        self._default_session = default_session
        self._api = AsyncMessagingApi(self._client)
        self._menus = Linker(self._api)
        self._inbox = inbox
        self._dispatcher = dispatcher
        self._background: set[asyncio.Task[None]] = set()
        # A loading animation being started, by person: their answer waits for it (LINE
        # hides the animation when a message arrives, so one started after the answer
        # would spin on under it for LOADING_SECONDS).
        self._loading: dict[str, asyncio.Task[None]] = {}
        inbox.register(CHANNEL, self.send, enrich=self._with_language, durable=True)

    async def close(self) -> None:
        """Close the HTTP sessions."""
        for task in list(self._background):
            task.cancel()
        await self._default_session.close()
        await self._client.close()

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """POST a JSON body through the SDK's API client (auth, errors as ApiException)."""
        await self._client.call_api(
            path,
            "POST",
            header_params={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **(headers or {}),
            },
            body=_JsonReady(body),
            response_types_map={},
            auth_settings=["Bearer"],
            _return_http_data_only=True,
        )

    async def webhook(self, request: Request) -> Response:
        """Verify the signature, accept the events durably, answer 200."""
        signature = request.headers.get("x-line-signature")
        raw = await request.body()
        if not signature:
            return PlainTextResponse("missing X-Line-Signature", status_code=401)
        try:
            body = raw.decode("utf-8")
            events = self._parser.parse(body, signature)
        except InvalidSignatureError:
            log.warning("line: webhook with a bad signature rejected")
            return PlainTextResponse("invalid signature", status_code=401)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("line: signed webhook with a malformed body rejected")
            return PlainTextResponse("malformed body", status_code=400)
        metrics.count_events("line", (getattr(ev, "type", None) or "unknown" for ev in events))
        neutral: list[Event] = []
        refused = 0
        now_ms = int(time.time() * 1000)
        for ev in events:
            event = translate(ev)
            if event is None:
                continue
            problem = event.problem(now_ms)
            if problem is None:
                neutral.append(event)
                continue
            # Refused alone: the other events of the body are stored and answered. LINE
            # redelivers a whole body when the answer is not 2xx, and this event would be
            # refused again every time, so it is dropped here (and logged by id).
            refused += 1
            log.warning("line: event %s refused (%s)", _loggable_id(event.event_id), problem)
        if refused and not neutral:
            return PlainTextResponse("invalid event", status_code=400)
        try:
            await self._inbox.submit(neutral)
        except InboxClosed:
            return PlainTextResponse("shutting down", status_code=503)
        except Exception:
            return PlainTextResponse("could not store events", status_code=500)
        for event in neutral:
            # translate() keeps one-on-one chats only: the animation exists only there.
            if not event.redelivery and Dialogue.answer_takes_a_while(event):
                self._start_loading(event)
        return JSONResponse({})

    def _start_loading(self, event: Event) -> None:
        """Start the animation beside the answer being prepared; the answer is held until
        LINE has it (at most LOADING_TIMEOUT_S), so it never lands after the answer."""
        task = asyncio.create_task(self._show_loading(event))
        self._background.add(task)
        self._loading[event.user_key] = task
        user = event.user_key

        def done(finished: asyncio.Task[None]) -> None:
            self._background.discard(finished)
            if self._loading.get(user) is finished:
                del self._loading[user]

        task.add_done_callback(done)

    async def _after_loading(self, user_key: str) -> None:
        """Wait until this person's loading animation (if one is being started) reached
        LINE or gave up; its failures stay its own."""
        task = self._loading.get(user_key)
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=LOADING_TIMEOUT_S)

    async def _show_loading(self, event: Event) -> None:
        """The loading animation in the person's chat while a slow answer is prepared.

        Never in the reply's way: it runs beside it, and a failure is only logged.
        """
        try:
            await asyncio.wait_for(
                self._api.show_loading_animation(
                    ShowLoadingAnimationRequest(
                        chatId=event.user_key, loadingSeconds=LOADING_SECONDS
                    )
                ),
                timeout=LOADING_TIMEOUT_S,
            )
        except (ApiException, ClientError, TimeoutError, OSError) as exc:
            log.info(
                "line: no loading animation for event %s (%s)", event.event_id, type(exc).__name__
            )

    async def _with_language(self, event: Event) -> Event:
        """A follow event with the person's LINE language, when LINE tells us."""
        if event.kind != "follow":
            return event
        try:
            profile = await asyncio.wait_for(
                self._api.get_profile(event.user_key), timeout=PROFILE_TIMEOUT_S
            )
        except (ApiException, TimeoutError, OSError) as exc:
            log.info("line: no profile language for a follow (%s)", type(exc).__name__)
            return event
        language = getattr(profile, "language", None)
        if not language:
            return event
        return replace(event, language=language)

    async def send(self, event: Event, replies: list[Reply]) -> bool:
        """Reply with the event's token; False if that did not deliver (the inbox then has
        the outbox push the replies, with a retry key, in order behind anything waiting)."""
        messages = render_line_messages(replies)
        if not messages:
            return True
        if not event.reply_token:
            return False
        await self._after_loading(event.user_key)
        try:
            await self._post(
                "/v2/bot/message/reply",
                {"replyToken": event.reply_token, "messages": messages},
            )
            return True
        except ApiException as exc:
            if 400 < exc.status < 500 and exc.status != 429:
                log.warning("line: reply refused (%d) for event %s", exc.status, event.event_id)
                return True
            # 400 is an expired or used token; 429/5xx did not deliver.
            log.info("line: reply failed (%d) for event %s; pushing", exc.status, event.event_id)
        except (ClientError, TimeoutError, OSError) as exc:
            log.info("line: reply failed (%s); pushing", type(exc).__name__)
        return False

    async def deliver(self, item: Item) -> dict[str, Any]:
        """Send one outbox push or multicast to LINE with the item's retry key, or link
        one person's rich menu."""
        if item.kind == richmenu.KIND:
            try:
                if not await self._menus.link(item.target, item.payload.get("menu")):
                    log.info("line: no rich menu %s yet (run tsunagu line richmenu)", item.id)
            except ApiException as exc:
                # A refused link may be a menu replaced a moment ago: read the aliases
                # again and retry once before calling it permanent.
                if 400 <= exc.status < 500 and exc.status != 429 and item.attempts <= 1:
                    raise TransientError(f"line {exc.status}") from exc
                raise _failure(exc) from exc
            except (ClientError, TimeoutError, OSError) as exc:
                raise TransientError(f"line network {type(exc).__name__}") from exc
            return {}
        path = _SEND_PATHS.get(item.kind)
        if path is None:
            raise PermanentError(f"line cannot send {item.kind}")
        to: Any = list(item.payload.get("to") or ()) if item.kind == "multicast" else item.target
        if item.kind == "push":
            # An answer pushed behind the person's earlier messages is an answer too.
            await self._after_loading(item.target)
        messages = render_line_messages(replies_from(item.payload))
        try:
            await self._post(path, {"to": to, "messages": messages}, {"X-Line-Retry-Key": item.key})
        except ApiException as exc:
            if exc.status == 409:  # LINE already accepted this retry key: delivered
                return {}
            if _monthly_limit(exc):
                raise QuotaExceeded(f"line {exc.status}") from exc
            raise _failure(exc) from exc
        except (ClientError, TimeoutError, OSError) as exc:
            raise TransientError(f"line network {type(exc).__name__}") from exc
        return {}

    async def read_quota(self) -> Quota:
        """The plan's monthly limit and this month's use, read from LINE (raises on failure)."""
        quota, usage = await asyncio.wait_for(
            asyncio.gather(
                self._api.get_message_quota(), self._api.get_message_quota_consumption()
            ),
            timeout=QUOTA_TIMEOUT_S,
        )
        limited = getattr(quota.type, "value", quota.type) == "limited"
        return Quota(limit=int(quota.value) if limited else None, used=int(usage.total_usage))
