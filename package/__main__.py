"""Hosts the components of istio-source-ip as the Pulumi package `istio-source-ip` (schema inferred
from their type annotations by pulumi.provider.experimental)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # components/ and source_ip/ live beside it

from pulumi.provider.experimental import component_provider_host

from components import HOSTED_COMPONENTS

PACKAGE_NAME = "istio-source-ip"
PACKAGE_VERSION = "0.2.0"

if __name__ == "__main__":
    component_provider_host(components=HOSTED_COMPONENTS, name=PACKAGE_NAME, version=PACKAGE_VERSION)
