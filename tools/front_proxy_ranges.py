"""Refresh the front proxies' egress ranges from the lists they publish (needs the network).

    python -m tools.front_proxy_ranges [--check | --write] [--profile ID ...] [--source-url LIST=URL ...]
                                       [--data PATH] [--timeout SECONDS]

Reads each selected profile's published lists (source_ip/front_proxies.py), parses each provider's format,
and prints what differs from the shipped data (source_ip/front_proxy_ranges.json, or --data).
--check (the default) changes nothing; --write rewrites the data file atomically with the new ranges, the
day they were read and the URLs, and only when every list of every selected profile was read and accepted.
--source-url LIST=URL reads a list from another address (a mirror, or a stand-in server in tests); LIST is
a list id such as cloudflare-v4, cloudflare-v6, cloudfront, fastly.

An answer is refused, and nothing written, when it is not the provider's format, is empty for an address
family, or holds a range that is not a public CIDR of the right family (see front_proxies.check_cidrs).

Exit 0: read and up to date (--check) or written (--write); 1: --check found differences; 2: bad arguments,
a bad data file, or an answer refused; 3: a list could not be fetched (network, HTTP status).
Run --check weekly where the network is reachable, --write when it reports changes, and before each release.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from source_ip.front_proxies import (
    PROFILES,
    RANGES_FILE,
    Family,
    FrontProxyDataError,
    PublishedList,
    RangeSnapshot,
    check_cidrs,
    json_object,
    load_snapshots,
    snapshots_json,
)

MAX_BYTES = 16 * 1024 * 1024
"""ip-ranges.json was 2.6 MB in the copy read for this tool; a much larger answer is not a range list."""
USER_AGENT = "istio-source-ip front_proxy_ranges"


class FetchError(Exception):
    """A list could not be fetched: the network, DNS, a timeout, or an HTTP status other than 200."""


Fetcher = Callable[[str, float], bytes]


def fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise FetchError(f"{url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"could not reach {url}: {reason}") from None
    if status != 200:
        raise FetchError(f"{url} answered HTTP {status}")
    if len(body) > MAX_BYTES:
        raise FrontProxyDataError(f"{url}: answer larger than {MAX_BYTES} bytes; not a range list")
    return body


def _text(body: bytes, where: str) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FrontProxyDataError(f"{where}: answer is not UTF-8 text") from None
    if not text.strip():
        raise FrontProxyDataError(f"{where}: empty answer")
    if text.lstrip().startswith("<"):
        raise FrontProxyDataError(
            f"{where}: answer is HTML or XML (a challenge or error page?), not a range list"
        )
    return text


def parse(published: PublishedList, body: bytes, where: str) -> dict[Family, tuple[str, ...]]:
    """The ranges of one published list by address family; FrontProxyDataError when the answer is not the
    provider's format or a family comes back empty."""
    text = _text(body, where)
    found: dict[Family, object]
    if published.format == "lines":
        (family,) = published.families
        found = {family: [line.strip() for line in text.splitlines() if line.strip()]}
    elif published.format == "fastly-json":
        document = json_object(text, where)
        if "addresses" not in document or "ipv6_addresses" not in document:
            raise FrontProxyDataError(f"{where}: no 'addresses' and 'ipv6_addresses' (Fastly's format)")
        found = {4: document["addresses"], 6: document["ipv6_addresses"]}
    else:
        document = json_object(text, where)
        v4, v6 = document.get("prefixes"), document.get("ipv6_prefixes")
        if not isinstance(v4, list) or not isinstance(v6, list) or "syncToken" not in document:
            raise FrontProxyDataError(
                f"{where}: no 'syncToken', 'prefixes' and 'ipv6_prefixes' (AWS's format)"
            )
        found = {
            4: _aws_service(v4, "ip_prefix", published.service, where),
            6: _aws_service(v6, "ipv6_prefix", published.service, where),
        }
    ranges: dict[Family, tuple[str, ...]] = {}
    for family in published.families:
        cidrs = check_cidrs(found[family], family, f"{where} (IPv{family})")
        if not cidrs:
            raise FrontProxyDataError(f"{where}: no IPv{family} ranges in the answer; refusing to trust none")
        ranges[family] = cidrs
    return ranges


