"""Day 2 change review: what a change does to live traffic, from two offline renders.

    python -m tools.compare --stack S [--base-ref REF]   (make compare STACK=S [BASE_REF=REF]) the working
        Pulumi.S.yaml against the one committed at REF (default HEAD), each rendered fresh into a temporary
        folder, the committed one by the program as it was at REF (a temporary `git worktree`)
    python -m tools.compare --stack S --base DIR         (make compare STACK=S BASE=DIR) against a render
    python -m tools.render --stack S --out NEW --compare OLD     (OLD: a render of what is deployed)
    python -m tools.compare OLD NEW                             (two renders already written)

Prints the resources `pulumi up` would replace rather than update, and in words what that and the
other changes do to traffic: a gateway whose load balancer (Service) is replaced or re-addressed gets a
new address; a changed platform, loadBalancerClass or Service annotation, with what the load balancer's
controller does with it where its code says so (source_ip/review_facts.py: the NLB replaced, a new
address, off the internet; else a risk saying it is not known); an allowlist or a front proxy added or
narrowed (who is refused from now on; an allowlist of 0.0.0.0/0 and ::/0 is no allowlist); PROXY protocol
switched on or off for a live gateway without the migration steps (`proxyProtocolMigration`,
docs/migration.md) drops connections while the sides roll; a removed HPA or PDB; a switch of routing mode
(istio <-> gateway-api); an Istio upgrade by more than one minor.
Exit codes: 0 no risk to live traffic found (notes may be printed), 2 bad input (a folder that is not a
render, an unknown stack or ref, a render that failed: a sentence, never a traceback), 3 risks found. An
unchanged stack prints no warning.

What pulumi-kubernetes replaces, from its provider code (pulumi/pulumi-kubernetes, read at
v4.32.0-27-g94977969d, the newest snapshot here; the project installs 4.34.2):
- provider/pkg/provider/diff.go forceNewProperties: `.metadata.name` and `.metadata.namespace` of every
  object; Deployment/DaemonSet/StatefulSet `.spec.selector`; Service `.spec.clusterIP`; ConfigMap
  `.data`/`.binaryData` unless the provider's enableConfigMapMutable is set (provider.go: default false);
  Secret `.type`; Job `.spec.template`; StatefulSet `.spec.serviceName`, `.spec.volumeClaimTemplates`.
- provider.go Diff: a replaced object that keeps its name and namespace is deleted before it is created
  again (deleteBeforeReplace); one with a new name is created first, then the old one deleted.
- helm_release.go Diff: a Release's `name` and `namespace` force a replacement, created before the old
  release is deleted (DeleteBeforeReplace: false).
A resource whose Pulumi name (URN) changes without an alias is created anew and the old one deleted,
whatever the provider says.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy import validators
from source_ip import review_facts as rf
from source_ip.addresses import networks
from source_ip.config.rules import admits_everyone
from source_ip.facts import (
    GATEWAY_PARAMETERS_WHILE_MISSING,
    GO_PARSE_BOOL_FALSE,
    GO_PARSE_BOOL_TRUE,
    LB_SENDS_PROXY_PROTOCOL_ANNOTATION,
    proxy_switch_for,
)
from source_ip.front_proxies import GUARD_POLICY_SUFFIX
from tools.render_ids import object_id, release_id
from tools.yamlio import SAFE_LOADER

REQUIRED = ("graph.json", "manifests.yaml", "patches.yaml", "releases.yaml")
GATEWAY_API = "gateway.networking.k8s.io/"
ADDRESS_ANNOTATIONS = (
    "metallb.io/loadBalancerIPs",
    "service.beta.kubernetes.io/aws-load-balancer-eip-allocations",
)
"""Annotations that pin a load balancer's address (MetalLB, AWS EIPs): a change is a new address."""
FORCE_NEW: dict[str, tuple[str, ...]] = {
    "apps/v1/Deployment": ("spec.selector",),
    "apps/v1/DaemonSet": ("spec.selector",),
    "apps/v1/StatefulSet": ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"),
    "v1/Service": ("spec.clusterIP",),
    "v1/ConfigMap": ("data", "binaryData"),
    "v1/Secret": ("type",),
    "batch/v1/Job": ("spec.template", "spec.selector"),
}
"""pulumi-kubernetes diff.go forceNewProperties, for the kinds a render can hold (name/namespace: always)."""
SERVES_TRAFFIC = ("Namespace", "Service", "Deployment", "Gateway", "DaemonSet", "helm")


ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class BadInputError(Exception):
    """Input the review cannot use (exit 2): the message names the flag, the value and what is allowed."""


class NotARenderError(BadInputError):
    """A folder or file set that is not an offline render."""


@dataclass(frozen=True)
class Finding:
    risk: bool
    text: str


