"""Stack files are read as the Pulumi CLI reads them (Go yaml.v3), and no file or argument crashes the
render."""

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
        ("00", "00", 0),  # Go's base-0 ParseInt reads a leading 0 as octal; nested 010 is refused (below)
        ("07", "07", 7),
        ("089", "089", 89.0),  # not octal: ParseInt fails, then the float pattern matches
        ("-0x10", "-0x10", -16),
        ("18446744073709551615", "18446744073709551615", 2**64 - 1),  # ParseUint
        ("+18446744073709551615", "+18446744073709551615", 1.8446744073709552e19),  # no sign for ParseUint
        ("1" * 400, "1" * 400, "1" * 400),  # past int64/uint64 and float64: a string
        ("1" * 4400, "1" * 4400, "1" * 4400),  # past Python's 4300-digit int() limit too
        (".5", ".5", 0.5),
        ("! 0x1f", "0x1f", 31),  # the non-specific tag resolves like no tag in yaml.v3 (parser.go node())
        ("!!float 1", "1", 1.0),
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


@pytest.mark.parametrize(
    ("value", "octal", "decimal"),
    [("0123", 83, 123), ("010", 8, 10), ("-0_17", -15, -17), ("0777", 511, 777)],
)
def test_a_nested_number_with_a_leading_zero_is_refused_saying_it_would_be_read_as_octal(
    value: str, octal: int, decimal: int
) -> None:
    message = refused(f"config:\n  {NS}:gateway:\n    replicas: {value}\n")
    assert message.startswith(f"Pulumi.t.yaml: {NS}:gateway.replicas: {value} is read by the Pulumi CLI")
    assert f"as octal {octal}, not {decimal}; write {decimal} for the decimal number" in message


def test_a_top_level_number_with_a_leading_zero_is_passed_as_written() -> None:
    assert parsed(f"config:\n  {NS}:replicas: 0123\n") == {f"{NS}:replicas": "0123"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"config:\n  {NS}:gateway: " + "[" * 70 + "]" * 70 + "\n", f"{NS}:gateway[0][0]"),
        (f"config:\n  {NS}:gateway:\n    replicas: !!int abc\n", "cannot decode `abc` as a !!int"),
        (f"config:\n  {NS}:gateway:\n    replicas: !!binary YWJj\n", "the tag !!binary is not read here"),
        (f"config:\n  {NS}:gateway: *nowhere\n", "unknown anchor 'nowhere' referenced"),
        ("config:\n  ? [a]\n  : b\n", "a mapping or list used as a key at config"),
    ],
)
def test_values_the_render_cannot_read_are_refused_naming_the_key(text: str, message: str) -> None:
    assert message in refused(text)


def test_no_message_echoes_a_huge_key_or_value_whole() -> None:
    huge = "k" * 10_000_000  # a key this long must be explicit (`? key`): a plain key has at most 1024
    for text in (
        f"config:\n  {NS}:gateway:\n    ? {huge}\n    : 1\n    ? {huge}\n    : 2\n",
        f"config:\n  {NS}:gateway:\n    ? {huge}\n    : " + "[" * 70 + "]" * 70 + "\n",
        f"config:\n  ? {huge}:a:b\n  : 1\n",
        f"config:\n  {NS}:gateway:\n    replicas: !!int {huge}\n",
    ):
        message = refused(text)
        assert len(message) < 400 and " characters)" in message, message[:400]


