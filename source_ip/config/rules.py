"""Rules that span several keys of a parsed config; each problem names the key the user has to change."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from source_ip import facts
from source_ip.addresses import networks, whole_families
from source_ip.config.gateway_rules import (
    Example,
    FieldPath,
    Finding,
    gateway_findings,
    http01_challenge,
)
from source_ip.config.messages import _MISSING, NAMESPACE, Problem, _clip
from source_ip.config.models import (
    GatewayEntry,
    StackConfig,
    parse_address_range,
)
from source_ip.config.settings import GatewaySettings, settings_of, settings_path
from source_ip.facts import (
    GATEWAY_API_MIN_ISTIO,
    ISTIO_NAMESPACE,
    METALLB_IPS_ANNOTATIONS,
    SourceIpMode,
)

StackRule = Callable[..., None]
STACK_RULE_EXAMPLES: dict[str, list[Example]] = {}
"""Stack rule name -> the examples docs/refusals.md shows for what it refuses (each a stack file's config)."""


def refuses(*examples: Example) -> Callable[[StackRule], StackRule]:
    """Record the examples of what a stack rule refuses (docs/refusals.md is made from them)."""

    def register(function: StackRule) -> StackRule:
        STACK_RULE_EXAMPLES[function.__name__] = list(examples)
        return function

    return register


def semantic_problems(config: StackConfig) -> list[Problem]:
    """Rules that span several keys: each names the key the user has to change. Each gateway's own rules
    are `gateway_rules.py`'s, run on its settings; the rest are the named functions below."""
    problems: list[Problem] = []

    def add(key: str, value: Any, message: str) -> None:
        problems.append(Problem(f"{NAMESPACE}:{key}", value, message))

    entries = list(config.gateway_entries())
    _stack_wide_problems(config, add)
    _gateway_form_problems(config, add)
    _each_gateway_problems(config, entries, add)
    _owned_namespace_problems(config, entries, add)
    if config.platform_entry.pins_nodes:
        _metallb_namespace_problems(config, entries, add)
    _address_clashes(entries, add)
    _cert_manager_namespace_problems(config, entries, add)
    _metallb_problems(config, add)
    _observability_problems(config, entries, add)
    return problems


@refuses(
    (
        "Gateway API mode on an Istio that cannot carry the path",
        {"platform": "gcp", "routing": "gateway-api", "istio": {"version": "1.25.4"}},
    ),
)
def _stack_wide_problems(config: StackConfig, add: Any) -> None:
    """Keys that decide for the whole stack: routing against the Istio release, cert-manager's quickstart."""
    if config.routing == "gateway-api":
        if config.istio.release[:2] < GATEWAY_API_MIN_ISTIO:
            add(
                "routing",
                config.routing,
                f"Istio {config.istio.version} does not read spec.infrastructure.parametersRef, which "
                "carries the "
                f"source-IP path in this mode; allowed: istio.version {GATEWAY_API_MIN_ISTIO[0]}."
                f"{GATEWAY_API_MIN_ISTIO[1]}.0 or newer, or routing: istio",
            )
    if config.cert_manager.quickstart_issuer and not config.cert_manager.install:
        add(
            "certManager.quickstartIssuer",
            True,
            "creates its CA in namespace cert-manager, which only a cert-manager install "
            "(certManager.install) creates and owns; against a cert-manager you run, the CA would land in "
            "a namespace the program does not know; allowed: certManager.install: true with it, or your "
            "own issuer",
        )


@refuses(
    ("both gateway forms", {"platform": "gcp", "gateway": {"replicas": 3}, "gateways": [{"name": "a"}]}),
)
def _gateway_form_problems(config: StackConfig, add: Any) -> None:
    """`gateway` or `gateways`, and at least one gateway."""
    if config.gateways is not None and "gateway" in config.model_fields_set:
        add(
            "gateways",
            _MISSING,
            f"is set together with {NAMESPACE}:gateway; allowed: one of the two (gateway for one gateway, "
            "gateways for several)",
        )
    if config.gateways == []:
        add(
            "gateways",
            [],
            "needs at least one gateway; allowed: a list of gateway objects, or remove the key",
        )


@refuses(
    ("two gateways with one name", {"platform": "gcp", "gateways": [{"name": "edge"}, {"name": "edge"}]}),
)
def _each_gateway_problems(config: StackConfig, entries: list[GatewayEntry], add: Any) -> None:
    """Every gateway's own rules (on its settings, keyed to its keys), the ones that need the rest of the
    stack, and one name per gateway."""
    seen: dict[str, str] = {}
    for entry in entries:
        keys = StackKeys(entry)
        try:
            settings = settings_of(config, entry)
        except ValidationError as error:  # a value the settings refuse that the stack's own type let by
            for failure in error.errors():
                field = settings_path(tuple(failure["loc"]))
                add(keys.key(field), failure["input"], failure["msg"].removeprefix("Value error, "))
            continue
        for finding in gateway_findings(settings, keys.key):
            add(keys.key(finding.field), keys.value(finding), finding.message)
        _stack_gateway_problems(config, entry, add)
        _pool_family_problems(config, entry, add)
        _allowlist_family_problems(config, entry, add)
        _stack_tls_problems(config, entry, settings, add)
        _quickstart_problems(config, entry, add)
        name = entry.gateway.name
        if name in seen:
            add(
                f"{entry.key}.name",
                name,
                f"is already the name of {seen[name]}: the pod labels (app/istio) derive from the release "
                "name, so "
                "each gateway's Istio objects would select the other's pods too; allowed: a name no other "
                "gateway has",
            )
        seen.setdefault(name, entry.key)


@refuses(
    ("the echo app in Istio's namespace", {"platform": "gcp", "echo": {"namespace": "istio-system"}}),
)
def _owned_namespace_problems(config: StackConfig, entries: list[GatewayEntry], add: Any) -> None:
    """The echo app and a MetalLB install stay out of the namespaces of the gateways and of Istio."""
    gateway_namespaces = {entry.gateway.namespace: f"gateway {entry.gateway.name}" for entry in entries}
    owned = {**gateway_namespaces, ISTIO_NAMESPACE: "Istio"}
    if config.echo.enabled and config.echo.namespace in owned:
        add(
            "echo.namespace",
            config.echo.namespace,
            f"is {owned[config.echo.namespace]}'s namespace; allowed: another namespace, e.g. default",
        )
    if config.platform_entry.pins_nodes and config.metallb.install and config.metallb.namespace in owned:
        add(
            "metallb.namespace",
            config.metallb.namespace,
            f"is {owned[config.metallb.namespace]}'s namespace; allowed: another namespace, e.g. "
            "metallb-system",
        )


@refuses(
    (
        "an adoption that drops other pools",
        {
            "platform": "metallb",
            "metallb": {
                "nodes": ["w1"],
                "addresses": ["10.0.0.0/24"],
                "adoptL2Advertisement": "default-l2advertisement",
            },
        },
    ),
)
def _metallb_problems(config: StackConfig, add: Any) -> None:
    """MetalLB's keys: nodes to pin to, a pool for an install, an adoption that keeps other pools."""
    if config.platform_entry.pins_nodes:
        if not config.metallb.nodes:
            add(
                "metallb.nodes",
                [],
                "needs at least one node name to pin the gateway and the announcements to; "
                "allowed: a list of node names, e.g. [worker-03, worker-04]",
            )
        if config.metallb.install and config.metallb.adopt_l2_advertisement:
            add(
                "metallb.adoptL2Advertisement",
                config.metallb.adopt_l2_advertisement,
                "a fresh MetalLB install has no L2Advertisement to adopt; allowed: unset when "
                "metallb.install is true",
            )
        if config.metallb.adopt_l2_advertisement and config.metallb.addresses:
            add(
                "metallb.adoptL2Advertisement",
                config.metallb.adopt_l2_advertisement,
                f"adopting it replaces its whole ipAddressPools list with [{config.metallb.pool}] (MetalLB's "
                "CRD list "
                "is atomic under server-side apply), so the pools it announces today would stop being "
                "announced; "
                "allowed: unset (the program creates its own advertisement for the new pool), or remove "
                "metallb.addresses to pin an existing pool",
            )
        if config.metallb.install and not config.metallb.addresses:
            add(
                "metallb.addresses",
                [],
                "a fresh MetalLB install has no address pool; allowed: one or more IPs, CIDRs or ranges for "
                "the pool",
            )
    elif "metallb" in config.model_fields_set:
        add(
            "metallb",
            config.metallb.model_dump(by_alias=True, exclude_defaults=True),
            f"only used with platform metallb (platform is {config.platform}); allowed: remove the key",
        )


def _observability_problems(config: StackConfig, entries: list[GatewayEntry], add: Any) -> None:
    """observability.internalGateways names gateways of this stack (another name would silence nothing)."""
    names = [entry.gateway.name for entry in entries]
    for index, name in enumerate(config.observability.internal_gateways):
        if name not in names:
            add(
                f"observability.internalGateways[{index}]",
                name,
                f"is not a gateway of this stack; allowed: {', '.join(names)}",
            )


@refuses(
    (
        "a MetalLB install into a namespace every cluster has",
        {
            "platform": "metallb",
            "metallb": {
                "nodes": ["w1"],
                "install": True,
                "addresses": ["192.0.2.0/24"],
                "namespace": "default",
            },
        },
    ),
    (
        "the echo app in MetalLB's namespace",
        {"platform": "metallb", "metallb": {"nodes": ["w1"]}, "echo": {"namespace": "metallb-system"}},
    ),
    (
        "a gateway in an existing MetalLB's namespace",
        {"platform": "metallb", "metallb": {"nodes": ["w1"]}, "gateway": {"namespace": "metallb-system"}},
    ),
)
def _metallb_namespace_problems(config: StackConfig, entries: list[GatewayEntry], add: Any) -> None:
    """MetalLB's namespace is privileged (its speaker needs host networking) and MetalLB's alone: nothing
    else of the program goes there, and an install gets a namespace of its own, never one every cluster
    has. The program declares the namespaces it places things in (`declared_namespaces`): one that exists
    already stops `pulumi up` at AlreadyExists halfway, or with upsert is adopted and deleted by a destroy."""
    namespace = config.metallb.namespace
    privileged = "MetalLB's namespace (metallb.namespace), where Pod Security is privileged"
    exists = "`pulumi up` would stop at AlreadyExists, or with kubernetes:upsertExistingObjects adopt it"
    if config.metallb.install and namespace in facts.ALWAYS_PRESENT_NAMESPACES:
        add(
            "metallb.namespace",
            namespace,
            "is a namespace every cluster has: a MetalLB install creates its own namespace, labelled "
            f"privileged for the speaker ({exists} and label it privileged); allowed: e.g. metallb-system",
        )
    if config.echo.enabled and config.echo.namespace == namespace:
        add(
            "echo.namespace",
            namespace,
            f"is {privileged}: the echo app would run there without Pod Security limits, and the echo app "
            f"would declare that namespace as its own ({exists}); allowed: another namespace, e.g. default",
        )
    if not config.metallb.install:
        for entry in entries:
            if entry.gateway.namespace == namespace:
                add(
                    f"{entry.key}.namespace",
                    namespace,
                    f"is {privileged}, which exists with MetalLB in it: the program would declare it as "
                    f"gateway {entry.gateway.name}'s own namespace ({exists}, and a destroy would delete "
                    "MetalLB with it); allowed: another namespace, e.g. istio-ingress",
                )


@refuses(
    (
        "two gateways asking for one address",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"]},
            "gateways": [
                {"name": "public", "serviceAnnotations": {"metallb.io/loadBalancerIPs": "192.0.2.10"}},
                {"name": "internal", "serviceAnnotations": {"metallb.io/loadBalancerIPs": "192.0.2.10"}},
            ],
        },
    ),
)
def _address_clashes(entries: list[GatewayEntry], add: Any) -> None:
    """Two gateways asking for the same load-balancer address (or address resource), whatever the
    annotation (a YAML anchor shares one value between gateways): one of them would get none."""
    claimed: dict[tuple[str, str], str] = {}
    for entry in entries:
        own: set[tuple[str, str]] = set()
        for known in facts.FIXED_ADDRESS_ANNOTATIONS:
            value = entry.gateway.service_annotations.get(known.key)
            if value is None:
                continue
            clashed = False
            for item in (part.strip() for part in value.split(",")):
                if not item:
                    continue
                claim = (known.claims, _address_or_name(item) if known.claims == "ip" else item)
                where = f"{entry.key}.serviceAnnotations.{known.key}"
                if claim in claimed and claim not in own:
                    clashed = True
                    add(
                        where,
                        value,
                        f"asks for {_clip(item, 60)}, which {claimed[claim]} asks for too: one "
                        "load-balancer address serves one Service here (both gateways listen on ports 80, "
                        "443 and 15021), so one of the two gateways would get no address; allowed: a "
                        "different address for each gateway",
                    )
                own.add(claim)
                claimed.setdefault(claim, where)
                if clashed:
                    break


