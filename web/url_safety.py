"""URL safety for direct fetching: the address classifier, the allow-list and the URL checks.

Direct fetching runs on the server's own network, so a URL from an agent (or a
redirect from a shop) must not reach the server's loopback interface, its
private network or a cloud metadata endpoint. The check has two halves:
`UrlPolicy.url_rejection` judges a URL before any request (scheme,
credentials, port, an address written in the host), and
`UrlPolicy.resolved_rejection` judges every address a host name resolves to,
just before connecting (web/checked_network.py).

The special-address table follows the IANA IPv4 and IPv6 Special-Purpose
Address Registries (RFC 6890 and the RFCs that update it) and the IANA IPv6
Address Space registry, in which only 2000::/3 is allocated as global unicast.
Python's `ipaddress` flags (`is_private`, `is_global`) cover most of it. They
neither judge the IPv4 address inside a 6to4 or NAT64 address nor know cloud
metadata endpoints, and their tables changed between Python patch releases, so
the table is written out here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import httpx2 as httpx

from product_extractor.web.fetcher import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The setting that allows hosts; rejection messages name it so the reader knows the fix.
ALLOW_HOSTS_VARIABLE = "PRODUCT_EXTRACTOR_ALLOW_HOSTS"
SAFE_PORTS = frozenset({80, 443})

# Instance metadata and platform endpoints that hand out credentials or configuration.
# Most sit in ranges rejected anyway, but these stay rejected even when an allow-list
# range covers them, unless the allow-list names the address itself.
METADATA_ADDRESSES: dict[IPAddress, str] = {
    ipaddress.ip_address("169.254.169.254"): "AWS, Google Cloud, Azure, Oracle Cloud and OpenStack",
    ipaddress.ip_address("fd00:ec2::254"): "AWS, over IPv6",
    ipaddress.ip_address("169.254.170.2"): "AWS ECS task metadata",
    ipaddress.ip_address("169.254.170.23"): "AWS EKS Pod Identity",
    ipaddress.ip_address("fd00:ec2::23"): "AWS EKS Pod Identity, over IPv6",
    ipaddress.ip_address("100.100.100.200"): "Alibaba Cloud",
    ipaddress.ip_address("168.63.129.16"): "the Azure WireServer",
    ipaddress.ip_address("169.254.0.23"): "Tencent Cloud",
}


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), description) for cidr, description in rows)


# Checked in order, so a narrower block comes before a wider one that contains it.
SPECIAL_IPV4 = _table(
    [
        ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8), which some systems treat as loopback"),
        ("10.0.0.0/8", "a private address (RFC 1918, 10.0.0.0/8)"),
        ("100.64.0.0/10", "a shared address space address (carrier-grade NAT, 100.64.0.0/10)"),
        ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
        ("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
        ("172.16.0.0/12", "a private address (RFC 1918, 172.16.0.0/12)"),
        # Stricter than the registry, which marks two anycast addresses in this block global.
        ("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)"),
        ("192.0.2.0/24", "a documentation address (192.0.2.0/24)"),
        ("192.88.99.0/24", "a deprecated 6to4 relay anycast address (192.88.99.0/24)"),
        ("192.168.0.0/16", "a private address (RFC 1918, 192.168.0.0/16)"),
        ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
        ("198.51.100.0/24", "a documentation address (198.51.100.0/24)"),
        ("203.0.113.0/24", "a documentation address (203.0.113.0/24)"),
        ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
        ("255.255.255.255/32", "the limited broadcast address"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
    ]
)
SPECIAL_IPV6 = _table(
    [
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use IPv4/IPv6 translation address (64:ff9b:1::/48)"),
        ("100::/64", "a discard-only address (100::/64)"),
        # Stricter than the registry: this block also holds Teredo (2001::/32), which hides an
        # IPv4 address, and a few anycast service addresses that no shop uses.
        ("2001::/23", "an IETF protocol assignment (2001::/23)"),
        ("2001:db8::/32", "a documentation address (2001:db8::/32)"),
        ("3fff::/20", "a documentation address (3fff::/20)"),
        ("fc00::/7", "a unique local (private) address (fc00::/7)"),
        ("fe80::/10", "a link-local address (fe80::/10)"),
        ("fec0::/10", "a deprecated site-local address (fec0::/10)"),
        ("ff00::/8", "a multicast address (ff00::/8)"),
    ]
)
GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix


def unsafe_address_reason(address: IPAddress) -> str | None:
    """Return why direct fetching must not connect to `address`, or None when it is public unicast.

    An IPv6 address that embeds an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96,
    6to4 2002::/16) is judged by the embedded address.

    >>> unsafe_address_reason(ipaddress.ip_address("::ffff:10.1.2.3"))
    'an IPv4-mapped form of 10.1.2.3, a private address (RFC 1918, 10.0.0.0/8)'
    """
    provider = METADATA_ADDRESSES.get(_without_scope(address))
    if provider is not None:
        return f"a cloud metadata endpoint ({provider})"

    if isinstance(address, ipaddress.IPv4Address):
        return _table_reason(address, SPECIAL_IPV4)

    embedded = embedded_ipv4(address)
    if embedded is not None:
        inner = unsafe_address_reason(embedded)
        if inner is None:
            return None
        return f"{_embedding_name(address)} of {embedded}, {inner}"

    reason = _table_reason(address, SPECIAL_IPV6)
    if reason is None and address not in GLOBAL_UNICAST_IPV6:
        reason = "outside the IPv6 global unicast range 2000::/3"
    return reason


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 address carries, else None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _embedding_name(address: ipaddress.IPv6Address) -> str:
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped form"
    if address in NAT64_PREFIX:
        return "a NAT64 form"
    return "a 6to4 form"


def _table_reason(address: IPAddress, table: tuple[tuple[IPNetwork, str], ...]) -> str | None:
    for network, description in table:
        if address.version == network.version and address in network:
            return description
    return None


def _without_scope(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(int(address))
    return address


class InvalidHost(ValueError):
    """A host that ends in a number but is no valid IPv4 address, such as 1.2.3.4.5 or 256.1.1.1."""


# A host label a URL parser reads as a number: decimal, 0x hex (possibly empty), or octal.
_NUMBER_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")


def parse_ip_host(host: str) -> IPAddress | None:
    """Return the address a URL host denotes when it is an address literal, else None for a host name.

    Besides dotted decimal and IPv6, this reads the IPv4 spellings that browsers (the
    WHATWG URL standard) and the C library's inet_aton accept. Such a host has one to
    four parts, each decimal, octal with a leading 0, or hex with 0x, and the last part
    fills the remaining bytes. So 127.1, 0x7f.1, 0177.0.0.1 and 2130706433 are all 127.0.0.1.

    Raises InvalidHost for a host whose last label is a number but which is no valid
    IPv4 address, because resolvers disagree on what such a host means.

    >>> parse_ip_host("0x7f.1")
    IPv4Address('127.0.0.1')
    """
    text = host.strip("[]")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise InvalidHost(f"{host} is not a valid IPv6 address") from None

    labels = text.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # a trailing dot
    if not labels or not _NUMBER_LABEL.fullmatch(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMBER_LABEL.fullmatch(label) for label in labels):
        raise InvalidHost(f"{host} ends in a number but is not a valid IPv4 address")

    numbers = [_parse_number_label(label) for label in labels]
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        raise InvalidHost(f"{host} ends in a number but is not a valid IPv4 address (a part is too large)")
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _parse_number_label(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        try:
            return int(label, 8)
        except ValueError:
            raise InvalidHost(f"{label} starts with 0 but is not an octal number") from None
    return int(label)


# One DNS label: letters, digits, hyphens and (as found in practice) underscores.
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True, slots=True)
class AllowList:
    """Host names and address ranges that direct fetching may reach although they are not public.

    A listed host may also be fetched on any port. A cloud metadata address is reached
    only when an entry names that address itself, not through a range that covers it.
    """

    host_names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Parse comma-separated host names, IP addresses and CIDR ranges; blank entries are skipped.

        Raises ValueError naming the first invalid entry and what to write instead.

        >>> AllowList.parse("127.0.0.1, shop.internal, 10.0.0.0/8").networks
        (IPv4Network('127.0.0.1/32'), IPv4Network('10.0.0.0/8'))
        """
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw_entry in text.split(","):
            entry = raw_entry.strip()
            if not entry:
                continue
            network = _parse_network_entry(entry)
            if network is not None:
                networks.append(network)
            else:
                names.add(_parse_host_name_entry(entry))
        return cls(host_names=frozenset(names), networks=tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.host_names or self.networks)

    def allows_name(self, host: str) -> bool:
        return _canonical_name(host) in self.host_names

    def allows_address(self, address: IPAddress) -> bool:
        plain = _without_scope(address)
        if plain in METADATA_ADDRESSES:
            return any(
                network.prefixlen == network.max_prefixlen and network.network_address == plain
                for network in self.networks
            )
        candidates: list[IPAddress] = [plain]
        if isinstance(plain, ipaddress.IPv6Address):
            embedded = embedded_ipv4(plain)
            if embedded is not None:
                candidates.append(embedded)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.networks
        )


