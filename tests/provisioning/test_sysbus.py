"""Provisioning over sysbus against emulated boxes: login, reads, writes at once, no commit."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer

from emulator.fleet import ServedBox
from emulator.pytest_plugin import PASSWORD
from emulator.sysbus import CONTEXT_IDLE_S, SYSBUS_USER, SysbusServer
from profiles.clock import SimulatedClock
from provisioning.session import (
    MASK,
    BoxTarget,
    CommandRejected,
    ConnectError,
    ConnectionDropped,
    LoginError,
    NotSupported,
    SessionTimeout,
    Timeouts,
)
from provisioning.sysbus import SysbusSession, connect_sysbus

LINE1 = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
FEATURES = LINE1 + "CallingFeatures."
POOL = "Device.DHCPv4.Server.Pool.1."
PORTS = "Device.NAT.PortMapping."
WEB = {
    "Alias": "web",
    "ExternalPort": "8080",
    "InternalPort": "80",
    "InternalClient": "192.168.1.20",
}
QUICK = Timeouts(connect=0.5, login=0.3, command=0.3)


def target_of(served: ServedBox | SysbusServer, password: str = PASSWORD) -> BoxTarget:
    port = served.http.port if isinstance(served, ServedBox) else served.port
    return BoxTarget("shop-12", "127.0.0.1", port, transport="sysbus", password=password)


@pytest.fixture
async def session(livebox: ServedBox) -> AsyncIterator[SysbusSession]:
    async with await connect_sysbus(target_of(livebox)) as opened:
        assert isinstance(opened, SysbusSession)
        yield opened


# --- Logging in and out --------------------------------------------------------------------------


async def test_login_opens_one_context_and_close_releases_it(livebox: ServedBox) -> None:
    sysbus = livebox.http.sysbus
    session = await connect_sysbus(target_of(livebox))
    assert (sysbus.logins, sysbus.contexts) == (1, 1)
    assert session.capabilities.native_transactions is False
    await session.close()
    await session.close()
    assert sysbus.contexts == 0


async def test_a_wrong_password_is_a_login_error_that_never_shows_it(livebox: ServedBox) -> None:
    with pytest.raises(LoginError) as caught:
        await connect_sysbus(target_of(livebox, password="Guess-7781"))
    message = str(caught.value)
    assert message == (
        "shop-12: the box refused the login of 'admin': wrong user or password (Permission denied)"
    )
    assert "Guess-7781" not in message
    assert "Guess-7781" not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert livebox.http.sysbus.logins == 0


async def test_the_old_firmware_refusal_with_http_200_is_a_login_error_too(
    livebox: ServedBox,
) -> None:
    async with SysbusServer(livebox.box, refused_login_status=200) as old_firmware:
        with pytest.raises(LoginError, match="wrong user or password"):
            await connect_sysbus(target_of(old_firmware, password="Guess-7781"))


async def test_a_target_for_ssh_or_without_password_is_refused_before_connecting(
    livebox: ServedBox,
) -> None:
    host, port = "127.0.0.1", livebox.http.port
    with pytest.raises(ValueError, match="shop-12: its transport is 'ssh', not 'sysbus'"):
        await connect_sysbus(BoxTarget("shop-12", host, port, password=PASSWORD))
    with pytest.raises(LoginError, match="shop-12: sysbus logs in with the admin password"):
        await connect_sysbus(BoxTarget("shop-12", host, port, transport="sysbus"))


async def test_the_session_never_shows_the_password(session: SysbusSession) -> None:
    assert PASSWORD not in repr(session)
    assert PASSWORD not in repr(session.target)


async def test_an_expired_context_logs_in_again_without_the_caller_noticing(
    livebox: ServedBox, session: SysbusSession, livebox_clock: SimulatedClock
) -> None:
    await session.get("Device.DeviceInfo.SerialNumber")
    await livebox_clock.advance(CONTEXT_IDLE_S + 1)
    assert livebox.http.sysbus.contexts == 0
    read = await session.get("Device.DeviceInfo.UpTime")
    assert int(read["Device.DeviceInfo.UpTime"]) >= CONTEXT_IDLE_S
    assert livebox.http.sysbus.logins == 2


async def test_a_rebooted_box_is_logged_in_again_for_a_write(
    livebox: ServedBox, session: SysbusSession
) -> None:
    livebox.http.sysbus.forget_contexts()
    await session.set({POOL + "LeaseTime": "3600"})
    assert livebox.box.config.value(POOL + "LeaseTime") == "3600"
    assert livebox.http.sysbus.logins == 2


# --- Reading -------------------------------------------------------------------------------------


async def test_get_reads_an_object_and_everything_below_it_as_canonical_text(
    session: SysbusSession,
) -> None:
    line = await session.get(LINE1)
    assert line[LINE1 + "Enable"] == "Disabled"
    assert line[FEATURES + "CallWaitingEnable"] == "1"
    assert line[FEATURES + "CallForwardUnconditionalEnable"] == "0"
    assert line[FEATURES + "CallForwardOnNoAnswerRingTimeout"] == "20"
    assert line[LINE1 + "SIP.AuthPassword"] == ""  # not set yet: a set one reads as the mask
    assert all(path.startswith(LINE1) for path in line)


async def test_get_of_the_whole_box_matches_its_running_configuration(
    livebox: ServedBox, session: SysbusSession
) -> None:
    everything = await session.get("Device.")
    assert everything["Device.DeviceInfo.SerialNumber"] == livebox.box.identity.serial
    running = dict(livebox.box.config.get("Device."))
    assert everything.keys() == running.keys()
    assert everything[POOL + "LeaseTime"] == running[POOL + "LeaseTime"] == "86400"


async def test_get_of_one_parameter_reads_only_it(
    livebox: ServedBox, session: SysbusSession
) -> None:
    serial = await session.get("Device.DeviceInfo.SerialNumber")
    assert serial == {"Device.DeviceInfo.SerialNumber": livebox.box.identity.serial}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("Device.NAT.Nope.", "Device.NAT.Nope.: Object or parameter not found"),
        ("Device.DeviceInfo.Nope", "Device.DeviceInfo.Nope: Object or parameter not found"),
        (
            "Device.NAT.PortMapping.web.",
            "Device.NAT.PortMapping.web.: Object or parameter not found",
        ),
        ("SerialNumber", "SerialNumber: not a parameter path (as Device.DeviceInfo.SerialNumber;"),
    ],
)
async def test_get_of_an_unknown_path_is_rejected_naming_it(
    session: SysbusSession, path: str, message: str
) -> None:
    with pytest.raises(CommandRejected) as caught:
        await session.get(path)
    assert str(caught.value).startswith(message)
    assert caught.value.what == path


# --- Writing: each object at once ----------------------------------------------------------------


async def test_set_takes_effect_at_once_one_checkpoint_per_object(
    livebox: ServedBox, session: SysbusSession
) -> None:
    config = livebox.box.config
    await session.set(
        {
            FEATURES + "CallForwardUnconditionalNumber": "0612345678",
            POOL + "LeaseTime": "7200",
            FEATURES + "CallForwardUnconditionalEnable": "1",
        }
    )
    assert config.value(FEATURES + "CallForwardUnconditionalEnable") == "1"
    assert config.value(POOL + "LeaseTime") == "7200"
    assert [(c.by, c.summary) for c in config.checkpoints()[1:]] == [
        (
            SYSBUS_USER,
            f"set {FEATURES}CallForwardUnconditionalEnable; "
            f"set {FEATURES}CallForwardUnconditionalNumber",
        ),
        (SYSBUS_USER, f"set {POOL}LeaseTime"),
    ]
    assert await session.get(POOL + "LeaseTime") == {POOL + "LeaseTime": "7200"}


async def test_a_refused_value_names_its_path_and_writes_nothing_of_its_object(
    livebox: ServedBox, session: SysbusSession
) -> None:
    config = livebox.box.config
    with pytest.raises(CommandRejected) as caught:
        await session.set(
            {
                FEATURES + "CallWaitingEnable": "0",
                POOL + "Enable": "0",
                POOL + "LeaseTime": "10",
            }
        )
    assert caught.value.what == POOL + "LeaseTime"
    assert caught.value.reason == "'10' is not a whole number (60 to 2592000)"
    assert str(caught.value) == f"{POOL}LeaseTime: '10' is not a whole number (60 to 2592000)"
    assert config.value(POOL + "Enable") == "1"
    # The object before it was written at once, and stays so: the caller restores it.
    assert config.value(FEATURES + "CallWaitingEnable") == "0"


async def test_a_read_only_parameter_is_rejected(session: SysbusSession) -> None:
    with pytest.raises(CommandRejected) as caught:
        await session.set({"Device.DeviceInfo.SerialNumber": "LB-FAKE"})
    assert caught.value.what == "Device.DeviceInfo.SerialNumber"
    assert "read-only" in caught.value.reason


async def test_several_refused_values_of_one_object_are_all_named(
    livebox: ServedBox, session: SysbusSession
) -> None:
    with pytest.raises(CommandRejected) as caught:
        await session.set({POOL + "LeaseTime": "10", POOL + "MinAddress": "192.168.1.300"})
    assert caught.value.what == POOL
    assert caught.value.reason.startswith(
        "LeaseTime: '10' is not a whole number (60 to 2592000); "
        "MinAddress: '192.168.1.300' is not an IPv4 address"
    )
    assert len(livebox.box.config.checkpoints()) == 1


async def test_a_rule_the_write_breaks_is_rejected_in_the_box_own_words(
    livebox: ServedBox, session: SysbusSession
) -> None:
    with pytest.raises(CommandRejected) as caught:
        await session.set({FEATURES + "CallForwardUnconditionalEnable": "1"})
    assert caught.value.what == FEATURES
    assert "unconditional forwarding needs a number" in caught.value.reason
    assert livebox.box.config.value(FEATURES + "CallForwardUnconditionalEnable") == "0"


async def test_a_secret_is_written_and_read_back_masked(
    livebox: ServedBox, session: SysbusSession
) -> None:
    await session.set({LINE1 + "SIP.AuthPassword": "Sip-Secret-81"})
    assert await session.get(LINE1 + "SIP.AuthPassword") == {LINE1 + "SIP.AuthPassword": MASK}
    assert livebox.box.config.value(LINE1 + "SIP.AuthPassword") == "Sip-Secret-81"


async def test_a_port_mapping_is_added_changed_and_deleted_by_its_alias(
    livebox: ServedBox, session: SysbusSession
) -> None:
    config = livebox.box.config
    assert await session.add(PORTS, WEB) == PORTS + "1."
    assert await session.get(PORTS + "web.") == {
        PORTS + "1.Alias": "web",
        PORTS + "1.Enable": "1",
        PORTS + "1.Description": "",
        PORTS + "1.Protocol": "TCP",
        PORTS + "1.ExternalPort": "8080",
        PORTS + "1.InternalPort": "80",
        PORTS + "1.InternalClient": "192.168.1.20",
        PORTS + "1.RemoteHost": "",
    }
    await session.set({PORTS + "web.InternalPort": "81"})
    assert config.value(PORTS + "1.InternalPort") == "81"
    await session.delete(PORTS + "web.")
    assert await session.get(PORTS) == {}
    assert [c.summary for c in config.checkpoints()[1:]] == [
        f"add {PORTS}1.",
        f"set {PORTS}1.InternalPort",
        f"delete {PORTS}1.",
    ]


async def test_an_add_without_its_required_values_names_them(
    livebox: ServedBox, session: SysbusSession
) -> None:
    with pytest.raises(CommandRejected) as caught:
        await session.add(PORTS, {"Alias": "web", "ExternalPort": "8080"})
    assert str(caught.value) == (
        f"{PORTS}: Missing mandatory argument (InternalPort); "
        "Missing mandatory argument (InternalClient)"
    )
    assert livebox.box.config.get(PORTS) == []


async def test_an_add_with_a_bad_value_names_the_new_parameter(session: SysbusSession) -> None:
    with pytest.raises(CommandRejected) as caught:
        await session.add(PORTS, {**WEB, "ExternalPort": "99999"})
    assert caught.value.what == PORTS + "ExternalPort"
    assert caught.value.reason == "'99999' is not a port (1 to 65535)"


async def test_deleting_an_unknown_alias_is_rejected(session: SysbusSession) -> None:
    with pytest.raises(CommandRejected, match=r"^Device\.NAT\.PortMapping\.ftp\.: Object or"):
        await session.delete(PORTS + "ftp.")


async def test_a_path_without_its_final_dot_is_rejected_before_any_call(
    livebox: ServedBox, session: SysbusSession
) -> None:
    with pytest.raises(CommandRejected, match=r"a table path ends with '\.'"):
        await session.add(PORTS[:-1], WEB)
    with pytest.raises(CommandRejected, match=r"an instance path ends with '\.'"):
        await session.delete(PORTS + "web")
    with pytest.raises(CommandRejected, match="not a parameter path"):
        await session.set({POOL + "LeaseTime": "3600", "LeaseTime": "60"})
    assert len(livebox.box.config.checkpoints()) == 1


# --- No transactions over sysbus -----------------------------------------------------------------


async def test_commit_has_nothing_to_do_and_returns_no_checkpoint(
    livebox: ServedBox, session: SysbusSession
) -> None:
    assert await session.commit() is None
    assert len(livebox.box.config.checkpoints()) == 1


@pytest.mark.parametrize(
    ("step", "start"),
    [
        (lambda s: s.commit(confirm_s=60), "shop-12: no commit confirm over sysbus: "),
        (lambda s: s.confirm(), "shop-12: nothing to confirm over sysbus: "),
        (lambda s: s.rollback(), "shop-12: no native rollback over sysbus: "),
    ],
)
async def test_commit_confirm_confirm_and_rollback_are_not_supported_and_say_why(
    session: SysbusSession,
    step: Callable[[SysbusSession], Awaitable[object]],
    start: str,
) -> None:
    with pytest.raises(NotSupported) as caught:
        await step(session)
    assert str(caught.value) == start + (
        "sysbus applies each write at once, as the real box does, so there is nothing to "
        "commit, confirm or roll back; to undo a change, write the old values back (an "
        "emulated rollback)"
    )


# --- A box that cannot be reached, answers late, or goes away ------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_nothing_listening_is_a_connect_error() -> None:
    port = free_port()
    target = BoxTarget("shop-12", "127.0.0.1", port, transport="sysbus", password=PASSWORD)
    with pytest.raises(ConnectError) as caught:
        await connect_sysbus(target, QUICK)
    assert str(caught.value) == (
        f"shop-12: nothing answers sysbus at 127.0.0.1:{port} (Connection refused)"
    )


async def test_a_box_that_never_answers_the_login_times_out_at_the_login_stage() -> None:
    hung_up = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = BoxTarget("shop-12", "127.0.0.1", port, transport="sysbus", password=PASSWORD)
    try:
        with pytest.raises(SessionTimeout) as caught:
            await connect_sysbus(target, QUICK)
        await hung_up.wait()  # the client closed its connection when it gave up
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.stage == "login"
    assert str(caught.value).startswith("login timed out after 0.8 s: shop-12")
    assert PASSWORD not in str(caught.value)


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def stub_box(on_call: Handler) -> Handler:
    """A box that accepts any login, then answers every other call with `on_call`."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        call = json.loads(await request.read())
        if call["method"] == "createContext":
            return web.json_response({"status": 0, "data": {"contextID": "ctx-1"}})
        return await on_call(request)

    return handle


