"""How the controllers' Go code reads a value (strconv.ParseBool, strings.TrimSpace, attribute lists,
JSON): the program reads an annotation as the controller will."""

from __future__ import annotations

import json
from typing import Any

GO_PARSE_BOOL_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_PARSE_BOOL_FALSE = ("0", "f", "F", "FALSE", "false", "False")
"""What Go's strconv.ParseBool accepts; anything else is an error in controllers that use it."""

GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
GO_SPACE += "\u2028\u2029\u202f\u205f\u3000"
"""What Go's strings.TrimSpace trims (unicode.IsSpace); Python's str.strip() also trims \\x1c-\\x1f."""


def aws_attribute_pairs(value: str) -> list[tuple[str, str]] | None:
    """An attribute list `a=b,c=d` read as aws-load-balancer-controller reads it, pairs in order (a key
    given twice: the controller keeps the last), or None where the controller reports an error.

    kubernetes-sigs/aws-load-balancer-controller pkg/annotations/parser.go: splitKeyValuePairs (a
    backslash escapes the next character; a comma ends a pair only when '=' follows somewhere after it,
    otherwise the rest is one malformed pair, or at the end the comma is kept), then
    ParseStringMapAnnotation (SplitN on '=', key and value TrimSpace'd, an empty key or no '=' is an
    error, `keyValues[key] = value` so the last of a repeated key wins).
    """
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i + 1])
            i += 2
            continue
        if char == ",":
            remaining = value[i + 1 :].strip(GO_SPACE)
            if "=" in remaining:
                parts.append("".join(current).strip(GO_SPACE))
                current = []
            elif remaining:
                parts += ["".join(current).strip(GO_SPACE), remaining]
                current = []
                break
            else:
                current.append(char)
        else:
            current.append(char)
        i += 1
    if current:
        parts.append("".join(current).strip(GO_SPACE))
    pairs = []
    for part in parts:
        key, equals, item = part.partition("=")
        if not equals or not key.strip(GO_SPACE):
            return None
        pairs.append((key.strip(GO_SPACE), item.strip(GO_SPACE)))
    return pairs


class _GoJsonObject(list[tuple[str, Any]]):
    """A JSON object's members in order (json.loads object_pairs_hook), told apart from an array."""


def go_json_string_field(value: str, field: str) -> tuple[bool, str | None]:
    """(readable, the field's value) of a JSON object decoded into a Go struct with a string field
    `json:"<field>"` (encoding/json Unmarshal): names match case-insensitively, the last match wins,
    null leaves the field unset. Not readable: malformed JSON, NaN/Infinity, nesting too deep, not an
    object or null, or a field value that is not a string."""

    def refuse_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        parsed = json.loads(value, object_pairs_hook=_GoJsonObject, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        return False, None
    if parsed is None:
        return True, None
    if not isinstance(parsed, _GoJsonObject):
        return False, None
    found: str | None = None
    for name, item in parsed:
        if name.casefold() != field.casefold() or item is None:
            continue
        if not isinstance(item, str):
            return False, None
        found = item
    return True, found
