"""The words of the domain: skills, fields of interest, occupations, with ja/en labels.

Keys are stable (stored in the database and used by matching); labels and synonyms
are what people type and read. Labels stay within 18 characters so that a "✓ " mark
still fits LINE's 20-character quick-reply label.
"""

from __future__ import annotations

from bot.conversation.fields import Option
from bot.i18n import T

# Covers every support menu in docs/domain.md (課題整理WS, チラシ, Web, SNS, クラウド,
# 営業, クラファン, 会計, 法律, 翻訳, 情報セキュリティ, ...).
SKILLS: tuple[Option, ...] = (
    Option("facilitation", T("ファシリテーション", "Facilitation"), ("司会", "ワークショップ")),
    Option(
        "consulting",
        T("経営・戦略", "Consulting"),
        ("コンサル", "コンサルティング", "経営", "strategy"),
    ),
    Option(
        "graphic_design",
        T("グラフィックデザイン", "Graphic design"),
        ("デザイン", "チラシ", "ポスター", "design"),
    ),
    Option(
        "architecture",
        T("建築・空間デザイン", "Architecture/space"),
        ("建築", "空間デザイン", "インテリア"),
    ),
    Option("copywriting", T("コピーライティング", "Copywriting"), ("コピー",)),
    Option(
        "web",
        T("Web制作", "Web development"),
        (
            "ホームページ",
            "ウェブ",
            "web制作",
            "website",
            "wordpress",
            "wix",
            "jimdo",
            "webデザイン",
        ),
    ),
    Option(
        "social_media", T("SNS運用", "Social media"), ("sns", "facebook", "instagram", "twitter")
    ),
    Option(
        "marketing", T("マーケティング・広報", "Marketing/PR"), ("マーケティング", "広報", "pr")
    ),
    Option("sales", T("営業", "Sales"), ("セールス", "営業資料")),
    Option("presentation", T("プレゼン・資料作成", "Presentations"), ("プレゼン", "資料作成")),
    Option(
        "it_cloud",
        T("IT・クラウドツール", "IT/cloud tools"),
        ("it", "クラウド", "google workspace", "kintone"),
    ),
    Option("it_security", T("情報セキュリティ", "IT security"), ("セキュリティ", "security")),
    Option(
        "fundraising",
        T("資金調達・クラファン", "Fundraising"),
        ("クラウドファンディング", "クラファン", "助成金", "ファンドレイジング", "crowdfunding"),
    ),
    Option("accounting", T("会計・経理", "Accounting"), ("会計", "経理", "簿記", "bookkeeping")),
    Option("tax", T("税務", "Tax"), ("税理士", "税金")),
    Option("law", T("法律", "Law"), ("弁護士", "司法書士", "行政書士", "legal")),
    Option("labour", T("労務・人事", "HR/labour"), ("労務", "人事", "社労士", "hr")),
    Option("translation", T("翻訳・通訳", "Translation"), ("翻訳", "通訳", "interpreting")),
    Option(
        "writing",
        T("ライティング・編集", "Writing/editing"),
        ("ライティング", "編集", "文章", "writing", "editing"),
    ),
    Option(
        "photo_video", T("写真・動画", "Photo/video"), ("写真", "動画", "映像", "photo", "video")
    ),
    Option("training", T("研修・講師", "Training/teaching"), ("講師", "研修", "教育")),
    Option(
        "community",
        T("地域活動・運営", "Community work"),
        ("地域活動", "コミュニティ", "まちづくり"),
    ),
    Option("other", T("その他", "Other"), ("そのほか", "others")),
)

