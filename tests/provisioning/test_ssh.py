"""The SSH transport against emulated boxes: host keys, login, every command, faults, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from emulator.fleet import Fleet, ServedBox
from emulator.pytest_plugin import PASSWORD
from emulator.ssh import MAX_FAILURES
from profiles.clock import SimulatedClock
from provisioning.session import (
    SSH_CAPABILITIES,
    BoxTarget,
    CommandRejected,
    ConnectError,
    ConnectionDropped,
    HostKeyError,
    LoginError,
    ProvisioningError,
    SessionTimeout,
    Timeouts,
)
from provisioning.ssh import SshSession, _NoPacketDumps, connect_ssh

FEATURES = (
    "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
    "CallingFeatures."
)
CALLER_ID = f"{FEATURES}CallerIDEnable"
CALL_WAITING = f"{FEATURES}CallWaitingEnable"
RING_TIMEOUT = f"{FEATURES}CallForwardOnNoAnswerRingTimeout"
SIP = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1.SIP."
PORTS = "Device.NAT.PortMapping."
SERIAL = "Device.DeviceInfo.SerialNumber"
WEB = {
    "Alias": "web",
    "ExternalPort": "8080",
    "InternalPort": "80",
    "InternalClient": "192.168.1.20",
}
QUICK = Timeouts(connect=5, login=5, command=0.2, commit=0.2)


def host_port(served: ServedBox) -> tuple[str, int]:
    host, port = served.endpoints()["ssh"].rsplit(":", 1)
    return host, int(port)


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    return f"[{host}]:{port} {key.export_public_key().decode().strip()}\n"


@pytest.fixture
def known_hosts(tmp_path: Path, livebox: ServedBox) -> Path:
    """A known_hosts file that lists the box's host key."""
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts_line(*host_port(livebox), livebox.box.host_key))
    return path


@pytest.fixture
def target(livebox: ServedBox, known_hosts: Path) -> BoxTarget:
    host, port = host_port(livebox)
    return BoxTarget(livebox.name, host, port, password=PASSWORD, known_hosts=known_hosts)


@pytest.fixture
async def session(target: BoxTarget) -> AsyncIterator[SshSession]:
    async with await connect_ssh(target) as opened:
        assert isinstance(opened, SshSession)
        yield opened


# --- Host keys -----------------------------------------------------------------------------------


async def test_a_box_whose_key_is_known_opens_a_session_at_its_prompt(
    target: BoxTarget, livebox: ServedBox
) -> None:
    session = await connect_ssh(target)
    try:
        assert session.capabilities is SSH_CAPABILITIES
        assert session.trusted_new_host_key is False
        assert session.prompt == f"{livebox.name}> "
        assert session.greeting[0].startswith(f"{livebox.name}: Livebox pro")
        assert await session.get(SERIAL) == {SERIAL: livebox.box.identity.serial}
    finally:
        await session.close()


async def test_an_unknown_host_is_refused_before_any_password_is_sent(
    target: BoxTarget, livebox: ServedBox, tmp_path: Path
) -> None:
    other = tmp_path / "other_hosts"
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    other.write_text(known_hosts_line("192.0.2.7", 22, stranger))
    host, port = host_port(livebox)
    for _ in range(MAX_FAILURES):
        with pytest.raises(HostKeyError) as refused:
            await connect_ssh(replace(target, known_hosts=other, password="Wr0ng-Guess"))
    fingerprint = livebox.box.host_key.get_fingerprint()
    assert str(refused.value) == (
        f"box {livebox.name}: unknown host {host}:{port}: its ssh-ed25519 key {fingerprint} is "
        f"not in {other}. To trust it, check that fingerprint on the box and add its key to "
        "that file, or ask for trust on first use"
    )
    # Five wrong passwords would have made the box refuse this address for a minute.
    assert livebox.ssh.throttle.wait_s(host) == 0
    async with await connect_ssh(target) as session:
        assert await session.get(SERIAL)


