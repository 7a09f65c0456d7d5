"""EchoApp: go-httpbin behind a ClusterIP Service, its pods labelled for sidecar injection."""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, owned_namespace
from source_ip.facts import ALWAYS_PRESENT_NAMESPACES, ECHO_IMAGE, ECHO_PORT, SIDECAR_INJECT_POD_LABEL

SERVICE_NAME = "clusterip"
SERVICE_PORT = 80
APP_LABELS: dict[str, str] = {"app": "echo-server"}


class EchoAppArgs(TypedDict):
    """Inputs of the echo app."""

    namespace: pulumi.Input[str]
    """Namespace of the echo app."""
    create_namespace: NotRequired[bool]
    """Create the namespace (default: yes, unless it is one every cluster has, such as `default`)."""
    image: NotRequired[pulumi.Input[str]]
    """The go-httpbin image (default: the pinned one)."""
    replicas: NotRequired[pulumi.Input[int]]
    """Echo pods (default 1)."""


class EchoApp(Component):
    """The app that shows what address arrived (as in https://blog.annd.io.vn/blog/istio-preserve-source-ip/).

    go-httpbin answers `/headers` and `/ip`, so `curl -H 'Host: …' http://LB/headers` shows the
    X-Forwarded-For the gateway set. The sidecar is asked for with the pod label
    `sidecar.istio.io/inject: "true"`, not a namespace label, so no other workload of a shared
    namespace gets one on its next restart. Give it `depends_on` istiod (the injection webhook).
    """

    service_host: pulumi.Output[str]
    """Cluster DNS name of the echo Service, for the VirtualService destination."""
    service_name: pulumi.Output[str]
    """Name of the echo Service, for an HTTPRoute's backendRef."""
    service_port: pulumi.Output[int]
    """Port of the echo Service."""
    namespace: pulumi.Output[str]
    """Namespace of the echo app."""

    def __init__(self, name: str, args: EchoAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EchoApp", name, opts)
        namespace = args["namespace"]
        create = args.get(
            "create_namespace", not (isinstance(namespace, str) and namespace in ALWAYS_PRESENT_NAMESPACES)
        )
        after_ns = self.child(depends_on=owned_namespace(self, namespace) if create else [])
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": "echo-server",
            "namespace": namespace,
            "labels": APP_LABELS,
        }
        # Typed Kubernetes args (snake_case keys, translated by the SDK): a misspelt key fails `make lint`.
        spec: k8s.apps.v1.DeploymentSpecArgsDict = {
            "replicas": args.get("replicas", 1),
            "selector": {"match_labels": APP_LABELS},
            "template": {
                "metadata": {"labels": {**APP_LABELS, **SIDECAR_INJECT_POD_LABEL}},
                "spec": {
                    "containers": [
                        {
                            "name": "go-httpbin",
                            "image": args.get("image", ECHO_IMAGE),
                            "ports": [{"name": "http", "container_port": ECHO_PORT}],
                            "readiness_probe": {"http_get": {"path": "/status/200", "port": ECHO_PORT}},
                        }
                    ]
                },
            },
        }
        deployment = k8s.apps.v1.Deployment(
            self.child_name("deployment"), metadata=metadata, spec=spec, opts=after_ns
        )
        service_metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": SERVICE_NAME,
            "namespace": namespace,
            "labels": APP_LABELS,
        }
        service_spec: k8s.core.v1.ServiceSpecArgsDict = {
            "type": "ClusterIP",
            "selector": APP_LABELS,
            "ports": [{"name": "http", "port": SERVICE_PORT, "target_port": ECHO_PORT, "protocol": "TCP"}],
        }
        k8s.core.v1.Service(
            self.child_name("service"),
            metadata=service_metadata,
            spec=service_spec,
            opts=after_ns,
        )
        self.namespace = pulumi.Output.from_input(namespace)
        self.service_host = pulumi.Output.concat(SERVICE_NAME, ".", namespace, ".svc.cluster.local")
        self.service_name = pulumi.Output.from_input(
            SERVICE_NAME
        )  # not from the Service: routes need not wait for it
        self.service_port = pulumi.Output.from_input(SERVICE_PORT)
        self.register_outputs(
            {
                "serviceHost": self.service_host,
                "serviceName": self.service_name,
                "servicePort": self.service_port,
                "namespace": self.namespace,
                "deployment": deployment.metadata.apply(lambda m: m.name if m else None),
            }
        )
