"""tools.charts: every release of a render expanded with helm template, and clear errors without what
it needs."""

from pathlib import Path

import pytest

from tools import charts
from tools.render import main as render_main


def test_without_a_render_it_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert charts.main([str(tmp_path), "--helm", "/bin/true", "--charts", str(tmp_path)]) == 2
    assert "run python -m tools.render first" in capsys.readouterr().err


def test_a_chart_missing_from_the_charts_directory_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render_main(["--stack", "gcp", "--out", str(tmp_path / "gcp")]) == 0
    capsys.readouterr()
    assert charts.main([str(tmp_path / "gcp"), "--helm", "/bin/true", "--charts", str(tmp_path)]) == 1
    assert "release istio-base: no chart base-1.30.3 in" in capsys.readouterr().err


@pytest.mark.skipif(
    charts.find_helm() is None or charts.find_charts() is None,
    reason="needs helm and the upstream charts (../shared/upstream/charts)",
)
def test_each_release_becomes_the_objects_its_chart_makes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render_main(["--stack", "gcp", "--out", str(tmp_path / "gcp")]) == 0
    assert charts.main([str(tmp_path / "gcp")]) == 0
    gateway = charts.objects((tmp_path / "gcp" / "charts" / "istio-ingressgateway.yaml").read_text())
    [service] = [o for o in gateway if o["kind"] == "Service"]
    assert service["spec"]["externalTrafficPolicy"] == "Local"  # the program's value, as the chart renders it


def test_without_helm_the_charts_step_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CHARTS=1 on a machine without helm: exit 2 and how to get one (helm's installer, or the pinned helm
    that ../shared/tools/chart-render unpacks into the cache this tool reads)."""
    monkeypatch.delenv("HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no helm on PATH
    monkeypatch.setattr(charts, "CHART_RENDER_CACHE", tmp_path / "empty-cache")
    assert charts.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no helm")
    assert "https://helm.sh/docs/intro/install/" in err and "../shared/tools/chart-render" in err
    assert "Traceback" not in err
