"""Where people are: municipality names normalised, and which places neighbour which.

What people type for their area is free text ("川崎市中原区", "神奈川県川崎市", "Kawasaki,
Nakahara-ku", "八王子", "Hachiōji"). `place` reduces it to a municipality key (the
Japanese name of the 市, or of the 区/町/村 where that is the municipality, such as
Tokyo's special wards) and, inside a designated city, the ward. Matching compares
municipalities: two wards of 川崎市 are the same municipality.

The tables below are a SEED covering the places of the programmes in
docs/domain.md (Kawasaki and its seven wards, Hachioji and its neighbours, Sendai,
Wako, Chiba, and what borders them); extend `_CITIES` and `_NEIGHBOURS` as new
programmes start. A place not in the table is still usable: it is reduced by the
generic rule (prefecture stripped, text up to the first 市, else up to 区/町/村) and
compares by that exact normalised name only; it has no neighbours and no
romaji reading.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Relation = Literal["same", "neighbour", "none"]


@dataclass(frozen=True, slots=True)
class _City:
    """One municipality of the seed table."""

    ja: str
    en: str
    pref: str
    readings: tuple[str, ...] = ()  # romaji (long vowels as typed or not) and kana
    wards: tuple[tuple[str, str], ...] = ()  # (ja, romaji) of its wards


_CITIES: tuple[_City, ...] = (
    _City(
        "川崎市",
        "Kawasaki",
        "神奈川県",
        ("kawasaki", "かわさき"),
        (
            ("川崎区", "Kawasaki"),
            ("幸区", "Saiwai"),
            ("中原区", "Nakahara"),
            ("高津区", "Takatsu"),
            ("宮前区", "Miyamae"),
            ("多摩区", "Tama"),
            ("麻生区", "Asao"),
        ),
    ),
    _City("八王子市", "Hachioji", "東京都", ("hachioji", "hachiouji", "はちおうじ")),
    _City("日野市", "Hino", "東京都", ("hino", "ひの")),
    _City("町田市", "Machida", "東京都", ("machida", "まちだ")),
    _City("多摩市", "Tama", "東京都", ("tama", "たま")),
    _City("あきる野市", "Akiruno", "東京都", ("akiruno", "秋留野", "あきるの")),
    _City(
        "相模原市",
        "Sagamihara",
        "神奈川県",
        ("sagamihara", "さがみはら"),
        (("緑区", "Midori"), ("中央区", "Chuo"), ("南区", "Minami")),
    ),
    _City("昭島市", "Akishima", "東京都", ("akishima",)),
    _City("青梅市", "Ome", "東京都", ("ome",)),
    _City("稲城市", "Inagi", "東京都", ("inagi",)),
    _City("調布市", "Chofu", "東京都", ("chofu",)),
    _City("狛江市", "Komae", "東京都", ("komae",)),
    _City("世田谷区", "Setagaya", "東京都", ("setagaya",)),
    _City("大田区", "Ota", "東京都", ("ota",)),
    _City("横浜市", "Yokohama", "神奈川県", ("yokohama", "よこはま")),
    _City(
        "仙台市",
        "Sendai",
        "宮城県",
        ("sendai", "せんだい"),
        (
            ("青葉区", "Aoba"),
            ("宮城野区", "Miyagino"),
            ("若林区", "Wakabayashi"),
            ("太白区", "Taihaku"),
            ("泉区", "Izumi"),
        ),
    ),
    _City("名取市", "Natori", "宮城県", ("natori",)),
    _City("多賀城市", "Tagajo", "宮城県", ("tagajo",)),
    _City("富谷市", "Tomiya", "宮城県", ("tomiya",)),
    _City("利府町", "Rifu", "宮城県", ("rifu",)),
    _City("和光市", "Wako", "埼玉県", ("wako", "わこう")),
    _City("朝霞市", "Asaka", "埼玉県", ("asaka",)),
    _City("戸田市", "Toda", "埼玉県", ("toda",)),
    _City("板橋区", "Itabashi", "東京都", ("itabashi",)),
    _City("練馬区", "Nerima", "東京都", ("nerima",)),
    _City("川口市", "Kawaguchi", "埼玉県", ("kawaguchi",)),
    _City("熊谷市", "Kumagaya", "埼玉県", ("kumagaya",)),
    _City(
        "千葉市",
        "Chiba",
        "千葉県",
        ("chiba", "ちば"),
        (
            ("中央区", "Chuo"),
            ("花見川区", "Hanamigawa"),
            ("稲毛区", "Inage"),
            ("若葉区", "Wakaba"),
            ("緑区", "Midori"),
            ("美浜区", "Mihama"),
        ),
    ),
    _City("市原市", "Ichihara", "千葉県", ("ichihara",)),
    _City("四街道市", "Yotsukaido", "千葉県", ("yotsukaido",)),
    _City("習志野市", "Narashino", "千葉県", ("narashino",)),
    _City("八千代市", "Yachiyo", "千葉県", ("yachiyo",)),
    _City("佐倉市", "Sakura", "千葉県", ("sakura",)),
    _City("東金市", "Togane", "千葉県", ("togane",)),
    _City("大網白里市", "Oamishirasato", "千葉県", ("oamishirasato",)),
)

# Municipalities sharing a border (symmetric). A seed: the hubs of the programmes
# and the borders among their neighbours that we are sure of; extend as needed.
_NEIGHBOUR_PAIRS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "八王子市",
        ("日野市", "町田市", "多摩市", "あきる野市", "相模原市", "昭島市", "青梅市"),
    ),
    (
        "川崎市",
        ("横浜市", "町田市", "稲城市", "多摩市", "調布市", "狛江市", "世田谷区", "大田区"),
    ),
    ("町田市", ("相模原市", "多摩市", "横浜市")),
    ("多摩市", ("日野市", "稲城市")),
    ("稲城市", ("調布市",)),
    ("調布市", ("狛江市",)),
    ("狛江市", ("世田谷区",)),
    ("世田谷区", ("大田区",)),
    ("仙台市", ("名取市", "多賀城市", "富谷市", "利府町")),
    ("和光市", ("朝霞市", "戸田市", "板橋区", "練馬区")),
    ("板橋区", ("練馬区", "戸田市")),
    ("朝霞市", ("練馬区",)),
    ("川口市", ("戸田市",)),
    (
        "千葉市",
        ("市原市", "四街道市", "習志野市", "八千代市", "佐倉市", "東金市", "大網白里市"),
    ),
    ("習志野市", ("八千代市",)),
    ("四街道市", ("佐倉市",)),
)

_PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県",
    "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県",
    "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県",
    "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県",
    "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
)  # fmt: skip

# Latin words that say what kind of place a name is, or name a prefecture: ignored.
_LATIN_NOISE = frozenset(
    {
        "city", "shi", "ward", "ku", "town", "machi", "cho", "village", "mura", "prefecture",
        "pref", "ken", "to", "fu", "japan", "tokyo", "kanagawa", "saitama", "miyagi",
    }
)  # fmt: skip


def _neighbour_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for hub, others in _NEIGHBOUR_PAIRS:
        for other in others:
            table.setdefault(hub, set()).add(other)
            table.setdefault(other, set()).add(hub)
    return {key: frozenset(values) for key, values in table.items()}


_NEIGHBOURS: dict[str, frozenset[str]] = _neighbour_table()
_BY_JA: dict[str, _City] = {city.ja: city for city in _CITIES}


def _latin_key(word: str) -> str:
    """A romaji word folded: no diacritics, letters only, long vowels shortened."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    letters = "".join(c for c in decomposed if "a" <= c <= "z")
    for long, short in (("ou", "o"), ("oo", "o"), ("uu", "u"), ("oh", "o")):
        letters = letters.replace(long, short)
    return letters


