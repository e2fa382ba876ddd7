"""The published cases as a static web site and JSON, for the city's web site.

`write_site(cases, out)` writes:
- `index.html`: every published case, with filters by area, field and year (a few lines
  of vanilla JavaScript; without JavaScript the whole list shows), works offline;
- `cases/ID.html`: one page per case with the twelve fields;
- `cases.json`: the same data (schema `tsunagu.cases/1`, see `JSON_SCHEMA` and the
  README's programme office section).

Labels are bilingual (日本語 / English); every value is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import T, Texts
from bot.office.cases import FIELDS, PARTNER_KINDS, TEXTS
from bot.taxonomy import INTERESTS, label
from storage.models import Case

SCHEMA = "tsunagu.cases/1"
_BILINGUAL = ("background", "activities", "outcome", "period", "cost", "contact", "tips")
# cases.json, as JSON Schema: what a city's web site can rely on.
_TEXT = {
    "type": "object",
    "properties": {"ja": {"type": "string"}, "en": {"type": ["string", "null"]}},
    "required": ["ja", "en"],
}
_LABELLED = {
    "type": "object",
    "properties": {"key": {"type": "string"}, "ja": {"type": "string"}, "en": {"type": "string"}},
    "required": ["key", "ja", "en"],
}
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Tsunagu published cases",
    "type": "object",
    "required": ["schema", "generated_at", "cases"],
    "properties": {
        "schema": {"const": SCHEMA},
        "generated_at": {"type": "string", "format": "date-time"},
        "cases": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "url",
                    "title",
                    "area",
                    "field",
                    "year",
                    "partners",
                    *_BILINGUAL,
                    "updated_at",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "url": {"type": "string"},
                    "title": _TEXT,
                    "area": {"type": "string"},
                    "field": _LABELLED,
                    "year": {"type": "integer"},
                    "partners": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "kind": _LABELLED},
                            "required": ["name", "kind"],
                        },
                    },
                    **{k: _TEXT for k in _BILINGUAL},
                    "updated_at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    catalogue = T("協働事例集", "Collaboration cases")
    any = T("すべて", "All")
    year = T("年度", "Year")
    shown = T("件を表示", "shown")
    back = T("事例の一覧へ", "All cases")
    none = T("公開中の事例はまだありません。", "No case is published yet.")


TXT = _Texts


def _both(text: T) -> str:
    return f"{text.ja} / {text.en}"


@dataclass(frozen=True)
class SiteResult:
    """What `write_site` wrote."""

    folder: Path
    pages: int
    json_path: Path


def case_json(case: Case, tz: ZoneInfo) -> dict[str, Any]:
    """One case as `cases.json` carries it."""
    en = case.en or {}
    return {
        "id": case.id,
        "url": f"cases/{case.id}.html",
        "title": {"ja": case.title, "en": en.get("title")},
        "area": case.area,
        "field": {
            "key": case.field,
            "ja": label(INTERESTS, case.field, "ja"),
            "en": label(INTERESTS, case.field, "en"),
        },
        "year": case.year,
        "partners": [
            {
                "name": p["name"],
                "kind": {
                    "key": p["kind"],
                    "ja": label(PARTNER_KINDS, p["kind"], "ja"),
                    "en": label(PARTNER_KINDS, p["kind"], "en"),
                },
            }
            for p in case.partners
        ],
        **{k: {"ja": getattr(case, k), "en": en.get(k)} for k in _BILINGUAL},
        "updated_at": case.updated_at.astimezone(tz).isoformat(timespec="seconds"),
    }


_STYLE = """
body{font-family:"Noto Sans JP","Hiragino Sans",Meiryo,sans-serif;margin:0 auto;max-width:60rem;
padding:1rem;line-height:1.7;color:#222}
h1{font-size:1.5rem}ul.cases{list-style:none;padding:0}
ul.cases li{border-bottom:1px solid #ddd;padding:.6rem 0}
.meta{color:#555;font-size:.9rem}form.filters{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
dl dt{font-weight:bold;margin-top:1rem}dl dd{margin:0;white-space:pre-wrap}.en{color:#555}
"""
_SCRIPT = """
(function(){
  var form=document.getElementById('filters');if(!form){return;}
  var items=document.querySelectorAll('ul.cases li');var count=document.getElementById('count');
  function apply(){
    var a=form.area.value,f=form.field.value,y=form.year.value,n=0;
    items.forEach(function(li){
      var ok=(!a||li.dataset.area===a)&&(!f||li.dataset.field===f)&&(!y||li.dataset.year===y);
      li.hidden=!ok;if(ok){n++;}
    });
    count.textContent=n;
  }
  form.addEventListener('change',apply);apply();
})();
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ja">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _select(name: str, caption: T, values: list[tuple[str, str]]) -> str:
    options = "".join(f'<option value="{escape(v)}">{escape(text)}</option>' for v, text in values)
    return (
        f'<label>{escape(_both(caption))} <select name="{name}">'
        f'<option value="">{escape(_both(TXT.any))}</option>{options}</select></label>'
    )


def index_html(cases: Sequence[Case]) -> str:
    """The list of cases with its filters."""
    areas = sorted({c.area for c in cases})
    fields = [o for o in INTERESTS if any(c.field == o.key for c in cases)]
    years = sorted({c.year for c in cases}, reverse=True)
    filters = (
        '<form class="filters" id="filters" onsubmit="return false">'
        + _select("area", FIELDS["area"], [(a, a) for a in areas])
        + _select("field", FIELDS["field"], [(o.key, _both(o.label)) for o in fields])
        + _select("year", TXT.year, [(str(y), str(y)) for y in years])
        + "</form>"
    )
    items = []
    for c in cases:
        en_title = (c.en or {}).get("title")
        field_label = _both(T(label(INTERESTS, c.field, "ja"), label(INTERESTS, c.field, "en")))
        items.append(
            f'<li data-area="{escape(c.area)}" data-field="{escape(c.field)}" '
            f'data-year="{c.year}"><a href="cases/{c.id}.html">{escape(c.title)}</a>'
            + (f' <span class="en">{escape(en_title)}</span>' if en_title else "")
            + f'<div class="meta">{escape(c.area)} · {escape(field_label)} · {c.year}</div></li>'
        )
    listing = (
        f'<ul class="cases">{"".join(items)}</ul>' if items else f"<p>{escape(_both(TXT.none))}</p>"
    )
    body = (
        f"<h1>{escape(_both(TXT.catalogue))}</h1>\n{filters}\n"
        f'<p><span id="count">{len(cases)}</span> {escape(_both(TXT.shown))}</p>\n'
        f"{listing}\n<script>{_SCRIPT}</script>"
    )
    return _page(_both(TXT.catalogue), body)


def case_html(case: Case, tz: ZoneInfo) -> str:
    """One case's page: the twelve fields, Japanese with the English where written."""
    en = case.en or {}

    def value(key: str) -> str:
        if key == "field":
            return escape(
                _both(T(label(INTERESTS, case.field, "ja"), label(INTERESTS, case.field, "en")))
            )
        if key == "partners":
            return "<br>".join(
                f"{escape(p['name'])}（{escape(label(PARTNER_KINDS, p['kind'], 'ja'))} / "
                f"{escape(label(PARTNER_KINDS, p['kind'], 'en'))}）"
                for p in case.partners
            )
        if key == "updated":
            return escape(case.updated_at.astimezone(tz).strftime("%Y-%m-%d"))
        text = escape(str(getattr(case, key)))
        if key in TEXTS and en.get(key):
            text += f'<div class="en" lang="en">{escape(str(en[key]))}</div>'
        return text

    rows = "".join(
        f"<dt>{escape(_both(caption))}</dt><dd>{value(key)}</dd>" for key, caption in FIELDS.items()
    )
    body = (
        f'<p><a href="../index.html">{escape(_both(TXT.back))}</a></p>\n'
        f"<h1>{escape(case.title)}</h1>\n<dl>{rows}</dl>"
    )
    return _page(case.title, body)


def write_site(
    cases: Sequence[Case], out: Path, *, timezone: str = "Asia/Tokyo", now: datetime
) -> SiteResult:
    """Write index.html, one page per case and cases.json into `out` (created if need be).
    Pages of cases no longer published are removed, so the folder mirrors the catalogue."""
    tz = ZoneInfo(timezone)
    pages = out / "cases"
    pages.mkdir(parents=True, exist_ok=True)
    keep = {f"{c.id}.html" for c in cases}
    for old in pages.glob("*.html"):
        if old.name not in keep:
            old.unlink()
    (out / "index.html").write_text(index_html(cases), encoding="utf-8")
    for c in cases:
        (pages / f"{c.id}.html").write_text(case_html(c, tz), encoding="utf-8")
    data = {
        "schema": SCHEMA,
        "generated_at": now.astimezone(tz).isoformat(timespec="seconds"),
        "cases": [case_json(c, tz) for c in cases],
    }
    json_path = out / "cases.json"
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "cases.schema.json").write_text(
        json.dumps(JSON_SCHEMA, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return SiteResult(out, len(cases), json_path)
