"""Day 2 change review (`tools.render --compare`, tools.compare): what a change does to live traffic, from
two renders of the real program; the replacement rules are pulumi-kubernetes' (cited in tools/compare.py)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from source_ip.config import ConfigError
from tests.conftest import cached_run, raw
from tools import compare, render

AWS = {"platform": "aws-nlb"}  # a platform with both passthrough and PROXY protocol


def files(**keys: Any) -> dict[str, str]:
    return render.render(cached_run(raw(**keys)))


def risks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f.text for f in compare.review(files(**old), files(**new)).risks]


def test_an_unchanged_stack_prints_no_warning_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render.main(["--stack", "aws-nlb", "--out", str(tmp_path / "old")]) == 0
    capsys.readouterr()
    assert (
        render.main(
            ["--stack", "aws-nlb", "--out", str(tmp_path / "new"), "--compare", str(tmp_path / "old")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "RISK" not in out and "note" not in out and "no risk to live traffic found" in out


def test_the_compare_folder_may_be_the_output_folder_it_is_read_before_the_render_replaces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aws"
    assert render.main(["--stack", "aws-nlb", "--out", str(out)]) == 0
    assert render.main(["--stack", "aws-nlb", "--out", str(out), "--compare", str(out)]) == 0
    assert "no risk to live traffic found" in capsys.readouterr().out


def test_a_renamed_gateway_gets_a_new_load_balancer_address_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, config = tmp_path / "old", tmp_path / "Pulumi.renamed.yaml"
    assert render.main(["--stack", "aws-nlb", "--out", str(old)]) == 0
    original = yaml.safe_load((render.ROOT / "Pulumi.aws-nlb.yaml").read_text())
    original["config"].setdefault("istio-source-ip:gateway", {})["name"] = "edge"
    config.write_text(yaml.safe_dump(original))
    capsys.readouterr()
    code = render.main(["--config", str(config), "--out", str(tmp_path / "new"), "--compare", str(old)])
    out = capsys.readouterr().out
    assert code == 3
    assert (
        "RISK: gateway istio-system/istio-ingressgateway is removed and istio-system/edge is created: its "
        "load balancer (Service) is deleted and any new one gets a new address"
    ) in out


def test_switching_proxy_protocol_in_one_step_names_the_migration_key() -> None:
    [risk] = risks({**AWS, "sourceIp": "local"}, {**AWS, "sourceIp": "proxy-protocol"})
    assert risk.startswith(
        "gateway istio-system/istio-ingressgateway: PROXY protocol switched on in one step"
    )
    assert "gateway off -> strict, load balancer sends none -> sends the header" in risk
    assert "gateway.proxyProtocolMigration: true first" in risk
    [back] = risks({**AWS, "sourceIp": "proxy-protocol"}, {**AWS, "sourceIp": "local"})
    assert "PROXY protocol switched off in one step" in back


def test_the_three_migration_steps_raise_no_proxy_warning() -> None:
    steps: list[dict[str, Any]] = [
        {**AWS, "sourceIp": "local"},
        {**AWS, "sourceIp": "local", "gateway": {"proxyProtocolMigration": True}},
        {**AWS, "sourceIp": "proxy-protocol", "gateway": {"proxyProtocolMigration": True}},
        {**AWS, "sourceIp": "proxy-protocol"},
    ]
    for before, after in itertools.pairwise(steps):
        assert risks(before, after) == [], (before, after)


def test_switching_proxy_protocol_off_in_the_three_reverse_steps_raises_no_risk() -> None:
    """docs/migration.md, switching PROXY protocol off: accept both first, then stop the LB's header, then
    drop the flag; the allowlist must be empty (or admit everyone) at the step where the LB stops."""
    steps: list[dict[str, Any]] = [
        {**AWS, "sourceIp": "proxy-protocol"},
        {**AWS, "sourceIp": "proxy-protocol", "gateway": {"proxyProtocolMigration": True}},
        {**AWS, "sourceIp": "local", "gateway": {"proxyProtocolMigration": True}},
        {**AWS, "sourceIp": "local"},
    ]
    for before, after in itertools.pairwise(steps):
        assert risks(before, after) == [], (before, after)
    with pytest.raises(ConfigError, match="proxyProtocolMigration"):
        files(**steps[2], allowlist=["192.0.2.0/24"])
    assert files(**steps[2], allowlist=["0.0.0.0/0", "::/0"])


def test_a_routing_mode_switch_is_a_risk() -> None:
    found = risks(AWS, {**AWS, "routing": "gateway-api"})
    assert any(
        r.startswith("routing switches from istio to gateway-api: every gateway and its load balancer")
        for r in found
    )
    assert any(
        r.startswith("routing switches from gateway-api to istio")
        for r in risks({**AWS, "routing": "gateway-api"}, AWS)
    )


def test_removing_the_hpa_says_what_the_replicas_fall_back_to() -> None:
    [risk] = risks({**AWS, "gateway": {"replicas": 2, "maxReplicas": 4}}, {**AWS, "gateway": {"replicas": 2}})
    assert risk == (
        "gateway istio-system/istio-ingressgateway: the HorizontalPodAutoscaler is removed; the Deployment "
        "goes back to 2 replicas"
    )


def test_in_gateway_api_mode_a_dropped_hpa_or_pdb_key_stays_behind_in_the_cluster() -> None:
    old = files(**AWS, routing="gateway-api", gateway={"replicas": 2, "maxReplicas": 4})
    objects = list(yaml.safe_load_all(old["manifests.yaml"]))
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            obj["data"] = {
                k: v
                for k, v in obj["data"].items()
                if k not in ("horizontalPodAutoscaler", "podDisruptionBudget")
            }
    new = {**old, "manifests.yaml": yaml.safe_dump_all(objects)}
    found = [f.text for f in compare.review(old, new).risks]
    assert any(
        "HorizontalPodAutoscaler is removed; istiod never deletes what it applied, so the old HPA stays" in r
        for r in found
    )
    assert any("PodDisruptionBudget is removed; istiod never deletes what it applied" in r for r in found)


def test_a_changed_immutable_field_is_a_replacement_delete_then_create() -> None:
    old = files(**AWS)
    objects = list(yaml.safe_load_all(old["manifests.yaml"]))
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    deployment["spec"]["selector"] = {"matchLabels": {"app": "renamed"}}
    review = compare.review(old, {**old, "manifests.yaml": yaml.safe_dump_all(objects)})
    [risk] = review.risks
    assert risk.text.startswith(
        f"Deployment {deployment['metadata']['namespace']}/{deployment['metadata']['name']} is replaced"
    )
    assert (
        ".spec.selector changed, which pulumi-kubernetes cannot update; it deletes the object, then creates "
        "it again" in risk.text
    )


def test_a_folder_that_is_not_a_render_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes").mkdir()
    code = render.main(
        ["--stack", "aws-nlb", "--out", str(tmp_path / "new"), "--compare", str(tmp_path / "notes")]
    )
    assert code == 2 and "not a render (no graph.json" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert compare.main([str(tmp_path / "notes"), str(tmp_path / "notes")]) == 2


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "1.28.1",
            "1.30.3",
            "Istio 1.28.1 -> 1.30.3 in one step: Istio upgrades in place by one minor version",
        ),
        ("1.30.3", "1.29.4", "Istio 1.30.3 -> 1.29.4 is a downgrade"),
        ("1.29.4", "1.30.3", None),
        ("1.30.1", "1.30.3", None),
    ],
)
def test_an_istio_upgrade_by_more_than_one_minor_is_a_risk(old: str, new: str, expected: str | None) -> None:
    base = files(**AWS)

    def at(version: str) -> dict[str, str]:
        releases = yaml.safe_load(base["releases.yaml"])
        for release in releases:
            if release["chart"] in ("base", "istiod", "gateway"):
                release["version"] = version
        return {**base, "releases.yaml": yaml.safe_dump(releases)}

    found = [f.text for f in compare.review(at(old), at(new)).risks]
    if expected is None:
        assert found == []
    else:
        [risk] = found
        assert risk.startswith(expected), found


def test_removing_the_allowlist_is_a_risk() -> None:
    found = risks({**AWS, "allowlist": ["192.0.2.0/24"]}, AWS)
    assert found == [
        "AuthorizationPolicy istio-system/istio-ingressgateway-allowlist is deleted: what it allowed or "
        "denied no longer applies (an allowlist removed admits anyone)"
    ]


def test_a_changed_parameters_configmap_is_a_note_saying_istiod_leaves_the_gateway_alone_meanwhile() -> None:
    old = files(**AWS, routing="gateway-api", gateway={"replicas": 2})
    review = compare.review(old, files(**AWS, routing="gateway-api", gateway={"replicas": 3}))
    [note] = [f.text for f in review.findings if "ConfigMap" in f.text and not f.risk]
    assert note == (
        "ConfigMap istio-system/istio-ingressgateway-gateway-params is replaced, not updated: .data changed, "
        "which pulumi-kubernetes cannot update; it deletes the object, then creates it again (unless "
        "kubernetes:enableConfigMapMutable is true); it holds a Gateway's parameters: while it is missing, "
        "istiod applies nothing for the Gateway that names it (its Deployment and Service stay as they are) "
        "and renders again once the ConfigMap is back"
    )
    assert review.risks == []
    # A ConfigMap no Gateway names gets the replacement note without the istiod sentence.
    other = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "other", "namespace": "istio-system"},
    }

    def with_other(value: str) -> dict[str, str]:
        extra = yaml.safe_dump({**other, "data": {"k": value}})
        return {**old, "manifests.yaml": old["manifests.yaml"] + "---\n" + extra}

    changed = compare.review(with_other("1"), with_other("2")).findings
    [note] = [f.text for f in changed if "ConfigMap istio-system/other" in f.text]
    assert note.endswith("(unless kubernetes:enableConfigMapMutable is true)")


def test_the_generic_platforms_declaration_counts_as_the_load_balancer_sending_the_header() -> None:
    """Read as the policy pack reads it: istio-source-ip.io/lb-sends-proxy-protocol, or a per-port switch."""
    [risk] = risks(
        {"platform": "generic", "sourceIp": "local"}, {"platform": "generic", "sourceIp": "proxy-protocol"}
    )
    assert "(gateway off -> strict, load balancer sends none -> sends the header)" in risk


# --- A changed load balancer: annotations, loadBalancerClass, platform (source_ip/review_facts.py) ----------

SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
NLB = {"platform": "aws-nlb", "sourceIp": "proxy-protocol"}


def scheme(value: str) -> dict[str, Any]:
    return {**NLB, "gateway": {"serviceAnnotations": {SCHEME: value}}}


def test_switching_an_nlb_from_internet_facing_to_internal_replaces_it_off_the_internet() -> None:
    [risk] = risks(scheme("internet-facing"), scheme("internal"))
    assert risk.startswith(
        f"gateway istio-system/istio-ingressgateway: Service annotation {SCHEME} 'internet-facing' -> "
        "'internal' (scheme internet-facing -> internal): aws-load-balancer-controller replaces the NLB"
    )
    assert "gets a new address (DNS name)" in risk
    assert "clients on the internet can no longer reach the gateway" in risk
    assert "pkg/deploy/elbv2/load_balancer_synthesizer.go (isSDKLoadBalancerRequiresReplacement" in risk


def test_dropping_an_explicit_scheme_keeps_the_live_nlb_and_is_a_note() -> None:
    review = compare.review(files(**scheme("internet-facing")), files(**NLB))
    assert review.risks == []
    [note] = [f.text for f in review.findings]
    assert "keeps the live NLB's scheme, so nothing is replaced" in note
    assert "pkg/service/model_build_load_balancer.go (buildLoadBalancerScheme" in note


def test_switching_the_platform_between_nlb_and_classic_lb_says_what_happens_to_the_old_one() -> None:
    [risk] = risks(NLB, {"platform": "aws"})
    assert risk.startswith(
        "gateway istio-system/istio-ingressgateway: platform aws-nlb -> aws: aws-load-balancer-controller "
        "no longer serves the Service and deletes its NLB, and cloud-provider-aws creates a Classic LB "
        "with a new address"
    )
    [back] = risks({"platform": "aws"}, NLB)
    assert back.startswith(
        "gateway istio-system/istio-ingressgateway: platform aws -> aws-nlb: cloud-provider-aws"
    )
    assert "neither updates nor deletes the Classic LB, which stays behind" in back
    assert "controllers/service/controller.go (syncLoadBalancerIfNeeded" in back


def test_a_changed_target_type_replaces_the_target_group_and_keeps_the_address() -> None:
    target = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
    old = files(**NLB)
    releases = yaml.safe_load(old["releases.yaml"])
    [gateway] = [r for r in releases if r["chart"] == "gateway"]
    gateway["values"]["service"]["annotations"][target] = "instance"
    [risk] = [f.text for f in compare.review(old, {**old, "releases.yaml": yaml.safe_dump(releases)}).risks]
    assert f"Service annotation {target} 'ip' -> 'instance'" in risk
    assert "replaces the NLB's target group" in risk and "the NLB and its address stay" in risk


def test_an_annotation_without_facts_is_still_a_risk_that_says_so() -> None:
    internal = {"serviceAnnotations": {"networking.gke.io/load-balancer-type": "Internal"}}
    [risk] = risks({"platform": "gcp"}, {"platform": "gcp", "gateway": internal})
    assert risk.startswith(
        "gateway istio-system/istio-ingressgateway: Service annotation networking.gke.io/load-balancer-type "
        "unset -> 'Internal': the load balancer's controller reconfigures it, and what it does with this "
        "annotation is not in the review's facts"
    )


def test_a_changed_load_balancer_class_is_a_risk() -> None:
    old = files(**NLB)
    releases = yaml.safe_load(old["releases.yaml"])
    [gateway] = [r for r in releases if r["chart"] == "gateway"]
    gateway["values"]["service"]["loadBalancerClass"] = "service.k8s.aws/nlb"
    [risk] = [f.text for f in compare.review(old, {**old, "releases.yaml": yaml.safe_dump(releases)}).risks]
    assert risk.startswith(
        "gateway istio-system/istio-ingressgateway: spec.loadBalancerClass unset -> 'service.k8s.aws/nlb': "
        "a Service with a loadBalancerClass is left to that class's controller"
    )


# --- Who is refused from now on: an allowlist or a front proxy added to a live gateway ---------------------

EVERYONE = ["0.0.0.0/0", "::/0"]
PASSTHROUGH = {"platform": "aws-nlb", "sourceIp": "local"}


def test_adding_a_front_proxy_names_every_direct_peer_outside_its_ranges_as_refused() -> None:
    proxy = {"frontProxy": {"profile": "custom", "cidrs": ["198.51.100.0/24"]}}
    found = risks(PASSTHROUGH, {**PASSTHROUGH, "gateway": proxy})
    assert (
        "gateway istio-system/istio-ingressgateway: a front proxy is added, with a DENY on every direct peer "
        "outside its ranges (198.51.100.0/24): clients that connect to the load balancer directly, and any "
        "other peer outside those ranges, are refused from now on; send them through the proxy (DNS) before "
        "this update"
    ) in found


def test_adding_or_narrowing_an_allowlist_is_a_risk_and_an_admit_all_one_is_no_allowlist() -> None:
    narrow = {**NLB, "allowlist": ["192.0.2.0/24"]}
    assert risks(NLB, narrow) == [
        "gateway istio-system/istio-ingressgateway: an allowlist is added (192.0.2.0/24): every client "
        "outside it is refused from now on"
    ]
    assert risks(NLB, {**NLB, "allowlist": EVERYONE}) == []
    assert risks(NLB, {**NLB, "allowlist": ["::/0", "0.0.0.0/0"]}) == []
    assert risks(narrow, {**NLB, "allowlist": EVERYONE}) == []
    [risk] = risks({**NLB, "allowlist": EVERYONE}, narrow)
    assert risk.endswith("(it was [0.0.0.0/0, ::/0], which admits everyone)")
    # Removing an admit-all allowlist refuses no one: a note, not the risk of a removed allowlist.
    review = compare.review(files(**NLB, allowlist=EVERYONE), files(**NLB))
    assert review.risks == []
    assert [f.text for f in review.findings] == [
        "AuthorizationPolicy istio-system/istio-ingressgateway-allowlist is deleted: it admitted everyone "
        "(0.0.0.0/0 and ::/0), so no one is refused by its removal"
    ]
    # One family alone is not everyone: [0.0.0.0/0] refuses every IPv6 client.
    [v4] = risks(NLB, {**NLB, "allowlist": ["0.0.0.0/0"]})
    assert v4.startswith("gateway istio-system/istio-ingressgateway: an allowlist is added (0.0.0.0/0)")


def test_a_narrowed_allowlist_names_the_ranges_it_no_longer_admits() -> None:
    old = {**NLB, "allowlist": ["192.0.2.0/24", "198.51.100.0/24"]}
    assert risks(old, {**NLB, "allowlist": ["192.0.0.0/16"]}) == [
        "gateway istio-system/istio-ingressgateway: the allowlist no longer admits 198.51.100.0/24: clients "
        "there are refused from now on"
    ]
    assert risks(old, {**NLB, "allowlist": ["192.0.0.0/16", "198.51.100.0/24"]}) == []


@pytest.mark.parametrize("platform", ["vngcloud", "aws-nlb"])
def test_an_admit_all_allowlist_is_no_allowlist_in_the_migration_checks(platform: str) -> None:
    """source_ip/config/rules.py: an allowlist is refused at the accept-both step (it would block every client
    behind a TCP-terminating LB, or be spoofable through a client-written PROXY header on a passthrough one);
    [0.0.0.0/0, ::/0] refuses no one, so it is allowed there, and the step renders."""
    step1 = {"platform": platform, "sourceIp": "local", "gateway": {"proxyProtocolMigration": True}}
    assert compare.review(files(**step1), files(**step1, allowlist=EVERYONE)).risks == []
    with pytest.raises(ConfigError, match="allowlist"):
        files(**step1, allowlist=["192.0.2.0/24"])


# --- Bad input: exit 2 and a sentence, never a traceback ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        (
            "graph.json",
            '{"resources": [{"id": 1}]}',
            "graph.json: a resource without a string id, type and name",
        ),
        ("graph.json", '{"resources": {}}', "graph.json has no list of resources"),
        ("releases.yaml", "- 3\n", "releases.yaml: a release without a string name, namespace and chart"),
        ("releases.yaml", "- {chart: gateway}\n", "releases.yaml: a release without a string name"),
        ("releases.yaml", "{a: 1}\n", "releases.yaml is not a list of releases"),
        (
            "manifests.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: 3\n",
            "manifests.yaml: an object without",
        ),
        (
            "manifests.yaml",
            "kind: Gateway\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {}\n",
            "manifests.yaml: an object without apiVersion, kind and metadata.name",
        ),
        ("manifests.yaml", "- a list\n", "manifests.yaml: an object without apiVersion"),
    ],
)
def test_a_folder_whose_files_are_not_a_render_exits_2_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, said: str
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        folder.mkdir()
        for file, content in files(**NLB).items():
            (folder / file).write_text(content)
    (bad / name).write_text(text)
    capsys.readouterr()
    assert compare.main([str(good), str(bad)]) == 2
    assert compare.main([str(bad), str(good)]) == 2
    assert render.main(["--stack", "aws-nlb", "--out", str(tmp_path / "new"), "--compare", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a render ({said}" in err and "Traceback" not in err


# --- `make compare`: the working stack file against the committed one, both rendered fresh -----------------


@pytest.fixture
def checkout(tmp_path: Path) -> Any:
    """A checkout of this repository's HEAD (a temporary `git worktree`, removed afterwards), where a test
    may edit a stack file as a user would."""
    import subprocess

    tree = tmp_path / "checkout"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), "HEAD"],
        cwd=render.ROOT,
        capture_output=True,
        check=False,
    )
    if added.returncode != 0:
        pytest.skip(f"not a git checkout: {added.stderr.decode()[:200]}")
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=render.ROOT, check=False)


def test_make_compare_reviews_the_edited_stack_file_against_the_committed_one_whatever_was_rendered(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = checkout / "Pulumi.aws-nlb.yaml"
    edited = stack.read_text().replace(f"{SCHEME}: internet-facing", f"{SCHEME}: internal")
    assert edited != stack.read_text()
    stack.write_text(edited)
    # A render of the edit in render/ (what `make render` leaves) is not what the review compares with.
    assert render.main(["--config", str(stack), "--out", str(checkout / "render" / "aws-nlb")]) == 0
    capsys.readouterr()
    assert compare.main(["--stack", "aws-nlb"], root=checkout) == 3
    out = capsys.readouterr().out
    assert out.startswith(
        "change review: Pulumi.aws-nlb.yaml at HEAD (deployed) -> Pulumi.aws-nlb.yaml (working tree)"
    )
    assert "(scheme internet-facing -> internal): aws-load-balancer-controller replaces the NLB" in out
    # BASE=dir (an earlier render) still works: here the render of the edit itself, so no change.
    assert (
        compare.main(["--stack", "aws-nlb", "--base", str(checkout / "render" / "aws-nlb")], root=checkout)
        == 0
    )


def test_make_compare_refuses_a_ref_or_a_stack_it_cannot_use_with_exit_2(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (checkout / "Pulumi.mine.yaml").write_text((checkout / "Pulumi.aws-nlb.yaml").read_text())
    capsys.readouterr()
    assert compare.main(["--stack", "mine"], root=checkout) == 2
    assert (
        "--base-ref (make: BASE_REF) 'HEAD': Pulumi.mine.yaml is not committed at HEAD"
        in capsys.readouterr().err
    )
    assert compare.main(["--stack", "aws-nlb", "--base-ref", "no-such-ref"], root=checkout) == 2
    assert "--base-ref (make: BASE_REF) 'no-such-ref': not a commit" in capsys.readouterr().err
    assert compare.main(["--stack", "aws-nlb", "--base", str(checkout / "docs")], root=checkout) == 2
    assert "docs: not a render (no graph.json" in capsys.readouterr().err


def test_the_make_compare_target_passes_base_or_base_ref_and_help_gives_the_exit_codes() -> None:
    from tests.conftest import make

    def command(*args: str) -> list[str]:
        return make(
            "-n", "-o", "venv", "-o", "known-stack", "compare", "STACK=aws-nlb", *args
        ).stdout.splitlines()

    tool = ".venv/bin/python -m tools.compare --stack aws-nlb"
    assert command() == [tool]
    assert command("BASE_REF=main") == [f"{tool} --base-ref main"]
    assert command("BASE=render/aws-nlb") == [f"{tool} --base render/aws-nlb"]
    [line] = [x for x in make("help").stdout.splitlines() if x.startswith("make compare")]
    assert "git HEAD" in line and "exit 0 no risk, 3 risks, 2 bad input" in line
