"""The site file: every rule checked before any connection, each mistake named by its field."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import provisioning
from profiles.catalogue import Catalogue
from profiles.model import LineName
from provisioning.site import Site, SiteError, SiteRules, load_site

EXAMPLE = Path(provisioning.__file__).parent / "examples" / "site.yaml"
BOX_PASSWORD = "b0x-Secret!"
SIP_PASSWORD = "s1p-Secret!"
DELETE = object()

LoadSite = Callable[..., Site]


@pytest.fixture(scope="module")
def rules() -> SiteRules:
    return SiteRules.load()


def example_data() -> dict[str, Any]:
    """The example site, with its passwords written in the file instead of the environment."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    del data["box"]["password_env"], data["voip_line"]["password_env"]
    data["box"]["password"] = BOX_PASSWORD
    data["voip_line"]["password"] = SIP_PASSWORD
    return data


def changed(data: dict[str, Any], changes: dict[str, object]) -> dict[str, Any]:
    """A copy of the site data with dotted fields (`lan.static_leases.0.ip`) set or deleted."""
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        key: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return data


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def site_with(tmp_path: Path, rules: SiteRules) -> LoadSite:
    """Load the example site with some fields changed (dotted names as keys)."""

    def load(changes: dict[str, object] | None = None, *, rules: SiteRules = rules) -> Site:
        data = changed(example_data(), changes or {})
        return load_site(write(tmp_path / "shop-12.yaml", data), rules=rules)

    return load


def refused(load: LoadSite, changes: dict[str, object], **kwargs: Any) -> SiteError:
    with pytest.raises(SiteError) as error:
        load(changes, **kwargs)
    return error.value


# --- The example ---------------------------------------------------------------------------


def test_the_example_site_loads_with_its_passwords_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, rules: SiteRules
) -> None:
    monkeypatch.setenv("LIVEBOX_ADMIN_PASSWORD", BOX_PASSWORD)
    monkeypatch.setenv("LIVEBOX_SIP_PASSWORD", SIP_PASSWORD)
    site = load_site(EXAMPLE, rules=rules)
    assert site.name == "site"
    assert site.source == EXAMPLE
    assert site.offer == "optimale-pro-equilibre"
    target = site.target()
    assert (target.name, target.host, target.port, target.transport) == (
        "site",
        "192.168.1.1",
        22,
        "ssh",
    )
    assert target.user == "admin"
    assert target.password == BOX_PASSWORD
    assert not target.trust_on_first_use
    assert site.target("shop-12").name == "shop-12"
    assert site.voip_line.password is not None
    assert site.voip_line.password.get_secret_value() == SIP_PASSWORD


def test_numbers_are_kept_in_e164(site_with: LoadSite) -> None:
    site = site_with()
    assert site.classic_line.number == "+33199001234"
    assert site.classic_line.continuity == "+33612345678"
    assert site.voip_line.directory_number == "+33977421234"
    assert site.forwarding.busy == "+33199005678"
    assert site.forwarding.no_answer is not None
    assert site.forwarding.no_answer.number == "+33612345678"


def test_site_error_names_file_field_and_reason(site_with: LoadSite, tmp_path: Path) -> None:
    error = refused(site_with, {"fixed_ip.gateway": "198.51.100.1"})
    assert error.path == tmp_path / "shop-12.yaml"
    assert error.field == "fixed_ip.gateway"
    assert error.reason == "198.51.100.1 is not in 203.0.113.0/24, the fixed IP's prefix"
    assert str(error) == f"{tmp_path / 'shop-12.yaml'}: fixed_ip.gateway: {error.reason}"
    assert isinstance(error, ValueError)


# --- The fixed IP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", "a private address (10.0.0.0/8)"),
        ("172.20.0.1", "a private address (172.16.0.0/12)"),
        ("192.168.5.1", "a private address (192.168.0.0/16)"),
        ("100.64.1.1", "a shared address of carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.2", "a loopback address (127.0.0.0/8)"),
        ("169.254.10.1", "a link-local address (169.254.0.0/16)"),
        ("224.0.1.1", "a multicast address (224.0.0.0/4)"),
        ("240.0.0.1", "a reserved address (240.0.0.0/4)"),
        ("0.1.2.3", "a 'this network' address (0.0.0.0/8)"),
        ("198.18.0.1", "a benchmarking address (198.18.0.0/15)"),
    ],
)
def test_a_fixed_ip_is_a_public_unicast_address(
    site_with: LoadSite, address: str, why: str
) -> None:
    gateway = address.rpartition(".")[0] + ".254"
    error = refused(site_with, {"fixed_ip.address": address, "fixed_ip.gateway": gateway})
    assert error.field == "fixed_ip.address"
    assert error.reason == f"{address} is {why}; a fixed IP is a public unicast address"


