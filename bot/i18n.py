"""Bilingual text: every user-facing string exists in Japanese and English."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

LOCALES = ("ja", "en")


@dataclass(frozen=True, slots=True)
class T:
    """A text in Japanese and English; call it with a locale (and format fields)."""

    ja: str
    en: str

    def __call__(self, locale: str, **fields: Any) -> str:
        text = self.en if locale == "en" else self.ja
        return text.format(**fields) if fields else text


def normalise(text: str) -> str:
    """NFKC-normalise, trim and fold runs of white space (full- and half-width agree)."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def fold(text: str) -> str:
    """Normalise and case-fold, for comparing what someone typed with a label or a word."""
    return normalise(text).casefold()


def join_list(items: list[str], locale: str) -> str:
    """Join items the way each language lists them."""
    return ("、" if locale == "ja" else ", ").join(items)
