"""MetalLB's names: annotations, label prefixes, the namespace's Pod Security."""

from __future__ import annotations

# --- MetalLB (metallb/metallb config/crd/bases) ----------------------------------------------
METALLB_POOL_ANNOTATION = "metallb.io/address-pool"
"""The `metallb.universe.tf/` prefix is deprecated since MetalLB 0.14.9."""
METALLB_POOL_ANNOTATIONS = (METALLB_POOL_ANNOTATION, "metallb.universe.tf/address-pool")
METALLB_IPS_ANNOTATIONS = ("metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs")
"""A fixed address: MetalLB takes it from whichever pool holds it (metallb/metallb internal/allocator)."""
RESERVED_LABEL_PREFIXES = ("kubernetes.io", "k8s.io")
"""Label prefixes (and their subdomains) reserved for Kubernetes' own components
(kubernetes.io docs, Labels and Selectors: "The kubernetes.io/ and k8s.io/ prefixes are reserved")."""
METALLB_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}
"""The speaker needs host networking and NET_RAW (metallb.io installation docs, Pod Security)."""
