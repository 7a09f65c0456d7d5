"""Read a Pulumi.<stack>.yaml the way the Pulumi CLI reads it, into the raw config the program gets.

The CLI parses stack files with Go's yaml.v3 and hands each config value to the program as a string:
- a top-level scalar as its literal text (yaml.v3 decodes it into a Go string: `010` stays "010");
- an object or list as JSON, its scalars resolved as yaml.v3 resolves them into `interface{}`:
  only true/True/TRUE and false/False/FALSE are booleans (`yes`, `on` are strings), integers follow
  Go's strconv.ParseInt(text, 0, 64), then ParseUint, with underscores removed (`0x1f`, `0o17`,
  `0b11`), a number out of their range is a float if ParseFloat reads it and a string otherwise,
  a timestamp stays a string, and sexagesimal `1:30` is a string (go-yaml/yaml v3 resolve.go, decode.go);
- duplicate keys are an error ("mapping key already defined"), as in yaml.v3;
- merge keys are expanded as yaml.v3 expands them (go-yaml/yaml v3.0.1 decode.go, `mapping` and `merge`;
  parser.go gives a plain `<<` the !!merge tag, a quoted "<<" is an ordinary key): `<<: *base` or
  `<<: [*a, *b]` (or inline mappings) adds each key of those mappings that the mapping does not set
  itself, the first mapping of a list winning over later ones; a value that is not a mapping or a list
  of mappings is an error ("map merge requires map or sequence of maps as the value").

Refused although the CLI reads it, because it cannot be what was meant: a nested `0123`, which
yaml.v3 reads as the YAML 1.1 octal 83 ("Octals from the 1.1 spec, spelled as 0777, are still decoded
by default in v3", resolve.go) while the same text at the top level reaches the program as 0123.

Everything that is not such a file — another encoding, several documents, `config:` that is not a
mapping, a key that is not a string, nesting deeper than MAX_DEPTH, aliases expanding past
MAX_ALIAS_NODES — is a StackFileError naming the file, the key and what is wrong; a value or key is
never echoed whole. A `secure:` value of the program's namespace cannot be read offline: StackFileError
names the key (never the ciphertext). Secrets of other namespaces (a kubeconfig, a token) are not the
program's: they are left out.

The text is parsed into YAML events by libyaml (PyYAML's C parser; yaml.v3 is a Go port of libyaml)
and the values are built from the events without recursion, so reading takes time linear in the
file's size (`hack/bench_stackfile.py`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from source_ip.config import NAMESPACE

MAX_DEPTH = 64
"""Deepest nesting read (the program's config is a few levels deep)."""
MAX_ALIAS_NODES = 100_000
"""Most values added by expanding aliases (`*name`): a few aliases can otherwise expand exponentially."""
_LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE, _FALSE = {"true", "True", "TRUE"}, {"false", "False", "FALSE"}
_SPECIAL_FLOATS = {
    ".inf",
    ".Inf",
    ".INF",
    "+.inf",
    "+.Inf",
    "+.INF",
    "-.inf",
    "-.Inf",
    "-.INF",
    ".nan",
    ".NaN",
    ".NAN",
}
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_DIGITS = {
    2: re.compile(r"[01]+"),
    8: re.compile(r"[0-7]+"),
    10: re.compile(r"[0-9]+"),
    16: re.compile(r"[0-9a-fA-F]+"),
}
_MAX_DIGITS = {2: 64, 8: 22, 10: 20, 16: 16}
"""More significant digits than this cannot fit 64 bits (and Python's int() limits long decimal text)."""
_TAG = "tag:yaml.org,2002:"
_NO_TAG = (None, "!")  # yaml.v3 resolves a scalar with the non-specific `!` tag like an untagged one
_SHOWN = 60
MERGE = "\x00<<"
"""The pending key of a merge key's value (no real key holds a NUL: _decode refuses it)."""


class StackFileError(Exception):
    """A stack file the CLI would not read, or that the offline render cannot use."""


def read_stack_file(path: Path) -> dict[str, str]:
    """The raw config of a Pulumi.<stack>.yaml (keys `namespace:key`), as the CLI passes it to the program."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StackFileError(f"{path}: cannot be read: {error.strerror or error}") from None
    return parse_stack_file(data, str(path))


def parse_stack_file(data: bytes, name: str = "stack file") -> dict[str, str]:
    text = _decode(data, name)
    builder = _Builder(name)
    loader = _LOADER(text)
    try:
        builder.read(loader.get_event)
    except yaml.YAMLError as error:
        raise StackFileError(f"{name}: not valid YAML: {_first_line(error)}") from None
    except (RecursionError, ValueError, TypeError, MemoryError) as error:
        raise StackFileError(f"{name}: not valid YAML: {error!s:.120}") from None
    finally:
        loader.dispose()
    if builder.documents > 1:
        raise StackFileError(f"{name}: holds {builder.documents} YAML documents; a stack file is one")
    root = builder.root
    if root is None:
        return {}
    if not isinstance(root, dict):
        raise StackFileError(f"{name}: the top level must be a mapping (with a `config:` key)")
    config = root.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{name}: `config:` must be a mapping of namespace:key to value")
    return _raw_config(builder.top_level_texts, config, name)


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise StackFileError(f"{name}: not UTF-8 (byte {error.start}); save it as UTF-8") from None
    if "\x00" in text:
        raise StackFileError(f"{name}: holds a NUL character; save it as UTF-8 text")
    return text


def _first_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())[:200]


def shorten(text: str, limit: int = _SHOWN) -> str:
    """`text` as it may appear in a message: at most `limit` characters, then how long it is."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _where(path: str) -> str:
    return shorten(path) if path else "the top"


@dataclass
class _Open:
    """A mapping or sequence whose end event has not come yet."""

    value: dict[str, Any] | list[Any]
    is_map: bool
    path: str
    depth: int
    anchor: str | None
    expanded_before: int
    """Values read and expanded from aliases before this one started."""
    key: str | None = None
    """In a mapping: the key read, waiting for its value (MERGE: a merge key's)."""
    texts: dict[str, str] = field(default_factory=dict)
    """In a mapping: the literal text of each scalar value (what the CLI passes for a config key)."""
    merges: list[dict[str, Any]] = field(default_factory=list)
    """In a mapping: the mappings its merge key names, in order; applied when the mapping ends."""
    has_merge_key: bool = False

    @property
    def is_config(self) -> bool:
        """The stack file's `config:` mapping, whose keys are the config keys."""
        return self.depth == 2 and self.path == "config"


@dataclass
class _Anchored:
    value: Any
    text: str | None
    """A scalar's literal text."""
    nodes: int
    """How many values it stands for, aliases in it expanded."""
    depth: int


@dataclass
class _Builder:
    """Builds Python values from YAML events with yaml.v3's `interface{}` resolution, iteratively."""

    name: str
    documents: int = 0
    root: Any = None
    top_level_texts: dict[str, str] = field(default_factory=dict)
    """Literal text of scalar values directly under `config:` (the CLI passes those as written)."""
    nodes: int = 0
    aliased: int = 0
    stack: list[_Open] = field(default_factory=list)
    anchors: dict[str, _Anchored] = field(default_factory=dict)
    texts: dict[int, dict[str, str]] = field(default_factory=dict)
    """id() of each mapping built -> its scalar values' literal texts (for a merge into `config:`)."""

    def read(self, next_event: Callable[[], Any]) -> None:
        """Every event up to the end of the stream, each handled once: time linear in the events."""
        handlers: dict[type, Callable[[Any], None]] = {
            yaml.ScalarEvent: self._scalar,
            yaml.MappingStartEvent: self._start,
            yaml.SequenceStartEvent: self._start,
            yaml.MappingEndEvent: self._end,
            yaml.SequenceEndEvent: self._end,
            yaml.AliasEvent: self._alias,
            yaml.DocumentStartEvent: self._document,
        }
        while True:
            event = next_event()
            if event is None or type(event) is yaml.StreamEndEvent:
                return
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)

    def _document(self, _: yaml.DocumentStartEvent) -> None:
        self.documents += 1
        self.anchors.clear()

    def _child_path(self) -> str:
        if not self.stack:
            return ""
        parent = self.stack[-1]
        if not parent.is_map:
            return f"{parent.path}[{len(parent.value)}]"
        key = shorten(parent.key or "")
        if parent.depth == 1 or parent.is_config:
            return key  # a top-level key, or a config key such as istio-source-ip:gateway
        return f"{parent.path}.{key}"

    def _depth(self) -> int:
        return len(self.stack)

    def _expanded(self) -> int:
        return self.nodes + self.aliased

    def _check_depth(self, depth: int, path: str) -> None:
        if depth > MAX_DEPTH:
            raise StackFileError(
                f"{self.name}: {_where(path)}: nested more than {MAX_DEPTH} levels deep "
                "(too large or too deeply nested for a stack file)"
            )

    def _start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        if self._expects_key():
            raise self._key_error("a mapping or list")
        path = self._child_path()
        depth = self._depth() + 1
        self._check_depth(depth, path)
        is_map = isinstance(event, yaml.MappingStartEvent)
        value: dict[str, Any] | list[Any] = {} if is_map else []
        self.stack.append(_Open(value, is_map, path, depth, event.anchor, self._expanded()))
        self.nodes += 1

    def _end(self, _: yaml.Event) -> None:
        done = self.stack.pop()
        if done.is_map and done.key is not None:  # cannot happen in a parsed mapping
            raise StackFileError(f"{self.name}: {_where(done.path)}: a key without a value")
        if done.is_map:
            assert isinstance(done.value, dict)
            for source in done.merges:  # yaml.v3: the mapping's own keys win, then the first source
                source_texts = self.texts.get(id(source), {})
                for key, value in source.items():
                    if key not in done.value:
                        done.value[key] = value
                        if key in source_texts:
                            done.texts[key] = source_texts[key]
            self.texts[id(done.value)] = done.texts
            if done.is_config:
                self.top_level_texts.update(done.texts)
        if done.anchor is not None:
            self.anchors[done.anchor] = _Anchored(
                done.value, None, self._expanded() - done.expanded_before, _nesting(done.value)
            )
        self._place(done.value, None)

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        # The hot path (most events are scalars): no path is built unless a message needs one.
        stack = self.stack
        parent = stack[-1] if stack else None
        if parent is not None and parent.is_map and parent.key is None:
            self._key(event)
            return
        if len(stack) >= MAX_DEPTH:
            self._check_depth(len(stack) + 1, self._child_path())
        self.nodes += 1
        if event.tag in _NO_TAG and not event.style:
            value = _plain(event.value)
            # The CLI passes a top-level scalar as written: no octal surprise there.
            if type(value) is int and not (parent is not None and parent.is_config):
                _refuse_legacy_octal(event.value, value, self._child_path, self.name)
        else:
            value = _resolve(event, self._child_path, self.name)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, event.value, 1, 1)
        if parent is not None and not parent.is_map:
            parent.value.append(value)  # type: ignore[union-attr]
        else:
            self._place(value, event.value)

    def _alias(self, event: yaml.AliasEvent) -> None:
        anchor, path = event.anchor or "", self._child_path()
        if any(o.anchor == anchor for o in self.stack):
            raise StackFileError(
                f"{self.name}: {_where(path)}: alias *{shorten(anchor, 30)} refers to the value it is in "
                "(too large or too deeply nested: it never ends)"
            )
        anchored = self.anchors.get(anchor)
        if anchored is None:
            raise StackFileError(
                f"{self.name}: {_where(path)}: unknown anchor {shorten(anchor, 30)!r} referenced"
            )
        if self._expects_key():
            if not isinstance(anchored.value, str):
                raise self._key_error("an alias")
            self._set_key(anchored.value)
            return
        self.aliased += anchored.nodes
        if self.aliased > MAX_ALIAS_NODES:
            raise StackFileError(
                f"{self.name}: {_where(path)}: aliases expand to more than {MAX_ALIAS_NODES:,} values "
                "(too large or too deeply nested; yaml.v3 refuses such files: excessive aliasing)"
            )
        self._check_depth(self._depth() + anchored.depth, path)
        self._place(anchored.value, anchored.text)

    def _expects_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].is_map and self.stack[-1].key is None

    def _key_error(self, what: str) -> StackFileError:
        parent = self.stack[-1]
        return StackFileError(f"{self.name}: {what} used as a key at {_where(parent.path)}; keys are strings")

    def _key(self, event: yaml.ScalarEvent) -> None:
        parent = self.stack[-1]
        text, tag = event.value, event.tag
        if (text == "<<" and tag in _NO_TAG and not event.style) or (text == "<<" and tag == f"{_TAG}merge"):
            if parent.has_merge_key:
                raise StackFileError(
                    f"{self.name}: key '<<' appears twice at {_where(parent.path)} (the Pulumi CLI refuses "
                    "this: mapping key already defined)"
                )
            parent.key, parent.has_merge_key = MERGE, True
            return
        if tag in _NO_TAG and not event.style:
            key = _plain(text)
        elif tag == f"{_TAG}merge":
            raise StackFileError(
                f"{self.name}: the !!merge tag at {_where(parent.path)} is only for the key <<; remove it"
            )
        else:
            key = _resolve(event, lambda: parent.path, self.name)
        if type(key) is not str:
            raise StackFileError(
                f"{self.name}: key {shorten(event.value)!r} at {_where(parent.path)} is not a string; "
                "quote it"
            )
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(key, event.value, 1, 1)
        self._set_key(key)

    def _set_key(self, key: str) -> None:
        parent = self.stack[-1]
        if key in parent.value:
            raise StackFileError(
                f"{self.name}: key {shorten(key)!r} appears twice at {_where(parent.path)} (the Pulumi CLI "
                "refuses this: mapping key already defined)"
            )
        parent.key = key

    def _place(self, value: Any, text: str | None) -> None:
        if not self.stack:
            if self.documents <= 1:
                self.root = value
            return
        parent = self.stack[-1]
        if not parent.is_map:
            parent.value.append(value)  # type: ignore[union-attr]
            return
        assert parent.key is not None and isinstance(parent.value, dict)
        if parent.key == MERGE:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                raise StackFileError(
                    f"{self.name}: the merge key (<<) at {_where(parent.path)} must name a mapping or a list "
                    "of mappings, e.g. `<<: *defaults` (yaml.v3: map merge requires map or sequence of maps "
                    "as the value)"
                )
            parent.merges.extend(sources)
            parent.key = None
            return
        parent.value[parent.key] = value
        if text is not None:
            parent.texts[parent.key] = "" if value is None else text
        parent.key = None


