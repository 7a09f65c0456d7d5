"""IstioInstall: Istio's control plane from its official Helm charts, or the cluster's own one reused."""

from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, owned_namespace
from source_ip.facts import (
    GATEWAY_API_CRDS_URL,
    GATEWAY_API_GROUP,
    GATEWAY_API_MIN_ISTIO,
    GATEWAY_API_VERSION,
    ISTIO_BASE,
    ISTIO_BASE_RELEASE,
    ISTIO_NAMESPACE,
    ISTIO_SUPPORTED_MINORS,
    ISTIOD,
    ISTIOD_CONTAINER,
    ISTIOD_DEPLOYMENT,
    ISTIOD_RELEASE,
    istio_end_of_support,
    istio_release,
)


class IstioInstallArgs(TypedDict):
    """Inputs of the Istio control plane."""

    version: pulumi.Input[str]
    """Exact Istio release of the base and istiod charts; with `install: false`, the version the cluster
    runs."""
    install: NotRequired[bool]
    """False: reuse the cluster's control plane. Nothing is installed or created; istiod's Deployment is read
    instead, so `pulumi up` stops with "not found" when there is no control plane. Default true."""
    gateway_api_crds: NotRequired[bool]
    """Also install the Gateway API CRDs (standard channel, the release Istio is built against, see
    facts.GATEWAY_API_VERSION). Default false."""
    gateway_api_required: NotRequired[bool]
    """Gateway API objects will be created: without `gateway_api_crds`, read the Gateway CRD, so `pulumi up`
    stops with "not found" before any of them when the cluster lacks the CRDs; with `install: false`,
    `pulumi up` stops before them when the cluster's istiod is older than 1.26 (it would ignore the
    Gateways' parametersRef). Default false."""
    dual_stack: NotRequired[bool]
    """A gateway's Service asks for IPv6: istiod and the proxies run with ISTIO_DUAL_STACK=true
    (`istiod_values`), or, with `install: false`, a warning when the cluster's istiod does not. Default
    false."""


