"""Builders for complete LINE webhook events, checked against LINE's webhook.yml.

An event missing a field LINE always sends (``quoteToken`` on a text message, for
one) silently parses as ``UnknownEvent`` in line-bot-sdk v3, so every builder
validates its output before returning it. The test plays LINE here: it builds
the body with ``payload()`` and signs it with ``sign()``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

from .fakes.openapi import validate_callback, validate_event

# A bot user id as LINE writes it (U + 32 hex digits), used as the default destination.
BOT_USER_ID = "U" + "b0" * 16

Event = dict[str, Any]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_clock_lock = threading.Lock()
_last_timestamp = 0
# LINE message ids are 18-digit decimal strings.
_message_ids = itertools.count(500_000_000_000_000_000 + secrets.randbelow(10**15))


def _timestamp(given: int | None) -> int:
    """Return ``given`` or the current time in ms, strictly increasing across calls."""
    global _last_timestamp
    if given is not None:
        return given
    with _clock_lock:
        # Two events built in the same millisecond must still be ordered.
        _last_timestamp = max(int(time.time() * 1000), _last_timestamp + 1)
        return _last_timestamp


def new_webhook_event_id(timestamp_ms: int | None = None) -> str:
    """Return a fresh ULID-style id (26 Crockford base32 chars: 48-bit time, 80 random bits)."""
    ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (ms & (2**48 - 1)) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_user_id(seed: str | int | None = None) -> str:
    """Return a LINE-shaped user id; the same ``seed`` always gives the same id."""
    digest = (
        hashlib.sha256(str(seed).encode()).hexdigest()
        if seed is not None
        else secrets.token_hex(16)
    )
    return "U" + digest[:32]


def _message_id() -> str:
    return str(next(_message_ids))


def _quote_token() -> str:
    return secrets.token_urlsafe(48)


def _checked(event: Event) -> Event:
    errors = validate_event(event)
    if errors:
        raise AssertionError(f"built an event webhook.yml rejects: {errors}")
    return event


def _base(
    kind: str,
    user_id: str,
    *,
    timestamp: int | None,
    webhook_event_id: str | None,
    mode: str,
    is_redelivery: bool,
) -> Event:
    ts = _timestamp(timestamp)
    return {
        "type": kind,
        "mode": mode,
        "timestamp": ts,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": webhook_event_id or new_webhook_event_id(ts),
        "deliveryContext": {"isRedelivery": is_redelivery},
    }


def _message_event(
    user_id: str,
    reply_token: str,
    content: dict[str, Any],
    *,
    timestamp: int | None,
    webhook_event_id: str | None,
    mode: str,
    is_redelivery: bool,
) -> Event:
    event = _base(
        "message",
        user_id,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )
    event["replyToken"] = reply_token
    event["message"] = {"id": _message_id(), **content}
    return _checked(event)


def follow(
    user_id: str,
    reply_token: str,
    *,
    is_unblocked: bool = False,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return a follow event (friend added, or unblocked if ``is_unblocked``)."""
    event = _base(
        "follow",
        user_id,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )
    event["replyToken"] = reply_token
    event["follow"] = {"isUnblocked": is_unblocked}
    return _checked(event)


def unfollow(
    user_id: str,
    *,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return an unfollow event (the user blocked the account); it carries no reply token."""
    return _checked(
        _base(
            "unfollow",
            user_id,
            timestamp=timestamp,
            webhook_event_id=webhook_event_id,
            mode=mode,
            is_redelivery=is_redelivery,
        )
    )


def text(
    user_id: str,
    reply_token: str,
    text: str,
    *,
    quoted_message_id: str | None = None,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return a text message event, with the ``quoteToken`` the SDK needs to recognise it."""
    content: dict[str, Any] = {"type": "text", "quoteToken": _quote_token(), "text": text}
    if quoted_message_id is not None:
        content["quotedMessageId"] = quoted_message_id
    return _message_event(
        user_id,
        reply_token,
        content,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )


def sticker(
    user_id: str,
    reply_token: str,
    package_id: str = "446",
    sticker_id: str = "1988",
    *,
    resource_type: str = "STATIC",
    keywords: list[str] | None = None,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return a sticker message event."""
    content: dict[str, Any] = {
        "type": "sticker",
        "quoteToken": _quote_token(),
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": resource_type,
    }
    if keywords is not None:
        content["keywords"] = keywords
    return _message_event(
        user_id,
        reply_token,
        content,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )


def image(
    user_id: str,
    reply_token: str,
    *,
    external_url: str | None = None,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return an image message event (content held by LINE unless ``external_url`` is given)."""
    provider: dict[str, Any] = {"type": "line"}
    if external_url is not None:
        provider = {
            "type": "external",
            "originalContentUrl": external_url,
            "previewImageUrl": external_url,
        }
    content = {"type": "image", "quoteToken": _quote_token(), "contentProvider": provider}
    return _message_event(
        user_id,
        reply_token,
        content,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )


def location(
    user_id: str,
    reply_token: str,
    latitude: float = 35.681236,
    longitude: float = 139.767125,
    *,
    title: str | None = None,
    address: str | None = None,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return a location message event (Tokyo Station unless told otherwise)."""
    content: dict[str, Any] = {"type": "location", "latitude": latitude, "longitude": longitude}
    if title is not None:
        content["title"] = title
    if address is not None:
        content["address"] = address
    return _message_event(
        user_id,
        reply_token,
        content,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )


def postback(
    user_id: str,
    reply_token: str,
    data: str,
    *,
    params: dict[str, str] | None = None,
    timestamp: int | None = None,
    webhook_event_id: str | None = None,
    mode: str = "active",
    is_redelivery: bool = False,
) -> Event:
    """Return a postback event (a tapped button); ``params`` carries a datetime picker's choice."""
    event = _base(
        "postback",
        user_id,
        timestamp=timestamp,
        webhook_event_id=webhook_event_id,
        mode=mode,
        is_redelivery=is_redelivery,
    )
    event["replyToken"] = reply_token
    event["postback"] = {"data": data} if params is None else {"data": data, "params": params}
    return _checked(event)


def redelivered(event: Event) -> Event:
    """Return a copy of ``event`` as LINE redelivers it: same webhookEventId, isRedelivery true."""
    copied = copy.deepcopy(event)
    copied["deliveryContext"] = {**copied.get("deliveryContext", {}), "isRedelivery": True}
    return _checked(copied)


def payload(events: Iterable[Event], destination: str = BOT_USER_ID) -> bytes:
    """Return a webhook request body: compact UTF-8 JSON, non-ASCII text kept as is."""
    body = {"destination": destination, "events": list(events)}
    errors = validate_callback(body)
    if errors:
        raise AssertionError(f"built a webhook body webhook.yml rejects: {errors}")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, channel_secret: str) -> str:
    """Return the ``X-Line-Signature`` of ``body``: base64 HMAC-SHA256 under the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def webhook_headers(body: bytes, channel_secret: str) -> dict[str, str]:
    """Return the headers LINE sends with a webhook body, signature included."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Line-Signature": sign(body, channel_secret),
    }