async def test_a_missing_known_hosts_file_leaves_every_host_unknown(
    target: BoxTarget, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "known_hosts"
    with pytest.raises(HostKeyError, match=r"unknown host .* \(the file does not exist\)"):
        await connect_ssh(replace(target, known_hosts=missing))
    assert not missing.exists()


async def test_without_a_known_hosts_file_nothing_connects(target: BoxTarget) -> None:
    with pytest.raises(HostKeyError) as refused:
        await connect_ssh(replace(target, known_hosts=None))
    assert str(refused.value) == (
        f"box {target.name}: no known_hosts file to check the host key of "
        f"{target.host}:{target.port} against; give one, or ask for trust on first use to "
        "record the key of a new box"
    )
    with pytest.raises(HostKeyError, match="trust on first use needs a known_hosts file"):
        await connect_ssh(replace(target, known_hosts=None, trust_on_first_use=True))


async def test_an_unreadable_known_hosts_file_is_refused_with_its_name(
    target: BoxTarget, tmp_path: Path
) -> None:
    broken = tmp_path / "known_hosts"
    broken.write_text("garbage\n")
    with pytest.raises(HostKeyError, match=f"cannot read the known_hosts file {broken}: Invalid"):
        await connect_ssh(replace(target, known_hosts=broken))


async def test_trust_on_first_use_records_the_key_and_says_so(
    target: BoxTarget, livebox: ServedBox, tmp_path: Path
) -> None:
    new_file = tmp_path / "ssh" / "known_hosts"
    first = replace(target, known_hosts=new_file, trust_on_first_use=True)
    async with await connect_ssh(first) as session:
        assert session.trusted_new_host_key is True
    host, port = host_port(livebox)
    key = livebox.box.host_key.export_public_key().decode().split()[:2]
    assert new_file.read_text() == f"[{host}]:{port} {' '.join(key)}\n"
    # From now on the key is known, with or without trust on first use.
    async with await connect_ssh(replace(first, trust_on_first_use=False)) as session:
        assert session.trusted_new_host_key is False


async def test_trust_on_first_use_appends_after_a_last_line_without_line_break(
    target: BoxTarget, tmp_path: Path
) -> None:
    path = tmp_path / "known_hosts"
    other = asyncssh.generate_private_key("ssh-ed25519")
    path.write_text(known_hosts_line("192.0.2.7", 22, other).rstrip("\n"))
    async with await connect_ssh(replace(target, known_hosts=path, trust_on_first_use=True)):
        pass
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f"[{target.host}]:{target.port} ssh-ed25519 ")


async def test_a_changed_host_key_is_refused_even_with_trust_on_first_use(
    target: BoxTarget, livebox: ServedBox, tmp_path: Path
) -> None:
    path = tmp_path / "known_hosts"
    host, port = host_port(livebox)
    path.write_text(known_hosts_line(host, port, asyncssh.generate_private_key("ssh-ed25519")))
    before = path.read_text()
    with pytest.raises(HostKeyError) as refused:
        await connect_ssh(replace(target, known_hosts=path, trust_on_first_use=True))
    message = str(refused.value)
    assert message.startswith(
        f"box {livebox.name}: the host key of {host}:{port} has CHANGED: it offers the "
        f"ssh-ed25519 key {livebox.box.host_key.get_fingerprint()}, not the key recorded in "
        f"{path}."
    )
    assert f"remove its old line from {path} and connect again" in message
    assert path.read_text() == before


async def test_a_key_of_another_type_than_the_recorded_one_is_a_changed_key(
    target: BoxTarget, livebox: ServedBox, tmp_path: Path
) -> None:
    path = tmp_path / "known_hosts"
    recorded = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    path.write_text(known_hosts_line(target.host, target.port, recorded))
    with pytest.raises(HostKeyError, match="has CHANGED: the box offers no key of the types"):
        await connect_ssh(replace(target, known_hosts=path, trust_on_first_use=True))


