"""Group intake (団体の相談): what the Wako 共助マッチングの種 sheet and the Kawasaki menu need."""

from __future__ import annotations

from bot.conversation.fields import ChoiceField, ConsentField, MultiChoiceField, TextField
from bot.conversation.flow import Flow, Includes, Step
from bot.flows.contact import GROUP_SHARE
from bot.i18n import T
from bot.taxonomy import (
    AGREE_OPTIONS,
    INTERESTS,
    LANGUAGES,
    MENUS,
    MODES,
    ORG_KINDS,
    PERIODS,
    SECTORS,
)

GROUP_NOTICE = T(
    ja=(
        "【個人情報・団体情報の取り扱いについて】\n"
        "ご回答の内容は、プログラム事務局（コーディネーター）が相談内容を確認し、"
        "ボランティアとのマッチングを行うためにだけ使います。"
        "ボランティアに担当者のお名前や連絡先をお伝えするのは、双方が参加に同意した後です。"
        "「退会」と送ると、お預かりした情報を削除できます。"
    ),
    en=(
        "[How we handle your information]\n"
        "What you tell us is used only by the programme office (coordinators) to review "
        "your request and match volunteers to it. The contact person's name and details "
        "are shared with volunteers only after both sides agree to work together. "
        "Send “delete my data” at any time to delete what we hold."
    ),
)

ORG_STEPS = (
    Step(
        key="org_name",
        prompt=T("団体名を教えてください。", "What is your group's name?"),
        label=T("団体名", "Group name"),
        field=TextField(max_len=80),
    ),
    Step(
        key="org_kind",
        prompt=T("団体の種類は？", "What kind of group is it?"),
        label=T("団体の種類", "Kind"),
        field=ChoiceField(options=ORG_KINDS),
    ),
    Step(
        key="org_sector",
        prompt=T(
            "団体の分野（セクター）はどれに近いですか？（わからなければ「スキップ」）",
            "Which sector is your group closest to? (Or tap Skip.)",
        ),
        label=T("セクター", "Sector"),
        field=ChoiceField(options=SECTORS),
        optional=True,
    ),
    Step(
        key="org_fields",
        prompt=T("活動分野を選んでください。", "Which fields do you work in?"),
        label=T("活動分野", "Fields"),
        field=MultiChoiceField(options=INTERESTS, min=1),
    ),
    Step(
        key="org_area",
        prompt=T(
            "主に活動している市区町村は？（例: 八王子市）",
            "Which city or ward do you mainly work in? (e.g. Hachioji)",
        ),
        label=T("活動地域", "Area"),
        field=TextField(max_len=60),
    ),
    Step(
        key="activity",
        prompt=T(
            "どんな活動をしている団体か、簡単に教えてください。",
            "Briefly, what does your group do?",
        ),
        label=T("活動内容", "Activities"),
        field=TextField(max_len=500, min_len=5, multiline=True),
    ),
    Step(
        key="strengths",
        prompt=T(
            "団体の強み（ほかの団体や地域に提供できること）があれば教えてください。"
            "なければ「スキップ」。",
            "What are your group's strengths, things you could offer others? Or tap Skip.",
        ),
        label=T("団体の強み", "Strengths"),
        field=TextField(max_len=300, multiline=True),
        optional=True,
    ),
    Step(
        key="needs_people",
        prompt=T(
            "困っていること【ひと】: 足りない人手やスキルは？（なければ「スキップ」）",
            "Needs — PEOPLE: what hands or skills are you short of? (or Skip)",
        ),
        label=T("必要なこと（ひと）", "Needs: people"),
        field=TextField(max_len=300, multiline=True),
        optional=True,
    ),
    Step(
        key="needs_things",
        prompt=T(
            "困っていること【もの】: 場所や物で足りないものは？（なければ「スキップ」）",
            "Needs — THINGS: places or things you lack? (or Skip)",
        ),
        label=T("必要なこと（もの）", "Needs: things"),
        field=TextField(max_len=300, multiline=True),
        optional=True,
    ),
    Step(
        key="needs_money",
        prompt=T(
            "困っていること【おかね】: 資金面の課題は？（なければ「スキップ」）",
            "Needs — MONEY: funding problems? (or Skip)",
        ),
        label=T("必要なこと（おかね）", "Needs: money"),
        field=TextField(max_len=300, multiline=True),
        optional=True,
    ),
)

