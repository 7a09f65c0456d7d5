"""Read a Pulumi.<stack>.yaml the way the Pulumi CLI reads it, into the raw config the program gets.

The CLI parses stack files with Go's yaml.v3 and hands each config value to the program as a string:
- a top-level scalar as its literal text (yaml.v3 decodes it into a Go string: `010` stays "010");
- an object or list as JSON, its scalars resolved as yaml.v3 resolves them into `interface{}`:
  only true/True/TRUE and false/False/FALSE are booleans (`yes`, `on` are strings), integers follow
  Go's strconv.ParseInt(text, 0, 64) with underscores removed (`010` is octal 8, `0x1f`, `0o17`,
  `0b11`), a timestamp stays a string, and sexagesimal `1:30` is a string
  (go-yaml/yaml v3 resolve.go and decode.go);
- duplicate keys are an error ("mapping key already defined"), as in yaml.v3.

Everything that is not such a file — another encoding, several documents, `config:` that is not a
mapping, a key that is not a string — is a StackFileError naming the file and what is wrong.
A `secure:` value of the program's namespace cannot be read offline: StackFileError names the key
(never the ciphertext). Secrets of other namespaces (a kubeconfig, a token) are not the program's:
they are left out.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from source_ip.config import NAMESPACE

MAX_NODES = 100_000
MAX_DEPTH = 64
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE, _FALSE = {"true", "True", "TRUE"}, {"false", "False", "FALSE"}
_SPECIAL_FLOATS = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"}
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_DIGITS = {2: re.compile(r"[01]+"), 8: re.compile(r"[0-7]+"), 10: re.compile(r"[0-9]+"), 16: re.compile(r"[0-9a-fA-F]+")}
_INT64 = (-(2**63), 2**64 - 1)  # ParseInt, then ParseUint
_STR_TAG = "tag:yaml.org,2002:str"


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
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    try:
        documents = list(yaml.compose_all(io.StringIO(text)))
    except YAMLError as error:
        raise StackFileError(f"{name}: not valid YAML: {_first_line(error)}") from None
    except (RecursionError, ValueError, TypeError) as error:
        raise StackFileError(f"{name}: not valid YAML: {error!s:.120}") from None
    documents = [d for d in documents if d is not None]
    if len(documents) > 1:
        raise StackFileError(f"{name}: holds {len(documents)} YAML documents; a stack file is one")
    if not documents:
        return {}
    walker = _Walker(name)
    root = walker.value(documents[0], "", 0)
    if root is None:
        return {}
    if not isinstance(root, dict):
        raise StackFileError(f"{name}: the top level must be a mapping (with a `config:` key)")
    config = root.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{name}: `config:` must be a mapping of namespace:key to value")
    return _raw_config(walker.top_level_texts, config, name)


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


def _first_line(error: YAMLError) -> str:
    return " ".join(str(error).split())[:200]


class _Walker:
    """Turns composed YAML nodes into Python values with yaml.v3's `interface{}` resolution."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes = 0
        self.top_level_texts: dict[str, str] = {}
        """Literal text of scalar values directly under `config:` (the CLI passes those as written)."""

    def value(self, node: Node, path: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            where = path if len(path) <= 60 else path[:60] + "..."
            raise StackFileError(f"{self.name}: too large or too deeply nested (at {where or 'the top'})")
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            return [self.value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            return _scalar(node)
        raise StackFileError(f"{self.name}: unsupported YAML at {path}")

    def _mapping(self, node: MappingNode, path: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if key_node.tag == "tag:yaml.org,2002:merge" or (isinstance(key_node, ScalarNode) and key_node.value == "<<"):
                raise StackFileError(f"{self.name}: merge keys (<<) at {path or 'the top'} are not supported")
            if not isinstance(key, str):
                raise StackFileError(
                    f"{self.name}: key {key_node.value if isinstance(key_node, ScalarNode) else '...'!r} "
                    f"at {path or 'the top'} is not a string; quote it"
                )
            if key in result:
                raise StackFileError(
                    f"{self.name}: key {key!r} appears twice at {path or 'the top'} (the Pulumi CLI "
                    "refuses this: mapping key already defined)"
                )
            child = f"{path}.{key}" if path else key
            result[key] = self.value(value_node, child, depth + 1)
            if path == "config" and isinstance(value_node, ScalarNode):
                self.top_level_texts[key] = "" if result[key] is None else value_node.value
        return result


def _scalar(node: ScalarNode) -> Any:
    text = node.value
    if node.style is not None or (node.tag == _STR_TAG and _explicit(node)):
        return text  # quoted, block or !!str: a string
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _SPECIAL_FLOATS:
        return float(text.replace(".", "", 1).lower())
    if text[:1].isdigit() or text[:1] in "+-.":
        number = _go_number(text)
        if number is not None:
            return number
    return text


def _explicit(node: ScalarNode) -> bool:
    """A plain scalar tagged !!str although it would resolve to something else."""
    return _go_number(node.value) is not None or node.value in _NULLS | _TRUE | _FALSE


def _go_number(text: str) -> int | float | None:
    plain = text.replace("_", "")
    value = _go_int(plain)
    if value is not None:
        return value
    if _GO_FLOAT.fullmatch(plain):
        number = float(plain)
        return number if math.isfinite(number) else None
    return None


def _go_int(plain: str) -> int | None:
    """strconv.ParseInt(plain, 0, 64), then ParseUint: 0x/0o/0b prefixes, a bare leading 0 is octal."""
    if not plain.isascii():
        return None
    sign, digits = (-1, plain[1:]) if plain.startswith("-") else (1, plain[1:] if plain.startswith("+") else plain)
    base = 10
    if len(digits) > 1 and digits[0] == "0":
        prefix = {"x": 16, "o": 8, "b": 2}.get(digits[1].lower())
        base, digits = (prefix, digits[2:]) if prefix else (8, digits[1:])
    if not _GO_DIGITS[base].fullmatch(digits):
        return None
    value = sign * int(digits, base)
    return value if _INT64[0] <= value <= _INT64[1] else None


def _raw_config(top_level_texts: dict[str, str], config: dict[str, Any], name: str) -> dict[str, str]:
    raw: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        ours = full.split(":", 1)[0] == NAMESPACE
        if full.count(":") != 1 or not all(full.split(":")):
            raise StackFileError(f"{name}: config key {key!r} is not namespace:key")
        if isinstance(value, dict) and set(value) == {"secure"}:
            if ours:
                raise StackFileError(
                    f"{name}: {full} is a secret (secure:); the offline render cannot decrypt it. "
                    "Render a copy of the file with a plain value for that key"
                )
            continue  # another namespace's secret: not the program's, never read here
        if isinstance(value, (dict, list)):
            try:
                raw[full] = json.dumps(value, sort_keys=True, allow_nan=False)
            except ValueError:
                raise StackFileError(f"{name}: {full} holds .inf or .nan, which the CLI cannot pass on") from None
        else:
            raw[full] = top_level_texts.get(key, "" if value is None else str(value))
    return raw
