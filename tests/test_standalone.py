"""The repository stands alone (issue #15): nothing at test or run time reads the team's
notes in the "shared" folder CI happens to have beside its clone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import OUTSIDE_NOTES, REPO

# Where a path to the notes could hide: the code, its tests, the tools CI runs.
LOOKED_AT = ("bot", "handlers", "storage", "tests", "bench", ".ci", "Makefile", "pyproject.toml")
# Spelled from parts, so this list is not itself a mention of the path it looks for.
NOTES = "shared"
MENTIONS = (f"../{NOTES}", f"/{NOTES}/", f'parent / "{NOTES}"', f'parent.parent / "{NOTES}"')


def test_a_test_that_reads_the_notes_fails_whether_or_not_they_are_there() -> None:
    for path in (OUTSIDE_NOTES, str(Path(OUTSIDE_NOTES) / "docs" / "domain.md")):
        with pytest.raises(RuntimeError, match="bring what they need into the repo"):
            Path(path).read_bytes() if path != OUTSIDE_NOTES else list(Path(path).iterdir())
    # A path that only looks alike is not refused.
    assert not (REPO / "shared-nothing").exists()


def test_no_file_the_suite_or_the_app_runs_names_the_notes() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--", *LOOKED_AT],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    me = {"tests/conftest.py", "tests/test_standalone.py"}
    found = []
    for name in listed:
        if name in me:
            continue
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # an image, or a file deleted in the work tree
        found += [f"{name}: {m}" for m in MENTIONS if m in text]
    assert listed and found == []
