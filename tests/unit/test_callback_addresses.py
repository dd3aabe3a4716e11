"""Which callback destinations are refused (SSRF), in every spelling, and what the allow-list opens."""

from __future__ import annotations

import ipaddress

import pytest

from config import SettingsError
from config.callbacks import (
    AllowList,
    CallbackPolicy,
    CallbackRefused,
    check_submitted,
    parse_ipv4_spelling,
    parse_url,
    refusal,
)

NOTHING = AllowList()


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.0.0.1.", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("169.254.43518", "169.254.169.254"),
    ],
)
def test_every_numeric_spelling_is_read_as_the_address_a_resolver_would_use(
    spelling: str, address: str
) -> None:
    assert parse_ipv4_spelling(spelling) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize(
    "name", ["localhost", "example.com", "hooks.internal", "1x.example", "0x-1", "08", "1_0"]
)
def test_names_are_names(name: str) -> None:
    assert parse_ipv4_spelling(name) is None


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "256.0.0.1", "1.2.65536", "example.123", "0x-1.1", "1_0.0.0.1"]
)
def test_a_host_that_looks_numeric_but_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(CallbackRefused):
        parse_ipv4_spelling(host)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "address"),  # reserved; Python 3.11 calls it private too
        ("255.255.255.255", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("192.0.2.1", "private"),  # documentation
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
    ],
)
def test_non_public_addresses_are_refused_and_the_reason_names_the_kind(
    address: str, kind: str
) -> None:
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and kind in reason, reason


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64
        ("64:ff9b::7f00:1", "127.0.0.1"),
    ],
)
def test_an_ipv4_address_wrapped_in_ipv6_is_judged_by_what_it_wraps(
    address: str, inside: str
) -> None:
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and inside in reason, reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001:80b::200e"]
)
def test_public_unicast_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        "https://127.0.0.1./",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_literal_private_addresses_are_refused_at_submission(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_submitted(url, NOTHING)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com:70/",
        "javascript:alert(1)",
        "http:///nohost",
        "http://user:pass@example.com/",
        "http://example.com@10.0.0.1/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://example.com/\r\nX-Injected: 1",
        "http://exämple.com/",
        "example.com/hook",
        "http://" + "a" * 2100 + ".com/",
    ],
)
def test_bad_schemes_and_syntax_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_submitted(url, NOTHING)


def test_a_name_passes_submission_its_addresses_are_checked_at_delivery() -> None:
    target = check_submitted("https://Hooks.Example.com/a/b?x=1#frag", NOTHING)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/a/b?x=1",
    )
    assert target.address is None
    assert check_submitted("http://localhost:9/", NOTHING).address is None


def test_the_target_says_where_to_connect_and_what_host_to_name() -> None:
    target = parse_url("http://[2606:4700::1111]:8080/x")
    assert target.address == ipaddress.ip_address("2606:4700::1111")
    assert target.host_header == "[2606:4700::1111]:8080"
    assert parse_url("https://example.com:443").host_header == "example.com"
    assert parse_url("http://0x7f000001:81/").host == "127.0.0.1"


def test_the_allow_list_opens_networks_and_single_endpoints_only() -> None:
    allow = AllowList.parse("10.1.0.0/16, 127.0.0.1:8080, [::1]:9000, hooks.internal:443")
    check_submitted("http://10.1.2.3:1234/", allow)
    check_submitted("http://127.0.0.1:8080/", allow)
    check_submitted("http://0x7f000001:8080/", allow)  # the same address, spelled otherwise
    check_submitted("http://[::ffff:127.0.0.1]:8080/", allow)
    check_submitted("http://[::1]:9000/", allow)
    for refused in ("http://10.2.0.1/", "http://127.0.0.1:8081/", "http://[::1]:9001/"):
        with pytest.raises(CallbackRefused):
            check_submitted(refused, allow)
    assert allow.allows_name("hooks.internal", 443)
    assert not allow.allows_name("hooks.internal", 80)


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "example.com", "host:", ":80", "1.2.3.4:0"])
def test_a_bad_allow_list_stops_the_component_at_start(bad: str) -> None:
    with pytest.raises(SettingsError, match="CALLBACK_ALLOW"):
        CallbackPolicy.from_env({"CALLBACK_ALLOW": bad})