@pytest.mark.parametrize(
    ("address", "gateway"),
    [("192.0.2.10", "192.0.2.1"), ("198.51.100.10", "198.51.100.1"), ("8.8.8.8", "8.8.8.1")],
)
def test_documentation_blocks_are_accepted_as_public(
    site_with: LoadSite, address: str, gateway: str
) -> None:
    site = site_with({"fixed_ip.address": address, "fixed_ip.gateway": gateway})
    assert site.fixed_ip is not None
    assert site.fixed_ip.address == address


def test_a_fixed_ip_is_neither_the_network_nor_the_broadcast_address(site_with: LoadSite) -> None:
    error = refused(site_with, {"fixed_ip.address": "203.0.113.0"})
    assert str(error).endswith(
        "fixed_ip.address: 203.0.113.0 is the network address of 203.0.113.0/24"
    )
    error = refused(site_with, {"fixed_ip.address": "203.0.113.255"})
    assert error.reason == "203.0.113.255 is the broadcast address of 203.0.113.0/24"
    error = refused(site_with, {"fixed_ip.address": "203.0.113.63", "fixed_ip.prefix": 26})
    assert error.reason == "203.0.113.63 is the broadcast address of 203.0.113.0/26"


def test_the_gateway_is_in_the_prefix_and_not_the_address_itself(site_with: LoadSite) -> None:
    error = refused(site_with, {"fixed_ip.prefix": 28, "fixed_ip.gateway": "203.0.113.30"})
    assert error.field == "fixed_ip.gateway"
    assert error.reason == "203.0.113.30 is not in 203.0.113.0/28, the fixed IP's prefix"
    error = refused(site_with, {"fixed_ip.gateway": "203.0.113.10"})
    assert error.reason == "203.0.113.10 is the fixed IP itself"
    error = refused(site_with, {"fixed_ip.gateway": "203.0.113.255"})
    assert error.reason == "203.0.113.255 is the broadcast address of 203.0.113.0/24"


def test_a_fixed_ip_has_one_or_two_public_dns_servers(site_with: LoadSite) -> None:
    site = site_with({"fixed_ip.dns": ["198.51.100.53"]})
    assert site.fixed_ip is not None
    assert site.fixed_ip.dns == ["198.51.100.53"]
    error = refused(site_with, {"fixed_ip.dns": []})
    assert error.field == "fixed_ip.dns"
    assert "at least 1 item" in error.reason
    error = refused(site_with, {"fixed_ip.dns": ["198.51.100.1", "198.51.100.2", "198.51.100.3"]})
    assert "at most 2 items" in error.reason
    error = refused(site_with, {"fixed_ip.dns": ["198.51.100.53", "192.168.1.1"]})
    assert error.field == "fixed_ip.dns.1"
    assert error.reason == (
        "192.168.1.1 is a private address (192.168.0.0/16); a DNS server is a public unicast "
        "address"
    )
    error = refused(site_with, {"fixed_ip.dns": ["198.51.100.53", "198.51.100.53"]})
    assert error.reason == "198.51.100.53 is given twice"


def test_addresses_and_prefix_lengths_are_checked(site_with: LoadSite) -> None:
    error = refused(site_with, {"fixed_ip.address": "203.0.113"})
    assert error.field == "fixed_ip.address"
    assert error.reason == (
        "'203.0.113' is not an IPv4 address (four numbers 0 to 255, as 192.0.2.1)"
    )
    error = refused(site_with, {"fixed_ip.prefix": 31})
    assert error.field == "fixed_ip.prefix"
    assert error.reason == "31 is not a prefix length for this network (8 to 30)"
    error = refused(site_with, {"fixed_ip.prefix": "/24"})
    assert error.reason.startswith("Input should be a valid integer")
    assert error.reason.endswith("(read '/24')")


