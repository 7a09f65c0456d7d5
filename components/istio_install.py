"""IstioInstall: Istio from its official Helm charts, and the ingress gateway with our values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, namespace
from source_ip.facts import GATEWAY_API_CRDS_URL, ISTIO_BASE, ISTIO_GATEWAY, ISTIOD, Chart, gateway_selector_labels

ISTIO_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class IstioInstallArgs:
    version: str
    """Exact Istio release used for all three charts (they must match)."""
    gateway_name: str
    """Helm release name of the gateway; its pod labels `app`/`istio` derive from it."""
    gateway_namespace: str
    gateway_values: dict[str, Any]
    """Values for the istio/gateway chart, as built by `SourceIpPlan.gateway_values()`."""
    gateway_api_crds: bool = False
    gateway_depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What must exist before the gateway pods are scheduled (e.g. node labels, L2 announcements)."""


class IstioInstall(Component):
    """Creates istio-system, the `base` (CRDs) and `istiod` releases, then the gateway release.

    Releases have explicit names: a random suffix would change the gateway's `istio=` label and
    every Istio Gateway selecting it would match nothing. istiod comes before the gateway because
    the gateway pod's proxy is injected by istiod's webhook (image `auto`).
    """

    gateway_release: k8s.helm.v3.Release
    gateway_labels: dict[str, str]
    gateway_address: pulumi.Output[str | None]
    """External IP or hostname of the gateway's LoadBalancer Service, once assigned."""

    def __init__(self, name: str, args: IstioInstallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("IstioInstall", name, opts)
        namespaces = [namespace(self, ISTIO_NAMESPACE)]
        if args.gateway_namespace != ISTIO_NAMESPACE:
            namespaces.append(namespace(self, args.gateway_namespace))
        crds: list[pulumi.Resource] = []
        if args.gateway_api_crds:
            crds.append(k8s.yaml.v2.ConfigFile("gateway-api-crds", file=GATEWAY_API_CRDS_URL, opts=self.child()))

        base = self._release("istio-base", ISTIO_BASE, ISTIO_NAMESPACE, args.version, {}, [namespaces[0], *crds])
        istiod = self._release("istiod", ISTIOD, ISTIO_NAMESPACE, args.version, {}, [base])
        self.gateway_release = self._release(
            args.gateway_name,
            ISTIO_GATEWAY,
            args.gateway_namespace,
            args.version,
            args.gateway_values,
            [istiod, *namespaces, *args.gateway_depends_on],
        )
        self.gateway_labels = gateway_selector_labels(args.gateway_name)
        self.gateway_address = self._gateway_address()
        self.register_outputs(
            {"gatewayAddress": self.gateway_address, "gatewayLabels": self.gateway_labels, "istioVersion": args.version}
        )

    def _release(
        self, release: str, chart: Chart, ns: str, version: str, values: dict[str, Any], after: list[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            release,
            k8s.helm.v3.ReleaseArgs(
                name=release,
                chart=chart.chart,
                version=version,
                namespace=ns,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                values=values,
            ),
            opts=self.child(depends_on=after),
        )

    def _gateway_address(self) -> pulumi.Output[str | None]:
        """Read the Service the chart created. Its id comes from the release's status, which is
        unknown in a first preview, so the read waits for the release instead of failing."""
        service_id = self.gateway_release.status.apply(lambda s: f"{s.namespace}/{s.name}")
        service = k8s.core.v1.Service.get("gateway-service", service_id, opts=pulumi.ResourceOptions(parent=self))
        return service.status.apply(_ingress_address)


def _ingress_address(status: Any) -> str | None:
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return (ingress[0].ip or ingress[0].hostname) if ingress else None
