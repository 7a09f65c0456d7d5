"""`ast.parse` that survives a CPython 3.11 bug: after some uses of the ast module in a process (seen
here under pytest-xdist), every later `ast.parse` raises `SystemError: AST constructor recursion depth
mismatch` (the ast module keeps its recursion depth in per-interpreter state: CPython gh-106905, fixed
in later releases). Then the source is parsed in a fresh interpreter and the tree comes back pickled
(AST nodes pickle, and unpickling does not go through the broken constructor)."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys

_CHILD = (
    "import ast, pickle, sys; sys.stdout.buffer.write(pickle.dumps(ast.parse(sys.stdin.read(), sys.argv[1])))"
)


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    try:
        return ast.parse(source, filename)
    except SystemError as error:
        if "recursion depth mismatch" not in str(error):
            raise
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, filename], input=source.encode(), capture_output=True, check=True
    )
    tree = pickle.loads(result.stdout)
    assert isinstance(tree, ast.Module)
    return tree