# --- The LAN -----------------------------------------------------------------------------


def test_the_lan_address_is_private(site_with: LoadSite) -> None:
    error = refused(site_with, {"lan.address": "203.0.113.1"})
    assert error.field == "lan.address"
    assert error.reason == (
        "203.0.113.1 is not a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
    )
    error = refused(site_with, {"lan.prefix": 8})
    assert error.field == "lan.prefix"
    assert error.reason == "192.0.0.0/8 reaches beyond the private block 192.168.0.0/16"
    error = refused(site_with, {"lan.address": "192.168.1.0"})
    assert error.reason == "192.168.1.0 is the network address of 192.168.1.0/24"


def test_the_dhcp_pool_sits_in_the_lan_prefix(site_with: LoadSite) -> None:
    error = refused(site_with, {"lan.dhcp.start": "192.168.2.10"})
    assert error.field == "lan.dhcp.start"
    assert error.reason == "192.168.2.10 is not in the LAN 192.168.1.0/24"
    error = refused(site_with, {"lan.dhcp.end": "192.168.1.255"})
    assert error.field == "lan.dhcp.end"
    assert error.reason == "192.168.1.255 is the broadcast address of 192.168.1.0/24"
    error = refused(site_with, {"lan.dhcp.start": "192.168.1.200", "lan.dhcp.end": "192.168.1.100"})
    assert error.field == "lan.dhcp.end"
    assert error.reason == "192.168.1.100 comes before the start 192.168.1.200"


def test_the_dhcp_pool_does_not_hold_the_box_address(site_with: LoadSite) -> None:
    error = refused(site_with, {"lan.address": "192.168.1.100"})
    assert error.field == "lan.dhcp"
    assert error.reason == (
        "the pool 192.168.1.10 to 192.168.1.150 holds the box's own address 192.168.1.100"
    )
    error = refused(site_with, {"lan.dhcp.start": "192.168.1.1"})
    assert error.field == "lan.dhcp.start"
    assert error.reason == "192.168.1.1 is the box's own address"


def test_a_static_lease_may_sit_inside_or_outside_the_pool(site_with: LoadSite) -> None:
    inside = site_with({"lan.static_leases.0.ip": "192.168.1.50"})
    assert inside.lan.static_leases[0].ip == "192.168.1.50"
    outside = site_with({"lan.static_leases.0.ip": "192.168.1.250"})
    assert outside.lan.static_leases[0].ip == "192.168.1.250"


def test_a_static_lease_is_a_device_address_of_the_lan(site_with: LoadSite) -> None:
    error = refused(site_with, {"lan.static_leases.0.ip": "10.0.0.5"})
    assert error.field == "lan.static_leases.0.ip"
    assert error.reason == "10.0.0.5 is not in the LAN 192.168.1.0/24"
    error = refused(site_with, {"lan.static_leases.0.ip": "192.168.1.1"})
    assert error.reason == "192.168.1.1 is the box's own address"


def test_static_leases_have_distinct_names_macs_and_addresses(site_with: LoadSite) -> None:
    printer = {"name": "printer", "mac": "00:1a:2b:3c:4d:5e", "ip": "192.168.1.200"}
    error = refused(
        site_with, {"lan.static_leases": [printer, dict(printer, name="nas", ip="192.168.1.201")]}
    )
    assert error.field == "lan.static_leases.1.mac"
    assert error.reason == "00:1a:2b:3c:4d:5e is already the mac of the lease 'printer'"
    error = refused(
        site_with,
        {"lan.static_leases": [printer, dict(printer, mac="00:1a:2b:3c:4d:5f", ip="192.168.1.9")]},
    )
    assert error.field == "lan.static_leases.1.name"
    assert error.reason == "a second lease is named 'printer'"


def test_mac_addresses_are_checked_and_written_as_the_box_does(site_with: LoadSite) -> None:
    site = site_with({"lan.static_leases.0.mac": "00-1A-2B-3C-4D-5E"})
    assert site.lan.static_leases[0].mac == "00:1a:2b:3c:4d:5e"
    error = refused(site_with, {"lan.static_leases.0.mac": "00:1a:2b"})
    assert error.field == "lan.static_leases.0.mac"
    assert error.reason == "'00:1a:2b' is not a MAC address (as 00:1a:2b:3c:4d:5e)"
    error = refused(site_with, {"lan.static_leases.0.mac": "01:00:5e:00:00:01"})
    assert error.reason == "'01:00:5e:00:00:01' is a multicast MAC address, not a device's"