@dataclass
class Review:
    findings: list[Finding] = field(default_factory=list)
    updated: int = 0
    created: int = 0

    @property
    def risks(self) -> list[Finding]:
        return [f for f in self.findings if f.risk]

    def risk(self, text: str) -> None:
        self.findings.append(Finding(True, text))

    def note(self, text: str) -> None:
        self.findings.append(Finding(False, text))


def read_render(folder: Path) -> Render:
    """A render folder, parsed; NotARenderError when it is not one."""
    if not folder.is_dir():
        raise NotARenderError(f"{folder}: not a folder (name a render folder, e.g. render/<stack>)")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise NotARenderError(
            f"{folder}: not a render (no {', '.join(missing)}); render the deployed config there first"
        )
    try:
        files = {name: (folder / name).read_text() for name in REQUIRED}
    except (OSError, UnicodeDecodeError) as error:
        raise NotARenderError(
            f"{folder}: cannot be read: {getattr(error, 'strerror', None) or error}"
        ) from None
    return parse_render(files, str(folder))


@dataclass
class Render:
    nodes: dict[str, dict[str, Any]]
    """URN-like key (parent type chain and name) -> graph.json node."""
    objects: dict[str, dict[str, Any]]
    """Object id (apiVersion/kind/namespace/name, or helm/namespace/name) -> object or release."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """The stack outputs (graph.json `outputs`): `platform` names the load balancer."""

    def gateway_parameters(self) -> set[str]:
        """Object ids of the ConfigMaps Gateway API Gateways name in spec.infrastructure.parametersRef."""
        return {
            _parameters_id(obj)
            for oid, obj in self.objects.items()
            if oid.startswith(GATEWAY_API) and obj.get("kind") == "Gateway"
        }

    def gateways(self) -> dict[str, dict[str, Any]]:
        """Gateway id (mode, namespace/name) -> its facts: listener, lb, hpa, pdb, address, service type.
        The client-IP settings are read as the policy pack reads them (policy/validators.Gateway)."""
        found: dict[str, dict[str, Any]] = {}
        for oid, obj in self.objects.items():
            if oid.startswith("helm/") and obj.get("chart") == "gateway":
                values = obj.get("values") or {}
                gateway = validators.Gateway(obj["name"], values)
                found[f"{obj['namespace']}/{obj['name']}"] = {
                    "mode": "istio",
                    "gateway": gateway,
                    "type": gateway.service.get("type", "LoadBalancer"),
                    "class": gateway.service.get("loadBalancerClass"),
                    "hpa": bool((values.get("autoscaling") or {}).get("enabled")),
                    "pdb": bool(values.get("podDisruptionBudget")),
                    "replicas": values.get("replicaCount"),
                }
            elif oid.startswith(GATEWAY_API) and obj.get("kind") == "Gateway":
                meta = obj["metadata"]
                data = self.objects.get(_parameters_id(obj), {}).get("data") or {}
                data = data if isinstance(data, dict) else {}
                gateway = validators.gateway_from_parameters(meta["name"], data)
                spec = validators.parameters_patch(data.get("service")).get("spec")
                spec = spec if isinstance(spec, dict) else {}
                found[f"{meta.get('namespace', '')}/{meta['name']}"] = {
                    "mode": "gateway-api",
                    "gateway": gateway,
                    "type": spec.get("type", "LoadBalancer"),
                    "class": spec.get("loadBalancerClass"),
                    "hpa": "horizontalPodAutoscaler" in data,
                    "pdb": "podDisruptionBudget" in data,
                    "replicas": None,
                }
        platform = self.outputs.get("platform")
        for key, facts in found.items():
            namespace, name = key.split("/", 1)
            gateway = facts.pop("gateway")
            both = f"networking.istio.io/v1alpha3/EnvoyFilter/{namespace}/{name}-proxy-protocol-accept-both"
            strict = "proxyProtocol" in gateway.topology
            facts["annotations"] = gateway.annotations
            facts["listener"] = "both" if both in self.objects else "strict" if strict else "off"
            facts["lb"] = "sends" if gateway.lb_sends_proxy_protocol else "none"
            facts["platform"] = platform if isinstance(platform, str) else None
            facts["controller"] = _controller(facts["platform"], facts["class"], gateway.annotations)
            policies = f"security.istio.io/v1/AuthorizationPolicy/{namespace}/{name}"
            facts["allowlist"] = _blocks(self.objects.get(f"{policies}-allowlist"), "ALLOW")
            facts["guard"] = _blocks(self.objects.get(f"{policies}{GUARD_POLICY_SUFFIX}"), "DENY")
        return found


def parse_render(files: dict[str, str], name: str) -> Render:
    """The files of a render (as tools.render writes them), parsed; NotARenderError naming `name` and the
    file whose content does not have the shape tools.render writes."""
    try:
        graph = json.loads(files["graph.json"])
        manifests = list(yaml.load_all(files["manifests.yaml"], Loader=SAFE_LOADER))
        releases = yaml.load(files["releases.yaml"], Loader=SAFE_LOADER) or []
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as error:
        raise NotARenderError(f"{name}: not a render ({str(error)[:120]})") from None
    problem = _shape_problem(graph, manifests, releases)
    if problem:
        raise NotARenderError(f"{name}: not a render ({problem})")
    by_id = {n["id"]: n for n in graph["resources"]}

    def chain(node: dict[str, Any]) -> str:
        types, parent, seen = [node["type"]], node.get("parent"), set()
        while parent in by_id and parent not in seen:
            seen.add(parent)
            types.insert(0, by_id[parent]["type"])
            parent = by_id[parent].get("parent")
        return "$".join(types) + "::" + node["name"]

    objects = {object_id(obj): obj for obj in manifests if obj is not None}
    for release in releases:
        objects[release_id(release)] = release
    outputs = graph.get("outputs")
    return Render(
        {chain(n): n for n in by_id.values()}, objects, outputs if isinstance(outputs, dict) else {}
    )


def _shape_problem(graph: Any, manifests: list[Any], releases: Any) -> str | None:
    """What in a render's parsed files is not as tools.render writes it (the fields the review reads)."""
    if not isinstance(graph, dict) or not isinstance(graph.get("resources"), list):
        return "graph.json has no list of resources"
    for node in graph["resources"]:
        if not isinstance(node, dict) or not all(
            isinstance(node.get(k), str) for k in ("id", "type", "name")
        ):
            return f"graph.json: a resource without a string id, type and name: {str(node)[:80]}"
        if node.get("parent") is not None and not isinstance(node["parent"], str):
            return f"graph.json: resource {node['id']}: parent is not a string"
        if node.get("object") is not None and not isinstance(node["object"], str):
            return f"graph.json: resource {node['id']}: object is not a string"
    for obj in manifests:
        if obj is None:
            continue
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("name"), str)
            or not isinstance(meta.get("namespace", ""), str)
            or not isinstance(obj.get("kind"), str)
            or not isinstance(obj.get("apiVersion"), str)
        ):
            return f"manifests.yaml: an object without apiVersion, kind and metadata.name: {str(obj)[:80]}"
        if not isinstance(obj.get("spec", {}), dict):
            return f"manifests.yaml: {object_id(obj)}: spec is not a mapping"
    if not isinstance(releases, list):
        return "releases.yaml is not a list of releases"
    for release in releases:
        if not isinstance(release, dict) or not all(
            isinstance(release.get(k), str) for k in ("name", "namespace", "chart")
        ):
            return f"releases.yaml: a release without a string name, namespace and chart: {str(release)[:80]}"
        if not isinstance(release.get("values", {}), dict):
            return f"releases.yaml: release {release['name']}: values is not a mapping"
    return None


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _label(key: str) -> str:
    kind_chain, name = key.rsplit("::", 1)
    return f"{kind_chain.rsplit('$', 1)[-1].rsplit(':', 1)[-1]} {name}"


