"""The box's SSH management interface: an asyncssh server in front of the command shell."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import asyncssh

from emulator.box import EmulatedBox, LoginRefused
from emulator.commands import MAX_LINE
from emulator.shell import Shell
from profiles.clock import Clock

__all__ = ["BACKOFF_S", "MAX_FAILURES", "LoginThrottle", "SshServer"]

#: Failed logins from one address before it has to wait.
MAX_FAILURES = 5
#: How long an address waits after MAX_FAILURES failed logins, in seconds of the box's clock.
BACKOFF_S = 60.0
# An address forgotten this long after its last failure keeps the table small.
_FORGET_S = 3600.0
_MAX_ADDRESSES = 4096

_log = logging.getLogger(__name__)


# --- Failed logins -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Record:
    failures: int
    last: float
    blocked_until: float | None = None


class LoginThrottle:
    """Failed logins per client address (no I/O): after `max_failures` of them, the address
    waits `backoff_s` seconds of `clock` before it may try again; a successful login (or the
    end of the wait) clears its count.
    """

    def __init__(
        self, clock: Clock, *, max_failures: int = MAX_FAILURES, backoff_s: float = BACKOFF_S
    ) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures must be 1 or more, not {max_failures}")
        if backoff_s <= 0:
            raise ValueError(f"backoff_s must be a positive number of seconds, not {backoff_s}")
        self.clock = clock
        self.max_failures = max_failures
        self.backoff_s = backoff_s
        self._records: dict[str, _Record] = {}

    def wait_s(self, address: str) -> float:
        """Seconds `address` must still wait before its next login attempt (0: none)."""
        record = self._records.get(address)
        if record is None or record.blocked_until is None:
            return 0.0
        left = record.blocked_until - self.clock.monotonic()
        if left <= 0:
            del self._records[address]
            return 0.0
        return left

    def refusal(self, address: str) -> str | None:
        """Why `address` may not try to log in now, or None when it may."""
        left = self.wait_s(address)
        if not left:
            return None
        return (
            f"too many failed logins from {address}: wait {math.ceil(left)} s before trying again"
        )

    def failed(self, address: str) -> None:
        """Count a refused login from `address`; the last one allowed starts its wait."""
        now = self.clock.monotonic()
        record = self._records.get(address)
        if record is None:
            self._forget_old(now)
            record = self._records[address] = _Record(0, now)
        record.failures += 1
        record.last = now
        if record.failures >= self.max_failures and record.blocked_until is None:
            record.blocked_until = now + self.backoff_s
            _log.warning(
                "%d failed logins from %s: refused for %g s",
                record.failures,
                address,
                self.backoff_s,
            )

    def succeeded(self, address: str) -> None:
        """A login from `address` succeeded: its failures are forgotten."""
        self._records.pop(address, None)

    def _forget_old(self, now: float) -> None:
        if len(self._records) < _MAX_ADDRESSES:
            return
        for address, record in list(self._records.items()):
            if record.blocked_until is None and now - record.last > _FORGET_S:
                del self._records[address]
        if len(self._records) >= _MAX_ADDRESSES:
            # Only recent failures are left: drop the unblocked ones, oldest first.
            unblocked = [a for a, r in self._records.items() if r.blocked_until is None]
            for address in unblocked[: len(unblocked) // 2 + 1]:
                del self._records[address]


# --- Secrets out of asyncssh's log ---------------------------------------------------------------


class _HideSecrets(logging.Filter):
    """asyncssh logs each exec command at INFO and, at debug level 3, whole packets (login
    requests with their password, typed lines): both may hold a password."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The adapter puts the connection's context before the message.
        if isinstance(record.msg, str) and record.msg.endswith("  Command: %s"):
            record.args = ("(not logged: it may hold a secret)",)
        elif getattr(record, "packet", None) is not None:
            record.msg = str(record.msg).partition("\n")[0] + " (packet dump not logged)"
        return True


_HIDE_SECRETS = _HideSecrets()


def _hide_secrets_from_asyncssh_log() -> None:
    # Every asyncssh logger adapter logs through this one logger.
    logger = logging.getLogger("asyncssh")
    if _HIDE_SECRETS not in logger.filters:
        logger.addFilter(_HIDE_SECRETS)


# --- The server ----------------------------------------------------------------------------------


