"""A font with Japanese glyphs that the project itself installs: the IPAex Gothic the
`matplotlib-fontja` package ships, for machines without Noto CJK or IPA fonts (charts,
rich menu images)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def bundled_cjk_font() -> Path | None:
    """The path of matplotlib-fontja's IPAex Gothic, if that package is installed."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "fonts" / "ipaexg.ttf"
    return bundled if bundled.is_file() else None
