"""The load balancers: each platform's annotations, PROXY switches and traits,."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from source_ip.facts.golang import (
    GO_PARSE_BOOL_FALSE,
    GO_PARSE_BOOL_TRUE,
    aws_attribute_pairs,
    go_json_string_field,
)
from source_ip.facts.metallb import METALLB_IPS_ANNOTATIONS


class SourceIpMode(StrEnum):
    """How the client address survives the load balancer.

    proxy-protocol: the LB terminates TCP and prepends a PROXY header; Envoy parses it.
    local:          the LB passes packets through; `externalTrafficPolicy: Local` stops the
                    kube-proxy SNAT to a node address (kubernetes.io docs, "Source IP").
    """

    PROXY_PROTOCOL = "proxy-protocol"
    LOCAL = "local"


SwitchReading = Literal["on", "off", "other", "unset"]


@dataclass(frozen=True)
class ProxySwitch:
    """One Service annotation that turns a load balancer's PROXY header on or off, read the way its
    controller reads it. A value that is neither on nor off (a partial port list, a typo, a value
    the controller rejects) reads `other`: the program refuses it in either mode. A per-port
    annotation that leaves the choice to the platform-wide one reads `unset`."""

    key: str
    """The annotation, or with `per_port` the annotation without its port number."""
    on: tuple[str, ...]
    """Values that make the LB send the header on every port."""
    off: tuple[str, ...] = ()
    """Values that make it send none. Without `unset_keeps_proxy` on the platform, an absent annotation
    sends none."""
    items: bool = False
    """The value is a comma-separated list: on when an item is in `on`, off when the list is empty."""
    attribute: str | None = None
    """The value is an attribute list as aws-load-balancer-controller reads it (`aws_attribute_pairs`);
    the switch is this attribute."""
    json_field: str | None = None
    """The value is a JSON object (`go_json_string_field`); the switch is this field, unset when empty."""
    per_port: bool = False
    """The annotation is `<key><port>` (the Service port in decimal) and overrides, for that port,
    what the platform-wide switches say."""
    fallback: bool = False
    """A deprecated or legacy key, read only when the current key does not decide: the program sets
    the current key itself and refuses this one from the user."""
    lower: bool = False
    """The controller lower-cases the value before reading it."""
    strip_spaces: bool = False
    """The controller removes every space from the value before reading it."""
    port_of: str | None = None
    """For a per-port attribute list: the platform-wide annotation whose attributes it overrides."""
    source: str = ""

    def annotation_port(self, annotation: str) -> int | None:
        """The port a per-port annotation names, as the controller spells it (strconv.Itoa), or None."""
        if not self.per_port or not annotation.startswith(self.key):
            return None
        port = annotation[len(self.key) :]
        canonical = port.isascii() and port.isdigit() and str(int(port)) == port
        return int(port) if canonical and 1 <= int(port) <= 65535 else None

    def attribute_problem(self, value: str) -> str | None:
        """Why the controller would not read this attribute list as written, or None."""
        if self.attribute is None:
            return None
        pairs = aws_attribute_pairs(value)
        if pairs is None:
            return (
                "is not an attribute list the controller can parse (it reports an error and builds no "
                "target group)"
            )
        keys = [key for key, _ in pairs]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            return f"gives {', '.join(twice)} more than once; the controller keeps only the last"
        return None

    def reads(self, value: str) -> SwitchReading:
        if self.json_field is not None:
            readable, field_value = go_json_string_field(value, self.json_field)
            if not readable:
                return "other"
            if not field_value:
                return "unset"
            value = field_value
        elif self.attribute is not None:
            pairs = aws_attribute_pairs(value)
            if pairs is None:
                return "other"
            attributes = dict(pairs)
            if self.attribute not in attributes:
                return "unset" if self.per_port else "off"
            value = attributes[self.attribute]
            if value == "":  # per port: keeps the platform-wide value; platform-wide: left out of the update
                return "unset" if self.per_port else "other"
        if self.strip_spaces:
            value = value.replace(" ", "")
        if self.lower:
            value = value.lower()
        if self.items:
            listed = [item if self.strip_spaces else item.strip() for item in value.split(",")]
            listed = [item for item in listed if item]
            if not listed:
                return "off"
            return "on" if any(item in self.on for item in listed) else "other"
        if value in self.on:
            return "on"
        return "off" if value in self.off else "other"


Ipv6Path = Literal["keeps", "loses", "unknown"]
"""What becomes of an IPv6 client's address on its way to the gateway in one source-IP mode."""


