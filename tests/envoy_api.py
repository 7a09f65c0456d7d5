"""Envoy's API for the tests: every EnvoyFilter patch value parsed STRICTLY (an unknown or misspelt field, a
wrong enum value or type fails) with the messages of the `xds-protos` package (pinned in
requirements-dev.txt), as istiod builds them for each `applyTo` (istio/istio 1.30.3 pkg/config/xds/xds.go
BuildXDSObjectFromStruct). istiod itself converts patch values non-strictly, so a misspelt field would be
dropped silently and never reach Envoy: the reason for this check.

The one field the pinned package lacks (LocalRateLimit.max_dynamic_descriptors, newer than xds-protos 1.71.0)
is read from a verbatim excerpt of Envoy's proto (envoy_protos/local_rate_limit_excerpt.proto), checked by
name, number and type, and removed before the strict parse.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

from google.protobuf import json_format, symbol_database
from google.protobuf.message import Message

APPLY_TO = {
    "LISTENER": "envoy.config.listener.v3.listener_pb2.Listener",
    "FILTER_CHAIN": "envoy.config.listener.v3.listener_components_pb2.FilterChain",
    "NETWORK_FILTER": "envoy.config.listener.v3.listener_components_pb2.Filter",
    "LISTENER_FILTER": "envoy.config.listener.v3.listener_components_pb2.ListenerFilter",
    "HTTP_FILTER": "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2"
    ".HttpFilter",
    "ROUTE_CONFIGURATION": "envoy.config.route.v3.route_pb2.RouteConfiguration",
    "VIRTUAL_HOST": "envoy.config.route.v3.route_components_pb2.VirtualHost",
    "HTTP_ROUTE": "envoy.config.route.v3.route_components_pb2.Route",
    "CLUSTER": "envoy.config.cluster.v3.cluster_pb2.Cluster",
}
"""The message istiod builds a patch value into, by applyTo (xds.go at 1.30.3), as module.Message."""

EXCERPT = Path(__file__).with_name("envoy_protos") / "local_rate_limit_excerpt.proto"
LOCAL_RATE_LIMIT = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"


class EnvoyApiError(ValueError):
    """A patch value Envoy's API does not accept as written."""


def excerpt_fields() -> dict[str, tuple[str, int]]:
    """The fields declared in the excerpt: name -> (type, number)."""
    found = {}
    for line in EXCERPT.read_text(encoding="utf-8").splitlines():
        code = line.split("//", 1)[0]
        match = re.match(r"\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)", code)
        if match:
            found[match.group(2)] = (match.group(1), int(match.group(3)))
    return found


def message_class(path: str) -> type[Message]:
    module, _, name = path.rpartition(".")
    cls: type[Message] = getattr(importlib.import_module(module), name)
    return cls


def _load_package_of(type_name: str) -> None:
    """Import every generated module of the proto package of `type_name`, so an Any of it resolves."""
    package = type_name.rpartition(".")[0]
    try:
        module = importlib.import_module(package)
    except ImportError:
        return
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{info.name}")


def _prepare(value: Any) -> Any:
    """A copy of `value` with each Any's package imported and the excerpt's fields checked and removed."""
    if isinstance(value, list):
        return [_prepare(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _prepare(v) for k, v in value.items()}
    type_url = out.get("@type")
    if isinstance(type_url, str):
        type_name = type_url.rpartition("/")[2]
        _load_package_of(type_name)
        if type_name == LOCAL_RATE_LIMIT:
            declared = message_class(
                "envoy.extensions.filters.http.local_ratelimit.v3.local_rate_limit_pb2.LocalRateLimit"
            ).DESCRIPTOR.fields_by_name
            for name, (kind, _) in excerpt_fields().items():
                if name in out and name not in declared:
                    item = out.pop(name)
                    if kind == "google.protobuf.UInt32Value" and not (
                        isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 2**32
                    ):
                        raise EnvoyApiError(f"{type_name}.{name}: {item!r} is not a {kind}")
    return out


def parse_patch_value(apply_to: str, value: dict[str, Any]) -> Message:
    """The patch value as the message istiod builds for `apply_to`; EnvoyApiError naming what is wrong."""
    if apply_to not in APPLY_TO:
        raise EnvoyApiError(f"applyTo {apply_to!r} is not one this check knows: {sorted(APPLY_TO)}")
    message = message_class(APPLY_TO[apply_to])()
    try:
        json_format.ParseDict(_prepare(copy.deepcopy(value)), message, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        raise EnvoyApiError(f"{apply_to}: {error}") from None
    return message


def parse_envoy_filter(obj: dict[str, Any]) -> list[Message]:
    """Every configPatch value of an EnvoyFilter object, parsed strictly (one message per patch)."""
    return [
        parse_patch_value(patch["applyTo"], patch["patch"]["value"])
        for patch in obj["spec"]["configPatches"]
        if "value" in patch.get("patch", {})
    ]


def typed_config(message: Message) -> Message:
    """The message inside a parsed filter's typed_config (an Any)."""
    any_value = message.typed_config
    name = any_value.TypeName()
    cls = symbol_database.Default().GetSymbol(name)
    inner: Message = cls()
    any_value.Unpack(inner)
    return inner
