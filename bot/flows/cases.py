"""The case catalogue in LINE (#14): a group asking for changes to the case written about
its project says what to change in a side flow (it may come while another flow runs, which
resumes after). The case it is about is its parameter `case`."""

from __future__ import annotations

from bot.flows.side import words_flow
from bot.i18n import T

CASE = "case"  # the parameter holding the case id

CASE_CHANGE_FLOW = words_flow(
    "case_change",
    T("事例の修正のお願い", "Changes to the case"),
    T(
        "どこをどう直せばよいか教えてください。事務局が直して、あらためてお聞きします"
        "（やめる場合は「やめる」）。",
        "What should we change, and how? The office will change it and ask you again "
        "(or “cancel”).",
    ),
    T(
        "修正のお願いを取りやめました。公開についてのお返事は、カードのボタンからいつでもどうぞ。",
        "No changes asked. You can still answer about publishing with the card's buttons.",
    ),
    params=(CASE,),
)
