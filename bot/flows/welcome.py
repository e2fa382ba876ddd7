"""The first question after a follow: who are you here as?"""

from __future__ import annotations

from bot.conversation.fields import ChoiceField, Option
from bot.conversation.flow import Flow, Step
from bot.i18n import T

ROLES = (
    Option(
        "volunteer",
        T("ボランティアとして登録", "Join as a volunteer"),
        # The rich menu's ボランティア登録 / sign up sends these.
        (
            "ボランティア",
            "プロボノ",
            "プロボノワーカー",
            "volunteer",
            "登録",
            "ボランティア登録",
            "sign up",
        ),
    ),
    Option(
        "group",
        T("団体として相談", "Ask as a group"),
        ("団体", "npo", "支援先", "相談", "group", "organisation", "organization"),
    ),
)

WELCOME_FLOW = Flow(
    id="welcome",
    version=1,
    title=T("はじめに", "Getting started"),
    confirm=False,
    steps=(
        Step(
            key="role",
            prompt=T(
                ja="どちらでご利用ですか？",
                en="How would you like to take part?",
            ),
            label=T("ご利用の立場", "Role"),
            field=ChoiceField(options=ROLES),
        ),
    ),
)