@dataclass(frozen=True)
class Ipv6Facts:
    """A load balancer and IPv6 clients, read in its controller's code where that was possible. What was
    not read stays `unknown` (and the program then refuses nothing on its account)."""

    frontend: Literal["dual-stack", "ipv4-only", "unknown"] = "unknown"
    """`dual-stack`: the LB can take IPv6 clients (with `annotations` where the controller needs them);
    `ipv4-only`: it cannot, so a gateway asking for IPv6 is refused."""
    annotations: dict[str, str] = field(default_factory=dict)
    """Service annotations the program sets when a gateway's `ipFamilies` hold IPv6 (the controller
    builds no IPv6 LB without them)."""
    passthrough: Ipv6Path = "unknown"
    """An IPv6 client's address with `local` (passthrough): kept, or lost to a translation in the LB."""
    proxy_protocol: Ipv6Path = "unknown"
    """An IPv6 client's address with `proxy-protocol` (the PROXY header's TCP6 source)."""
    source: str = "not read"
    """Where each fact was read (the file in the controller's code at a version, or "docs")."""
    note: str = ""

    def path(self, mode: SourceIpMode) -> Ipv6Path:
        return self.proxy_protocol if mode == SourceIpMode.PROXY_PROTOCOL else self.passthrough


IPV6_NOT_READ = Ipv6Facts()


@dataclass(frozen=True)
class Platform:
    """One load balancer implementation and what it takes to keep the client address."""

    id: str
    lb: str
    modes: tuple[SourceIpMode, ...]
    """The source-IP modes this LB supports; `modes[0]` is what `sourceIp: auto` picks."""
    source: str
    proxy_protocol_annotations: dict[str, str] = field(default_factory=dict)
    """Service annotations that make the LB send the PROXY header."""
    local_annotations: dict[str, str] = field(default_factory=dict)
    """Service annotations needed for passthrough (with ETP Local)."""
    proxy_switches: tuple[ProxySwitch, ...] = ()
    """Every annotation with which this platform's controller turns PROXY protocol on or off."""
    required_one_of: tuple[str, ...] = ()
    """The LB is not created unless one of these annotations is set (checked in the controller)."""
    hairpin_annotation: str | None = None
    """Annotation that makes the LB publish a hostname instead of an IP, so in-cluster
    callers of the LB address go out through the LB (and get the PROXY header)."""
    hairpin_value: Literal["hostname", "true"] = "hostname"
    """`hostname`: the annotation takes `gateway.hairpinHostname`; `true`: a flag."""
    exclusive_switches: tuple[str, ...] = ()
    """At most one of these PROXY switches may be anything but off on the final Service: the controller
    refuses a port that two of them cover, and then creates or updates no load balancer."""
    refused_annotations: dict[str, str] = field(default_factory=dict)
    """Annotations that override what this platform's path needs, each with why (the program refuses them)."""
    unset_keeps_proxy: bool = False
    """Removing the PROXY annotation leaves an existing LB as it was: where the controller has an off
    value, `local_annotations` writes it; where it has none, the caveats say so."""
    status_port_proxy_protocol: bool = False
    """The LB's health checks on port 15021 also carry the PROXY header
    (gateway env ENVOY_STATUS_PORT_ENABLE_PROXY_PROTOCOL=true, Istio 1.27+, istio#39868)."""
    pins_nodes: bool = False
    """The LB announces the address from nodes the program picks (MetalLB L2): the gateway pods are pinned
    to those nodes (`metallb.*` keys: nodes, label, pool; the MetalLB pinning component)."""
    ip_mode_proxy: Literal["auto", "annotation", "none"] = "none"
    """With PROXY protocol, how the Service's `status.loadBalancer.ingress[].ipMode` becomes `Proxy`
    (KEP-1860, Kubernetes 1.30+), so kube-proxy stops short-circuiting in-cluster calls of the LB address
    and they reach the gateway through the LB, with the PROXY header: `auto` (the controller does it by
    itself), `annotation` (`ip_mode_annotation`, which the program sets), `none` (not known to exist)."""
    ip_mode_annotation: tuple[str, str] | None = None
    """The Service annotation (key, value) that asks the controller for `ipMode: Proxy`."""
    status_hostname_only: bool = False
    """The controller publishes only a hostname in the Service's status (no IP), so kube-proxy has no LB
    address to short-circuit: in-cluster callers go out through the LB already."""
    hairpin_source: str = ""
    """Where the hairpin behaviour (ipMode, hostname status) was read in the controller's code."""
    caveats: str = ""
    ipv6: Ipv6Facts = IPV6_NOT_READ
    """IPv6 clients on this LB: a dual-stack frontend, and whether each mode keeps their address."""

    @property
    def main_switches(self) -> tuple[ProxySwitch, ...]:
        """The PROXY switches that turn the whole LB on or off (not per-port, not a read-first fallback)."""
        return tuple(s for s in self.proxy_switches if not s.per_port and not s.fallback)

    @property
    def default_mode(self) -> SourceIpMode:
        return self.modes[0]

    @property
    def lb_mode(self) -> Literal["proxy", "passthrough", "both"]:
        if set(self.modes) == {"proxy-protocol", "local"}:
            return "both"
        return "proxy" if self.modes == ("proxy-protocol",) else "passthrough"

    def annotations_for(self, mode: SourceIpMode) -> dict[str, str]:
        return dict(self.proxy_protocol_annotations if mode == "proxy-protocol" else self.local_annotations)

    def ip_mode_annotations(self, mode: SourceIpMode) -> dict[str, str]:
        """The annotation that asks for `ipMode: Proxy`, with PROXY protocol where the platform has one."""
        if mode != "proxy-protocol" or self.ip_mode_annotation is None:
            return {}
        key, value = self.ip_mode_annotation
        return {key: value}


