"""Stack files are read as the Pulumi CLI reads them (Go yaml.v3), and no file or argument crashes the render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import render
from tools.stackfile import StackFileError, parse_stack_file

NS = "istio-source-ip"


def parsed(text: str) -> dict[str, str]:
    return parse_stack_file(text.encode(), "Pulumi.t.yaml")


def refused(data: bytes | str) -> str:
    with pytest.raises(StackFileError) as caught:
        parse_stack_file(data.encode() if isinstance(data, str) else data, "Pulumi.t.yaml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("value", "top_level", "nested"),
    [
        ("010", "010", 8),  # top level: the literal text; nested: Go's base-0 ParseInt reads octal
        ("'010'", "010", "010"),
        ("yes", "yes", "yes"),  # YAML 1.1 booleans are strings to yaml.v3
        ("on", "on", "on"),
        ("True", "True", True),
        ("1:30", "1:30", "1:30"),  # no sexagesimal
        ("0x1f", "0x1f", 31),
        ("0o17", "0o17", 15),
        ("1_000", "1_000", 1000),
        ("2001-12-14", "2001-12-14", "2001-12-14"),  # timestamps stay strings in interface{}
        ("~", "", None),
        ("1.5e3", "1.5e3", 1500.0),
    ],
)
def test_scalars_resolve_as_the_cli_resolves_them(value: str, top_level: str, nested: object) -> None:
    raw = parsed(f"config:\n  {NS}:top: {value}\n  {NS}:obj:\n    v: {value}\n")
    assert raw[f"{NS}:top"] == top_level
    assert json.loads(raw[f"{NS}:obj"]) == {"v": nested}


def test_keys_without_a_namespace_are_the_projects_and_others_are_kept() -> None:
    raw = parsed("config:\n  platform: gcp\n  kubernetes:context: kind-x\n")
    assert raw == {f"{NS}:platform": "gcp", "kubernetes:context": "kind-x"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"config:\n  {NS}:platform: gcp\n  {NS}:platform: aws\n", "key 'istio-source-ip:platform' appears twice at config"),
        (f"config:\n  {NS}:gateway:\n    replicas: 2\n    replicas: 3\n", "key 'replicas' appears twice"),
        (f"config:\n  {NS}:platform: gcp\n---\nconfig: {{}}\n", "holds 2 YAML documents; a stack file is one"),
        ("config: [a, b]\n", "`config:` must be a mapping"),
        ("- config\n", "the top level must be a mapping"),
        ("config:\n  a:b:c: 1\n", "config key 'a:b:c' is not namespace:key"),
        ("config:\n  1: x\n", "key '1' at config is not a string"),
        ("config:\n  x: [\n", "not valid YAML"),
        ("config:\n  x: &a [*a]\n", "too large or too deeply nested"),
        ("a: &x [1]\nconfig:\n  <<: *x\n", "merge keys"),
        (f"config:\n  {NS}:gateway:\n    a: .inf\n", "holds .inf or .nan"),
        ("config:\n  x: " + "[" * 100 + "]" * 100 + "\n", "too large or too deeply nested"),
    ],
)
def test_files_the_cli_would_not_read_are_refused_with_the_reason(text: str, message: str) -> None:
    assert message in refused(text)


def test_encodings() -> None:
    assert "not UTF-8" in refused("config:\n  x: caf\xe9\n".encode("latin-1"))
    assert "NUL character" in refused(b"config:\n  x: a\x00b\n")
    assert parse_stack_file("config:\n  platform: gcp\n".encode("utf-16")) == {f"{NS}:platform": "gcp"}
    assert parse_stack_file(b"\xef\xbb\xbfconfig:\n  platform: gcp\n") == {f"{NS}:platform": "gcp"}
    assert parse_stack_file(b"") == {} and parse_stack_file(b"# only a comment\n") == {}


def test_secrets_are_never_printed_and_only_ours_stop_the_render() -> None:
    ciphertext = "v1:c2VjcmV0LXRva2VuLWRvLW5vdC1wcmludA=="
    message = refused(f"config:\n  {NS}:echo:\n    secure: {ciphertext}\n")
    assert "istio-source-ip:echo is a secret (secure:)" in message and ciphertext not in message
    raw = parsed(f"config:\n  {NS}:platform: gcp\n  kubernetes:kubeconfig:\n    secure: {ciphertext}\n")
    assert raw == {f"{NS}:platform": "gcp"}


# --- The render's arguments and files -----------------------------------------------------------------


def render_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = render.main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--stack", "", "--out", "x"],
        ["--stack", "../etc/passwd", "--out", "x"],
        ["--stack", "gcp"],
        ["--bogus"],
    ],
)
def test_bad_arguments_exit_2_with_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]) -> None:
    code, err = render_main(capsys, *[a if a != "x" else str(tmp_path / "x") for a in args])
    assert code == 2 and "error:" in err and "Traceback" not in err


def test_out_naming_a_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text("keep me")
    code, err = render_main(capsys, "--stack", "gcp", "--out", str(out))
    assert code == 2 and "is a file; name a directory" in err and out.read_text() == "keep me"


def test_a_failed_render_leaves_the_previous_output_untouched(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render_main(capsys, "--stack", "gcp", "--out", str(out))[0] == 0
    before = {p.name: p.read_text() for p in out.iterdir()}
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  istio-source-ip:platform: gcp\n  istio-source-ip:platform: aws\n")
    code, err = render_main(capsys, "--config", str(broken), "--out", str(out))
    assert code == 2 and "appears twice" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_pulumi_config_in_the_environment_does_not_leak_into_a_render(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{NS}:accessLogs": "true", f"{NS}:allowlist": '["10.0.0.0/8"]'}))
    assert render_main(capsys, "--stack", "vngcloud", "--out", str(tmp_path / "out"))[0] == 0
    kinds = (tmp_path / "out" / "manifests.yaml").read_text()
    assert "kind: Telemetry" not in kinds and "kind: AuthorizationPolicy" not in kinds