def _japanese_prefixes() -> list[tuple[str, _City, bool]]:
    """(prefix, city, bare): names a Japanese address may start with, longest first.

    A bare prefix ("八王子", a kana reading) is the name without its 市; it only counts
    when followed by nothing, 市/し, or one of the city's wards (so 川崎町 and 日野町,
    other places, are not taken for 川崎市 and 日野市).
    """
    prefixes: list[tuple[str, _City, bool]] = []
    for city in _CITIES:
        prefixes.append((city.ja, city, False))
        if city.ja.endswith("市") and len(city.ja) >= 3:
            prefixes.append((city.ja[:-1], city, True))
        for reading in city.readings:
            if not reading.isascii():
                prefixes.append((reading, city, True))
    prefixes.sort(key=lambda item: -len(item[0]))
    return prefixes


_JA_PREFIXES = _japanese_prefixes()
# Ward names that belong to one city only in the table ("中原区" alone is Kawasaki's).
_UNIQUE_WARDS: dict[str, _City] = {}
_WARD_COUNT: dict[str, int] = {}
for _city in _CITIES:
    for _ward_ja, _ in _city.wards:
        _WARD_COUNT[_ward_ja] = _WARD_COUNT.get(_ward_ja, 0) + 1
        _UNIQUE_WARDS[_ward_ja] = _city
_UNIQUE_WARDS = {ward: city for ward, city in _UNIQUE_WARDS.items() if _WARD_COUNT[ward] == 1}

_LATIN_CITIES: dict[str, _City] = {}
for _city in _CITIES:
    for _reading in (_city.en, *_city.readings):
        if _reading.isascii():
            _LATIN_CITIES.setdefault(_latin_key(_reading), _city)