_PROXY: tuple[SourceIpMode, ...] = (SourceIpMode.PROXY_PROTOCOL,)
_LOCAL: tuple[SourceIpMode, ...] = (SourceIpMode.LOCAL,)
_BOTH_PROXY_FIRST = (SourceIpMode.PROXY_PROTOCOL, SourceIpMode.LOCAL)
_BOTH_LOCAL_FIRST = (SourceIpMode.LOCAL, SourceIpMode.PROXY_PROTOCOL)

_AWS_PROXY = ProxySwitch(
    "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol",
    on=("*",),
    source="kubernetes/cloud-provider-aws pkg/providers/v1/aws.go; aws-load-balancer-controller "
    'pkg/service/model_build_target_group.go: any value but "*" is an error',
)
_DO_TYPE = "service.beta.kubernetes.io/do-loadbalancer-type"
_AWS_TGA = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
_AWS_LBC = "kubernetes-sigs/aws-load-balancer-controller (225f4456, v3.5.0+)"
_AWS_IP_ADDRESS_TYPE = "service.beta.kubernetes.io/aws-load-balancer-ip-address-type"
_HCLOUD = "hetznercloud/hcloud-cloud-controller-manager (v1.35.0)"
_METALLB = "metallb/metallb (fafdcee2, v0.16.1)"
_LINODE = "linode/linode-cloud-controller-manager (b9aa9012, v0.9.8+)"
_SCW = "scaleway/scaleway-cloud-controller-manager (bddc17f8, v0.36.2+)"
_SCW_V1 = "service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v1"
_SCW_V2 = "service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v2"
_OCI = (
    "oracle/oci-cloud-controller-manager (1100ac36, v1.35.0) "
    "pkg/cloudprovider/providers/oci/load_balancer_spec.go"
)
_OCI_LB_TYPE = "oci.oraclecloud.com/load-balancer-type"
_ALI = "kubernetes/cloud-provider-alibaba-cloud (eeb0ddc6, v2.14.0)"
_ALI_PROXY = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-proxy-protocol"
_CIVO = "civo/civo-cloud-controller-manager (0c98dc9f, v0.1.9+)"
_CIVO_PROXY = "kubernetes.civo.com/loadbalancer-enable-proxy-protocol"
_VULTR = "vultr/vultr-cloud-controller-manager (d5f3ab03, v0.18.0)"
_IBM = "IBM-Cloud/cloud-provider-ibm (568c208b, 2024-10)"
_IBM_FEATURES = "service.kubernetes.io/ibm-load-balancer-cloud-provider-enable-features"
_EXO = "service.beta.kubernetes.io/exoscale-loadbalancer-"