async def test_a_box_that_stops_answering_times_out_at_the_command_stage() -> None:
    async def never(request: web.BaseRequest) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with RawTestServer(stub_box(never), host="127.0.0.1") as server:
        assert server.port is not None
        target = BoxTarget("shop-12", "127.0.0.1", server.port, transport="sysbus", password="x")
        session = await connect_sysbus(target, QUICK)
        with pytest.raises(SessionTimeout) as caught:
            await session.get("Device.DeviceInfo.")
        await session.close()
    assert caught.value.stage == "command"
    assert str(caught.value) == "command timed out after 0.3 s: shop-12: Device.DeviceInfo get"


async def test_a_connection_cut_in_the_middle_of_a_call_is_connection_dropped() -> None:
    async def cut(request: web.BaseRequest) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async with RawTestServer(stub_box(cut), host="127.0.0.1") as server:
        port = server.port
        assert port is not None
        target = BoxTarget("shop-12", "127.0.0.1", port, transport="sysbus", password="x")
        session = await connect_sysbus(target, QUICK)
        with pytest.raises(ConnectionDropped) as caught:
            await session.set({POOL + "LeaseTime": "3600"})
        await session.close()
    assert str(caught.value) == (
        f"shop-12: the connection to 127.0.0.1:{port} broke during "
        "Device.DHCPv4.Server.Pool.1 set (the box closed the connection without answering)"
    )


async def test_a_box_gone_mid_session_is_connection_dropped_and_close_still_works(
    livebox: ServedBox, session: SysbusSession
) -> None:
    await session.get("Device.DeviceInfo.SerialNumber")
    await livebox.http.close()
    with pytest.raises(ConnectionDropped) as caught:
        await session.get("Device.DeviceInfo.SerialNumber")
    assert str(caught.value).startswith(
        f"shop-12: the connection to 127.0.0.1:{session.target.port} broke during "
        "Device.DeviceInfo get ("
    )
    await session.close()