LANGUAGES: tuple[Option, ...] = (
    Option("en", T("英語", "English")),
    Option("zh", T("中国語", "Chinese"), ("中文",)),
    Option("ko", T("韓国語", "Korean"), ("ハングル", "朝鮮語")),
    Option("vi", T("ベトナム語", "Vietnamese")),
    Option("pt", T("ポルトガル語", "Portuguese")),
    Option("es", T("スペイン語", "Spanish")),
    Option("tl", T("タガログ語", "Tagalog"), ("フィリピノ語", "filipino")),
    Option("ne", T("ネパール語", "Nepali")),
    Option("id", T("インドネシア語", "Indonesian")),
    Option("th", T("タイ語", "Thai")),
    Option("fr", T("フランス語", "French")),
    Option("other", T("その他の言語", "Other language"), ("その他", "other")),
)

OCCUPATIONS: tuple[Option, ...] = (
    Option("employee", T("会社員", "Company employee"), ("会社勤め", "正社員", "employee")),
    Option(
        "self_employed",
        T("自営業・フリーランス", "Self-employed"),
        ("自営業", "フリーランス", "個人事業主", "freelance", "freelancer"),
    ),
    Option("public_sector", T("公務員・団体職員", "Public sector"), ("公務員", "団体職員")),
    Option("senior", T("シニア・退職者", "Senior/retired"), ("退職", "シニア", "retired")),
    Option("student", T("学生", "Student"), ("大学生", "大学院生", "高校生")),
    Option("other", T("その他", "Other"), ("そのほか",)),
)

AVAILABILITY: tuple[Option, ...] = (
    Option("weekday_day", T("平日昼", "Weekday daytime"), ("平日日中", "平日の昼", "weekday day")),
    Option(
        "weekday_evening",
        T("平日夜", "Weekday evenings"),
        ("平日の夜", "weekday evening", "evenings"),
    ),
    Option("weekend", T("土日祝", "Weekends"), ("土日", "週末", "weekend")),
)

MODES: tuple[Option, ...] = (
    Option("online", T("オンライン", "Online"), ("リモート", "remote")),
    Option("in_person", T("対面", "In person"), ("現地", "オフライン", "in-person", "offline")),
    Option("either", T("どちらでも", "Either"), ("両方", "どちらも", "both", "any")),
)

# Activity fields as Chiba's コラボナビ and the groups in docs/domain.md use them.
INTERESTS: tuple[Option, ...] = (
    Option("community", T("まちづくり", "Community building"), ("地域", "町づくり")),
    Option("elderly", T("福祉（高齢者）", "Elderly welfare"), ("高齢者", "介護")),
    Option("disability", T("福祉（障害）", "Disability welfare"), ("障害", "障がい", "障害者")),
    Option("children", T("福祉（子ども）", "Children's welfare"), ("子ども", "こども", "児童")),
    Option("parenting", T("子育て", "Parenting"), ("子育て支援",)),
    Option("environment", T("環境", "Environment"), ("自然", "エコ")),
    Option("education", T("教育・文化", "Education/culture"), ("教育", "文化", "芸術")),
    Option("animals", T("動物", "Animals"), ("犬", "猫", "ペット", "dogs")),
    Option("international", T("国際・多文化共生", "International"), ("国際", "多文化", "国際交流")),
    Option("disaster", T("防災・災害支援", "Disaster relief"), ("防災", "災害", "被災地")),
    Option("health", T("健康・医療", "Health"), ("医療", "健康")),
    Option("sports", T("スポーツ", "Sports")),
    Option("other", T("その他", "Other"), ("そのほか",)),
)

# Age bands, as programme offices report who took part (Kawasaki: 20代 to 60代以上).
AGE_BANDS: tuple[Option, ...] = (
    Option("under20", T("10代", "Under 20"), ("10代以下", "10代", "teens")),
    Option("20s", T("20代", "20s"), ("20", "20代", "twenties")),
    Option("30s", T("30代", "30s"), ("30", "30代", "thirties")),
    Option("40s", T("40代", "40s"), ("40", "40代", "forties")),
    Option("50s", T("50代", "50s"), ("50", "50代", "fifties")),
    Option("60plus", T("60代以上", "60 or over"), ("60", "60代", "70代", "60s", "70s", "over 60")),
)