PLATFORMS: dict[str, Platform] = {
    p.id: p
    for p in (
        Platform(
            id="vngcloud",
            lb="VNG Cloud VKS vLB",
            modes=_PROXY,
            proxy_protocol_annotations={"vks.vngcloud.vn/enable-proxy-protocol": "*"},
            proxy_switches=(
                ProxySwitch(
                    "vks.vngcloud.vn/enable-proxy-protocol",
                    on=("*",),
                    off=("",),
                    items=True,
                    source="vngcloud/vngcloud-load-balancer-controller "
                    'internal/usecase/service_uc/build_pool.go: a list of Service port names, "*" for every '
                    'TCP port; "true" names no port and enables nothing',
                ),
            ),
            source="the PROXY-protocol recipe (see README, Sources), step 5.1; "
            "vngcloud/vngcloud-load-balancer-controller internal/usecase/service_uc/build_pool.go",
            caveats='only "*" (or a Service port name) enables it; "*" covers every TCP port of the gateway',
        ),
        Platform(
            id="aws",
            lb="AWS Classic Load Balancer (cloud-provider-aws)",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"},
            proxy_switches=(_AWS_PROXY,),
            source="kubernetes/cloud-provider-aws pkg/providers/v1/aws.go",
            caveats='only "*" is accepted; PROXY protocol v1. Where the AWS Load Balancer Controller runs '
            "(common on EKS), its default webhook (enableServiceMutatorWebhook: true) gives every new "
            "LoadBalancer Service its loadBalancerClass, so it becomes an NLB with an internal scheme and no "
            "Classic LB is made (aws-load-balancer-controller webhooks/core/service_mutator.go, "
            "pkg/service/model_build_load_balancer.go): use platform aws-nlb there, or install the "
            "controller with enableServiceMutatorWebhook=false",
            status_hostname_only=True,
            hairpin_source="kubernetes/cloud-provider-aws pkg/providers/v1/aws.go (toStatus: Hostname = the "
            "ELB's DNSName, no IP)",
        ),
        Platform(
            id="aws-nlb",
            lb="AWS Network Load Balancer (aws-load-balancer-controller, ip targets)",
            modes=_BOTH_PROXY_FIRST,
            proxy_protocol_annotations={
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*",
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            },
            local_annotations={
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                _AWS_TGA: "preserve_client_ip.enabled=true",
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            },
            proxy_switches=(
                _AWS_PROXY,
                ProxySwitch(
                    _AWS_TGA,
                    on=("true",),
                    off=("false",),
                    attribute="proxy_protocol_v2.enabled",
                    source=f"{_AWS_LBC} pkg/service/model_build_target_group.go "
                    "(buildTargetGroupAttributes), pkg/annotations/parser.go (ParseStringMapAnnotation, "
                    "splitKeyValuePairs: a repeated attribute keeps its last value)",
                ),
                ProxySwitch(
                    f"{_AWS_TGA}.",
                    on=("true",),
                    off=("false",),
                    attribute="proxy_protocol_v2.enabled",
                    per_port=True,
                    port_of=_AWS_TGA,
                    source=f"{_AWS_LBC} pkg/service/model_build_target_group.go "
                    "(buildPortSpecificTargetGroupAttributes: `<annotation>.<port>` overrides each non-empty "
                    "attribute for that port's target group)",
                ),
                ProxySwitch(
                    "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol-per-target-group",
                    on=(),
                    off=("",),
                    items=True,
                    source="aws-load-balancer-controller pkg/service/model_build_target_group.go: a port "
                    "list, so PROXY on some ports only",
                ),
            ),
            status_port_proxy_protocol=True,
            source="kubernetes-sigs/aws-load-balancer-controller docs/guide/service/annotations.md, "
            "pkg/service/model_build_target_group.go",
            caveats="the controller makes an internal NLB unless "
            "service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing is set; with "
            "preserve_client_ip, pods calling the NLB from its own target node fail (hairpin)",
            status_hostname_only=True,
            hairpin_source=f"{_AWS_LBC} controllers/service/service_controller.go (updateServiceStatus: one "
            "ingress entry, Hostname = the NLB's DNS name, IP empty)",
            ipv6=Ipv6Facts(
                frontend="dual-stack",
                annotations={_AWS_IP_ADDRESS_TYPE: "dualstack"},
                passthrough="loses",
                proxy_protocol="keeps",
                source=f"{_AWS_LBC} pkg/service/model_build_load_balancer.go "
                "(buildLoadBalancerIPAddressType: ipv4 unless aws-load-balancer-ip-address-type is "
                "dualstack), pkg/service/model_build_target_group.go (buildTargetGroupIPAddressType: a "
                "Service whose ipFamilies hold IPv6 gets an IPv6 target group, and an error "
                '"lb not dual-stack" without dualstack; the other family reaches those targets translated); '
                "no NLB listener rules in pkg/service, so the controller cannot send each family to targets "
                "of its own; docs (AWS NLB user guide, client IP preservation): traffic translated between "
                "IPv4 and IPv6 arrives from the NLB's own address, and PROXY protocol v2 carries the client "
                "of either family",
                note="in passthrough the clients of the family the target group is not (IPv4 clients of a "
                "dual-stack gateway, since its target group is IPv6) arrive from the NLB's own address, "
                "while PROXY protocol v2 carries both families",
            ),
        ),
        Platform(
            id="gcp",
            lb="GKE passthrough Network Load Balancer",
            modes=_LOCAL,
            source="kubernetes.io docs, Source IP for Services with Type=LoadBalancer",
            caveats="nodes without a gateway pod fail the LB health check by design (healthCheckNodePort)",
        ),
        Platform(
            id="azure",
            lb="AKS Standard Load Balancer",
            modes=_LOCAL,
            source="kubernetes-sigs/cloud-provider-azure pkg/consts/consts.go",
            caveats="with ETP Local the health probe goes to healthCheckNodePort",
        ),
        Platform(
            id="digitalocean",
            lb="DigitalOcean Load Balancer (REGIONAL for PROXY protocol, REGIONAL_NETWORK for passthrough)",
            modes=_BOTH_PROXY_FIRST,
            proxy_protocol_annotations={
                "service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "true",
                _DO_TYPE: "REGIONAL",
            },
            local_annotations={_DO_TYPE: "REGIONAL_NETWORK"},
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol",
                    on=GO_PARSE_BOOL_TRUE,
                    off=GO_PARSE_BOOL_FALSE,
                    source="digitalocean/digitalocean-cloud-controller-manager "
                    "cloud-controller-manager/do/annotations.go (getBool: strconv.ParseBool)",
                ),
            ),
            hairpin_annotation="service.beta.kubernetes.io/do-loadbalancer-hostname",
            source="digitalocean/digitalocean-cloud-controller-manager cloud-controller-manager/do/cloud.go "
            "(defaultLBType: REGIONAL_NETWORK unless DEFAULT_LB_TYPE), do/loadbalancers.go (getType)",
            caveats="the controller's default type is REGIONAL_NETWORK, a passthrough LB: the program always "
            "sets do-loadbalancer-type (REGIONAL for PROXY protocol, REGIONAL_NETWORK for local)",
        ),
        Platform(
            id="linode",
            lb="Akamai (Linode) NodeBalancer",
            modes=_PROXY,
            proxy_protocol_annotations={
                "service.beta.kubernetes.io/linode-loadbalancer-default-proxy-protocol": "v2"
            },
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/linode-loadbalancer-default-proxy-protocol",
                    on=("v1", "v2"),
                    off=("none",),
                    lower=True,
                    source=f"{_LINODE} cloud/linode/loadbalancers_helpers.go (getPortProxyProtocol), "
                    "cloud/linode/loadbalancers.go (validProxyProtocols)",
                ),
                ProxySwitch(
                    "service.beta.kubernetes.io/linode-loadbalancer-proxy-protocol",
                    on=("v1", "v2"),
                    off=("none",),
                    lower=True,
                    fallback=True,
                    source=f"{_LINODE} cloud/linode/loadbalancers_deprecated.go, loadbalancers_helpers.go "
                    "(getPortProxyProtocol: read only when default-proxy-protocol is absent)",
                ),
                ProxySwitch(
                    "service.beta.kubernetes.io/linode-loadbalancer-port-",
                    on=("v1", "v2"),
                    off=("none",),
                    json_field="proxy-protocol",
                    per_port=True,
                    lower=True,
                    source=f"{_LINODE} cloud/linode/loadbalancers.go (getPortConfigAnnotation: JSON with its "
                    'own "proxy-protocol", json.Unmarshal), loadbalancers_helpers.go (getPortProxyProtocol: '
                    "a non-empty per-port value wins over the default)",
                ),
            ),
            source="linode/linode-cloud-controller-manager cloud/annotations/annotations.go, "
            "cloud/linode/loadbalancers_helpers.go",
            caveats="a per-port annotation (linode-loadbalancer-port-N) with its own proxy-protocol "
            "overrides the default for that port: the program refuses one that disagrees with the mode",
        ),
        Platform(
            id="hetzner",
            lb="Hetzner Cloud Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={"load-balancer.hetzner.cloud/uses-proxyprotocol": "true"},
            proxy_switches=(
                ProxySwitch(
                    "load-balancer.hetzner.cloud/uses-proxyprotocol",
                    on=GO_PARSE_BOOL_TRUE,
                    off=GO_PARSE_BOOL_FALSE,
                    source="hetznercloud/hcloud-cloud-controller-manager internal/annotation/name.go "
                    "(BoolFromService: strconv.ParseBool)",
                ),
            ),
            required_one_of=(
                "load-balancer.hetzner.cloud/location",
                "load-balancer.hetzner.cloud/network-zone",
            ),
            hairpin_annotation="load-balancer.hetzner.cloud/hostname",
            source="hetznercloud/hcloud-cloud-controller-manager internal/annotation/load_balancer.go, "
            "internal/hcops/load_balancer.go",
            caveats="the LB is not created without a location or network-zone annotation (set one in "
            "gateway.serviceAnnotations; the program refuses a stack without it)",
            ip_mode_proxy="auto",
            hairpin_source="hetznercloud/hcloud-cloud-controller-manager hcloud/load_balancers.go at "
            "v1.35.0, the newest release stored (buildLoadBalancerStatusIngress: ipMode Proxy when "
            "uses-proxyprotocol is on, since v1.21.0; a hostname annotation replaces the IPs)",
            ipv6=Ipv6Facts(
                frontend="dual-stack",
                source=f"{_HCLOUD} hcloud/load_balancers.go (buildLoadBalancerStatusIngress, "
                "getIPv6Enabled: the LB's public IPv6 is published unless "
                "load-balancer.hetzner.cloud/ipv6-disabled or HCLOUD_LOAD_BALANCERS_DISABLE_IPV6), "
                "internal/hcops/load_balancer.go (the targets are the nodes, whatever the Service's "
                "ipFamilies); what the LB writes into the PROXY header for an IPv6 client is not in the "
                "controller's code: not read (cilium#42950 reports TCP6 headers to IPv4 nodes)",
                note="every Hetzner LB answers on IPv6 unless ipv6-disabled, whatever ipFamilies say; an "
                "IPv6 client then reaches the gateway in a TCP6 PROXY header over IPv4, which Envoy may "
                "refuse on a pod without IPv6 (envoy#41826, not read at the Envoy Istio 1.30.3 ships)",
            ),
        ),
        Platform(
            id="ovh",
            lb="OVHcloud MKS (OpenStack Octavia)",
            modes=_PROXY,
            proxy_protocol_annotations={
                "loadbalancer.openstack.org/proxy-protocol": "true",
                "loadbalancer.ovhcloud.com/class": "octavia",
            },
            proxy_switches=(
                ProxySwitch(
                    "loadbalancer.openstack.org/proxy-protocol",
                    on=("true", "v1"),
                    off=("false",),
                    source="kubernetes/cloud-provider-openstack pkg/openstack/loadbalancer.go "
                    '(getProxyProtocolFromServiceAnnotation); "v2" is read only since #2635 (v1.31): older '
                    "versions ignore it and send no header, so it is refused here",
                ),
            ),
            source="kubernetes/cloud-provider-openstack pkg/openstack/loadbalancer.go; OVHcloud MKS docs for "
            "loadbalancer.ovhcloud.com/class (not checked in code: OVHcloud's controller is not public)",
            caveats="with Kubernetes <= 1.31 MKS uses Octavia only with loadbalancer.ovhcloud.com/class: "
            'octavia; "true" is PROXY v1, which every cloud-provider-openstack version reads',
        ),
        Platform(
            id="scaleway",
            lb="Scaleway Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={_SCW_V2: "*"},
            proxy_switches=(
                *(
                    ProxySwitch(
                        key,
                        on=("*", *(v for v in GO_PARSE_BOOL_TRUE if v != "1")),
                        off=("", *(v for v in GO_PARSE_BOOL_FALSE if v != "0")),
                        source=f"{_SCW} scaleway/loadbalancers_annotations.go (getProxyProtocol), scaleway/"
                        'loadbalancers.go (isPortInRange: ParseBool except "1"/"0", "*", "", else a port '
                        "list)",
                    )
                    for key in (_SCW_V2, _SCW_V1)
                ),
                ProxySwitch(
                    "service.beta.kubernetes.io/scw-loadbalancer-send-proxy-v2",
                    on=GO_PARSE_BOOL_TRUE,
                    off=GO_PARSE_BOOL_FALSE,
                    fallback=True,
                    source=f"{_SCW} scaleway/loadbalancers_annotations.go (getSendProxyV2, deprecated: read "
                    "only for a port that neither proxy-protocol-v1 nor -v2 covers)",
                ),
            ),
            exclusive_switches=(_SCW_V2, _SCW_V1),
            hairpin_annotation="service.beta.kubernetes.io/scw-loadbalancer-use-hostname",
            hairpin_value="true",
            source=f"{_SCW} scaleway/loadbalancers_annotations.go, scaleway/loadbalancers.go",
            caveats="a port covered by both proxy-protocol-v1 and -v2 is an error and the LB is neither "
            "created nor updated: the program refuses a -v1 annotation next to its -v2",
            ip_mode_proxy="auto",
            hairpin_source=f"{_SCW} scaleway/loadbalancers.go (ipMode: Proxy when every Service port "
            'has PROXY v1 or v2, which the program\'s "*" gives)',
        ),
        Platform(
            id="oci",
            lb="Oracle Cloud Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={
                _OCI_LB_TYPE: "lb",
                "service.beta.kubernetes.io/oci-load-balancer-connection-proxy-protocol-version": "2",
            },
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/oci-load-balancer-connection-proxy-protocol-version",
                    on=("1", "2"),
                    off=("",),
                    source=f"{_OCI} (getListenersOciLoadBalancer: strconv.Atoi of a non-empty value)",
                ),
            ),
            source=f"{_OCI}; getLoadBalancerType: {_OCI_LB_TYPE} lb (the default) or nlb",
            caveats=f"the program sets {_OCI_LB_TYPE}: lb, so an nlb type (which ignores the "
            "proxy-protocol-version annotation) is refused",
            ip_mode_proxy="annotation",
            ip_mode_annotation=("oci.oraclecloud.com/ingress-ip-mode", "proxy"),
            hairpin_source=f"{_OCI} (getIngressIpMode: the annotation lower-cased, proxy or vip)",
        ),
        Platform(
            id="oci-nlb",
            lb="Oracle Cloud Network Load Balancer",
            modes=_LOCAL,
            local_annotations={
                "oci-network-load-balancer.oraclecloud.com/is-preserve-source": "true",
                _OCI_LB_TYPE: "nlb",
            },
            proxy_switches=(
                ProxySwitch(
                    "oci-network-load-balancer.oraclecloud.com/is-ppv2-enabled",
                    on=("true",),
                    off=("false",),
                    lower=True,
                    source=f'{_OCI} (getListenersNetworkLoadBalancer: lower-cased, "true" turns PROXY v2 on '
                    'for every listener, "false" off)',
                ),
            ),
            source=f"{_OCI}; oracle/oci-cloud-controller-manager docs/load-balancer-annotations.md "
            "(is-preserve-source)",
            caveats="is-preserve-source is rejected with externalTrafficPolicy Cluster; is-ppv2-enabled: "
            "true would send a PROXY header the passthrough gateway does not parse, so the program refuses "
            "it",
        ),
        Platform(
            id="alibaba",
            lb="Alibaba Cloud Classic Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={_ALI_PROXY: "on"},
            local_annotations={_ALI_PROXY: "off"},
            proxy_switches=(
                ProxySwitch(
                    _ALI_PROXY,
                    on=("on",),
                    off=("off",),
                    source=f"{_ALI} pkg/controller/service/clbv1/listeners.go (EnableProxyProtocolV2 = value "
                    '== "on", set only when the value is non-empty)',
                ),
                ProxySwitch(
                    "service.beta.kubernetes.io/alicloud-loadbalancer-proxy-protocol",
                    on=("on",),
                    off=("off",),
                    fallback=True,
                    source=f"{_ALI} pkg/controller/service/reconcile/annotation/annotations.go (Get: the "
                    "legacy alicloud- key is read only when the alibaba-cloud- key is absent)",
                ),
            ),
            hairpin_annotation="service.beta.kubernetes.io/alibaba-cloud-loadbalancer-hostname",
            unset_keeps_proxy=True,
            source=f"{_ALI} pkg/controller/service/clbv1/listeners.go, clbv1/service_controller.go (a "
            "hostname annotation makes the status show only that hostname)",
            caveats="an absent or empty annotation leaves the listener as it was, so the program writes "
            '"off" in passthrough (the first PROXY-protocol migration step)',
        ),
        Platform(
            id="civo",
            lb="Civo Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={_CIVO_PROXY: "send-proxy-v2"},
            proxy_switches=(
                ProxySwitch(
                    _CIVO_PROXY,
                    on=("send-proxy", "send-proxy-v2"),
                    source=f"{_CIVO} cloud-controller-manager/civo/loadbalancer.go (getEnableProxyProtocol; "
                    "an empty value is not sent), civo/civogo loadbalancer.go (enable_proxy_protocol "
                    "omitempty)",
                ),
            ),
            unset_keeps_proxy=True,
            source=f"{_CIVO} cloud-controller-manager/civo/loadbalancer.go",
            caveats="no value turns PROXY off on an existing LB: an absent or empty annotation is not sent "
            "(omitempty) and the controller writes the LB's value back onto the Service; switching PROXY off "
            "takes a new Service (a new address). With PROXY on the status is a hostname only (no hairpin)",
            status_hostname_only=True,
            hairpin_source=f"{_CIVO} cloud-controller-manager/civo/loadbalancer.go (with PROXY protocol the "
            "status is the LB's hostname only, as the caveats say)",
        ),
        Platform(
            id="vultr",
            lb="Vultr Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={
                "service.beta.kubernetes.io/vultr-loadbalancer-proxy-protocol": "true"
            },
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/vultr-loadbalancer-proxy-protocol",
                    on=GO_PARSE_BOOL_TRUE,
                    off=GO_PARSE_BOOL_FALSE,
                    source=f"{_VULTR} vultr/loadbalancers.go (getProxyProtocol: strconv.ParseBool, an error "
                    "reads as off)",
                ),
            ),
            hairpin_annotation="service.beta.kubernetes.io/vultr-loadbalancer-hostname",
            source=f"{_VULTR} vultr/loadbalancers.go (annoVultrProxyProtocol; annoVultrHostname: a DNS name "
            'the status shows instead of the address, "to prevent hairpinning")',
        ),
        Platform(
            id="ibm",
            lb="IBM Cloud VPC Application Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={_IBM_FEATURES: "proxy-protocol"},
            proxy_switches=(
                ProxySwitch(
                    _IBM_FEATURES,
                    on=("proxy-protocol",),
                    off=("",),
                    items=True,
                    lower=True,
                    strip_spaces=True,
                    source=f"{_IBM} pkg/vpcctl/vpc_config.go (getServiceEnabledFeatures: spaces removed, "
                    "lower-cased), vpc_sdk_base.go (isVpcOptionEnabled: a comma-separated list)",
                ),
            ),
            source=f"{_IBM} pkg/vpcctl/vpc_lbaas.go, vpc_sdk_gen2.go",
            caveats="PROXY v1; the controller also switches PROXY on an existing LB's pools when the "
            "annotation changes (vpc_lbaas.go, vpc_sdk_gen2.go), though IBM's docs say creation only; the "
            "status is a hostname",
            status_hostname_only=True,
            hairpin_source=f"{_IBM} pkg/vpcctl/vpc_lbaas.go (the status is the LB's hostname, as the "
            "caveats say)",
        ),
        Platform(
            id="exoscale",
            lb="Exoscale Network Load Balancer",
            modes=_LOCAL,
            local_annotations={
                f"{_EXO}service-healthcheck-mode": "http",
                f"{_EXO}service-healthcheck-uri": "/healthz",
            },
            refused_annotations={
                f"{_EXO}service-healthcheck-port": "replaces spec.healthCheckNodePort as the NLB's "
                "health-check port, so nodes without a gateway pod pass the check and get traffic they "
                "drop (exoscale/loadbalancer.go buildLoadBalancerFromAnnotations); allowed: remove it",
            },
            source="exoscale/exoscale-cloud-controller-manager (32c9584f, v0.34.0+) exoscale/loadbalancer.go "
            "(buildLoadBalancerFromAnnotations: the check goes to healthCheckNodePort with ETP Local, mode "
            "tcp unless service-healthcheck-mode); kubernetes/kubernetes "
            "pkg/proxy/healthcheck/service_health.go (kube-proxy answers 503 on a node without a local "
            "endpoint, any path; a TCP connect always succeeds)",
            caveats="a TCP check passes on every node, so the program sets an HTTP check on "
            "healthCheckNodePort",
        ),
        Platform(
            id="metallb",
            lb="MetalLB (L2)",
            modes=_LOCAL,
            source="the DaoCloud MetalLB recipe (see README, Sources); metallb/metallb "
            "speaker/layer2_controller.go",
            pins_nodes=True,
            caveats="the MetalLB pinning component adds metallb.io/address-pool: <metallb.pool> and pins the "
            "gateway pods and the announcing nodes to the same labelled nodes",
            ipv6=Ipv6Facts(
                frontend="dual-stack",
                passthrough="keeps",
                source=f"{_METALLB} internal/allocator/allocator.go (findBestPoolForService: a dual-stack "
                "Service takes one address of each family from one pool, and none from a pool without both "
                "unless PreferDualStack), controller/service.go (RequireDualStack needs two clusterIPs), "
                "internal/layer2/ndp.go (IPv6 addresses are announced with NDP, IPv4 with ARP); the packets "
                "are forwarded, not translated",
            ),
        ),
        Platform(
            id="generic",
            lb="any other load balancer",
            modes=_BOTH_LOCAL_FIRST,
            source="this project: no annotations are known, set them in gateway.serviceAnnotations",
            caveats="with proxy-protocol the LB's own PROXY setting is yours to make: the program tells "
            "Envoy to expect the header and marks the Service with "
            'istio-source-ip.io/lb-sends-proxy-protocol: "true", your declaration that the LB sends it',
        ),
    )
}