REQUEST_STEPS = (
    Step(
        key="challenge",
        prompt=T(
            "今回プロボノで解決したい課題を、団体の言葉で教えてください。",
            "In your own words, what challenge would you like pro bono help with?",
        ),
        label=T("課題", "Challenge"),
        field=TextField(max_len=1000, min_len=10, multiline=True),
    ),
    Step(
        key="menus",
        prompt=T(
            "希望する支援メニューを選んでください。",
            "Which support menus would help?",
        ),
        label=T("希望メニュー", "Menus"),
        field=MultiChoiceField(options=MENUS, min=1, max=3),
    ),
    Step(
        key="menu_other",
        prompt=T(
            "「その他」の支援内容を具体的に教えてください。",
            "Please describe the other support you need.",
        ),
        label=T("その他の支援", "Other support"),
        field=TextField(max_len=300, multiline=True),
        when=Includes("menus", "other"),
    ),
    Step(
        key="languages",
        prompt=T(
            "翻訳・通訳が必要な言語を選んでください（日本語との組み合わせを想定しています）。",
            "Which languages do you need translated or interpreted (to or from Japanese)?",
        ),
        label=T("翻訳の言語", "Languages"),
        field=MultiChoiceField(options=LANGUAGES, min=1),
        when=Includes("menus", "translation"),
    ),
    Step(
        key="period",
        prompt=T("希望する時期は？", "When would you like the help?"),
        label=T("希望時期", "Period"),
        field=ChoiceField(options=PERIODS),
    ),
    Step(
        key="mode",
        prompt=T(
            "ボランティアとのやり取りの形は？",
            "How would you like to work with the volunteers?",
        ),
        label=T("実施の形", "Mode"),
        field=ChoiceField(options=MODES),
    ),
)

CONTACT_STEPS = (
    Step(
        key="contact_name",
        prompt=T(
            "ご担当者のお名前を教えてください。",
            "Who is the contact person? (name)",
        ),
        label=T("担当者名", "Contact"),
        field=TextField(max_len=40),
    ),
    Step(
        key="contact_role",
        prompt=T(
            "団体での役割は？（例: 代表、事務局）",
            "Their role in the group? (e.g. chair, secretary)",
        ),
        label=T("担当者の役割", "Contact's role"),
        field=TextField(max_len=40),
    ),
    # Version 4 (life-group, #13): may the team have the contact person's details?
    *GROUP_SHARE,
    Step(
        key="consent",
        prompt=GROUP_NOTICE,
        label=T("情報の取り扱い同意", "Consent"),
        field=ConsentField(
            options=AGREE_OPTIONS,
            refusal=T(
                ja=(
                    "ご同意いただけない場合はご相談を受け付けできません。"
                    "気が変わったら「同意する」を、やめる場合は「やめる」を送ってください。"
                ),
                en=(
                    "We cannot take your request without your consent. Tap “I agree” "
                    "if you change your mind, or send “cancel” to stop."
                ),
            ),
        ),
        editable=False,
        summarised=False,
    ),
)

# Version 2 asks for the languages of a translation request, version 3 the sector,
# version 4 whether the team may have the contact person's details;
# conversations in progress resume at the first question still unanswered.
GROUP_FLOW = Flow(
    id="group",
    version=4,
    title=T("団体からのご相談", "Request from a group"),
    intro=T(
        ja=(
            "団体のご相談を受け付けます。団体のこと、困りごと、希望する支援について"
            "順にお聞きします（5分ほど）。「戻る」でひとつ前へ、「やめる」で中止できます。"
        ),
        en=(
            "Let's take your group's request: about your group, what you need and the "
            "support you'd like (about 5 minutes). Send “back” for the previous question "
            "or “cancel” to stop."
        ),
    ),
    confirm_label=T("この内容で相談する", "Submit request"),
    steps=ORG_STEPS + REQUEST_STEPS + CONTACT_STEPS,
)

# A group that is already registered asks again: only the request itself.
REQUEST_FLOW = Flow(
    id="request",
    version=2,
    title=T("新しいご相談", "New request"),
    confirm_label=T("この内容で相談する", "Submit request"),
    steps=REQUEST_STEPS,
)
