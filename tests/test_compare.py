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


EVERYONE = ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("platform", ["vngcloud", "aws-nlb"])
def test_an_admit_all_allowlist_is_no_allowlist_in_the_migration_checks(platform: str) -> None:
    """source_ip/config/rules.py: an allowlist is refused at the accept-both step (it would block every client
    behind a TCP-terminating LB, or be spoofable through a client-written PROXY header on a passthrough one);
    [0.0.0.0/0, ::/0] refuses no one, so it is allowed there, and the step renders."""
    step1 = {"platform": platform, "sourceIp": "local", "gateway": {"proxyProtocolMigration": True}}
    assert compare.review(files(**step1), files(**step1, allowlist=EVERYONE)).risks == []
    with pytest.raises(ConfigError, match="allowlist"):
        files(**step1, allowlist=["192.0.2.0/24"])
