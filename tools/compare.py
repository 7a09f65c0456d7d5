"""Day 2 change review: what a change does to live traffic, from two offline renders.

    python -m tools.render --stack S --out NEW --compare OLD     (OLD: a render of what is deployed)
    python -m tools.compare OLD NEW                             (two renders already written)

Prints the resources `pulumi up` would replace rather than update, and in words what that and the
other changes do to traffic: a gateway whose load balancer (Service) is replaced or re-addressed gets a
new address; PROXY protocol switched on or off for a live gateway without the migration steps
(`proxyProtocolMigration`, docs/migration.md) drops connections while the sides roll; a removed HPA or
PDB; a switch of routing mode (istio <-> gateway-api); an Istio upgrade by more than one minor.
Exit codes: 0 no risk to live traffic found (notes may be printed), 2 bad input (a folder that is not a
render), 3 risks found. An unchanged stack prints no warning.

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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy import validators
from source_ip.facts import GATEWAY_PARAMETERS_WHILE_MISSING
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


class NotARenderError(Exception):
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
                    "hpa": bool((values.get("autoscaling") or {}).get("enabled")),
                    "pdb": bool(values.get("podDisruptionBudget")),
                    "replicas": values.get("replicaCount"),
                }
            elif oid.startswith(GATEWAY_API) and obj.get("kind") == "Gateway":
                meta = obj["metadata"]
                data = self.objects.get(_parameters_id(obj), {}).get("data") or {}
                gateway = validators.gateway_from_parameters(meta["name"], data)
                found[f"{meta.get('namespace', '')}/{meta['name']}"] = {
                    "mode": "gateway-api",
                    "gateway": gateway,
                    "type": (validators.parameters_patch(data.get("service")).get("spec") or {}).get(
                        "type", "LoadBalancer"
                    ),
                    "hpa": "horizontalPodAutoscaler" in data,
                    "pdb": "podDisruptionBudget" in data,
                    "replicas": None,
                }
        for key, facts in found.items():
            namespace, name = key.split("/", 1)
            gateway = facts.pop("gateway")
            both = f"networking.istio.io/v1alpha3/EnvoyFilter/{namespace}/{name}-proxy-protocol-accept-both"
            strict = "proxyProtocol" in gateway.topology
            facts["annotations"] = gateway.annotations
            facts["listener"] = "both" if both in self.objects else "strict" if strict else "off"
            facts["lb"] = "sends" if gateway.lb_sends_proxy_protocol else "none"
        return found


def object_id(obj: dict[str, Any]) -> str:
    """A Kubernetes object's id in a render: apiVersion/kind/namespace/name (graph.json's `object`)."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def release_id(release: dict[str, Any]) -> str:
    """A Helm release's id in a render: helm/namespace/name (graph.json's `object`)."""
    return f"helm/{release.get('namespace', '')}/{release.get('name', '')}"


def parse_render(files: dict[str, str], name: str) -> Render:
    """The files of a render (as tools.render writes them), parsed; NotARenderError naming `name`."""
    try:
        graph = json.loads(files["graph.json"])
        manifests = [
            o for o in yaml.load_all(files["manifests.yaml"], Loader=SAFE_LOADER) if isinstance(o, dict)
        ]
        releases = yaml.load(files["releases.yaml"], Loader=SAFE_LOADER) or []
        resources = graph["resources"]
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as error:
        raise NotARenderError(f"{name}: not a render ({str(error)[:120]})") from None
    by_id = {n["id"]: n for n in resources if isinstance(n, dict) and "id" in n}

    def chain(node: dict[str, Any]) -> str:
        types, parent, seen = [node["type"]], node.get("parent"), set()
        while parent in by_id and parent not in seen:
            seen.add(parent)
            types.insert(0, by_id[parent]["type"])
            parent = by_id[parent].get("parent")
        return "$".join(types) + "::" + node["name"]

    objects = {object_id(obj): obj for obj in manifests}
    for release in releases if isinstance(releases, list) else []:
        if isinstance(release, dict):
            objects[release_id(release)] = release
    return Render({chain(n): n for n in by_id.values()}, objects)


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _label(key: str) -> str:
    kind_chain, name = key.rsplit("::", 1)
    return f"{kind_chain.rsplit('$', 1)[-1].rsplit(':', 1)[-1]} {name}"


def _parameters_id(gateway: dict[str, Any]) -> str:
    """The object id of the ConfigMap a Gateway API Gateway names in spec.infrastructure.parametersRef."""
    ref = ((gateway.get("spec") or {}).get("infrastructure") or {}).get("parametersRef") or {}
    return f"v1/ConfigMap/{(gateway.get('metadata') or {}).get('namespace', '')}/{ref.get('name', '')}"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.compare",
        description="Review the change between two offline renders (exit 0 no risk, 2 bad input, 3 risks).",
    )
    parser.add_argument("old", type=Path, help="a render of what is deployed")
    parser.add_argument("new", type=Path, help="a render of the change")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        old, new = read_render(args.old), read_render(args.new)
        result = review_renders(old, new)
    except NotARenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(result, old_name=str(args.old), new_name=str(args.new)))
    return 3 if result.risks else 0


if __name__ == "__main__":
    sys.exit(main())