def _address_or_name(item: str) -> str:
    """An IP in one spelling (2001:DB8::1 and 2001:db8:0::1 are one address); anything else as written."""
    try:
        return str(ipaddress.ip_address(item))
    except ValueError:
        return item


class StackKeys:
    """How a stack file spells a gateway's settings fields: the key the user wrote, and its value there."""

    def __init__(self, entry: GatewayEntry):
        self.entry = entry

    def key(self, field: FieldPath) -> str:
        head, rest = field[0], field[1:]
        if head == "mode":
            return self.entry.source_ip_key
        if head == "listener":
            return f"{self.entry.key}.proxyProtocolMigration"
        if head == "platform":
            return "platform"
        if head == "istio_version":
            return "istio.version"
        if head == "metallb":
            return "metallb" + _path(rest)
        if head == "https":
            return f"{self.entry.key}.tls" + _path(rest)
        if head == "service_annotations":
            return f"{self.entry.key}.serviceAnnotations" + "".join(f".{part}" for part in rest)
        return self.entry.key + _path(field)

    def value(self, finding: Finding) -> Any:
        head = finding.field[0]
        if head == "mode":
            return self.entry.source_ip
        if head == "listener":
            return self.entry.gateway.proxy_protocol_migration
        return finding.value


def _path(parts: FieldPath) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{to_camel(part)}" for part in parts)


