"""The box's SSH management interface, driven by a real asyncssh client on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncssh
import pytest

from emulator.box import EmulatedBox
from emulator.ssh import LoginThrottle, SshServer
from profiles.clock import SimulatedClock

from .conftest import ADMIN_PASSWORD

FEATURES = (
    "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
    "CallingFeatures"
)
CALLER_ID = f"{FEATURES}.CallerIDEnable"
PASSWORD = (
    "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1.SIP."
    "AuthPassword"
)
PROMPT = "box-1> "


@pytest.fixture
async def server(box: EmulatedBox) -> AsyncIterator[SshServer]:
    async with SshServer(box) as server:
        yield server


def connect(
    server: SshServer, **options: Any
) -> AbstractAsyncContextManager[asyncssh.SSHClientConnection]:
    """A client that trusts only the box's host key and logs in as the admin."""
    options.setdefault("password", ADMIN_PASSWORD)
    options.setdefault("client_keys", None)
    options.setdefault("known_hosts", ([server.box.host_key.convert_to_public()], [], []))
    return asyncssh.connect(
        server.host,
        server.port,
        username=options.pop("username", "admin"),
        agent_path=None,
        config=None,
        **options,
    )


class Terminal:
    """An interactive session read up to each prompt (no terminal: no echo, lines end in \\n)."""

    def __init__(self, process: asyncssh.SSHClientProcess[str]) -> None:
        self.process = process

    @classmethod
    async def open(cls, connection: asyncssh.SSHClientConnection) -> Terminal:
        terminal = cls(await connection.create_process())
        await terminal.process.stdout.readuntil(PROMPT)
        return terminal

    async def send(self, line: str) -> list[str]:
        """The output lines of one command."""
        self.process.stdin.write(line + "\n")
        output = await self.process.stdout.readuntil(PROMPT)
        return output.removesuffix(PROMPT).splitlines()


async def refused_login(server: SshServer, **options: Any) -> str:
    with pytest.raises(asyncssh.PermissionDenied) as refusal:
        async with connect(server, **options):
            pass
    return refusal.value.reason


# --- Connecting and logging in -------------------------------------------------------------------


async def test_the_admin_logs_in_with_the_password_and_runs_one_command(
    server: SshServer,
) -> None:
    async with connect(server) as connection:
        result = await connection.run("Device.DeviceInfo.ModelName?")
    assert result.stdout == "Device.DeviceInfo.ModelName=Livebox pro\n"
    assert result.stderr == ""
    assert result.exit_status == 0


async def test_a_refused_command_prints_its_error_on_stderr_with_exit_status_1(
    server: SshServer,
) -> None:
    async with connect(server) as connection:
        result = await connection.run(f"{CALLER_ID}=maybe")
    assert result.stdout == ""
    assert result.stderr == f"ERROR: {CALLER_ID}: 'maybe' is not a boolean (1, 0, true or false)\n"
    assert result.exit_status == 1


async def test_a_wrong_password_is_refused(server: SshServer) -> None:
    reason = await refused_login(server, password="s3cret-admin")
    assert reason.startswith("Permission denied for user admin")


async def test_another_user_is_refused_even_with_the_admin_password(server: SshServer) -> None:
    await refused_login(server, username="root")


async def test_the_client_checks_the_box_host_key(server: SshServer) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(server, known_hosts=([stranger], [], [])):
            pass