async def test_a_revoked_key_is_refused_even_on_first_use(
    target: BoxTarget, livebox: ServedBox, tmp_path: Path
) -> None:
    path = tmp_path / "known_hosts"
    line = known_hosts_line(target.host, target.port, livebox.box.host_key)
    path.write_text("@revoked " + line)
    with pytest.raises(HostKeyError, match="Host key is revoked"):
        await connect_ssh(replace(target, known_hosts=path, trust_on_first_use=True))
    assert path.read_text() == "@revoked " + line


async def test_a_shared_known_hosts_file_learns_each_new_box_of_a_fleet(
    livebox_fleet: Callable[..., Awaitable[Fleet]], tmp_path: Path
) -> None:
    fleet = await livebox_fleet(3)
    path = tmp_path / "known_hosts"
    targets = [
        BoxTarget(s.name, *host_port(s), password=PASSWORD, known_hosts=path) for s in fleet.served
    ]
    for target in targets:
        async with await connect_ssh(replace(target, trust_on_first_use=True)) as session:
            assert session.trusted_new_host_key
    assert len(path.read_text().splitlines()) == 3
    for target in targets:
        async with await connect_ssh(target) as session:
            assert not session.trusted_new_host_key


async def test_a_known_hosts_file_rewritten_in_place_is_read_again(
    target: BoxTarget, known_hosts: Path
) -> None:
    async with await connect_ssh(target):
        pass
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with known_hosts.open("r+") as file:  # same file, new content, longer than before
        file.write(known_hosts_line(target.host, target.port, stranger) + "# replaced\n")
    with pytest.raises(HostKeyError, match="has CHANGED"):
        await connect_ssh(target)


# --- Login ---------------------------------------------------------------------------------------


async def test_a_wrong_password_is_a_login_error_that_never_shows_it(
    target: BoxTarget, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Wr0ng-Guess-42"
    with caplog.at_level(logging.DEBUG), pytest.raises(LoginError) as refused:
        await connect_ssh(replace(target, password=secret))
    error = refused.value
    assert str(error).startswith(
        f"box {target.name} at {target.host}:{target.port}: login of user 'admin' refused: "
        "Permission denied"
    )
    shown = [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text]
    assert not [text for text in shown if secret in text]


async def test_a_throttled_address_gets_the_box_message(
    target: BoxTarget, livebox: ServedBox
) -> None:
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginError):
            await connect_ssh(replace(target, password="guess"))
    with pytest.raises(LoginError) as refused:
        await connect_ssh(target)
    assert str(refused.value).endswith(
        "refused: too many failed logins from 127.0.0.1: wait 60 s before trying again"
    )