@refuses(
    (
        "an allowlist while the gateway cannot see clients",
        {
            "platform": "vngcloud",
            "sourceIp": "local",
            "gateway": {"proxyProtocolMigration": True},
            "allowlist": ["192.0.2.0/24"],
        },
    ),
    (
        "the accept-both step on a passthrough path with an allowlist",
        {
            "platform": "aws-nlb",
            "sourceIp": "local",
            "gateway": {"proxyProtocolMigration": True},
            "allowlist": ["192.0.2.0/24"],
        },
    ),
)
def _stack_gateway_problems(config: StackConfig, entry: GatewayEntry, add: Any) -> None:
    """The rules of one gateway that need the rest of the stack (the MetalLB pool's ranges, the
    allowlist), named by its own keys (`gateway.*` or `gateways[i].*`)."""
    platform = config.platform_entry
    gateway = entry.gateway
    key = entry.key
    if config.echo.enabled:
        for index, route in enumerate(gateway.routes):
            if config.echo.host in route.hosts:
                add(
                    f"{key}.routes[{index}].hosts",
                    route.hosts,
                    f"names echo.host ({config.echo.host}), the probe's own host, which verify and the fleet "
                    "call to prove the client address after every deploy; allowed: your own hosts, with "
                    "echo.host left to the probe (or change echo.host)",
                )
    if config.platform_entry.pins_nodes and config.metallb.addresses:
        for annotation in METALLB_IPS_ANNOTATIONS:
            if annotation in gateway.service_annotations:
                outside = _outside_pool(gateway.service_annotations[annotation], config.metallb.addresses)
                if outside:
                    add(
                        f"{key}.serviceAnnotations.{annotation}",
                        gateway.service_annotations[annotation],
                        f"{outside} is not in metallb.addresses, so MetalLB would take it from another pool, "
                        "announced "
                        f"from other nodes; allowed: addresses of {', '.join(config.metallb.addresses)}",
                    )
    narrow = bool(config.allowlist) and not admits_everyone(config.allowlist)
    if narrow and entry.mode == SourceIpMode.LOCAL and SourceIpMode.LOCAL not in platform.modes:
        add(
            "allowlist",
            config.allowlist,
            f"{platform.id} terminates TCP and does not send the PROXY header yet at this migration step "
            f"({entry.source_ip_key}: local), so gateway {gateway.name} sees the load balancer's address and "
            "the "
            "allowlist would block every client; allowed: [] until the step that sets sourceIp: "
            "proxy-protocol",
        )
    if (
        narrow
        and gateway.proxy_protocol_migration
        and entry.mode == SourceIpMode.LOCAL
        and set(platform.modes) == {SourceIpMode.LOCAL, SourceIpMode.PROXY_PROTOCOL}
    ):
        add(
            f"{key}.proxyProtocolMigration",
            True,
            f"with {entry.source_ip_key}: {entry.source_ip} the load balancer passes each client's own "
            f"bytes through, and gateway {gateway.name}'s accept-both listener would read a PROXY header "
            "the client wrote itself; the allowlist matches the address in that header (remoteIpBlocks), "
            "so anyone could get in by naming an allowed address; allowed: false (stay on passthrough, "
            "where the allowlist matches the packet source), or allowlist: [] for this migration step",
        )


