"""tools.pyast parses Python even in a process whose ast module hit CPython's recursion-depth bug."""

from __future__ import annotations

import ast

import pytest

from tools import pyast


def test_a_module_parses_to_the_same_tree_as_ast_parse() -> None:
    source = "import json\nfrom components.base import Component\n\nclass A:\n    x: int = 1\n    '''doc'''\n"
    assert ast.dump(pyast.parse(source, "a.py")) == ast.dump(ast.parse(source, "a.py"))


def test_when_ast_parse_raises_the_depth_mismatch_a_fresh_interpreter_parses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = "import tools.render as r\nx = [1, {'a': (2, 3)}]\n"
    expected = ast.dump(ast.parse(source))

    def broken(*args: object, **kwargs: object) -> ast.Module:
        raise SystemError("AST constructor recursion depth mismatch (before=159, after=212)")

    monkeypatch.setattr(ast, "parse", broken)
    assert ast.dump(pyast.parse(source)) == expected


def test_other_system_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> ast.Module:
        raise SystemError("something else")

    monkeypatch.setattr(ast, "parse", broken)
    with pytest.raises(SystemError, match="something else"):
        pyast.parse("x = 1\n")
