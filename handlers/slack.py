"""Slack adapter: slack-bolt verifies, acks and routes; its WebClient calls the Web API.

Listeners only translate: who clicked what on which project, then call the core
(bot.coordination) and render its answer as Block Kit (render_*).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.budget import Budget
from bot.cards import Button, Card
from bot.coordination import (
    ACCEPT,
    ASK,
    DECLINE,
    EDIT_NEEDS,
    TXT,
    ActionResult,
    Coordination,
    NeedsForm,
    check_needs,
)
from bot.i18n import T
from bot.inbox import Inbox
from bot.matching.service import APPROVE, APPROVE_ALL, REJECT, SUGGEST, SWAP, Matching
from bot.outbox import Item, PermanentError, TransientError
from bot.programmes.checkins import GREEN, RED, YELLOW, CheckIns
from bot.programmes.service import Programmes
from bot.programmes.teams import CREATE_CHANNEL, INVITE, TeamChannels, team_project
from bot.programmes.teams import TXT as TEAM_TXT
from bot.settings import Settings
from bot.taxonomy import LANGUAGES, MODES, SKILLS
from handlers.slack_locale import SlackLocales
from handlers.slack_programmes import HELP as PROGRAMME_HELP
from handlers.slack_programmes import VERBS as PROGRAMME_VERBS
from handlers.slack_programmes import ProgrammeUI

log = logging.getLogger(__name__)

ASK_VIEW, DECLINE_VIEW, REJECT_VIEW = "ask_question", "decline_reason", "match_reject"
NEEDS_VIEW, NEEDS_ACTION = "project_needs", "value"
# The needs modal's input blocks, by NeedsForm field (errors are reported per block).
NEEDS_BLOCKS = {
    "required": "needs_required",
    "optional": "needs_optional",
    "team_min": "needs_team_min",
    "team_max": "needs_team_max",
    "hours_per_week": "needs_hours",
    "mode": "needs_mode",
    "languages": "needs_languages",
}
INPUT_BLOCK, INPUT_ACTION = "text_block", "text"
MEMBERS_TTL_S = 60.0
TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}

# Invitation answers that trying again cannot change and that need nothing done.
SKIPPED_INVITES = {
    "already_in_channel",
    "cant_invite_self",
    "user_not_found",
    "user_is_bot",
    "cant_invite",
    "user_is_restricted",
}

MODAL = {
    "ask_title": T("団体への質問", "Ask the group"),
    "ask_label": T("質問（団体にLINEで届きます）", "Question (sent to the group in LINE)"),
    "decline_title": T("見送りの理由", "Reason to decline"),
    "decline_label": T(
        "理由（団体にLINEで丁寧にお伝えします）",
        "Reason (the group receives it in LINE)",
    ),
    "send": T("送信", "Send"),
    "reject_title": T("候補を見送る", "Reject candidate"),
    "reject_label": T(
        "理由（任意。例: 地域が遠い、時間が合わない。次の提案に反映します）",
        "Reason (optional, e.g. too far, times don't fit; used for the next suggestions)",
    ),
    "reject": T("見送る", "Reject"),
    "decline": T("見送る", "Decline"),
    "cancel": T("キャンセル", "Cancel"),
    "empty": T("入力してください。", "Please write something."),
    "help": T(
        "*/tsunagu の使い方*\n"
        "• `/tsunagu projects` 相談の一覧（状態と経過日数）\n"
        "• `/tsunagu project 12` 相談 #12 のカードを表示\n"
        "• `/tsunagu match 12` 相談 #12 のチーム案（候補と理由）を作る\n"
        "• `/tsunagu teams` 募集中のすべての相談でチームを一括編成\n"
        "• `/tsunagu volunteers` ボランティアの人数（スキル・地域・状態別）\n"
        "• `/tsunagu outbox` 配信状況と送れなかったメッセージ\n"
        "• `/tsunagu quota` LINE の今月の配信枠（残りと保留中のお知らせ）\n"
        "• `/tsunagu help` この説明",
        "*/tsunagu commands*\n"
        "• `/tsunagu projects` requests with status and age\n"
        "• `/tsunagu project 12` show the card of request #12\n"
        "• `/tsunagu match 12` propose a team (candidates with reasons) for #12\n"
        "• `/tsunagu teams` form teams for all recruiting projects at once\n"
        "• `/tsunagu volunteers` volunteer counts by skill, area and status\n"
        "• `/tsunagu outbox` delivery status and messages that could not be sent\n"
        "• `/tsunagu quota` this month's LINE message budget (left, and what waits)\n"
        "• `/tsunagu help` this help",
    ),
    "forming": T("チーム編成を計算しています…", "Forming teams…"),
    "needs_title": T("条件を編集", "Edit needs"),
    "needs_save": T("保存", "Save"),
    "needs_intro": T(
        "相談 #{id} に必要なスキルと体制です。保存すると候補の提案を計算し直します。",
        "What request #{id} needs. Saving recomputes the suggested candidates.",
    ),
    "needs_required": T(
        "必要スキル（チームの誰かが必ず持つ）", "Required skills (someone must hold each)"
    ),
    "needs_optional": T("あれば良いスキル", "Nice-to-have skills"),
    "needs_team_min": T("最小人数（1〜10）", "Minimum team size (1-10)"),
    "needs_team_max": T("最大人数（1〜10）", "Maximum team size (1-10)"),
    "needs_hours_per_week": T("1人あたり週の活動時間（1〜40）", "Hours a week per person (1-40)"),
    "needs_mode": T("実施の形", "Mode"),
    "needs_languages": T(
        "翻訳の言語（翻訳・通訳のスキルを選んだとき）", "Translation languages (with translation)"
    ),
    "needs_pick": T("選んでください", "Choose"),
    "proposed": T(
        "チーム案をコーディネーターチャンネルに投稿しました。",
        "The team proposal is posted in the coordinator channel.",
    ),
    "team_help": T(
        "*チームのコマンド*（どなたでも）\n"
        "• `/tsunagu link コード` LINEで届いたコードでSlackとLINEをつなぐ\n"
        "• `/tsunagu progress 内容` チームのチャンネルで進捗を記録\n"
        "• `/tsunagu log` チームのチャンネルで記録の一覧（コーディネーターは `/tsunagu log 12`）",
        "*Team commands* (anyone)\n"
        "• `/tsunagu link CODE` link Slack with LINE using the code you got in LINE\n"
        "• `/tsunagu progress TEXT` record progress in your team channel\n"
        "• `/tsunagu log` the team's log in its channel (coordinators: `/tsunagu log 12`)",
    ),
    "unknown": T(
        "「{text}」はわかりませんでした。`/tsunagu help` をご覧ください。",
        "I don't know “{text}”. See `/tsunagu help`.",
    ),
}


def render_card(card: Card) -> list[dict[str, Any]]:
    """A neutral card as Block Kit blocks (within Slack's limits)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(card.title, 150)}}
    ]
    if card.fields:
        fields = [
            {"type": "mrkdwn", "text": _clip(f"*{name}*\n{value}", 2000)}
            for name, value in card.fields[:10]
        ]
        blocks.append({"type": "section", "fields": fields})
    for section in card.sections:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(section, 3000)}})
    if card.body:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(card.body, 3000)}}
        )
    for i, row in enumerate(card.rows[:12]):
        blocks.append({"type": "divider"})
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(row.text, 3000)}}
        )
        if row.context:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": _clip(row.context, 3000)}],
                }
            )
        if row.buttons:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"row_{i}",
                    "elements": [_button(b) for b in row.buttons[:5]],
                }
            )
    if card.buttons:
        elements = [_button(b) for b in card.buttons[:25]]
        blocks.append({"type": "actions", "block_id": "card_actions", "elements": elements})
    if card.context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(card.context, 3000)}]}
        )
    return blocks


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": _clip(button.label, 75)},
        "action_id": button.action_id,
        "value": button.value,
    }
    if button.style:
        element["style"] = button.style
    return element