@refuses(
    (
        "a dual-stack gateway with a pool of one family",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"], "addresses": ["192.168.10.240-192.168.10.250"]},
            "gateway": {"ipFamilies": ["IPv4", "IPv6"]},
        },
    ),
)
def _pool_family_problems(config: StackConfig, entry: GatewayEntry, add: Any) -> None:
    """On MetalLB, a gateway's IP families each need an address in the pool the program creates: MetalLB
    gives a RequireDualStack (or single-family) Service no address from a pool without its families
    (metallb internal/allocator/allocator.go, findBestPoolForService), and the Service waits forever."""
    families = entry.gateway.ip_families
    if not config.platform_entry.pins_nodes or not config.metallb.addresses or not families:
        return
    held = {parse_address_range(item).version for item in config.metallb.addresses}
    missing = [family for family in families if {"IPv4": 4, "IPv6": 6}[family] not in held]
    if not missing:
        return
    example = "fd00:10::240/124" if "IPv6" in missing else "192.168.10.240-192.168.10.250"
    add(
        "metallb.addresses",
        config.metallb.addresses,
        f"holds no {' or '.join(missing)} address, and {entry.key}.ipFamilies [{', '.join(families)}] "
        f"needs one of each family: MetalLB would give gateway {entry.gateway.name}'s Service no address "
        f"from pool {config.metallb.pool}; allowed: add an {' and an '.join(missing)} range (e.g. "
        f"{example}), or set {entry.key}.ipFamilies to the families the pool holds",
    )