ALL_PROXY_SWITCHES: dict[str, ProxySwitch] = {
    switch.key: switch for platform in PLATFORMS.values() for switch in platform.proxy_switches
}
"""Every known PROXY-protocol annotation of every platform (the policy pack reads them all); a per-port
switch is keyed by its annotation without the port (`proxy_switch_for` finds it)."""


def proxy_switch_for(annotation: str) -> ProxySwitch | None:
    """The PROXY switch an annotation is, per-port forms (`<key><port>`) included, or None."""
    switch = ALL_PROXY_SWITCHES.get(annotation)
    if switch is not None and not switch.per_port:
        return switch
    for candidate in ALL_PROXY_SWITCHES.values():
        if candidate.annotation_port(annotation) is not None:
            return candidate
    return None


LB_SENDS_PROXY_PROTOCOL_ANNOTATION = "istio-source-ip.io/lb-sends-proxy-protocol"
"""Service annotation (value "true") the program sets with PROXY protocol on a platform whose LB
annotation it does not know (`generic`): the declaration that the LB sends the header. The policy
pack accepts it as the LB side of the pairing."""


@dataclass(frozen=True)
class AddressAnnotation:
    """A Service annotation with which a load balancer takes a given address (or the resource that
    carries one). Its value is a comma-separated list; one item belongs to one load balancer."""

    key: str
    claims: str
    """What each item names: an IP address (compared as an address) or the id/name of an address resource."""
    source: str