def _nesting(value: Any) -> int:
    """How many levels a built value spans (a scalar: 1), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            todo.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            todo.extend((child, depth + 1) for child in item)
    return deepest


def _resolve(event: yaml.ScalarEvent, path: Callable[[], str], name: str) -> Any:
    """A scalar's value as yaml.v3 decodes it into `interface{}`; `path` names it in a message.
    (An untagged plain scalar is `_plain`'s, with the octal check where the value is nested.)"""
    text, tag = event.value, event.tag
    if tag == f"{_TAG}str" or (tag in _NO_TAG and event.style):
        return text  # !!str, or quoted or block without a tag: a string
    value = _plain(text)
    if tag in _NO_TAG:
        return value
    assert tag is not None
    short = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
    kinds: dict[str, tuple[type, ...]] = {
        "!!int": (int,),
        "!!float": (int, float),
        "!!bool": (bool,),
        "!!null": (type(None),),
    }
    if short not in kinds:
        raise StackFileError(
            f"{name}: {_where(path())}: the tag {shorten(short, 30)} is not read here; remove it"
        )
    if type(value) in kinds[short]:  # type(), not isinstance(): a bool is no int here
        return float(value) if short == "!!float" else value
    raise StackFileError(
        f"{name}: {_where(path())}: cannot decode `{shorten(text)}` as a {short} (as yaml.v3 says)"
    )


def _plain(text: str) -> Any:
    """An untagged plain scalar, resolved as yaml.v3's resolve() does (timestamps stay strings)."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _SPECIAL_FLOATS:
        return float(text.replace(".", "", 1).lower())
    first = text[:1]
    if first == ".":
        return _go_float(text)
    if first.isdigit() or first in "+-":
        number = _go_number(text)
        if number is not None:
            return number
    return text


def _go_number(text: str) -> Any:
    plain = text.replace("_", "")
    value = _go_int(plain)
    if value is not None:
        return value
    if _YAML_STYLE_FLOAT.fullmatch(plain):
        number = _go_float(plain)
        return text if isinstance(number, str) else number
    return text  # resolve.go's later 0b/0o cases read nothing ParseInt/ParseUint with base 0 did not


def _go_float(text: str) -> float | str:
    """strconv.ParseFloat for the texts yaml.v3 hands it; out of range (±Inf, error) stays a string."""
    if not _YAML_STYLE_FLOAT.fullmatch(text):
        return text
    number = float(text)  # Python's float() has no digit limit, unlike int()
    return number if math.isfinite(number) else text


def _go_int(plain: str) -> int | None:
    """strconv.ParseInt(plain, 0, 64), then ParseUint(plain, 0, 64): 0x/0o/0b prefixes, a bare leading 0
    is octal; a sign only for ParseInt."""
    if not plain.isascii():
        return None
    sign = -1 if plain.startswith("-") else 1
    digits = plain[1:] if plain[:1] in "+-" else plain
    base = 10
    if len(digits) > 1 and digits[0] == "0":
        prefix = {"x": 16, "o": 8, "b": 2}.get(digits[1].lower())
        base, digits = (prefix, digits[2:]) if prefix else (8, digits[1:])
    return _in_range(digits, base, sign, unsigned=plain[:1] not in "+-")


def _in_range(digits: str, base: int, sign: int, *, unsigned: bool) -> int | None:
    if not _GO_DIGITS[base].fullmatch(digits) or len(digits.lstrip("0")) > _MAX_DIGITS[base]:
        return None
    value = sign * int(digits, base)
    top = 2**64 - 1 if unsigned else 2**63 - 1
    return value if -(2**63) <= value <= top else None


def _refuse_legacy_octal(text: str, value: int, path: Callable[[], str], name: str) -> None:
    """`0123` is octal 83 to yaml.v3 (YAML 1.1), decimal 123 to a reader of the file: refuse the guess."""
    plain = text.replace("_", "")
    sign, digits = (plain[0] if plain[0] in "+-" else ""), plain.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit() and value != int(plain, 10):
        raise StackFileError(
            f"{name}: {_where(path())}: {text} is read by the Pulumi CLI (Go yaml.v3 keeps YAML 1.1 octals) "
            f"as octal {value}, not {int(plain, 10)}; write {int(plain, 10)} for the decimal number, "
            f"{sign}0o{digits[1:]} for the octal one, or quote it for text"
        )


def _raw_config(top_level_texts: dict[str, str], config: dict[str, Any], name: str) -> dict[str, str]:
    raw: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        ours = full.split(":", 1)[0] == NAMESPACE
        if full.count(":") != 1 or not all(full.split(":")):
            raise StackFileError(f"{name}: config key {shorten(key)!r} is not namespace:key")
        if isinstance(value, dict) and set(value) == {"secure"}:
            if ours:
                raise StackFileError(
                    f"{name}: {shorten(full)} is a secret (secure:); the offline render cannot decrypt it. "
                    "Render a copy of the file with a plain value for that key"
                )
            continue  # another namespace's secret: not the program's, never read here
        if isinstance(value, (dict, list)):
            try:
                raw[full] = json.dumps(value, sort_keys=True, allow_nan=False)
            except ValueError:
                raise StackFileError(
                    f"{name}: {shorten(full)} holds .inf or .nan, which the CLI cannot pass on"
                ) from None
        else:
            raw[full] = top_level_texts.get(key, "" if value is None else str(value))
    return raw
