"""EchoApp: go-httpbin behind a ClusterIP Service, its pods labelled for sidecar injection."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, owned_namespace
from source_ip.facts import ECHO_IMAGE, ECHO_PORT, SIDECAR_INJECT_POD_LABEL

SERVICE_NAME = "clusterip"
SERVICE_PORT = 80
APP_LABELS: dict[str, str] = {"app": "echo-server"}


@dataclass(frozen=True)
class EchoAppArgs:
    namespace: str
    image: str = ECHO_IMAGE
    replicas: int = 1


class EchoApp(Component):
    """The app that shows what address arrived (seed 000, step 2).

    go-httpbin answers `/headers` and `/ip`, so `curl -H 'Host: …' http://LB/headers` shows the
    X-Forwarded-For the gateway set. The sidecar is asked for with the pod label
    `sidecar.istio.io/inject: "true"`, not a namespace label, so no other workload of a shared
    namespace gets one on its next restart. Give it `depends_on` istiod (the injection webhook).
    """

    service_host: str
    """Cluster DNS name of the echo Service, for the VirtualService destination."""
    service_port: int

    def __init__(self, name: str, args: EchoAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EchoApp", name, opts)
        after_ns = self.child(depends_on=owned_namespace(self, args.namespace))
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {"name": "echo-server", "namespace": args.namespace, "labels": APP_LABELS}
        # Typed Kubernetes args (snake_case keys, translated by the SDK): a misspelt key fails `make lint`.
        spec: k8s.apps.v1.DeploymentSpecArgsDict = {
            "replicas": args.replicas,
            "selector": {"match_labels": APP_LABELS},
            "template": {
                "metadata": {"labels": {**APP_LABELS, **SIDECAR_INJECT_POD_LABEL}},
                "spec": {
                    "containers": [
                        {
                            "name": "go-httpbin",
                            "image": args.image,
                            "ports": [{"name": "http", "container_port": ECHO_PORT}],
                            "readiness_probe": {"http_get": {"path": "/status/200", "port": ECHO_PORT}},
                        }
                    ]
                },
            },
        }
        deployment = k8s.apps.v1.Deployment(self.child_name("deployment"), metadata=metadata, spec=spec, opts=after_ns)
        service_metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": SERVICE_NAME,
            "namespace": args.namespace,
            "labels": APP_LABELS,
        }
        service_spec: k8s.core.v1.ServiceSpecArgsDict = {
            "type": "ClusterIP",
            "selector": APP_LABELS,
            "ports": [{"name": "http", "port": SERVICE_PORT, "target_port": ECHO_PORT, "protocol": "TCP"}],
        }
        service = k8s.core.v1.Service(
            self.child_name("service"),
            metadata=service_metadata,
            spec=service_spec,
            opts=after_ns,
        )
        self.service_host = f"{SERVICE_NAME}.{args.namespace}.svc.cluster.local"
        self.service_name = SERVICE_NAME
        self.namespace = args.namespace
        self.service_port = SERVICE_PORT
        self.register_outputs(
            {"deployment": deployment.metadata["name"], "service": service.metadata["name"], "serviceHost": self.service_host}
        )