def render_text_modal(
    callback_id: str,
    metadata: str,
    title: str,
    label: str,
    submit: str,
    close: str,
    *,
    optional: bool = False,
) -> dict[str, Any]:
    """A modal with one multi-line text input."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": _clip(title, 24)},
        "submit": {"type": "plain_text", "text": _clip(submit, 24)},
        "close": {"type": "plain_text", "text": _clip(close, 24)},
        "blocks": [
            {
                "type": "input",
                "block_id": INPUT_BLOCK,
                "optional": optional,
                "label": {"type": "plain_text", "text": _clip(label, 2000)},
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "multiline": True,
                    "max_length": 1000,
                },
            }
        ],
    }


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": _clip(text, 75)}, "value": value}


def render_needs_modal(form: NeedsForm, channel: str, locale: str) -> dict[str, Any]:
    """The "Edit needs" modal: skills (multi-selects), team size, hours, mode."""
    skills = {o.key: _option(o.key, o.label(locale)) for o in SKILLS}
    languages = {o.key: _option(o.key, o.label(locale)) for o in LANGUAGES}
    modes = {o.key: _option(o.key, o.label(locale)) for o in MODES}

    def pick(
        block: str, keys: tuple[str, ...], *, optional: bool, table: dict[str, Any] = skills
    ) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "multi_static_select",
            "action_id": NEEDS_ACTION,
            "placeholder": {"type": "plain_text", "text": MODAL["needs_pick"](locale)},
            "options": list(table.values()),
        }
        chosen = [table[k] for k in keys if k in table]
        if chosen:
            element["initial_options"] = chosen
        return {
            "type": "input",
            "block_id": NEEDS_BLOCKS[block],
            "optional": optional,
            "label": {"type": "plain_text", "text": MODAL[f"needs_{block}"](locale)},
            "element": element,
        }

    def number(block: str, value: int | None, lo: int, hi: int) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "number_input",
            "action_id": NEEDS_ACTION,
            "is_decimal_allowed": False,
            "min_value": str(lo),
            "max_value": str(hi),
        }
        if value is not None:
            element["initial_value"] = str(value)
        return {
            "type": "input",
            "block_id": NEEDS_BLOCKS[block],
            "label": {"type": "plain_text", "text": MODAL[f"needs_{block}"](locale)},
            "element": element,
        }

    mode: dict[str, Any] = {
        "type": "static_select",
        "action_id": NEEDS_ACTION,
        "options": list(modes.values()),
    }
    if form.mode in modes:
        mode["initial_option"] = modes[form.mode]
    return {
        "type": "modal",
        "callback_id": NEEDS_VIEW,
        "private_metadata": f"{form.project_id}:{form.version}|{channel}",
        "title": {"type": "plain_text", "text": _clip(MODAL["needs_title"](locale), 24)},
        "submit": {"type": "plain_text", "text": _clip(MODAL["needs_save"](locale), 24)},
        "close": {"type": "plain_text", "text": _clip(MODAL["cancel"](locale), 24)},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": MODAL["needs_intro"](locale, id=form.project_id),
                },
            },
            pick("required", form.required, optional=False),
            pick("optional", form.optional, optional=True),
            number("team_min", form.team_min, 1, 10),
            number("team_max", form.team_max, 1, 10),
            number("hours_per_week", form.hours_per_week, 1, 40),
            {
                "type": "input",
                "block_id": NEEDS_BLOCKS["mode"],
                "label": {"type": "plain_text", "text": MODAL["needs_mode"](locale)},
                "element": mode,
            },
            pick("languages", form.languages, optional=True, table=languages),
        ],
    }


def parse_needs(view: dict[str, Any]) -> NeedsForm | None:
    """The needs form from a submitted modal (None if its metadata is not ours)."""
    values = view.get("state", {}).get("values", {})

    def state(field: str) -> dict[str, Any]:
        return dict(values.get(NEEDS_BLOCKS[field], {}).get(NEEDS_ACTION) or {})

    def keys(field: str) -> tuple[str, ...]:
        return tuple(str(o.get("value", "")) for o in state(field).get("selected_options") or [])

    def number(field: str) -> int | None:
        text = str(state(field).get("value") or "").strip()
        return int(text) if text.isdigit() else None

    ids, _, _ = str(view.get("private_metadata", "")).partition("|")
    project, _, version = ids.partition(":")
    if not project.isdigit() or not version.isdigit():
        return None
    mode = state("mode").get("selected_option") or {}
    return NeedsForm(
        project_id=int(project),
        version=int(version),
        required=keys("required"),
        optional=keys("optional"),
        team_min=number("team_min"),
        team_max=number("team_max"),
        hours_per_week=number("hours_per_week"),
        mode=str(mode.get("value", "")),
        languages=keys("languages"),
    )


def once_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """What identifies one Slack request's effect, hashed to fit an event id, and its kind.

    An event: its event_id (also on every retry). A click: who clicked which action on
    which message at which action_ts. A modal submission: the view's id and hash and the
    values submitted. A command: its trigger_id. None for what has no effect to repeat.
    """
    kind = str(body.get("type") or "")
    parts: list[str]
    if kind == "event_callback" and body.get("event_id"):
        # Kept as it is (no hash): events recorded before this change keep their keys.
        event_kind = str((body.get("event") or {}).get("type", "event"))[:24]
        return str(body["event_id"])[:64], event_kind
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        action = actions[0] if isinstance(actions[0], dict) else {}
        container = body.get("container") or {}
        parts = [
            str((body.get("user") or {}).get("id", "")),
            str(action.get("action_id", "")),
            str(action.get("action_ts", "")),
            str(container.get("message_ts") or container.get("view_id") or ""),
            str(body.get("trigger_id", "")),
        ]
    elif kind == "view_submission":
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        parts = [
            str(view.get("id", "")),
            str(view.get("hash", "")),
            json.dumps(values, sort_keys=True, ensure_ascii=False),
        ]
    elif body.get("command") and body.get("trigger_id"):
        kind = "command"
        parts = [str(body["trigger_id"])]
    else:
        return None
    digest = hashlib.sha256("\x1f".join([kind, *parts]).encode("utf-8")).hexdigest()
    return digest, kind


class _ForgetOnErrors(AsyncAck):
    """Bolt's ack; an answer with field errors first forgets the submission's key."""

    def __init__(self, forget: Callable[[], Awaitable[None]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._forget = forget

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        if kwargs.get("response_action") == "errors":
            await self._forget()
        return await super().__call__(*args, **kwargs)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _project_id(value: str) -> int:
    """`"12:3"` (project id and version on the button) -> 12."""
    return int(value.split(":", 1)[0])


class SlackChannel:
    """The Slack request URL, coordinator checks, and the outbox transport for Slack."""

    def __init__(
        self,
        settings: Settings,
        coordination: Coordination,
        inbox: Inbox,
        matching: Matching | None = None,
        programmes: Programmes | None = None,
        *,
        teams: TeamChannels | None = None,
        checkins: CheckIns | None = None,
    ) -> None:
        self.locale = settings.default_locale
        self.client = AsyncWebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_base_url
        )
        self._verifier = SignatureVerifier(settings.slack_signing_secret)
        # Each person reads their own Slack language; each channel its setting.
        self.locales = SlackLocales(self.client, settings.default_locale, settings.channel_locale)
        self.app = AsyncApp(
            signing_secret=settings.slack_signing_secret,
            client=self.client,
            # Bolt gives each of its parts a logger levelled like this one (warning): its
            # info records (a failed signature with the whole body) are never made.
            logger=logging.getLogger("slack_bolt"),
            # Listeners ack first and keep working after the 200 has gone.
            process_before_response=False,
            raise_error_for_unhandled_request=False,
        )
        self.handler = AsyncSlackRequestHandler(self.app)
        self.coordination = coordination
        self.inbox = inbox
        self.matching = matching
        # The LINE message budget, for `/tsunagu quota` (set by the app when LINE is on).
        self.budget: Budget | None = None
        self.teams = teams
        self.checkins = checkins
        ids = [i.strip() for i in settings.slack_coordinator_ids.split(",") if i.strip()]
        self._users = {i for i in ids if not i.startswith("S")}
        self._groups = [i for i in ids if i.startswith("S")]
        self._members: tuple[float, set[str]] = (0.0, set())
        self._register()
        # The programme calendar's commands and modals (handlers.slack_programmes).
        self.programme_ui = ProgrammeUI(self, programmes) if programmes is not None else None

    async def handle(self, request: Request) -> Response:
        """Refuse what cannot be a request from Slack, then hand it to Bolt.

        The gate answers 4xx before anything is parsed: a timestamp that is not a number,
        a body that is not UTF-8, a signature the SDK's verifier does not accept. Bolt
        verifies the signature again and routes what passes.
        """
        body = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            log.warning("slack: request without a valid timestamp refused")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            text = body.decode("utf-8")  # Slack signs and sends UTF-8 only
        except UnicodeDecodeError:
            log.warning("slack: request with a body that is not UTF-8 refused")
            return JSONResponse({"error": "malformed body"}, status_code=400)
        if not signature or not self._verifier.is_valid(text, timestamp, signature):
            log.warning("slack: request with a bad signature refused")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            return await self.handler.handle(request)
        except (ValueError, TypeError, KeyError) as exc:
            # Bolt parses the (signed) body before its own error handling runs.
            log.warning("slack: signed request with a malformed body (%s)", type(exc).__name__)
            return JSONResponse({"error": "malformed body"}, status_code=400)

    # ---------------------------------------------------------------- who may act

    async def is_coordinator(self, user_id: str) -> bool:
        """A listed user, or a member of the listed user group (cached for a minute)."""
        if user_id in self._users:
            return True
        if not self._groups:
            return False
        fetched_at, members = self._members
        if time.monotonic() - fetched_at > MEMBERS_TTL_S:
            members = set()
            for group in self._groups:
                try:
                    resp = await self.client.usergroups_users_list(usergroup=group)
                    members.update(resp.get("users", []))
                except (SlackApiError, ClientError, TimeoutError) as exc:
                    log.warning("slack: could not read user group members (%s)", type(exc).__name__)
                    members = self._members[1]
                    break
            self._members = (time.monotonic(), members)
        return user_id in members

    async def locale_of(self, user_id: str, channel_id: str | None = None) -> str:
        """The language of what only this person reads (answers, modals)."""
        return await self.locales.of_user(user_id, channel_id)

    async def _refuse(self, user_id: str, channel_id: str | None, body: dict[str, Any]) -> None:
        """Tell a non-coordinator politely, and write the refusal to the audit log."""
        await self._record_refusal(user_id, body)
        loc = await self.locale_of(user_id, channel_id)
        await self._tell(user_id, channel_id, TXT["refused"](loc))

    async def _record_refusal(self, user_id: str, body: dict[str, Any]) -> None:
        """Who tried what (the action, modal or command; never what was typed), and when."""
        kind = str(body.get("type") or "")
        if kind == "block_actions":
            what = str(((body.get("actions") or [{}])[0] or {}).get("action_id", ""))
        elif kind == "view_submission":
            what = str((body.get("view") or {}).get("callback_id", ""))
        else:
            kind = "command"
            words = str(body.get("text") or "").split()
            what = f"{body.get('command', '')} {words[0].lower() if words else 'help'}"
        try:
            await self.coordination.record_refusal(user_id, kind, what[:64])
        except Exception:  # the refusal itself must still be answered
            log.exception("slack: could not audit a refusal")

    async def _tell(self, user_id: str, channel_id: str | None, text: str) -> None:
        """Say something only this person sees: ephemeral in the channel, else a DM."""
        if not text:
            return
        try:
            if channel_id:
                await self.client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
                return
        except SlackApiError as exc:
            log.info("slack: ephemeral failed (%s); sending a DM", exc.response.get("error"))
        try:
            await self.client.chat_postMessage(channel=user_id, text=text)
        except (SlackApiError, ClientError, TimeoutError) as exc:
            log.warning("slack: could not tell a user (%s)", type(exc).__name__)

    # ---------------------------------------------------------------- listeners

    def _register(self) -> None:
        app = self.app

        @app.middleware
        async def once_per_event(
            body: dict[str, Any], context: AsyncBoltContext, next: Any
        ) -> BoltResponse | None:
            # Slack retries an event it thinks we missed (X-Slack-Retry-Num), and a signed
            # request replayed within its 5 minutes passes the signature check: each event,
            # click, modal submission and command is recorded once by what identifies it,
            # so a retry or a replay has no second effect (it is acknowledged, nothing more).
            once = once_key(body)
            if once is not None:
                key, kind = once
                if not await self.inbox.seen_once("slack", key, kind):
                    log.info("slack: repeated %s acknowledged without effect", kind)
                    return BoltResponse(status=200, body="")
                if kind == "view_submission":
                    # A modal answered with field errors stays open: the same values may
                    # be sent again after all, so the key is given back.
                    context["ack"] = _ForgetOnErrors(lambda: self.inbox.forget("slack", key))
            await next()
            return None

        @app.action(ACCEPT)
        async def on_accept(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
            if not await self.is_coordinator(user):
                await self._refuse(user, channel, body)
                return
            outcome = await self.coordination.accept(_project_id(body["actions"][0]["value"]), user)
            if not outcome.ok:
                await self._tell(user, channel, outcome.message)

        async def open_modal(body: dict[str, Any], callback_id: str, kind: str) -> None:
            user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
            if not await self.is_coordinator(user):
                await self._refuse(user, channel, body)
                return
            project_id = _project_id(body["actions"][0]["value"])
            check = await self.coordination.can_ask(project_id)
            if not check.ok:
                await self._tell(user, channel, check.message)
                return
            loc = await self.locale_of(user, channel)
            view = render_text_modal(
                callback_id,
                f"{project_id}|{channel or ''}",
                MODAL[f"{kind}_title"](loc),
                MODAL[f"{kind}_label"](loc),
                MODAL["send" if kind == "ask" else "decline"](loc),
                MODAL["cancel"](loc),
            )
            # The trigger id lives 3 seconds: the modal opens right away, not via the outbox.
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)

        @app.action(ASK)
        async def on_ask(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await open_modal(body, ASK_VIEW, "ask")

        @app.action(DECLINE)
        async def on_decline(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await open_modal(body, DECLINE_VIEW, "decline")

        async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
            user = body["user"]["id"]
            values = view.get("state", {}).get("values", {})
            text = str(values.get(INPUT_BLOCK, {}).get(INPUT_ACTION, {}).get("value") or "").strip()
            if not text:
                loc = await self.locale_of(user)
                await ack(response_action="errors", errors={INPUT_BLOCK: MODAL["empty"](loc)})
                return
            await ack()
            project_text, _, channel = str(view.get("private_metadata", "")).partition("|")
            if not await self.is_coordinator(user):
                await self._refuse(user, channel or None, body)
                return
            project_id = int(project_text)
            if view.get("callback_id") == ASK_VIEW:
                outcome = await self.coordination.ask(project_id, user, text)
            else:
                outcome = await self.coordination.decline(project_id, user, text)
            if not outcome.ok:
                await self._tell(user, channel or None, outcome.message)

        app.view(ASK_VIEW)(submitted)
        app.view(DECLINE_VIEW)(submitted)

        @app.action(EDIT_NEEDS)
        async def on_edit_needs(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
            if not await self.is_coordinator(user):
                await self._refuse(user, channel, body)
                return
            found = await self.coordination.needs_form(_project_id(body["actions"][0]["value"]))
            if isinstance(found, ActionResult):
                await self._tell(user, channel, found.message)
                return
            # The trigger id lives 3 seconds: the modal opens right away, not via the outbox.
            await self.client.views_open(
                trigger_id=body["trigger_id"],
                view=render_needs_modal(found, channel or "", await self.locale_of(user, channel)),
            )

        @app.view(NEEDS_VIEW)
        async def on_needs(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
            user = body["user"]["id"]
            channel = str(view.get("private_metadata", "")).partition("|")[2] or None
            form = parse_needs(view)
            if form is None or not await self.is_coordinator(user):
                await ack()
                await self._refuse(user, channel, body)
                return
            errors = check_needs(form, await self.locale_of(user, channel))
            if errors:
                # Shown under each field; the modal stays open with what was typed.
                await ack(
                    response_action="errors",
                    errors={NEEDS_BLOCKS[k]: v for k, v in errors.items()},
                )
                return
            await ack()
            outcome = await self.coordination.edit_needs(form, user)
            if not outcome.ok:
                await self._tell(user, channel, outcome.message)

        async def matching_action(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
            if not await self.is_coordinator(user):
                await self._refuse(user, channel, body)
                return
            if self.matching is None:
                return
            action = body["actions"][0]
            value = str(action.get("value", ""))
            outcome: ActionResult
            if action["action_id"] == SUGGEST:
                outcome = await self.matching.propose(int(value), user)
            elif action["action_id"] == APPROVE_ALL:
                outcome = await self.matching.approve_all(int(value), user)
            elif action["action_id"] == REJECT:
                # The reason (optional) teaches the ranking; asked in a modal.
                loc = await self.locale_of(user, channel)
                await self.client.views_open(
                    trigger_id=body["trigger_id"],
                    view=render_text_modal(
                        REJECT_VIEW,
                        f"{value}|{channel or ''}",
                        MODAL["reject_title"](loc),
                        MODAL["reject_label"](loc),
                        MODAL["reject"](loc),
                        MODAL["cancel"](loc),
                        optional=True,
                    ),
                )
                return
            else:
                match_id, _, version = value.partition(":")
                outcome = await self.matching.act(
                    int(match_id), int(version) if version else None, user, action["action_id"]
                )
            if not outcome.ok:
                await self._tell(user, channel, outcome.message)

        for action_id in (SUGGEST, APPROVE_ALL, APPROVE, REJECT, SWAP):
            app.action(action_id)(matching_action)

        @app.view(REJECT_VIEW)
        async def on_reject(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
            await ack()
            user = body["user"]["id"]
            values = view.get("state", {}).get("values", {})
            reason = str(values.get(INPUT_BLOCK, {}).get(INPUT_ACTION, {}).get("value") or "")
            value, _, channel = str(view.get("private_metadata", "")).partition("|")
            if not await self.is_coordinator(user) or self.matching is None:
                await self._refuse(user, channel or None, body)
                return
            match_id, _, version = value.partition(":")
            outcome = await self.matching.act(
                int(match_id), int(version) if version else None, user, REJECT, reason.strip()
            )
            if not outcome.ok:
                await self._tell(user, channel or None, outcome.message)

        @app.command("/tsunagu")
        async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
            user = body.get("user_id", "")
            loc = await self.locale_of(user, body.get("channel_id"))

            async def answer(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
                # Shown only to the person who typed the command.
                await ack(response_type="ephemeral", text=text, blocks=blocks)

            words = str(body.get("text") or "").split()
            verb = words[0].lower() if words else "help"
            if verb in ("link", "progress", "log") and self.teams is not None:
                # Team commands: for volunteers as well as coordinators.
                await answer(await self.team_command(verb, words, body, loc))
                return
            if not await self.is_coordinator(user):
                if verb == "help" and self.teams is not None:
                    await answer(MODAL["team_help"](loc))
                else:
                    await answer(TXT["refused"](loc))
                    await self._record_refusal(user, body)
                return
            if verb == "projects":
                await answer(await self.coordination.projects_text())
            elif verb == "project" and len(words) > 1 and words[1].lstrip("#").isdigit():
                card = await self.coordination.card_for(int(words[1].lstrip("#")))
                if card is None:
                    await answer(TXT["not_found"](loc, id=words[1]))
                else:
                    await answer(card.fallback, render_card(card))
            elif verb == "match" and len(words) > 1 and words[1].lstrip("#").isdigit():
                if self.matching is None:
                    await answer(MODAL["unknown"](loc, text="match"))
                    return
                outcome = await self.matching.propose(int(words[1].lstrip("#")), user)
                await answer(outcome.message or MODAL["proposed"](loc))
            elif verb == "teams" and self.matching is not None:
                # A solve can take seconds: acknowledge first, then report privately.
                await answer(MODAL["forming"](loc))
                outcome = await self.matching.propose_all(user)
                await self._tell(user, body.get("channel_id"), outcome.message)
            elif verb == "volunteers":
                await answer(await self.coordination.volunteers_text())
            elif verb == "outbox":
                await answer(await self.coordination.outbox_text())
            elif verb in PROGRAMME_VERBS and self.programme_ui is not None:
                text, blocks = await self.programme_ui.command(verb, words, user, body, loc)
                await answer(text, blocks)
            elif verb == "quota" and self.budget is not None:
                await answer(await self.budget.text(loc))
            elif verb == "help":
                team_help = "\n" + MODAL["team_help"](loc) if self.teams is not None else ""
                await answer(MODAL["help"](loc) + "\n" + PROGRAMME_HELP(loc) + team_help)
            else:
                await answer(MODAL["unknown"](loc, text=" ".join(words)[:50]))

        async def on_checkin(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            if self.checkins is None:
                return
            user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
            action = body["actions"][0]
            ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get(
                "ts"
            )
            value = str(action.get("value", ""))
            if not value.isdigit():
                return
            outcome = await self.checkins.answer(
                int(value), action["action_id"], user, channel or "", str(ts or "")
            )
            if not outcome.ok:
                await self._tell(user, channel, outcome.message)

        for action_id in (GREEN, YELLOW, RED):
            app.action(action_id)(on_checkin)

        @app.event("app_mention")
        async def on_mention(body: dict[str, Any]) -> None:
            event = body.get("event") or {}
            await self.coordination.reply_in_thread(
                str(event.get("channel", "")),
                str(event.get("ts", "")),
                MODAL["help"](self.locales.of_channel(str(event.get("channel", "")))),
                key=str(body.get("event_id", "")),
            )

    async def team_command(
        self, verb: str, words: list[str], body: dict[str, Any], loc: str
    ) -> str:
        """`/tsunagu link CODE`, `progress TEXT` and `log [ID]`: the answer to show."""
        assert self.teams is not None
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        if verb == "link":
            return await self.teams.link(user, " ".join(words[1:]))
        if verb == "progress":
            # Keep the person's own line breaks: strip only the verb.
            raw = str(body.get("text") or "").strip()
            return await self.teams.add_note(channel, user, raw[len(words[0]) :])
        if len(words) > 1 and words[1].lstrip("#").isdigit():
            if not await self.is_coordinator(user):
                await self._record_refusal(user, body)
                return TXT["refused"](loc)
            return await self.teams.log_text(int(words[1].lstrip("#")))
        project_id = await self.teams.project_in(channel)
        if project_id is None:
            return TEAM_TXT["not_team_channel"](loc)
        return await self.teams.log_text(project_id)

    # ---------------------------------------------------------------- outbox transport

    async def deliver(self, item: Item) -> dict[str, Any]:
        """Send one outbox item to Slack; classify failures as passing or permanent."""
        payload = item.payload
        card = Card.from_dict(payload["card"]) if "card" in payload else None
        text = card.fallback if card else str(payload.get("text", ""))
        blocks = render_card(card) if card else None
        try:
            project_id = team_project(item.target)
            if project_id is not None:
                if item.kind == CREATE_CHANNEL:
                    return await self._create_team_channel(project_id, payload)
                # A team's rows wait, in order, until its channel exists.
                item.target = await self._team_channel(project_id)
            if item.kind == INVITE:
                return await self._invite(item.target, payload)
            if item.kind == "update":
                resp = await self.client.chat_update(
                    channel=item.target,
                    ts=item.ts or str(payload.get("ts") or ""),
                    text=text,
                    blocks=blocks,
                )
            else:
                thread_ts = item.thread_ts or payload.get("thread_ts")
                resp = await self.client.chat_postMessage(
                    channel=item.target, text=text, blocks=blocks, thread_ts=thread_ts
                )
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error", ""))
            if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
                retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"
                )
                raise TransientError(
                    f"slack {status} {error}", float(retry_after) if retry_after else None
                ) from exc
            raise PermanentError(f"slack {error or status}") from exc
        except (TimeoutError, ClientError, OSError) as exc:
            raise TransientError(f"slack network {type(exc).__name__}") from exc
        return {"ts": resp.get("ts"), "channel": resp.get("channel")}

    async def _team_channel(self, project_id: int) -> str:
        channel = await self.teams.channel_of(project_id) if self.teams is not None else None
        if channel is None:
            raise TransientError(f"team channel of project {project_id} not created yet")
        return channel

    async def _create_team_channel(
        self, project_id: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """conversations.create, or the existing channel of that name (a retry after a
        crash, or a channel someone made by hand); its id is recorded on the project."""
        if self.teams is None:
            raise TransientError("team channels are not configured")
        existing = await self.teams.channel_of(project_id)
        if existing is not None:
            return {"channel": existing}
        name = str(payload["name"])
        try:
            resp = await self.client.conversations_create(
                name=name, is_private=bool(payload.get("private"))
            )
            channel_id = str(resp["channel"]["id"])
        except SlackApiError as exc:
            if exc.response.get("error") != "name_taken":
                raise
            found = await self._find_channel(name)
            if found is None:
                raise PermanentError("slack name_taken by a channel the bot cannot see") from exc
            channel_id = found
        await self.teams.record_channel(project_id, channel_id, name)
        log.info("slack: team channel ready for project %d", project_id)
        return {"channel": channel_id}

    async def _find_channel(self, name: str) -> str | None:
        cursor: str | None = None
        while True:
            resp = await self.client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=200,
                cursor=cursor,
            )
            channels: list[dict[str, Any]] = resp.get("channels", [])
            for channel in channels:
                if channel.get("name") == name:
                    if not channel.get("is_member") and not channel.get("is_private"):
                        await self.client.conversations_join(channel=channel["id"])
                    return str(channel["id"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def _invite(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        """conversations.invite for listed users and user-group members; someone already
        in the channel, or who cannot be invited, does not hold up the rest."""
        users = [str(u) for u in payload.get("users") or []]
        for group in payload.get("usergroups") or []:
            resp = await self.client.usergroups_users_list(usergroup=group)
            members: list[str] = resp.get("users", [])
            users += [str(u) for u in members]
        users = list(dict.fromkeys(u for u in users if u))
        if users:
            try:
                resp = await self.client.conversations_invite(
                    channel=channel, users=",".join(users), force=True
                )
                skipped = len(resp.get("errors") or [])
            except SlackApiError as exc:
                if exc.response.get("error") not in SKIPPED_INVITES:
                    raise
                skipped = len(users)
            if skipped:
                log.info("slack: %d of %d invitations skipped", skipped, len(users))
        return {"channel": channel}