@refuses(
    (
        "an allowlist of no family the gateway serves",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"], "addresses": ["fd00:10::240/124"]},
            "gateway": {"ipFamilies": ["IPv6"]},
            "allowlist": ["203.0.113.0/24"],
        },
    ),
)
def _allowlist_family_problems(config: StackConfig, entry: GatewayEntry, add: Any) -> None:
    """An allowlist with no range of any family a gateway's Service takes admits none of its clients."""
    families = entry.gateway.ip_families
    if not families or not config.allowlist:
        return
    served = {6 if family == "IPv6" else 4 for family in families}
    if any(network.version in served for network in networks(config.allowlist)):
        return
    add(
        "allowlist",
        config.allowlist,
        f"holds no {' or '.join(families)} range, and {entry.key}.ipFamilies [{', '.join(families)}] brings "
        f"gateway {entry.gateway.name} only such clients, so it would refuse every one (403); allowed: "
        f"ranges of the families the gateway serves, or set {entry.key}.ipFamilies to include the "
        "allowlist's",
    )


def _cert_manager_namespace_problems(config: StackConfig, entries: list[GatewayEntry], add: Any) -> None:
    """A cert-manager install owns its namespace: nothing else of the program is declared there."""
    if not config.cert_manager.install:
        return
    namespace = facts.CERT_MANAGER_NAMESPACE
    why = (
        f"is {namespace}, the namespace the cert-manager install (certManager.install) creates and owns; "
        "allowed: another namespace"
    )
    for entry in entries:
        if entry.gateway.namespace == namespace:
            add(f"{entry.key}.namespace", namespace, why)
    if config.echo.enabled and config.echo.namespace == namespace:
        add("echo.namespace", namespace, why)
    if config.platform_entry.pins_nodes and config.metallb.install and config.metallb.namespace == namespace:
        add("metallb.namespace", namespace, why)