class SshServer:
    """The SSH management interface of one box, on `host:port` (port 0: a free port).

    - Host key: `box.host_key`. Logins: the admin's password (`box.check_login`) or a key of
      `box.authorized_keys` for the admin user. After MAX_FAILURES failed password logins from
      one address, every login from it is refused for BACKOFF_S seconds of `box.clock`, with a
      message that says how long to wait (see `throttle`).
    - A session with a command (`ssh admin@box 'Device.DeviceInfo.?'`) runs that one command:
      its output on stdout, an `ERROR: ...` line on stderr; exit status 0 on success, 1 on error.
    - A session without one is interactive: a greeting line, then the prompt `<box name>> `
      before each command; output and errors on stdout; it ends with `exit`, `quit` or end of
      input (exit status 0). Lines are written with `\\n`; when the client asked for a
      terminal, asyncssh's line editor echoes what is typed and writes `\\r\\n` instead.
      Ctrl-C (a break) and signals are ignored; Ctrl-U erases the line being typed.
    - Each session has its own candidate configuration, lost when the session ends.

    Idle, a server holds one listening socket and nothing else (no task, no thread).
    Use it as `async with SshServer(box) as server:` or call `start()` and `close()`.
    """

    def __init__(
        self,
        box: EmulatedBox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_failures: int = MAX_FAILURES,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        self.box = box
        self.host = host
        self.port = port
        self.throttle = LoginThrottle(box.clock, max_failures=max_failures, backoff_s=backoff_s)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._cut_at: int | None = None

    @property
    def address(self) -> str:
        """`host:port`, where clients connect."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; afterwards `port` is the port bound."""
        if self._acceptor is not None:
            raise RuntimeError(f"the SSH server of box {self.box.name} is already started")
        _hide_secrets_from_asyncssh_log()
        self._acceptor = await asyncssh.listen(
            self.host,
            self.port,
            server_factory=lambda: _Login(self),
            server_host_keys=[self.box.host_key],
            process_factory=self._serve,
            encoding="utf-8",
            # Undecodable bytes reach the parser, which names them, instead of failing a read.
            errors="surrogateescape",
            max_line_length=MAX_LINE + 1,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
        )
        self.port = self._acceptor.get_port()
        _log.info("box %s: SSH management on %s", self.box.name, self.address)

    async def close(self) -> None:
        """Stop listening and close every open session (their candidates are lost)."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
            await acceptor.wait_closed()
        connections = list(self._connections)
        for connection in connections:
            connection.close()
        for connection in connections:
            await connection.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def cut_after(self, commands: int) -> None:
        """A fault: the next session that starts loses its connection just before its
        `commands`-th command runs (1: before the first), without an answer or an SSH
        disconnect message, as when the management link drops mid-transaction: the client
        sees the connection lost (an exec request ends without an exit status). Blank lines
        do not count. The session's candidate is lost; a commit confirm it made still
        reverts by itself. One session only; `cut_after` again for another."""
        if isinstance(commands, bool) or not isinstance(commands, int) or commands < 1:
            raise ValueError(f"cut_after: give a command number of 1 or more, not {commands!r}")
        self._cut_at = commands

    # --- Sessions ------------------------------------------------------------------------------

    async def _serve(self, process: asyncssh.SSHServerProcess[str]) -> None:
        cut_at, self._cut_at = self._cut_at, None
        user = process.get_extra_info("username") or self.box.admin_user
        session = _Session(self, process, Shell(self.box, user), cut_at)
        try:
            if process.command is not None:
                await session.run_one(process.command)
            else:
                await session.run_interactive()
        except (BrokenPipeError, asyncssh.ConnectionLost, asyncssh.DisconnectError):
            # The client went away; its candidate goes with the session.
            return


class _Session:
    """One SSH session: the lines it reads, the shell that runs them, the cut it may suffer."""

    def __init__(
        self,
        server: SshServer,
        process: asyncssh.SSHServerProcess[str],
        shell: Shell,
        cut_at: int | None,
    ) -> None:
        self.server = server
        self.process = process
        self.shell = shell
        self.cut_at = cut_at
        self.commands = 0

    def cut_now(self, line: str) -> bool:
        """Count a command; at the armed one, drop the connection and say so."""
        if not line.strip():
            return False
        self.commands += 1
        if self.cut_at is None or self.commands < self.cut_at:
            return False
        box = self.server.box.name
        _log.info("box %s: fault: connection cut before command %d", box, self.commands)
        self.process.channel.get_connection().abort()
        return True

    async def run_one(self, command: str) -> None:
        process = self.process
        if self.cut_now(command):
            return
        result = self.shell.execute(command)
        stream = process.stdout if result.ok else process.stderr
        if result.lines:
            stream.write("\n".join(result.lines) + "\n")
        process.exit(0 if result.ok else 1)

    async def run_interactive(self) -> None:
        process, shell = self.process, self.shell
        box = self.server.box
        process.stdout.write(
            f"{box.name}: Livebox pro {box.identity.serial}; 'help' lists the commands\n"
        )
        prompt = True
        while True:
            if prompt:
                process.stdout.write(shell.prompt)
            prompt = True
            try:
                line = await process.stdin.readline()
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                # The line editor keeps what was typed (Ctrl-C included): read on.
                prompt = False
                continue
            if not line:
                break
            if self.cut_now(line):
                return
            result = shell.execute(line)
            if result.exit:
                if result.lines:
                    process.stdout.write("\n".join(result.lines) + "\n")
                break
            # One write for the output and the next prompt: one packet, not one per line.
            process.stdout.write("".join(f"{output}\n" for output in result.lines) + shell.prompt)
            prompt = False
        process.exit(0)


class _Login(asyncssh.SSHServer):
    """The login of one connection: password or public key, throttled per client address."""

    def __init__(self, server: SshServer) -> None:
        self.server = server
        self.address = ""
        self.connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.connection = conn
        self.server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection is not None:
            self.server._connections.discard(self.connection)

    def _check_throttle(self) -> None:
        refusal = self.server.throttle.refusal(self.address)
        if refusal is not None:
            # Sent as the disconnect reason: the client shows it.
            raise asyncssh.PermissionDenied(refusal)

    def begin_auth(self, username: str) -> bool:
        self._check_throttle()
        return True

    def auth_completed(self) -> None:
        self.server.throttle.succeeded(self.address)

    def password_auth_supported(self) -> bool:
        return True

    def kbdint_auth_supported(self) -> bool:
        # Only "password": one attempt is one failure, whatever the client tries first.
        return False

    def validate_password(self, username: str, password: str) -> bool:
        self._check_throttle()
        try:
            self.server.box.check_login(username, password)
        except LoginRefused:
            self.server.throttle.failed(self.address)
            _log.info("box %s: password login refused from %s", self.server.box.name, self.address)
            return False
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._check_throttle()
        box = self.server.box
        if username != box.admin_user:
            return False
        offered = key.public_data
        return any(known.public_data == offered for known in box.authorized_keys)
