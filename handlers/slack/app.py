"""The Slack request URL: slack-bolt verifies, acks and routes; listeners only translate.

Each listener reads who clicked what on which project, passes the coordinator gate,
calls the core (bot.coordination, bot.matching, bot.commands) and renders its answer
with handlers.slack.views. Posting for the outbox is handlers.slack.transport.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.budget import Budget
from bot.commands import CommandReply, CommandRequest, Commands, Services
from bot.coordination import (
    ACCEPT,
    ASK,
    DECLINE,
    EDIT_NEEDS,
    ActionResult,
    Coordination,
    check_needs,
)
from bot.inbox import Inbox
from bot.languages import PersonLanguages
from bot.lifecycle.kickoff import Kickoff
from bot.lifecycle.work import Work
from bot.matching.service import APPROVE, APPROVE_ALL, REJECT, SUGGEST, SWAP, Matching
from bot.office.service import Office
from bot.outbox import Item
from bot.programmes.checkins import GREEN, RED, YELLOW, CheckIns
from bot.programmes.service import Programmes
from bot.programmes.teams import TeamChannels
from bot.settings import Settings
from handlers.slack.cases import CaseForms
from handlers.slack.files import deliver_files
from handlers.slack.gate import CoordinatorGate
from handlers.slack.home import AppHome
from handlers.slack.locale import SlackLocales
from handlers.slack.once import ForgetOnErrors, once_key
from handlers.slack.programmes import ProgrammeUI, programme_blocks
from handlers.slack.transport import SlackTransport
from handlers.slack.views import (
    AGREEMENT_VIEW,
    ASK_VIEW,
    ATTENDANCE,
    ATTENDANCE_ACTION,
    ATTENDANCE_VIEW,
    DECLINE_VIEW,
    INPUT_ACTION,
    INPUT_BLOCK,
    MODAL,
    NEEDS_BLOCKS,
    NEEDS_VIEW,
    REJECT_VIEW,
    attendance_blocks,
    attendance_modal,
    parse_agreement,
    parse_attendance,
    parse_needs,
    project_id_of,
    render_agreement_modal,
    render_card,
    render_needs_modal,
    render_text_modal,
)

log = logging.getLogger(__name__)

Body = dict[str, Any]


def _who(body: Body) -> tuple[str, str | None]:
    """The person who clicked, and the channel the click came from (None in a modal)."""
    return str(body["user"]["id"]), (body.get("channel") or {}).get("id")


def _typed(view: Body) -> str:
    """The text typed in a one-input modal."""
    values = view.get("state", {}).get("values", {})
    return str(values.get(INPUT_BLOCK, {}).get(INPUT_ACTION, {}).get("value") or "").strip()


class SlackChannel:
    """The Slack request URL, its listeners, and (through SlackTransport) the outbox's Slack."""

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
        office: Office | None = None,
        work: Work | None = None,
        languages: PersonLanguages | None = None,
        kickoff: Kickoff | None = None,
    ) -> None:
        self.locale = settings.default_locale
        self._bolt(settings, languages)
        self.coordination = coordination
        self.inbox = inbox
        self.matching = matching
        self.teams = teams
        self.checkins = checkins
        self.gate = CoordinatorGate(
            self.client, self.locales, coordination, settings.slack_coordinator_ids
        )
        self.transport = SlackTransport(self.client, teams)
        self.programmes = programmes
        self.kickoff = kickoff
        self.commands = Commands(
            Services(
                coordination,
                matching,
                programmes,
                teams,
                budget=None,
                office=office,
                work=work,
                languages=languages,
                kickoff=kickoff,
            )
        )
        self._register()
        self._office_views(settings, office, work, programmes)

    def _bolt(self, settings: Settings, languages: PersonLanguages | None) -> None:
        """The Web API client, the signature check, the readers' languages and Bolt."""
        self.client = AsyncWebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_base_url
        )
        self._verifier = SignatureVerifier(settings.slack_signing_secret)
        # Each person reads their own Slack language (or the one they chose with
        # `/tsunagu lang`); each channel its setting.
        self.locales = SlackLocales(
            self.client,
            settings.default_locale,
            settings.channel_locale,
            chosen=languages.chosen if languages is not None else None,
        )
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

    def _office_views(
        self,
        settings: Settings,
        office: Office | None,
        work: Work | None,
        programmes: Programmes | None,
    ) -> None:
        """The App Home, the case form and the programme calendar's buttons and modals."""
        self.home: AppHome | None = None
        self.case_forms: CaseForms | None = None
        if office is not None:
            # The office's dashboard, or a person's own page (handlers.slack.home).
            self.home = AppHome(
                self.app,
                self.gate,
                office,
                timezone=settings.timezone,
                budget=lambda: self.commands.services.budget,
                outbox=self.coordination.outbox_text,
            )
            self.case_forms = CaseForms(self.app, self.gate, office)
        if self.home is not None and work is not None:
            # Hours logged (in LINE or Slack) change coordinators' and members' numbers.
            work.changed.append(self.home.changed)
        self.programme_ui = (
            ProgrammeUI(
                self.app,
                self.gate,
                programmes,
                on_saved=self.home.changed if self.home is not None else None,
            )
            if programmes is not None
            else None
        )

    @property
    def budget(self) -> Budget | None:
        """The LINE message budget, for `/tsunagu quota` (set by the app when LINE is on)."""
        return self.commands.services.budget

    @budget.setter
    def budget(self, budget: Budget | None) -> None:
        self.commands.services.budget = budget

    async def deliver(self, item: Item) -> dict[str, Any]:
        """Send one outbox item to Slack (the outbox's transport for the Slack channel);
        what was sent changes what coordinators see, so their App Home is refreshed."""
        sent = await self.transport.deliver(item)
        if self.home is not None:
            self.home.office_changed()
        return sent

    async def is_coordinator(self, user_id: str) -> bool:
        return await self.gate.is_coordinator(user_id)

    async def locale_of(self, user_id: str, channel_id: str | None = None) -> str:
        """The language of what only this person reads (answers, modals)."""
        return await self.locales.of_user(user_id, channel_id)

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

    # ---------------------------------------------------------------- listeners

    def _register(self) -> None:
        app = self.app
        app.middleware(self._once_per_event)
        app.action(ACCEPT)(self._on_accept)
        app.action(ASK)(self._on_ask)
        app.action(DECLINE)(self._on_decline)
        app.view(ASK_VIEW)(self._on_text_modal)
        app.view(DECLINE_VIEW)(self._on_text_modal)
        app.action(EDIT_NEEDS)(self._on_edit_needs)
        app.view(NEEDS_VIEW)(self._on_needs)
        for action_id in (SUGGEST, APPROVE_ALL, APPROVE, REJECT, SWAP):
            app.action(action_id)(self._on_matching)
        app.view(REJECT_VIEW)(self._on_reject)
        app.command("/tsunagu")(self._on_command)
        for action_id in (GREEN, YELLOW, RED):
            app.action(action_id)(self._on_checkin)
        app.event("app_mention")(self._on_mention)
        # life-cohort (#13): recording who attended a phase of any kind.
        app.action(ATTENDANCE_ACTION)(self._on_attendance)
        app.view(ATTENDANCE_VIEW)(self._on_attendance_saved)
        # life-group (#13): the kickoff agreement form.
        app.view(AGREEMENT_VIEW)(self._on_agreement)

    async def _once_per_event(
        self, body: Body, context: AsyncBoltContext, next: Any
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
                context["ack"] = ForgetOnErrors(lambda: self.inbox.forget("slack", key))
        await next()
        return None

    async def _allowed(self, body: Body, channel: str | None = None) -> str | None:
        """The acting coordinator's id; anyone else is refused politely (and audited)."""
        user = str(body["user"]["id"])
        if channel is None:
            channel = (body.get("channel") or {}).get("id")
        if await self.gate.is_coordinator(user):
            return user
        await self.gate.refuse(user, channel, body)
        return None

    async def _tell_failure(self, user: str, channel: str | None, outcome: ActionResult) -> None:
        """A refusal, told only to the person who acted: in their language."""
        if not outcome.ok:
            await self.gate.tell(user, channel, outcome.text(await self.locale_of(user, channel)))

    async def _on_accept(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        user, channel = _who(body)
        if await self._allowed(body) is None:
            return
        outcome = await self.coordination.accept(project_id_of(body["actions"][0]["value"]), user)
        await self._tell_failure(user, channel, outcome)

    async def _on_ask(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        await self._open_text_modal(body, ASK_VIEW, "ask")

    async def _on_decline(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        await self._open_text_modal(body, DECLINE_VIEW, "decline")

    async def _open_text_modal(self, body: Body, callback_id: str, kind: str) -> None:
        user, channel = _who(body)
        if await self._allowed(body) is None:
            return
        project_id = project_id_of(body["actions"][0]["value"])
        check = await self.coordination.can_ask(project_id)
        if not check.ok:
            await self._tell_failure(user, channel, check)
            return
        loc = await self.locale_of(user, channel)
        ask = kind == "ask"
        view = render_text_modal(
            callback_id,
            f"{project_id}|{channel or ''}",
            (MODAL.ask_title if ask else MODAL.decline_title)(loc),
            (MODAL.ask_label if ask else MODAL.decline_label)(loc),
            (MODAL.send if ask else MODAL.decline)(loc),
            MODAL.cancel(loc),
        )
        # The trigger id lives 3 seconds: the modal opens right away, not via the outbox.
        await self.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def _on_text_modal(self, ack: AsyncAck, body: Body, view: Body) -> None:
        """The ask-the-group and decline-reason modals, submitted."""
        user = str(body["user"]["id"])
        text = _typed(view)
        if not text:
            loc = await self.locale_of(user)
            await ack(response_action="errors", errors={INPUT_BLOCK: MODAL.empty(loc)})
            return
        await ack()
        project_text, _, channel = str(view.get("private_metadata", "")).partition("|")
        if await self._allowed(body, channel or None) is None:
            return
        project_id = int(project_text)
        if view.get("callback_id") == ASK_VIEW:
            outcome = await self.coordination.ask(project_id, user, text)
        else:
            outcome = await self.coordination.decline(project_id, user, text)
        await self._tell_failure(user, channel or None, outcome)

    async def _on_edit_needs(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        user, channel = _who(body)
        if await self._allowed(body) is None:
            return
        found = await self.coordination.needs_form(project_id_of(body["actions"][0]["value"]))
        if isinstance(found, ActionResult):
            await self._tell_failure(user, channel, found)
            return
        # The trigger id lives 3 seconds: the modal opens right away, not via the outbox.
        await self.client.views_open(
            trigger_id=body["trigger_id"],
            view=render_needs_modal(found, channel or "", await self.locale_of(user, channel)),
        )

    async def _on_needs(self, ack: AsyncAck, body: Body, view: Body) -> None:
        user = str(body["user"]["id"])
        channel = str(view.get("private_metadata", "")).partition("|")[2] or None
        form = parse_needs(view)
        if form is None or not await self.gate.is_coordinator(user):
            await ack()
            await self.gate.refuse(user, channel, body)
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
        await self._tell_failure(user, channel, outcome)

    async def _on_matching(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        user, channel = _who(body)
        if await self._allowed(body) is None or self.matching is None:
            return
        action = body["actions"][0]
        value = str(action.get("value", ""))
        if action["action_id"] == SUGGEST:
            outcome = await self.matching.propose(int(value), user)
        elif action["action_id"] == APPROVE_ALL:
            outcome = await self.matching.approve_all(int(value), user)
        elif action["action_id"] == REJECT:
            # The reason (optional) teaches the ranking; asked in a modal.
            await self._open_reject_modal(body, value, user, channel)
            return
        else:
            match_id, _, version = value.partition(":")
            outcome = await self.matching.act(
                int(match_id), int(version) if version else None, user, action["action_id"]
            )
        await self._tell_failure(user, channel, outcome)

    async def _open_reject_modal(
        self, body: Body, value: str, user: str, channel: str | None
    ) -> None:
        loc = await self.locale_of(user, channel)
        await self.client.views_open(
            trigger_id=body["trigger_id"],
            view=render_text_modal(
                REJECT_VIEW,
                f"{value}|{channel or ''}",
                MODAL.reject_title(loc),
                MODAL.reject_label(loc),
                MODAL.reject(loc),
                MODAL.cancel(loc),
                optional=True,
            ),
        )

    async def _on_reject(self, ack: AsyncAck, body: Body, view: Body) -> None:
        await ack()
        user = str(body["user"]["id"])
        value, _, channel = str(view.get("private_metadata", "")).partition("|")
        if not await self.gate.is_coordinator(user) or self.matching is None:
            await self.gate.refuse(user, channel or None, body)
            return
        match_id, _, version = value.partition(":")
        outcome = await self.matching.act(
            int(match_id), int(version) if version else None, user, REJECT, _typed(view)
        )
        await self._tell_failure(user, channel or None, outcome)

    async def _on_command(self, ack: AsyncAck, body: Body) -> None:
        """`/tsunagu VERB ...`: parsed here, answered by the command registry (bot.commands)."""
        user, channel = str(body.get("user_id", "")), body.get("channel_id")
        request = CommandRequest.parse(
            str(body.get("text") or ""),
            actor=user,
            locale=await self.locale_of(user, channel),
            channel=channel,
            coordinator=await self.gate.is_coordinator(user),
        )
        reply = await self.commands.run(request)
        if reply.form is not None and body.get("trigger_id"):
            # life-group (#13): the trigger id lives 3 seconds, so the form opens first.
            await ack()
            view = render_agreement_modal(reply.form, request.locale)
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)
            return
        # Shown only to the person who typed the command.
        blocks = self._blocks(reply, request.locale)
        await ack(response_type="ephemeral", text=reply.text, blocks=blocks)
        if reply.refused:
            await self.gate.record_refusal(user, body)
        if reply.case_form is not None and self.case_forms is not None:
            await self.case_forms.open(str(body.get("trigger_id")), reply.case_form, request.locale)
        if reply.later is not None:
            await self.gate.tell(user, channel, await reply.later())
        if reply.files is not None:

            async def tell(text: str) -> None:
                await self.gate.tell(user, channel, text)

            # Made after the answer is shown; uploaded to the person's DM when ready.
            await deliver_files(self.client, user, reply.files, request.locale, tell)

    @staticmethod
    def _blocks(reply: CommandReply, locale: str) -> list[dict[str, Any]] | None:
        """A reply's neutral data as Block Kit (None: the text alone)."""
        if reply.card is not None:
            return render_card(reply.card)
        if reply.programmes is not None:
            return programme_blocks(list(reply.programmes), locale)
        if reply.attendance is not None:  # life-cohort (#13)
            return attendance_blocks(reply.text, reply.attendance, locale)
        return None

    # ---- life-cohort (#13): attendance for every phase kind

    async def _on_attendance(self, ack: AsyncAck, body: Body) -> None:
        """`Record attendance` under `/tsunagu attendance ID`: the modal with the people."""
        await ack()
        user, channel = _who(body)
        if await self._allowed(body) is None or self.programmes is None:
            return
        loc = await self.locale_of(user, channel)
        value = str(body["actions"][0].get("value", ""))
        sheet = await self.programmes.attendance_sheet(int(value), loc) if value.isdigit() else None
        if sheet is None or not sheet.people:
            await self.gate.tell(user, channel, ATTENDANCE.nobody(loc))
            return
        view = attendance_modal(sheet, channel or "", loc)
        await self.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def _on_attendance_saved(self, ack: AsyncAck, body: Body, view: Body) -> None:
        await ack()
        user = str(body["user"]["id"])
        parsed = parse_attendance(view)
        channel = parsed[1] if parsed else ""
        if await self._allowed(body, channel or None) is None or self.programmes is None:
            return
        loc = await self.locale_of(user, channel or None)
        if parsed is None:
            await self.gate.tell(user, channel or None, ATTENDANCE.nobody(loc))
            return
        outcome = await self.programmes.mark_attendance(parsed[0], parsed[2], user, loc)
        await self.gate.tell(user, channel or None, outcome.message)

    # ---- end life-cohort

    async def _on_checkin(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        if self.checkins is None:
            return
        user, channel = _who(body)
        action = body["actions"][0]
        container, message = body.get("container") or {}, body.get("message") or {}
        ts = container.get("message_ts") or message.get("ts")
        value = str(action.get("value", ""))
        if not value.isdigit():
            return
        outcome = await self.checkins.answer(
            int(value),
            action["action_id"],
            user,
            channel or "",
            str(ts or ""),
            locale=await self.locale_of(user, channel),
        )
        await self._tell_failure(user, channel, outcome)

    async def _on_agreement(self, ack: AsyncAck, body: Body, view: Body) -> None:
        """The kickoff agreement form, submitted (life-group, #13)."""
        user = str(body["user"]["id"])
        form = parse_agreement(view)
        if form is None or self.kickoff is None:
            await ack()
            return
        locale = await self.locale_of(user, form.channel or None)
        outcome = await self.kickoff.propose(
            form, user, coordinator=await self.gate.is_coordinator(user), locale=locale
        )
        if isinstance(outcome, dict):
            # Shown under each field; the modal stays open with what was typed.
            await ack(response_action="errors", errors=outcome)
            return
        await ack()
        await self.gate.tell(user, form.channel or None, outcome)

    async def _on_mention(self, body: Body) -> None:
        event = body.get("event") or {}
        channel = str(event.get("channel", ""))
        await self.coordination.reply_in_thread(
            channel,
            str(event.get("ts", "")),
            self.commands.help_text(self.locales.of_channel(channel)),
            key=str(body.get("event_id", "")),
        )