async def test_a_key_of_the_authorized_keys_logs_in_without_password(
    server: SshServer, box: EmulatedBox
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    box.authorized_keys.append(key.convert_to_public())
    async with connect(server, client_keys=[key], password=None) as connection:
        result = await connection.run("Device.DeviceInfo.ModelName?")
    assert result.exit_status == 0


async def test_a_key_not_authorized_is_refused(server: SshServer, box: EmulatedBox) -> None:
    box.authorized_keys.append(asyncssh.generate_private_key("ssh-ed25519").convert_to_public())
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    await refused_login(server, client_keys=[stranger], password=None)


async def test_after_five_failed_logins_the_address_waits_the_back_off(
    server: SshServer, clock: SimulatedClock
) -> None:
    for _ in range(5):
        await refused_login(server, password="guess")
    assert await refused_login(server) == (
        "too many failed logins from 127.0.0.1: wait 60 s before trying again"
    )
    await clock.advance(45)
    assert await refused_login(server) == (
        "too many failed logins from 127.0.0.1: wait 15 s before trying again"
    )
    await clock.advance(15)
    async with connect(server) as connection:
        assert (await connection.run("Device.DeviceInfo.ModelName?")).exit_status == 0


async def test_a_waiting_address_is_refused_key_logins_too(
    server: SshServer, box: EmulatedBox
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    box.authorized_keys.append(key.convert_to_public())
    for _ in range(5):
        await refused_login(server, password="guess")
    assert "wait 60 s" in await refused_login(server, client_keys=[key], password=None)


async def test_a_successful_login_clears_the_failed_ones(server: SshServer) -> None:
    for _ in range(4):
        await refused_login(server, password="guess")
    async with connect(server):
        pass
    for _ in range(4):
        await refused_login(server, password="guess")
    async with connect(server):
        pass


def test_the_throttle_counts_per_address(clock: SimulatedClock) -> None:
    throttle = LoginThrottle(clock, max_failures=2, backoff_s=30)
    throttle.failed("192.0.2.1")
    throttle.failed("192.0.2.1")
    throttle.failed("192.0.2.2")
    assert throttle.wait_s("192.0.2.1") == 30
    assert throttle.wait_s("192.0.2.2") == 0
    assert throttle.refusal("192.0.2.2") is None


def test_the_throttle_refuses_a_nonsense_setting(clock: SimulatedClock) -> None:
    with pytest.raises(ValueError, match="max_failures must be 1 or more, not 0"):
        LoginThrottle(clock, max_failures=0)
    with pytest.raises(ValueError, match="backoff_s must be a positive number of seconds"):
        LoginThrottle(clock, backoff_s=0)


# --- Sessions ------------------------------------------------------------------------------------


async def test_an_interactive_session_prompts_and_answers_each_line(server: SshServer) -> None:
    async with connect(server) as connection:
        process = await connection.create_process()
        greeting = await process.stdout.readuntil(PROMPT)
        assert greeting.startswith("box-1: Livebox pro LBP")
        terminal = Terminal(process)
        assert await terminal.send("Device.DeviceInfo.ModelName?") == [
            "Device.DeviceInfo.ModelName=Livebox pro"
        ]
        assert await terminal.send("") == []
        assert (await terminal.send("Device.DeviceInfo.Nope?"))[0].startswith(
            "ERROR: Device.DeviceInfo.Nope: no 'Nope' in Device.DeviceInfo."
        )
        process.stdin.write("exit\n")
        await process.wait()
    assert process.exit_status == 0


async def test_a_terminal_session_echoes_and_ends_lines_with_crlf(server: SshServer) -> None:
    async with connect(server) as connection:
        process = await connection.create_process(term_type="ansi")
        await process.stdout.readuntil(PROMPT)
        process.stdin.write("Device.DeviceInfo.ModelName?\r")
        assert await process.stdout.readuntil(PROMPT) == (
            "Device.DeviceInfo.ModelName?\r\nDevice.DeviceInfo.ModelName=Livebox pro\r\n" + PROMPT
        )
        process.stdin.write("Device.Devi\x03")
        process.stdin.write("ceInfo.ModelName?\r")
        assert (await process.stdout.readuntil(PROMPT)).endswith(
            "\r\nDevice.DeviceInfo.ModelName=Livebox pro\r\n" + PROMPT
        )
        process.change_terminal_size(120, 40)
        process.stdin.write("exit\r")
        await process.wait()
    assert process.exit_status == 0


async def test_the_end_of_input_ends_an_interactive_session(server: SshServer) -> None:
    async with connect(server) as connection:
        process = await connection.create_process()
        await process.stdout.readuntil(PROMPT)
        process.stdin.write_eof()
        await process.wait()
    assert process.exit_status == 0


async def test_each_session_has_its_own_candidate(server: SshServer) -> None:
    async with connect(server) as connection:
        first = await Terminal.open(connection)
        second = await Terminal.open(connection)
        await first.send(f"{CALLER_ID}=0")
        assert await first.send(f"{CALLER_ID}?") == [f"{CALLER_ID}=0"]
        assert await second.send(f"{CALLER_ID}?") == [f"{CALLER_ID}=1"]


async def test_the_full_transaction_cycle_reverts_when_the_link_drops(
    server: SshServer, box: EmulatedBox, clock: SimulatedClock
) -> None:
    async with connect(server) as connection:
        terminal = await Terminal.open(connection)
        assert await terminal.send(f"{CALLER_ID}=0") == [f"{CALLER_ID}=0"]
        assert await terminal.send("diff") == [f"~ {CALLER_ID}: 1 -> 0"]
        assert (await terminal.send("commit confirm 60"))[0].startswith(
            "committed: checkpoint 1; it reverts at 2026-10-05T09:01:00Z"
        )
        connection.abort()
    assert box.config.value(CALLER_ID) == "0"
    await clock.advance(61)
    assert box.config.value(CALLER_ID) == "1"
    async with connect(server) as connection:
        result = await connection.run("checkpoints")
    assert str(result.stdout).splitlines()[0] == (
        "2 2026-10-05T09:01:00Z box automatic rollback: commit 1 not confirmed within 60 s"
    )


async def test_a_confirm_from_a_second_session_keeps_the_commit(
    server: SshServer, box: EmulatedBox, clock: SimulatedClock
) -> None:
    async with connect(server) as connection:
        terminal = await Terminal.open(connection)
        await terminal.send(f"{CALLER_ID}=0")
        await terminal.send("commit confirm 60")
    async with connect(server) as connection:
        result = await connection.run("confirm")
    assert result.stdout == "confirmed: checkpoint 1 is kept\n"
    await clock.advance(61)
    assert box.config.value(CALLER_ID) == "0"


async def test_closing_the_server_ends_open_sessions(box: EmulatedBox) -> None:
    server = SshServer(box)
    await server.start()
    async with connect(server) as connection:
        await Terminal.open(connection)
        await server.close()
        await asyncio.wait_for(connection.wait_closed(), timeout=5)


async def test_an_idle_server_holds_one_socket_and_no_task(box: EmulatedBox) -> None:
    tasks = len(asyncio.all_tasks())
    before = open_files()
    async with SshServer(box) as server:
        assert server.port > 0
        opened = open_files() - before
        assert len(asyncio.all_tasks()) == tasks
    assert len(opened) == 1
    assert next(iter(opened))[1].startswith("socket:")
    assert not opened & open_files()


def open_files() -> set[tuple[str, str]]:
    """(descriptor, what it is) for each open file of this process."""
    found = set()
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            found.add((descriptor, os.readlink(f"/proc/self/fd/{descriptor}")))
        except FileNotFoundError:
            continue  # the descriptor os.listdir itself used
    return found


async def test_a_server_starts_once(server: SshServer) -> None:
    with pytest.raises(RuntimeError, match="the SSH server of box box-1 is already started"):
        await server.start()


# --- The dropped-link fault ----------------------------------------------------------------------


async def test_cut_after_drops_the_link_before_the_kth_command_without_answering(
    server: SshServer, box: EmulatedBox
) -> None:
    server.cut_after(3)
    async with connect(server) as connection:
        terminal = await Terminal.open(connection)
        await terminal.send(f"{CALLER_ID}=0")
        await terminal.send("")  # blank lines are not commands
        assert await terminal.send("diff") == [f"~ {CALLER_ID}: 1 -> 0"]
        with pytest.raises((asyncssh.ConnectionLost, asyncio.IncompleteReadError)):
            await terminal.send("commit")
        await connection.wait_closed()
    assert box.config.value(CALLER_ID) == "1"
    assert [checkpoint.number for checkpoint in box.config.checkpoints()] == [0]


async def test_a_cut_session_loses_its_candidate_but_its_confirm_still_reverts(
    server: SshServer, box: EmulatedBox, clock: SimulatedClock
) -> None:
    server.cut_after(3)
    async with connect(server) as connection:
        terminal = await Terminal.open(connection)
        await terminal.send(f"{CALLER_ID}=0")
        await terminal.send("commit confirm 60")
        with pytest.raises((asyncssh.ConnectionLost, asyncio.IncompleteReadError)):
            await terminal.send("confirm")
    assert box.config.pending_confirm is not None
    await clock.advance(61)
    assert box.config.value(CALLER_ID) == "1"
    assert box.config.pending_confirm is None


async def test_cut_after_one_drops_an_exec_request_unanswered(
    server: SshServer, box: EmulatedBox
) -> None:
    server.cut_after(1)
    async with connect(server) as connection:
        result = await connection.run("Device.Reboot()")
        await connection.wait_closed()
    assert (result.stdout, result.stderr, result.exit_status) == ("", "", None)
    assert box.reboots == 0


async def test_cut_after_strikes_one_session_only(server: SshServer) -> None:
    server.cut_after(1)
    async with connect(server) as connection:
        assert (await connection.run("diff")).exit_status is None
    async with connect(server) as connection:
        assert (await connection.run("diff")).exit_status == 0


def test_cut_after_needs_a_command_number_of_one_or_more(box: EmulatedBox) -> None:
    with pytest.raises(ValueError, match="cut_after: give a command number of 1 or more, not 0"):
        SshServer(box).cut_after(0)


# --- Secrets -------------------------------------------------------------------------------------


async def test_passwords_never_reach_the_log(
    server: SshServer, caplog: pytest.LogCaptureFixture
) -> None:
    asyncssh.set_debug_level(3)
    try:
        with caplog.at_level(logging.DEBUG):
            await refused_login(server, password="Wr0ng-Guess")
            async with connect(server) as connection:
                await connection.run(f"{PASSWORD}=Line-Secret-1")
                terminal = await Terminal.open(connection)
                await terminal.send(f"{PASSWORD}=Line-Secret-2")
    finally:
        asyncssh.set_debug_level(1)
    assert "Wr0ng-Guess" not in caplog.text
    assert ADMIN_PASSWORD not in caplog.text
    assert "Line-Secret" not in caplog.text
    assert "not logged: it may hold a secret" in caplog.text
