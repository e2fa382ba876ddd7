"""Volunteer sign-up (プロボノワーカー登録): one question at a time."""

from __future__ import annotations

from bot.conversation.fields import (
    ChoiceField,
    ConsentField,
    MultiChoiceField,
    NumberField,
    TextField,
)
from bot.conversation.flow import AnyOf, Equals, Flow, Includes, Not, Step
from bot.flows.contact import VOLUNTEER_SHARE
from bot.i18n import T
from bot.taxonomy import (
    AGE_BANDS,
    AGREE_OPTIONS,
    AVAILABILITY,
    COMPANY_PROGRAMME,
    INTERESTS,
    LANGUAGES,
    MODES,
    OCCUPATIONS,
    SKILLS,
)

PRIVACY_NOTICE = T(
    ja=(
        "【個人情報の取り扱いについて】\n"
        "ご回答いただいた内容（お名前・地域・スキル・活動できる時間など）は、"
        "プロボノ・共助プログラムの運営と、支援先団体とのマッチングのためだけに使います。"
        "団体に連絡先をお伝えするのは、あなたと団体の双方が参加に同意した後です。"
        "「プロフィール」でいつでも内容を確認・変更でき、「休止」で招待を止め、"
        "「退会」ですべてのデータを削除できます。"
    ),
    en=(
        "[How we handle your personal data]\n"
        "What you tell us (name, area, skills, availability and so on) is used only to run "
        "the pro bono programme and to match you with community groups. Your contact details "
        "are shared with a group only after both you and the group agree to work together. "
        "Send “profile” at any time to see or change it, “pause” to stop invitations, and "
        "“delete my data” to delete everything we hold."
    ),
)

