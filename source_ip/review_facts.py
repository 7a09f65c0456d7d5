"""What a load-balancer controller does when a live gateway's Service changes: the facts the change review
(tools.compare) names, each read in the controller's code at the version given in its `source`.

Only AWS is covered: aws-load-balancer-controller (platform aws-nlb) and cloud-provider-aws (platform
aws). On every other platform a changed annotation or platform is still a risk, but the review says that
what the controller does with it is not known here.
"""

from __future__ import annotations

from dataclasses import dataclass

AWS_LBC = "kubernetes-sigs/aws-load-balancer-controller (225f4456, v3.5.0+)"
CLOUD_PROVIDER_AWS = "kubernetes/cloud-provider-aws (63ec440c, v1.34.0+)"
CLOUD_PROVIDER = "kubernetes/cloud-provider v0.36.0 (cloud-provider-aws 63ec440c's go.mod)"

LBC = "aws-load-balancer-controller"
CPA = "cloud-provider-aws"

ANNOTATION_PREFIXES = ("service.beta.kubernetes.io/", "service.kubernetes.io/")
"""aws-load-balancer-controller reads its Service annotations under both prefixes (pkg/annotations)."""
LBC_CLASS = "service.k8s.aws/nlb"
"""The loadBalancerClass aws-load-balancer-controller serves by default (pkg/config/service_config.go
defaultLoadBalancerClass)."""
LBC_LB_TYPES = ("external", "nlb-ip")
"""aws-load-balancer-type values cloud-provider-aws leaves to another controller (aws_loadbalancer.go
isLBExternal) and aws-load-balancer-controller takes (pkg/service/service_utils.go
checkAWSLoadBalancerTypeAnnotation: nlb-ip, or external with nlb-target-type ip or instance)."""
LBC_TARGET_TYPES = ("ip", "instance")


@dataclass(frozen=True)
class Fact:
    text: str
    """What the controller does, as a clause the review prints after what changed."""
    source: str


SCHEME_REPLACES = Fact(
    "aws-load-balancer-controller replaces the NLB: an NLB whose scheme differs from the model is deleted "
    "first, then a new one is created, so the gateway has no load balancer in between and gets a new "
    "address (DNS name)",
    f"{AWS_LBC} pkg/deploy/elbv2/load_balancer_synthesizer.go (isSDKLoadBalancerRequiresReplacement: Type "
    "or Scheme differ; Synthesize deletes the unmatched NLB before creating the new one)",
)
SCHEME_KEPT = Fact(
    "without an explicit scheme aws-load-balancer-controller keeps the live NLB's scheme, so nothing is "
    "replaced",
    f"{AWS_LBC} pkg/service/model_build_load_balancer.go (buildLoadBalancerScheme: the annotation, else "
    "the legacy aws-load-balancer-internal, else the existing NLB's scheme, else the controller default)",
)
SCHEME_DEFAULT = "internal"
"""The scheme aws-load-balancer-controller gives a new NLB without the annotation, unless it runs with
another --default-load-balancer-scheme (pkg/config/controller_config.go)."""
TARGET_TYPE_REPLACES = Fact(
    "aws-load-balancer-controller replaces the NLB's target group: it creates a new one, points the "
    "listener at it and deletes the old one afterwards; the NLB and its address stay, and the gateway "
    "pods are registered in the new group anew (its health checks first)",
    f"{AWS_LBC} pkg/deploy/elbv2/target_group_synthesizer.go (isSDKTargetGroupRequiresReplacement: "
    "TargetType differs; unmatched groups are deleted in PostSynthesize)",
)
CLB_SCHEME_NOT_SYNCED = Fact(
    "cloud-provider-aws sets a Classic LB's scheme only when it creates it, so the live Classic LB keeps "
    "its old scheme: the change does nothing until the load balancer is recreated",
    f"{CLOUD_PROVIDER_AWS} pkg/providers/v1/aws_loadbalancer.go (ensureLoadBalancer: Scheme only in "
    'the create request; an existing LB: "TODO: Sync internal vs non-internal")',
)
CLB_TO_LBC = Fact(
    "cloud-provider-aws leaves the Service to another controller and neither updates nor deletes the "
    "Classic LB, which stays behind (delete it by hand once clients have moved); "
    "aws-load-balancer-controller creates a new NLB with a new address (DNS name)",
    f"{CLOUD_PROVIDER_AWS} pkg/providers/v1/aws.go (EnsureLoadBalancer returns ImplementedElsewhere and "
    "EnsureLoadBalancerDeleted returns nil for aws-load-balancer-type external or nlb-ip); "
    f"{CLOUD_PROVIDER} controllers/service/controller.go (syncLoadBalancerIfNeeded: ImplementedElsewhere "
    "means do nothing)",
)
LBC_TO_CLB = Fact(
    "aws-load-balancer-controller no longer serves the Service and deletes its NLB, and cloud-provider-aws "
    "creates a Classic LB with a new address (DNS name): clients of the old name are refused from the "
    "moment the NLB is gone",
    f"{AWS_LBC} pkg/service/service_utils.go (IsServiceSupported), controllers/service/"
    "service_controller.go (reconcile: no model -> cleanupLoadBalancerResources deletes the NLB); "
    f"{CLOUD_PROVIDER_AWS} pkg/providers/v1/aws.go (EnsureLoadBalancer)",
)
HANDOVERS: dict[tuple[str, str], Fact] = {(CPA, LBC): CLB_TO_LBC, (LBC, CPA): LBC_TO_CLB}
"""(controller before, controller after) -> what happens to the load balancer."""
CLASS_CHANGE = Fact(
    "a Service with a loadBalancerClass is left to that class's controller (the cloud provider's own "
    "controller skips it), so another controller takes the gateway: the old load balancer is deleted or "
    "left behind by its controller and a new one with a new address is created",
    f"{CLOUD_PROVIDER} controllers/service/controller.go (wantsLoadBalancer: false when "
    f"spec.loadBalancerClass is set); {AWS_LBC} pkg/service/service_utils.go (IsServiceSupported: only "
    f"its own class, {LBC_CLASS})",
)