def _aws_service(entries: list[object], key: str, service: str | None, where: str) -> list[object]:
    values: list[object] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get(key), str) or "service" not in entry:
            raise FrontProxyDataError(f"{where}: an entry without '{key}' and 'service': {str(entry)[:80]}")
        if entry["service"] == service:
            values.append(entry[key])
    return values


def read_profile(profile_id: str, urls: dict[str, str], timeout: float, fetcher: Fetcher) -> RangeSnapshot:
    ranges: dict[Family, tuple[str, ...]] = {4: (), 6: ()}
    read: list[str] = []
    for published in PROFILES[profile_id].lists:
        url = urls.get(published.id, published.url)
        for family, cidrs in parse(published, fetcher(url, timeout), f"{published.id} ({url})").items():
            ranges[family] += cidrs  # check_cidrs below sorts and de-duplicates once
        read.append(url)
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return RangeSnapshot(
        ipv4=check_cidrs(list(ranges[4]), 4, profile_id),
        ipv6=check_cidrs(list(ranges[6]), 6, profile_id),
        read_on=today,
        source=f"{', '.join(read)}, read {today} by tools.front_proxy_ranges",
    )


def diff(profile_id: str, old: RangeSnapshot, new: RangeSnapshot) -> list[str]:
    before, after = set(old.cidrs), set(new.cidrs)
    lines = [f"+ {cidr}" for cidr in new.cidrs if cidr not in before]
    lines += [f"- {cidr}" for cidr in old.cidrs if cidr not in after]
    head = f"{profile_id}: " + (
        f"{len(lines)} change(s) since {old.read_on or 'never read'}" if lines else "unchanged"
    )
    return [head, *(f"  {line}" for line in lines)]


def write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.front_proxy_ranges", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="print the differences, change nothing (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the data file with what was read")
    parser.add_argument(
        "--profile", action="append", choices=sorted(PROFILES), help="only this profile (repeatable)"
    )
    parser.add_argument(
        "--source-url", action="append", default=[], metavar="LIST=URL", help="read LIST from URL"
    )
    parser.add_argument(
        "--data", type=Path, default=RANGES_FILE, help="the ranges file (default: the shipped one)"
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default 20)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, fetcher: Fetcher = fetch, stdout: IO[str] | None = None) -> int:
    out = stdout or sys.stdout
    try:
        args = _arguments(argv)
    except SystemExit as stop:  # argparse printed the usage and the problem
        return 0 if stop.code == 0 else 2
    list_ids = {published.id for profile in PROFILES.values() for published in profile.lists}
    urls: dict[str, str] = {}
    for item in args.source_url:
        list_id, sep, url = item.partition("=")
        if not sep or list_id not in list_ids or not url.startswith(("http://", "https://")):
            print(
                f"--source-url {item!r}: expected LIST=URL with LIST one of {', '.join(sorted(list_ids))} "
                f"and an http(s) URL",
                file=sys.stderr,
            )
            return 2
        urls[list_id] = url
    if args.timeout <= 0:
        print(f"--timeout {args.timeout}: expected a positive number of seconds", file=sys.stderr)
        return 2
    try:
        shipped = load_snapshots(args.data)
    except (OSError, FrontProxyDataError) as error:
        print(f"cannot read the ranges file: {error}", file=sys.stderr)
        return 2
    selected = args.profile or list(PROFILES)
    fresh: dict[str, RangeSnapshot] = {}
    try:
        for profile_id in selected:
            fresh[profile_id] = read_profile(profile_id, urls, args.timeout, fetcher)
    except FetchError as error:
        print(
            f"{error}\nNothing was written. This command needs the network (or --source-url to a mirror).",
            file=sys.stderr,
        )
        return 3
    except FrontProxyDataError as error:
        print(f"refused: {error}\nNothing was written.", file=sys.stderr)
        return 2
    changed = False
    for profile_id in selected:
        lines = diff(profile_id, shipped[profile_id], fresh[profile_id])
        changed = changed or len(lines) > 1
        print("\n".join(lines), file=out)
    if not args.write:
        return 1 if changed else 0
    merged = {profile_id: fresh.get(profile_id, snapshot) for profile_id, snapshot in shipped.items()}
    write_atomically(args.data, snapshots_json(merged))
    print(f"wrote {args.data}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
