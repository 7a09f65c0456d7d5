"""The versions the program installs, the supported Istio range, and istio.version as the user writes it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from source_ip import facts
from source_ip.config import parse_config
from tests.conftest import STACKS, problems_of, raw, stack_raw_config
from tools.charts import find_charts

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"
SNAPSHOT = date(2026, 8, 22)
"""The date of the newest istio/istio snapshot read here (../shared/upstream/SOURCES.md, "Releases")."""


def problems(**keys: object) -> list[str]:
    return problems_of(raw("gcp", **keys))


@pytest.mark.parametrize("name", STACKS)
def test_every_shipped_stack_installs_or_names_istio_1_30_3(name: str) -> None:
    assert parse_config(stack_raw_config(name)).istio.version == facts.ISTIO_VERSION == "1.30.3"


def test_the_default_is_the_release_every_stack_installs() -> None:
    assert parse_config(raw("gcp")).istio.version == "1.30.3"


@pytest.mark.skipif(find_charts() is None, reason="needs the upstream charts (../shared/upstream/charts)")
def test_the_charts_we_install_are_the_ones_read_here() -> None:
    charts = find_charts()
    assert charts is not None
    for chart in ("base", "istiod", "gateway"):
        assert (charts / f"{chart}-{facts.ISTIO_VERSION}" / "Chart.yaml").is_file(), chart
    metallb = yaml.safe_load((charts / f"metallb-{facts.METALLB_CHART_VERSION}" / "Chart.yaml").read_text())
    assert metallb["version"] == facts.METALLB_CHART_VERSION


@pytest.mark.skipif(not (UPSTREAM / "gateway-api").is_dir(), reason="needs ../shared/upstream/gateway-api")
def test_the_gateway_api_crds_are_the_bundle_istio_1_30_is_built_against() -> None:
    crd = yaml.safe_load((UPSTREAM / "gateway-api/crds/gateways.gateway.networking.k8s.io.yaml").read_text())
    bundle = crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"]
    assert bundle == facts.GATEWAY_API_VERSION
    # The release asset the program applies, spelt out from the bundle read here.
    assert facts.GATEWAY_API_CRDS_URL == (
        f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{bundle}/standard-install.yaml"
    )


def test_the_supported_minors_follow_the_six_week_rule_on_the_release_dates() -> None:
    """A minor is supported until about six weeks after the second one following it is released."""

    def supported(minor: tuple[int, int]) -> bool:
        released = facts.ISTIO_MINOR_RELEASED.get(minor)
        successor = facts.ISTIO_MINOR_RELEASED.get((minor[0], minor[1] + 2))
        if released is None or date.fromisoformat(released) > SNAPSHOT:
            return False
        return successor is None or date.fromisoformat(successor) + timedelta(weeks=6) > SNAPSHOT

    assert (
        tuple(m for m in sorted(facts.ISTIO_MINOR_RELEASED) if supported(m)) == facts.ISTIO_SUPPORTED_MINORS
    )
    assert facts.istio_release(facts.ISTIO_VERSION)[:2] in facts.ISTIO_SUPPORTED_MINORS  # type: ignore[index]


def test_1_28_left_support_about_when_its_last_patch_came_out() -> None:
    # 1.28.10 (2026-06-29) was its last patch (SOURCES.md); the rule gives 1.30.0 (2026-05-15) + 6 weeks.
    assert facts.istio_end_of_support((1, 28)).startswith("about 2026-06-26 (6 weeks after Istio 1.30.0")
    assert facts.istio_end_of_support((1, 30)) == "about 6 weeks after Istio 1.32.0 is released"


def test_installing_an_end_of_life_istio_is_refused_with_its_end_of_support_and_the_range() -> None:
    [problem] = problems(istio={"version": "1.28.1"})
    assert problem == (
        "istio-source-ip:istio.version: Istio 1.28 is out of support since about 2026-06-26 (6 weeks after "
        'Istio 1.30.0, 2026-05-15), so the program does not install it (got "1.28.1"); allowed with '
        "istio.install true: 1.29.x or 1.30.x, e.g. 1.30.3 (Istio supports a minor release until about six "
        "weeks after the second one following it), or istio.install: false to reuse the Istio a cluster runs"
    )


def test_installing_a_release_newer_than_the_range_is_refused() -> None:
    [problem] = problems(istio={"version": "1.31.0"})
    assert problem.startswith(
        "istio-source-ip:istio.version: Istio 1.31 is newer than the releases this program was checked "
        "against"
    )


@pytest.mark.parametrize("version", ["1.28.1", "1.22.0", "1.31.0"])
def test_reusing_a_cluster_istio_outside_the_range_is_allowed(version: str) -> None:
    """The warning naming its end of support comes at `pulumi up` (tests/components/test_istio_install.py)."""
    assert parse_config(raw("gcp", istio={"version": version, "install": False})).istio.version == version


@pytest.mark.parametrize(
    "version",
    [
        pytest.param("1.\u0663\u0660.3", id="arabic-indic digits"),
        pytest.param("1.30.\uff13", id="fullwidth digit"),
        pytest.param("1.030.3", id="leading zero"),
        pytest.param("1.30.3-rc.0", id="pre-release"),
        pytest.param("9" * 4400 + ".30.3", id="4400-digit part"),
        pytest.param("1.30." + "9" * 10, id="ten-digit part"),
    ],
)
def test_a_version_is_ascii_digits_only_and_the_message_says_so(version: str) -> None:
    [problem] = problems(istio={"version": version})
    assert problem.startswith(
        "istio-source-ip:istio.version: must be an exact Istio release X.Y.Z in ASCII digits 0-9 "
        "(no leading zeros, at most 9 digits a part), e.g. 1.30.3"
    )


def test_a_huge_version_in_gateway_api_mode_with_a_reused_istio_does_not_crash() -> None:
    """The Gateway API rule compares the version as numbers: it only ever sees a checked one."""
    [problem] = problems(
        routing="gateway-api", istio={"version": "1.2" + "0" * 4400 + ".0", "install": False}
    )
    assert problem.startswith("istio-source-ip:istio.version: must be an exact Istio release X.Y.Z")