_LATIN_WARDS: dict[str, list[tuple[_City, str]]] = {}
for _city in _CITIES:
    for _ward_ja, _ward_en in _city.wards:
        _LATIN_WARDS.setdefault(_latin_key(_ward_en), []).append((_city, _ward_ja))


@dataclass(frozen=True, slots=True)
class Place:
    """A normalised area: municipality key ("" when unknown or empty) and ward."""

    key: str
    ward: str = ""
    known: bool = False

    def label(self, locale: str) -> str:
        """The place as people read it: "川崎市中原区" / "Nakahara-ku, Kawasaki"."""
        city = _BY_JA.get(self.key) if self.known else None
        if city is None or locale != "en":
            return self.key + self.ward
        if self.ward:
            ward_en = dict(city.wards).get(self.ward, self.ward)
            return f"{ward_en}-ku, {city.en}"
        return city.en


def _ward_after(city: _City, rest: str) -> str | None:
    """The ward of `city` that `rest` starts with ("" if rest names none), None if rest
    does not start with a ward name."""
    for ward_ja, _ in city.wards:
        if rest.startswith(ward_ja) or (len(ward_ja) > 2 and rest.startswith(ward_ja[:-1])):
            return ward_ja
    return None


def _japanese(text: str) -> Place:
    for pref in _PREFECTURES:
        if text.startswith(pref) and len(text) > len(pref):
            text = text[len(pref) :]
            break
    text = re.sub(r"^[^市区]+?郡(?=.)", "", text)
    for prefix, city, bare in _JA_PREFIXES:
        if not text.startswith(prefix):
            continue
        rest = text[len(prefix) :]
        if bare:
            if rest.startswith(("市", "し")):
                rest = rest[1:]
            elif rest and _ward_after(city, rest) is None:
                continue
        return Place(city.ja, _ward_after(city, rest) or "", True)
    for ward, city in _UNIQUE_WARDS.items():
        if text.startswith(ward):
            return Place(city.ja, ward, True)
    # Not in the table: the municipality is the text up to its first 市 (not a leading
    # one, as in 市川市), else up to the first 区/町/村; the ward is what follows up to 区.
    match = re.match(r".[^市]*?市", text) or re.match(r".+?[区町村]", text)
    if match is None:
        return Place(text)
    in_city = re.match(r".+?区", text[match.end() :])
    return Place(match.group(0), in_city.group(0) if in_city else "")


def _latin(text: str) -> Place:
    city: _City | None = None
    ward: str = ""
    ward_cities: list[tuple[_City, str]] = []
    for word in re.split(r"[,、/\s]+", text):
        key = _latin_key(word)
        if not key:
            continue
        is_ward = key.endswith("ku") and (key[:-2] in _LATIN_WARDS)
        base = key
        if not is_ward and key not in _LATIN_CITIES:
            for suffix in ("city", "shi"):
                if key.endswith(suffix) and key[: -len(suffix)] in _LATIN_CITIES:
                    base = key[: -len(suffix)]
        if is_ward:
            ward_cities = _LATIN_WARDS[key[:-2]]
        elif base in _LATIN_CITIES:
            if city is None:
                city = _LATIN_CITIES[base]
        elif base in _LATIN_WARDS and base not in _LATIN_NOISE and not ward_cities:
            ward_cities = _LATIN_WARDS[base]
    if ward_cities:
        for ward_city, ward_ja in ward_cities:
            if city is None and len(ward_cities) == 1:
                city = ward_city
            if ward_city is city:
                ward = ward_ja
    if city is None:
        words = [w for w in re.split(r"[,、/\s]+", text) if _latin_key(w) not in _LATIN_NOISE]
        return Place(" ".join(words)) if words else Place("")
    return Place(city.ja, ward, True)


@lru_cache(maxsize=8192)
def place(text: str) -> Place:
    """Reduce free text naming an area to a `Place` (NFKC, spaces and case folded)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    compact = "".join(folded.split())
    if not compact:
        return Place("")
    latin = sum(1 for c in compact if "a" <= c <= "z")
    if latin * 2 > len(compact):
        return _latin(" ".join(folded.split()))
    return _japanese(compact)


def neighbours(key: str) -> frozenset[str]:
    """The municipality keys bordering `key` in the seed table (empty if unknown)."""
    return _NEIGHBOURS.get(key, frozenset())


def relation(a: str, b: str) -> Relation:
    """How two areas (free text) relate: same municipality, neighbouring, or neither."""
    pa, pb = place(a), place(b)
    if not pa.key or not pb.key:
        return "none"
    if pa.key == pb.key:
        return "same"
    return "neighbour" if pb.key in neighbours(pa.key) else "none"