def test_alias_expansion_is_bounded_but_anchors_are_read() -> None:
    raw = parsed(f"config:\n  {NS}:a: &x {{b: [1, 2]}}\n  {NS}:c: *x\n")
    assert json.loads(raw[f"{NS}:c"]) == {"b": [1, 2]}
    layers = ["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    layers += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, 7)]
    bomb = "config:\n" + "".join(f"  other:{layer}\n" for layer in layers)
    assert "aliases expand to more than 100,000 values" in refused(bomb)


def test_keys_without_a_namespace_are_the_projects_and_others_are_kept() -> None:
    raw = parsed("config:\n  platform: gcp\n  kubernetes:context: kind-x\n")
    assert raw == {f"{NS}:platform": "gcp", "kubernetes:context": "kind-x"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"config:\n  {NS}:platform: gcp\n  {NS}:platform: aws\n",
            "key 'istio-source-ip:platform' appears twice at config",
        ),
        (f"config:\n  {NS}:gateway:\n    replicas: 2\n    replicas: 3\n", "key 'replicas' appears twice"),
        (
            f"config:\n  {NS}:platform: gcp\n---\nconfig: {{}}\n",
            "holds 2 YAML documents; a stack file is one",
        ),
        ("config: [a, b]\n", "`config:` must be a mapping"),
        ("- config\n", "the top level must be a mapping"),
        ("config:\n  a:b:c: 1\n", "config key 'a:b:c' is not namespace:key"),
        ("config:\n  1: x\n", "key '1' at config is not a string"),
        ("config:\n  x: [\n", "not valid YAML"),
        ("config:\n  x: &a [*a]\n", "too large or too deeply nested"),
        ("a: &x [1]\nconfig:\n  <<: *x\n", "the merge key (<<) at config must name a mapping or a list"),
        ("a: &x {b: 1}\nconfig:\n  k:\n    <<: *x\n    <<: *x\n", "key '<<' appears twice at k"),
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
def test_bad_arguments_exit_2_with_usage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    code, err = render_main(capsys, *[a if a != "x" else str(tmp_path / "x") for a in args])
    assert code == 2 and "error:" in err and "Traceback" not in err


def test_out_naming_a_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text("keep me")
    code, err = render_main(capsys, "--stack", "gcp", "--out", str(out))
    assert code == 2 and "is a file; name a directory" in err and out.read_text() == "keep me"


def test_a_failed_render_leaves_the_previous_output_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
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
    monkeypatch.setenv(
        "PULUMI_CONFIG", json.dumps({f"{NS}:accessLogs": "true", f"{NS}:allowlist": '["10.0.0.0/8"]'})
    )
    assert render_main(capsys, "--stack", "vngcloud", "--out", str(tmp_path / "out"))[0] == 0
    kinds = (tmp_path / "out" / "manifests.yaml").read_text()
    assert "kind: Telemetry" not in kinds and "kind: AuthorizationPolicy" not in kinds


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (f"  {NS}:gateway:\n    replicas: {'1' * 4400}\n", f"{NS}:gateway.replicas"),
        (f"  {NS}:maxUnavailable: {'1' * 4400}\n", f"{NS}:maxUnavailable"),
        (f"  {NS}:gateway: {'[' * 70}{']' * 70}\n", f"{NS}:gateway"),
        (f"  {NS}:gateway:\n    replicas: 0123\n", f"{NS}:gateway.replicas: 0123 is read by the Pulumi CLI"),
    ],
)
def test_a_huge_number_or_deep_value_in_a_file_ends_the_render_with_exit_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, entry: str, key: str
) -> None:
    stack_file = tmp_path / "Pulumi.big.yaml"
    stack_file.write_text(f"config:\n  {NS}:platform: vngcloud\n{entry}")
    code, err = render_main(capsys, "--config", str(stack_file), "--out", str(tmp_path / "out"))
    assert code == 2 and key in err and "Traceback" not in err
    assert len(err) < 1000 and not (tmp_path / "out").exists()


MERGE_BASE = "base: &base\n  replicas: 2\n  name: edge\nmore: &more\n  name: other\n  maxReplicas: 4\n"


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        # yaml.v3 (go-yaml/yaml v3.0.1 decode.go, mapping/merge): the mapping's own keys win wherever they
        # stand, then the merged mappings' keys, the first of a list winning.
        ("    <<: *base\n    name: own\n", {"replicas": 2, "name": "own"}),
        ("    name: own\n    <<: *base\n", {"replicas": 2, "name": "own"}),
        ("    <<: [*base, *more]\n", {"replicas": 2, "name": "edge", "maxReplicas": 4}),
        ("    <<: [*more, *base]\n", {"replicas": 2, "name": "other", "maxReplicas": 4}),
        ("    <<: {replicas: 3}\n", {"replicas": 3}),
        ("    !!merge <<: *base\n", {"replicas": 2, "name": "edge"}),
        # A quoted "<<" is an ordinary key (yaml.v3 parser.go: only a plain << gets the !!merge tag).
        ("    '<<': 1\n", {"<<": 1}),
    ],
)
def test_merge_keys_are_expanded_as_the_pulumi_cli_expands_them(
    gateway: str, expected: dict[str, object]
) -> None:
    raw = parsed(f"{MERGE_BASE}config:\n  {NS}:gateway:\n{gateway}")
    assert json.loads(raw[f"{NS}:gateway"]) == expected


def test_a_merge_into_config_passes_each_merged_top_level_value_as_written() -> None:
    text = f"defaults: &d\n  {NS}:platform: gcp\n  {NS}:sourceIp: local\n  kubernetes:context: '007'\n"
    raw = parsed(text + f"config:\n  <<: *d\n  {NS}:sourceIp: auto\n")
    assert raw == {f"{NS}:platform": "gcp", f"{NS}:sourceIp": "auto", "kubernetes:context": "007"}


def test_a_stack_file_sharing_settings_through_a_merge_key_gives_the_plain_files_config() -> None:
    """The README's own path: a stack file that shares its gateway settings through an anchor."""
    with_merge = parsed(
        f"shared: &shared\n  replicas: 2\nconfig:\n  {NS}:platform: gcp\n  {NS}:gateway:\n    <<: *shared\n"
    )
    plain = parsed(f"config:\n  {NS}:platform: gcp\n  {NS}:gateway:\n    replicas: 2\n")
    assert with_merge == plain
