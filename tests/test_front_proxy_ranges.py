"""tools.front_proxy_ranges against a stand-in HTTP server on 127.0.0.1 that answers in each provider's
format, and the front-proxy profiles it maintains (source_ip/front_proxies.py)."""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from source_ip import front_proxies
from source_ip.front_proxies import EmptyProfileError, FrontProxyDataError, trusted_ranges
from tests.verify_servers import free_port
from tools import front_proxy_ranges

CLOUDFLARE_V4 = "173.245.48.0/20\n103.21.244.0/22\n104.16.0.0/13\n"
CLOUDFLARE_V6 = "2400:cb00::/32\n2606:4700::/32"  # Cloudflare's list ends without a newline
AWS = {
    "syncToken": "1787433425",
    "createDate": "2026-08-22-21-17-05",
    "prefixes": [
        {
            "ip_prefix": "3.4.12.4/32",
            "region": "eu-west-1",
            "service": "AMAZON",
            "network_border_group": "eu-west-1",
        },
        {
            "ip_prefix": "120.52.22.96/27",
            "region": "GLOBAL",
            "service": "CLOUDFRONT",
            "network_border_group": "GLOBAL",
        },
        {
            "ip_prefix": "130.176.88.0/21",
            "region": "GLOBAL",
            "service": "CLOUDFRONT_ORIGIN_FACING",
            "network_border_group": "GLOBAL",
        },
        {
            "ip_prefix": "15.158.0.0/16",
            "region": "GLOBAL",
            "service": "CLOUDFRONT_ORIGIN_FACING",
            "network_border_group": "GLOBAL",
        },
    ],
    "ipv6_prefixes": [
        {
            "ipv6_prefix": "2600:1f00::/24",
            "region": "GLOBAL",
            "service": "AMAZON",
            "network_border_group": "GLOBAL",
        },
        {
            "ipv6_prefix": "2600:9000:1000::/36",
            "region": "GLOBAL",
            "service": "CLOUDFRONT_ORIGIN_FACING",
            "network_border_group": "GLOBAL",
        },
    ],
}
FASTLY = {"addresses": ["23.235.32.0/20", "151.101.0.0/16"], "ipv6_addresses": ["2a04:4e40::/32"]}
CHALLENGE = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>"

Routes = dict[str, tuple[int, bytes]]