def _parameters_id(gateway: dict[str, Any]) -> str:
    """The object id of the ConfigMap a Gateway API Gateway names in spec.infrastructure.parametersRef."""
    ref = _get(gateway, "spec.infrastructure.parametersRef")
    name = ref.get("name", "") if isinstance(ref, dict) else ""
    return f"v1/ConfigMap/{(gateway.get('metadata') or {}).get('namespace', '')}/{name}"


def _blocks(policy: dict[str, Any] | None, action: str) -> list[str] | None:
    """The CIDRs of an AuthorizationPolicy the program writes (an allowlist's ALLOW on ipBlocks or
    remoteIpBlocks, a front proxy guard's DENY on notIpBlocks); None without one."""
    if not isinstance(policy, dict) or _get(policy, "spec.action") != action:
        return None
    found: list[str] = []
    for rule in _get(policy, "spec.rules") or []:
        for source in (rule.get("from") or []) if isinstance(rule, dict) else []:
            source = source.get("source") if isinstance(source, dict) else None
            for key in ("ipBlocks", "remoteIpBlocks", "notIpBlocks"):
                blocks = source.get(key) if isinstance(source, dict) else None
                found += [b for b in blocks if isinstance(b, str)] if isinstance(blocks, list) else []
    return found


def _admitted(cidrs: list[str] | None) -> list[str] | None:
    """Who an allowlist admits: None for everyone (no allowlist, or one that admits every IPv4 and IPv6
    address, source_ip.config.rules.admits_everyone), else its CIDRs."""
    if cidrs is None or not networks(cidrs):
        return None
    try:
        return None if admits_everyone(cidrs) else cidrs
    except ValueError:
        return cidrs