@pytest.fixture
def example_text_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: SiteRules
) -> Callable[[str, str], SiteError]:
    """The error of the example file with one piece of its text replaced."""
    monkeypatch.setenv("LIVEBOX_ADMIN_PASSWORD", BOX_PASSWORD)
    monkeypatch.setenv("LIVEBOX_SIP_PASSWORD", SIP_PASSWORD)

    def load(old: str, new: str) -> SiteError:
        text = EXAMPLE.read_text(encoding="utf-8")
        assert old in text
        path = tmp_path / "site.yaml"
        path.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(SiteError) as error:
            load_site(path, rules=rules)
        return error.value

    return load


def test_an_unquoted_mac_read_as_a_number_says_to_quote_it(
    example_text_with: Callable[[str, str], SiteError],
) -> None:
    error = example_text_with('"00:1a:2b:3c:4d:5e"', "12:34:56:12:34:56")
    assert error.field == "lan.static_leases.0.mac"
    assert error.reason == 'write the MAC address in quotes, as "00:1a:2b:3c:4d:5e"'


# --- Ports and port forwards -------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["box.port", "voip_line.registrar_port", "port_forwards.0.external_port"],
)
@pytest.mark.parametrize("port", [0, 65536])
def test_ports_are_1_to_65535(site_with: LoadSite, field: str, port: int) -> None:
    error = refused(site_with, {field: port})
    assert error.field == field
    assert error.reason == f"{port} is not a port number (1 to 65535)"


def test_the_box_port_defaults_by_transport(site_with: LoadSite) -> None:
    assert site_with({"box.port": DELETE}).box.port == 22
    sysbus = site_with({"box.port": None, "box.transport": "sysbus"})
    assert sysbus.target().port == 80
    assert sysbus.target().transport == "sysbus"


def test_a_port_forward_goes_to_a_device_of_the_lan(site_with: LoadSite) -> None:
    error = refused(site_with, {"port_forwards.0.internal_client": "192.168.1.1"})
    assert error.field == "port_forwards.0.internal_client"
    assert error.reason == "192.168.1.1 is the box's own address"
    error = refused(site_with, {"port_forwards.0.internal_client": "203.0.113.20"})
    assert error.reason == "203.0.113.20 is not in the LAN 192.168.1.0/24"


def test_two_forwards_of_one_external_port_must_not_overlap(site_with: LoadSite) -> None:
    web = {
        "name": "web",
        "protocol": "TCP",
        "external_port": 8080,
        "internal_port": 80,
        "internal_client": "192.168.1.20",
    }
    udp = dict(web, name="voice", protocol="udp")
    site = site_with({"port_forwards": [web, udp]})
    assert [forward.protocol for forward in site.port_forwards] == ["TCP", "UDP"]
    error = refused(site_with, {"port_forwards": [web, dict(web, name="alt", protocol="BOTH")]})
    assert error.field == "port_forwards.1.external_port"
    assert error.reason == "8080/TCP is already forwarded by 'web'"
    error = refused(site_with, {"port_forwards": [web, dict(web, external_port=8443)]})
    assert error.field == "port_forwards.1.name"
    assert error.reason == "a second port forward is named 'web'"


def test_entry_names_fit_the_box_alias(site_with: LoadSite) -> None:
    error = refused(site_with, {"port_forwards.0.name": "web server"})
    assert error.field == "port_forwards.0.name"
    assert error.reason.startswith("'web server' is not an entry name (letters, digits")
    error = refused(site_with, {"lan.static_leases.0.name": "p" * 60})
    assert "at most 59 characters" in error.reason
    error = refused(site_with, {"port_forwards.0.protocol": "SCTP"})
    assert error.field == "port_forwards.0.protocol"
    assert error.reason == "Input should be 'TCP', 'UDP' or 'BOTH' (read 'SCTP')"


# --- Numbers -----------------------------------------------------------------------------


