"""What verify reads from outside: `pulumi stack output`, Docker (to send from a container), and a
what-is-my-IP endpoint. Each failure is a UsageError (exit 2) with one line."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .backend import backend_defaults
from .client import Target, TlsOptions, fetch
from .kinds import EXIT_CODES, UsageError

PACKAGE = Path(__file__).resolve().parent
ROOT = str(PACKAGE.parent.parent)


def stack_outputs(stack: str) -> dict[str, Any]:
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **backend_defaults()},
            cwd=ROOT,
        )
    except FileNotFoundError:
        raise UsageError(
            "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/): "
            "use --url (and --host) instead of --stack"
        ) from None
    if result.returncode != 0:
        raise UsageError(f"pulumi stack output --stack {stack} failed: {result.stderr.strip()}")
    try:
        outputs = json.loads(result.stdout or "{}")
    except ValueError:
        raise UsageError(f"pulumi stack output --stack {stack} did not print JSON") from None
    if not isinstance(outputs, dict):
        raise UsageError(f"pulumi stack output --stack {stack} printed no object")
    return outputs


@dataclass(frozen=True)
class StackTarget:
    url: str
    host: str | None
    num_trusted_proxies: int


def stack_target(stack: str, outputs: dict[str, Any]) -> StackTarget:
    """The gateway URL, echo host and trusted hops a stack's outputs give (gatewayAddress is present).

    HTTPS when the stack says so: an `httpsUrl` output (a URL, used as it is), else a truthy `tls`
    output (https:// on the gateway address). The program publishes `tls` (the first gateway's hosts,
    Secret and redirect) when that gateway has `tls`, and null otherwise (plain HTTP)."""
    address = str(outputs["gatewayAddress"])
    https_url = outputs.get("httpsUrl")
    if https_url:
        if not isinstance(https_url, str) or urlsplit(https_url).scheme != "https":
            raise UsageError(f"the stack's httpsUrl output is not an https:// URL: {str(https_url)[:80]!r}")
        url = https_url
    elif outputs.get("tls"):
        url = f"https://{address}"
    else:
        url = f"http://{address}"
    try:
        hops = int(outputs.get("numTrustedProxies") or 0)
    except (TypeError, ValueError):
        raise UsageError(f"the stack {stack}'s numTrustedProxies output is not a number") from None
    host = outputs.get("echoHost")
    return StackTarget(url, str(host) if host else None, hops)


def discover_expected(whoami_url: str, timeout: float) -> str:
    """The caller's public address from a what-is-my-IP endpoint the user names (text or JSON)."""
    parts = urlsplit(whoami_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--whoami-url must be http(s)://HOST[:PORT]/PATH, got {whoami_url!r}")
    target = Target(f"{parts.scheme}://{parts.netloc}", parts.hostname)
    response = fetch(target, parts.path or "/", time.monotonic() + timeout)
    text = response.body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
        text = str(data.get("ip") or data.get("origin")) if isinstance(data, dict) else str(data)
    except ValueError:
        pass
    address = text.split(",")[0].strip()
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"--whoami-url answered {address[:60]!r}, which is not an IP address") from None
    return address


DEFAULT_IMAGE = "python:3.12-alpine"
"""Any image with python3 runs verify: it uses only the standard library."""
CONTAINER_APP = "/verify.pyz"
CONTAINER_CA = "/verify-ca.pem"


def _docker(*args: str, timeout: float = 120) -> str:
    try:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
        )
    except FileNotFoundError:
        raise UsageError("docker is not installed: --from-docker-network needs the Docker CLI") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"docker {args[0]} did not finish within {timeout:g}s") from None
    if result.returncode != 0:
        raise UsageError(f"docker {args[0]} failed: {result.stderr.strip()[:300]}")
    return result.stdout.strip()


def container_address(container: str, network: str) -> str:
    """The container's address on `network`, as Docker reports it (IPv4, else IPv6)."""
    try:
        networks = json.loads(
            _docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container) or "{}"
        )
    except ValueError:
        raise UsageError("docker inspect did not print JSON") from None
    settings = networks.get(network) if isinstance(networks, dict) else None
    address = (settings or {}).get("IPAddress") or (settings or {}).get("GlobalIPv6Address")
    if not address:
        raise UsageError(f"the verify container has no address on Docker network {network!r}")
    return str(address)