def _no_longer_in(before: list[str], after: list[str]) -> list[str]:
    """The entries of `before` that no entry of `after` covers: addresses refused from now on."""
    kept = networks(after)
    return [
        str(old)
        for old in networks(before)
        if not any(old.version == new.version and old.subnet_of(new) for new in kept)  # type: ignore[arg-type]
    ]


def _few(cidrs: list[str]) -> str:
    shown = ", ".join(cidrs[:4])
    return shown if len(cidrs) <= 4 else f"{shown} and {len(cidrs) - 4} more"


def _aws(annotations: dict[str, str], suffix: str) -> str | None:
    """An AWS annotation, under either prefix the controllers read."""
    for prefix in rf.ANNOTATION_PREFIXES:
        if prefix + suffix in annotations:
            return annotations[prefix + suffix]
    return None


def _controller(platform: str | None, lb_class: Any, annotations: dict[str, str]) -> str | None:
    """Which AWS controller makes this Service's load balancer (review_facts: LBC or CPA), or None when
    it is not an AWS one the review knows."""
    lb_type = _aws(annotations, "aws-load-balancer-type")
    if lb_class is not None:
        return rf.LBC if lb_class == rf.LBC_CLASS else None
    if lb_type == "nlb-ip" or (
        lb_type == "external"
        and _aws(annotations, "aws-load-balancer-nlb-target-type") in rf.LBC_TARGET_TYPES
    ):
        return rf.LBC
    if platform in ("aws", "aws-nlb") and lb_type in (None, ""):
        return rf.CPA
    return None


def _scheme(annotations: dict[str, str]) -> str | None:
    """The scheme aws-load-balancer-controller reads from the annotations, None when they leave it to the
    live NLB (review_facts.SCHEME_KEPT)."""
    scheme = _aws(annotations, "aws-load-balancer-scheme")
    if scheme is not None:
        return scheme
    internal = _aws(annotations, "aws-load-balancer-internal")
    if internal in GO_PARSE_BOOL_TRUE:  # ParseBoolAnnotation: strconv.ParseBool
        return "internal"
    if internal in GO_PARSE_BOOL_FALSE:
        return "internet-facing"
    return None


def _serves(oid: str) -> bool:
    return oid.startswith("helm/") or oid.split("/")[-3] in SERVES_TRAFFIC


def review(old_files: dict[str, str], new_files: dict[str, str]) -> Review:
    """The review of two renders' files."""
    return review_renders(
        parse_render(old_files, "the old render"), parse_render(new_files, "the new render")
    )


def review_renders(old: Render, new: Render) -> Review:
    result = Review()
    _replacements(old, new, result)
    _gateways(old, new, result)
    _istio_version(old, new, result)
    _https(old, new, result)
    return result