# Sectors of organisations (Sendai counts companies and sectors).
SECTORS: tuple[Option, ...] = (
    Option("company", T("企業", "Company"), ("会社", "株式会社", "business")),
    Option("government", T("行政", "Government"), ("市役所", "役所", "自治体", "public")),
    Option("school", T("学校", "School"), ("小学校", "中学校", "高校", "pta")),
    Option(
        "neighbourhood",
        T("町内会・自治会", "Neighbourhood assoc."),
        ("町内会", "自治会", "町会", "neighborhood"),
    ),
    Option("npo", T("NPO・市民活動", "NPO/civic group"), ("npo", "市民活動", "任意団体")),
    Option("university", T("大学", "University"), ("大学", "college")),
)

# Whether a volunteer comes through their employer's programme (企業からの参加).
COMPANY_PROGRAMME: tuple[Option, ...] = (
    Option(
        "yes",
        T("会社の制度で参加", "Via my employer"),
        ("はい", "yes", "会社の制度", "企業派遣", "company"),
    ),
    Option("no", T("個人で参加", "On my own"), ("いいえ", "no", "個人")),
)

AGREE_OPTIONS: tuple[Option, ...] = (
    Option("agree", T("同意する", "I agree"), ("同意", "同意します", "はい", "yes", "agree")),
    Option("disagree", T("同意しない", "I do not agree"), ("いいえ", "no", "disagree")),
)


def label(options: tuple[Option, ...], key: str, locale: str) -> str:
    """The label of an option key in the locale (the key itself if unknown)."""
    for option in options:
        if option.key == key:
            return option.label(locale)
    return key


# Support menus (チャレンジメニュー, Kawasaki) and the skills each typically needs
# (docs/domain.md); matching reads SKILLS_BY_MENU, coordinators can adjust per project.
MENUS: tuple[Option, ...] = (
    Option(
        "issue_workshop",
        T("課題整理ワークショップ", "Issue workshop"),
        ("課題整理", "ワークショップ"),
    ),
    Option(
        "space_workshop",
        T("スペース活用WS", "Space-use workshop"),
        ("スペース活用", "スペース活用ワークショップ"),
    ),
    Option(
        "flyer",
        T("チラシ・ポスター制作", "Flyer/poster"),
        ("チラシ", "ポスター", "イベントチラシ", "flyer", "poster"),
    ),
    Option(
        "website",
        T("ホームページ制作", "Website"),
        ("ホームページ", "web", "wix", "jimdo", "wordpress", "website"),
    ),
    Option(
        "social_media", T("SNS活用", "Social media page"), ("facebook", "facebookページ", "sns")
    ),
    Option(
        "cloud_tools",
        T("クラウドツール活用", "Cloud tools"),
        ("クラウド", "クラウドツール", "cloud"),
    ),
    Option("sales", T("営業資料・営業力", "Sales material"), ("営業", "営業資料", "sales")),
    Option(
        "crowdfunding", T("クラウドファンディング", "Crowdfunding"), ("クラファン", "crowdfunding")
    ),
    Option(
        "accounting",
        T("会計相談・経理効率化", "Accounting advice"),
        ("会計", "経理", "会計相談", "accounting"),
    ),
    Option("legal", T("法律相談", "Legal advice"), ("法律", "legal", "law")),
    Option("translation", T("外国語翻訳", "Translation"), ("翻訳", "translation")),
    Option("it_security", T("情報セキュリティ", "IT security"), ("セキュリティ", "security")),
    Option("other", T("その他", "Other"), ("そのほか",)),
)