def _parse_network_entry(entry: str) -> IPNetwork | None:
    """Return the range an address or CIDR entry denotes, None for a host name, or raise ValueError."""
    if "/" in entry:
        if "://" in entry:
            raise ValueError(f"entry {entry!r} is a URL; list the host name or address only")
        try:
            return ipaddress.ip_network(entry, strict=True)
        except ValueError:
            pass
        try:
            loose = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"entry {entry!r} is not a valid CIDR range such as 10.0.0.0/8") from None
        raise ValueError(f"entry {entry!r} has host bits set; write the range as {loose}")
    try:
        address = ipaddress.ip_address(entry.strip("[]"))
    except ValueError:
        return None
    return ipaddress.ip_network(address)


def _parse_host_name_entry(entry: str) -> str:
    if "*" in entry:
        raise ValueError(f"entry {entry!r} has a wildcard; list each host name on its own")
    if any(character in entry for character in ":@/?#") or any(character.isspace() for character in entry):
        raise ValueError(
            f"entry {entry!r} is not a host name; list the host name or address "
            "alone, without scheme, port or path"
        )
    try:
        name = _canonical_name(entry)
    except UnicodeError:
        raise ValueError(f"entry {entry!r} is not a valid IDNA host name") from None

    try:
        address = parse_ip_host(name)
    except InvalidHost as error:
        raise ValueError(f"entry {entry!r} is invalid: {error}") from None
    if address is not None:
        raise ValueError(f"entry {entry!r} is an address in a short or numeric form; write it as {address}")
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"entry {entry!r} is not a valid host name")
    return name