class StandIn:
    """Answers GET PATH with the status and body set in `routes`; records every path asked for."""

    def __init__(self) -> None:
        self.routes: Routes = {
            "/ips-v4": (200, CLOUDFLARE_V4.encode()),
            "/ips-v6": (200, CLOUDFLARE_V6.encode()),
            "/ip-ranges.json": (200, json.dumps(AWS, indent=2).encode()),
            "/public-ip-list": (200, json.dumps(FASTLY).encode()),
        }
        self.asked: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.asked.append(self.path)
                status, body = stand_in.routes.get(self.path, (404, b"not here"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def urls(self) -> list[str]:
        return [
            f"--source-url=cloudflare-v4={self.base}/ips-v4",
            f"--source-url=cloudflare-v6={self.base}/ips-v6",
            f"--source-url=cloudfront={self.base}/ip-ranges.json",
            f"--source-url=fastly={self.base}/public-ip-list",
        ]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "front_proxy_ranges.json"
    shutil.copyfile(front_proxies.RANGES_FILE, path)
    return path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = front_proxy_ranges.main(list(argv), stdout=out)
    return code, out.getvalue()


def test_check_prints_each_providers_changes_and_writes_nothing(stand_in: StandIn, data: Path) -> None:
    before = data.read_bytes()
    code, out = run("--check", "--data", str(data), *stand_in.urls())
    assert code == 1
    assert "+ 2a04:4e40::/32" in out  # fastly ships empty, so everything it publishes is new
    assert "- 108.162.192.0/18" in out  # in the shipped Cloudflare list, not in the stand-in's
    assert "- 54.239.134.0/23" in out  # a shipped CloudFront origin-facing range the stand-in lacks
    assert "+ 120.52.22.96/27" not in out  # service CLOUDFRONT (viewer-facing) is not origin-facing
    assert "3.4.12.4/32" not in out and "2600:1f00::/24" not in out  # service AMAZON
    assert data.read_bytes() == before
    assert sorted(stand_in.asked) == ["/ip-ranges.json", "/ips-v4", "/ips-v6", "/public-ip-list"]


def test_write_replaces_the_selected_profile_and_keeps_the_others(stand_in: StandIn, data: Path) -> None:
    shipped = front_proxies.load_snapshots(data)
    code, out = run("--write", "--profile", "fastly", "--data", str(data), *stand_in.urls())
    assert code == 0, out
    assert f"wrote {data}" in out
    written = front_proxies.load_snapshots(data)
    assert written["fastly"].ipv4 == ("23.235.32.0/20", "151.101.0.0/16")
    assert written["fastly"].ipv6 == ("2a04:4e40::/32",)
    assert (
        written["fastly"].read_on is not None
        and f"{stand_in.base}/public-ip-list" in written["fastly"].source
    )
    assert written["cloudflare"] == shipped["cloudflare"]
    assert written["cloudfront"] == shipped["cloudfront"]
    assert trusted_ranges("fastly", written).ipv6 == ("2a04:4e40::/32",)
    assert [path.name for path in data.parent.iterdir()] == [data.name]  # no temporary file left behind


def test_after_a_write_the_same_answers_check_as_up_to_date(stand_in: StandIn, data: Path) -> None:
    assert run("--write", "--data", str(data), *stand_in.urls())[0] == 0
    code, out = run("--check", "--data", str(data), *stand_in.urls())
    assert code == 0
    assert out.splitlines() == ["cloudflare: unchanged", "cloudfront: unchanged", "fastly: unchanged"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/ips-v4", CHALLENGE, "answer is HTML or XML"),
        ("/ips-v4", "", "empty answer"),
        ("/ips-v4", "173.245.48.0/20\nnot-a-range\n", "'not-a-range' is not a CIDR range"),
        ("/ips-v4", "173.245.48.1/20\n", "has host bits set"),
        ("/ips-v4", "0.0.0.0/0\n", "broader than /8"),
        ("/ips-v4", "10.0.0.0/16\n", "is not a public range"),
        ("/ips-v6", "173.245.48.0/20\n", "is IPv4 in the IPv6 list"),
        ("/public-ip-list", '{"addresses": ["23.235.32.0/20"]}', "no 'addresses' and 'ipv6_addresses'"),
        ("/public-ip-list", '{"addresses": ["23.235.32.0/20"], "ipv6_addresses": []}', "no IPv6 ranges"),
        (
            "/public-ip-list",
            '{"addresses": [23], "ipv6_addresses": ["2a04:4e40::/32"]}',
            "a list of CIDR strings",
        ),
        ("/public-ip-list", '{"addresses": ["23.235.32.0/2', "not JSON"),
        ("/ip-ranges.json", '{"prefixes": [], "ipv6_prefixes": []}', "no 'syncToken'"),
        ("/ip-ranges.json", json.dumps({**AWS, "ipv6_prefixes": []}), "no IPv6 ranges"),
        (
            "/ip-ranges.json",
            json.dumps({**AWS, "prefixes": [{"ip_prefix": "1.0.0.0/24"}]}),
            "without 'ip_prefix'",
        ),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_written(
    stand_in: StandIn, data: Path, capsys: pytest.CaptureFixture[str], path: str, body: str, message: str
) -> None:
    stand_in.routes[path] = (200, body.encode())
    before = data.read_bytes()
    code, _ = run("--write", "--data", str(data), *stand_in.urls())
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Nothing was written." in err
    assert data.read_bytes() == before


def test_an_http_error_status_is_a_fetch_failure(
    stand_in: StandIn, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in.routes["/public-ip-list"] = (503, b"busy")
    before = data.read_bytes()
    assert run("--write", "--data", str(data), *stand_in.urls())[0] == 3
    err = capsys.readouterr().err
    assert f"{stand_in.base}/public-ip-list answered HTTP 503" in err
    assert "This command needs the network" in err
    assert data.read_bytes() == before


def test_an_unreachable_list_says_so_and_writes_nothing(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    before = data.read_bytes()
    code, _ = run(
        "--write",
        "--profile",
        "fastly",
        "--data",
        str(data),
        f"--source-url=fastly=http://127.0.0.1:{port}/x",
    )
    assert code == 3
    err = capsys.readouterr().err
    assert f"could not reach http://127.0.0.1:{port}/x" in err and "Nothing was written." in err
    assert data.read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source-url", "akamai=http://127.0.0.1/x"], "expected LIST=URL with LIST one of"),
        (["--source-url", "fastly"], "expected LIST=URL"),
        (["--source-url", "fastly=file:///etc/passwd"], "an http(s) URL"),
        (["--timeout", "0"], "expected a positive number of seconds"),
        (["--check", "--write"], "not allowed with argument"),
        (["--profile", "akamai"], "invalid choice: 'akamai'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_network(url: str, timeout: float) -> bytes:
        raise AssertionError(f"fetched {url} despite bad arguments")

    assert front_proxy_ranges.main(argv, fetcher=no_network, stdout=io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_a_corrupt_data_file_is_named_and_not_overwritten(
    stand_in: StandIn, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(data.read_text())
    document["cloudflare"]["ipv4"].append("192.168.0.0/16")
    data.write_text(json.dumps(document))
    before = data.read_bytes()
    assert run("--write", "--data", str(data), *stand_in.urls())[0] == 2
    assert "cloudflare.ipv4: '192.168.0.0/16' is not a public range" in capsys.readouterr().err
    assert data.read_bytes() == before and stand_in.asked == []


def test_the_shipped_ranges_pass_the_checks_the_command_applies_and_say_where_they_were_read() -> None:
    shipped = front_proxies.load_snapshots()
    assert set(shipped) == set(front_proxies.PROFILES) == {"cloudflare", "cloudfront", "fastly"}
    for profile_id in ("cloudflare", "cloudfront"):
        snapshot = trusted_ranges(profile_id)
        assert (
            snapshot.ipv4
            and snapshot.ipv6
            and snapshot.read_on
            and "Not read from the provider's URL" in snapshot.source
        )
    assert "104.16.0.0/13" in shipped["cloudflare"].ipv4
    assert "2600:9000:1000::/36" in shipped["cloudfront"].ipv6
    assert "CLOUDFRONT_ORIGIN_FACING" in shipped["cloudfront"].source


def test_a_profile_never_read_is_refused_with_the_command_that_fills_it() -> None:
    with pytest.raises(EmptyProfileError) as refused:
        trusted_ranges("fastly")
    assert "frontProxy.profile: fastly has no egress ranges yet" in str(refused.value)
    assert "python -m tools.front_proxy_ranges --write --profile fastly" in str(refused.value)
    with pytest.raises(LookupError, match="'akamai' is not one of cloudflare, cloudfront, fastly, custom"):
        trusted_ranges("akamai")


def test_ranges_without_a_date_or_source_are_not_data(tmp_path: Path) -> None:
    document = json.loads(front_proxies.RANGES_FILE.read_text())
    document["cloudfront"]["read_on"] = None
    with pytest.raises(FrontProxyDataError, match="cloudfront has ranges but no read_on date"):
        front_proxies.parse_snapshots(json.dumps(document), "ranges")
    document = json.loads(front_proxies.RANGES_FILE.read_text())
    document["fastly"]["source"] = ""
    with pytest.raises(FrontProxyDataError, match=r"fastly\.source must say where the ranges were read"):
        front_proxies.parse_snapshots(json.dumps(document), "ranges")


def test_every_profile_names_its_header_and_lists_with_a_source() -> None:
    for profile in front_proxies.PROFILES.values():
        assert profile.client_address.header and profile.client_address.why and profile.client_address.source
        assert profile.lists and all(published.url.startswith("https://") for published in profile.lists)
        assert {family for published in profile.lists for family in published.families} == {4, 6}