SKILLS_BY_MENU: dict[str, tuple[str, ...]] = {
    "issue_workshop": ("facilitation", "consulting"),
    "space_workshop": ("facilitation", "architecture", "community"),
    "flyer": ("graphic_design", "copywriting"),
    "website": ("web", "writing"),
    "social_media": ("social_media", "marketing", "writing"),
    "cloud_tools": ("it_cloud", "training"),
    "sales": ("sales", "marketing", "presentation"),
    "crowdfunding": ("fundraising", "marketing", "writing", "photo_video"),
    "accounting": ("accounting", "tax"),
    "legal": ("law",),
    "translation": ("translation",),
    "it_security": ("it_security",),
    "other": (),
}

ORG_KINDS: tuple[Option, ...] = (
    Option("npo", T("NPO法人", "NPO"), ("npo", "特定非営利活動法人")),
    Option("voluntary", T("任意団体", "Voluntary group"), ("任意", "サークル")),
    Option("social_welfare", T("社会福祉法人", "Social welfare corp."), ("社福",)),
    Option(
        "general_inc",
        T("一般社団法人", "General inc. assoc."),
        ("一般社団", "一般財団法人", "社団法人"),
    ),
    Option(
        "neighbourhood", T("自治会・町内会", "Neighbourhood assoc."), ("自治会", "町内会", "町会")
    ),
    Option("school_pta", T("学校・PTA", "School/PTA"), ("学校", "pta")),
    Option("other", T("その他", "Other"), ("そのほか",)),
)

PERIODS: tuple[Option, ...] = (
    Option("asap", T("できるだけ早く", "As soon as possible"), ("すぐ", "asap")),
    Option("within_3m", T("3か月以内", "Within 3 months"), ("3ヶ月以内", "3カ月以内")),
    Option("within_6m", T("半年以内", "Within 6 months"), ("6か月以内", "6ヶ月以内")),
    Option("flexible", T("時期は相談したい", "Flexible"), ("相談", "いつでも", "flexible")),
)


def needs_for_menus(menus: list[str]) -> tuple[list[str], list[str]]:
    """Default (required, optional) skills of a request: each menu's first skill is required,
    the rest optional (coordinators can change both per project)."""
    required: list[str] = []
    optional: list[str] = []
    for menu in menus:
        skills = SKILLS_BY_MENU.get(menu, ())
        if skills and skills[0] not in required:
            required.append(skills[0])
        for skill in skills[1:]:
            if skill not in optional:
                optional.append(skill)
    optional = [s for s in optional if s not in required]
    return required, optional


# Translation is a language pair (with Japanese): a project that needs translation into
# English needs "translation:en", and a volunteer's translation skill counts for it only
# when they translate English. Plain "translation" (no language given) matches any
# translator.
TRANSLATION = "translation"
_LANGUAGE_KEYS = frozenset(option.key for option in LANGUAGES)


def language_skill(language: str) -> str:
    """The matching key of translation in one language ("en" -> "translation:en")."""
    return f"{TRANSLATION}:{language}"


LANGUAGE_SKILLS: frozenset[str] = frozenset(language_skill(k) for k in _LANGUAGE_KEYS)


def with_languages(skills: frozenset[str], languages: frozenset[str]) -> frozenset[str]:
    """A volunteer's matching skills: a translator also holds one pair per language."""
    if TRANSLATION not in skills or not languages:
        return skills
    return skills | {language_skill(k) for k in languages if k in _LANGUAGE_KEYS}


def needing_languages(skills: frozenset[str], languages: frozenset[str]) -> frozenset[str]:
    """A project's matching skills: translation becomes one pair per needed language."""
    if TRANSLATION not in skills or not languages:
        return skills
    pairs = {language_skill(k) for k in languages if k in _LANGUAGE_KEYS}
    return (skills - {TRANSLATION}) | pairs if pairs else skills


def skill_label(key: str, locale: str) -> str:
    """A skill's label, including language pairs ("翻訳（英語）", "Translation (English)")."""
    base, _, language = key.partition(":")
    if base == TRANSLATION and language:
        name = label(LANGUAGES, language, locale)
        return f"翻訳（{name}）" if locale == "ja" else f"Translation ({name})"
    return label(SKILLS, key, locale)
