"""The case catalogue in LINE (#14): a group asking for changes to the case written about
its project says what to change in one short flow. The case it is about is put in the
flow's answers under `case` when the flow starts (it is not a question)."""

from __future__ import annotations

from bot.conversation.fields import TextField
from bot.conversation.flow import Flow, Step
from bot.i18n import T

CASE = "case"  # the answers' key holding the case id

CASE_CHANGE_FLOW = Flow(
    id="case_change",
    version=1,
    title=T("事例の修正のお願い", "Changes to the case"),
    confirm=False,
    steps=(
        Step(
            key="words",
            prompt=T(
                "どこをどう直せばよいか教えてください。事務局が直して、あらためてお聞きします。",
                "What should we change, and how? The office will change it and ask you again.",
            ),
            label=T("修正のお願い", "Changes"),
            field=TextField(max_len=2000),
        ),
    ),
)