def test_forwarding_to_a_special_number_is_refused(site_with: LoadSite, tmp_path: Path) -> None:
    error = refused(site_with, {"forwarding.busy": "08 92 68 02 02"})
    assert str(error) == (
        f"{tmp_path / 'shop-12.yaml'}: forwarding.busy: 08 92 68 02 02 is a special number; "
        "forwarding to special, short or emergency numbers is not allowed"
    )


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("0800 00 00 00", "a special number"),
        ("118712", "a special number"),
        ("+44 870 123 4567", "a special number"),
        ("3901", "a short number"),
        ("112", "an emergency number"),
        ("15", "an emergency number"),
    ],
)
def test_no_premium_short_or_emergency_number_as_a_forwarding_target(
    site_with: LoadSite, number: str, kind: str
) -> None:
    error = refused(site_with, {"forwarding.unconditional": number})
    assert error.field == "forwarding.unconditional"
    assert error.reason == (
        f"{number} is {kind}; forwarding to special, short or emergency numbers is not allowed"
    )
    error = refused(site_with, {"forwarding.no_answer.number": number})
    assert error.field == "forwarding.no_answer.number"


def test_forwarding_may_go_to_mobiles_ip_numbers_and_abroad(site_with: LoadSite) -> None:
    site = site_with(
        {
            "forwarding.unconditional": "06 12 34 56 78",
            "forwarding.busy": "+44 20 7946 0000",
            "forwarding.no_answer.number": "09 77 42 99 99",
        }
    )
    assert site.forwarding.targets == {
        "unconditional": "+33612345678",
        "busy": "+442079460000",
        "no_answer.number": "+33977429999",
    }


def test_a_line_cannot_forward_to_itself(site_with: LoadSite) -> None:
    error = refused(site_with, {"forwarding.unconditional": "+33 9 77 42 12 34"})
    assert error.field == "forwarding.unconditional"
    assert error.reason == (
        "+33977421234 is the internet line's own number; a line cannot forward to itself"
    )


def test_an_invalid_forwarding_number_says_why(site_with: LoadSite) -> None:
    error = refused(site_with, {"forwarding.busy": "07 00 00 00 00"})
    assert error.field == "forwarding.busy"
    assert error.reason == (
        "'07 00 00 00 00': no number starts with 070 (prefix allocated to no type of number)"
    )


def test_continuity_to_a_metropolitan_fixed_or_mobile_number(site_with: LoadSite) -> None:
    assert site_with({"classic_line.continuity": "02 61 91 12 34"}).classic_line.continuity == (
        "+33261911234"
    )
    assert site_with({"classic_line.continuity": None}).classic_line.continuity is None


@pytest.mark.parametrize(
    ("number", "found"),
    [
        ("09 77 42 00 01", "an n° IP (09) number of metropolitan France"),
        ("0590 27 12 34", "a fixed number of BL"),
        ("0690 12 34 56", "a mobile number of GP"),
        ("+44 20 7946 0000", "a fixed number of GB"),
        ("08 92 68 02 02", "a special number of metropolitan France"),
        ("3901", "a short number of metropolitan France"),
    ],
)
def test_continuity_elsewhere_is_refused_as_footnote_15_says(
    site_with: LoadSite, number: str, found: str
) -> None:
    error = refused(site_with, {"classic_line.continuity": number})
    assert error.field == "classic_line.continuity"
    assert error.reason == (
        f"{number} is {found}; the classic line is redirected on failure to a fixed or mobile "
        "number of metropolitan France (footnote 15 of the offer)"
    )


def test_continuity_is_not_the_classic_line_itself(site_with: LoadSite) -> None:
    error = refused(site_with, {"classic_line.continuity": "+33199001234"})
    assert error.field == "classic_line.continuity"
    assert error.reason == "+33199001234 is the classic line's own number"


def test_the_lines_numbers(site_with: LoadSite) -> None:
    error = refused(site_with, {"classic_line.number": "06 12 34 56 78"})
    assert error.field == "classic_line.number"
    assert error.reason == (
        "06 12 34 56 78 is a mobile number of metropolitan France; the classic line has a fixed "
        "number of metropolitan France"
    )
    error = refused(site_with, {"voip_line.directory_number": "06 12 34 56 78"})
    assert error.reason.endswith(
        "the internet line has a fixed or n° IP (09) number of metropolitan France"
    )
    error = refused(site_with, {"voip_line.directory_number": "01 99 00 12 34"})
    assert error.field == "voip_line.directory_number"
    assert error.reason == "+33199001234 is the classic line's number; each line has its own"


