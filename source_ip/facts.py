"""Facts about the outside world, each with its source. The only place they live.

Load-balancer annotations, chart coordinates, image tags and Istio keys are data here;
code elsewhere reads them and never spells them out again. Sources are repository/path
of the upstream project, or the seed document (../shared/seeds) that introduced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class SourceIpMode(StrEnum):
    """How the client address survives the load balancer.

    proxy-protocol: the LB terminates TCP and prepends a PROXY header; Envoy parses it.
    local:          the LB passes packets through; `externalTrafficPolicy: Local` stops the
                    kube-proxy SNAT to a node address (kubernetes.io docs, "Source IP").
    """

    PROXY_PROTOCOL = "proxy-protocol"
    LOCAL = "local"


GO_PARSE_BOOL_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_PARSE_BOOL_FALSE = ("0", "f", "F", "FALSE", "false", "False")
"""What Go's strconv.ParseBool accepts; anything else is an error in controllers that use it."""

SwitchReading = Literal["on", "off", "other"]


@dataclass(frozen=True)
class ProxySwitch:
    """One Service annotation that turns a load balancer's PROXY header on or off, read the way its
    controller reads it. A value that is neither on nor off (a partial port list, a typo, a value
    the controller rejects) reads `other`: the program refuses it in either mode."""

    key: str
    on: tuple[str, ...]
    """Values that make the LB send the header on every port."""
    off: tuple[str, ...] = ()
    """Values that make it send none. An absent annotation always sends none."""
    items: bool = False
    """The value is a comma-separated list: on when an item is in `on`, off when the list is empty."""
    attribute: str | None = None
    """The value is a comma-separated list of attribute=value pairs; the switch is this attribute."""
    lower: bool = False
    """The controller lower-cases the value before reading it."""
    source: str = ""

    def reads(self, value: str) -> SwitchReading:
        if self.lower:
            value = value.lower()
        if self.attribute is not None:
            pairs = dict(item.strip().partition("=")[::2] for item in value.split(",") if item.strip())
            if self.attribute not in pairs:
                return "off"
            value = pairs[self.attribute].strip()
        elif self.items:
            listed = [item.strip() for item in value.split(",") if item.strip()]
            if not listed:
                return "off"
            return "on" if any(item in self.on for item in listed) else "other"
        if value in self.on:
            return "on"
        return "off" if value in self.off else "other"


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
    status_port_proxy_protocol: bool = False
    """The LB's health checks on port 15021 also carry the PROXY header
    (gateway env ENVOY_STATUS_PORT_ENABLE_PROXY_PROTOCOL=true, Istio 1.27+, istio#39868)."""
    caveats: str = ""

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
                    source="vngcloud/vngcloud-load-balancer-controller internal/usecase/service_uc/build_pool.go: a list of "
                    'Service port names, "*" for every TCP port; "true" names no port and enables nothing',
                ),
            ),
            source="the PROXY-protocol recipe (see README, Sources), step 5.1; vngcloud/vngcloud-load-balancer-controller "
            "internal/usecase/service_uc/build_pool.go",
            caveats='only "*" (or a Service port name) enables it; "*" covers every TCP port of the gateway',
        ),
        Platform(
            id="aws",
            lb="AWS Classic Load Balancer (cloud-provider-aws)",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"},
            proxy_switches=(_AWS_PROXY,),
            source="kubernetes/cloud-provider-aws pkg/providers/v1/aws.go",
            caveats='only "*" is accepted; PROXY protocol v1. Where the AWS Load Balancer Controller runs (common on '
            "EKS), its default webhook (enableServiceMutatorWebhook: true) gives every new LoadBalancer Service its "
            "loadBalancerClass, so it becomes an NLB with an internal scheme and no Classic LB is made "
            "(aws-load-balancer-controller webhooks/core/service_mutator.go, pkg/service/model_build_load_balancer.go): "
            "use platform aws-nlb there, or install the controller with enableServiceMutatorWebhook=false",
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
                "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "preserve_client_ip.enabled=true",
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            },
            proxy_switches=(
                _AWS_PROXY,
                ProxySwitch(
                    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes",
                    on=("true",),
                    off=("false",),
                    attribute="proxy_protocol_v2.enabled",
                    source="aws-load-balancer-controller pkg/service/model_build_target_group.go",
                ),
                ProxySwitch(
                    "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol-per-target-group",
                    on=(),
                    off=("",),
                    items=True,
                    source="aws-load-balancer-controller pkg/service/model_build_target_group.go: a port list, "
                    "so PROXY on some ports only",
                ),
            ),
            status_port_proxy_protocol=True,
            source="kubernetes-sigs/aws-load-balancer-controller docs/guide/service/annotations.md, "
            "pkg/service/model_build_target_group.go",
            caveats="the controller makes an internal NLB unless "
            "service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing is set; "
            "with preserve_client_ip, pods calling the NLB from its own target node fail (hairpin)",
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
                    source="digitalocean/digitalocean-cloud-controller-manager cloud-controller-manager/do/annotations.go "
                    "(getBool: strconv.ParseBool)",
                ),
            ),
            hairpin_annotation="service.beta.kubernetes.io/do-loadbalancer-hostname",
            source="digitalocean/digitalocean-cloud-controller-manager cloud-controller-manager/do/cloud.go "
            "(defaultLBType: REGIONAL_NETWORK unless DEFAULT_LB_TYPE), do/loadbalancers.go (getType)",
            caveats="the controller's default type is REGIONAL_NETWORK, a passthrough LB: the program always sets "
            "do-loadbalancer-type (REGIONAL for PROXY protocol, REGIONAL_NETWORK for local)",
        ),
        Platform(
            id="linode",
            lb="Akamai (Linode) NodeBalancer",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/linode-loadbalancer-default-proxy-protocol": "v2"},
            proxy_switches=tuple(
                ProxySwitch(
                    key,
                    on=("v1", "v2"),
                    off=("none",),
                    lower=True,
                    source="linode/linode-cloud-controller-manager cloud/linode/loadbalancers_helpers.go "
                    "(getPortProxyProtocol), cloud/linode/loadbalancers.go (validProxyProtocols)",
                )
                for key in (
                    "service.beta.kubernetes.io/linode-loadbalancer-default-proxy-protocol",
                    "service.beta.kubernetes.io/linode-loadbalancer-proxy-protocol",
                )
            ),
            source="linode/linode-cloud-controller-manager cloud/annotations/annotations.go, "
            "cloud/linode/loadbalancers_helpers.go",
            caveats="a per-port annotation (linode-loadbalancer-port-N) overrides the default; do not set one",
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
                    source="hetznercloud/hcloud-cloud-controller-manager internal/annotation/name.go (BoolFromService: "
                    "strconv.ParseBool)",
                ),
            ),
            required_one_of=("load-balancer.hetzner.cloud/location", "load-balancer.hetzner.cloud/network-zone"),
            hairpin_annotation="load-balancer.hetzner.cloud/hostname",
            source="hetznercloud/hcloud-cloud-controller-manager internal/annotation/load_balancer.go, "
            "internal/hcops/load_balancer.go",
            caveats="the LB is not created without a location or network-zone annotation (set one in "
            "gateway.serviceAnnotations; the program refuses a stack without it)",
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
            caveats="with Kubernetes <= 1.31 MKS uses Octavia only with loadbalancer.ovhcloud.com/class: octavia; "
            '"true" is PROXY v1, which every cloud-provider-openstack version reads',
        ),
        Platform(
            id="scaleway",
            lb="Scaleway Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v2": "*"},
            proxy_switches=tuple(
                ProxySwitch(
                    key,
                    on=("*",),
                    off=("",),
                    items=True,
                    source="scaleway/scaleway-cloud-controller-manager docs/loadbalancer-annotations.md (docs)",
                )
                for key in (
                    "service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v2",
                    "service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v1",
                )
            ),
            hairpin_annotation="service.beta.kubernetes.io/scw-loadbalancer-use-hostname",
            hairpin_value="true",
            source="scaleway/scaleway-cloud-controller-manager docs/loadbalancer-annotations.md",
        ),
        Platform(
            id="oci",
            lb="Oracle Cloud Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/oci-load-balancer-connection-proxy-protocol-version": "2"},
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/oci-load-balancer-connection-proxy-protocol-version",
                    on=("1", "2"),
                    source="oracle/oci-cloud-controller-manager docs/load-balancer-annotations.md (docs)",
                ),
            ),
            source="oracle/oci-cloud-controller-manager docs/load-balancer-annotations.md",
        ),
        Platform(
            id="oci-nlb",
            lb="Oracle Cloud Network Load Balancer",
            modes=_LOCAL,
            local_annotations={
                "oci-network-load-balancer.oraclecloud.com/is-preserve-source": "true",
                "oci.oraclecloud.com/load-balancer-type": "nlb",
            },
            source="oracle/oci-cloud-controller-manager docs/load-balancer-annotations.md",
            caveats="is-preserve-source is rejected with externalTrafficPolicy Cluster",
        ),
        Platform(
            id="alibaba",
            lb="Alibaba Cloud Classic Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-proxy-protocol": "on"},
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-proxy-protocol",
                    on=("on",),
                    off=("off",),
                    source="kubernetes/cloud-provider-alibaba-cloud docs/usage.md (docs)",
                ),
            ),
            source="kubernetes/cloud-provider-alibaba-cloud docs/usage.md",
        ),
        Platform(
            id="civo",
            lb="Civo Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={"kubernetes.civo.com/loadbalancer-enable-proxy-protocol": "send-proxy-v2"},
            proxy_switches=(
                ProxySwitch(
                    "kubernetes.civo.com/loadbalancer-enable-proxy-protocol",
                    on=("send-proxy", "send-proxy-v2"),
                    off=("",),
                    source="civo/civo-cloud-controller-manager README.md (docs)",
                ),
            ),
            source="civo/civo-cloud-controller-manager README.md",
        ),
        Platform(
            id="vultr",
            lb="Vultr Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={"service.beta.kubernetes.io/vultr-loadbalancer-proxy-protocol": "true"},
            proxy_switches=(
                ProxySwitch(
                    "service.beta.kubernetes.io/vultr-loadbalancer-proxy-protocol",
                    on=("true",),
                    off=("false",),
                    source="vultr/vultr-cloud-controller-manager docs/load-balancers.md (docs)",
                ),
            ),
            source="vultr/vultr-cloud-controller-manager docs/load-balancers.md",
        ),
        Platform(
            id="ibm",
            lb="IBM Cloud VPC Application Load Balancer",
            modes=_PROXY,
            proxy_protocol_annotations={
                "service.kubernetes.io/ibm-load-balancer-cloud-provider-enable-features": "proxy-protocol"
            },
            proxy_switches=(
                ProxySwitch(
                    "service.kubernetes.io/ibm-load-balancer-cloud-provider-enable-features",
                    on=("proxy-protocol",),
                    off=("",),
                    items=True,
                    source="IBM Cloud docs, VPC load balancer annotations (docs)",
                ),
            ),
            source="IBM Cloud docs, VPC load balancer annotations",
            caveats="read only when the LB is created: recreate the Service to switch",
        ),
        Platform(
            id="exoscale",
            lb="Exoscale Network Load Balancer",
            modes=_LOCAL,
            source="exoscale/exoscale-cloud-controller-manager docs/service-loadbalancer.md",
        ),
        Platform(
            id="metallb",
            lb="MetalLB (L2)",
            modes=_LOCAL,
            source="the DaoCloud MetalLB recipe (see README, Sources); metallb/metallb speaker/layer2_controller.go",
            caveats="the MetalLB pinning component adds metallb.io/address-pool: <metallb.pool> and pins "
            "the gateway pods and the announcing nodes to the same labelled nodes",
        ),
        Platform(
            id="generic",
            lb="any other load balancer",
            modes=_BOTH_LOCAL_FIRST,
            source="this project: no annotations are known, set them in gateway.serviceAnnotations",
            caveats="with proxy-protocol the LB's own PROXY setting is yours to make: the program tells Envoy to "
            'expect the header and marks the Service with istio-source-ip.io/lb-sends-proxy-protocol: "true", '
            "your declaration that the LB sends it",
        ),
    )
}