# Version 2 adds the optional age band, employer and company-programme questions;
# version 3 asks whether the group may have the volunteer's contact details;
# conversations in progress resume at the first question still unanswered.
VOLUNTEER_FLOW = Flow(
    id="volunteer",
    version=3,
    title=T("ボランティア登録", "Volunteer sign-up"),
    intro=T(
        ja=(
            "ボランティア（プロボノワーカー）登録を始めます。質問は15個ほど、4分ほどで終わります。"
            "途中で「戻る」でひとつ前へ、「やめる」で中止できます。"
            "中断しても、次に話しかけたときに続きから再開できます。"
        ),
        en=(
            "Let's sign you up as a pro bono volunteer. About 15 questions, 4 minutes. "
            "Send “back” to go to the previous question or “cancel” to stop. "
            "If you leave, we'll pick up where you left off."
        ),
    ),
    confirm_label=T("この内容で保存", "Save"),
    steps=(
        Step(
            key="display_name",
            prompt=T(
                ja="お名前を教えてください（ニックネームでも大丈夫です）。",
                en="What should we call you? (A nickname is fine.)",
            ),
            label=T("お名前", "Name"),
            field=TextField(max_len=30),
        ),
        Step(
            key="area",
            prompt=T(
                ja="お住まい、または活動したい市区町村を教えてください（例: 川崎市中原区）。",
                en="Which city or ward do you live in, or want to be active in? "
                "(e.g. Kawasaki, Nakahara-ku)",
            ),
            label=T("地域", "Area"),
            field=TextField(max_len=60),
        ),
        Step(
            key="skills",
            prompt=T(
                ja="活かせるスキル・専門分野を選んでください。",
                en="Which skills could you offer?",
            ),
            label=T("スキル", "Skills"),
            field=MultiChoiceField(options=SKILLS, min=1, max=10),
        ),
        Step(
            key="skills_other",
            prompt=T(
                ja="「その他」のスキルを具体的に教えてください（例: 料理教室の運営）。",
                en="Please describe your other skills (e.g. running cooking classes).",
            ),
            label=T("その他のスキル", "Other skills"),
            field=TextField(max_len=200),
            when=Includes("skills", "other"),
        ),
        Step(
            key="languages",
            prompt=T(
                ja="翻訳・通訳できる言語を選んでください（日本語との組み合わせを想定しています）。",
                en="Which languages can you translate or interpret (paired with Japanese)?",
            ),
            label=T("翻訳の言語", "Languages"),
            field=MultiChoiceField(options=LANGUAGES, min=1),
            when=Includes("skills", "translation"),
        ),
        Step(
            key="occupation",
            prompt=T(ja="現在のご職業は？", en="What do you do at present?"),
            label=T("ご職業", "Occupation"),
            field=ChoiceField(options=OCCUPATIONS),
        ),
        Step(
            key="employer",
            prompt=T(
                ja="お勤め先の会社・団体名を教えてください（任意です。なければ「スキップ」）。",
                en="Which company or organisation do you work for? (Optional: or tap Skip.)",
            ),
            label=T("勤務先", "Employer"),
            field=TextField(max_len=80),
            when=AnyOf((Equals("occupation", "employee"), Equals("occupation", "public_sector"))),
            optional=True,
        ),
        Step(
            key="via_company",
            prompt=T(
                ja="勤務先の制度（企業のプロボノ・社会貢献プログラム）を通じての参加ですか？",
                en="Are you taking part through your employer's programme "
                "(a company pro bono or volunteering scheme)?",
            ),
            label=T("参加の経路", "Taking part"),
            field=ChoiceField(options=COMPANY_PROGRAMME),
            when=Not(Equals("employer", None)),
            optional=True,
        ),
        Step(
            key="age_band",
            prompt=T(
                ja="差し支えなければ、年代を教えてください（任意です。なければ「スキップ」）。",
                en="If you don't mind, which age band are you in? (Optional: or tap Skip.)",
            ),
            label=T("年代", "Age band"),
            field=ChoiceField(options=AGE_BANDS),
            optional=True,
        ),
        Step(
            key="experience_years",
            prompt=T(
                ja="そのスキルでの実務経験はおよそ何年ですか？（0〜60の数字）",
                en="About how many years of experience do you have in those skills? (0 to 60)",
            ),
            label=T("経験年数", "Experience"),
            field=NumberField(
                min=0,
                max=60,
                unit=T("年", " years"),
                unit_one=T("年", " year"),
                presets=(0, 1, 3, 5, 10, 20, 30),
            ),
        ),
        Step(
            key="hours_per_week",
            prompt=T(
                ja="1週間に活動できるのは何時間くらいですか？（1〜40の数字）",
                en="How many hours a week could you give? (1 to 40)",
            ),
            label=T("活動時間/週", "Hours a week"),
            field=NumberField(
                min=1,
                max=40,
                unit=T("時間", " hours"),
                unit_one=T("時間", " hour"),
                presets=(1, 2, 3, 5, 8, 10),
            ),
        ),
        Step(
            key="availability",
            prompt=T(
                ja="活動しやすい時間帯は？",
                en="When are you usually available?",
            ),
            label=T("活動できる時間帯", "Availability"),
            field=MultiChoiceField(options=AVAILABILITY, min=1),
        ),
        Step(
            key="mode",
            prompt=T(
                ja="参加の形は？",
                en="How would you like to take part?",
            ),
            label=T("参加の形", "Mode"),
            field=ChoiceField(options=MODES),
        ),
        Step(
            key="interests",
            prompt=T(
                ja="関心のある分野を選んでください。",
                en="Which fields are you interested in?",
            ),
            label=T("関心分野", "Interests"),
            field=MultiChoiceField(options=INTERESTS, min=1),
        ),
        # Version 3 (life-group, #13): may the group have your contact details?
        *VOLUNTEER_SHARE,
        Step(
            key="consent",
            prompt=PRIVACY_NOTICE,
            label=T("個人情報の同意", "Privacy consent"),
            field=ConsentField(
                options=AGREE_OPTIONS,
                refusal=T(
                    ja=(
                        "ご同意いただけない場合は登録できません。"
                        "気が変わったら「同意する」を、やめる場合は「やめる」を送ってください。"
                    ),
                    en=(
                        "We cannot sign you up without your consent. If you change your "
                        "mind tap “I agree”, or send “cancel” to stop."
                    ),
                ),
            ),
            editable=False,
            summarised=False,
        ),
    ),
)