def test_an_unquoted_number_read_by_yaml_as_an_integer_says_to_quote_it(
    example_text_with: Callable[[str, str], SiteError],
) -> None:
    error = example_text_with('number: "01 99 00 12 34"', "number: 0145000000")
    assert error.field == "classic_line.number"
    assert error.reason == (
        'write phone numbers in quotes, as "01 99 00 12 34" (unquoted, YAML read the integer '
        f"{0o145000000})"
    )


# --- The offer ---------------------------------------------------------------------------


def test_the_offer_must_exist(site_with: LoadSite) -> None:
    error = refused(site_with, {"offer": "optimale-pro"})
    assert error.field == "offer"
    assert error.reason.startswith("no offer named 'optimale-pro'; known offers: optimale-pro-")


def rules_with_offer_changes(rules: SiteRules, **internet: object) -> SiteRules:
    offers = dict(rules.catalogue.offers)
    offer = offers["optimale-pro-equilibre"]
    offers[offer.name] = offer.model_copy(
        update={"internet": offer.internet.model_copy(update=internet)}
    )
    return SiteRules(dataclasses.replace(rules.catalogue, offers=offers), rules.plan)


def test_a_fixed_ip_only_when_the_offer_allows_it(site_with: LoadSite, rules: SiteRules) -> None:
    without = rules_with_offer_changes(rules, fixed_ip="none")
    error = refused(site_with, {}, rules=without)
    assert error.field == "fixed_ip"
    assert error.reason == "the offer optimale-pro-equilibre has no fixed IP"
    assert site_with({"fixed_ip": None}, rules=without).fixed_ip is None


def test_forwarding_only_when_the_internet_line_offers_it(
    site_with: LoadSite, rules: SiteRules
) -> None:
    offers = dict(rules.catalogue.offers)
    offer = offers["optimale-pro-equilibre"]
    lines = dict(offer.lines)
    lines[LineName.VOIP] = lines[LineName.VOIP].model_copy(update={"services": ["number-display"]})
    offers[offer.name] = offer.model_copy(update={"lines": lines})
    narrow = SiteRules(dataclasses.replace(rules.catalogue, offers=offers), rules.plan)
    error = refused(site_with, {}, rules=narrow)
    assert error.field == "forwarding"
    assert error.reason == "the internet line of optimale-pro-equilibre has no call forwarding"
    off = {"forwarding.busy": None, "forwarding.no_answer": None}
    assert site_with(off, rules=narrow).forwarding.targets == {}


def test_check_offer_refuses_another_offer(site_with: LoadSite, rules: SiteRules) -> None:
    site = site_with()
    with pytest.raises(SiteError, match=r"offer: the site is for optimale-pro-equilibre, not "):
        site.check_offer(rules.catalogue.offer("optimale-pro-intense"))
    site.check_offer(rules.catalogue.offer("optimale-pro-equilibre"))


# --- Secrets -----------------------------------------------------------------------------