ALL_PROXY_SWITCHES: dict[str, ProxySwitch] = {
    switch.key: switch for platform in PLATFORMS.values() for switch in platform.proxy_switches
}
"""Every known PROXY-protocol annotation of every platform (the policy pack reads them all)."""

LB_SENDS_PROXY_PROTOCOL_ANNOTATION = "istio-source-ip.io/lb-sends-proxy-protocol"
"""Service annotation (value "true") the program sets with PROXY protocol on a platform whose LB
annotation it does not know (`generic`): the declaration that the LB sends the header. The policy
pack accepts it as the LB side of the pairing."""


@dataclass(frozen=True)
class Chart:
    """A Helm chart from its official repository."""

    chart: str
    repository: str
    source: str


ISTIO_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
ISTIO_NAMESPACE = "istio-system"
ISTIOD_DEPLOYMENT = "istiod"
"""istiod's Deployment (default revision): manifests/charts/istio-control/istio-discovery/templates/deployment.yaml
names it `istiod` (`istiod-<revision>` for a revision)."""
ISTIO_BASE = Chart("base", ISTIO_REPOSITORY, "istio/istio manifests/charts/base; seed 000 step 1")
ISTIOD = Chart("istiod", ISTIO_REPOSITORY, "istio/istio manifests/charts/istio-control/istio-discovery")
ISTIO_GATEWAY = Chart("gateway", ISTIO_REPOSITORY, "istio/istio manifests/charts/gateway")
METALLB = Chart("metallb", "https://metallb.github.io/metallb", "metallb/metallb charts/metallb")
METALLB_CHART_VERSION = "0.15.3"

