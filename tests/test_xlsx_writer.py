"""The streaming XLSX writer holds what openpyxl's write-only workbook would: every kind of
value the exports write, read back with openpyxl from both files and compared cell by cell."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl import load_workbook

from bot.office.xlsx import Workbook, column_letter

ROWS: list[list[Any]] = [
    ["ID", "お名前", "状態", "登録日時", "はい/いいえ"],
    [1, "青木 健", "活動中", datetime(2026, 12, 4, 18, 5, 7), True],
    [2, None, "", datetime(2017, 9, 30, 10, 0), False],
    [3, '\'=HYPERLINK("x")', "<b>&amp;</b> \"quoted\" 'single'", date(2026, 1, 31), None],
    [4, "  leading and trailing  ", "two\nlines", 3.25, -7],
    [5, "tab\there", "bell\x07gone", 10**12, 0.1],
    [6, "絵文字 🎉 と 𠮷", "x" * 5000, datetime(2026, 2, 28, 23, 59, 59), 0],
]


def _values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    wb = load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        out[ws.title] = [tuple(c.value for c in row) for row in ws.iter_rows()]
    wb.close()
    return out


def test_the_same_cells_as_openpyxl(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.xlsx", tmp_path / "theirs.xlsx"
    wb = Workbook(ours)
    reference = OpenpyxlWorkbook(write_only=True)
    for title in ("ボランティア", "Groups: a/b [x]"):
        ws = wb.create_sheet(title)
        ref = reference.create_sheet(
            title.replace("/", " ").replace(":", " ").replace("[", " ").replace("]", " ")
        )
        for row in ROWS:
            ws.append(row)
            # openpyxl refuses control characters; the writer drops them.
            ref.append([v.replace("\x07", "") if isinstance(v, str) else v for v in row])
    wb.save()
    reference.save(theirs)
    mine, expected = _values(ours), _values(theirs)
    assert list(mine) == list(expected) == ["ボランティア", "Groups  a b  x "]
    for title in mine:
        assert mine[title] == expected[title]
    cells = _values(ours)["ボランティア"]
    assert cells[1][3] == datetime(2026, 12, 4, 18, 5, 7)
    assert cells[2][1] is None and cells[2][2] is None  # no cell for None or ""
    assert cells[4][1] == "  leading and trailing  "
    with zipfile.ZipFile(ours) as zf:
        assert zf.testzip() is None


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA",
    ]  # fmt: skip