def test_password_from_an_environment_variable(
    site_with: LoadSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_12_BOX", "from-env")
    site = site_with({"box.password": DELETE, "box.password_env": "SHOP_12_BOX"})
    assert site.target().password == "from-env"
    assert site.box.password_env == "SHOP_12_BOX"
    monkeypatch.delenv("SHOP_12_BOX")
    error = refused(site_with, {"box.password": DELETE, "box.password_env": "SHOP_12_BOX"})
    assert error.field == "box.password_env"
    assert error.reason == "the environment variable SHOP_12_BOX is not set"
    monkeypatch.setenv("SHOP_12_BOX", "")
    error = refused(site_with, {"box.password": DELETE, "box.password_env": "SHOP_12_BOX"})
    assert error.reason == "SHOP_12_BOX is empty"
    error = refused(site_with, {"box.password": DELETE, "box.password_env": "SHOP 12"})
    assert error.reason == "'SHOP 12' is not an environment variable name"


def test_password_from_a_file_next_to_the_site(site_with: LoadSite, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "sip").write_text("from-file\n", encoding="utf-8")
    site = site_with({"voip_line.password": DELETE, "voip_line.password_file": "secrets/sip"})
    assert site.voip_line.password is not None
    assert site.voip_line.password.get_secret_value() == "from-file"
    assert site.voip_line.password_file == tmp_path / "secrets" / "sip"
    error = refused(site_with, {"voip_line.password": DELETE, "voip_line.password_file": "nope"})
    assert error.field == "voip_line.password_file"
    assert error.reason == f"cannot read {tmp_path / 'nope'} (No such file or directory)"
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    error = refused(site_with, {"voip_line.password": DELETE, "voip_line.password_file": "empty"})
    assert error.reason == f"{tmp_path / 'empty'} is empty"


def test_a_password_is_given_one_way(site_with: LoadSite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_12_BOX", "from-env")
    error = refused(site_with, {"box.password_env": "SHOP_12_BOX"})
    assert error.field == "box"
    assert error.reason == "give the password one way, not 2: password and password_env"
    error = refused(site_with, {"voip_line.password": DELETE})
    assert error.field == "voip_line.password"
    assert error.reason == (
        "missing: the line registers with its SIP password (password, password_env or "
        "password_file)"
    )
    error = refused(site_with, {"box.password": ""})
    assert (error.field, error.reason) == ("box.password", "is empty")


def test_a_password_never_shows_in_errors_or_repr(site_with: LoadSite) -> None:
    error = refused(site_with, {"box.password": 987654321})
    assert (error.field, error.reason) == ("box.password", "write the password as text, in quotes")
    assert "987654321" not in str(error)
    typo = refused(site_with, {"voip_line.passwrd": SIP_PASSWORD})
    assert typo.field == "voip_line.passwrd"
    assert typo.reason.startswith("unknown field (did you mean password?); voip_line has: ")
    assert SIP_PASSWORD not in str(typo)
    bad = refused(site_with, {"lan.prefix": 40})
    assert BOX_PASSWORD not in str(bad)
    assert SIP_PASSWORD not in str(bad)
    site = site_with()
    for text in (repr(site), str(site), repr(site.target()), repr(site.box), repr(site.voip_line)):
        assert BOX_PASSWORD not in text
        assert SIP_PASSWORD not in text
    assert "SecretStr('**********')" in repr(site.voip_line)


# --- The box -----------------------------------------------------------------------------


def test_ssh_needs_a_password_or_a_key_file(site_with: LoadSite, tmp_path: Path) -> None:
    error = refused(site_with, {"box.password": DELETE})
    assert error.field == "box"
    assert error.reason == "give a password (password, password_env or password_file) or a key_file"
    (tmp_path / "id_ed25519").write_text("key", encoding="utf-8")
    site = site_with({"box.password": DELETE, "box.key_file": "id_ed25519"})
    assert site.target().key_file == tmp_path / "id_ed25519"
    assert site.target().password is None
    error = refused(site_with, {"box.key_file": "missing_key"})
    assert error.field == "box.key_file"
    assert error.reason == f"no such file: {tmp_path / 'missing_key'}"


def test_host_keys_are_checked_unless_trust_on_first_use_is_asked(
    site_with: LoadSite, tmp_path: Path
) -> None:
    error = refused(site_with, {"box.known_hosts": "known_hosts"})
    assert error.field == "box.known_hosts"
    assert error.reason.startswith(f"no such file: {tmp_path / 'known_hosts'} (give an existing")
    first = site_with({"box.known_hosts": "known_hosts", "box.trust_on_first_use": True})
    assert first.target().trust_on_first_use
    assert first.target().known_hosts == tmp_path / "known_hosts"
    error = refused(site_with, {"box.trust_on_first_use": True})
    assert error.field == "box.trust_on_first_use"
    assert error.reason == "needs a known_hosts file to add the new host key to"
    (tmp_path / "known_hosts").write_text("", encoding="utf-8")
    assert site_with({"box.known_hosts": "known_hosts"}).target().known_hosts is not None


def test_sysbus_logs_in_with_a_password_only(site_with: LoadSite, tmp_path: Path) -> None:
    sysbus = {"box.transport": "sysbus", "box.port": 8080}
    error = refused(site_with, {**sysbus, "box.password": DELETE})
    assert error.field == "box"
    assert error.reason.startswith("sysbus logs in with a password: give one")
    error = refused(site_with, {**sysbus, "box.trust_on_first_use": True})
    assert error.field == "box.trust_on_first_use"
    assert error.reason == "is for ssh host keys; sysbus has none"
    (tmp_path / "known_hosts").write_text("", encoding="utf-8")
    error = refused(site_with, {**sysbus, "box.known_hosts": "known_hosts"})
    assert (error.field, error.reason) == (
        "box.known_hosts",
        "is for ssh; sysbus logs in with a password",
    )
    error = refused(site_with, {"box.transport": "telnet", "box.port": DELETE})
    assert error.field == "box.transport"
    assert error.reason == "Input should be 'ssh' or 'sysbus' (read 'telnet')"


def test_host_names(site_with: LoadSite) -> None:
    assert site_with({"voip_line.registrar": "SIP.Example.NET."}).voip_line.registrar == (
        "sip.example.net"
    )
    error = refused(site_with, {"voip_line.proxy": "proxy..example.net"})
    assert error.field == "voip_line.proxy"
    assert error.reason.startswith("'proxy..example.net' is not a host name or IPv4 address")
    error = refused(site_with, {"box.host": "10.0.0.256"})
    assert error.field == "box.host"
    error = refused(site_with, {"voip_line.sip_user": "jean dupont"})
    assert error.field == "voip_line.sip_user"
    assert error.reason.startswith("'jean dupont' is not a SIP user name")


# --- The file ----------------------------------------------------------------------------


def test_unknown_fields_are_named_with_the_known_ones(site_with: LoadSite) -> None:
    error = refused(site_with, {"colour": "orange"})
    assert error.field == "colour"
    assert error.reason.startswith("unknown field; a site has: box, offer, classic_line,")
    error = refused(site_with, {"lan.dhcp.lease": 3600})
    assert error.field == "lan.dhcp.lease"
    hint = "unknown field (did you mean lease_s?)"
    assert error.reason == f"{hint}; lan.dhcp has: start, end, lease_s"
    error = refused(site_with, {"port_forwards.0.port": 80})
    assert error.field == "port_forwards.0.port"
    assert "port_forwards has: name, protocol, external_port" in error.reason


def test_missing_fields_are_named(site_with: LoadSite) -> None:
    error = refused(site_with, {"voip_line.registrar": DELETE})
    assert (error.field, error.reason) == ("voip_line.registrar", "missing (a required field)")
    error = refused(site_with, {"lan": DELETE})
    assert error.field == "lan"


def test_optional_sections_may_be_left_out_or_null(site_with: LoadSite) -> None:
    site = site_with(
        {"fixed_ip": DELETE, "port_forwards": None, "forwarding": None, "lan.static_leases": None}
    )
    assert site.fixed_ip is None
    assert site.port_forwards == []
    assert site.forwarding.targets == {}
    assert site.lan.static_leases == []


def test_bad_yaml_gives_the_line(tmp_path: Path, rules: SiteRules) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("box:\n  host: 192.168.1.1\n  port: [22\noffer: x\n", encoding="utf-8")
    with pytest.raises(SiteError) as error:
        load_site(path, rules=rules)
    assert error.value.field is None
    assert str(error.value).startswith(f"{path}: not valid YAML: line 4, column")


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, rules: SiteRules) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("- box\n- offer\n", encoding="utf-8")
    with pytest.raises(SiteError, match=r"site.yaml: expected a mapping of fields at the top"):
        load_site(path, rules=rules)
    with pytest.raises(SiteError, match=r"missing.yaml: cannot read the file"):
        load_site(tmp_path / "missing.yaml", rules=rules)


def test_a_site_is_named_by_its_file_not_a_field(site_with: LoadSite) -> None:
    error = refused(site_with, {"name": "shop-13"})
    assert error.field == "name"
    assert error.reason == "a site is named by its host in an inventory, or by its file name"


def test_an_inventory_is_not_a_site_file(tmp_path: Path, rules: SiteRules) -> None:
    path = write(tmp_path / "inventory.yaml", {"hosts": {"shop-12": {}}})
    with pytest.raises(SiteError, match=r"inventory.yaml: hosts: this is an inventory of sites"):
        load_site(path, rules=rules)


def test_the_shipped_catalogue_is_the_default(tmp_path: Path) -> None:
    site = load_site(write(tmp_path / "shop-12.yaml", example_data()))
    assert site.offer in Catalogue.load().offers