# Release names this program gives its own Helm releases; a gateway may not take one of them.
ISTIO_BASE_RELEASE = "istio-base"
ISTIOD_RELEASE = "istiod"
METALLB_RELEASE = "metallb"
RESERVED_RELEASE_NAMES = frozenset({ISTIO_BASE_RELEASE, ISTIOD_RELEASE, METALLB_RELEASE})
HELM_RELEASE_NAME_MAX = 53
"""helm/helm pkg/chartutil/validate_name.go: `maxReleaseNameLen = 53` (names also go into labels)."""

ALWAYS_PRESENT_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
"""Namespaces every Kubernetes cluster has: never declared as created (AlreadyExists), never deleted."""

GATEWAY_API_VERSION = "v1.4.0"
"""The version Istio 1.28 is built against (istio/istio go.mod at 1.28.1, sigs.k8s.io/gateway-api)."""
GATEWAY_API_CRDS_URL = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
)
"""Standard-channel Gateway API CRDs (seed 000 step 1 applies the same with kustomize)."""

# --- Gateway API mode (../shared/docs/gateway-api-mode.md: istio/istio 1.28.1, gateway-api v1.4.0) --------
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
ISTIO_GATEWAY_CLASS = "istio"
"""Created by istiod when absent (pilot/pkg/config/kube/gateway/gatewayclass.go): never by the program."""
GATEWAY_NAME_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
"""The label istiod puts on the pods (and the Deployment selector) of the gateway it deploys
(manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml)."""
GATEWAY_PARAMETERS_KEYS = frozenset({"deployment", "service", "serviceAccount", "horizontalPodAutoscaler", "podDisruptionBudget"})
"""Data keys istiod reads from the ConfigMap of spec.infrastructure.parametersRef, each a strategic-merge
patch of the generated object (pilot/pkg/config/kube/gateway/deploymentcontroller.go). Anything else
is only logged by istiod, so the program checks its own ConfigMaps against this."""
GATEWAY_API_MIN_ISTIO = (1, 26)
"""spec.infrastructure.parametersRef is read since Istio 1.26."""
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
"""pulumi-kubernetes (4.18+, CHANGELOG) waits for this condition before it reports the object created."""