def _canonical_name(host: str) -> str:
    """Return a host name lower-cased, without a trailing dot, internationalised names in IDNA form."""
    name = host.strip().lower().rstrip(".")
    return name if name.isascii() else name.encode("idna").decode("ascii")


class UnsafeURL(FetchError):
    """Direct fetching rejected a URL or redirect target before connecting to it; retrying cannot help."""


def unsafe_url_error(url: str, reason: str, *, target: str | None = None, requests: int = 0) -> UnsafeURL:
    """Build the error for `url` rejected because of `reason`; `target` is the redirect hop, if any.

    `requests` counts the requests already made for `url`: earlier redirect hops.
    """
    if target is None or target == url:
        message = f"{url} was not fetched: {reason}"
    else:
        message = f"{url} redirected to {target}, which was not fetched: {reason}"
    return UnsafeURL(url, message, requests=requests)


class UnsafeAddressError(Exception):
    """A host resolved to an address direct fetching must not reach; raised before connecting.

    It passes through httpx2 unchanged, and the direct fetcher turns it into `UnsafeURL`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """The URL-safety rules of direct fetching; the default rejects every non-public address.

    >>> UrlPolicy().url_rejection("ftp://shop.example/")
    "it has scheme 'ftp'; only http and https URLs are fetched"
    """

    allow: AllowList = AllowList()

    def url_rejection(self, url: str, *, check_port: bool = True) -> str | None:
        """Return why `url` must not be fetched, judged without any network access, or None.

        Checks the scheme (http or https), credentials, the port (80 or 443 unless the host
        is allowed, and only with `check_port`) and, when the host is an address literal,
        the address.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            return f"it is not a valid URL ({error})"
        if parsed.scheme not in ("http", "https"):
            shown = f"scheme {parsed.scheme!r}" if parsed.scheme else "no scheme"
            return f"it has {shown}; only http and https URLs are fetched"
        if parsed.userinfo:
            return "it contains credentials (user:password@); remove them from the URL"

        host = parsed.raw_host.decode("ascii")
        if not host:
            return "it has no host"
        try:
            address = parse_ip_host(host)
        except InvalidHost as error:
            return str(error)

        if address is not None:
            allowed = self.allow.allows_address(address)
            if not allowed:
                reason = unsafe_address_reason(address)
                if reason is not None:
                    spelled = "" if str(address) == host.strip("[]") else f" (written {host})"
                    return f"{address}{spelled} is {reason}; {_allow_hint(str(address), address)}"
        else:
            allowed = self.allow.allows_name(host)

        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if check_port and port not in SAFE_PORTS and not allowed:
            shown = f"[{host}]" if ":" in host else host
            return (
                f"port {port} is not 80 or 443; to fetch other ports of {shown}, "
                f"add {host} to {ALLOW_HOSTS_VARIABLE}"
            )
        return None

    def resolved_rejection(self, host: str, addresses: Iterable[str]) -> str | None:
        """Return why `host`, resolved to `addresses`, must not be reached, or None when all are safe.

        One unsafe address rejects the host, because the connection could go to any of them.
        """
        name_allowed = self.allow.allows_name(host)
        for text in addresses:
            address = ipaddress.ip_address(text)
            if self.allow.allows_address(address):
                continue
            reason = unsafe_address_reason(address)
            if reason is None:
                continue
            is_metadata = _without_scope(address) in METADATA_ADDRESSES
            if name_allowed and not is_metadata:
                continue
            if text == host.strip("[]"):
                return f"{address} is {reason}; {_allow_hint(str(address), address)}"
            return f"{host} resolves to {address}, {reason}; {_allow_hint(host, address)}"
        return None


def _allow_hint(entry: str, address: IPAddress) -> str:
    if _without_scope(address) in METADATA_ADDRESSES:
        return f"only an entry of exactly {_without_scope(address)} in {ALLOW_HOSTS_VARIABLE} allows it"
    return f"to fetch it anyway, add {entry} to {ALLOW_HOSTS_VARIABLE}"
