"""Contact sharing (issue #13, the group's side): asked at volunteer sign-up and group
intake. After a group confirms its team, each side gets only what the other consented
to share (bot/lifecycle/service.py `exchange_contacts`)."""

from __future__ import annotations

from bot.conversation.fields import ChoiceField, Option, TextField
from bot.conversation.flow import Equals, Step
from bot.i18n import T

SHARE_OPTIONS = (
    Option("yes", T("共有してよい", "Yes, share it"), ("はい", "yes", "ok", "いいよ")),
    Option("no", T("共有しない", "No, don't"), ("いいえ", "no", "しない")),
)

CONTACT_STEP = Step(
    key="contact",
    prompt=T(
        "連絡先を入力してください（例: メールアドレスや電話番号）。",
        "How should they reach you? (e.g. an email address or phone number)",
    ),
    label=T("連絡先", "Contact details"),
    field=TextField(max_len=200),
    when=Equals("share_contact", "yes"),
)


def share_steps(prompt: T) -> tuple[Step, Step]:
    """The question (optional: skipping it means not sharing) and the details when yes."""
    return (
        Step(
            key="share_contact",
            prompt=prompt,
            label=T("連絡先の共有", "Share contact"),
            field=ChoiceField(options=SHARE_OPTIONS),
            optional=True,
        ),
        CONTACT_STEP,
    )


VOLUNTEER_SHARE = share_steps(
    T(
        "チームが決まったら、団体にあなたの連絡先を伝えてもよいですか？"
        "（伝えない場合は事務局を通じてやり取りします。あとでプロフィールから変えられます）",
        "When your team forms, may we give the group your contact details? "
        "(If not, you'll talk through the office. You can change this in your profile.)",
    )
)

GROUP_SHARE = share_steps(
    T(
        "チームが決まったら、ボランティアにご担当者の連絡先を伝えてもよいですか？"
        "（伝えない場合は事務局を通じてやり取りします）",
        "When the team forms, may we give the volunteers the contact person's details? "
        "(If not, you'll talk through the office.)",
    )
)


def share_fields(answers: dict[str, object]) -> dict[str, object]:
    """The columns the answers set: asked and skipped is "no"; not asked leaves them."""
    if "share_contact" not in answers:
        return {}
    share = "yes" if answers.get("share_contact") == "yes" else "no"
    contact = answers.get("contact") if share == "yes" else None
    return {"share_contact": share, "contact": str(contact) if contact else None}
