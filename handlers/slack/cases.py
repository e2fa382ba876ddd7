"""The case catalogue's edit form in Slack: `/tsunagu cases edit ID` opens it (from the
command listener), and its submission is checked field by field and saved here."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.i18n import T, Texts
from bot.office.service import CaseForm, Office
from handlers.slack.gate import CoordinatorGate
from handlers.slack.views import CASE_VIEW, case_block, parse_case, render_case_modal

Body = dict[str, Any]


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    saved = T(
        "事例 #{id} を保存しました。公開は `/tsunagu cases publish {id}` です（団体の同意の後）。",
        "Case #{id} is saved. `/tsunagu cases publish {id}` publishes it (once the group "
        "has consented).",
    )
    reasked = T(
        "事例 #{id} を保存しました。団体が同意した後の変更なので、公開を止めて団体に LINE で"
        "あらためてお聞きしています（答えはプロジェクトのスレッドに届きます）。",
        "Case #{id} is saved. The group had consented to the earlier text, so the case is off "
        "the catalogue and the group is asked again in LINE (its answer comes to the "
        "project's thread).",
    )


TXT = _Texts


class CaseForms:
    """Opens the case form and saves what a coordinator submitted."""

    def __init__(self, app: AsyncApp, gate: CoordinatorGate, office: Office) -> None:
        self.client: AsyncWebClient = gate.client
        self.gate = gate
        self.office = office
        app.view(CASE_VIEW)(self._on_submit)

    async def open(self, trigger_id: str, form: CaseForm, locale: str) -> None:
        # The trigger id lives 3 seconds: the modal opens right away.
        await self.client.views_open(trigger_id=trigger_id, view=render_case_modal(form, locale))

    async def _on_submit(self, ack: AsyncAck, body: Body, view: Body) -> None:
        user = str(body["user"]["id"])
        parsed = parse_case(view)
        if parsed is None or not await self.gate.is_coordinator(user):
            await ack()
            await self.gate.refuse(user, None, body)
            return
        case_id, version, values = parsed
        loc = await self.gate.locale_of(user)
        errors = await self.office.save_case(case_id, version, values, user)
        if errors:
            # Shown under each field; the form stays open with what was typed.
            shown = {case_block(k): v(loc) for k, v in errors.items()}
            await ack(response_action="errors", errors=shown)
            return
        await ack()
        state = (await self.office.cases.get(case_id)).status
        said = TXT.reasked if state == "consent_asked" else TXT.saved
        await self.gate.tell(user, None, said(loc, id=case_id))
