"""The layout stays readable: a short entry point, modules of one concern each."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "kseg").rglob("*.py"))


def lines_of_code(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    source = path.read_text(encoding="utf-8")
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    docstrings.update(range(first.lineno, first.end_lineno + 1))
    code: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip and token.type != tokenize.ENDMARKER:
            code.update(range(token.start[0], token.end[0] + 1))
    return len(code - docstrings)


def test_app_py_is_an_entry_point_only():
    assert lines_of_code(ROOT / "app.py") <= 40
    assert "kseg.dashboard" in (ROOT / "app.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_holds_more_than_400_lines_of_code(path: Path):
    assert lines_of_code(path) <= 400


def test_the_line_counter_counts_code_only(tmp_path: Path):
    sample = tmp_path / "m.py"
    sample.write_text(
        '"""Doc\n\nstring."""\n\n# comment\nx = (\n    1,\n)\n\n\n'
        'def f():\n    """Doc."""\n    return x\n'
    )
    assert lines_of_code(sample) == 5  # x = ( / 1, / ) / def f(): / return x
