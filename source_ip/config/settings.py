"""One gateway's settings: the one model both paths validate, and the stack file's mapping onto it.

`GatewaySettings` is the gateway's inputs as the components take them (`IngressGatewayArgs`, snake_case):
the per-gateway fields are `GatewayFields` (declared once in `models.py`, shared with the stack file's
`gateway`), plus what a stack file decides elsewhere (the platform, the mode, the listener, the MetalLB
placement, HTTPS). `settings_of` maps a stack file's gateway onto it; `GatewaySettings.of` validates a
component's args with the same fields and the same rules (`gateway_rules.py`), so the component package
refuses what a stack file refuses, with the same messages.
"""

from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import pulumi
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from source_ip.config.messages import Problem, _model_in, _problem
from source_ip.config.models import (
    CertManagerTls,
    DnsHost,
    GatewayConfig,
    GatewayEntry,
    GatewayFields,
    HttpsFields,
    MetalLBPlacementFields,
    StackConfig,
    _check_dns_label,
    _hosts,
    _Section,
)
from source_ip.facts import PLATFORMS, Platform, SourceIpMode, istio_release
from source_ip.observability import ip_tags

if TYPE_CHECKING:
    from source_ip.gateway import IngressGatewayArgs
from source_ip.plan import (
    ClientAddressSource,
    ProxyProtocolListener,
    client_address_source,
    program_service_annotations,
    proxy_protocol_listener,
)


def _plain_or_output(check: Any) -> Any:
    """A value that may be a Pulumi Output: checked when it is a plain string, kept as it is otherwise."""

    def validate(value: Any) -> Any:
        if isinstance(value, str):
            return check(value)
        if isinstance(value, pulumi.Output):
            return value
        raise ValueError("must be a string (or a Pulumi Output of one)")

    return BeforeValidator(validate)


def _istio_version(value: str) -> str:
    if istio_release(value) is None:
        raise ValueError("must be an exact Istio release X.Y.Z, e.g. 1.30.3")
    return value


def _known_platform(value: str) -> str:
    if value not in PLATFORMS:
        raise ValueError(f"unknown platform; allowed: {', '.join(sorted(PLATFORMS))}")
    return value


class CertificateIssuerSettings(CertManagerTls):
    """The component's issuer: a stack's `certManager`, with `challenge: None` for a CA issuer (no ACME)."""

    challenge: Literal["http01", "dns01"] | None = "http01"  # type: ignore[assignment]
    """http01 (default) or dns01: how the issuer's ACME solver proves the hosts; None: no ACME challenge
    at all (a CA issuer such as the quickstart's)."""


class HttpsSettings(HttpsFields):
    """HTTPS on port 443 of a gateway, as the component takes it (`GatewayHttps`)."""

    hosts: Annotated[list[DnsHost], _hosts()]
    """The names the HTTPS server (listener) and the certificate answer for."""
    cert_manager: CertificateIssuerSettings | None = None
    """Who issues the certificate (a cert-manager.io/v1 Certificate in the gateway's namespace)."""


class IpTagSettings(_Section):
    """One tag of Envoy's ip_tagging filter (`IpTag`)."""

    name: str
    cidrs: list[str]


class ObservabilitySettings(_Section):
    """What a gateway counts (`ObservabilityArgs`): the ip_tagging filter's tags."""

    ip_tags: list[IpTagSettings]


_FIELDS_ONLY: dict[str, bool] = {"rules": False}
"""Validation context: check the fields only (the caller runs the rules and reports them by name)."""