def _https_ports(obj: dict[str, Any]) -> set[str]:
    """The HTTPS entries of an Istio Gateway (servers) or a Gateway API Gateway (listeners)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return set()
    found: set[str] = set()
    for server in spec.get("servers") or []:
        port = server.get("port") if isinstance(server, dict) else None
        if isinstance(port, dict) and (port.get("number") == 443 or port.get("protocol") == "HTTPS"):
            found.add(f"server {port.get('name', port.get('number'))} ({port.get('number')})")
    for listener in spec.get("listeners") or []:
        if isinstance(listener, dict) and (
            listener.get("port") == 443 or listener.get("protocol") == "HTTPS"
        ):
            found.add(f"listener {listener.get('name')} ({listener.get('port')})")
    return found


def _https(old: Render, new: Render, result: Review) -> None:
    """A removed HTTPS server or listener: clients sent there (by a redirect that is only removed after
    the update, HSTS, bookmarks, https:// links) find nothing on 443."""
    for oid, obj in old.objects.items():
        if oid.startswith("helm/") or obj.get("kind") != "Gateway":
            continue
        gone = _https_ports(obj) - _https_ports(new.objects.get(oid, {}))
        for what in sorted(gone):
            result.risk(
                f"{_short(oid)}: the HTTPS {what} is removed; clients already sent to https:// "
                "(the port-80 redirect until the update ends, HSTS, bookmarks, links) find nothing there: "
                "turn tls.redirectHttp off in one update first, and remove tls in a later one"
            )


def _replacements(old: Render, new: Render, result: Review) -> None:
    moved: set[str] = set()
    added = {k: n for k, n in new.nodes.items() if k not in old.nodes}
    for key, node in sorted(old.nodes.items()):
        if key in new.nodes:
            before, after = node.get("object"), new.nodes[key].get("object")
            if before and after and before != after:
                what = (
                    "release name or namespace"
                    if before.startswith("helm/")
                    else "metadata.name or namespace"
                )
                text = (
                    f"{_label(key)} is replaced: its {what} changes ({_short(before)} -> {_short(after)}); "
                    "pulumi up creates the new one, then deletes the old"
                )
                (result.risk if _serves(before) else result.note)(text)
                moved.add(before)
            continue
        target = next(
            (k for k, n in added.items() if node.get("object") and n.get("object") == node["object"]), None
        )
        if target is not None:
            result.risk(
                f"{_label(key)} changes its Pulumi name (URN) to {_label(target)} without an alias: pulumi "
                f"up creates it anew before deleting the old one, both naming {_short(node['object'])}; the "
                "create fails with AlreadyExists, or (with kubernetes:upsertExistingObjects) the delete then "
                "removes the object. Keep the name, or add an alias"
            )
            moved.add(node["object"])
    for oid, obj in sorted(old.objects.items()):
        if oid in new.objects:
            fields = _forced_fields(oid, obj, new.objects[oid])
            if fields:
                text = (
                    f"{_short(oid)} is replaced, not updated: {', '.join(fields)} changed, which "
                    "pulumi-kubernetes "
                    "cannot update; it deletes the object, then creates it again"
                )
                if oid.split("/")[-3] == "ConfigMap":
                    text += " (unless kubernetes:enableConfigMapMutable is true)"
                    if oid in new.gateway_parameters():
                        text += f"; it holds a Gateway's parameters: {GATEWAY_PARAMETERS_WHILE_MISSING}"
                (result.risk if _serves(oid) else result.note)(text)
            elif obj != new.objects[oid]:
                result.updated += 1
        elif oid not in moved and not _is_gateway(oid, obj):
            text = f"{_short(oid)} is deleted"
            if oid.split("/")[-3] == "Namespace":
                result.risk(text + ": Kubernetes deletes everything in that namespace with it")
            elif (
                oid.split("/")[-3] == "AuthorizationPolicy"
                and _blocks(obj, "ALLOW")
                and not _admitted(_blocks(obj, "ALLOW"))
            ):
                result.note(
                    text + ": it admitted everyone (0.0.0.0/0 and ::/0), so no one is refused by its removal"
                )
            elif oid.split("/")[-3] == "AuthorizationPolicy":
                result.risk(
                    text
                    + ": what it allowed or denied no longer applies (an allowlist removed admits anyone)"
                )
            else:
                (result.risk if _serves(oid) else result.note)(text)
    result.created = len([oid for oid in new.objects if oid not in old.objects])


def _is_gateway(oid: str, obj: dict[str, Any]) -> bool:
    return (oid.startswith("helm/") and obj.get("chart") == "gateway") or (
        oid.startswith(GATEWAY_API) and obj.get("kind") == "Gateway"
    )


def _forced_fields(oid: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    if oid.startswith("helm/"):
        return []
    kind = "/".join(oid.split("/")[:-2])
    return [f".{p}" for p in FORCE_NEW.get(kind, ()) if _get(before, p) != _get(after, p)]


def _short(oid: str) -> str:
    parts = oid.split("/")
    if parts[0] == "helm":
        return f"Helm release {parts[1]}/{parts[2]}"
    return f"{parts[-3]} {parts[-2] + '/' if parts[-2] else ''}{parts[-1]}"


def _gateways(old: Render, new: Render, result: Review) -> None:
    before, after = old.gateways(), new.gateways()
    old_modes, new_modes = {g["mode"] for g in before.values()}, {g["mode"] for g in after.values()}
    if before and after and old_modes != new_modes:
        result.risk(
            f"routing switches from {'/'.join(sorted(old_modes))} to {'/'.join(sorted(new_modes))}: every "
            "gateway and its load balancer is deleted and a new one created by the other path, so clients "
            "must move to new addresses; run both side by side first if the switch must not interrupt traffic"
        )
        return
    gone, came = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    for key in gone:
        renamed = f" and {', '.join(came)} {'is' if len(came) == 1 else 'are'} created" if came else ""
        result.risk(
            f"gateway {key} is removed{renamed}: its load balancer (Service) is deleted and any new one gets "
            "a new address; DNS, allowlists and firewall rules that name the old address must move"
        )
    for key in sorted(set(before) & set(after)):
        _gateway_change(key, before[key], after[key], result)


def _gateway_change(key: str, was: dict[str, Any], now: dict[str, Any], result: Review) -> None:
    if was["type"] != now["type"]:
        result.risk(
            f"gateway {key}: Service type {was['type']} -> {now['type']}: the load balancer address changes"
        )
    _load_balancer_change(key, was, now, result)
    _who_is_refused(key, was, now, result)
    for annotation in ADDRESS_ANNOTATIONS:
        if was["annotations"].get(annotation) != now["annotations"].get(annotation):
            result.risk(
                f"gateway {key}: {annotation} {was['annotations'].get(annotation)!r} -> "
                f"{now['annotations'].get(annotation)!r}: the load balancer gets a new address"
            )
    listener_jump = {was["listener"], now["listener"]} == {"off", "strict"}
    lb_switch = was["lb"] != now["lb"] and not (was["listener"] == now["listener"] == "both")
    if listener_jump or lb_switch:
        what = "on" if (now["listener"] == "strict" or now["lb"] == "sends") else "off"
        result.risk(
            f"gateway {key}: PROXY protocol switched {what} in one step (gateway {was['listener']} -> "
            f"{now['listener']}, load balancer {_lb(was['lb'])} -> {_lb(now['lb'])}); the pods roll and the "
            "load balancer is reconfigured at different moments, and connections drop while they disagree. "
            "Go through the migration steps instead: gateway.proxyProtocolMigration: true first "
            "(docs/migration.md)"
        )
    if was["hpa"] and not now["hpa"]:
        result.risk(
            f"gateway {key}: the HorizontalPodAutoscaler is removed"
            + (
                f"; the Deployment goes back to {now['replicas']} replicas"
                if now["mode"] == "istio"
                else "; istiod never deletes what it applied, so the old HPA stays and keeps scaling the "
                "gateway"
            )
        )
    if was["pdb"] and not now["pdb"]:
        result.risk(
            f"gateway {key}: the PodDisruptionBudget is removed"
            + (
                "; a node drain may then evict every gateway pod at once"
                if now["mode"] == "istio"
                else "; istiod never deletes what it applied, so the old PDB stays and may block node drains"
            )
        )


def _value(value: Any) -> str:
    return "unset" if value is None else repr(value)


def _load_balancer_change(key: str, was: dict[str, Any], now: dict[str, Any], result: Review) -> None:
    """A changed platform, loadBalancerClass or Service annotation: what the controller does with it,
    where its code says (source_ip/review_facts.py), else a risk saying so. PROXY switches (the PROXY
    check above) and the address annotations (ADDRESS_ANNOTATIONS) are not repeated here."""
    handover = (was["controller"], now["controller"])
    if was["class"] != now["class"]:
        result.risk(
            f"gateway {key}: spec.loadBalancerClass {_value(was['class'])} -> {_value(now['class'])}: "
            f"{rf.CLASS_CHANGE.text} ({rf.CLASS_CHANGE.source})"
        )
        return
    if was["platform"] != now["platform"] or handover[0] != handover[1]:
        known = rf.HANDOVERS.get(handover) if None not in handover else None
        what = (
            f"platform {was['platform']} -> {now['platform']}"
            if was["platform"] != now["platform"]
            else f"the load balancer moves from {handover[0]} to {handover[1]}"
        )
        result.risk(
            f"gateway {key}: {what}: "
            + (
                f"{known.text} ({known.source})"
                if known
                else "another kind of load balancer serves the gateway; what each controller does with "
                "the old one is not in the review's facts (source_ip/review_facts.py): expect a new load "
                "balancer with a new address, and check that the old one is deleted"
            )
        )
        return
    before, after = was["annotations"], now["annotations"]
    for annotation in sorted(set(before) | set(after)):
        old, new = before.get(annotation), after.get(annotation)
        if (
            old == new
            or annotation in ADDRESS_ANNOTATIONS
            or annotation == LB_SENDS_PROXY_PROTOCOL_ANNOTATION
        ):
            continue
        if proxy_switch_for(annotation) is not None:
            continue
        changed = f"gateway {key}: Service annotation {annotation} {_value(old)} -> {_value(new)}"
        suffix = next(
            (annotation[len(p) :] for p in rf.ANNOTATION_PREFIXES if annotation.startswith(p)), None
        )
        if now["controller"] == rf.LBC and suffix in (
            "aws-load-balancer-scheme",
            "aws-load-balancer-internal",
        ):
            _scheme_change(changed, _scheme(before), _scheme(after), result)
        elif now["controller"] == rf.LBC and suffix == "aws-load-balancer-nlb-target-type":
            fact = rf.TARGET_TYPE_REPLACES
            result.risk(f"{changed}: {fact.text} ({fact.source})")
        elif now["controller"] == rf.CPA and suffix == "aws-load-balancer-internal":
            fact = rf.CLB_SCHEME_NOT_SYNCED
            result.risk(f"{changed}: {fact.text} ({fact.source})")
        else:
            result.risk(
                f"{changed}: the load balancer's controller reconfigures it, and what it does with this "
                "annotation is not in the review's facts (source_ip/review_facts.py): some changes replace "
                "the load balancer (a new address) or move it off the internet; read the controller's "
                "documentation for it before `pulumi up`"
            )


def _scheme_change(changed: str, old: str | None, new: str | None, result: Review) -> None:
    if old == new:
        return  # the other spelling (scheme vs the legacy internal annotation) says the same
    if new is None:
        result.note(f"{changed}: {rf.SCHEME_KEPT.text} ({rf.SCHEME_KEPT.source})")
        return
    fact = rf.SCHEME_REPLACES
    unless = (
        f" unless the live NLB is {new} already (without the annotation it kept the scheme it was created "
        f"with, by default {rf.SCHEME_DEFAULT})"
        if old is None
        else ""
    )
    moves = {
        "internal": "; an internal NLB has no public address, so clients on the internet can no longer reach "
        "the gateway",
        "internet-facing": "; an internet-facing NLB is reachable from the internet",
    }
    result.risk(
        f"{changed} (scheme {old or 'unset'} -> {new}): {fact.text}{unless}{moves.get(new, '')} "
        f"({fact.source})"
    )


def _who_is_refused(key: str, was: dict[str, Any], now: dict[str, Any], result: Review) -> None:
    """An allowlist or a front proxy guard added to (or narrowed on) a live gateway: who is refused from
    the update on. A removed one is a deleted AuthorizationPolicy (_replacements)."""
    old, new = _admitted(was["allowlist"]), _admitted(now["allowlist"])
    if new is not None and old is None:
        result.risk(
            f"gateway {key}: an allowlist is added ({_few(new)}): every client outside it is refused from "
            "now on" + (" (it was [0.0.0.0/0, ::/0], which admits everyone)" if was["allowlist"] else "")
        )
    elif new is not None and old is not None and (gone := _no_longer_in(old, new)):
        result.risk(
            f"gateway {key}: the allowlist no longer admits {_few(gone)}: clients there are refused from "
            "now on"
        )
    peers_before, peers_after = was["guard"], now["guard"]
    if peers_after is not None and peers_before is None:
        result.risk(
            f"gateway {key}: a front proxy is added, with a DENY on every direct peer outside its ranges "
            f"({_few(peers_after)}): clients that connect to the load balancer directly, and any other peer "
            "outside those ranges, are refused from now on; send them through the proxy (DNS) before this "
            "update"
        )
    elif (
        peers_after is not None
        and peers_before is not None
        and (gone := _no_longer_in(peers_before, peers_after))
    ):
        result.risk(
            f"gateway {key}: the front proxy's ranges no longer include {_few(gone)}: direct peers there are "
            "refused from now on"
        )


def _lb(state: str) -> str:
    return "sends the header" if state == "sends" else "sends none"


def _minor(version: Any) -> tuple[int, int] | None:
    parts = str(version).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None


def _istio_version(old: Render, new: Render, result: Review) -> None:
    def istiod(render: Render) -> Any:
        return next(
            (
                o.get("version")
                for i, o in render.objects.items()
                if i.startswith("helm/") and o.get("chart") == "istiod"
            ),
            None,
        )

    was, now = _minor(istiod(old)), _minor(istiod(new))
    if was is None or now is None or was == now:
        return
    if now[0] != was[0] or abs(now[1] - was[1]) > 1:
        result.risk(
            f"Istio {istiod(old)} -> {istiod(new)} in one step: Istio upgrades in place by one minor version "
            "at a time; go through each minor in between (docs/upgrades.md)"
        )
    elif now < was:
        result.risk(f"Istio {istiod(old)} -> {istiod(new)} is a downgrade: read docs/upgrades.md first")
    else:
        result.note(
            f"Istio {istiod(old)} -> {istiod(new)}: CRDs (istio-base), then istiod, then the gateways"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def report(review: Review, *, old_name: str = "old", new_name: str = "new") -> str:
    lines = [f"change review: {old_name} (deployed) -> {new_name}"]
    for finding in review.findings:
        lines.append(f"  {'RISK' if finding.risk else 'note'}: {finding.text}")
    counts = f"{_count(review.updated, 'object')} updated in place, {review.created} created"
    if review.risks:
        lines.append(f"{_count(len(review.risks), 'risk')} to live traffic; {counts}")
    else:
        lines.append(f"no risk to live traffic found; {counts}")
    return "\n".join(lines)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as error:
        return subprocess.CompletedProcess(["git", *args], 127, "", str(error))


def _render_stack(tree: Path, stack: str, out: Path, what: str) -> Render:
    """`python -m tools.render --stack STACK` run in the checkout `tree` into the new folder `out`."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(out)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BadInputError(
            f"the render of {what} failed (tools.render exit {done.returncode}): "
            f"{done.stderr.strip()[-1500:] or done.stdout.strip()[-1500:]}"
        )
    return read_render(out)


def _render_at_ref(root: Path, stack: str, ref: str, work: Path) -> Render:
    """The stack file committed at `ref`, rendered by the program as it was at `ref`, in a temporary
    `git worktree` (removed afterwards), as hack/renders_identical.py does."""
    flag = f"--base-ref (make: BASE_REF) {ref!r}"
    if ref.startswith("-"):
        raise BadInputError(f"{flag}: allowed: a branch, tag or commit of this repository")
    found = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        why = found.stderr.strip() or "no such commit"
        raise BadInputError(
            f"{flag}: not a commit of the git repository at {root} ({why}); allowed: a branch, tag or "
            "commit, or --base DIR (make: BASE=dir), an earlier render"
        )
    commit = found.stdout.strip()
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.strip()
    if _git(root, "cat-file", "-e", f"{commit}:{prefix}Pulumi.{stack}.yaml").returncode != 0:
        raise BadInputError(
            f"{flag}: Pulumi.{stack}.yaml is not committed at {ref}, so there is nothing deployed to compare "
            "with; allowed: a ref where it is committed, or --base DIR (make: BASE=dir), an earlier render"
        )
    tree = work / "base-tree"
    added = _git(root, "worktree", "add", "--detach", str(tree), commit)
    if added.returncode != 0:
        raise BadInputError(f"{flag}: git worktree add failed: {added.stderr.strip()}")
    try:
        return _render_stack(tree / prefix, stack, work / "base", f"Pulumi.{stack}.yaml at {ref}")
    finally:
        _git(root, "worktree", "remove", "--force", str(tree))


def review_stack(
    stack: str, *, base_ref: str | None = None, base: Path | None = None, root: Path = ROOT
) -> tuple[Review, str, str]:
    """The working `Pulumi.<stack>.yaml` of the checkout `root` against what is deployed: the same file
    committed at `base_ref` (default HEAD), or the earlier render `base`; both sides rendered fresh into
    temporary folders. Returns the review and the names of its two sides."""
    if not STACK_NAME.fullmatch(stack):
        raise BadInputError(f"--stack {stack!r}: allowed: a stack name (letters, digits, '_', '.' and '-')")
    if not (root / f"Pulumi.{stack}.yaml").is_file():
        raise BadInputError(f"--stack {stack!r}: there is no Pulumi.{stack}.yaml in {root}")
    if base is not None and base_ref is not None:
        raise BadInputError(
            f"--base {base} and --base-ref {base_ref} (make: BASE and BASE_REF): allowed: one of them"
        )
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        work = Path(tmp)
        if base is not None:
            old, old_name = read_render(base), str(base)
        else:
            ref = base_ref or "HEAD"
            old, old_name = _render_at_ref(root, stack, ref, work), f"Pulumi.{stack}.yaml at {ref}"
        new = _render_stack(root, stack, work / "new", f"Pulumi.{stack}.yaml")
    return review_renders(old, new), old_name, f"Pulumi.{stack}.yaml (working tree)"


USAGE_EPILOG = """forms:
  python -m tools.compare OLD NEW                        two renders already written (tools.render --out)
  python -m tools.compare --stack S [--base-ref REF]     the working Pulumi.S.yaml against the one committed
                                                         at REF (default HEAD), both rendered fresh
  python -m tools.compare --stack S --base DIR           the working Pulumi.S.yaml against an earlier render

exit codes:
  0  no risk to live traffic found (notes may be printed)
  2  bad input: a folder that is not a render, an unknown stack or ref, a render that failed
  3  risks to live traffic found (listed)
"""


def main(argv: list[str] | None = None, *, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.compare",
        description="Review the change between two offline renders (exit 0 no risk, 2 bad input, 3 risks).",
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "renders", type=Path, nargs="*", metavar="OLD NEW", help="two renders: deployed, change"
    )
    parser.add_argument("--stack", help="review the working Pulumi.<STACK>.yaml")
    parser.add_argument("--base-ref", metavar="REF", help="with --stack: compare with the file at REF (HEAD)")
    parser.add_argument("--base", type=Path, metavar="DIR", help="with --stack: compare with this render")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        if args.stack is not None:
            if args.renders:
                raise BadInputError(
                    "--stack and two render folders: allowed: one of the two forms (see --help)"
                )
            result, old_name, new_name = review_stack(
                args.stack, base_ref=args.base_ref, base=args.base, root=root
            )
        elif len(args.renders) != 2 or args.base_ref is not None or args.base is not None:
            raise BadInputError(
                f"{len(args.renders)} render folder(s)"
                + (" with --base/--base-ref" if args.base_ref or args.base else "")
                + ": allowed: OLD NEW (two renders), or --stack S [--base-ref REF | --base DIR]"
            )
        else:
            old, new = read_render(args.renders[0]), read_render(args.renders[1])
            result, old_name, new_name = review_renders(old, new), str(args.renders[0]), str(args.renders[1])
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(result, old_name=old_name, new_name=new_name))
    return 3 if result.risks else 0


if __name__ == "__main__":
    sys.exit(main())
