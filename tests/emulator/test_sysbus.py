"""The box's sysbus HTTP interface, as the `aiosysbus` client and raw HTTP clients see it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncssh
import pytest
from aiosysbus import AIOSysbus
from aiosysbus.exceptions import (
    AiosysbusException,
    AuthenticationFailed,
    RetrieveFailed,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.box import EmulatedBox
from emulator.dsl import LineProfile, Technology
from emulator.sysbus import (
    CALLS,
    CONTEXT_IDLE_S,
    MAX_BODY,
    OBJECT_CALLS,
    SYSBUS_USER,
    CallRefused,
    Fault,
    Sysbus,
    SysbusServer,
)
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.model import Offer

START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
PASSWORD = "Pro-Admin-7431"
WS1 = "application/x-sah-ws-1-call+json"
WS1_REPLY = "application/x-sah-ws-1-call+json; charset=UTF-8"
WS4 = "application/x-sah-ws-4-call+json"
WS4_REPLY = "application/x-sah-ws-4-call+json; charset=UTF-8"
PORTS = "Device.NAT.PortMapping."
LEASES = "Device.DHCPv4.Server.Pool.1.StaticAddress."
DYNDNS = "Device.DynamicDNS.Client."
LINE1 = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
PI443 = {
    "id": "pi443",
    "description": "pi443",
    "externalPort": "443",
    "internalPort": "443",
    "destinationIPAddress": "192.168.1.160",
    "destinationMACAddress": "E4:5F:01:00:00:01",
    "enable": True,
    "persistent": True,
    "protocol": "6",
    "sourceInterface": "data",
    "origin": "webui",
    "sourcePrefix": "",
    "sourcePort": "",
    "ipversion": 4,
}
NO_IP = {
    "service": "No-IP",
    "hostname": "Office.Example.net",
    "username": "office",
    "password": "dyn-Secret-55",
}


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def equilibre() -> Offer:
    return Catalogue.load().offer("optimale-pro-equilibre")


@pytest.fixture(scope="module")
def host_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def sysbus_clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
async def sysbus_box(
    equilibre: Offer, host_key: asyncssh.SSHKey, sysbus_clock: SimulatedClock
) -> EmulatedBox:
    """A VDSL2 box at 12 dB whose line has trained (two minutes after power-on)."""
    box = EmulatedBox.create(
        "sysbus-box",
        equilibre,
        LineProfile(Technology.VDSL2, attenuation_db=12),
        clock=sysbus_clock,
        admin_password=PASSWORD,
        host_key=host_key,
    )
    await sysbus_clock.advance(120)
    return box


@pytest.fixture
async def server(sysbus_box: EmulatedBox) -> AsyncIterator[SysbusServer]:
    async with SysbusServer(sysbus_box) as running:
        yield running


@pytest.fixture
async def livebox(server: SysbusServer) -> AsyncIterator[AIOSysbus]:
    """aiosysbus as Home Assistant uses it (built inside the running loop)."""
    async with AIOSysbus(
        username="admin", password=PASSWORD, host="127.0.0.1", port=server.port
    ) as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    server: SysbusServer,
    body: bytes | str | dict[str, Any],
    headers: dict[str, str] | None = None,
) -> tuple[int, str, Any]:
    """(HTTP status, Content-Type, JSON body) of one raw POST /ws."""
    data = json.dumps(body) if isinstance(body, dict) else body
    async with http.post(server.url, data=data, headers=headers or {"Content-Type": WS1}) as r:
        return r.status, r.headers["Content-Type"], json.loads(await r.read())


async def login(http: aiohttp.ClientSession, server: SysbusServer, content_type: str = WS1) -> str:
    status, _, reply = await post(
        http,
        server,
        {
            "service": "sah.Device.Information",
            "method": "createContext",
            "parameters": {
                "applicationName": "so_sdkut",
                "username": "admin",
                "password": PASSWORD,
            },
        },
        {"Content-Type": content_type, "Authorization": "X-Sah-Login"},
    )
    assert status == 200
    context: str = reply["data"]["contextID"]
    return context


def call(service: str, method: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"service": service, "method": method, "parameters": parameters}


def running(box: EmulatedBox) -> list[tuple[str, str]]:
    return box.config.get("Device.")


# --- Reading the box like Home Assistant ---------------------------------------------------------


async def test_home_assistant_reads_device_info_wan_dsl_and_trunks(
    livebox: AIOSysbus, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    await livebox.async_connect()
    assert await livebox.async_get_permissions() == "http,admin"

    info = (await livebox.deviceinfo.async_get_deviceinfo())["status"]
    wan = (await livebox.nmc.async_get_wan_status())["data"]
    mibs = await livebox.nemo.async_get_MIBs(
        "data", {"mibs": "dsl", "flag": "", "traverse": "down"}
    )
    stats = (await livebox.nemo.async_get_dsl0_stats())["status"]
    trunks = (await livebox.voiceservice.async_get_list_trunks())["status"]
    calls = (await livebox.voiceservice.async_get_calllist())["status"]

    assert info["SerialNumber"] == sysbus_box.identity.serial
    assert info["ProductClass"] == "Livebox pro"
    assert info["UpTime"] == 120
    assert info["BaseMAC"] == sysbus_box.identity.mac.upper()
    assert info["ExternalIPAddress"] == wan["IPAddress"]
    assert wan["WanState"] == "up"
    assert wan["LinkType"] == "vdsl"
    assert wan["ConnectionState"] == "Bound"
    line = mibs["status"]["dsl"]["dsl0"]
    assert line == sysbus_box.dsl.mibs()["dsl"]["dsl0"]
    assert line["LinkStatus"] == "Up"
    assert line["DownstreamCurrRate"] > 0
    assert stats == sysbus_box.dsl.dsl_stats()
    assert {"CRCErrors", "FECErrors", "ErroredSecs"} <= stats.keys()
    assert trunks == [
        {
            "name": "SIP-Trunk",
            "enable": "Enabled",
            "signalingProtocol": "SIP",
            "trunk_lines": [
                {
                    "name": "LINE1",
                    "enable": "Disabled",
                    "status": "Disabled",
                    "statusInfo": "",
                    "directoryNumber": "",
                }
            ],
        }
    ]
    assert calls == []
    assert await livebox.async_logout() is True
    assert server.sysbus.logins == 1
    assert server.sysbus.contexts == 0


async def test_wan_status_is_getwanstatus_data_with_status_true(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    reply = await livebox.nmc.async_get_wan_status()
    assert reply["status"] is True
    assert reply["data"]["LinkState"] == "up"
    assert reply["data"]["Protocol"] == "dhcp"
    assert reply["data"]["DNSServers"] == "192.0.2.53,192.0.2.54"


async def test_nmc_get_shows_the_vdsl_wan_mode_and_the_offer(livebox: AIOSysbus) -> None:
    status = (await livebox.nmc.async_get())["status"]
    assert status["WanMode"] == "VDSL_DHCP"
    assert status["OfferName"] == "Optimale pro équilibre"
    assert status["ConnectionError"] is False


async def test_dsl_line_down_shows_in_wan_status_and_mibs(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    sysbus_box.dsl.lose_sync()
    wan = (await livebox.nmc.async_get_wan_status())["data"]
    mibs = await livebox.nemo.async_get_MIBs("dsl0")
    assert wan["WanState"] == "down"
    assert wan["LastConnectionError"] == "ERROR_NO_CARRIER"
    assert mibs["status"]["dsl"]["dsl0"]["LinkStatus"] == "Down"


async def test_trunk_line_status_is_the_tree_status(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    sysbus_box.config.set_state(LINE1 + "Status", "Up")
    line = (await livebox.voiceservice.async_get_list_trunks())["status"][0]["trunk_lines"][0]
    assert line["status"] == "Up"


async def test_call_list_comes_from_the_box_call_list_hook(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    record = {
        "remoteNumber": "0145000000",
        "remoteName": "",
        "terminal": "HOME",
        "startTime": "2026-10-05T08:55:00Z",
        "duration": 42,
        "callType": "succeeded",
        "callOrigin": "local",
        "callDestination": "0145000000",
        "trunkLineNumber": "+33123456789",
        "viewed": True,
        "callId": "1",
    }
    sysbus_box.call_list = lambda: [record]  # type: ignore[attr-defined]
    assert (await livebox.voiceservice.async_get_calllist())["status"] == [record]


async def test_unknown_mib_is_not_found_naming_it(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    _, _, reply = await post(
        http, server, call("NeMo.Intf.data", "getMIBs", {"mibs": "wlan"}), headers
    )
    assert reply["result"]["errors"][0]["error"] == 196618
    assert "wlan" in reply["result"]["errors"][0]["info"]


# --- Logging in --------------------------------------------------------------------------------


async def test_wrong_password_is_authentication_failed_for_aiosysbus(
    server: SysbusServer,
) -> None:
    async with AIOSysbus(
        username="admin", password="not-it", host="127.0.0.1", port=server.port
    ) as client:
        with pytest.raises(AuthenticationFailed) as caught:
            await client.async_connect()
    assert "Permission denied" in str(caught.value)
    assert "not-it" not in str(caught.value)
    assert server.sysbus.logins == 0


async def test_wrong_password_is_http_401_for_ws4_clients(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    body = call(
        "sah.Device.Information",
        "createContext",
        {"applicationName": "webui", "username": "admin", "password": "guess-1"},
    )
    async with http.post(
        server.url, data=json.dumps(body), headers={"Content-Type": WS4 + "; charset=UTF-8"}
    ) as response:
        raw = await response.read()
        assert response.status == 401
        assert response.headers["Content-Type"] == WS4_REPLY
    assert json.loads(raw) == {
        "status": None,
        "errors": [
            {"error": 13, "description": "Permission denied", "info": "sah.Device.Information"}
        ],
    }
    assert b"guess-1" not in raw


async def test_forced_401_makes_aiosysbus_fail_without_authentication_failed(
    sysbus_box: EmulatedBox,
) -> None:
    async with (
        SysbusServer(sysbus_box, refused_login_status=401) as strict,
        AIOSysbus(username="admin", password="nope", host="127.0.0.1", port=strict.port) as client,
    ):
        with pytest.raises(AiosysbusException) as caught:
            await client.async_connect()
    assert not isinstance(caught.value, AuthenticationFailed)


def test_refused_login_status_is_200_or_401(sysbus_box: EmulatedBox) -> None:
    with pytest.raises(ValueError, match="refused_login_status 403: give 200, 401 or None"):
        Sysbus(sysbus_box, refused_login_status=403)


async def test_login_gives_a_context_groups_and_a_sessid_cookie(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    body = call(
        "sah.Device.Information",
        "createContext",
        {"applicationName": "so_sdkut", "username": "admin", "password": PASSWORD},
    )
    headers = {"Content-Type": WS1, "Authorization": "X-Sah-Login"}
    async with http.post(server.url, data=json.dumps(body), headers=headers) as response:
        reply = json.loads(await response.read())
        cookie = response.headers["Set-Cookie"]
    assert reply["status"] == 0
    assert reply["data"]["username"] == "admin"
    assert reply["data"]["groups"] == "http,admin"
    assert reply["data"]["contextID"]
    name, _, value = cookie.partition(";")[0].partition("=")
    assert name == f"{sysbus_box.identity.serial}/sessid"
    assert value
    assert "=" not in value


async def test_login_without_password_is_missing_mandatory_argument(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    body = call("sah.Device.Information", "createContext", {"username": "admin"})
    _, _, reply = await post(http, server, body)
    assert reply == {
        "status": None,
        "errors": [
            {"error": 196640, "description": "Missing mandatory argument", "info": "password"}
        ],
    }


# --- Contexts ----------------------------------------------------------------------------------


async def test_idle_context_expires_and_aiosysbus_logs_in_again(
    livebox: AIOSysbus, server: SysbusServer, sysbus_clock: SimulatedClock
) -> None:
    await livebox.deviceinfo.async_get_deviceinfo()
    await sysbus_clock.advance(CONTEXT_IDLE_S + 1)
    assert server.sysbus.contexts == 0
    info = (await livebox.deviceinfo.async_get_deviceinfo())["status"]
    assert info["UpTime"] == 120 + CONTEXT_IDLE_S + 1
    assert server.sysbus.logins == 2


async def test_a_context_in_use_does_not_expire(
    livebox: AIOSysbus, server: SysbusServer, sysbus_clock: SimulatedClock
) -> None:
    for _ in range(3):
        await livebox.nemo.async_get_dsl0_stats()
        await sysbus_clock.advance(CONTEXT_IDLE_S - 1)
    assert server.sysbus.logins == 1


async def test_unknown_context_is_permission_denied_wrapped_with_http_200(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    headers = {"Content-Type": WS1 + "; charset=UTF-8", "X-Context": "forged"}
    status, content_type, reply = await post(http, server, call("DeviceInfo", "get"), headers)
    assert (status, content_type) == (200, WS1_REPLY)
    assert reply == {
        "result": {
            "status": None,
            "errors": [{"error": 13, "description": "Permission denied", "info": "DeviceInfo"}],
        }
    }


async def test_a_call_without_context_is_permission_denied(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    _, _, reply = await post(http, server, call("NMC", "getWANStatus"))
    assert reply["result"]["errors"][0]["error"] == 13


async def test_ws4_clients_may_send_the_context_as_x_sah_authorization(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server, WS4)
    headers = {"Content-Type": WS4, "Authorization": f"X-Sah {context}"}
    status, content_type, reply = await post(http, server, call("DeviceInfo", "get"), headers)
    assert (status, content_type) == (200, WS4_REPLY)
    assert reply["status"]["ModelName"] == "Livebox pro"


async def test_the_least_recently_used_context_goes_when_the_box_has_too_many(
    http: aiohttp.ClientSession, sysbus_box: EmulatedBox
) -> None:
    async with SysbusServer(sysbus_box, max_contexts=2) as small:
        first = await login(http, small)
        second = await login(http, small)
        await login(http, small)
        for context, error in ((first, True), (second, False)):
            headers = {"Content-Type": WS1, "X-Context": context}
            _, _, reply = await post(http, small, call("NMC", "get"), headers)
            assert ("errors" in reply["result"]) is error


async def test_logout_releases_the_context(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    logout = call("sah.Device.Information", "releaseContext", {"applicationName": "so_sdkut"})
    headers = {"Content-Type": WS1, "Authorization": f"X-Sah-Logout {context}"}
    assert (await post(http, server, logout, headers))[2] == {"status": 0}
    _, _, again = await post(http, server, logout, headers)
    assert again["errors"][0]["error"] == 13
    _, _, reply = await post(http, server, call("NMC", "get"), {"X-Context": context})
    assert reply["errors"][0]["error"] == 13


async def test_reboot_restarts_the_box_and_aiosysbus_logs_in_again(
    livebox: AIOSysbus, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    assert (await livebox.nmc.async_reboot({"reason": "GUI_Reboot"}))["status"] is True
    assert sysbus_box.reboots == 1
    assert server.sysbus.contexts == 0
    info = (await livebox.deviceinfo.async_get_deviceinfo())["status"]
    assert info["UpTime"] == 0
    assert info["NumberOfReboots"] == 1
    assert server.sysbus.logins == 2


# --- Port forwarding ---------------------------------------------------------------------------


async def test_port_forwarding_add_read_delete_each_a_sysbus_checkpoint(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    added = await livebox.firewall.async_set_port_forwarding(PI443)
    assert added["status"] == "webui_pi443"
    assert added["data"]["rule"]["Status"] == "Enabled"
    rules = (await livebox.firewall.async_get_port_forwarding({"origin": "webui"}))["status"]
    assert list(rules) == ["webui_pi443"]
    rule = rules["webui_pi443"]
    assert rule["Id"] == "webui_pi443"
    assert rule["Origin"] == "webui"
    assert (rule["ExternalPort"], rule["InternalPort"], rule["Protocol"]) == ("443", "443", "6")
    assert rule["DestinationIPAddress"] == "192.168.1.160"
    assert rule["Enable"] is True
    assert sysbus_box.config.get(PORTS + "1.") == [
        (PORTS + "1.Alias", "webui_pi443"),
        (PORTS + "1.Enable", "1"),
        (PORTS + "1.Description", "pi443"),
        (PORTS + "1.Protocol", "TCP"),
        (PORTS + "1.ExternalPort", "443"),
        (PORTS + "1.InternalPort", "443"),
        (PORTS + "1.InternalClient", "192.168.1.160"),
        (PORTS + "1.RemoteHost", ""),
    ]
    added_at = sysbus_box.config.checkpoints()[-1]
    assert added_at.by == SYSBUS_USER
    assert added_at.summary == f"add {PORTS}1."

    deleted = await livebox.firewall.async_delete_port_forwarding(
        {"id": "webui_pi443", "origin": "webui"}
    )
    assert deleted["status"] is True
    assert (await livebox.firewall.async_get_port_forwarding())["status"] == {}
    assert [c.by for c in sysbus_box.config.checkpoints()] == ["box", SYSBUS_USER, SYSBUS_USER]


async def test_set_port_forwarding_on_an_existing_id_changes_that_rule(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    await livebox.firewall.async_set_port_forwarding(PI443)
    changed = {**PI443, "id": "webui_pi443", "internalPort": "8443", "enable": False}
    reply = await livebox.firewall.async_set_port_forwarding(changed)
    assert reply["data"]["rule"]["InternalPort"] == "8443"
    assert reply["data"]["rule"]["Status"] == "Disabled"
    assert sysbus_box.config.value(PORTS + "1.InternalPort") == "8443"
    assert len(sysbus_box.config.get(PORTS)) == 8


async def test_setting_the_same_rule_twice_makes_no_second_checkpoint(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    await livebox.firewall.async_set_port_forwarding(PI443)
    await livebox.firewall.async_set_port_forwarding(PI443)
    assert len(sysbus_box.config.checkpoints()) == 2


async def test_bad_port_is_refused_naming_it_and_the_tree_is_unchanged(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    before, checkpoints = running(sysbus_box), sysbus_box.config.checkpoints()
    context = await login(http, server)
    bad = {**PI443, "externalPort": "70000", "destinationIPAddress": "192.168.1.300"}
    headers = {"Content-Type": WS1, "X-Context": context}
    status, _, reply = await post(http, server, call("Firewall", "setPortForwarding", bad), headers)
    assert status == 200
    assert reply == {
        "result": {
            "status": None,
            "errors": [
                {
                    "error": 196639,
                    "description": "externalPort: '70000' is not a port (1 to 65535)",
                    "info": "externalPort",
                },
                {
                    "error": 196639,
                    "description": "destinationIPAddress: '192.168.1.300' is not an IPv4 "
                    "address (four numbers 0 to 255, as 192.168.1.1)",
                    "info": "destinationIPAddress",
                },
            ],
        }
    }
    assert running(sysbus_box) == before
    assert sysbus_box.config.checkpoints() == checkpoints


async def test_aiosysbus_gets_retrieve_failed_with_the_errors_of_a_bad_value(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    with pytest.raises(RetrieveFailed) as caught:
        await livebox.firewall.async_set_port_forwarding({**PI443, "protocol": "1"})
    assert caught.value.args[0] == [
        {
            "error": 196639,
            "description": "protocol: '1' is not 6 (TCP), 17 (UDP) or 6,17 (both)",
            "info": "protocol",
        }
    ]
    assert sysbus_box.config.get(PORTS) == []


async def test_missing_arguments_are_each_reported(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    body = call("Firewall", "setPortForwarding", {"id": "x", "internalPort": "80"})
    _, _, reply = await post(http, server, body, headers)
    assert [(e["error"], e["info"]) for e in reply["result"]["errors"]] == [
        (196640, "origin"),
        (196640, "sourceInterface"),
        (196640, "destinationIPAddress"),
        (196640, "protocol"),
    ]


async def test_an_external_port_already_forwarded_is_refused(livebox: AIOSysbus) -> None:
    await livebox.firewall.async_set_port_forwarding(PI443)
    other = {**PI443, "id": "nas", "destinationIPAddress": "192.168.1.161", "protocol": "6,17"}
    with pytest.raises(RetrieveFailed) as caught:
        await livebox.firewall.async_set_port_forwarding(other)
    assert caught.value.args[0][0]["description"] == (
        "externalPort: 443 (BOTH) is already forwarded by rule webui_pi443"
    )


async def test_port_ranges_and_source_networks_are_refused_clearly(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    for change, description in (
        ({"externalPort": "8000-8010"}, "externalPort: '8000-8010': give one port, not a range"),
        (
            {"sourcePrefix": "10.0.0.0/8"},
            "sourcePrefix: '10.0.0.0/8' is a network; this box filters on one source address "
            "(or '' for any)",
        ),
        ({"sourceInterface": "lan"}, "sourceInterface: 'lan': only 'data' (the WAN) is forwarded"),
        ({"enable": "maybe"}, "enable: 'maybe' is not a boolean (1, 0, true or false)"),
        ({"description": ["a"]}, "description: expected a string or a whole number, got an array"),
    ):
        body = call("Firewall", "setPortForwarding", {**PI443, **change})
        _, _, reply = await post(http, server, body, headers)
        assert reply["result"]["errors"][0]["description"] == description


async def test_deleting_an_unknown_rule_is_not_found(livebox: AIOSysbus) -> None:
    with pytest.raises(RetrieveFailed) as caught:
        await livebox.firewall.async_delete_port_forwarding({"id": "ghost", "origin": "webui"})
    assert caught.value.args[0] == [
        {"error": 196618, "description": "Object or parameter not found", "info": "id ghost"}
    ]


# --- DHCP static leases ------------------------------------------------------------------------


async def test_static_leases_add_read_delete(livebox: AIOSysbus, sysbus_box: EmulatedBox) -> None:
    pool = "DHCPv4.Server.Pool.default"
    lease = {"MACAddress": "AA:BB:CC:DD:EE:01", "IPAddress": "192.168.1.20"}
    assert (await livebox._auth.post(pool, "addStaticLease", lease))["status"] is True
    leases = (await livebox.dhcp.async_get_dhcp_staticleases())["status"]
    assert leases == [
        {
            "IPAddress": "192.168.1.20",
            "MACAddress": "AA:BB:CC:DD:EE:01",
            "LeasePath": "DHCPv4.Server.Pool.default.StaticAddress.1.",
        }
    ]
    assert sysbus_box.config.value(LEASES + "1.Chaddr") == "aa:bb:cc:dd:ee:01"
    assert sysbus_box.config.checkpoints()[-1].by == SYSBUS_USER
    reply = await livebox.dhcp.async_del_dhcp_staticlease({"MACAddress": "aa:bb:cc:dd:ee:01"})
    assert reply["status"] is True
    assert (await livebox.dhcp.async_get_dhcp_staticleases())["status"] == []


async def test_a_reserved_ip_address_is_refused_as_the_real_box_does(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    pool = "DHCPv4.Server.Pool.default"
    await livebox._auth.post(
        pool, "addStaticLease", {"MACAddress": "AA:BB:CC:DD:EE:01", "IPAddress": "192.168.1.20"}
    )
    with pytest.raises(RetrieveFailed) as caught:
        await livebox._auth.post(
            pool, "addStaticLease", {"MACAddress": "AA:BB:CC:DD:EE:02", "IPAddress": "192.168.1.20"}
        )
    assert caught.value.args[0] == [
        {"error": 393221, "description": "IP address already reserved", "info": "IPAddress"},
        {"error": 196639, "description": "Function execution failed", "info": "addStaticLease"},
    ]
    assert len(sysbus_box.config.get(LEASES)) == 4


@pytest.mark.parametrize(
    ("lease", "description"),
    [
        (
            {"MACAddress": "AA:BB:CC:DD:EE:01", "IPAddress": "10.0.0.20"},
            "IPAddress: 10.0.0.20 is not in the LAN 192.168.1.0/24",
        ),
        (
            {"MACAddress": "AA:BB:CC:DD:EE:01", "IPAddress": "192.168.1.1"},
            "IPAddress: 192.168.1.1 is the box's own address",
        ),
        (
            {"MACAddress": "AA:BB:CC:DD:EE:01", "IPAddress": "192.168.1.255"},
            "IPAddress: 192.168.1.255 is not a host address of the LAN 192.168.1.0/24",
        ),
        (
            {"MACAddress": "AA-BB", "IPAddress": "192.168.1.20"},
            "MACAddress: 'AA-BB' is not a MAC address (as 00:1a:2b:3c:4d:5e)",
        ),
    ],
)
async def test_a_lease_outside_the_lan_or_with_a_bad_mac_is_refused(
    http: aiohttp.ClientSession,
    server: SysbusServer,
    sysbus_box: EmulatedBox,
    lease: dict[str, str],
    description: str,
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    body = call("DHCPv4.Server.Pool.default", "addStaticLease", lease)
    _, _, reply = await post(http, server, body, headers)
    assert reply["result"]["errors"][0]["description"] == description
    assert sysbus_box.config.get(LEASES) == []


async def test_a_mac_address_gets_one_static_lease(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    first = {"MACAddress": "AA:BB:CC:DD:EE:01", "IPAddress": "192.168.1.20"}
    second = {"MACAddress": "aa:bb:cc:dd:ee:01", "IPAddress": "192.168.1.21"}
    for lease in (first, second):
        body = call("DHCPv4.Server.Pool.default", "addStaticLease", lease)
        _, _, reply = await post(http, server, body, headers)
    assert reply["result"]["errors"][0]["description"] == (
        "MACAddress: AA:BB:CC:DD:EE:01 already has a static lease (192.168.1.20)"
    )


# --- DynDNS ------------------------------------------------------------------------------------


async def test_dyndns_hosts_never_show_the_password(
    livebox: AIOSysbus, server: SysbusServer, http: aiohttp.ClientSession, sysbus_box: EmulatedBox
) -> None:
    assert (await livebox.dyndns.async_add_host(NO_IP))["status"] is True
    hosts = (await livebox.dyndns.async_get_hosts())["status"]
    assert hosts == [
        {
            "service": "No-IP",
            "hostname": "office.example.net",
            "username": "office",
            "password": "********",
            "last_update": "0001-01-01T00:00:00Z",
            "status": "Disabled",
            "enable": True,
        }
    ]
    context = await login(http, server)
    async with http.post(
        server.url,
        data=json.dumps(call("DynDNS", "getHosts")),
        headers={"Content-Type": WS1, "X-Context": context},
    ) as response:
        assert b"dyn-Secret-55" not in await response.read()
    assert sysbus_box.config.value(DYNDNS + "1.Password") == "dyn-Secret-55"
    assert sysbus_box.config.value(DYNDNS + "1.Service") == "no-ip"
    reply = await livebox.dyndns.async_del_host({"hostname": "office.example.net"})
    assert reply["status"] is True
    assert (await livebox.dyndns.async_get_hosts())["status"] == []


async def test_dyndns_services_are_the_real_names(livebox: AIOSysbus) -> None:
    services = (await livebox.dyndns.async_get_services())["status"]
    assert services == ["dyndns", "No-IP", "changeip", "DtDNS", "OVH-dynDNS", "GnuDIP"]


async def test_a_too_long_dyndns_password_is_refused_without_showing_it(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    secret = "S" * 65
    body = call("DynDNS", "addHost", {**NO_IP, "password": secret, "service": "Yahoo"})
    async with http.post(server.url, data=json.dumps(body), headers=headers) as response:
        raw = await response.read()
    errors = json.loads(raw)["result"]["errors"]
    assert [e["description"] for e in errors] == [
        "service: 'Yahoo' is not one of dyndns, No-IP, changeip, DtDNS, OVH-dynDNS, GnuDIP"
    ]
    body = call("DynDNS", "addHost", {**NO_IP, "password": secret})
    async with http.post(server.url, data=json.dumps(body), headers=headers) as response:
        raw = await response.read()
    errors = json.loads(raw)["result"]["errors"]
    assert errors[0]["description"] == "password: (hidden value) is longer than 64 characters"
    assert secret.encode() not in raw
    assert sysbus_box.config.get(DYNDNS) == []


async def test_a_hostname_gets_one_dyndns_entry_and_unknown_ones_are_not_found(
    livebox: AIOSysbus,
) -> None:
    await livebox.dyndns.async_add_host(NO_IP)
    with pytest.raises(RetrieveFailed) as caught:
        await livebox.dyndns.async_add_host(NO_IP)
    assert caught.value.args[0][0]["description"] == (
        "hostname: office.example.net already has a DynDNS entry"
    )
    await livebox.dyndns.async_del_host({"hostname": "office.example.net"})
    with pytest.raises(RetrieveFailed) as caught:
        await livebox.dyndns.async_del_host({"hostname": "office.example.net"})
    assert caught.value.args[0][0]["error"] == 196618


# --- Data-model objects: generic get, set, add, delete ------------------------------------------

POOL = "Device.DHCPv4.Server.Pool.1."
FEATURES = LINE1 + "CallingFeatures."


async def ws4_call(
    http: aiohttp.ClientSession,
    server: SysbusServer,
    service: str,
    method: str,
    parameters: dict[str, Any] | None = None,
) -> tuple[bytes, Any]:
    """(raw body, JSON) of one call as the web UI sends it (ws-4, unwrapped replies)."""
    context = await login(http, server, WS4)
    headers = {"Content-Type": WS4, "X-Context": context, "Authorization": f"X-Sah {context}"}
    body = json.dumps(call(service, method, parameters))
    async with http.post(server.url, data=body, headers=headers) as response:
        assert response.status == 200
        raw = await response.read()
    return raw, json.loads(raw)


async def test_an_object_get_gives_its_own_parameters_typed_as_the_real_box_does(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    _, reply = await ws4_call(http, server, "DHCPv4.Server.Pool.1", "get")
    assert reply == {
        "status": {
            "Enable": True,
            "MinAddress": "192.168.1.10",
            "MaxAddress": "192.168.1.150",
            "SubnetMask": "255.255.255.0",
            "LeaseTime": 86400,
        }
    }


async def test_every_spelling_of_an_object_path_names_the_same_object(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    spellings = [
        "IP.Interface.2",
        "IP.Interface.2.",
        "Device.IP.Interface.2",
        "Device.IP.Interface.2.",
    ]
    replies = [(await ws4_call(http, server, name, "get"))[1] for name in spellings]
    assert all(reply == replies[0] for reply in replies)
    assert replies[0]["status"]["X_SOFTATHOME-COM_LinkState"] == "up"


async def test_a_get_with_depth_gives_every_object_below_by_path(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    _, everything = await ws4_call(http, server, LINE1, "get", {"depth": -1})
    _, own = await ws4_call(http, server, LINE1, "get", {"depth": 0})
    assert list(everything["status"]) == [LINE1, LINE1 + "SIP.", FEATURES]
    assert everything["status"][FEATURES]["CallForwardOnNoAnswerRingTimeout"] == 20
    assert everything["status"][FEATURES]["CallWaitingEnable"] is True
    assert own == {"status": {LINE1: everything["status"][LINE1]}}


async def test_the_live_state_is_fresh_in_an_object_get(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_clock: SimulatedClock
) -> None:
    await sysbus_clock.advance(30)
    _, reply = await ws4_call(http, server, "DeviceInfo.", "get")
    assert reply["status"]["UpTime"] == 150


async def test_a_call_of_the_same_name_answers_before_the_object(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    _, call_reply = await ws4_call(http, server, "DeviceInfo", "get")
    _, object_reply = await ws4_call(http, server, "Device.DeviceInfo", "get")
    assert "ManufacturerOUI" in call_reply["status"]
    assert "ManufacturerOUI" not in object_reply["status"]
    assert object_reply["status"]["SerialNumber"] == call_reply["status"]["SerialNumber"]


async def test_set_takes_effect_at_once_as_one_sysbus_checkpoint(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    forward = {
        "CallForwardUnconditionalEnable": True,
        "CallForwardUnconditionalNumber": "0612345678",
    }
    _, reply = await ws4_call(http, server, FEATURES[:-1], "set", {"parameters": forward})
    assert reply == {"status": True}
    assert sysbus_box.config.value(FEATURES + "CallForwardUnconditionalEnable") == "1"
    assert sysbus_box.config.value(FEATURES + "CallForwardUnconditionalNumber") == "0612345678"
    checkpoint = sysbus_box.config.checkpoints()[-1]
    assert (checkpoint.number, checkpoint.by) == (1, SYSBUS_USER)
    await ws4_call(http, server, FEATURES[:-1], "set", {"parameters": forward})
    assert len(sysbus_box.config.checkpoints()) == 2


async def test_secrets_are_written_but_read_masked(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    sip = LINE1 + "SIP"
    await ws4_call(http, server, sip, "set", {"parameters": {"AuthPassword": "Sip-Secret-81"}})
    raw, reply = await ws4_call(http, server, sip, "get")
    assert reply["status"]["AuthPassword"] == "********"
    assert b"Sip-Secret-81" not in raw
    raw, _ = await ws4_call(http, server, LINE1, "get", {"depth": -1})
    assert b"Sip-Secret-81" not in raw
    assert sysbus_box.config.value(sip + ".AuthPassword") == "Sip-Secret-81"


async def test_a_read_only_parameter_is_refused_and_nothing_is_written(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    before = running(sysbus_box)
    parameters = {"Enable": False, "Status": "Up"}
    _, reply = await ws4_call(http, server, "IP.Interface.2", "set", {"parameters": parameters})
    assert reply == {
        "status": None,
        "errors": [
            {
                "error": 196639,
                "description": (
                    "Status: 'Up' is refused: the parameter is read-only "
                    "(state the box sets itself)"
                ),
                "info": "Status",
            }
        ],
    }
    assert running(sysbus_box) == before
    assert len(sysbus_box.config.checkpoints()) == 1


async def test_a_bad_value_changes_nothing_and_each_refusal_is_named(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    before = running(sysbus_box)
    parameters = {"Enable": "0", "LeaseTime": 10, "MinAddress": "192.168.1.300", "MaxAddress": 1.5}
    _, reply = await ws4_call(http, server, POOL, "set", {"parameters": parameters})
    assert [(e["error"], e["info"], e["description"]) for e in reply["errors"]] == [
        (196639, "LeaseTime", "LeaseTime: '10' is not a whole number (60 to 2592000)"),
        (
            196639,
            "MinAddress",
            "MinAddress: '192.168.1.300' is not an IPv4 address (four numbers 0 to 255, as "
            "192.168.1.1)",
        ),
        (
            196639,
            "MaxAddress",
            "MaxAddress: expected a string, a whole number or true/false, got a number",
        ),
    ]
    assert running(sysbus_box) == before


async def test_a_rule_broken_by_a_set_refuses_the_whole_set(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    before = running(sysbus_box)
    parameters = {"CallForwardUnconditionalEnable": True, "CallWaitingEnable": False}
    _, reply = await ws4_call(http, server, FEATURES, "set", {"parameters": parameters})
    (error,) = reply["errors"]
    assert (error["error"], error["info"]) == (196639, "set")
    assert "unconditional forwarding needs a number" in error["description"]
    assert running(sysbus_box) == before


@pytest.mark.parametrize(
    ("service", "method", "parameters", "error"),
    [
        ("NAT.Nope", "get", None, (196618, "Object or parameter not found", "NAT.Nope")),
        (
            "DeviceInfo.SerialNumber",
            "get",
            None,
            (196618, "Object or parameter not found", "DeviceInfo.SerialNumber"),
        ),
        (
            "NAT.PortMapping.7",
            "delete",
            None,
            (196618, "Object or parameter not found", "NAT.PortMapping.7"),
        ),
        (
            POOL,
            "set",
            {"parameters": {"Nope": "1"}},
            (196618, "Object or parameter not found", "Nope"),
        ),
        (POOL, "set", None, (196640, "Missing mandatory argument", "parameters")),
        (
            POOL,
            "set",
            {"parameters": {}},
            (196639, "parameters: is empty: give at least one parameter", "parameters"),
        ),
        (
            POOL,
            "set",
            {"parameters": ["Enable"]},
            (
                196639,
                "parameters: expected an object of parameter names and values, got an array",
                "parameters",
            ),
        ),
        (
            "NAT.PortMapping",
            "set",
            {"parameters": {"Enable": "1"}},
            (
                196639,
                "Device.NAT.PortMapping. is a table: set the parameters of one of its "
                "instances (as Device.NAT.PortMapping.1.)",
                "set",
            ),
        ),
        (
            POOL,
            "delete",
            None,
            (
                196639,
                f"{POOL} is not an instance of a table (as Device.NAT.PortMapping.1.)",
                "delete",
            ),
        ),
        (
            POOL,
            "get",
            {"depth": "all"},
            (
                196639,
                "depth: expected -1 (everything below), 0 (the object itself) or a number "
                "of levels, got 'all'",
                "depth",
            ),
        ),
        (POOL, "get", {"depth": -2}, (196639, "depth: expected -1", "depth")),
    ],
)
async def test_object_calls_the_box_refuses_say_why_and_change_nothing(
    http: aiohttp.ClientSession,
    server: SysbusServer,
    sysbus_box: EmulatedBox,
    service: str,
    method: str,
    parameters: dict[str, Any] | None,
    error: tuple[int, str, str],
) -> None:
    before = running(sysbus_box)
    _, reply = await ws4_call(http, server, service, method, parameters)
    (got,) = reply["errors"]
    assert got["error"] == error[0]
    assert got["description"].startswith(error[1])
    assert got["info"] == error[2]
    assert running(sysbus_box) == before


async def test_port_mappings_are_added_changed_and_deleted_by_alias(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    web = {
        "Alias": "web",
        "ExternalPort": 8080,
        "InternalPort": "80",
        "InternalClient": "192.168.1.20",
    }
    _, added = await ws4_call(http, server, "NAT.PortMapping", "add", {"parameters": web})
    assert added == {"status": PORTS + "1.", "data": {"index": 1, "name": "web"}}
    _, rule = await ws4_call(http, server, "NAT.PortMapping.web", "get")
    assert rule["status"] == {
        "Alias": "web",
        "Enable": True,
        "Description": "",
        "Protocol": "TCP",
        "ExternalPort": 8080,
        "InternalPort": 80,
        "InternalClient": "192.168.1.20",
        "RemoteHost": "",
    }
    await ws4_call(http, server, "NAT.PortMapping.web", "set", {"parameters": {"InternalPort": 81}})
    assert sysbus_box.config.value(PORTS + "1.InternalPort") == "81"
    _, deleted = await ws4_call(http, server, PORTS + "web.", "delete")
    assert deleted == {"status": True}
    assert sysbus_box.config.get(PORTS) == []
    summaries = [c.summary for c in sysbus_box.config.checkpoints()[1:]]
    assert summaries == [
        f"add {PORTS}1.",
        f"set {PORTS}1.InternalPort",
        f"delete {PORTS}1.",
    ]


async def test_an_added_instance_without_alias_gets_the_box_name(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    lease = {"Chaddr": "AA:BB:CC:DD:EE:01", "Yiaddr": "192.168.1.20"}
    _, added = await ws4_call(http, server, POOL + "StaticAddress", "add", {"parameters": lease})
    assert added["data"]["name"] == "cpe-StaticAddress-1"
    _, lease_read = await ws4_call(http, server, added["status"], "get")
    assert lease_read["status"]["Chaddr"] == "aa:bb:cc:dd:ee:01"


async def test_an_add_without_its_required_parameters_names_each_one(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    _, reply = await ws4_call(
        http, server, "NAT.PortMapping", "add", {"parameters": {"ExternalPort": "8080"}}
    )
    assert reply["errors"] == [
        {"error": 196640, "description": "Missing mandatory argument", "info": "InternalPort"},
        {"error": 196640, "description": "Missing mandatory argument", "info": "InternalClient"},
    ]
    assert sysbus_box.config.get(PORTS) == []


async def test_a_second_instance_with_a_taken_alias_is_refused(
    http: aiohttp.ClientSession, server: SysbusServer, sysbus_box: EmulatedBox
) -> None:
    web = {
        "Alias": "web",
        "ExternalPort": "8080",
        "InternalPort": "80",
        "InternalClient": "192.168.1.20",
    }
    await ws4_call(http, server, "NAT.PortMapping", "add", {"parameters": web})
    _, reply = await ws4_call(
        http, server, "NAT.PortMapping", "add", {"parameters": {**web, "ExternalPort": "8081"}}
    )
    assert reply["errors"][0]["error"] == 196639
    assert "'web' is already the alias of" in reply["errors"][0]["description"]
    assert len(sysbus_box.config.get(PORTS)) == 8


async def test_aiosysbus_sets_an_object_as_it_sets_remote_access(
    livebox: AIOSysbus, sysbus_box: EmulatedBox
) -> None:
    reply = await livebox._auth.post(
        "DHCPv4.Server.Pool.1", "set", {"parameters": {"LeaseTime": 3600}}
    )
    assert reply == {"status": True}
    assert sysbus_box.config.value(POOL + "LeaseTime") == "3600"
    pool = await livebox._auth.post("DHCPv4.Server.Pool.1", "get")
    assert pool["status"]["LeaseTime"] == 3600


# --- Errors of the protocol --------------------------------------------------------------------


async def test_unknown_service_and_method_are_object_not_found(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    ws1 = {"Content-Type": WS1 + "; charset=UTF-8", "X-Context": context}
    ws4 = {"Content-Type": WS4, "X-Context": context}
    status, content_type, reply = await post(http, server, call("Foo.Bar", "get"), ws1)
    assert (status, content_type) == (200, WS1_REPLY)
    assert reply == {
        "result": {
            "status": None,
            "errors": [
                {"error": 196618, "description": "Object or parameter not found", "info": "Foo.Bar"}
            ],
        }
    }
    status, content_type, reply = await post(http, server, call("DeviceInfo", "explode"), ws4)
    assert (status, content_type) == (200, WS4_REPLY)
    assert reply == {
        "status": None,
        "errors": [
            {"error": 196618, "description": "Object or parameter not found", "info": "explode"}
        ],
    }


async def test_aiosysbus_retries_an_unknown_service_then_raises_retrieve_failed(
    livebox: AIOSysbus, server: SysbusServer
) -> None:
    with pytest.raises(RetrieveFailed) as caught:
        await livebox._auth.post("Nope", "get")
    assert caught.value.args[0][0]["error"] == 196618
    assert server.sysbus.logins == 5


@pytest.mark.parametrize(
    ("body", "status", "description"),
    [
        (b"{not json", 400, "Invalid request: the body is not JSON ("),
        (b"\xff\xfe", 400, "Invalid request: the body is not JSON ("),
        (b"[1, 2]", 400, "Invalid request: the body is an array, not a JSON object"),
        (b'"text"', 400, "Invalid request: the body is a string, not a JSON object"),
        (b'{"method": "get"}', 400, "Invalid request: 'service' must be a string, not null"),
        (b'{"service": "NMC", "method": 7}', 400, "Invalid request: 'method' must be a string"),
        (
            b'{"service": "NMC", "method": "get", "parameters": [1]}',
            400,
            "Invalid request: 'parameters' must be an object or null, not an array",
        ),
        (b"[" * 100_000, 413, f"Invalid request: the body is over {MAX_BODY} bytes"),
        (b"[" * MAX_BODY, 400, "Invalid request: the body is not JSON ("),
    ],
)
async def test_malformed_bodies_get_a_clear_json_error(
    http: aiohttp.ClientSession, server: SysbusServer, body: bytes, status: int, description: str
) -> None:
    got_status, content_type, reply = await post(http, server, body)
    assert (got_status, content_type) == (status, WS1_REPLY)
    (error,) = reply["result"]["errors"]
    assert error["error"] == 22
    assert error["description"].startswith(description)


async def test_a_huge_chunked_body_is_refused(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 16_384

    async with http.post(server.url, data=chunks(), headers={"Content-Type": WS1}) as response:
        assert response.status == 413
        assert json.loads(await response.read())["result"]["errors"][0]["error"] == 22


async def test_parameters_null_and_empty_are_the_same(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    context = await login(http, server)
    headers = {"Content-Type": WS1, "X-Context": context}
    replies = [
        (await post(http, server, body, headers))[2]
        for body in (
            call("NMC", "get", None),
            call("NMC", "get", {}),
            {"service": "NMC", "method": "get"},
        )
    ]
    assert replies[0] == replies[1] == replies[2]
    assert replies[0]["result"]["status"]["WanMode"] == "VDSL_DHCP"


async def test_the_home_page_answers_and_other_paths_do_not(
    http: aiohttp.ClientSession, server: SysbusServer
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    async with http.get(base + "/") as response:
        assert response.status == 200
    async with http.get(base + "/ws") as response:
        assert response.status == 405
    async with http.post(base + "/sysbus/NMC:get") as response:
        assert response.status == 404


def test_call_refused_names_every_fault() -> None:
    refused = CallRefused([Fault(196640, "Missing mandatory argument", "origin")])
    assert str(refused) == "Missing mandatory argument (origin)"
    assert isinstance(refused, ValueError)


# --- Any body at all -----------------------------------------------------------------------------

READS = [
    (service, method)
    for service, methods in CALLS.items()
    for method in methods
    if method != "reboot"
] + [
    (service, method)
    for service in ("DHCPv4.Server.Pool.1", "NAT.PortMapping", "Device.IP.Interface.2.")
    for method in OBJECT_CALLS
]
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=4,
)
ARGUMENT_NAMES = st.sampled_from(
    [
        "id",
        "origin",
        "sourceInterface",
        "externalPort",
        "internalPort",
        "destinationIPAddress",
        "protocol",
        "enable",
        "sourcePrefix",
        "MACAddress",
        "IPAddress",
        "service",
        "hostname",
        "username",
        "password",
        "mibs",
        "reason",
        "parameters",
        "depth",
    ]
)
CALL_BODIES = st.builds(
    lambda pair, service, method, parameters: {
        "service": pair[0] if service is None else service,
        "method": pair[1] if method is None else method,
        "parameters": parameters,
    },
    st.sampled_from(READS),
    st.none() | SCALARS,
    st.none() | SCALARS,
    st.none() | st.dictionaries(ARGUMENT_NAMES, SCALARS, max_size=5) | JSON_VALUES,
)
#: Each example is posted whole and cut in half (a second, malformed body).
BODIES = (
    st.binary(max_size=48)
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | CALL_BODIES.map(lambda value: json.dumps(value).encode())
)


@pytest.fixture
async def fuzz_context(http: aiohttp.ClientSession, server: SysbusServer) -> str:
    return await login(http, server)


@pytest.fixture
def configuration(sysbus_box: EmulatedBox) -> list[list[tuple[str, str]]]:
    """The running configuration a refused call must leave as it is (a box to update)."""
    return [running(sysbus_box)]


@settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, content_type=st.sampled_from([WS1, WS1 + "; charset=UTF-8", WS4, "", "x/y"]))
async def test_any_body_gets_json_never_a_500_and_errors_change_nothing(
    http: aiohttp.ClientSession,
    server: SysbusServer,
    sysbus_box: EmulatedBox,
    fuzz_context: str,
    configuration: list[list[tuple[str, str]]],
    body: bytes,
    content_type: str,
) -> None:
    headers = {"Content-Type": content_type, "X-Context": fuzz_context}
    for data in (body, body[: len(body) // 2]):
        async with http.post(server.url, data=data, headers=headers) as response:
            assert response.status in (200, 400)
            assert response.headers["Content-Type"] in (WS1_REPLY, WS4_REPLY)
            reply = json.loads(await response.read())
        inner = reply.get("result", reply)
        assert isinstance(inner, dict)
        if "errors" in inner:
            assert inner["status"] is None
            assert all(set(error) == {"error", "description", "info"} for error in inner["errors"])
            assert running(sysbus_box) == configuration[0]
        else:
            # A valid call (random arguments can make one): it may change the configuration.
            assert response.status == 200
            configuration[0] = running(sysbus_box)


async def test_passwords_never_reach_the_emulator_logs(
    livebox: AIOSysbus, server: SysbusServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with AIOSysbus(
        username="admin", password="Wrong-Pass-99", host="127.0.0.1", port=server.port
    ) as intruder:
        with pytest.raises(AuthenticationFailed):
            await intruder.async_connect()
    await livebox.dyndns.async_add_host(NO_IP)
    with pytest.raises(RetrieveFailed):
        await livebox.dyndns.async_add_host({**NO_IP, "password": "P" * 70})
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("emulator")]
    assert any("login refused" in message for message in ours)
    for secret in ("Wrong-Pass-99", PASSWORD, NO_IP["password"], "P" * 70):
        assert not any(secret in message for message in ours)