def build_zipapp(path: str) -> None:
    """This package as one file any python3 runs (`python3 verify.pyz ARGS`), for the container."""
    with zipfile.ZipFile(path, "w") as archive:
        for module in sorted(PACKAGE.glob("*.py")):
            archive.write(module, f"verify/{module.name}")
        archive.writestr("__main__.py", "import sys\nfrom verify.cli import main\nsys.exit(main())\n")


def verify_from_container(
    network: str,
    image: str,
    target: Target,
    expected: str | None,
    num_trusted_proxies: int,
    attempts: int,
    timeout: float,
) -> tuple[int, str]:
    """Run verify in a container on `network`; return its exit code and its JSON verdict."""
    name = f"istio-source-ip-verify-{os.getpid()}"
    _docker("create", "--name", name, "--network", network, image, "sleep", str(int(timeout) + 60))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            app = os.path.join(scratch, "verify.pyz")
            build_zipapp(app)
            _docker("cp", app, f"{name}:{CONTAINER_APP}")
        tls_args: list[str] = []
        if target.tls.cacert:
            _docker("cp", os.path.abspath(target.tls.cacert), f"{name}:{CONTAINER_CA}")
            tls_args += ["--cacert", CONTAINER_CA]
        if target.tls.insecure:
            tls_args.append("--insecure")
        _docker("start", name)
        expect = expected or container_address(name, network)
        args = [
            "exec",
            name,
            "python3",
            CONTAINER_APP,
            "--url",
            target.url,
            "--host",
            target.host,
            "--expect-ip",
            expect,
            "--num-trusted-proxies",
            str(num_trusted_proxies),
            "--attempts",
            str(attempts),
            "--timeout",
            f"{timeout:g}",
            *tls_args,
            "--json",
        ]
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout + 30
        )
        if result.returncode not in EXIT_CODES.values() or not result.stdout.strip().startswith("{"):
            raise UsageError(
                f"verify in the container failed: {(result.stderr or result.stdout).strip()[:300]}"
            )
        return result.returncode, result.stdout.strip()
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def quickstart_ca(secret: str, timeout: float = 30) -> str:
    """The quickstart CA's certificate, read from the cluster (`kubectl get secret`, the current context)
    into a private temporary file whose path is returned. `secret` is the stack output `quickstartCaSecret`:
    `namespace/name` of the CA Secret that cert-manager made for the kind stacks."""
    namespace, _, name = secret.partition("/")
    if not namespace or not name:
        raise UsageError(f"the stack's quickstartCaSecret output is not namespace/name: {secret[:80]!r}")
    hint = "pass --cacert FILE (the CA that signed the gateway's certificate) or --insecure"
    try:
        result = subprocess.run(
            [
                "kubectl",
                "get",
                "secret",
                name,
                "--namespace",
                namespace,
                "--output",
                "jsonpath={.data.ca\\.crt}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise UsageError(f"kubectl is not installed, so the quickstart CA cannot be read: {hint}") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"kubectl did not answer within {timeout:g} s: {hint}") from None
    try:
        pem = base64.b64decode(result.stdout.strip(), validate=True) if result.returncode == 0 else b""
    except ValueError:
        pem = b""
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        why = (result.stderr.strip() or "no ca.crt in it")[:200]
        raise UsageError(f"could not read the quickstart CA from Secret {namespace}/{name} ({why}): {hint}")
    handle, path = tempfile.mkstemp(prefix="verify-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(pem)
    return path


def tls_options(cacert: str | None, insecure: bool) -> TlsOptions:
    options = TlsOptions(cacert, insecure)
    if cacert and insecure:
        raise UsageError("--cacert and --insecure contradict each other: trust a CA, or check nothing")
    if cacert and not os.path.isfile(cacert):
        raise UsageError(f"--cacert {cacert}: no such file")
    options.context()  # a file that is not PEM certificates fails here, before any request
    return options
