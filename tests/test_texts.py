"""Every text a user reads is typed and exists in Japanese and English (issue #12): each
module's texts are a `Texts` class (`TXT.name(locale)`, so mypy refuses a missing one),
never a dict looked up by a string."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from bot.i18n import Texts

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for d in ("bot", "handlers")
    for p in (ROOT / d).rglob("*.py")
)


# The names of modules' text bundles: each is a Texts class, never a dict.
BUNDLES = {"TXT", "UI", "MODAL", "CASE_MODAL", "ATTENDANCE", "AGREEMENT_TEXT", "HOME", "ASK"}


def _texts_dicts(module: str) -> list[int]:
    """Lines where a module-level text bundle is assigned a dict."""
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & BUNDLES and isinstance(node.value, ast.Dict):
                found.append(node.lineno)
    return found


def test_no_module_keeps_its_texts_in_a_dict() -> None:
    assert {m: lines for m in MODULES if (lines := _texts_dicts(m))} == {}


TYPED = [
    m
    for m in MODULES
    if "(Texts):" in (ROOT / Path(*m.split(".")).with_suffix(".py")).read_text("utf-8")
]


def test_the_typed_texts_are_found() -> None:
    assert len(TYPED) >= 20  # the dialogue, the engine, every service and Slack view


@pytest.mark.parametrize("module", TYPED)
def test_every_text_has_japanese_and_english(module: str) -> None:
    loaded = importlib.import_module(module)
    bundles = [
        value
        for value in vars(loaded).values()
        if isinstance(value, type)
        and issubclass(value, Texts)
        and value is not Texts
        and value.__module__ == module
    ]
    assert bundles, module
    for texts in bundles:
        found = texts.all()
        assert found, f"{module}.{texts.__name__}"
        for name, text in found.items():
            assert text.ja.strip() and text.en.strip(), f"{module}.{texts.__name__}.{name}"