async def test_a_key_file_logs_in_without_password(
    target: BoxTarget, livebox: ServedBox, tmp_path: Path
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    livebox.box.authorized_keys.append(key.convert_to_public())
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(key.export_private_key())
    async with await connect_ssh(replace(target, password=None, key_file=key_file)) as session:
        assert await session.get(SERIAL)


async def test_a_key_file_that_cannot_be_read_is_a_login_error(
    target: BoxTarget, tmp_path: Path
) -> None:
    missing = tmp_path / "id_missing"
    with pytest.raises(LoginError, match=f"cannot use the key file {missing}: No such file"):
        await connect_ssh(replace(target, password=None, key_file=missing))
    encrypted = tmp_path / "id_encrypted"
    key = asyncssh.generate_private_key("ssh-ed25519")
    encrypted.write_bytes(key.export_private_key("pkcs8-pem", passphrase="Key-Passphrase"))
    with pytest.raises(LoginError, match=f"cannot use the key file {encrypted}: Passphrase"):
        await connect_ssh(replace(target, password=None, key_file=encrypted))


async def test_no_password_and_no_key_file_is_refused_before_connecting(
    target: BoxTarget,
) -> None:
    with pytest.raises(LoginError, match="no password and no key file to log in with"):
        await connect_ssh(replace(target, password=None))


async def test_a_sysbus_target_is_not_for_the_ssh_transport(target: BoxTarget) -> None:
    with pytest.raises(ValueError, match=f"box {target.name} is managed over sysbus, not ssh"):
        await connect_ssh(replace(target, transport="sysbus"))


# --- Reading and writing -------------------------------------------------------------------------


async def test_get_reads_an_object_or_one_parameter(
    session: SshSession, livebox: ServedBox
) -> None:
    info = await session.get("Device.DeviceInfo.")
    assert info["Device.DeviceInfo.ModelName"] == "Livebox pro"
    assert info[SERIAL] == livebox.box.identity.serial
    assert await session.get(CALLER_ID) == {CALLER_ID: "1"}
    assert await session.get(PORTS) == {}
    everything = await session.get("Device.")
    assert everything.keys() >= info.keys()


async def test_an_unknown_path_is_rejected_with_the_box_reason(session: SshSession) -> None:
    with pytest.raises(CommandRejected) as rejected:
        await session.get("Device.Nope.")
    assert rejected.value.what == "Device.Nope."
    assert rejected.value.reason.startswith("Device.Nope: no 'Nope' in Device.; it has: DHCPv4")
    # The session goes on.
    assert await session.get(CALLER_ID) == {CALLER_ID: "1"}


async def test_a_malformed_path_is_rejected_without_reaching_the_box(session: SshSession) -> None:
    with pytest.raises(
        CommandRejected, match=re.escape("not sent to the box: get: 'Device.X\\nexit'")
    ):
        await session.get("Device.X\nexit")
    assert await session.get(CALLER_ID) == {CALLER_ID: "1"}


async def test_set_writes_the_candidate_and_commit_makes_it_running(
    session: SshSession, livebox: ServedBox
) -> None:
    await session.set({CALLER_ID: "0", CALL_WAITING: "0", f"{SIP}AuthUserName": "bob"})
    assert await session.get(CALLER_ID) == {CALLER_ID: "0"}
    assert livebox.box.config.value(CALLER_ID) == "1"
    assert await session.commit() == 1
    assert livebox.box.config.value(CALLER_ID) == "0"
    assert livebox.box.config.value(CALL_WAITING) == "0"
    assert livebox.box.config.value(f"{SIP}AuthUserName") == "bob"


async def test_set_of_nothing_sends_nothing(session: SshSession) -> None:
    await session.set({})
    assert await session.get(CALLER_ID) == {CALLER_ID: "1"}


async def test_a_refused_value_names_the_path_and_reason_and_writes_nothing_of_its_object(
    session: SshSession,
) -> None:
    with pytest.raises(CommandRejected) as rejected:
        await session.set({CALLER_ID: "0", RING_TIMEOUT: "500"})
    assert rejected.value.what == FEATURES
    assert rejected.value.reason.startswith(f"{RING_TIMEOUT}: ")
    assert "120" in rejected.value.reason
    assert (await session.get(CALLER_ID)) == {CALLER_ID: "1"}
    with pytest.raises(CommandRejected, match="nothing to commit"):
        await session.commit()


async def test_a_refused_secret_is_never_shown(
    session: SshSession, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Line-Secret-" + "x" * 200
    with caplog.at_level(logging.DEBUG), pytest.raises(CommandRejected) as rejected:
        await session.set({f"{SIP}AuthPassword": secret, f"{SIP}AuthUserName": "bob"})
    assert rejected.value.what == SIP
    assert "(hidden value) is longer than 128 characters" in rejected.value.reason
    assert "Line-Secret" not in str(rejected.value) + repr(rejected.value) + caplog.text


@pytest.mark.parametrize(
    "value",
    [
        "",
        "two words",
        "  padded  ",
        'say "hi"',
        "it's",
        "back\\slash\\",
        "#not-a-comment",
        "a,b,{c}",
        "a=b=c",
        "Zürich café 東京 \U0001f600",
        "see box-001> here",
    ],
)
async def test_any_text_value_round_trips_through_the_box(session: SshSession, value: str) -> None:
    path = await session.add(PORTS, {**WEB, "Description": value})
    assert (await session.get(f"{path}Description")) == {f"{path}Description": value}
    await session.set({f"{path}Description": value + "!"})
    assert (await session.get(path))[f"{path}Description"] == value + "!"


async def test_add_returns_the_new_instance_and_delete_removes_it(session: SshSession) -> None:
    path = await session.add(PORTS, WEB)
    assert path == f"{PORTS}1."
    assert (await session.get(f"{PORTS}web.ExternalPort")) == {f"{path}ExternalPort": "8080"}
    await session.delete(f"{PORTS}web.")
    assert await session.get(PORTS) == {}


async def test_a_refused_add_names_the_table(session: SshSession) -> None:
    with pytest.raises(CommandRejected) as rejected:
        await session.add(PORTS, {"Alias": "web", "Protocol": "SCTP"})
    assert rejected.value.what == PORTS
    assert "SCTP" in rejected.value.reason
    assert await session.get(PORTS) == {}


async def test_deleting_what_is_not_there_is_rejected(session: SshSession) -> None:
    with pytest.raises(CommandRejected) as rejected:
        await session.delete(f"{PORTS}7.")
    assert rejected.value.what == f"{PORTS}7."


# --- Transactions --------------------------------------------------------------------------------


async def test_commit_confirm_then_confirm_keeps_the_change(
    session: SshSession, livebox: ServedBox, livebox_clock: SimulatedClock
) -> None:
    await session.set({CALLER_ID: "0"})
    assert await session.commit(confirm_s=60) == 1
    assert livebox.box.config.pending_confirm is not None
    await session.confirm()
    await livebox_clock.advance(61)
    assert livebox.box.config.value(CALLER_ID) == "0"


async def test_rollback_undoes_the_latest_commit(session: SshSession, livebox: ServedBox) -> None:
    await session.set({CALLER_ID: "0"})
    await session.commit(confirm_s=60)
    await session.rollback()
    assert livebox.box.config.value(CALLER_ID) == "1"
    assert livebox.box.config.pending_confirm is None


async def test_confirm_without_a_pending_commit_is_rejected(session: SshSession) -> None:
    with pytest.raises(CommandRejected) as rejected:
        await session.confirm()
    assert rejected.value.what == "confirm"
    assert rejected.value.reason == "nothing to confirm: no commit awaits confirmation"


async def test_commit_confirm_needs_whole_seconds(session: SshSession) -> None:
    with pytest.raises(CommandRejected, match="confirm_s must be a whole number of seconds"):
        await session.commit(confirm_s=0)


async def test_a_link_dropped_after_commit_confirm_leaves_the_box_to_revert(
    target: BoxTarget, livebox: ServedBox, livebox_clock: SimulatedClock
) -> None:
    livebox.ssh.cut_after(3)
    session = await connect_ssh(target)
    await session.set({CALLER_ID: "0"})
    await session.commit(confirm_s=60)
    with pytest.raises(ConnectionDropped) as dropped:
        await session.confirm()
    assert str(dropped.value).startswith(
        f"box {livebox.name}: the connection was lost while running confirm"
    )
    assert livebox.box.config.value(CALLER_ID) == "0"
    await livebox_clock.advance(61)
    assert livebox.box.config.value(CALLER_ID) == "1"
    with pytest.raises(ConnectionDropped, match="the session is closed: the connection was lost"):
        await session.get(CALLER_ID)
    await session.close()
    await session.close()


async def test_a_dropped_write_names_its_path_but_never_its_values(
    target: BoxTarget, livebox: ServedBox, caplog: pytest.LogCaptureFixture
) -> None:
    livebox.ssh.cut_after(1)
    async with await connect_ssh(target) as session:
        with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionDropped) as dropped:
            await session.set({f"{SIP}AuthPassword": "Line-Secret-9", f"{SIP}AuthUserName": "u"})
    assert f"while running set {SIP}{{AuthPassword, AuthUserName}}" in str(dropped.value)
    assert "Line-Secret-9" not in str(dropped.value) + repr(dropped.value) + caplog.text


async def test_a_drop_in_the_middle_of_a_set_of_several_objects_names_the_one_in_flight(
    target: BoxTarget, livebox: ServedBox
) -> None:
    livebox.ssh.cut_after(2)
    async with await connect_ssh(target) as session:
        with pytest.raises(ConnectionDropped, match=f"while running set {SIP}\\{{AuthUserName\\}}"):
            await session.set({CALLER_ID: "0", f"{SIP}AuthUserName": "u"})


async def test_packet_dumps_never_reach_the_log(
    target: BoxTarget, caplog: pytest.LogCaptureFixture
) -> None:
    asyncssh.set_debug_level(3)
    try:
        with caplog.at_level(logging.DEBUG):
            async with await connect_ssh(target) as session:
                await session.set({f"{SIP}AuthPassword": "Line-Secret-3"})
    finally:
        asyncssh.set_debug_level(1)
    assert PASSWORD not in caplog.text
    assert "Line-Secret" not in caplog.text
    record = logging.LogRecord(
        "asyncssh", logging.DEBUG, __file__, 1, "[conn=0] Sent packet\n  00: Secret", None, None
    )
    record.packet = b"Secret"
    assert _NoPacketDumps().filter(record)
    assert record.getMessage() == "[conn=0] Sent packet (packet dump not logged)"


async def test_a_session_runs_one_command_at_a_time(session: SshSession) -> None:
    first, second = await asyncio.gather(
        session.get(CALLER_ID), session.get(CALLER_ID), return_exceptions=True
    )
    assert first == {CALLER_ID: "1"}
    assert isinstance(second, RuntimeError)
    assert str(second) == "box box-001: one command at a time on a session"


async def test_close_is_idempotent_and_drops_the_candidate(
    target: BoxTarget, livebox: ServedBox
) -> None:
    session = await connect_ssh(target)
    await session.set({CALLER_ID: "0"})
    await session.close()
    await session.close()
    with pytest.raises(ConnectionDropped, match=r"cannot run get .*: the session is closed"):
        await session.get(CALLER_ID)
    assert livebox.box.config.value(CALLER_ID) == "1"


# --- Unreachable boxes and timeouts --------------------------------------------------------------


def fake_target(port: int, known_hosts: Path, **changes: Any) -> BoxTarget:
    return BoxTarget(
        "box-x", "127.0.0.1", port, password=PASSWORD, known_hosts=known_hosts, **changes
    )


async def test_a_refused_connection_is_a_connect_error(tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: the kernel refuses connections
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(ConnectError) as refused:
            await connect_ssh(fake_target(port, tmp_path / "known_hosts"))
    assert str(refused.value) == (
        f"box box-x at 127.0.0.1:{port}: cannot reach the box: Connection refused"
    )


@asynccontextmanager
async def tcp_server(reply: bytes | None = None) -> AsyncIterator[int]:
    """A plain TCP server on a free port: it writes `reply` and hangs up, or without one reads
    and never writes. Yields its port; everything is closed on exit."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if reply is not None:
            writer.write(reply)
            writer.close()
            return
        await reader.read()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await server.wait_closed()


async def test_a_box_that_accepts_but_never_answers_times_out_at_connect(tmp_path: Path) -> None:
    async with tcp_server() as port:
        with pytest.raises(SessionTimeout) as timed_out:
            await connect_ssh(
                fake_target(port, tmp_path / "known_hosts"), Timeouts(connect=0.1, login=5)
            )
    assert timed_out.value.stage == "connect"
    assert str(timed_out.value) == (
        f"connect timed out after 0.1 s: box box-x at 127.0.0.1:{port} (TCP and SSH handshake)"
    )


async def test_a_server_that_is_not_ssh_is_refused(tmp_path: Path) -> None:
    async with tcp_server(b"HTTP/1.1 400 Bad Request\r\n\r\n") as port:
        with pytest.raises(ProvisioningError, match=re.escape(f"box box-x at 127.0.0.1:{port}: ")):
            await connect_ssh(fake_target(port, tmp_path / "known_hosts"))


class _StalledLogin(asyncssh.SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        await asyncio.Event().wait()
        return False


async def _silent_shell(process: asyncssh.SSHServerProcess[str]) -> None:
    process.stdout.write("box-x: a box that reads and never answers\nbox-x> ")
    while await process.stdin.readline():
        pass
    process.exit(0)


@pytest.fixture
async def fake_box(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[BoxTarget]]]:
    """A factory of SSH servers that misbehave; returns a target that trusts their key."""
    acceptors: list[asyncssh.SSHAcceptor] = []

    async def serve(**options: Any) -> BoxTarget:
        key = asyncssh.generate_private_key("ssh-ed25519")
        acceptor = await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[key], encoding="utf-8", **options
        )
        acceptors.append(acceptor)
        port = acceptor.get_port()
        known_hosts = tmp_path / f"known_hosts_{port}"
        known_hosts.write_text(known_hosts_line("127.0.0.1", port, key))
        return fake_target(port, known_hosts)

    yield serve
    for acceptor in acceptors:
        acceptor.close()
        await acceptor.wait_closed()


async def test_a_login_that_never_ends_times_out_at_login(
    fake_box: Callable[..., Awaitable[BoxTarget]],
) -> None:
    target = await fake_box(server_factory=_StalledLogin)
    with pytest.raises(SessionTimeout) as timed_out:
        await connect_ssh(target, Timeouts(connect=5, login=0.1))
    assert timed_out.value.stage == "login"
    assert str(timed_out.value).endswith(f"{target.port} (login and first prompt)")


class _AnyPassword(asyncssh.SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return True


async def test_a_command_without_answer_times_out_and_ends_the_session(
    fake_box: Callable[..., Awaitable[BoxTarget]],
) -> None:
    target = await fake_box(server_factory=_AnyPassword, process_factory=_silent_shell)
    session = await connect_ssh(target, QUICK)
    assert session.prompt == "box-x> "
    with pytest.raises(SessionTimeout) as timed_out:
        await session.get(SERIAL)
    assert str(timed_out.value) == f"command timed out after 0.2 s: box box-x: get {SERIAL}"
    with pytest.raises(ConnectionDropped, match=f"closed after get {SERIAL} timed out"):
        await session.get(SERIAL)
    await session.close()


async def test_a_commit_without_answer_times_out_at_the_commit_stage(
    fake_box: Callable[..., Awaitable[BoxTarget]],
) -> None:
    target = await fake_box(server_factory=_AnyPassword, process_factory=_silent_shell)
    async with await connect_ssh(target, QUICK) as session:
        with pytest.raises(SessionTimeout) as timed_out:
            await session.commit(confirm_s=60)
    assert timed_out.value.stage == "commit"
    assert str(timed_out.value).endswith("box box-x: commit confirm 60")


async def test_stage_sends_a_whole_candidate_and_names_the_first_refusal(
    livebox: ServedBox, session: SshSession
) -> None:
    web = {"Alias": "site-web", "ExternalPort": "8080", "InternalPort": "80"}
    web["InternalClient"] = "192.168.1.20"
    await session.stage(
        {"Device.DHCPv4.Server.Pool.1.LeaseTime": "7200"},
        adds=[("Device.NAT.PortMapping.", web)],
    )
    assert (await session.get("Device.NAT.PortMapping.site-web.ExternalPort")) == {
        "Device.NAT.PortMapping.1.ExternalPort": "8080"  # the box answers with the number
    }
    with pytest.raises(CommandRejected) as refused:
        await session.stage(
            {}, adds=[("Device.NAT.PortMapping.", {**web, "Alias": "x", "ExternalPort": "0"})]
        )
    assert refused.value.what == "Device.NAT.PortMapping."
    assert livebox.box.config.get("Device.NAT.PortMapping.") == []  # nothing committed
