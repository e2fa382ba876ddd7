"""Every flow the bot runs, by id."""

from __future__ import annotations

from bot.conversation.flow import Flow
from bot.flows.cases import CASE_CHANGE_FLOW
from bot.flows.group import GROUP_FLOW, REQUEST_FLOW
from bot.flows.side import SIDE_FLOWS
from bot.flows.volunteer import VOLUNTEER_FLOW
from bot.flows.welcome import WELCOME_FLOW
from bot.flows.work import FEEDBACK_FLOW, HOURS_FLOW

FLOWS: dict[str, Flow] = {
    f.id: f
    for f in (
        WELCOME_FLOW,
        VOLUNTEER_FLOW,
        GROUP_FLOW,
        REQUEST_FLOW,
        # life-work (#13)
        HOURS_FLOW,
        FEEDBACK_FLOW,
        CASE_CHANGE_FLOW,  # the case catalogue (#14)
        # side flows (#12): deleting, answering the office, declining, words asked for
        *SIDE_FLOWS,
    )
}
