"""One emulated box: its identity, login, and the live state it copies into its tree."""

from __future__ import annotations

import pytest

from emulator.box import DSL, WAN, BoxIdentity, EmulatedBox, LoginRefused
from profiles.clock import SimulatedClock

from .conftest import ADMIN_PASSWORD


def state(box: EmulatedBox, path: str) -> str:
    box.refresh()
    return box.config.value(path)


def test_a_box_keeps_its_identity_across_restarts() -> None:
    assert BoxIdentity.derive("shop-12") == BoxIdentity.derive("shop-12")
    assert BoxIdentity.derive("shop-12").serial != BoxIdentity.derive("shop-13").serial


def test_login_refusal_does_not_say_which_part_was_wrong(box: EmulatedBox) -> None:
    box.check_login("admin", ADMIN_PASSWORD)
    for user, password in (("admin", "nope"), ("root", ADMIN_PASSWORD)):
        with pytest.raises(LoginRefused, match=r"^wrong user or password$"):
            box.check_login(user, password)


def test_a_synced_vdsl_line_is_up_within_the_offer(box: EmulatedBox) -> None:
    assert state(box, f"{DSL}Status") == "Up"
    assert state(box, f"{DSL}StandardUsed") == "G.993.2"
    assert int(state(box, f"{DSL}X_SOFTATHOME-COM_DownstreamIPRate")) <= 50000
    assert state(box, f"{WAN}Status") == "Up"
    assert state(box, f"{WAN}X_SOFTATHOME-COM_LinkType") == "vdsl"


def test_a_cut_line_shows_in_the_dsl_and_wan_state(box: EmulatedBox) -> None:
    box.dsl.cut()
    assert state(box, f"{DSL}LinkStatus") == "NoSignal"
    assert state(box, f"{WAN}Status") == "LowerLayerDown"
    assert state(box, f"{WAN}X_SOFTATHOME-COM_IPAddress") == ""
    assert state(box, f"{DSL}X_SOFTATHOME-COM_DownstreamIPRate") == "0"


def test_the_wan_uses_the_fixed_ip_once_committed(box: EmulatedBox) -> None:
    session = box.config.session("technician")
    session.set(
        "",
        [
            ("Device.IP.Interface.2.IPv4Address.1.AddressingType", "Static"),
            ("Device.IP.Interface.2.IPv4Address.1.IPAddress", "203.0.113.10"),
            ("Device.IP.Interface.2.IPv4Address.1.SubnetMask", "255.255.255.0"),
            ("Device.Routing.Router.1.IPv4Forwarding.1.GatewayIPAddress", "203.0.113.1"),
            ("Device.DNS.Client.Server.1.DNSServer", "198.51.100.53"),
        ],
    )
    assert state(box, f"{WAN}X_SOFTATHOME-COM_IPAddress") != "203.0.113.10"
    session.commit()
    assert state(box, f"{WAN}X_SOFTATHOME-COM_IPAddress") == "203.0.113.10"
    assert state(box, f"{WAN}X_SOFTATHOME-COM_RemoteGateway") == "203.0.113.1"


async def test_reboot_restarts_uptime_and_retrains_the_line(
    box: EmulatedBox, clock: SimulatedClock
) -> None:
    await clock.advance(3600)
    assert state(box, "Device.DeviceInfo.UpTime") == "3600"
    retrains = int(state(box, f"{DSL}Stats.LinkRetrain"))
    assert box.call("Device.", "Reboot", {"Reason": "maintenance"}) == {"Reason": "maintenance"}
    assert state(box, "Device.DeviceInfo.UpTime") == "0"
    assert int(state(box, f"{DSL}Stats.LinkRetrain")) == retrains + 1