ECHO_IMAGE = "mccutchen/go-httpbin:v2.18.1"
"""go-httpbin listens on 8080 and answers /headers and /ip (seed 000 step 2)."""
ECHO_PORT = 8080

# --- Istio (istio/api mesh/v1alpha1/proxy.proto; manifests/charts/gateway) -------------------
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
"""Pod annotation holding per-proxy ProxyConfig as JSON; gatewayTopology lives in it."""
STATUS_PORT_PROXY_PROTOCOL_ENV = "ENVOY_STATUS_PORT_ENABLE_PROXY_PROTOCOL"
SIDECAR_INJECT_POD_LABEL = {"sidecar.istio.io/inject": "true"}
"""Pod label that makes istiod's webhook inject the sidecar in a namespace without `istio-injection`
(manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, case "object."),
so no other workload of a shared namespace gets a sidecar."""
PROXY_PROTOCOL_LISTENER_FILTER = "envoy.filters.listener.proxy_protocol"
PROXY_PROTOCOL_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"


def gateway_selector_labels(release_name: str) -> dict[str, str]:
    """Labels the istio/gateway chart puts on its pods for a release name.

    istio/istio manifests/charts/gateway/templates/_helpers.tpl: `app: <name>` and
    `istio: <name without the "istio-" prefix>`. A Gateway selecting anything else matches nothing.
    """
    return {"app": release_name, "istio": release_name.removeprefix("istio-")}


# --- MetalLB (metallb/metallb config/crd/bases) ----------------------------------------------
METALLB_POOL_ANNOTATION = "metallb.io/address-pool"
"""The `metallb.universe.tf/` prefix is deprecated since MetalLB 0.14.9."""
METALLB_POOL_ANNOTATIONS = (METALLB_POOL_ANNOTATION, "metallb.universe.tf/address-pool")
METALLB_IPS_ANNOTATIONS = ("metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs")
"""A fixed address: MetalLB takes it from whichever pool holds it (metallb/metallb internal/allocator)."""
RESERVED_LABEL_PREFIXES = ("kubernetes.io", "k8s.io")
"""Label prefixes (and their subdomains) reserved for Kubernetes' own components
(kubernetes.io docs, Labels and Selectors: "The kubernetes.io/ and k8s.io/ prefixes are reserved")."""
METALLB_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}
"""The speaker needs host networking and NET_RAW (metallb.io installation docs, Pod Security)."""


# --- Marks this program sets on the gateway (read back by the policy pack, policy/) ---------------
MIGRATION_POD_LABEL = {"istio-source-ip.io/proxy-protocol": "accept-both"}
"""Marks gateway pods started during a PROXY-protocol migration. The permissive listener
filter selects this label, so pods rolled out in the final (strict) step are not matched by it
while the old pods drain."""

TRUSTED_HOPS_ANNOTATION = "istio-source-ip.io/trusted-hops"
"""Pod annotation declaring that the hops counted by numTrustedProxies are L7 proxies/CDNs.
The policy pack refuses numTrustedProxies >= 1 without it (clients could forge X-Forwarded-For)."""