def _quickstart_problems(config: StackConfig, entry: GatewayEntry, add: Any) -> None:
    """The quickstart CA is the program's own ClusterIssuer: named only as a ClusterIssuer, only while the
    program creates it, and never the certificate a public load balancer's visitors are redirected to."""
    tls = entry.gateway.tls
    manager = tls.cert_manager if tls is not None else None
    if tls is None or manager is None or manager.issuer != facts.QUICKSTART_ISSUER:
        return
    key = f"{entry.key}.tls.certManager"
    if manager.issuer_kind != "ClusterIssuer":
        add(
            f"{key}.issuerKind",
            manager.issuer_kind,
            f"{facts.QUICKSTART_ISSUER} is the quickstart's ClusterIssuer; an Issuer of that name in "
            f"namespace {entry.gateway.namespace} does not exist, so the certificate would never issue; "
            "allowed: ClusterIssuer",
        )
    elif not config.cert_manager.quickstart_issuer:
        add(
            f"{key}.issuer",
            manager.issuer,
            "names the quickstart's ClusterIssuer, which the program creates only with "
            "certManager.quickstartIssuer: true, so the certificate would never issue; allowed: "
            "certManager.quickstartIssuer: true, or your own issuer",
        )
    elif (
        tls.redirect_http
        and "redirect_http" not in tls.model_fields_set
        and not config.platform_entry.pins_nodes
    ):
        add(
            f"{entry.key}.tls.redirectHttp",
            _MISSING,
            f"would send every plain-HTTP visitor of a {config.platform_entry.lb} to a certificate no "
            "browser trusts (the quickstart's self-signed CA), and browsers refuse it; allowed: false, "
            "an ACME issuer (docs/https.md), or true to say that only clients given the CA connect",
        )


@refuses(
    (
        "HTTP-01 behind an allowlist",
        {
            "platform": "gcp",
            "routing": "gateway-api",
            "allowlist": ["203.0.113.0/24"],
            "gateway": {"tls": {"certManager": {"issuer": "letsencrypt"}}},
        },
    ),
    (
        "HTTPS with istio routing and no echo app",
        {
            "platform": "gcp",
            "echo": {"enabled": False},
            "gateway": {"tls": {"hosts": ["app.example.com"], "secretName": "app-tls"}},
        },
    ),
)
def _stack_tls_problems(
    config: StackConfig, entry: GatewayEntry, settings: GatewaySettings, add: Any
) -> None:
    """HTTPS of one gateway where the rest of the stack takes part: hosts that match the routed echo host,
    an Istio Gateway that serves 443, and an HTTP-01 challenge that the allowlist and istiod let through."""
    tls = entry.gateway.tls
    if tls is None:
        return
    key = f"{entry.key}.tls"
    if tls.hosts is None and not config.echo.enabled and not entry.gateway.routes:
        add(
            f"{key}.hosts",
            _MISSING,
            "is required with echo.enabled: false and no routes (its default is echo.host and every routed "
            "host); allowed: a list of DNS names, e.g. [app.example.com]",
        )
    if tls.hosts is not None and config.echo.enabled and config.echo.host not in tls.hosts:
        add(
            f"{key}.hosts",
            tls.hosts,
            f"does not name echo.host ({config.echo.host}), which the program routes over HTTPS on this "
            "gateway, so clients would get a certificate for other names; allowed: a list that includes "
            f"{config.echo.host}, or unset",
        )
    serves_own_hosts = entry.gateway.routes or entry.gateway.attach_namespaces
    if config.routing == "istio" and not config.echo.enabled and not serves_own_hosts:
        add(
            key,
            tls.model_dump(by_alias=True, exclude_defaults=True),
            "with routing istio the program builds Istio Gateways that serve 443 only for the echo app and "
            "the gateway's routes, so with echo.enabled: false and no routes nothing would serve HTTPS "
            "while the tls output says it does; allowed: echo.enabled: true, routes, routing: gateway-api "
            "(the Gateway's https listener), or remove tls (serve 443 with your own Istio Gateway)",
        )
    if not http01_challenge(settings):
        return
    manager = tls.cert_manager
    assert manager is not None
    if config.allowlist and not admits_everyone(config.allowlist):
        read_as = (
            "the client address the proxy puts in X-Forwarded-For (remoteIpBlocks)"
            if entry.gateway.front_proxy is not None
            else "the client address"
        )
        add(
            f"{key}.certManager.challenge",
            manager.challenge,
            f"the allowlist admits only its own ranges, matched on {read_as}, so the ACME server's "
            "validators and cert-manager's self-check (which call port 80 from their own addresses) get "
            "403 and the certificate never issues; allowed: dns01 (the proof goes through your DNS "
            "provider), or an allowlist that admits everyone (0.0.0.0/0 and ::/0)",
        )
    labels = facts.gateway_selector_labels(entry.gateway.name)
    # A reused Istio too: its meshConfig.ingressSelector is not read here, and its default is the same.
    if config.routing == "istio" and labels["istio"] != facts.ISTIO_INGRESS_SELECTOR_DEFAULT:
        add(
            f"{key}.certManager.challenge",
            manager.challenge,
            "with routing istio cert-manager answers HTTP-01 through an Ingress of class "
            f"{facts.ISTIO_INGRESS_CLASS}, which istiod serves only on the gateway whose pods carry "
            f"istio: {facts.ISTIO_INGRESS_SELECTOR_DEFAULT} (meshConfig.ingressSelector), and gateway "
            f"{entry.gateway.name}'s carry istio: {labels['istio']}, so the challenge would never reach "
            "it; allowed: dns01, the gateway name istio-ingressgateway, or routing: gateway-api",
        )


