"""From ingress-nginx objects to the keys of a stack file, with every setting that cannot be carried over
named (the findings). Platform facts come from the program's own table (source_ip.facts.PLATFORMS), front
proxies from source_ip.front_proxies, route checks from the config models; nginx facts from .facts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from source_ip.config.models import RouteConfig
from source_ip.facts import (
    ALL_PROXY_SWITCHES,
    FIXED_ADDRESS_ANNOTATIONS,
    GO_PARSE_BOOL_FALSE,
    GO_PARSE_BOOL_TRUE,
    ISTIO_VERSION,
    METALLB_IPS_ANNOTATIONS,
    METALLB_POOL_ANNOTATIONS,
    PLATFORMS,
    Platform,
    SourceIpMode,
    proxy_switch_for,
)
from source_ip.front_proxies import PROFILES, EmptyProfileError, trusted_ranges
from tools.import_nginx import facts
from tools.import_nginx.reader import InputError, Objects

Kind = Literal["not carried", "trap", "note"]
NGINX_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
"""The labels the ingress-nginx chart and static manifests put on the controller's Service and ConfigMap
(deploy/static/provider/*/deploy.yaml at the tag read)."""
BOOKKEEPING_PREFIXES = ("kubectl.kubernetes.io/", "meta.helm.sh/", "field.cattle.io/")
"""Annotations written by tools, not by you: never carried to the gateway's Service."""
PLATFORM_HINTS: dict[str, tuple[str, str]] = {
    "cloud.google.com/": ("gcp", "GKE docs, container-native load balancing (cloud.google.com/neg) (docs)"),
    "networking.gke.io/": ("gcp", "GKE docs, LoadBalancer Service parameters (docs)"),
    "service.beta.kubernetes.io/azure-": (
        "azure",
        "kubernetes-sigs/cloud-provider-azure pkg/consts/consts.go",
    ),
}
"""Annotation prefixes of platforms whose table entry sets no annotation of its own (passthrough clouds)."""
AUTO_ANNOTATIONS = (
    "cloud.google.com/neg",
    "cloud.google.com/neg-status",
    "metallb.io/ip-allocated-from-pool",
    "metallb.universe.tf/ip-allocated-from-pool",
)
"""Annotations a controller writes onto Services by itself, not carried: GKE's NEG annotations (GKE docs,
container-native load balancing) and the pool MetalLB assigned from (seen in stored `kubectl describe`
output; MetalLB writes it)."""
_REGEX_CHARS = re.compile(r"[\^$*+?()\[\]{}|\\]")


@dataclass(frozen=True)
class Finding:
    kind: Kind
    text: str


@dataclass
class Options:
    platform: str | None = None
    ingress_classes: tuple[str, ...] = ()
    """IngressClass names served (default: IngressClasses of controller k8s.io/ingress-nginx, or nginx)."""
    service: str | None = None
    """NAMESPACE/NAME of the controller Service, when the input holds several."""
    metallb_nodes: tuple[str, ...] = ()
    echo_host: str | None = None
    challenge: Literal["http01", "dns01"] = "http01"


@dataclass
class Imported:
    config: dict[str, Any]
    """Stack keys (without the namespace) -> value, in the order written."""
    findings: list[Finding] = field(default_factory=list)
    platform: str = ""
    mode: str = ""
    controller: str = ""
    """NAMESPACE/NAME of the controller Service read, or empty."""
    ingresses: list[str] = field(default_factory=list)
    """NAMESPACE/NAME of the nginx Ingresses imported."""
    hosts: list[str] = field(default_factory=list)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(obj: dict[str, Any]) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _labels_match(obj: dict[str, Any]) -> bool:
    labels = _meta(obj).get("labels") or {}
    return all(labels.get(k) == v for k, v in NGINX_LABELS.items())


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    found = _meta(obj).get("annotations") or {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _go_bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    value = value.strip()
    if value in GO_PARSE_BOOL_TRUE:
        return True
    if value in GO_PARSE_BOOL_FALSE:
        return False
    return default


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# --- the controller ------------------------------------------------------------------------------------


def controller_service(objects: Objects, wanted: str | None) -> dict[str, Any] | None:
    if wanted is not None:
        for svc in objects.services:
            if _name(svc) == wanted:
                return svc
        raise InputError(
            f"--service {wanted}: no Service of that NAMESPACE/NAME in the input; allowed: "
            + (", ".join(sorted(_name(s) for s in objects.services)) or "none (the input holds no Service)")
        )
    candidates = [
        s
        for s in objects.services
        if (_labels_match(s) or _meta(s).get("name", "").endswith("ingress-nginx-controller"))
        and not str(_meta(s).get("name", "")).endswith("-admission")
        and (s.get("spec") or {}).get("type") in ("LoadBalancer", "NodePort")
    ]
    balanced = [s for s in candidates if (s.get("spec") or {}).get("type") == "LoadBalancer"]
    chosen = balanced or candidates
    if len(chosen) > 1:
        raise InputError(
            "the input holds several ingress-nginx controller Services ("
            + ", ".join(sorted(_name(s) for s in chosen))
            + "); name the one to import with --service NAMESPACE/NAME"
        )
    return chosen[0] if chosen else None


def controller_config(objects: Objects, namespace: str | None) -> dict[str, Any] | None:
    maps = [
        c
        for c in objects.config_maps
        if (_labels_match(c) or _meta(c).get("name") == "ingress-nginx-controller")
        and (namespace is None or _meta(c).get("namespace") == namespace)
    ]
    if len(maps) == 1:
        return maps[0]
    return next((c for c in maps if _meta(c).get("name") == "ingress-nginx-controller"), None)


def platform_keys(platform: Platform) -> set[str]:
    """Every Service annotation the platform's table entry knows."""
    keys = {
        *platform.proxy_protocol_annotations,
        *platform.local_annotations,
        *platform.required_one_of,
        *platform.refused_annotations,
        *(s.key for s in platform.proxy_switches if not s.per_port),
    }
    if platform.hairpin_annotation:
        keys.add(platform.hairpin_annotation)
    if platform.ip_mode_annotation:
        keys.add(platform.ip_mode_annotation[0])
    if platform.pins_nodes:
        keys.update(METALLB_POOL_ANNOTATIONS, METALLB_IPS_ANNOTATIONS)
    return keys


def _stem(key: str) -> str:
    domain, _, name = key.partition("/")
    if domain in ("service.beta.kubernetes.io", "service.kubernetes.io") and "-" in name:
        return f"{domain}/{name.split('-', 1)[0]}-"
    return f"{domain}/"


def platform_candidates(annotations: dict[str, str]) -> list[str]:
    """The platforms whose known annotations the Service carries most of; else those whose annotation
    family (domain, or service.beta.kubernetes.io/<cloud>-) it carries most of."""

    def best(scores: dict[str, int]) -> list[str]:
        top = max(scores.values(), default=0)
        return sorted(p for p, n in scores.items() if n == top and n > 0)

    exact = {
        p.id: sum(1 for k in annotations if k in platform_keys(p) or _per_port(p, k))
        for p in PLATFORMS.values()
        if p.id != "generic"
    }
    if best(exact):
        return best(exact)
    stems: dict[str, int] = {}
    for p in PLATFORMS.values():
        if p.id == "generic":
            continue
        mine = {_stem(k) for k in platform_keys(p)}
        stems[p.id] = sum(1 for k in annotations if any(k.startswith(s) for s in mine))
    for prefix, (pid, _) in PLATFORM_HINTS.items():
        stems[pid] = stems.get(pid, 0) + sum(1 for k in annotations if k.startswith(prefix))
    return best(stems)


def _per_port(platform: Platform, key: str) -> bool:
    return any(s.per_port and s.annotation_port(key) is not None for s in platform.proxy_switches)


def lb_sends_proxy(platform: Platform, annotations: dict[str, str]) -> bool:
    """The controller Service's annotations turn the LB's PROXY header on (read as the platform's controller
    reads them: source_ip.facts ProxySwitch.reads)."""
    for switch in platform.main_switches:
        if switch.key in annotations and switch.reads(annotations[switch.key]) == "on":
            return True
    return False


# --- the importer --------------------------------------------------------------------------------------


class _Importer:
    def __init__(self, objects: Objects, options: Options):
        self.objects = objects
        self.options = options
        self.findings: list[Finding] = []

    def add(self, kind: Kind, text: str) -> None:
        self.findings.append(Finding(kind, text))

    def run(self) -> Imported:
        service = controller_service(self.objects, self.options.service)
        namespace = _meta(service).get("namespace") if service else None
        configmap = controller_config(self.objects, namespace)
        ingresses = self._nginx_ingresses()
        if service is None and configmap is None and not ingresses:
            raise InputError(
                "the input holds no ingress-nginx object: no controller Service or ConfigMap (labels "
                "app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/component: controller) and "
                "no Ingress "
                "of an nginx class; allowed: the output of kubectl get configmap,service -n ingress-nginx -o "
                "yaml and kubectl get ingress -A -o yaml"
            )
        data = {str(k): str(v) for k, v in ((configmap or {}).get("data") or {}).items()}
        if configmap is None:
            self.add(
                "note",
                "no ingress-nginx ConfigMap in the input: its defaults were assumed (use-proxy-protocol "
                "false, use-forwarded-headers false); add kubectl get configmap -n ingress-nginx -o yaml",
            )
        annotations = _annotations(service) if service else {}
        platform = self._platform(service, annotations)
        mode = self._mode(platform, service, annotations, data)
        config: dict[str, Any] = {"platform": platform.id, "sourceIp": str(mode)}
        config["istio"] = {"version": ISTIO_VERSION}
        gateway: dict[str, Any] = {}
        carried = self._service_annotations(platform, annotations, mode)
        if carried:
            gateway["serviceAnnotations"] = carried
        hairpin = platform.hairpin_annotation
        if hairpin and platform.hairpin_value == "hostname" and annotations.get(hairpin):
            gateway["hairpinHostname"] = annotations[hairpin]
            self.add(
                "note",
                f"{hairpin}: {annotations[hairpin]} becomes gateway.hairpinHostname; point that name "
                "at the new "
                "load balancer's address when DNS moves",
            )
        self._service_spec(service)
        routes, used, hosts = self._routes(ingresses)
        if routes:
            gateway["routes"] = routes
        front = self._front_proxy(data, mode)
        if front:
            gateway["frontProxy"] = front
        rate = self._rate_limit(used, data)
        if rate:
            gateway["rateLimit"] = rate
        tls = self._tls(used, data, bool(front))
        if tls:
            gateway["tls"] = tls
        config["gateway"] = gateway
        allowlist = self._allowlist(used, data, service, mode)
        if allowlist:
            config["allowlist"] = allowlist
        config["echo"] = {"host": self._echo_host(hosts)}
        if platform.pins_nodes:
            config["metallb"] = self._metallb(annotations)
        self._config_keys(data)
        return Imported(
            config=config,
            findings=self.findings,
            platform=platform.id,
            mode=str(mode),
            controller=_name(service) if service else "",
            ingresses=[_name(i) for i in used],
            hosts=hosts,
        )

    # -- platform and mode --

    def _platform(self, service: dict[str, Any] | None, annotations: dict[str, str]) -> Platform:
        chosen = self.options.platform
        if chosen is not None:
            if chosen not in PLATFORMS:
                raise InputError(
                    f"--platform {chosen}: unknown platform; allowed: {', '.join(sorted(PLATFORMS))}"
                )
            found = platform_candidates(annotations)
            if found and chosen not in found:
                self.add(
                    "note",
                    f"--platform {chosen} overrides what the controller Service's annotations suggest "
                    f"({', '.join(found)})",
                )
            return PLATFORMS[chosen]
        if service is None:
            raise InputError(
                "the input holds no ingress-nginx controller Service to read the platform from; add "
                "kubectl get service -n ingress-nginx -o yaml, or name it with --platform (one of "
                f"{', '.join(sorted(PLATFORMS))})"
            )
        found = platform_candidates(annotations)
        if len(found) == 1:
            return PLATFORMS[found[0]]
        if found:
            raise InputError(
                f"the controller Service {_name(service)} carries annotations of several platforms "
                f"({', '.join(found)}); name yours with --platform (one of {', '.join(found)})"
            )
        etp = (service.get("spec") or {}).get("externalTrafficPolicy", "Cluster")
        passthrough = sorted(
            p.id for p in PLATFORMS.values() if SourceIpMode.LOCAL in p.modes and not p.required_one_of
        )
        raise InputError(
            f"the controller Service {_name(service)} carries no annotation of a known platform "
            "(externalTrafficPolicy "
            f"{etp}); name yours with --platform (passthrough platforms: {', '.join(passthrough)}; all: "
            f"{', '.join(sorted(PLATFORMS))})"
        )

    def _mode(
        self,
        platform: Platform,
        service: dict[str, Any] | None,
        annotations: dict[str, str],
        data: dict[str, str],
    ) -> SourceIpMode:
        use_pp = _go_bool(data.get("use-proxy-protocol"), False)
        sends = lb_sends_proxy(platform, annotations)
        spec = (service or {}).get("spec") or {}
        etp = spec.get("externalTrafficPolicy", "Cluster")
        if sends and not use_pp:
            self.add(
                "trap",
                "the load balancer sends a PROXY header (the Service's annotations) but the "
                "ConfigMap does not "
                "set use-proxy-protocol: nginx would read the header as a bad request; the imported gateway "
                "expects the header (sourceIp: proxy-protocol)",
            )
        if use_pp and not sends and platform.main_switches:
            self.add(
                "trap",
                "use-proxy-protocol is true but no PROXY annotation of platform "
                f"{platform.id} is on the Service: either the header is switched on outside Kubernetes, or "
                "nginx refuses every connection; the imported gateway switches the header on itself",
            )
        wanted = SourceIpMode.PROXY_PROTOCOL if (use_pp or sends) else SourceIpMode.LOCAL
        if wanted not in platform.modes:
            self.add(
                "note",
                f"nginx used {'PROXY protocol' if wanted == SourceIpMode.PROXY_PROTOCOL else 'passthrough'}, "
                f"which platform {platform.id} does not offer here; the stack uses its "
                f"{platform.default_mode}",
            )
            wanted = platform.default_mode
        if not use_pp and not sends and platform.lb_mode == "proxy" and service is not None:
            self.add(
                "trap",
                f"the {platform.lb} terminates TCP and sent nginx no PROXY header: nginx saw the load "
                "balancer's address as every client's, so its allowlists and rate limits never saw a client. "
                "The gateway reads the PROXY header: an allowlist written for the load balancer's addresses "
                "now refuses your clients",
            )
        elif not use_pp and not sends and etp != "Local" and service is not None:
            self.add(
                "trap",
                f"the controller Service has externalTrafficPolicy {etp} and no PROXY protocol: kube-proxy "
                "replaced the client address with a node's, so nginx's allowlists, rate limits and logs saw "
                "node addresses, not clients. The gateway keeps the client address: an allowlist written for "
                "node or load-balancer ranges now refuses your clients",
            )
        if data.get("real-ip-header") is not None:
            self.add(
                "trap",
                f"the ConfigMap sets real-ip-header ({data['real-ip-header']!r}), which ingress-nginx "
                "does not "
                "read (no such key in config.go): its template picks real_ip_header itself, proxy_protocol "
                "whenever use-proxy-protocol is on without use-forwarded-headers "
                f"({facts.NGINX_TAG} rootfs/etc/nginx/template/nginx.tmpl); not carried",
            )
        if (
            use_pp
            and not _go_bool(data.get("use-forwarded-headers"), False)
            and data.get("forwarded-for-header")
        ):
            self.add(
                "trap",
                f"forwarded-for-header {data['forwarded-for-header']!r} was ignored: with use-proxy-protocol "
                "alone nginx forces real_ip_header proxy_protocol "
                f"({facts.NGINX_TAG} {facts.REAL_IP_TEMPLATE.source}); the gateway reads the PROXY "
                "header too",
            )
        if spec.get("type") == "NodePort":
            self.add(
                "note",
                "the controller Service is a NodePort (no load balancer): the gateway's Service is a "
                "LoadBalancer of the platform, a new address",
            )
        return wanted

    def _service_annotations(
        self, platform: Platform, annotations: dict[str, str], mode: SourceIpMode
    ) -> dict[str, str]:
        own = {
            *platform.proxy_protocol_annotations,
            *platform.local_annotations,
            *(k for k in [platform.hairpin_annotation] if k),
            *platform.ip_mode_annotations(SourceIpMode.PROXY_PROTOCOL),
        }
        fixed = {a.key for a in FIXED_ADDRESS_ANNOTATIONS}
        carried: dict[str, str] = {}
        skipped: list[str] = []
        for key, value in sorted(annotations.items()):
            if key.startswith(BOOKKEEPING_PREFIXES) or key in AUTO_ANNOTATIONS:
                continue
            if key in fixed:
                self.add(
                    "note",
                    f"the controller Service's {key}: {value} is not carried: that address stays with nginx "
                    "while both run side by side; move it to the gateway (gateway.serviceAnnotations) only "
                    "after nginx is removed, which tools.render --compare reports as a new address",
                )
            elif key in METALLB_POOL_ANNOTATIONS:
                continue  # metallb.pool
            elif key in platform.refused_annotations:
                self.add(
                    "not carried",
                    f"the controller Service's {key}: {value}: the program refuses it on platform "
                    f"{platform.id} "
                    f"({platform.refused_annotations[key]})",
                )
            elif key in own or key in ALL_PROXY_SWITCHES or proxy_switch_for(key) is not None:
                ours = platform.annotations_for(mode).get(key)
                skipped.append(
                    f"{key} ({value!r}; the program: {ours!r})" if ours not in (None, value) else key
                )
            else:
                carried[key] = value
        if skipped:
            self.add(
                "note",
                f"set by the program for platform {platform.id} ({platform.lb}) instead of copied from the "
                "controller Service: " + ", ".join(skipped),
            )
        return carried

    def _service_spec(self, service: dict[str, Any] | None) -> None:
        spec = (service or {}).get("spec") or {}
        if spec.get("loadBalancerSourceRanges"):
            self.add(
                "not carried",
                "the controller Service's spec.loadBalancerSourceRanges ("
                + ", ".join(map(str, spec["loadBalancerSourceRanges"]))
                + "): the cloud's firewall in front of nginx; the gateway's Service has none. Put the ranges "
                "in allowlist (matched on the client address in the gateway) or your cloud's firewall",
            )
        if spec.get("loadBalancerIP"):
            self.add(
                "note",
                f"the controller Service's spec.loadBalancerIP {spec['loadBalancerIP']} stays with "
                "nginx; the "
                "gateway gets a new address",
            )

    # -- Ingresses and routes --

    def _controller_args(self) -> dict[str, str]:
        """The flags of the controller container (/nginx-ingress-controller), when the input holds its
        Deployment or DaemonSet (flags: pkg/flags/flags.go at the tag read)."""
        for workload in self.objects.workloads:
            pod = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in pod.get("containers") or []:
                args = [str(a) for a in container.get("args") or []]
                if args and args[0].endswith("/nginx-ingress-controller"):
                    return dict(
                        a.removeprefix("--").partition("=")[::2] for a in args[1:] if a.startswith("--")
                    )
        return {}

    def _served_classes(self, args: dict[str, str]) -> set[str]:
        if self.options.ingress_classes:
            return set(self.options.ingress_classes)
        controller = args.get("controller-class", facts.CONTROLLER_NAME.value)
        classes = {
            str(_meta(c).get("name"))
            for c in self.objects.ingress_classes
            if (c.get("spec") or {}).get("controller") == controller
        }
        return classes or {args.get("ingress-class", facts.CLASS_ANNOTATION_VALUE.value)}

    def _nginx_ingresses(self) -> list[dict[str, Any]]:
        args = self._controller_args()
        classes = self._served_classes(args)
        annotation_class = (
            self.options.ingress_classes[0]
            if self.options.ingress_classes
            else args.get("ingress-class", facts.CLASS_ANNOTATION_VALUE.value)
        )
        without_class = _go_bool(args.get("watch-ingress-without-class"), False)
        ours: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        classless: list[dict[str, Any]] = []
        for ing in self.objects.ingresses:
            spec = ing.get("spec") or {}
            name = spec.get("ingressClassName")
            if name is not None:
                (ours if name in classes else others).append(ing)
                continue
            legacy = _annotations(ing).get(str(facts.CLASS_ANNOTATION.value))
            if legacy is None:
                (ours if without_class else classless).append(ing)
            else:
                (ours if legacy == annotation_class else others).append(ing)
        if others:
            self.add(
                "note",
                "Ingresses of another class, not served by ingress-nginx, left alone: "
                + ", ".join(sorted(_name(i) for i in others)),
            )
        if classless:
            self.add(
                "note",
                "Ingresses without a class, which ingress-nginx serves only with "
                "--watch-ingress-without-class "
                f"({facts.NGINX_TAG} {facts.CLASS_RULE.source}), not imported: "
                + ", ".join(sorted(_name(i) for i in classless)),
            )
        return sorted(ours, key=_name)

    def _prefixed(self, ing: dict[str, Any]) -> dict[str, str]:
        prefix = str(facts.ANNOTATION_PREFIX.value)
        return {k[len(prefix) :]: v for k, v in _annotations(ing).items() if k.startswith(prefix)}

    def _routes(
        self, ingresses: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        grouped: dict[tuple[str, str, int, str], list[str]] = {}
        seen: dict[tuple[str, str], tuple[str, str]] = {}
        used: list[dict[str, Any]] = []
        hosts: list[str] = []
        read_here = {
            *facts.ALLOWLIST_ANNOTATIONS.value,
            *facts.RATE_LIMIT_ANNOTATIONS.value,
            "ssl-redirect",
            "force-ssl-redirect",
            "use-regex",
            "backend-protocol",
        }
        for ing in ingresses:
            name = _name(ing)
            namespace = str(_meta(ing).get("namespace") or "default")
            ann = self._prefixed(ing)
            spec = ing.get("spec") or {}
            for key in sorted(ann):
                if key in read_here:
                    continue
                why = facts.NOT_CARRIED.get(key) or next(
                    (w for k, w in facts.NOT_CARRIED.items() if key.startswith(k + "-")), None
                )
                self.add(
                    "not carried",
                    f"Ingress {name}: {facts.ANNOTATION_PREFIX.value}{key}: "
                    + (why or "no counterpart in this program"),
                )
            protocol = ann.get("backend-protocol", "HTTP").upper()
            if protocol not in ("HTTP", "AUTO_HTTP"):
                self.add(
                    "not carried",
                    f"Ingress {name}: backend-protocol {protocol}: {facts.NOT_CARRIED['backend-protocol']}; "
                    "none of its routes were imported",
                )
                continue
            regex = _go_bool(ann.get("use-regex"), False) or "rewrite-target" in ann
            if spec.get("defaultBackend"):
                self.add("not carried", f"Ingress {name}: spec.defaultBackend (a catch-all) is not carried")
            contributed = False
            for rule in spec.get("rules") or []:
                host = rule.get("host")
                paths = (rule.get("http") or {}).get("paths") or []
                if not host:
                    self.add(
                        "not carried", f"Ingress {name}: a rule without a host (every host) is not carried"
                    )
                    continue
                for path in paths:
                    route = self._route(name, namespace, str(host), path, regex)
                    if route is None:
                        continue
                    slot = (str(host), route["pathPrefix"].rstrip("/") or "/")
                    target = (f"{route['namespace']}/{route['service']}:{route['port']}", name)
                    if slot in seen and seen[slot][0] != target[0]:
                        self.add(
                            "not carried",
                            f"Ingress {name}: {host}{route['pathPrefix']} is also routed by Ingress "
                            f"{seen[slot][1]} to {seen[slot][0]}; only the first (by namespace/name) is "
                            "carried",
                        )
                        continue
                    seen[slot] = target
                    hosts_of = grouped.setdefault(
                        (route["service"], route["namespace"], route["port"], route["pathPrefix"]), []
                    )
                    if host not in hosts_of:
                        hosts_of.append(str(host))
                    if host not in hosts:
                        hosts.append(str(host))
                    contributed = True
            if contributed:
                used.append(ing)
        routes = [
            {
                "hosts": h,
                **({"pathPrefix": p} if p != "/" else {}),
                "service": s,
                "namespace": n,
                "port": port,
            }
            for (s, n, port, p), h in sorted(
                grouped.items(), key=lambda item: (item[1][0], item[0][3], item[0][0])
            )
        ]
        return routes, used, hosts

    def _route(
        self, name: str, namespace: str, host: str, path: dict[str, Any], regex: bool
    ) -> dict[str, Any] | None:
        text = str(path.get("path") or "/")
        kind = path.get("pathType", "ImplementationSpecific")
        where = f"Ingress {name}: {host}{text} ({kind})"
        if regex and _REGEX_CHARS.search(text):
            self.add(
                "not carried",
                f"{where}: a regular expression (use-regex or rewrite-target); routes are prefixes",
            )
            return None
        if kind == "Exact":
            self.add(
                "not carried", f"{where}: an exact path; routes match path prefixes, which would widen it"
            )
            return None
        if kind not in ("Prefix", "ImplementationSpecific"):
            self.add("not carried", f"{where}: path type {kind!r} is not Prefix")
            return None
        if kind == "ImplementationSpecific" or regex:
            if _REGEX_CHARS.search(text):
                self.add("not carried", f"{where}: not a plain path prefix")
                return None
            self.add(
                "note",
                f"{where}: nginx matched it as a string prefix"
                + (" (case-insensitive, as a regex)" if regex else "")
                + "; the route matches whole segments (/v1 matches /v1/x, not /v10)",
            )
        backend = (path.get("backend") or {}).get("service") or {}
        service = backend.get("name")
        port = (backend.get("port") or {}).get("number")
        port_name = (backend.get("port") or {}).get("name")
        if not service:
            self.add("not carried", f"{where}: its backend is not a Service (a resource backend)")
            return None
        if port is None and port_name:
            port = self._named_port(namespace, str(service), str(port_name))
            if port is None:
                self.add(
                    "not carried",
                    f"{where}: the Service port is named ({port_name}) and the input does not hold Service "
                    f"{namespace}/{service}; add kubectl get service -n {namespace} {service} -o yaml "
                    "to --from",
                )
                return None
        route = {
            "hosts": [host],
            "pathPrefix": text,
            "service": str(service),
            "namespace": namespace,
            "port": port,
        }
        try:
            RouteConfig.model_validate(route)
        except ValidationError as error:
            problem = error.errors()[0]
            self.add(
                "not carried",
                f"{where}: {'.'.join(str(p) for p in problem['loc'])} "
                f"{problem['msg'].removeprefix('Value error, ')}",
            )
            return None
        return route

    def _named_port(self, namespace: str, service: str, port_name: str) -> int | None:
        for svc in self.objects.services:
            if _name(svc) == f"{namespace}/{service}":
                for port in (svc.get("spec") or {}).get("ports") or []:
                    if port.get("name") == port_name:
                        return int(port["port"])
        return None

    # -- client-IP settings --

    def _allowlist(
        self,
        used: list[dict[str, Any]],
        data: dict[str, str],
        service: dict[str, Any] | None,
        mode: SourceIpMode,
    ) -> list[str]:
        default = _split(data.get(str(facts.ALLOWLIST_DEFAULT_KEY.value), ""))
        effective: dict[str, tuple[str, ...]] = {}
        for ing in used:
            ann = self._prefixed(ing)
            value = next((ann[k] for k in facts.ALLOWLIST_ANNOTATIONS.value if ann.get(k)), None)
            effective[_name(ing)] = tuple(
                self._cidrs(_split(value), _name(ing)) if value is not None else default
            )
        if not used and default:
            effective["the ConfigMap"] = tuple(self._cidrs(default, "ConfigMap whitelist-source-range"))
        distinct = set(effective.values())
        if len(distinct) > 1:
            listing = "; ".join(f"{n}: {', '.join(v) or 'everyone'}" for n, v in sorted(effective.items()))
            self.add(
                "not carried",
                "a different allowlist per Ingress (whitelist-source-range / allowlist-source-range): the "
                "stack's allowlist is one for every route, so none was written and every route is open to "
                f"everyone until you choose one ({listing})",
            )
            return []
        cidrs = list(next(iter(distinct), ()))
        if cidrs and service is not None and mode == SourceIpMode.LOCAL:
            etp = (service.get("spec") or {}).get("externalTrafficPolicy", "Cluster")
            if etp != "Local":
                self.add(
                    "trap",
                    f"the allowlist {', '.join(cidrs)} never saw the client address in nginx "
                    "(externalTrafficPolicy "
                    f"{etp}, no PROXY protocol: nginx saw node addresses); the gateway matches real "
                    "clients with it",
                )
        if cidrs and default and tuple(default) == tuple(cidrs):
            self.add(
                "note",
                f"the allowlist {', '.join(cidrs)} comes from the ConfigMap's whitelist-source-range, "
                "the default "
                "of every nginx server: carried, and it covers the echo probe too",
            )
        elif cidrs and len(used) > 1:
            self.add(
                "note", f"the allowlist {', '.join(cidrs)} is the same on every imported Ingress: carried"
            )
        return cidrs

    def _cidrs(self, values: list[str], where: str) -> list[str]:
        cidrs: list[str] = []
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                self.add("not carried", f"{where}: allowlist entry {value!r} is not an address or CIDR")
                continue
            text = str(network) if "/" in value else value
            if text != value:
                self.add(
                    "note",
                    f"{where}: allowlist entry {value} has host bits set; nginx used {text}, and so "
                    "does the stack",
                )
            if text not in cidrs:
                cidrs.append(text)
        return cidrs

    def _rate_limit(self, used: list[dict[str, Any]], data: dict[str, str]) -> dict[str, int] | None:
        limits: dict[str, tuple[int, int] | None] = {}
        for ing in used:
            ann = self._prefixed(ing)
            rpm, rps = _int(ann.get("limit-rpm")), _int(ann.get("limit-rps"))
            mult = _int(ann.get("limit-burst-multiplier")) or int(facts.BURST_MULTIPLIER_DEFAULT.value)
            if not rpm and not rps:
                limits[_name(ing)] = None
                continue
            per_minute = min(x for x in (rpm, rps * 60 if rps else 0) if x)
            burst = min(x for x in (rpm * mult if rpm else 0, rps * mult if rps else 0) if x)
            if rpm and rps:
                self.add(
                    "note",
                    f"Ingress {_name(ing)}: limit-rpm {rpm} and limit-rps {rps} both applied in nginx; the "
                    f"stricter ({per_minute} a minute) is carried",
                )
            limits[_name(ing)] = (per_minute, burst)
        distinct = set(limits.values())
        if not distinct or distinct == {None}:
            return None
        if len(distinct) > 1:
            listing = "; ".join(
                f"{n}: {f'{v[0]}/min burst {v[1]}' if v else 'none'}" for n, v in sorted(limits.items())
            )
            self.add(
                "not carried",
                "a rate limit on some Ingresses only, or different ones (limit-rpm/limit-rps): the gateway's "
                f"rate limit covers every route, so none was written ({listing})",
            )
            return None
        only = next(iter(distinct))
        assert only is not None  # distinct is neither empty nor {None}
        per_minute, burst = only
        status = _int(data.get("limit-req-status-code")) or int(facts.LIMIT_STATUS_DEFAULT.value)
        self.add(
            "note",
            f"rate limit carried: {per_minute} requests a minute, burst {burst} (the rate x "
            "limit-burst-multiplier, "
            f"default {facts.BURST_MULTIPLIER_DEFAULT.value}: {facts.NGINX_TAG} "
            f"{facts.BURST_MULTIPLIER_DEFAULT.source}). "
            f"nginx answered {status} to a limited request, the gateway answers 429 with retry-after; "
            "nginx kept a "
            "bucket per client per Ingress, the gateway one per client for every route, per replica in both",
        )
        return {"requestsPerMinute": per_minute, "burst": burst}

    def _front_proxy(self, data: dict[str, str], mode: SourceIpMode) -> dict[str, Any] | None:
        use_fwd = _go_bool(data.get("use-forwarded-headers"), False)
        real_ip = _go_bool(data.get("enable-real-ip"), False)
        compute_full = _go_bool(data.get("compute-full-forwarded-for"), False)
        cidrs = _split(data.get("proxy-real-ip-cidr", "")) or list(facts.PROXY_REAL_IP_CIDR_DEFAULT.value)
        bad = [c for c in cidrs if not _is_cidr(c)]
        if bad and use_fwd:
            self.add("not carried", f"proxy-real-ip-cidr entries that are not a CIDR: {', '.join(bad)}")
        cidrs = [str(ipaddress.ip_network(c, strict=False)) for c in cidrs if _is_cidr(c)]
        if use_fwd and not cidrs:
            return None
        header = data.get("forwarded-for-header", "X-Forwarded-For")
        if not use_fwd:
            self.add(
                "note",
                "nginx replaced X-Forwarded-For with the address it saw (use-forwarded-headers false); the "
                "gateway appends that address to what the client sent: an application reading the leftmost "
                "entry now reads what the client wrote; read X-Envoy-External-Address, or the last entry",
            )
            if real_ip:
                self.add(
                    "not carried",
                    f"enable-real-ip with proxy-real-ip-cidr {', '.join(cidrs)}: nginx took the client from "
                    f"{header} of those peers; set gateway.frontProxy by hand if a proxy in front appends it",
                )
            return None
        if compute_full:
            self.add(
                "note", "compute-full-forwarded-for: the gateway appends to X-Forwarded-For as nginx did"
            )
        if mode == SourceIpMode.PROXY_PROTOCOL:
            self.add(
                "not carried",
                "use-forwarded-headers with use-proxy-protocol (proxy-real-ip-cidr "
                f"{', '.join(cidrs)}): nginx "
                "trusted X-Forwarded-For when the PROXY header's address was in those ranges "
                f"({facts.NGINX_TAG} {facts.REAL_IP_TEMPLATE.source}); a gateway.frontProxy needs "
                "passthrough "
                "(the proxy as the direct peer), so the gateway reads the PROXY header's address only",
            )
            return None
        if any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in cidrs if _is_cidr(c)):
            self.add(
                "trap",
                f"use-forwarded-headers with proxy-real-ip-cidr {', '.join(cidrs)} (the default is "
                f"{facts.PROXY_REAL_IP_CIDR_DEFAULT.value[0]}: {facts.NGINX_TAG} "
                f"{facts.PROXY_REAL_IP_CIDR_DEFAULT.source}): nginx believed any X-Forwarded-For, so "
                "any client "
                "could choose its address, and allowlists and rate limits with it. Not carried: the "
                "gateway reads "
                "the peer; set gateway.frontProxy with your proxy's ranges if one stands in front",
            )
            return None
        if header.lower() != "x-forwarded-for":
            self.add(
                "note",
                f"forwarded-for-header {header}: the gateway reads X-Forwarded-For (a header such as "
                "CF-Connecting-IP is refused on Istio 1.30, docs/front-proxy.md); your proxy must append the "
                "client to X-Forwarded-For",
            )
        self.add(
            "note",
            "nginx (real_ip_recursive on) took the rightmost X-Forwarded-For entry outside "
            "proxy-real-ip-cidr; "
            "the gateway trusts one hop, the entry the proxy appended last, and refuses (403) every "
            "direct peer "
            "outside the ranges: if these ranges are your load balancer's own addresses (an L4 balancer that "
            "writes no X-Forwarded-For), remove gateway.frontProxy",
        )
        wanted = set(cidrs)
        for profile in PROFILES:
            try:
                if set(trusted_ranges(profile).cidrs) == wanted:
                    self.add(
                        "note",
                        f"proxy-real-ip-cidr is exactly the {profile} profile's ranges: profile {profile}",
                    )
                    return {"profile": profile}
            except EmptyProfileError:
                continue
        return {"profile": "custom", "cidrs": cidrs}

    def _tls(self, used: list[dict[str, Any]], data: dict[str, str], fronted: bool) -> dict[str, Any] | None:
        issuers: dict[tuple[str, str], list[str]] = {}
        secrets: dict[str, list[str]] = {}
        redirects: dict[str, bool] = {}
        default_redirect = _go_bool(data.get("ssl-redirect"), bool(facts.SSL_REDIRECT_DEFAULT.value))
        for ing in used:
            spec = ing.get("spec") or {}
            if not spec.get("tls"):
                continue
            name = _name(ing)
            ann = _annotations(ing)
            if ann.get("cert-manager.io/cluster-issuer"):
                issuers.setdefault((ann["cert-manager.io/cluster-issuer"], "ClusterIssuer"), []).append(name)
            elif ann.get("cert-manager.io/issuer"):
                issuers.setdefault((ann["cert-manager.io/issuer"], "Issuer"), []).append(name)
            else:
                for entry in spec["tls"]:
                    if entry.get("secretName"):
                        secrets.setdefault(f"{_meta(ing).get('namespace')}/{entry['secretName']}", []).append(
                            name
                        )
                    else:
                        self.add(
                            "not carried",
                            f"Ingress {name}: a tls entry without a secretName (nginx served its default "
                            "certificate)",
                        )
            prefixed = self._prefixed(ing)
            redirects[name] = _go_bool(prefixed.get("ssl-redirect"), default_redirect) or _go_bool(
                prefixed.get("force-ssl-redirect"), False
            )
        if not issuers and not secrets:
            return None
        tls: dict[str, Any] = {}
        if len(issuers) > 1 or (issuers and secrets):
            listing = "; ".join(f"{k[1]} {k[0]}: {', '.join(v)}" for k, v in sorted(issuers.items()))
            listing += "".join(f"; Secret {k}: {', '.join(v)}" for k, v in sorted(secrets.items()))
            self.add(
                "not carried",
                f"several certificate sources on one gateway ({listing}): a gateway has one certificate, so "
                "no tls was written; choose one issuer (tls.certManager) for every routed host",
            )
            return None
        if issuers:
            (issuer, kind), _ = next(iter(issuers.items()))
            tls["certManager"] = {
                "issuer": issuer,
                **({"issuerKind": kind} if kind != "ClusterIssuer" else {}),
            }
            if self.options.challenge != "http01":
                tls["certManager"]["challenge"] = self.options.challenge
            if kind == "Issuer":
                self.add(
                    "note",
                    f"cert-manager.io/issuer {issuer}: an Issuer is namespaced; the gateway's "
                    "Certificate needs "
                    "one of that name in the gateway's namespace (or use a ClusterIssuer)",
                )
            self.add(
                "trap",
                f"the issuer {issuer}'s HTTP-01 solver, if it names the nginx ingress class, proves "
                "the gateway's "
                "certificate through nginx: it works only while DNS points at nginx, and renewals "
                "fail once nginx "
                "is gone. Give the issuer a DNS-01 solver, or an HTTP-01 solver of class istio, "
                "before removing nginx",
            )
        else:
            secret, _ = next(iter(secrets.items()))
            if len(secrets) > 1:
                self.add(
                    "not carried",
                    "several TLS Secrets ("
                    + ", ".join(sorted(secrets))
                    + "): a gateway has one certificate, so no tls was written",
                )
                return None
            tls["secretName"] = secret.split("/", 1)[1]
            self.add(
                "note",
                f"the Ingress TLS Secret {secret} must be copied into the gateway's namespace "
                "(istio-system) and "
                "cover every routed host and the echo probe's host",
            )
        values = set(redirects.values())
        if len(values) > 1:
            self.add(
                "not carried",
                "ssl-redirect differs between Ingresses; the gateway redirects every routed host or none: "
                + ", ".join(f"{n}: {v}" for n, v in sorted(redirects.items())),
            )
        tls["redirectHttp"] = values == {True} or len(values) > 1
        if fronted:
            self.add(
                "note",
                "behind a front proxy tls.redirectHttp must be explicit (docs/front-proxy.md): check it",
            )
        self.add(
            "note",
            "tls covers every routed host (tls.hosts unset), also hosts that had no TLS in nginx",
        )
        return tls

    def _echo_host(self, hosts: list[str]) -> str:
        if self.options.echo_host:
            return self.options.echo_host
        if not hosts:
            return "echo.example.com"
        parts = hosts[0].split(".")
        domain = ".".join(parts[1:]) if len(parts) > 2 else hosts[0]
        candidate = f"probe.{domain}"
        while candidate in hosts:
            candidate = "probe-" + candidate
        self.add(
            "note",
            f"echo.host {candidate}: the probe's own host (--echo-host to choose another); point its "
            "DNS at the "
            "gateway too, or make verify cannot reach it",
        )
        return candidate

    def _metallb(self, annotations: dict[str, str]) -> dict[str, Any]:
        if not self.options.metallb_nodes:
            raise InputError(
                "--metallb-nodes: platform metallb needs the nodes that run the gateway and announce "
                "its address "
                "(e.g. --metallb-nodes worker-1,worker-2); allowed: node names, comma-separated"
            )
        metallb: dict[str, Any] = {"nodes": list(self.options.metallb_nodes)}
        pool = next((annotations[k] for k in METALLB_POOL_ANNOTATIONS if annotations.get(k)), None)
        if pool:
            metallb["pool"] = pool
        else:
            self.add(
                "note",
                "the controller Service names no MetalLB pool; the stack uses metallb.pool default-pool: set "
                "your pool's name",
            )
        return metallb

    def _config_keys(self, data: dict[str, str]) -> None:
        read = set(facts.CONFIGMAP_KEYS.value) | set(facts.NOT_A_CONFIGMAP_KEY.value)
        for key in ("http-snippet", "server-snippet", "location-snippet", "main-snippet", "stream-snippet"):
            if key in data:
                self.add(
                    "not carried", f"ConfigMap {key}: raw nginx configuration has no counterpart in Envoy"
                )
        rest = sorted(k for k in data if k not in read and not k.endswith("-snippet"))
        if rest:
            self.add("not carried", "ConfigMap keys with no counterpart here: " + ", ".join(rest))


def _int(value: str | None) -> int:
    try:
        return int(str(value).strip()) if value is not None else 0
    except ValueError:
        return 0


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def import_objects(objects: Objects, options: Options) -> Imported:
    """The stack keys and findings for these objects; InputError for input that cannot be imported."""
    return _Importer(objects, options).run()
