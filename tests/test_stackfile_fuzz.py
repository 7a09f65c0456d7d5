"""File-level fuzzing: stack-file text (mutated shipped files, generated YAML, other encodings, the key
forms the CLI writes) is read or refused with a StackFileError, then validated or refused with keyed
messages — never a traceback. A sample goes through the whole render (exit 0 or 2, nothing else).
Counts are printed in the test summary with the config fuzz counts."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from source_ip.config import NAMESPACE
from tests.config_fuzzing import FUZZ_COUNTS, check_parse, json_values
from tests.conftest import STACKS
from tools import render
from tools.program import ROOT
from tools.stackfile import StackFileError, parse_stack_file

SHIPPED = {name: (ROOT / f"Pulumi.{name}.yaml").read_text() for name in STACKS}
SNIPPETS = [
    "  istio-source-ip:platform: gcp\n",
    "---\n",
    "config:\n",
    "  platform: metallb\n",
    "    replicas: 010\n",
    "  istio-source-ip:accessLogs: yes\n",
    "  istio-source-ip:echo:\n    secure: v1:AAAA\n",
    "\t",
    ": ",
    "- ",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    '"',
    "'",
    "{",
    "[",
    "#",
    "\x00",
    "\ufeff",
    "  istio-source-ip:gateways: []\n",
]


@st.composite
def mutated_file(draw: st.DrawFn) -> bytes:
    text = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    if draw(st.booleans()):
        text = text.replace("istio-source-ip:", "")  # the bare key form the CLI also accepts
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate-line"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(SNIPPETS) | st.text(max_size=4)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        else:
            lines = text.splitlines(keepends=True) or [""]
            line = draw(st.sampled_from(lines))
            text += line
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, "replace")


@st.composite
def generated_file(draw: st.DrawFn) -> bytes:
    keys = st.sampled_from(
        [
            "platform",
            f"{NAMESPACE}:platform",
            f"{NAMESPACE}:gateway",
            f"{NAMESPACE}:gateways",
            "kubernetes:context",
            f"{NAMESPACE}:metallb",
            "a:b:c",
        ]
    ) | st.text(max_size=8)
    document: object
    if draw(st.integers(0, 9)):
        document = {"config": draw(st.dictionaries(keys, json_values, max_size=5))}
    else:
        document = draw(json_values)
    return yaml.safe_dump(document, default_flow_style=draw(st.booleans()), allow_unicode=True).encode()


def read_and_validate(data: bytes) -> None:
    FUZZ_COUNTS["files"] += 1
    try:
        raw = parse_stack_file(data, "fuzz")
    except StackFileError as error:
        FUZZ_COUNTS["files-refused"] += 1
        assert str(error).startswith("fuzz: ")
        return
    except Exception:
        FUZZ_COUNTS["crashes"] += 1
        raise
    check_parse(raw)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_file() | generated_file() | st.binary(max_size=200))
def test_stack_file_text_is_read_or_refused_never_crashes(data: bytes) -> None:
    read_and_validate(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_file())
def test_the_render_exits_0_or_2_on_any_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack_file = Path(tmp) / "Pulumi.fuzz.yaml"
        stack_file.write_bytes(data)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = render.main(["--config", str(stack_file), "--out", str(Path(tmp) / "out")])
        except Exception:
            FUZZ_COUNTS["crashes"] += 1
            raise
        FUZZ_COUNTS["renders"] += 1
        assert code in (0, 2), err.getvalue()
        assert (code == 0) == (Path(tmp) / "out" / "graph.json").is_file()
        if code == 2:
            assert err.getvalue().startswith("error: ")