class IstioInstall(Component):
    """The control plane: namespace istio-system, the `istio-base` (CRDs) and `istiod` releases, and
    optionally the Gateway API CRDs — or, with `install=False`, a read of the existing istiod.

    Two dependency lists let each resource wait for what it needs and nothing more:
    `crds` for Istio custom resources (policies, routing) — istiod's validating webhook fails open until
    istiod is ready (manifests/charts/base/templates/defaultrevision-validatingwebhookconfiguration.yaml) —
    and `control_plane` for workloads that need istiod's injection webhook (gateways, the echo app). No
    gateway lives here: nothing that depends on the control plane waits for a load balancer.
    """

    version: pulumi.Output[str]
    """The Istio release of the control plane."""
    installed: pulumi.Output[bool]
    """Whether this component installed the control plane (false: it reuses the cluster's)."""

    def __init__(self, name: str, args: IstioInstallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("IstioInstall", name, opts)
        install = args.get("install", True)
        gateway_api: list[pulumi.Resource] = []
        if args.get("gateway_api_crds", False):
            gateway_api.append(
                k8s.yaml.v2.ConfigFile(
                    self.child_name("gateway-api-crds"), file=GATEWAY_API_CRDS_URL, opts=self.child()
                )
            )
        elif args.get("gateway_api_required", False):
            gateway_api.append(
                k8s.apiextensions.v1.CustomResourceDefinition.get(
                    self.child_name("existing-gateway-api-crds"),
                    f"gateways.{GATEWAY_API_GROUP}",
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.gateway_api_crds: list[pulumi.Resource] = gateway_api
        """The Gateway API CRDs this installs (or the read that checks the cluster has them): what a
        controller that watches Gateway API kinds (cert-manager with its Gateway API support) waits for."""
        if install:
            namespace = owned_namespace(self, ISTIO_NAMESPACE)
            version = args["version"]
            base = self.chart_release(
                "base", ISTIO_BASE_RELEASE, ISTIO_BASE, version, ISTIO_NAMESPACE, {}, depends_on=namespace
            )
            istiod = self.chart_release(
                "istiod",
                ISTIOD_RELEASE,
                ISTIOD,
                version,
                ISTIO_NAMESPACE,
                istiod_values(args.get("dual_stack", False)),
                depends_on=[base],
            )
            self.crds: list[pulumi.Input[pulumi.Resource]] = [base, *gateway_api]
            self.control_plane: list[pulumi.Input[pulumi.Resource]] = [istiod, *gateway_api]
        else:
            istiod_read = k8s.apps.v1.Deployment.get(
                self.child_name("existing-istiod"),
                f"{ISTIO_NAMESPACE}/{ISTIOD_DEPLOYMENT}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            gateway_api_mode = bool(args.get("gateway_api_required", False))

            # What needs the control plane waits for the read *and* its check: a failed check fails them.
            dual_stack = bool(args.get("dual_stack", False))

            def check(spec_and_version: list[Any]) -> pulumi.Resource:
                _check_existing_istiod(spec_and_version[0], spec_and_version[1], gateway_api_mode)
                if dual_stack:
                    _warn_without_dual_stack(spec_and_version[0])
                return istiod_read

            checked: pulumi.Output[pulumi.Resource] = pulumi.Output.all(
                istiod_read.spec, args["version"]
            ).apply(check)
            self.crds = list(gateway_api)
            self.control_plane = [checked, *gateway_api]
        self.version = pulumi.Output.from_input(args["version"])
        self.installed = pulumi.Output.from_input(install)
        self.register_outputs({"version": self.version, "installed": self.installed})


DUAL_STACK_ENV = "ISTIO_DUAL_STACK"
"""istiod's switch (pilot/pkg/features/experimental.go, default false at 1.30.3): without it a gateway pod
with an IPv4 and an IPv6 address listens on 0.0.0.0 only (pilot/pkg/networking/core/gateway.go,
buildGatewayListeners: the `::` wildcard becomes the listener's additional address only with it), so IPv6
connections to the pod are refused. The proxies read it too (pkg/bootstrap/config.go: the bootstrap's dual
wildcards); Istio's own dual-stack tests set both (pkg/test/framework/components/istio/kube.go)."""


def istiod_values(dual_stack: bool) -> dict[str, Any]:
    """The istiod chart's values: none, or ISTIO_DUAL_STACK for istiod (`env`) and every proxy
    (`meshConfig.defaultConfig.proxyMetadata`)."""
    if not dual_stack:
        return {}
    return {
        "env": {DUAL_STACK_ENV: "true"},
        "meshConfig": {"defaultConfig": {"proxyMetadata": {DUAL_STACK_ENV: "true"}}},
    }


def _warn_without_dual_stack(spec: Any) -> None:
    """The reused istiod, read: a warning when its container does not run with ISTIO_DUAL_STACK=true (unknown
    in an offline render: nothing said)."""
    containers = _field(_field(_field(spec, "template"), "spec"), "containers")
    if not containers:
        return
    env = {
        str(_field(item, "name")): _field(item, "value")
        for container in containers
        if _field(container, "name") == ISTIOD_CONTAINER
        for item in (_field(container, "env") or [])
    }
    if str(env.get(DUAL_STACK_ENV, "")).lower() != "true":
        pulumi.log.warn(
            "a gateway asks for IPv6 (ipFamilies), but the existing istiod does not run with "
            f"{DUAL_STACK_ENV}=true: on a dual-stack cluster its gateway pods then listen on IPv4 only and "
            f"refuse IPv6 connections; set {DUAL_STACK_ENV}=true on istiod and in "
            "meshConfig.defaultConfig.proxyMetadata"
        )


class IstiodTooOld(pulumi.RunError):
    """The cluster's istiod cannot deploy what the program asks of it."""


def istiod_release(spec: Any) -> tuple[str, tuple[int, int, int] | None] | None:
    """The image of istiod's container and the Istio release its tag names (None when the tag names none,
    e.g. `latest` or a digest). None when the spec is unknown (an offline render, a preview without it)."""
    containers = _field(_field(_field(spec, "template"), "spec"), "containers") or []
    images = [str(_field(c, "image")) for c in containers if _field(c, "image")]
    named = [
        str(_field(c, "image"))
        for c in containers
        if _field(c, "name") == ISTIOD_CONTAINER and _field(c, "image")
    ]
    images = named or images
    if not images:
        return None
    image = images[0]
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else ""
    return image, istio_release(tag, prefix=True)


def _field(value: Any, name: str) -> Any:
    """A field of a read object, whether the SDK gives it as a typed output or as a plain dict."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _check_existing_istiod(spec: Any, version: str, gateway_api_mode: bool) -> None:
    """Judge the istiod a stack reuses by what it runs (its image tag), not by what istio.version says.

    Gateway API mode stops `pulumi up` when istiod is older than 1.26: it would deploy the Gateways without
    the ConfigMap that carries their client-IP path. Any mode warns when the tag is not istio.version (the
    gateway charts are installed at istio.version) and when the release is out of support."""
    found = istiod_release(spec)
    declared = istio_release(version)
    running = found[1] if found else None
    floor = f"{GATEWAY_API_MIN_ISTIO[0]}.{GATEWAY_API_MIN_ISTIO[1]}.0"
    supported = " or ".join(f"{major}.{minor}" for major, minor in ISTIO_SUPPORTED_MINORS)
    if found and running is None:
        needs = f"; Gateway API mode needs istiod {floor} or newer" if gateway_api_mode else ""
        pulumi.log.warn(
            f"the existing istiod runs {found[0]}, whose tag names no Istio release X.Y.Z: "
            f"istio.version {version} is taken on trust{needs}"
        )
    if found and running is not None and running != declared:
        pulumi.log.warn(
            f"istio.version is {version} but the existing istiod runs {found[0]} (Istio {_spelt(running)}): "
            "the gateway charts are installed at istio.version; set it to the cluster's version"
        )
    if found and running is not None and gateway_api_mode and running[:2] < GATEWAY_API_MIN_ISTIO:
        raise IstiodTooOld(
            f"routing gateway-api: the existing istiod runs {found[0]} (Istio {_spelt(running)}), which does "
            "not read spec.infrastructure.parametersRef, so it would deploy every Gateway without its "
            "client-IP path; the Gateways wait for this check and were not created. Allowed: upgrade the "
            f"cluster's Istio to {floor} or newer (supported: {supported}), or routing: istio"
        )
    release = running or declared
    if release is None or release[:2] in ISTIO_SUPPORTED_MINORS:
        return
    if release[:2] < min(ISTIO_SUPPORTED_MINORS):
        pulumi.log.warn(
            f"the cluster's Istio {_spelt(release)} is out of support since "
            f"{istio_end_of_support(release[:2])}; the program reuses it (istio.install: false) but "
            f"would not install it: upgrade it to {supported} (the supported minors)"
        )
    else:
        pulumi.log.warn(
            f"the cluster's Istio {_spelt(release)} is newer than the releases this program was checked "
            f"against ({supported}, with Gateway API {GATEWAY_API_VERSION}); it is reused as it is"
        )


def _spelt(release: tuple[int, int, int]) -> str:
    return ".".join(map(str, release))