class GatewaySettings(GatewayFields):
    """An ingress gateway's inputs (the keys of `IngressGatewayArgs`) with their defaults, validated."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    namespace: Annotated[Any, _plain_or_output(_check_dns_label)] = "istio-system"
    """Namespace of the gateway (a string or an Output of one)."""
    istio_version: Annotated[Any, _plain_or_output(_istio_version)]
    """Exact Istio release of the gateway chart (a string or an Output of one)."""
    platform: Annotated[str, AfterValidator(_known_platform)]
    mode: SourceIpMode
    listener: ProxyProtocolListener
    metallb: MetalLBPlacementFields | None = None
    https: HttpsSettings | None = None
    observability: ObservabilitySettings | None = None

    @model_validator(mode="after")
    def _held_to_the_rules(self, info: ValidationInfo) -> "GatewaySettings":
        """Settings built directly (`GatewaySettings(...)`) are held to the gateway rules too; `of` and
        the stack path check them themselves, to report every problem by name."""
        if info.context is _FIELDS_ONLY:
            return self
        from source_ip.config.gateway_rules import gateway_findings

        findings = list(gateway_findings(self, field_name))
        if findings:
            raise ValueError(
                "; ".join(f"{field_name(f.field)}: {f.message.split(';', 1)[0]}" for f in findings)
                + "; check them all with GatewaySettings.of(args)"
            )
        return self

    @classmethod
    def of(cls, args: Any, component: str = "IngressGateway") -> "GatewaySettings":
        """The settings of a component's args, or `GatewayInputError` with every problem: the fields'
        checks first, then every gateway rule (the ones a stack file is held to)."""
        where = f"{component} {args.get('name', '?') if isinstance(args, dict) else '?'}"
        try:
            settings = cls.model_validate(args, context=_FIELDS_ONLY)
        except ValidationError as error:
            raise GatewayInputError(
                [_named(_problem(cls, e), cls, tuple(e["loc"]), where) for e in error.errors()]
            ) from None
        from source_ip.config.gateway_rules import gateway_findings

        findings = list(gateway_findings(settings, field_name))
        if findings:
            raise GatewayInputError(
                [Problem(f"{where}: {field_name(f.field)}", f.value, f.message) for f in findings]
            )
        return settings

    def args(self) -> "IngressGatewayArgs":
        """The component args these settings are (every key by field name; set values only, so the
        component's own check sees what was given)."""
        return cast("IngressGatewayArgs", self.model_dump(exclude_unset=True))

    @property
    def platform_entry(self) -> Platform:
        return PLATFORMS[self.platform]

    @property
    def trusted_xff_hops(self) -> int:
        """X-Forwarded-For hops the gateway trusts: the front proxy's one, or numTrustedProxies."""
        return 1 if self.front_proxy is not None else self.num_trusted_proxies

    @property
    def client_address_source(self) -> ClientAddressSource:
        return client_address_source(self.listener, self.trusted_xff_hops)

    def program_annotations(self) -> dict[str, str]:
        """The Service annotations the program sets itself for this gateway (before the user's)."""
        return {
            **program_service_annotations(
                self.platform_entry,
                self.mode,
                hairpin_hostname=self.hairpin_hostname,
                metallb_pool=self.metallb.pool if self.metallb else None,
            ),
            **(self.platform_entry.ipv6.annotations if self.serves_ipv6 else {}),
        }

    @property
    def serves_ipv6(self) -> bool:
        """The gateway's Service asks for IPv6 (`ip_families` holds it)."""
        return bool(self.ip_families) and "IPv6" in (self.ip_families or [])


class GatewayInputError(ValueError):
    """A component's gateway args that a stack file would refuse: one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def field_name(path: tuple[str | int, ...]) -> str:
    """A settings field path as the args spell it: `rate_limit.burst`, `service_annotations['a/b']`."""
    text = ""
    for part in path:
        if isinstance(part, int) or not str(part).isidentifier():
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


def _named(problem: Problem, root: type[GatewaySettings], loc: tuple[Any, ...], where: str) -> Problem:
    """A pydantic problem keyed by the args' field names (pydantic reports the camelCase aliases)."""
    return Problem(f"{where}: {field_name(settings_path(loc, root))}", problem.value, problem.message)


def settings_path(loc: tuple[Any, ...], root: Any = None) -> tuple[str | int, ...]:
    """A pydantic error location in the settings (`root`, default GatewaySettings) as a field path: the
    camelCase aliases pydantic reports turned back into field names."""
    path: list[str | int] = []
    model: Any = root or GatewaySettings
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if isinstance(part, int) or fields is None:
            path.append(part)
            continue
        name = next((n for n, f in fields.items() if part in (n, f.alias)), part)
        path.append(name)
        annotation = fields[name].annotation if name in fields else None
        model = _model_in(annotation)
    return tuple(path)


SHARED_KEYS = frozenset(GatewayFields.model_fields)
"""Gateway keys a stack file hands to the settings as they are (same name, same field)."""


def settings_of(config: StackConfig, entry: GatewayEntry) -> GatewaySettings:
    """One gateway of a stack file as the components' settings: its shared keys by name, and what the
    stack decides (platform, mode, listener, the MetalLB placement, HTTPS with hosts defaulted)."""
    gateway = entry.gateway
    values: dict[str, Any] = {
        name: getattr(gateway, name) for name in SHARED_KEYS if name in gateway.model_fields_set
    }
    values.update(
        istio_version=config.istio.version,
        platform=config.platform,
        mode=entry.mode,
        listener=proxy_protocol_listener(entry.mode, gateway.proxy_protocol_migration),
    )
    if config.platform_entry.pins_nodes:
        values["metallb"] = MetalLBPlacementFields(
            node_label=dict(config.metallb.node_label), pool=config.metallb.pool
        )
    watch = config.observability
    if watch.counts:
        tags = ip_tags(watch.node_cidrs, watch.pod_cidrs, watch.load_balancer_addresses)
        values["observability"] = ObservabilitySettings.model_validate({"ip_tags": tags})
    tls = gateway.tls
    if tls is not None:
        manager = tls.cert_manager
        https: dict[str, Any] = {
            "hosts": list(tls.hosts if tls.hosts is not None else default_tls_hosts(config, gateway)),
            "secret_name": tls.secret_name,
            "cert_manager": CertificateIssuerSettings(
                issuer=manager.issuer,
                issuer_kind=manager.issuer_kind,
                challenge=None if config.is_quickstart_ca(manager) else manager.challenge,
            )
            if manager
            else None,
        }
        if "redirect_http" in tls.model_fields_set:
            https["redirect_http"] = tls.redirect_http
        values["https"] = HttpsSettings.model_validate(https)
    return GatewaySettings.model_validate(values, context=_FIELDS_ONLY)  # the rules run in rules.py


def default_tls_hosts(config: StackConfig, gateway: GatewayConfig) -> list[str]:
    """`tls.hosts` when unset: the probe host (echo.host, while the echo app runs) and every routed host."""
    probe = [config.echo.host] if config.echo.enabled or not gateway.routes else []
    return list(dict.fromkeys([*probe, *(host for route in gateway.routes for host in route.hosts)]))