def admits_everyone(allowlist: list[str]) -> bool:
    """Every IPv4 and every IPv6 client (0.0.0.0/0 and ::/0): such an allowlist refuses no one, so the
    checks that guard a narrow one (the migration steps, HTTP-01) and the change review (tools.compare)
    treat it as no allowlist. One family alone is not everyone: ACME validators, and clients through a
    dual-stack load balancer or a PROXY header, arrive over IPv6 too."""
    return whole_families(allowlist) == {4, 6}


def _outside_pool(ips: str, ranges: list[str]) -> str | None:
    """The first of the comma-separated `ips` that lies in none of the pool's ranges."""
    bounds = [parse_address_range(r) for r in ranges]
    for item in (part.strip() for part in ips.split(",") if part.strip()):
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            return item
        if not any(span.holds(ip) for span in bounds):
            return item
    return None


def declared_namespaces(config: StackConfig) -> dict[str, str]:
    """Namespace -> what creates it: the Namespace objects the program declares as its own (a destroy
    deletes them). Namespaces every cluster has are never declared."""
    declared: dict[str, str] = {}
    if config.istio.install:
        declared[ISTIO_NAMESPACE] = "the Istio install"
    if config.platform_entry.pins_nodes and config.metallb.install:
        declared[config.metallb.namespace] = "the MetalLB install"
    for entry in config.gateway_entries():
        if entry.gateway.namespace != ISTIO_NAMESPACE:  # the Istio install's, or there already
            declared.setdefault(entry.gateway.namespace, f"gateway {entry.gateway.name}")
    if config.cert_manager.install:
        declared.setdefault(facts.CERT_MANAGER_NAMESPACE, "the cert-manager install")
    if config.echo.enabled:
        declared.setdefault(config.echo.namespace, "the echo app")
    return {ns: what for ns, what in sorted(declared.items()) if ns not in facts.ALWAYS_PRESENT_NAMESPACES}


def _upsert_problems(config: StackConfig, raw: dict[str, str], environ: dict[str, str]) -> list[Problem]:
    """With upsert on, declaring a namespace that exists already adopts it, and a destroy deletes it with
    everything in it (MetalLB, an Istio the cluster runs, the apps of a shared namespace)."""
    setting = raw.get(facts.KUBERNETES_UPSERT_CONFIG)
    key, value = facts.KUBERNETES_UPSERT_CONFIG, setting
    if setting is None and facts.KUBERNETES_UPSERT_ENV in environ:
        key = f"environment variable {facts.KUBERNETES_UPSERT_ENV}"
        value = environ[facts.KUBERNETES_UPSERT_ENV]
    if value is None or str(value).strip() not in facts.GO_PARSE_BOOL_TRUE:
        return []
    namespaces = declared_namespaces(config)
    if not namespaces:
        return []
    listed = ", ".join(f"{ns} ({what})" for ns, what in namespaces.items())
    return [
        Problem(
            key,
            value,
            "makes `pulumi up` adopt a namespace that exists already instead of stopping at "
            "AlreadyExists, and `pulumi destroy` would then delete it with everything in it; this stack "
            f"declares {listed}; allowed: unset (false), or use namespaces every cluster has for what the "
            "program places",
        )
    ]
