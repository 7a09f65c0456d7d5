"""`python -m tools.render`: what each stack deploys, byte-identical, nothing written on a bad config."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from source_ip.config import ConfigError, parse_config
from tests.conftest import STACKS, raw
from tools import render
from tools.program import ROOT

FILES = {
    "manifests.yaml",
    "patches.yaml",
    "releases.yaml",
    "graph.json",
    "graph.mmd",
    "README.md",
    ".tools-render",
}


def rendered(stack: str, out: Path) -> dict[str, str]:
    assert render.main(["--stack", stack, "--out", str(out)]) == 0
    return {p.name: p.read_text() for p in out.iterdir()}


def gateway_release(files: dict[str, str]) -> dict:
    [release] = [r for r in yaml.safe_load(files["releases.yaml"]) if r["chart"] == "gateway"]
    return release


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_renders_identically_twice_into_complete_objects_and_releases(
    stack: str, tmp_path: Path
) -> None:
    files, second = rendered(stack, tmp_path / "a"), rendered(stack, tmp_path / "b")
    assert set(files) == FILES
    assert files == second
    for obj in yaml.safe_load_all(files["manifests.yaml"]):
        assert {"apiVersion", "kind", "metadata"} <= set(obj) and obj["metadata"]["name"]
        if obj["kind"] not in ("Namespace", "Node", "ClusterIssuer"):
            assert obj["metadata"]["namespace"], obj
    for release in yaml.safe_load(files["releases.yaml"]):
        assert set(release) == {"name", "namespace", "chart", "version", "repository", "values"}


def test_releases_are_in_install_order(tmp_path: Path) -> None:
    names = [r["name"] for r in yaml.safe_load(rendered("dev", tmp_path)["releases.yaml"])]
    assert names.index("istio-base") < names.index("istiod") < names.index("istio-ingressgateway")
    assert names.index("metallb") < names.index("istio-ingressgateway")


def test_vngcloud_render_carries_seed_000(tmp_path: Path) -> None:
    values = gateway_release(rendered("vngcloud", tmp_path))["values"]
    assert values["service"]["annotations"]["vks.vngcloud.vn/enable-proxy-protocol"] == "*"
    assert json.loads(values["podAnnotations"]["proxy.istio.io/config"]) == {
        "gatewayTopology": {"proxyProtocol": {}}
    }


def test_metallb_render_carries_seed_002(tmp_path: Path) -> None:
    files = rendered("metallb", tmp_path)
    values = gateway_release(files)["values"]
    patches = list(yaml.safe_load_all(files["patches.yaml"]))
    nodes = {p["metadata"]["name"]: p["metadata"]["labels"] for p in patches if p["kind"] == "Node"}
    [l2] = [p for p in patches if p["kind"] == "L2Advertisement"]
    assert nodes == {n: values["nodeSelector"] for n in ("demo-dev-worker-03", "demo-dev-worker-04")}
    assert l2["spec"]["nodeSelectors"] == [{"matchLabels": {"loadbalancerIPs.metallb.io": "arp"}}]
    assert values["service"]["externalTrafficPolicy"] == "Local"


def test_graph_has_parents_dependencies_and_a_mermaid_picture(tmp_path: Path) -> None:
    files = rendered("vngcloud", tmp_path)
    graph = json.loads(files["graph.json"])
    nodes = {n["id"]: n for n in graph["resources"]}
    gateway = nodes["kubernetes:helm.sh/v3:Release::istio-ingressgateway-release"]
    assert gateway["parent"] == "istio-source-ip:index:IngressGateway::istio-ingressgateway"
    assert "kubernetes:helm.sh/v3:Release::istio-istiod" in gateway["dependsOn"]
    assert graph["longestAwaitedChain"] == [
        "kubernetes:helm.sh/v3:Release::istio-base",
        "kubernetes:helm.sh/v3:Release::istio-istiod",
        "kubernetes:apps/v1:Deployment::echo-deployment",
    ]
    mermaid = files["graph.mmd"]
    assert (
        mermaid.startswith("flowchart TD\n") and "subgraph" in mermaid and "Release istio-istiod" in mermaid
    )


def test_dependencies_through_output_inputs_are_recorded_and_drawn_dashed(tmp_path: Path) -> None:
    import pulumi
    import pulumi_kubernetes as k8s

    from tools.program import run_body

    def body() -> None:
        source = k8s.core.v1.ConfigMap("source", metadata={"name": "a"})
        k8s.core.v1.ConfigMap("reader", metadata={"name": "b"}, data={"from": source.metadata["name"]})
        k8s.core.v1.ConfigMap(
            "waiter", metadata={"name": "c"}, opts=pulumi.ResourceOptions(depends_on=[source])
        )

    files = render.render(run_body(body))
    nodes = {n["name"]: n for n in json.loads(files["graph.json"])["resources"]}
    assert nodes["reader"]["inputDependsOn"] == ["kubernetes:core/v1:ConfigMap::source"]
    assert nodes["reader"]["dependsOn"] == []
    assert nodes["waiter"]["dependsOn"] == ["kubernetes:core/v1:ConfigMap::source"]
    assert nodes["waiter"]["inputDependsOn"] == []
    assert "n0 -.-> n1" in files["graph.mmd"] and "n0 --> n2" in files["graph.mmd"]


def test_bad_config_exits_2_with_the_programs_message_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "Pulumi.broken.yaml"
    config.write_text(
        "config:\n  istio-source-ip:platform: vngcloud\n  istio-source-ip:gateway:\n    replcas: 3\n"
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--config", str(config), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    with pytest.raises(ConfigError) as expected:
        parse_config(raw("vngcloud", gateway={"replcas": 3}))
    assert result.stderr == f"error: {expected.value}\n"
    assert not out.exists()


def test_missing_stack_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["--stack", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "Pulumi.nope.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (
            "  istio-source-ip:gateway: {replicas: 3}\n  istio-source-ip:gateways: [{name: a}]\n",
            "istio-source-ip:gateways",
        ),
        ("  istio-source-ip:gateways: [{name: a}, {name: a}]\n", "istio-source-ip:gateways[1].name"),
        ("  istio-source-ip:gateways: [{name: a, replcas: 2}]\n", "istio-source-ip:gateways[0].replcas"),
        (
            "  istio-source-ip:gateways: [{name: a, sourceIp: local}]\n",
            "istio-source-ip:gateways[0].sourceIp",
        ),
        ("  istio-source-ip:istio: {install: maybe}\n", "istio-source-ip:istio.install"),
    ],
)
def test_bad_new_keys_exit_2_naming_the_key_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, key: str
) -> None:
    stack_file = tmp_path / "Pulumi.bad.yaml"
    stack_file.write_text("config:\n  istio-source-ip:platform: vngcloud\n" + config)
    out = tmp_path / "out"
    assert render.main(["--config", str(stack_file), "--out", str(out)]) == 2
    assert f"\n  {key}: " in capsys.readouterr().err
    assert not out.exists()


# --- Which folders the render writes into ---------------------------------------------------------


def render_into(out: Path | str, capsys: pytest.CaptureFixture[str], stack: str = "gcp") -> tuple[int, str]:
    code = render.main(["--stack", stack, "--out", str(out)])
    return code, capsys.readouterr().err


def test_a_folder_holding_a_users_file_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.md").write_text("my notes")
    code, err = render_into(out, capsys)
    assert code == 2 and "Traceback" not in err
    assert f"error: --out {out} is not empty and not an earlier render (it holds 'notes.md')" in err
    assert [p.name for p in out.iterdir()] == ["notes.md"] and (out / "notes.md").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # nothing staged beside it either


def test_an_earlier_render_is_replaced_with_its_charts_but_a_file_added_to_it_stops_the_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gcp"
    assert render_into(out, capsys, "vngcloud")[0] == 0
    (out / "charts").mkdir()
    (out / "charts" / "istiod.yaml").write_text("kind: Deployment\n")
    assert render_into(out, capsys)[0] == 0
    assert {p.name for p in out.iterdir()} == FILES and "stack `gcp`" in (out / "README.md").read_text()
    (out / "todo.txt").write_text("keep")
    code, err = render_into(out, capsys)
    assert code == 2 and "holds 'todo.txt', which the render did not write" in err
    assert (out / "todo.txt").read_text() == "keep"


def test_an_unmarked_render_from_before_the_mark_is_recognised_and_replaced_but_not_with_a_readme_of_yours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "old"
    out.mkdir()
    for name in ("manifests.yaml", "patches.yaml", "releases.yaml", "graph.json", "graph.mmd"):
        (out / name).write_text("from an older render\n")
    assert render_into(out, capsys)[0] == 0
    assert {p.name for p in out.iterdir()} == FILES and (out / ".tools-render").read_text().startswith(
        "tools.render"
    )


def test_the_folder_keeps_its_mode_and_a_new_one_gets_the_umask_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(0o755)
    assert render_into(out, capsys)[0] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert render_into(out, capsys)[0] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    umask = os.umask(0o022)
    try:
        assert render_into(tmp_path / "new", capsys)[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o755


def test_out_dot_renders_into_the_working_folder_or_refuses_it_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert render_into(".", capsys)[0] == 0
    assert {p.name for p in here.iterdir()} == FILES and Path.cwd() == here
    assert render_into(".", capsys)[0] == 0  # its own render, replaced file by file
    (here / "notes.md").write_text("x")
    code, err = render_into(".", capsys)
    assert code == 2 and "Traceback" not in err and "which the render did not write" in err
    monkeypatch.chdir(ROOT)
    code, err = render_into(".", capsys)
    assert code == 2 and "is not empty and not an earlier render" in err and "Traceback" not in err


@pytest.mark.parametrize("out", ["/", "/proc/version", "/proc/self/new-render", "x" * 5000])
def test_any_out_path_ends_in_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = render_into(out, capsys)
    assert code == 2 and err.count("error: ") == 1 and "Traceback" not in err


def test_help_lists_the_files_the_exit_codes_and_which_folders_it_writes_into(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert render.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in sorted(FILES):
        assert name in out
    assert (
        "0  rendered" in out
        and "2  bad arguments" in out
        and "3  rendered, and --compare found a risk" in out
    )
    assert (
        "Any other folder, or an earlier render holding a file the render did\n  not write, is refused" in out
    )


def test_the_gateway_service_read_waits_for_its_release_in_the_graph(tmp_path: Path) -> None:
    files = rendered("vngcloud", tmp_path)
    nodes = {n["id"]: n for n in json.loads(files["graph.json"])["resources"]}
    read = nodes["kubernetes:core/v1:Service::istio-ingressgateway-service"]
    assert read["reads"] == "istio-system/istio-ingressgateway"
    assert read["inputDependsOn"] == ["kubernetes:helm.sh/v3:Release::istio-ingressgateway-release"]
    short = {line.split("[")[0].strip(): line for line in files["graph.mmd"].splitlines() if '["' in line}
    release = next(k for k, v in short.items() if "Release istio-ingressgateway-release" in v)
    service = next(k for k, v in short.items() if "Service istio-ingressgateway-service" in v)
    assert f"  {release} -. id .-> {service}" in files["graph.mmd"].splitlines()
