"""The desired state: every site field on its data-model path, checked before connecting."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import provisioning
from profiles.datamodel import DataModel
from profiles.model import Offer
from provisioning.desired import DesiredState, describe, desired_state
from provisioning.site import Site, SiteError, SiteRules, load_site

EXAMPLE = Path(provisioning.__file__).parent / "examples" / "site.yaml"
SIP_PASSWORD = "s1p-Secret!"
TRUNK = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk."
LINE = TRUNK + "Line.LINE1."
FEATURES = LINE + "CallingFeatures."

StateOf = Callable[..., DesiredState]


@pytest.fixture(scope="module")
def rules() -> SiteRules:
    return SiteRules.load()


@pytest.fixture(scope="module")
def model() -> DataModel:
    return DataModel.load()


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, rules: SiteRules) -> Site:
    monkeypatch.setenv("LIVEBOX_ADMIN_PASSWORD", "box-password")
    monkeypatch.setenv("LIVEBOX_SIP_PASSWORD", SIP_PASSWORD)
    return load_site(EXAMPLE, rules=rules)


def offer_of(site: Site, rules: SiteRules) -> Offer:
    return rules.catalogue.offer(site.offer)


@pytest.fixture
def state_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: SiteRules, model: DataModel
) -> StateOf:
    """The desired state of the example site with some fields replaced (top-level or dotted)."""
    monkeypatch.setenv("LIVEBOX_ADMIN_PASSWORD", "box-password")
    monkeypatch.setenv("LIVEBOX_SIP_PASSWORD", SIP_PASSWORD)

    def state(**changes: Any) -> DesiredState:
        data = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            node = data
            for part in parents:
                node = node[part]
            node[last] = value
        path = tmp_path / "shop-12.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        site = load_site(path, rules=rules)
        return desired_state(site, offer_of(site, rules), model)

    return state


def refused(state_of: StateOf, **changes: Any) -> SiteError:
    with pytest.raises(SiteError) as error:
        state_of(**changes)
    return error.value


# --- The example site --------------------------------------------------------------------


def test_the_example_site_gives_these_paths_and_values(
    example: Site, rules: SiteRules, model: DataModel
) -> None:
    state = desired_state(example, offer_of(example, rules), model)
    assert state.site == "site"
    assert state.values == {
        "Device.IP.Interface.2.IPv4Address.1.AddressingType": "Static",
        "Device.IP.Interface.2.IPv4Address.1.IPAddress": "203.0.113.10",
        "Device.IP.Interface.2.IPv4Address.1.SubnetMask": "255.255.255.0",
        "Device.Routing.Router.1.IPv4Forwarding.1.GatewayIPAddress": "203.0.113.1",
        "Device.DNS.Client.Server.1.DNSServer": "198.51.100.53",
        "Device.DNS.Client.Server.2.DNSServer": "198.51.100.54",
        "Device.IP.Interface.1.IPv4Address.1.IPAddress": "192.168.1.1",
        "Device.IP.Interface.1.IPv4Address.1.SubnetMask": "255.255.255.0",
        "Device.DHCPv4.Server.Enable": "1",
        "Device.DHCPv4.Server.Pool.1.Enable": "1",
        "Device.DHCPv4.Server.Pool.1.MinAddress": "192.168.1.10",
        "Device.DHCPv4.Server.Pool.1.MaxAddress": "192.168.1.150",
        "Device.DHCPv4.Server.Pool.1.SubnetMask": "255.255.255.0",
        "Device.DHCPv4.Server.Pool.1.LeaseTime": "86400",
        f"{TRUNK}Enable": "Enabled",
        f"{TRUNK}SIP.RegistrarServer": "registrar.sip.example.net",
        f"{TRUNK}SIP.RegistrarServerPort": "5060",
        f"{TRUNK}SIP.ProxyServer": "proxy.sip.example.net",
        f"{TRUNK}SIP.ProxyServerPort": "5060",
        f"{TRUNK}SIP.UserAgentDomain": "sip.example.net",
        f"{TRUNK}SIP.OutboundProxy": "",
        f"{TRUNK}SIP.OutboundProxyPort": "5060",
        f"{LINE}Enable": "Enabled",
        f"{LINE}DirectoryNumber": "+33977421234",
        f"{LINE}SIP.URI": "sip:+33977421234@sip.example.net",
        f"{LINE}SIP.AuthUserName": "+33977421234",
        f"{LINE}SIP.AuthPassword": SIP_PASSWORD,
        f"{FEATURES}CallForwardUnconditionalEnable": "0",
        f"{FEATURES}CallForwardUnconditionalNumber": "",
        f"{FEATURES}CallForwardOnBusyEnable": "1",
        f"{FEATURES}CallForwardOnBusyNumber": "+33199005678",
        f"{FEATURES}CallForwardOnNoAnswerEnable": "1",
        f"{FEATURES}CallForwardOnNoAnswerNumber": "+33612345678",
        f"{FEATURES}CallForwardOnNoAnswerRingTimeout": "25",
    }
    assert state.tables == {
        "Device.NAT.PortMapping.": {
            "site-web": {
                "Alias": "site-web",
                "Enable": "1",
                "Description": "web",
                "Protocol": "TCP",
                "ExternalPort": "8080",
                "InternalPort": "80",
                "InternalClient": "192.168.1.20",
                "RemoteHost": "",
            }
        },
        "Device.DHCPv4.Server.Pool.1.StaticAddress.": {
            "site-printer": {
                "Alias": "site-printer",
                "Enable": "1",
                "Chaddr": "00:1a:2b:3c:4d:5e",
                "Yiaddr": "192.168.1.200",
            }
        },
    }
    assert state.secrets == {f"{LINE}SIP.AuthPassword"}
    assert state.exchange == {
        "classic_line.number": "+33199001234",
        "classic_line.continuity": "+33612345678",
    }


def test_every_value_is_a_canonical_write_of_the_data_model(
    example: Site, rules: SiteRules, model: DataModel
) -> None:
    state = desired_state(example, offer_of(example, rules), model)
    assert model.check_writes(state.values) == state.values
    for table, entries in state.tables.items():
        for entry in entries.values():
            paths = {f"{table}1.{name}": value for name, value in entry.items()}
            assert model.check_writes(paths) == paths
            assert entry["Alias"].startswith("site-")


# --- Each part ---------------------------------------------------------------------------


def test_without_a_fixed_ip_the_wan_is_dynamic_and_the_static_fields_empty(
    state_of: StateOf,
) -> None:
    values = state_of(fixed_ip=None).values
    assert values["Device.IP.Interface.2.IPv4Address.1.AddressingType"] == "DHCP"
    for path in (
        "Device.IP.Interface.2.IPv4Address.1.IPAddress",
        "Device.IP.Interface.2.IPv4Address.1.SubnetMask",
        "Device.Routing.Router.1.IPv4Forwarding.1.GatewayIPAddress",
        "Device.DNS.Client.Server.1.DNSServer",
        "Device.DNS.Client.Server.2.DNSServer",
    ):
        assert values[path] == ""


def test_one_dns_server_empties_the_second(state_of: StateOf) -> None:
    values = state_of(fixed_ip__dns=["198.51.100.53"], fixed_ip__prefix=28).values
    assert values["Device.DNS.Client.Server.1.DNSServer"] == "198.51.100.53"
    assert values["Device.DNS.Client.Server.2.DNSServer"] == ""
    assert values["Device.IP.Interface.2.IPv4Address.1.SubnetMask"] == "255.255.255.240"


def test_forwarding_that_is_off_is_disabled_with_an_empty_number(state_of: StateOf) -> None:
    values = state_of(forwarding=None).values
    for kind in ("Unconditional", "OnBusy", "OnNoAnswer"):
        assert values[f"{FEATURES}CallForward{kind}Enable"] == "0"
        assert values[f"{FEATURES}CallForward{kind}Number"] == ""
    # back to the box's default, so the state does not depend on what was set before
    assert values[f"{FEATURES}CallForwardOnNoAnswerRingTimeout"] == "20"


def test_unconditional_forwarding_abroad(state_of: StateOf) -> None:
    values = state_of(forwarding={"unconditional": "+44 20 7946 0000"}).values
    assert values[f"{FEATURES}CallForwardUnconditionalEnable"] == "1"
    assert values[f"{FEATURES}CallForwardUnconditionalNumber"] == "+442079460000"


def test_outbound_proxy_and_other_ports(state_of: StateOf) -> None:
    values = state_of(
        voip_line__outbound_proxy="edge.sip.example.net",
        voip_line__outbound_proxy_port=5070,
        voip_line__registrar_port=5061,
    ).values
    assert values[f"{TRUNK}SIP.OutboundProxy"] == "edge.sip.example.net"
    assert values[f"{TRUNK}SIP.OutboundProxyPort"] == "5070"
    assert values[f"{TRUNK}SIP.RegistrarServerPort"] == "5061"


def test_no_entries_still_lists_the_tables_provisioning_owns(state_of: StateOf) -> None:
    state = state_of(port_forwards=[], lan__static_leases=[])
    assert state.tables == {
        "Device.NAT.PortMapping.": {},
        "Device.DHCPv4.Server.Pool.1.StaticAddress.": {},
    }


def test_no_continuity_is_an_empty_exchange_number(state_of: StateOf) -> None:
    exchange = state_of(classic_line={"number": "02 61 91 12 34"}).exchange
    assert exchange == {"classic_line.number": "+33261911234", "classic_line.continuity": ""}


# --- Checked against the data model ------------------------------------------------------


def test_a_ring_timeout_the_box_refuses_names_the_site_field(state_of: StateOf) -> None:
    error = refused(
        state_of, forwarding={"no_answer": {"number": "0612345678", "ring_timeout_s": 200}}
    )
    assert error.field == "forwarding.no_answer.ring_timeout_s"
    assert error.reason == (
        f"'200' is not a whole number (5 to 120) (the box's {FEATURES}"
        "CallForwardOnNoAnswerRingTimeout)"
    )


def test_a_lease_time_the_box_refuses_names_the_site_field(state_of: StateOf) -> None:
    dhcp = {"start": "192.168.1.10", "end": "192.168.1.150", "lease_s": 30}
    error = refused(state_of, lan__dhcp=dhcp)
    assert error.field == "lan.dhcp.lease_s"
    assert error.reason.startswith("'30' is not a whole number (60 to 2592000)")


def test_a_too_long_sip_user_names_the_site_field(state_of: StateOf) -> None:
    error = refused(state_of, voip_line__sip_user="u" * 129)
    assert error.field == "voip_line.sip_user"
    assert "is longer than 128 characters" in error.reason


def test_a_too_long_sip_password_is_refused_without_showing_it(
    state_of: StateOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "x" * 120 + "SECRET-END"
    monkeypatch.setenv("LIVEBOX_SIP_PASSWORD", secret)
    with pytest.raises(SiteError) as error:
        state_of()
    assert error.value.field == "voip_line.password"
    assert error.value.reason == (
        f"(hidden value) is longer than 128 characters (the box's {LINE}SIP.AuthPassword)"
    )
    assert "SECRET-END" not in str(error.value)


def test_more_port_forwards_than_the_box_holds(state_of: StateOf) -> None:
    forwards = [
        {
            "name": f"p{port}",
            "external_port": port,
            "internal_port": 80,
            "internal_client": "192.168.1.20",
        }
        for port in range(8000, 8033)
    ]
    error = refused(state_of, port_forwards=forwards)
    assert (error.field, error.reason) == ("port_forwards", "33 entries; the box holds at most 32")


def test_the_offer_given_must_be_the_sites(
    example: Site, rules: SiteRules, model: DataModel
) -> None:
    with pytest.raises(SiteError, match=r"site.yaml: offer: the site is for optimale-pro-equ"):
        desired_state(example, rules.catalogue.offer("optimale-pro-intense"), model)
    offer = offer_of(example, rules)
    without = offer.model_copy(
        update={"internet": offer.internet.model_copy(update={"fixed_ip": "none"})}
    )
    with pytest.raises(SiteError, match=r"fixed_ip: the offer optimale-pro-equilibre has no"):
        desired_state(example, without, model)


# --- Shown to the technician -------------------------------------------------------------


def test_the_state_never_shows_the_password(
    example: Site, rules: SiteRules, model: DataModel
) -> None:
    state = desired_state(example, offer_of(example, rules), model)
    assert SIP_PASSWORD not in repr(state)
    assert SIP_PASSWORD not in str(state)
    assert SIP_PASSWORD not in "\n".join(describe(state))
    assert f"'{LINE}SIP.AuthPassword': '********'" in repr(state)


def test_describe_lists_what_will_be_set(example: Site, rules: SiteRules, model: DataModel) -> None:
    lines = describe(desired_state(example, offer_of(example, rules), model))
    assert lines[:3] == [
        "site site:",
        "  internet access:",
        "    Device.IP.Interface.2.IPv4Address.1.AddressingType = Static",
    ]
    assert f"    {LINE}SIP.AuthPassword = ******** (write-only: set, never read back)" in lines
    assert f'    {TRUNK}SIP.OutboundProxy = ""' in lines
    assert "  port forwards:" in lines
    assert (
        "    Device.NAT.PortMapping.site-web. = {Alias=site-web, Enable=1, Description=web, "
        "Protocol=TCP, ExternalPort=8080, InternalPort=80, InternalClient=192.168.1.20, "
        'RemoteHost=""}'
    ) in lines
    assert lines[-3:] == [
        "  classic line (at the operator's exchange, not in the box):",
        "    number +33199001234",
        "    redirected on failure to +33612345678",
    ]
    headings = [line.strip() for line in lines if line.startswith("  ") and line.endswith(":")]
    assert headings == [
        "internet access:",
        "LAN:",
        "internet phone line:",
        "forwarding of the internet line:",
        "port forwards:",
        "static leases:",
        "classic line (at the operator's exchange, not in the box):",
    ]


def test_describe_says_an_empty_table_keeps_other_entries(state_of: StateOf) -> None:
    lines = describe(state_of(port_forwards=None, classic_line={"number": "0261911234"}))
    assert "    Device.NAT.PortMapping.: no site-* entry; other entries left alone" in lines
    assert lines[-1] == "    no redirection"


def test_the_state_is_frozen(example: Site, rules: SiteRules, model: DataModel) -> None:
    state = desired_state(example, offer_of(example, rules), model)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.site = "other"  # type: ignore[misc]
