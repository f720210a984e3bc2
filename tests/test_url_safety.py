"""URL safety for direct fetching: the address classifier, host literals, URL checks and the allow-list.

Nothing here connects anywhere: the tables judge address literals, and the
fetcher tests in test_url_safety_fetch.py use transports that fail when reached.
"""

from __future__ import annotations

import ipaddress

import pytest

from product_extractor.server.settings import SettingsError, load_settings
from product_extractor.web.url_safety import (
    AllowList,
    InvalidHost,
    UrlPolicy,
    parse_ip_host,
    unsafe_address_reason,
)

# (address, words the reason must contain); None means the address is public and allowed.
ADDRESS_CASES: list[tuple[str, str | None]] = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared address space"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("0.0.0.0", "'this network'"),
    ("0.1.2.3", "'this network'"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("192.88.99.1", "6to4 relay"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"),
    ("::ffff:a9fe:a9fe", "IPv4-mapped form of 169.254.169.254, a cloud metadata"),
    ("64:ff9b::a00:1", "NAT64 form of 10.0.0.1, a private"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1"),
    ("64:ff9b:1::1", "local-use IPv4/IPv6 translation"),
    ("2002:7f00:1::1", "6to4 form of 127.0.0.1"),
    ("2002:c0a8:101::1", "6to4 form of 192.168.1.1"),
    ("2001::1", "IETF protocol assignment"),  # Teredo
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("100::1", "discard-only"),
    ("::127.0.0.1", "outside the IPv6 global unicast range"),  # deprecated IPv4-compatible form
    ("4000::1", "outside the IPv6 global unicast range"),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("93.184.215.14", None),
    ("100.63.255.255", None),  # just below the shared address space
    ("100.128.0.0", None),  # just above it
    ("172.32.0.1", None),  # just above 172.16.0.0/12
    ("2606:4700::1111", None),
    ("2a00:1450:4001::200e", None),
    ("::ffff:8.8.8.8", None),
    ("64:ff9b::808:808", None),
    ("2002:808:808::1", None),
]


@pytest.mark.parametrize(("address", "expected"), ADDRESS_CASES)
def test_address_classifier(address: str, expected: str | None) -> None:
    reason = unsafe_address_reason(ipaddress.ip_address(address))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None, f"{address} was judged public"
        assert expected in reason


# Host spellings that resolvers or browsers read as an IPv4 address, and the address they mean.
IP_HOST_CASES = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0x7F.0.0.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("10.1", "10.0.0.1"),
    ("0", "0.0.0.0"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("[::1]", "::1"),
    ("::ffff:127.0.0.1", "::ffff:7f00:1"),
]


@pytest.mark.parametrize(("host", "address"), IP_HOST_CASES)
def test_ip_host_spellings(host: str, address: str) -> None:
    assert parse_ip_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["shop.example", "localhost", "1shop.example", "0x7f.example", "a.1b"])
def test_host_names_not_addresses(host: str) -> None:
    assert parse_ip_host(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.2.3.256", "1.16777216", "08.1.1.1", "shop.1"])
def test_numeric_host_not_ipv4_invalid(host: str) -> None:
    with pytest.raises(InvalidHost, match="not"):
        parse_ip_host(host)


# (URL, words the rejection must contain) with the default policy, which allows nothing extra.
REJECTED_URLS = [
    ("ftp://shop.example/file", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("gopher://shop.example/", "scheme 'gopher'"),
    ("http://user:secret@shop.example/", "credentials"),
    ("http://user@shop.example/", "credentials"),
    ("http://shop.example:8080/", "port 8080 is not 80 or 443"),
    ("https://shop.example:22/", "port 22"),
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.0.0.1 (written 127.1) is a loopback"),
    ("http://0x7f.1/", "written 0x7f.1"),
    ("http://2130706433/admin", "written 2130706433"),
    ("http://[::1]/", "::1 is a loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped form of 127.0.0.1"),
    ("http://10.0.0.1/", "private"),
    ("http://192.168.0.1/router", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://0.0.0.0/", "'this network'"),
    ("http://1.2.3.4.5/", "not a valid IPv4 address"),
    ("http://8.8.8.8:8080/", "port 8080"),
]


@pytest.mark.parametrize(("url", "expected"), REJECTED_URLS)
def test_url_rejected(url: str, expected: str) -> None:
    reason = UrlPolicy().url_rejection(url)
    assert reason is not None, f"{url} was accepted"
    assert expected in reason


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/p/1",
        "http://shop.example/p/1?colour=red",
        "https://shop.example:443/",
        "http://shop.example:80/",
        "https://bücher.example/",
        "http://8.8.8.8/",
        "http://[2606:4700::1111]/",
    ],
)
def test_public_url_accepted(url: str) -> None:
    assert UrlPolicy().url_rejection(url) is None


def test_rejection_says_how_to_allow() -> None:
    reason = UrlPolicy().url_rejection("http://127.0.0.1:8000/")
    assert reason is not None
    assert "add 127.0.0.1 to PRODUCT_EXTRACTOR_ALLOW_HOSTS" in reason


def test_port_rejection_names_host_to_allow() -> None:
    reason = UrlPolicy().url_rejection("http://shop.example:8080/")
    assert reason is not None
    assert "add shop.example to PRODUCT_EXTRACTOR_ALLOW_HOSTS" in reason


ALLOWING = UrlPolicy(AllowList.parse("127.0.0.1, shop.internal, 10.20.0.0/16, fd00:1234::/32"))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/www.shop.example/p/1",
        "http://127.1:8000/",  # the same address, spelled short
        "http://[::ffff:127.0.0.1]:8000/",  # the same address, IPv4-mapped
        "http://shop.internal:8443/",
        "http://SHOP.INTERNAL./",
        "http://10.20.3.4:9000/",
        "http://[fd00:1234::5]/",
    ],
)
def test_allow_list_accepts(url: str) -> None:
    assert ALLOWING.url_rejection(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.2/", "loopback"),
        ("http://10.21.0.1/", "private"),
        ("http://other.internal:8080/", "port 8080"),
        ("ftp://shop.internal/", "scheme 'ftp'"),
        ("http://user:pw@shop.internal/", "credentials"),
    ],
)
def test_allow_list_rejects_the_rest(url: str, expected: str) -> None:
    reason = ALLOWING.url_rejection(url)
    assert reason is not None
    assert expected in reason


