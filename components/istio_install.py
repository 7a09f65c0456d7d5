"""IstioInstall: Istio's control plane from its official Helm charts, or the cluster's own one reused."""

from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, owned_namespace
from source_ip.facts import (
    GATEWAY_API_CRDS_URL,
    GATEWAY_API_GROUP,
    ISTIO_BASE,
    ISTIO_BASE_RELEASE,
    ISTIO_NAMESPACE,
    ISTIOD,
    ISTIOD_DEPLOYMENT,
    ISTIOD_RELEASE,
    Chart,
)


class IstioInstallArgs(TypedDict):
    """Inputs of the Istio control plane."""

    version: pulumi.Input[str]
    """Exact Istio release of the base and istiod charts; with `install: false`, the version the cluster runs."""
    install: NotRequired[bool]
    """False: reuse the cluster's control plane. Nothing is installed or created; istiod's Deployment is read
    instead, so `pulumi up` stops with "not found" when there is no control plane. Default true."""
    gateway_api_crds: NotRequired[bool]
    """Also install the Gateway API CRDs (standard channel, v1.4.0). Default false."""
    gateway_api_required: NotRequired[bool]
    """Gateway API objects will be created: without `gateway_api_crds`, read the Gateway CRD, so `pulumi up`
    stops with "not found" before any of them when the cluster lacks the CRDs. Default false."""


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
                k8s.yaml.v2.ConfigFile(self.child_name("gateway-api-crds"), file=GATEWAY_API_CRDS_URL, opts=self.child())
            )
        elif args.get("gateway_api_required", False):
            gateway_api.append(
                k8s.apiextensions.v1.CustomResourceDefinition.get(
                    self.child_name("existing-gateway-api-crds"),
                    f"gateways.{GATEWAY_API_GROUP}",
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        if install:
            namespace = owned_namespace(self, ISTIO_NAMESPACE)
            base = self._release(ISTIO_BASE_RELEASE, ISTIO_BASE, args["version"], namespace)
            istiod = self._release(ISTIOD_RELEASE, ISTIOD, args["version"], [base])
            self.crds: list[pulumi.Resource] = [base, *gateway_api]
            self.control_plane: list[pulumi.Resource] = [istiod, *gateway_api]
        else:
            istiod_read = k8s.apps.v1.Deployment.get(
                self.child_name("existing-istiod"),
                f"{ISTIO_NAMESPACE}/{ISTIOD_DEPLOYMENT}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            pulumi.Output.all(istiod_read.spec, args["version"]).apply(lambda pair: _warn_on_version_skew(*pair))
            self.crds = list(gateway_api)
            self.control_plane = [istiod_read, *gateway_api]
        self.version = pulumi.Output.from_input(args["version"])
        self.installed = pulumi.Output.from_input(install)
        self.register_outputs({"version": self.version, "installed": self.installed})

    def _release(
        self, release: str, chart: Chart, version: pulumi.Input[str], after: list[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            self.child_name(chart.chart),
            k8s.helm.v3.ReleaseArgs(
                name=release,
                chart=chart.chart,
                version=version,
                namespace=ISTIO_NAMESPACE,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                values={},
            ),
            opts=self.child(depends_on=after),
        )


def _warn_on_version_skew(spec: Any, version: str) -> None:
    """The existing istiod's image tag should be `istio.version`: the gateway charts are installed at it."""
    containers = (spec.template.spec.containers if spec and spec.template and spec.template.spec else None) or []
    tags = {c.image.rsplit(":", 1)[-1] for c in containers if c.image and ":" in c.image.rsplit("/", 1)[-1]}
    if tags and version not in {tag.split("-", 1)[0] for tag in tags}:
        pulumi.log.warn(
            f"istio.version is {version} but the existing istiod runs {', '.join(sorted(tags))}: "
            "the gateway charts are installed at istio.version; set it to the cluster's version"
        )