_AWS_ADDRESSES = (
    "kubernetes-sigs/aws-load-balancer-controller pkg/annotations/constants.go (read with the prefixes "
    "service.beta.kubernetes.io and service.kubernetes.io; ParseStringSliceAnnotation splits on commas)"
)
_AZURE_ADDRESSES = (
    "kubernetes-sigs/cloud-provider-azure pkg/consts/consts.go "
    "(ServiceAnnotationLoadBalancerIPDualStack, ServiceAnnotationPIPNameDualStack)"
)
FIXED_ADDRESS_ANNOTATIONS: tuple[AddressAnnotation, ...] = (
    *(AddressAnnotation(key, "ip", "metallb/metallb internal/allocator") for key in METALLB_IPS_ANNOTATIONS),
    *(
        AddressAnnotation(f"{prefix}/aws-load-balancer-{suffix}", claims, _AWS_ADDRESSES)
        for prefix in ("service.beta.kubernetes.io", "service.kubernetes.io")
        for suffix, claims in (
            ("eip-allocations", "Elastic IP allocation"),
            ("private-ipv4-addresses", "ip"),
            ("ipv6-addresses", "ip"),
        )
    ),
    *(
        AddressAnnotation(f"service.beta.kubernetes.io/azure-{suffix}", claims, _AZURE_ADDRESSES)
        for suffix, claims in (
            ("load-balancer-ipv4", "ip"),
            ("load-balancer-ipv6", "ip"),
            ("pip-name", "Azure public IP"),
            ("pip-name-ipv6", "Azure public IP"),
        )
    ),
    AddressAnnotation(
        "service.beta.kubernetes.io/linode-loadbalancer-reserved-ipv4",
        "ip",
        "linode/linode-cloud-controller-manager cloud/annotations/annotations.go (AnnLinodeLoadBalancerIPv4)",
    ),
)
"""Every known annotation that asks for a fixed load-balancer address: two gateways must not ask for the
same one (their Services both listen on the gateway chart's ports 80, 443 and 15021)."""
