"""Side flows: short exchanges that may start while another flow runs (issue #12, item 3).

Deleting one's data, a group answering a coordinator's question, the reason for declining
an invitation, the words of a change asked for (team, kickoff agreement), contact details
to share, and what is missing from a delivery. Each is one step run by the engine; what
it is about (the question, the invitation, the project...) is given as a parameter when
it starts. When it ends or is cancelled, the flow it interrupted resumes.
"""

from __future__ import annotations

from bot import postback
from bot.conversation.fields import ChoiceField, Option, WordsField
from bot.conversation.flow import Flow, Step
from bot.i18n import T, Texts

# Parameters (answers given at start, not asked).
QUESTION = "question"  # a coordinator's question id
MATCH = "match"  # an invitation (match) id
PROJECT = "project"  # a project id
AGREEMENT = "agreement"  # a kickoff agreement version id
VERSION = "v"  # that agreement's version number, shown in the prompt

ANSWER = "answer"  # the step of every side flow: its one answer


class _Texts(Texts):
    """What the side flows say, in Japanese and English."""

    delete_confirm = T(
        ja=(
            "登録内容（プロフィール・スキル・同意の記録）と会話の記録をすべて削除します。"
            "元には戻せません。削除してよろしいですか？"
        ),
        en=(
            "This deletes everything we hold about you: your profile, skills, consent "
            "record and our conversation. It cannot be undone. Delete?"
        ),
    )
    delete_yes = T(ja="削除する", en="Delete")
    delete_no = T(ja="削除しない", en="Keep my data")
    delete_ask_again = T(
        ja="「削除する」か「削除しない」を選んでください。",
        en="Please choose “Delete” or “Keep my data”.",
    )
    delete_kept = T(ja="削除を取りやめました。", en="Nothing was deleted.")
    answer_prompt = T(
        "事務局への回答を入力して送ってください（やめる場合は「やめる」）。",
        "Type your answer to the programme office (or “cancel”).",
    )
    answer_cancelled = T("回答を取りやめました。", "Answer cancelled.")
    answer_text_only = T("回答は文字で送ってください。", "Please send your answer as text.")
    inv_decline_reason = T(
        "差し支えなければ、辞退の理由を教えてください（今後のご案内の参考にします）。",
        "If you like, tell us why (it helps us suggest better projects).",
    )
    inv_skip = T("理由なしで辞退", "Decline, no reason")
    team_change_prompt = T(
        "どのような変更をご希望か、文字で送ってください（やめる場合は「やめる」）。",
        "Please type what you would like changed (or “cancel”).",
    )
    team_change_cancelled = T(
        "変更の依頼を取りやめました。チーム案はそのままです。",
        "Change request cancelled. The proposed team stands.",
    )
    agreement_change_prompt = T(
        "合意案（第{v}版）について、変更してほしい点を文字で送ってください"
        "（やめる場合は「やめる」）。",
        "Please type what you would like changed in the agreement (version {v}) (or “cancel”).",
    )
    agreement_change_cancelled = T(
        "変更の依頼を取りやめました。合意案は確認待ちのままです。",
        "Change request cancelled. The agreement is still waiting for your answer.",
    )
    contact_prompt = T(
        "連絡先を入力してください（例: メールアドレスや電話番号。やめる場合は「やめる」）。",
        "How should they reach you? (e.g. an email address or phone number, or “cancel”)",
    )
    contact_cancelled = T(
        "連絡先の入力を取りやめました（共有はしていません）。",
        "Stopped: no contact details were shared.",
    )
    missing_prompt = T(
        "足りない点・直してほしい点を文字で送ってください。チームのチャンネルにそのまま伝えます"
        "（やめる場合は「やめる」）。",
        "Please write what is missing or should change; we pass your words to the team "
        "(or send “cancel”).",
    )
    missing_cancelled = T("取りやめました。", "Cancelled.")
    text_only = T("文字で送ってください。", "Please send it as text.")


TXT = _Texts


def words_flow(
    id: str,
    title: T,
    prompt: T,
    cancelled: T,
    *,
    params: tuple[str, ...],
    max_len: int = 2000,
) -> Flow:
    """A flow asking for words once (passed on as typed), with a parameter or two."""
    not_text = TXT.answer_text_only if id == "answer" else TXT.text_only
    return Flow(
        id=id,
        version=1,
        title=title,
        steps=(
            Step(
                key=ANSWER,
                prompt=prompt,
                label=title,
                field=WordsField(max_len=max_len, empty=not_text),
            ),
        ),
        confirm=False,
        side=True,
        params=params,
        cancelled=cancelled,
        not_text=not_text,
        reask_invalid=False,
    )


DELETE_FLOW = Flow(
    id="delete",
    version=1,
    title=T("データ削除", "Delete my data"),
    steps=(
        Step(
            key=ANSWER,
            prompt=TXT.delete_confirm,
            label=T("削除", "Delete"),
            field=ChoiceField(
                options=(
                    Option(
                        "yes",
                        TXT.delete_yes,
                        ("はい", "退会する", "yes", "delete", "ok"),
                    ),
                    Option(
                        "no",
                        TXT.delete_no,
                        ("いいえ", "no", "keep"),
                    ),
                ),
                refuse=TXT.delete_ask_again,
            ),
        ),
    ),
    confirm=False,
    side=True,
    cancelled=TXT.delete_kept,
    not_text=TXT.delete_ask_again,
)

ANSWER_FLOW = words_flow(
    "answer",
    T("事務局への回答", "Answer the office"),
    TXT.answer_prompt,
    TXT.answer_cancelled,
    params=(QUESTION,),
)

DECLINE_FLOW = Flow(
    id="decline",
    version=1,
    title=T("辞退の理由", "Reason to decline"),
    steps=(
        Step(
            key=ANSWER,
            prompt=TXT.inv_decline_reason,
            label=T("理由", "Reason"),
            field=WordsField(max_len=500, clip=True),
            optional=True,
            skip_label=TXT.inv_skip,
            skip_data=postback.SkipReason().pack(),
        ),
    ),
    confirm=False,
    side=True,
    params=(MATCH,),
)

TEAM_CHANGE_FLOW = words_flow(
    "team_change",
    T("チーム案の変更", "Change the team"),
    TXT.team_change_prompt,
    TXT.team_change_cancelled,
    params=(PROJECT,),
)
AGREEMENT_CHANGE_FLOW = words_flow(
    "agr_change",
    T("合意案の変更", "Change the agreement"),
    TXT.agreement_change_prompt,
    TXT.agreement_change_cancelled,
    params=(AGREEMENT, VERSION),
)
CONTACT_FLOW = words_flow(
    "contact",
    T("連絡先", "Contact details"),
    TXT.contact_prompt,
    TXT.contact_cancelled,
    params=(),
    max_len=200,
)
MISSING_FLOW = words_flow(
    "missing",
    T("納品への意見", "What is missing"),
    TXT.missing_prompt,
    TXT.missing_cancelled,
    params=(PROJECT,),
)

SIDE_FLOWS = (
    DELETE_FLOW,
    ANSWER_FLOW,
    DECLINE_FLOW,
    TEAM_CHANGE_FLOW,
    AGREEMENT_CHANGE_FLOW,
    CONTACT_FLOW,
    MISSING_FLOW,
)
