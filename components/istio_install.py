"""IstioInstall: Istio's control plane from its official Helm charts, or the cluster's own one reused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class IstioInstallArgs:
    version: str
    """Exact Istio release of the base and istiod charts; with `install=False`, the version the cluster runs."""
    install: bool = True
    """False: reuse the cluster's control plane. Nothing is installed or created; istiod's Deployment is read
    instead, so `pulumi up` stops with "not found" when there is no control plane."""
    gateway_api_crds: bool = False
    """Also install the Gateway API CRDs (standard channel)."""
    gateway_api_required: bool = False
    """Gateway API objects will be created: without `gateway_api_crds`, read the Gateway CRD, so `pulumi up`
    stops with "not found" before any of them when the cluster lacks the CRDs."""


class IstioInstall(Component):
    """The control plane: namespace istio-system, the `istio-base` (CRDs) and `istiod` releases, and
    optionally the Gateway API CRDs — or, with `install=False`, a read of the existing istiod.

    Two dependency lists let each resource wait for what it needs and nothing more:
    `crds` for Istio custom resources (policies, routing), `control_plane` for workloads that need
    istiod's injection webhook (gateways, the echo app). No gateway lives here: nothing that
    depends on the control plane waits for a load balancer.
    """

    crds: list[pulumi.Resource]
    """What an Istio custom resource must wait for (the CRDs). istiod's validating webhook fails open until
    istiod is ready (manifests/charts/base/templates/defaultrevision-validatingwebhookconfiguration.yaml)."""
    control_plane: list[pulumi.Resource]
    """What an injected workload must wait for: istiod (its injection webhook), or the read of the existing one."""
    version: pulumi.Output[str]

    def __init__(self, name: str, args: IstioInstallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("IstioInstall", name, opts)
        gateway_api: list[pulumi.Resource] = []
        if args.gateway_api_crds:
            gateway_api.append(
                k8s.yaml.v2.ConfigFile(self.child_name("gateway-api-crds"), file=GATEWAY_API_CRDS_URL, opts=self.child())
            )
        elif args.gateway_api_required:
            gateway_api.append(
                k8s.apiextensions.v1.CustomResourceDefinition.get(
                    self.child_name("existing-gateway-api-crds"),
                    f"gateways.{GATEWAY_API_GROUP}",
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        if args.install:
            namespace = owned_namespace(self, ISTIO_NAMESPACE)
            base = self._release(ISTIO_BASE_RELEASE, ISTIO_BASE, args.version, namespace)
            istiod = self._release(ISTIOD_RELEASE, ISTIOD, args.version, [base])
            self.crds = [base, *gateway_api]
            self.control_plane = [istiod, *gateway_api]
        else:
            istiod_read = k8s.apps.v1.Deployment.get(
                self.child_name("existing-istiod"),
                f"{ISTIO_NAMESPACE}/{ISTIOD_DEPLOYMENT}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            istiod_read.spec.apply(lambda spec: _warn_on_version_skew(spec, args.version))
            self.crds = list(gateway_api)
            self.control_plane = [istiod_read, *gateway_api]
        self.version = pulumi.Output.from_input(args.version)
        self.register_outputs({"version": self.version, "installed": args.install})

    def _release(self, release: str, chart: Chart, version: str, after: list[pulumi.Resource]) -> k8s.helm.v3.Release:
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