def test_metadata_needs_exact_allow_entry() -> None:
    covering = UrlPolicy(AllowList.parse("169.254.0.0/16"))
    exact = UrlPolicy(AllowList.parse("169.254.169.254"))
    covered_reason = covering.url_rejection("http://169.254.169.254/")
    assert covering.url_rejection("http://169.254.1.1/") is None
    assert covered_reason is not None
    assert "only an entry of exactly 169.254.169.254" in covered_reason
    assert exact.url_rejection("http://169.254.169.254/") is None


def test_resolved_mix_rejected() -> None:
    reason = UrlPolicy().resolved_rejection("shop.example", ["93.184.215.14", "10.0.0.7"])
    assert reason is not None
    assert "shop.example resolves to 10.0.0.7, a private address" in reason
    assert "add shop.example to PRODUCT_EXTRACTOR_ALLOW_HOSTS" in reason


def test_resolved_public_accepted() -> None:
    assert UrlPolicy().resolved_rejection("shop.example", ["93.184.215.14", "2606:2800:21f::1"]) is None


def test_resolved_ipv6_mapped_loopback_rejected() -> None:
    reason = UrlPolicy().resolved_rejection("shop.example", ["::ffff:127.0.0.1"])
    assert reason is not None
    assert "IPv4-mapped form of 127.0.0.1" in reason


def test_allowed_name_accepts_its_addresses() -> None:
    policy = UrlPolicy(AllowList.parse("shop.internal"))
    assert policy.resolved_rejection("shop.internal", ["10.0.0.7", "127.0.0.1"]) is None


def test_allowed_name_still_rejects_metadata() -> None:
    policy = UrlPolicy(AllowList.parse("shop.internal"))
    reason = policy.resolved_rejection("shop.internal", ["169.254.169.254"])
    assert reason is not None
    assert "cloud metadata" in reason


def test_allow_list_parse() -> None:
    allow = AllowList.parse(" 127.0.0.1 , Shop.Internal.,, 10.0.0.0/8,::1, [fd00::1], bücher.example ")
    assert allow.host_names == {"shop.internal", "xn--bcher-kva.example"}
    assert allow.networks == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("fd00::1/128"),
    )


def test_empty_allow_list_allows_nothing() -> None:
    allow = AllowList.parse("  ")
    assert not allow
    assert not allow.allows_address(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("http://127.0.0.1:8000", "is a URL"),
        ("127.0.0.1:8000", "without scheme, port or path"),
        ("localhost:8000", "without scheme, port or path"),
        ("10.0.0.1/8", "host bits set; write the range as 10.0.0.0/8"),
        ("10.0.0.0/33", "not a valid CIDR range"),
        ("*.shop.example", "wildcard"),
        ("127.1", "write it as 127.0.0.1"),
        ("2130706433", "write it as 127.0.0.1"),
        ("999.1.1.1", "not a valid IPv4 address"),
        ("shop_-.example!", "not a valid host name"),
        ("-shop.example", "not a valid host name"),
        ("shop example", "without scheme, port or path"),
    ],
)
def test_allow_list_entry_invalid(entry: str, expected: str) -> None:
    with pytest.raises(ValueError, match="entry") as raised:
        AllowList.parse(f"127.0.0.1,{entry}")
    message = str(raised.value)
    assert repr(entry) in message
    assert expected in message


def test_settings_error_names_variable_and_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_ALLOW_HOSTS", "127.0.0.1, http://localhost:8000")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "PRODUCT_EXTRACTOR_ALLOW_HOSTS" in message
    assert "'http://localhost:8000'" in message


def test_settings_allow_list_default_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODUCT_EXTRACTOR_ALLOW_HOSTS", raising=False)
    policy = load_settings().url_policy()
    assert policy.url_rejection("http://127.0.0.1:8000/") is not None


def test_settings_allow_list_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_ALLOW_HOSTS", "127.0.0.1,shop.internal")
    policy = load_settings().url_policy()
    assert policy.url_rejection("http://127.0.0.1:8000/") is None
    assert policy.url_rejection("http://shop.internal:8000/") is None
