"""Structure rules checked on the source: no function over ~60 lines in the handlers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60
# Files outside handlers/ held to the same limit: the dialogue and the engine it runs.
ALSO_CHECKED: list[str] = [
    "bot/dialogue.py",
    "bot/work_chat.py",
    "bot/cases_chat.py",
    "bot/conversation/engine.py",
]
# Functions allowed over the limit until split by meaning (none now); none may grow, and
# no other function may join them.
NOT_YET_SPLIT: dict[str, int] = {}


def long_functions(paths: list[Path], root: Path = ROOT) -> dict[str, int]:
    """Every function over LIMIT lines (def to last line) in these files, by file:name."""
    found: dict[str, int] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > LIMIT:
                    found[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return found


def test_no_function_in_the_handlers_is_over_60_lines() -> None:
    paths = sorted((ROOT / "handlers").rglob("*.py")) + [ROOT / p for p in ALSO_CHECKED]
    found = long_functions(paths)
    over = {
        name: lines
        for name, lines in found.items()
        if name not in NOT_YET_SPLIT or lines > NOT_YET_SPLIT[name]
    }
    assert over == {}, f"functions over {LIMIT} lines (split them by meaning): {over}"


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT + 1))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n", encoding="utf-8")
    assert long_functions([sample], tmp_path) == {"sample.py:long": LIMIT + 2}
