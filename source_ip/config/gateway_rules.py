"""The rules of one gateway: small named functions over `GatewaySettings`, each yielding what it refuses.

Both paths run exactly these: a stack file (`rules.semantic_problems` maps each field to the key the user
wrote, e.g. `gateways[1].rateLimit.burst`) and a component's args (`GatewaySettings.of` raises before any
child is registered). A rule names another input through `name`, which spells it as the path in question
spells it (`gateways[0].trustedHops` in a stack file, `trusted_hops` in a component's args).

A rule also carries the example the refusals doc shows (`RULE_EXAMPLES`: a stack file that breaks it), so
docs/refusals.md is made from the rules and cannot drift from them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from source_ip.addresses import networks
from source_ip.config.messages import _MISSING
from source_ip.config.settings import GatewaySettings
from source_ip.facts import (
    HTTP_ROUTE_MAX_HOSTNAMES,
    METALLB_IPS_ANNOTATIONS,
    PLATFORMS,
    RATE_LIMIT_MIN_ISTIO,
    Platform,
    SourceIpMode,
    istio_release,
)
from source_ip.front_proxies import PROXY_PROTOCOL_REFUSAL, front_proxy_problems
from source_ip.plan import ProxyProtocolListener, pairing_problem, service_annotation_problems
from source_ip.rate_limit import refill

FieldPath = tuple[str | int, ...]
Namer = Callable[[FieldPath], str]


@dataclass(frozen=True)
class Finding:
    """One refused input: the settings field (a path), its value, and why with what is allowed."""

    field: FieldPath
    value: Any
    message: str


MISSING: Any = _MISSING
"""The value of a finding about an input that is not set (a Problem shows no value for it)."""

Rule = Callable[[GatewaySettings, Namer], Iterator[Finding]]
GATEWAY_RULES: list[Rule] = []
Example = tuple[str, dict[str, Any]]
RULE_EXAMPLES: dict[str, list[Example]] = {}
"""Rule name -> (what the refusals doc calls it, a stack file's config that breaks it), one per refusal."""


COMPONENT_ONLY_RULES: set[str] = set()
"""Rules no stack file can break (what they guard, a stack file always gives right): no example."""


def rule(title: str, example: dict[str, Any] | None, *more: Example) -> Callable[[Rule], Rule]:
    """Register a gateway rule with the examples docs/refusals.md shows for it (`more`: its other
    refusals); `example` None for a rule of the component's args only."""

    def register(function: Rule) -> Rule:
        GATEWAY_RULES.append(function)
        if example is None:
            COMPONENT_ONLY_RULES.add(function.__name__)
        else:
            RULE_EXAMPLES[function.__name__] = [(title, example), *more]
        return function

    return register


def gateway_findings(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """Every finding of every gateway rule, in rule order."""
    for check in GATEWAY_RULES:
        yield from check(settings, name)


def migrating_to_proxy(settings: GatewaySettings) -> bool:
    """Step 1 of the PROXY-protocol migration: passthrough still, the listener accepting both."""
    return (
        settings.listener == ProxyProtocolListener.ACCEPT_BOTH
        and SourceIpMode.PROXY_PROTOCOL in settings.platform_entry.modes
    )


@rule("a mode the load balancer cannot do", {"platform": "gcp", "sourceIp": "proxy-protocol"})
def mode_the_load_balancer_cannot_do(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    platform = settings.platform_entry
    if settings.mode in platform.modes:
        return
    if settings.mode == SourceIpMode.LOCAL and migrating_to_proxy(settings):
        return  # step 1 of the PROXY-protocol migration: the LB does not send the header yet
    why = (
        "cannot send the PROXY header"
        if settings.mode == SourceIpMode.PROXY_PROTOCOL
        else "terminates TCP, so the pod would see the load balancer's address"
    )
    yield Finding(
        ("mode",),
        str(settings.mode),
        f"platform {platform.id} ({platform.lb}) {why}; allowed here: auto, {', '.join(platform.modes)}",
    )


@rule(
    "a listener that does not fit the mode",
    {"platform": "gcp", "sourceIp": "local", "gateway": {"proxyProtocolMigration": True}},
)
def listener_that_does_not_fit(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    problem = pairing_problem(settings.mode, settings.listener)
    if problem:
        yield Finding(
            ("listener",), str(settings.listener), f"with {name(('mode',))} {settings.mode}: {problem}"
        )
    elif (
        settings.listener == ProxyProtocolListener.ACCEPT_BOTH
        and SourceIpMode.PROXY_PROTOCOL not in settings.platform_entry.modes
    ):
        yield Finding(
            ("listener",),
            str(settings.listener),
            f"platform {settings.platform} cannot send the PROXY header, there is nothing to migrate; "
            "allowed: false (no migration: the listener off)",
        )


@rule("a forgeable client address", {"platform": "aws", "gateway": {"numTrustedProxies": 1}})
def forgeable_client_address(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    if settings.num_trusted_proxies >= 1 and settings.trusted_hops == "l4":
        yield Finding(
            ("num_trusted_proxies",),
            settings.num_trusted_proxies,
            "behind an L4 load balancer any value >= 1 lets a client forge its address with its own "
            f"X-Forwarded-For header; allowed: 0, or set {name(('trusted_hops',))}: l7 when that many L7 "
            "proxies/CDNs in front append X-Forwarded-For",
        )


@rule("an autoscaler with min above max", {"platform": "gcp", "gateway": {"replicas": 5, "maxReplicas": 2}})
def autoscaler_below_its_minimum(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    if settings.max_replicas is not None and settings.max_replicas < settings.replicas:
        yield Finding(
            ("max_replicas",),
            settings.max_replicas,
            f"is below {name(('replicas',))} ({settings.replicas}); allowed: >= {settings.replicas}",
        )


@rule(
    "a missing LB annotation the controller needs",
    {"platform": "hetzner"},
    (
        "PROXY switched off under a strict gateway",
        {
            "platform": "vngcloud",
            "gateway": {"serviceAnnotations": {"vks.vngcloud.vn/enable-proxy-protocol": "true"}},
        },
    ),
    (
        "PROXY switched on in passthrough",
        {
            "platform": "aws-nlb",
            "sourceIp": "local",
            "gateway": {
                "serviceAnnotations": {"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"}
            },
        },
    ),
    (
        "the gateway's MetalLB pool redirected",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"]},
            "gateway": {"serviceAnnotations": {"metallb.io/address-pool": "x"}},
        },
    ),
)
def service_annotations_that_break_the_path(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    annotations = settings.service_annotations
    for key, why in service_annotation_problems(
        settings.platform_entry, settings.mode, settings.program_annotations(), annotations
    ):
        yield Finding(("service_annotations", key), annotations.get(key, MISSING), why)


@rule(
    "a front proxy read two ways",
    {
        "platform": "gcp",
        "gateway": {"frontProxy": {"profile": "cloudflare"}, "numTrustedProxies": 2, "trustedHops": "l7"},
    },
    (
        "a front proxy behind PROXY protocol",
        {
            "platform": "aws-nlb",
            "sourceIp": "proxy-protocol",
            "gateway": {"frontProxy": {"profile": "cloudflare"}},
        },
    ),
    (
        "a client-address header Istio cannot honour",
        {
            "platform": "aws-nlb",
            "sourceIp": "local",
            "gateway": {"frontProxy": {"profile": "cloudflare", "header": "CF-Connecting-IP"}},
        },
    ),
    (
        "a CDN that does not append to X-Forwarded-For on every request",
        {"platform": "aws-nlb", "sourceIp": "local", "gateway": {"frontProxy": {"profile": "fastly"}}},
    ),
    (
        "a custom front proxy without its ranges",
        {"platform": "aws-nlb", "sourceIp": "local", "gateway": {"frontProxy": {"profile": "custom"}}},
    ),
)
def front_proxy_read_one_way(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """Behind a CDN/L7 proxy: one way to read the chain (its one X-Forwarded-For hop), a proxy whose
    ranges are known, and the proxy as the direct peer (the guard matches the packet source)."""
    front = settings.front_proxy
    if front is None:
        return
    for sub, value, message in front_proxy_problems(front.profile, front.cidrs, front.header):
        yield Finding(("front_proxy", sub), value, message)
    one_way = "the program trusts exactly the proxy's one X-Forwarded-For hop"
    here = name(("front_proxy",))
    if settings.num_trusted_proxies:
        yield Finding(
            ("num_trusted_proxies",),
            settings.num_trusted_proxies,
            f"is set together with {here}, and {one_way} (numTrustedProxies: 1); allowed: 0 (unset) with "
            "frontProxy",
        )
    if settings.trusted_hops != "l4":
        yield Finding(
            ("trusted_hops",),
            settings.trusted_hops,
            f"is set together with {here}, and {one_way}; allowed: unset with frontProxy",
        )
    if settings.mode != SourceIpMode.LOCAL or settings.listener != ProxyProtocolListener.OFF:
        yield Finding(
            ("front_proxy",),
            front.model_dump(by_alias=True, exclude_defaults=True),
            f"{PROXY_PROTOCOL_REFUSAL}; allowed: {name(('mode',))}: local without proxyProtocolMigration "
            "(the proxy connects to the gateway's address directly), or remove frontProxy",
        )


@rule(
    "a hairpin hostname the platform cannot publish",
    {"platform": "gcp", "gateway": {"hairpinHostname": "gw.example.com"}},
)
def hairpin_hostname_the_platform_cannot_publish(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    hostname = settings.hairpin_hostname
    if hostname is None:
        return
    platform = settings.platform_entry
    if platform.hairpin_annotation is None or platform.hairpin_value != "hostname":
        able = sorted(
            p.id for p in PLATFORMS.values() if p.hairpin_value == "hostname" and p.hairpin_annotation
        )
        yield Finding(
            ("hairpin_hostname",),
            hostname,
            f"platform {platform.id} has no hostname annotation; allowed on: {', '.join(able)}",
        )
    elif settings.mode != SourceIpMode.PROXY_PROTOCOL:
        yield Finding(
            ("hairpin_hostname",),
            hostname,
            f"only matters with PROXY protocol; allowed: unset, or {name(('mode',))}: proxy-protocol",
        )


@rule(
    "a certificate from two sources",
    {
        "platform": "gcp",
        "gateway": {"tls": {"secretName": "echo-tls", "certManager": {"issuer": "letsencrypt"}}},
    },
)
def certificate_from_one_source(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    https = settings.https
    if https is None:
        return
    if https.secret_name and https.cert_manager:
        yield Finding(
            ("https", "secret_name"),
            https.secret_name,
            f"is set together with {name(('https', 'cert_manager'))}: the certificate comes from one of "
            "them; allowed: secretName (a Secret you manage) or certManager (cert-manager issues it), not "
            "both",
        )
    elif not https.secret_name and not https.cert_manager:
        yield Finding(
            ("https",),
            https.model_dump(by_alias=True, exclude_defaults=True, exclude={"hosts"}),
            "says where the certificate comes from nowhere; allowed: secretName (an existing "
            f"kubernetes.io/tls Secret in namespace {settings.namespace}) or certManager: {{issuer: <name>}}",
        )


@rule(
    "an HTTPS redirect left to its default behind a CDN",
    {
        "platform": "gcp",
        "gateway": {"frontProxy": {"profile": "cloudflare"}, "tls": {"secretName": "echo-tls"}},
    },
)
def redirect_decided_behind_a_front_proxy(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    https = settings.https
    if https is None or settings.front_proxy is None or "redirect_http" in https.model_fields_set:
        return
    yield Finding(
        ("https", "redirect_http"),
        MISSING,
        f"must be set with {name(('front_proxy',))}: a CDN that reaches the origin over plain HTTP "
        "(Cloudflare SSL mode Flexible, a CloudFront origin protocol policy HTTP only) gets the 301 on "
        "every request and loops forever; allowed: true once the CDN reaches the origin over HTTPS "
        "only (Cloudflare SSL/TLS Full (strict), CloudFront origin protocol policy HTTPS only), "
        "or false (the CDN redirects its own visitors)",
    )


def hairpin_fix(platform: Platform, hairpin_hostname: str | None) -> str | None:
    """How in-cluster callers of a PROXY-protocol gateway's public address reach it through the LB (with
    the header) on this platform, or None: kube-proxy then short-circuits them to the pods, headerless."""
    if platform.ip_mode_proxy == "auto":
        return "the controller sets ipMode: Proxy"
    if platform.ip_mode_proxy == "annotation" and platform.ip_mode_annotation:
        return f"the program sets {platform.ip_mode_annotation[0]}: {platform.ip_mode_annotation[1]}"
    if platform.status_hostname_only:
        return "the status carries a hostname only"
    if platform.hairpin_annotation and platform.hairpin_value == "true":
        return f"the program sets {platform.hairpin_annotation}: true"
    if platform.hairpin_annotation and hairpin_hostname:
        return f"hairpinHostname publishes {hairpin_hostname} instead of the address"
    return None


def http01_challenge(settings: GatewaySettings) -> bool:
    """The certificate is issued through an ACME HTTP-01 challenge on this gateway's port 80."""
    https = settings.https
    return (
        https is not None
        and https.cert_manager is not None
        and not https.secret_name
        and https.cert_manager.challenge == "http01"
    )


@rule(
    "an HTTP-01 challenge that cannot reach a strict PROXY gateway",
    {"platform": "vngcloud", "gateway": {"tls": {"certManager": {"issuer": "letsencrypt"}}}},
)
def http01_through_a_strict_proxy_gateway(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    if not http01_challenge(settings):
        return
    platform = settings.platform_entry
    strict = (
        settings.mode == SourceIpMode.PROXY_PROTOCOL and settings.listener == ProxyProtocolListener.STRICT
    )
    if not strict or hairpin_fix(platform, settings.hairpin_hostname) is not None:
        return
    if platform.hairpin_annotation and platform.hairpin_value == "hostname":
        way = (
            f"dns01, or {name(('hairpin_hostname',))}: a DNS name of the load balancer's address "
            f"({platform.id} then publishes it instead of the IP)"
        )
    else:
        way = (
            f"dns01 ({platform.id} has neither ipMode Proxy nor a hostname annotation, so "
            "hairpinHostname is no way out here)"
        )
    yield Finding(
        ("https", "cert_manager", "challenge"),
        "http01",
        "cert-manager's HTTP-01 self-check calls the hosts from inside the cluster, and on "
        f"{platform.id} kube-proxy sends a call of the load balancer's address straight to the gateway pods, "
        f"without the PROXY header gateway {settings.name} requires, so the call is dropped and "
        f"the certificate never issues (cert-manager#466); allowed: {way}",
    )


def route_prefix(path_prefix: str) -> str:
    """A path prefix as both modes match it (by whole segments): a trailing `/` adds nothing."""
    return path_prefix.rstrip("/") or "/"


@rule(
    "one host and path routed twice",
    {
        "platform": "gcp",
        "gateway": {
            "routes": [
                {"hosts": ["shop.example.com"], "service": "shop", "namespace": "shop", "port": 80},
                {
                    "hosts": ["shop.example.com"],
                    "pathPrefix": "/",
                    "service": "old",
                    "namespace": "shop",
                    "port": 80,
                },
            ]
        },
    },
)
def route_routed_twice(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    for index, route in enumerate(settings.routes):
        if len(route.hosts) > HTTP_ROUTE_MAX_HOSTNAMES:
            yield Finding(
                ("routes", index, "hosts"),
                route.hosts,
                f"names {len(route.hosts)} hosts, and a route becomes one HTTPRoute in gateway-api mode, "
                f"which holds at most {HTTP_ROUTE_MAX_HOSTNAMES} (the Gateway API CRD): the API server would "
                f"refuse it; allowed: at most {HTTP_ROUTE_MAX_HOSTNAMES} hosts a route (split the list into "
                "routes)",
            )
    seen: dict[tuple[str, str], int] = {}
    for index, route in enumerate(settings.routes):
        prefix = route_prefix(route.path_prefix)
        for host in route.hosts:
            first = seen.setdefault((host, prefix), index)
            if first != index:
                yield Finding(
                    ("routes", index, "hosts"),
                    list(route.hosts),
                    f"routes {host}{'' if prefix == '/' else prefix} again, which {name(('routes', first))} "
                    f"routes already, so the requests to {host}{'' if prefix == '/' else prefix} would reach "
                    "only one of the two Services; allowed: one route per host and path prefix",
                )
                break


@rule(
    "a routed host the certificate leaves out",
    {
        "platform": "gcp",
        "gateway": {
            "tls": {"hosts": ["echo.example.com"], "secretName": "edge-tls"},
            "routes": [{"hosts": ["shop.example.com"], "service": "shop", "namespace": "shop", "port": 80}],
        },
    },
)
def routed_host_without_certificate(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    https = settings.https
    if https is None:
        return
    missing = [host for route in settings.routes for host in route.hosts if host not in https.hosts]
    if missing:
        yield Finding(
            ("https", "hosts"),
            list(https.hosts),
            f"leaves out {', '.join(dict.fromkeys(missing))}, which {name(('routes',))} serves over HTTPS on "
            "this gateway, so its clients would get a certificate for other names; allowed: a list that "
            "includes every routed host (unset in a stack file: every routed host and echo.host)",
        )


@rule(
    "a rate limit during a PROXY-protocol migration",
    {
        "platform": "aws-nlb",
        "sourceIp": "local",
        "gateway": {"proxyProtocolMigration": True, "rateLimit": {"requestsPerMinute": 600}},
    },
)
def rate_limit_while_migrating(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """While the listener accepts both, the bucket's key is the address in a PROXY header: one the client
    wrote itself (passthrough), or, once the LB sends it, every client's until the header is parsed
    strictly; either way the limit is not per client."""
    if settings.rate_limit is None or settings.listener != ProxyProtocolListener.ACCEPT_BOTH:
        return
    yield Finding(
        ("rate_limit",),
        settings.rate_limit.model_dump(by_alias=True, exclude_defaults=True),
        "is keyed on the client address, which during the PROXY-protocol migration comes from a PROXY "
        "header a passthrough client can write itself (one bucket per forged address), or is the load "
        f"balancer's for every client (one bucket for all); allowed: no rate limit until "
        f"{name(('listener',))} is off again (the migration's last step), then add it",
    )


@rule(
    "an IP family the load balancer loses",
    {"platform": "aws-nlb", "sourceIp": "local", "gateway": {"ipFamilies": ["IPv4", "IPv6"]}},
)
def ip_family_the_load_balancer_loses(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """A gateway asking for IPv6 on an LB that cannot take IPv6 clients, or in a mode where the LB hands
    the gateway another address than an IPv6 client's (Platform.ipv6; unknown facts refuse nothing)."""
    families = settings.ip_families
    if not settings.serves_ipv6 or families is None:
        return
    platform = settings.platform_entry
    ipv6 = platform.ipv6
    if ipv6.frontend == "ipv4-only":
        yield Finding(
            ("ip_families",),
            list(families),
            f"platform {platform.id} ({platform.lb}) takes no IPv6 clients ({ipv6.source}); allowed: "
            f"{name(('ip_families',))}: [IPv4], or unset",
        )
        return
    if ipv6.path(settings.mode) != "loses":
        return
    keeping = [str(mode) for mode in platform.modes if ipv6.path(mode) == "keeps"]
    keeps = (
        f"{name(('mode',))}: {' or '.join(keeping)} (which keeps it)"
        if keeping
        else f"no mode of {platform.id} is known to keep it"
    )
    yield Finding(
        ("ip_families",),
        list(families),
        f"with {name(('mode',))} {settings.mode} platform {platform.id} ({platform.lb}) hands the gateway "
        f"another address than the client's: {ipv6.note or ipv6.source}; allowed: {keeps}, or "
        f"{name(('ip_families',))}: [IPv4]",
    )


@rule(
    "fixed MetalLB addresses of other families than the gateway's",
    {
        "platform": "metallb",
        "metallb": {"nodes": ["w1"]},
        "gateway": {
            "ipFamilies": ["IPv4", "IPv6"],
            "serviceAnnotations": {"metallb.io/loadBalancerIPs": "192.168.10.240"},
        },
    },
)
def fixed_addresses_of_other_families(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """MetalLB assigns fixed addresses only when their families are the Service's (metallb v0.16.1
    controller/service.go: "requested loadBalancer IP(s) ... does not match the ipFamily of the service")."""
    families = settings.ip_families
    if not families or not settings.platform_entry.pins_nodes:
        return
    wanted = {6 if family == "IPv6" else 4 for family in families}
    for key in METALLB_IPS_ANNOTATIONS:
        value = settings.service_annotations.get(key)
        if value is None:
            continue
        try:
            held = {ipaddress.ip_address(item.strip()).version for item in value.split(",") if item.strip()}
        except ValueError:
            continue  # not addresses: MetalLB's own error, not a family question
        if held != wanted:
            yield Finding(
                ("service_annotations", key),
                value,
                f"names addresses of {_families(held)} while {name(('ip_families',))} is "
                f"[{', '.join(families)}]: MetalLB assigns none of them; allowed: one address of each family "
                f"of {name(('ip_families',))}, e.g. 192.168.10.240,fd00:10::240 for [IPv4, IPv6]",
            )


def _families(versions: AbstractSet[int]) -> str:
    return " and ".join(f"IPv{v}" for v in sorted(versions)) or "no family"


@rule(
    "a per-client rate limit on an Istio too old for it",
    {
        "platform": "gcp",
        "istio": {"install": False, "version": "1.25.4"},
        "gateway": {"rateLimit": {"requestsPerMinute": 60}},
    },
)
def rate_limit_on_an_old_istio(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """A reused istiod older than RATE_LIMIT_MIN_ISTIO drops or refuses the filter's dynamic descriptors."""
    release = istio_release(settings.istio_version) if isinstance(settings.istio_version, str) else None
    if settings.rate_limit is None or release is None or release[:2] >= RATE_LIMIT_MIN_ISTIO:
        return
    minimum = ".".join(map(str, RATE_LIMIT_MIN_ISTIO))
    yield Finding(
        ("rate_limit",),
        settings.rate_limit.model_dump(by_alias=True, exclude_defaults=True),
        f"needs Istio {minimum} or newer: on Istio {settings.istio_version} the filter's per-client buckets "
        "are dropped (one bucket of 20 for everyone) or its listener is refused; allowed: "
        f"{name(('istio_version',))} {minimum}.0 or newer, or no rate limit",
    )


@rule(
    "a rate-limit bucket smaller than one refill",
    {"platform": "gcp", "gateway": {"rateLimit": {"requestsPerMinute": 60000, "burst": 10}}},
)
def rate_limit_bucket_smaller_than_a_refill(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """Envoy adds `tokens_per_fill` tokens at each refill (at most every 50 ms) into a bucket of `burst`:
    a smaller bucket drops the rest, and the client gets 429s below the rate the stack declares."""
    limit = settings.rate_limit
    if limit is None or limit.burst is None:
        return
    tokens, _ = refill(limit.requests_per_minute)
    if limit.burst < tokens:
        yield Finding(
            ("rate_limit", "burst"),
            limit.burst,
            f"is below the {tokens} tokens each refill adds at {limit.requests_per_minute} requests a minute "
            "(Envoy refills at most every 50 ms), so the bucket would drop them and clients would get 429s "
            f"below that rate; allowed: at least {tokens}, or unset (ten seconds of the rate)",
        )


@rule(
    "a custom front proxy of no family the gateway serves",
    {
        "platform": "metallb",
        "metallb": {"nodes": ["w1"]},
        "gateway": {
            "ipFamilies": ["IPv6"],
            "frontProxy": {"profile": "custom", "cidrs": ["198.51.100.0/24"]},
        },
    },
)
def front_proxy_of_no_served_family(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """The guard serves only the custom proxy's ranges as direct peers: none of a family the Service
    takes, and the proxy cannot reach the gateway at all."""
    front, families = settings.front_proxy, settings.ip_families
    if front is None or front.profile != "custom" or not families or not front.cidrs:
        return
    served = {6 if family == "IPv6" else 4 for family in families}
    if not any(network.version in served for network in networks(front.cidrs)):
        yield Finding(
            ("front_proxy", "cidrs"),
            list(front.cidrs),
            f"holds no {' or '.join(families)} range, and {name(('ip_families',))} [{', '.join(families)}] "
            "lets the proxy reach the gateway only so: the guard would refuse it and every request; "
            "allowed: the proxy's egress ranges of the families the gateway serves",
        )


@rule("a namespace only known at deploy time, with objects named after it", None)
def namespace_output_with_routes(settings: GatewaySettings, name: Namer) -> Iterator[Finding]:
    """The routes' hosts (`<namespace>/<host>`), the listeners' admitted namespaces and the redirect's
    namespace are written from the gateway's namespace before deploy: it must be a plain string then (a
    stack file's always is)."""
    if isinstance(settings.namespace, str):
        return
    uses = [key for key in ("routes", "attach_namespaces", "https") if getattr(settings, key)]
    if uses:
        yield Finding(
            ("namespace",),
            "an Output",
            f"is a Pulumi Output, and {', '.join(name((key,)) for key in uses)} need the gateway's namespace "
            "as plain text when the objects are written (route hosts are <namespace>/<host>, listeners admit "
            "namespaces by name); allowed: the namespace as a string",
        )
