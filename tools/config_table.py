"""The configuration key table (docs/configuration.md), generated from the config models so the two
cannot drift: each key's name (as the stack file spells it), type, default, and its docstring in
source_ip.config.

    python -m tools.config_table            print the table
    python -m tools.config_table --write    rewrite it between its markers
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import json
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeGuard, Union, get_args, get_origin

from annotated_types import Ge, Gt, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from source_ip.config import StackConfig
from tools import pyast
from tools.readme import markdown_cell, table_cli, with_table

START, END = "<!-- config:start -->", "<!-- config:end -->"


@dataclass(frozen=True)
class Row:
    key: str
    kind: str
    default: str
    meaning: str


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The string literal that follows each field in the class bodies of `model` and its bases (a
    subclass's wins), on one line."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if issubclass(cls, BaseModel) and not cls.__module__.startswith("pydantic."):
            docs.update(_class_body_docstrings(cls))
    return docs


@functools.cache
def _class_body_docstrings(cls: type) -> tuple[tuple[str, str], ...]:
    """One class's own field docstrings, read from its source once per process (the table, its drift
    test and the docs tests ask for the same classes again and again)."""
    tree = pyast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    return tuple(
        (node.target.id, " ".join(inspect.cleandoc(following.value.value).split()))
        for node, following in itertools.pairwise(body)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    )


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _without_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def kind(annotation: Any, metadata: list[Any] | None = None) -> str:
    """What a value of this type is, in the stack file's words."""
    annotation, _ = _without_none(annotation)
    if get_origin(annotation) is Annotated:  # a constrained type: the type it constrains
        annotation = get_args(annotation)[0]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{arg}`" for arg in args)
    if origin is list:
        item = args[0]
        return "list of objects" if _is_model(item) else f"list of {kind(item)}s"
    if origin is dict:
        return "map of strings"
    if annotation is bool:
        return "`true` \\| `false`"
    if annotation is int:
        bounds = [f" ≥ {m.ge}" for m in metadata or [] if isinstance(m, Ge)]
        return "integer" + "".join(bounds)
    if annotation is float:
        bounds = [f" > {m.gt}" for m in metadata or [] if isinstance(m, Gt)]
        bounds += [f" < {m.lt}" for m in metadata or [] if isinstance(m, Lt)]
        return "number" + ",".join(bounds)
    if annotation is str:
        return "string"
    if _is_model(annotation):
        return "object"
    return str(annotation)


def default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, BaseModel):
        return "—"
    return f"`{json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}`"


def _own_docstring(annotation: Any, args: tuple[Any, ...]) -> str:
    """For an object (or a list of objects) without a docstring of its own: its model's class docstring."""
    model = annotation if _is_model(annotation) else (args[0] if args and _is_model(args[0]) else None)
    doc = model.__dict__.get("__doc__") if model is not None else None
    return " ".join(inspect.cleandoc(doc).split()) if doc else ""


def rows(model: type[BaseModel] = StackConfig, prefix: str = "") -> Iterator[Row]:
    """A row per key, depth first in the order the model declares them; an object's keys follow it."""
    docs = attribute_docstrings(model)
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        annotation, _ = _without_none(field.annotation)
        meaning = docs.get(name, "") or _own_docstring(annotation, get_args(annotation))
        yield Row(key, kind(field.annotation, field.metadata), default(field), meaning)
        if _is_model(annotation):
            yield from rows(annotation, f"{key}.")
        elif get_origin(annotation) is list and _is_model(get_args(annotation)[0]):
            yield from _item_rows(model, get_args(annotation)[0], f"{key}[i].")


def _item_rows(parent: type[BaseModel], item: type[BaseModel], prefix: str) -> Iterator[Row]:
    """The keys of a list's items: when the item model extends another key's object (as `gateways`
    items extend `gateway`), one row says so and only the keys it adds follow."""
    base = next((b for b in item.__bases__ if _is_model(b) and b.model_fields), None)
    inherited = set(base.model_fields) if base else set()
    if base is not None:
        source = next((f.alias or n for n, f in parent.model_fields.items() if f.annotation is base), None)
        if source is not None:
            yield Row(f"{prefix}…", "", "", f"every `{source}.*` key, with the same default")
    docs = attribute_docstrings(item)
    for name, field in item.model_fields.items():
        if name not in inherited:
            yield Row(
                f"{prefix}{field.alias or name}",
                kind(field.annotation, field.metadata),
                default(field),
                docs.get(name, ""),
            )


def table() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for row in rows():
        lines.append(f"| `{row.key}` | {row.kind} | {row.default} | {markdown_cell(row.meaning) or '—'} |")
    return "\n".join(lines)


def document_with_table(document: str) -> str:
    return with_table(document, START, END, table())


def main(argv: list[str] | None = None) -> int:
    return table_cli("python -m tools.config_table", (__doc__ or "").splitlines()[0], START, END, table, argv)


if __name__ == "__main__":
    sys.exit(main())
