"""The SSH transport: an asyncssh client that runs the session contract in the box's shell."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import asyncssh

from provisioning.cli_language import (
    CONFIRM,
    EXIT,
    ROLLBACK,
    CommandLine,
    InvalidCommand,
    ReplyReader,
    UnexpectedReply,
    add_command,
    added_instance,
    check_confirmed,
    checkpoint_of,
    commit_command,
    delete_command,
    get_command,
    parameters_of,
    rejection,
    rolled_back_checkpoint,
    set_commands,
)
from provisioning.session import (
    SSH_CAPABILITIES,
    BoxTarget,
    Capabilities,
    CommandRejected,
    ConnectError,
    ConnectionDropped,
    HostKeyError,
    LoginError,
    ProvisioningError,
    Session,
    SessionTimeout,
    Timeouts,
)

__all__ = ["DEFAULT_TIMEOUTS", "SshSession", "connect_ssh"]

DEFAULT_TIMEOUTS = Timeouts()
_SSH_PORT = 22
# asyncssh's own list, AES-GCM first: the box writes a packet per line of output, and AES-GCM
# costs a fraction of chacha20-poly1305 per packet (a whole-tree read takes a third the time).
_ENCRYPTION_ALGS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
# Read once per change of the file: a fleet shares one known_hosts file of many lines.
_KNOWN_HOSTS_CACHE_SIZE = 64

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


# --- Connecting ----------------------------------------------------------------------------------


async def connect_ssh(target: BoxTarget, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> SshSession:
    """Open an interactive management session on `target` and wait for its first prompt.

    The host key is checked against `target.known_hosts` during the key exchange, before any
    credential is sent: an unknown host is refused unless `target.trust_on_first_use`, in which
    case its key is added to the file (created if missing) and `trusted_new_host_key` is set;
    a key that differs from the recorded one is always refused. Login by `target.password`
    and/or `target.key_file`.

    Stages and their timeouts (`SessionTimeout(stage)`): `connect` (TCP, SSH handshake and
    host key), `login` (authentication, the shell and its first prompt), then `command` for
    each get/set/add/delete and `commit` for commit/confirm/rollback.

    Raises ConnectError (refused, unreachable, not an SSH server), HostKeyError, LoginError
    (never with the password), SessionTimeout, or ConnectionDropped.
    """
    if target.transport != "ssh":
        raise ValueError(f"box {target.name} is managed over {target.transport}, not ssh")
    trust = _HostTrust.of(target)
    client_keys = _client_keys(target)
    _hide_packet_dumps_from_asyncssh_log()
    loop = asyncio.get_running_loop()
    client = _BoxClient(trust)
    deadline = asyncio.timeout(timeouts.connect)

    def logging_in() -> None:
        client.stage = "login"
        deadline.reschedule(loop.time() + timeouts.login)

    client.on_login = logging_in
    connection: asyncssh.SSHClientConnection | None = None
    try:
        async with deadline:
            connection = await asyncssh.connect(
                target.host,
                target.port,
                client_factory=lambda: client,
                known_hosts=trust.match,
                username=target.user,
                password=target.password,
                client_keys=client_keys,
                preferred_auth=("publickey", "keyboard-interactive", "password"),
                agent_path=None,
                config=None,
                x509_trusted_certs=None,
                connect_timeout=None,
                encryption_algs=_ENCRYPTION_ALGS,
            )
            client.stage = "login"
            shell = _Shell()
            channel, _ = await connection.create_session(
                lambda: shell,
                term_type=None,
                request_pty=False,
                encoding="utf-8",
                errors="replace",
            )
            prompt, greeting = await shell.first_prompt()
    except BaseException as error:
        if connection is not None:
            connection.abort()
        failure = _connect_failure(error, target, trust, client.stage, deadline, timeouts)
        if failure is None:
            raise
        # The login's own exception adds nothing and passed through code that held a password.
        raise failure from (None if isinstance(failure, LoginError) else error)
    if trust.accepted_new:
        try:
            trust.record()
        except HostKeyError:
            connection.abort()
            raise
    _log.debug("box %s: session open at %s", target.name, _address(target))
    return SshSession(
        target,
        timeouts,
        connection,
        channel,
        shell,
        prompt=prompt,
        greeting=greeting,
        trusted_new_host_key=trust.accepted_new,
    )


def _connect_failure(
    error: BaseException,
    target: BoxTarget,
    trust: _HostTrust,
    stage: str,
    deadline: asyncio.Timeout,
    timeouts: Timeouts,
) -> ProvisioningError | None:
    """The contract's error for what stopped `connect_ssh`, or None to let `error` through."""
    where = f"box {target.name} at {_address(target)}"
    if isinstance(error, TimeoutError) and deadline.expired():
        seconds = timeouts.connect if stage == "connect" else timeouts.login
        doing = "TCP and SSH handshake" if stage == "connect" else "login and first prompt"
        return SessionTimeout(stage, seconds, f"{where} ({doing})")
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return trust.refusal(error.reason)
    if isinstance(error, asyncssh.PermissionDenied):
        return LoginError(f"{where}: login of user {target.user!r} refused: {error.reason}")
    if isinstance(error, asyncssh.ConnectionLost | _ShellGone):
        return ConnectionDropped(f"{where}: the connection was lost during {stage}: {error}")
    if isinstance(error, asyncssh.KeyExchangeFailed) and trust.known_entries:
        # The client offers only the algorithms of the recorded keys: a box that has none of
        # them changed its key.
        return trust.refusal(error.reason)
    if isinstance(error, asyncssh.DisconnectError):
        return ConnectError(f"{where}: SSH {stage} failed: {error.reason}")
    if isinstance(error, asyncssh.ChannelOpenError):
        return ConnectError(f"{where}: the box refused to open a shell: {error.reason}")
    if isinstance(error, OSError):
        # asyncio words a refusal "Connect call failed (address)"; the errno says it plainly.
        reason = os.strerror(error.errno) if error.errno else str(error) or type(error).__name__
        return ConnectError(f"{where}: cannot reach the box: {reason}")
    return None


def _address(target: BoxTarget) -> str:
    return (
        f"[{target.host}]:{target.port}" if ":" in target.host else f"{target.host}:{target.port}"
    )


def _client_keys(target: BoxTarget) -> list[asyncssh.SSHKey] | None:
    if target.key_file is None:
        if target.password is None:
            raise LoginError(f"box {target.name}: no password and no key file to log in with")
        return None
    try:
        return [asyncssh.read_private_key(target.key_file)]
    except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise LoginError(
            f"box {target.name}: cannot use the key file {target.key_file}: {reason}"
        ) from None


class _BoxClient(asyncssh.SSHClient):
    """Marks the start of the login, and decides on host keys known_hosts does not list."""

    def __init__(self, trust: _HostTrust) -> None:
        self.trust = trust
        self.stage = "connect"
        self.on_login: Callable[[], None] | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self.trust.decide(key)

    def begin_auth(self, username: str) -> None:
        # The key exchange is over and the host key accepted: the login stage starts.
        if self.on_login is not None:
            self.on_login()


# --- Host keys -----------------------------------------------------------------------------------

_KnownHostsMatch = tuple[
    Sequence[asyncssh.SSHKey], Sequence[asyncssh.SSHKey], Sequence[asyncssh.SSHKey]
]


class _HostTrust:
    """What the known_hosts file says of one box, and what was decided about its key."""

    def __init__(self, target: BoxTarget, path: Path, known: _KnownHosts | None) -> None:
        self.target = target
        self.path = path
        self.known = known
        self.known_entries = False
        self.offered: asyncssh.SSHKey | None = None
        self.accepted_new = False

    @classmethod
    def of(cls, target: BoxTarget) -> _HostTrust:
        where = _address(target)
        if target.known_hosts is None:
            if target.trust_on_first_use:
                raise HostKeyError(
                    f"box {target.name}: trust on first use needs a known_hosts file to record "
                    f"the host key of {where} in"
                )
            raise HostKeyError(
                f"box {target.name}: no known_hosts file to check the host key of {where} "
                "against; give one, or ask for trust on first use to record the key of a new box"
            )
        return cls(target, target.known_hosts, _read_known_hosts(target))

    def match(self, host: str, addr: str, port: int | None) -> _KnownHostsMatch:
        """The keys known_hosts trusts for this box (asyncssh's `known_hosts` callable)."""
        if self.known is None:
            return [], [], []
        keys, ca_keys, revoked, *_ = self.known.hosts.match(host, addr, port)
        self.known_entries = bool(keys or ca_keys)
        return keys, ca_keys, [*revoked, *self.known.revoked]

    def decide(self, key: asyncssh.SSHKey) -> bool:
        """Whether to accept a key known_hosts does not trust: only a new box's, on request."""
        self.offered = key
        if self.known_entries or self.revoked() or not self.target.trust_on_first_use:
            return False
        self.accepted_new = True
        return True

    def revoked(self) -> bool:
        return self.known is not None and self.offered in self.known.revoked

    def refusal(self, reason: str) -> HostKeyError:
        target, where = self.target, _address(self.target)
        if self.offered is None:
            if self.known_entries:
                return HostKeyError(
                    f"box {target.name}: the host key of {where} has CHANGED: the box offers "
                    f"no key of the types recorded in {self.path} ({reason}). Refused: see "
                    "why before removing its old line from that file"
                )
            return HostKeyError(f"box {target.name}: the host key of {where} is refused: {reason}")
        offered = f"{self.offered.get_algorithm()} key {self.offered.get_fingerprint()}"
        if self.revoked():
            return HostKeyError(
                f"box {target.name}: the host key of {where} ({offered}) is revoked in "
                f"{self.path}: refused"
            )
        if self.known_entries:
            return HostKeyError(
                f"box {target.name}: the host key of {where} has CHANGED: it offers the "
                f"{offered}, not the key recorded in {self.path}. Refused: this is a new or "
                "reset box, or someone in the middle. Once sure the box is the right one, "
                f"remove its old line from {self.path} and connect again"
            )
        missing = "" if self.path.exists() else " (the file does not exist)"
        return HostKeyError(
            f"box {target.name}: unknown host {where}: its {offered} is not in "
            f"{self.path}{missing}. To trust it, check that fingerprint on the box and add "
            f"its key to that file, or ask for trust on first use"
        )

    def record(self) -> None:
        """Append the accepted key to the known_hosts file, creating it if needed."""
        assert self.offered is not None
        target = self.target
        pattern = target.host if target.port == _SSH_PORT else f"[{target.host}]:{target.port}"
        algorithm, data = self.offered.export_public_key("openssh").decode().split()[:2]
        entry = f"{pattern} {algorithm} {data}\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab+") as file:
                end = file.seek(0, os.SEEK_END)
                if end:
                    file.seek(end - 1)
                    if file.read(1) != b"\n":
                        entry = "\n" + entry
                file.write(entry.encode())
        except OSError as error:
            raise HostKeyError(
                f"box {target.name}: trusted the new host key of {_address(target)} on first "
                f"use, but cannot record it in {self.path}: {error.strerror or error}"
            ) from None
        _log.info(
            "box %s: trusted the new host key of %s on first use (%s), recorded in %s",
            target.name,
            _address(target),
            self.offered.get_fingerprint(),
            self.path,
        )


def _read_known_hosts(target: BoxTarget) -> _KnownHosts | None:
    """The parsed file, or None when it does not exist yet."""
    path = target.known_hosts
    assert path is not None
    try:
        return _known_hosts_file(path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise HostKeyError(
            f"box {target.name}: cannot read the known_hosts file {path}: {reason}"
        ) from None


@dataclass(slots=True)
class _KnownHosts:
    """A parsed known_hosts file, and where the parse stopped."""

    inode: int
    size: int
    mtime_ns: int
    end: bytes  # the last bytes parsed: what an append leaves in place
    hosts: asyncssh.SSHKnownHosts
    # Every key of a @revoked line, whatever its host pattern: asyncssh forgets a revoked
    # [host]:port entry when no trusted key matches that port, and a revoked key must never
    # be accepted, least of all on first use.
    revoked: set[asyncssh.SSHKey]

    def load(self, text: str) -> None:
        self.hosts.load(text)
        for line in text.splitlines():
            fields = line.split(None, 2)
            if len(fields) == 3 and fields[0] == "@revoked":
                try:
                    self.revoked.add(asyncssh.import_public_key(fields[2]))
                except asyncssh.KeyImportError:
                    continue  # an X.509 certificate or subject: not a key


_known_hosts_files: dict[Path, _KnownHosts] = {}
_END_BYTES = 64


def _known_hosts_file(path: Path) -> _KnownHosts:
    """Parse a file once, then only the lines appended to it: trust on first use over a fleet
    appends a line per box, and parsing the whole file each time would cost more than the
    SSH handshake."""
    stat = path.stat()
    cached = _known_hosts_files.get(path)
    if cached is not None and cached.inode == stat.st_ino:
        if cached.size == stat.st_size and cached.mtime_ns == stat.st_mtime_ns:
            return cached
        if stat.st_size > cached.size:
            with path.open("rb") as file:
                file.seek(cached.size - len(cached.end))
                data = file.read()
            appended = data[len(cached.end) :]
            if data.startswith(cached.end) and appended.endswith(b"\n"):
                cached.load(appended.decode("utf-8"))
                cached.size += len(appended)
                cached.mtime_ns = stat.st_mtime_ns
                cached.end = data[-_END_BYTES:]
                return cached
    data = path.read_bytes()
    parsed = _KnownHosts(
        stat.st_ino,
        len(data),
        stat.st_mtime_ns,
        data[-_END_BYTES:],
        asyncssh.SSHKnownHosts(),
        set(),
    )
    parsed.load(data.decode("utf-8"))
    if len(_known_hosts_files) >= _KNOWN_HOSTS_CACHE_SIZE:
        _known_hosts_files.clear()
    _known_hosts_files[path] = parsed
    return parsed


# --- Secrets out of asyncssh's log --------------------------------------------------------------


class _NoPacketDumps(logging.Filter):
    """At debug level 3 asyncssh dumps whole packets: the login request with its password, and
    the command lines with the values they write. Keep the first line, drop the dump."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "packet", None) is not None:
            record.msg = str(record.msg).partition("\n")[0] + " (packet dump not logged)"
        return True


_NO_PACKET_DUMPS = _NoPacketDumps()


def _hide_packet_dumps_from_asyncssh_log() -> None:
    # Every asyncssh logger adapter logs through this one logger.
    logger = logging.getLogger("asyncssh")
    if _NO_PACKET_DUMPS not in logger.filters:
        logger.addFilter(_NO_PACKET_DUMPS)


# --- The shell -----------------------------------------------------------------------------------


class _ShellGone(Exception):
    """The shell's channel closed; the message says how."""


class _Shell(asyncssh.SSHClientSession[str]):
    """The box's interactive shell: output cut into replies, one waiter at a time."""

    def __init__(self) -> None:
        self._reader = ReplyReader()
        self._replies: deque[list[str]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.gone: str | None = None

    def data_received(self, data: str, datatype: asyncssh.DataType) -> None:
        learning = self._reader.prompt is None
        self._replies.extend(self._reader.feed(data))
        if self._replies or (learning and self._reader.prompt is not None):
            self._wake()

    def eof_received(self) -> bool:
        self._lost("the box ended the session")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(str(exc) if exc is not None else "the box closed the session")

    def _lost(self, how: str) -> None:
        if self.gone is None:
            self.gone = how
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        if self.gone is not None:
            raise _ShellGone(self.gone)
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def first_prompt(self) -> tuple[str, list[str]]:
        """(the prompt, the greeting's lines), once the first prompt is in."""
        while self._reader.prompt is None:
            await self._wait()
        return self._reader.prompt, self._reader.greeting or []

    async def next_reply(self) -> list[str]:
        """The lines of the next reply, once its prompt is in."""
        while not self._replies:
            await self._wait()
        return self._replies.popleft()


# --- The session ---------------------------------------------------------------------------------


class SshSession(Session):
    """A management session in the box's shell over one SSH connection (see `connect_ssh`).

    One command at a time, each answered up to the next prompt: one round trip per command,
    and one for all the objects of a `set`, whose commands (one per object) go out together:
    when the box refuses one object, the others are still written to the candidate, and the
    CommandRejected names the first object refused. After a timeout, a lost connection or a
    cancelled call the session is unusable: every later call raises ConnectionDropped, and
    the box drops what was not committed.
    """

    capabilities: ClassVar[Capabilities] = SSH_CAPABILITIES

    def __init__(
        self,
        target: BoxTarget,
        timeouts: Timeouts,
        connection: asyncssh.SSHClientConnection,
        channel: asyncssh.SSHClientChannel[str],
        shell: _Shell,
        *,
        prompt: str,
        greeting: list[str],
        trusted_new_host_key: bool = False,
    ) -> None:
        self.target = target
        self.timeouts = timeouts
        self.prompt = prompt
        self.greeting = greeting
        self.trusted_new_host_key = trusted_new_host_key
        self._connection = connection
        self._channel = channel
        self._shell = shell
        self._broken: str | None = None
        self._busy = False

    def __repr__(self) -> str:
        return f"SshSession({self.target.name!r}, {_address(self.target)})"

    async def get(self, path: str) -> dict[str, str]:
        with _sendable(path):
            command = get_command(path)
        lines = (await self._run([command], "command", self.timeouts.command))[0]
        self._check(path, lines)
        return self._understood(command, parameters_of, lines)

    async def set(self, values: Mapping[str, str]) -> None:
        with _sendable("set"):
            commands = set_commands(values)
        if not commands:
            return
        replies = await self._run(commands, "command", self.timeouts.command)
        for command, lines in zip(commands, replies, strict=True):
            self._check(command.path, lines)

    async def stage(
        self,
        values: Mapping[str, str],
        adds: Sequence[tuple[str, Mapping[str, str]]] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        """The whole candidate in one round trip: every line sent at once, then the replies."""
        with _sendable("stage"):
            commands = set_commands(values)
            commands += [add_command(table, entry) for table, entry in adds]
            commands += [delete_command(instance) for instance in deletes]
        if not commands:
            return
        replies = await self._run(commands, "command", self.timeouts.command)
        for command, lines in zip(commands, replies, strict=True):
            self._check(command.path, lines)

    async def add(self, table: str, values: Mapping[str, str]) -> str:
        with _sendable(table):
            command = add_command(table, values)
        lines = (await self._run([command], "command", self.timeouts.command))[0]
        self._check(table, lines)
        return self._understood(command, added_instance, lines)

    async def delete(self, instance: str) -> None:
        with _sendable(instance):
            command = delete_command(instance)
        lines = (await self._run([command], "command", self.timeouts.command))[0]
        self._check(instance, lines)

    async def commit(self, *, confirm_s: int | None = None) -> int | None:
        with _sendable("commit"):
            command = commit_command(confirm_s)
        lines = (await self._run([command], "commit", self.timeouts.commit))[0]
        self._check(command.path, lines)
        return self._understood(command, checkpoint_of, lines)

    async def commit_and_read(
        self, path: str, *, confirm_s: int | None = None
    ) -> tuple[int | None, dict[str, str]]:
        """Both lines sent at once: one round trip for the commit and the read-back."""
        with _sendable(path):
            commit, read = commit_command(confirm_s), get_command(path)
        committed, lines = await self._run([commit, read], "commit", self.timeouts.commit)
        self._check(commit.path, committed)
        checkpoint = self._understood(commit, checkpoint_of, committed)
        self._check(path, lines)
        return checkpoint, self._understood(read, parameters_of, lines)

    async def confirm(self) -> None:
        lines = (await self._run([CONFIRM], "commit", self.timeouts.commit))[0]
        self._check("confirm", lines)
        self._understood(CONFIRM, check_confirmed, lines)

    async def rollback(self) -> None:
        lines = (await self._run([ROLLBACK], "commit", self.timeouts.commit))[0]
        self._check("rollback", lines)
        checkpoint = self._understood(ROLLBACK, rolled_back_checkpoint, lines)
        _log.info("box %s: rolled back (checkpoint %d)", self.target.name, checkpoint)

    async def close(self) -> None:
        if self._broken == "closed":
            return
        alive = self._broken is None and self._shell.gone is None
        self._broken = "closed"
        try:
            if alive:
                # Polite, not needed: the box drops the candidate with the connection anyway.
                self._channel.write(EXIT.text + "\n")
            self._connection.close()
            async with asyncio.timeout(self.timeouts.command):
                await self._connection.wait_closed()
        except asyncio.CancelledError:
            self._connection.abort()
            raise
        except Exception:
            self._connection.abort()
        _log.debug("box %s: session closed", self.target.name)

    # --- One exchange ----------------------------------------------------------------------------

    async def _run(
        self, commands: Sequence[CommandLine], stage: str, seconds: float
    ) -> list[list[str]]:
        """Send the lines at once, then read one reply per line, each within `seconds`."""
        name = self.target.name
        if self._broken is not None:
            raise ConnectionDropped(
                f"box {name}: cannot run {commands[0].label}: the session is {self._broken}"
            )
        if self._busy:
            raise RuntimeError(f"box {name}: one command at a time on a session")
        self._busy = True
        try:
            if _log.isEnabledFor(logging.DEBUG):
                for command in commands:
                    _log.debug("box %s: %s", name, command.label)
            try:
                self._channel.write("".join(command.text + "\n" for command in commands))
            except (OSError, asyncssh.Error):
                self._shell.gone = self._shell.gone or "the connection is closed"
            replies = []
            for command in commands:
                replies.append(await self._reply(command, stage, seconds))
            return replies
        finally:
            self._busy = False

    async def _reply(self, command: CommandLine, stage: str, seconds: float) -> list[str]:
        name = self.target.name
        try:
            async with asyncio.timeout(seconds):
                return await self._shell.next_reply()
        except TimeoutError:
            self._break(f"closed after {command.label} timed out")
            raise SessionTimeout(stage, seconds, f"box {name}: {command.label}") from None
        except _ShellGone as gone:
            self._break(f"closed: the connection was lost during {command.label}")
            raise ConnectionDropped(
                f"box {name}: the connection was lost while running {command.label} ({gone}); "
                "what was not committed is lost, and an unconfirmed commit reverts by itself"
            ) from None
        except asyncio.CancelledError:
            # Its reply would be taken for the next command's: the session cannot go on.
            self._break(f"closed after {command.label} was cancelled")
            raise

    def _break(self, why: str) -> None:
        self._broken = why
        self._connection.abort()

    def _check(self, what: str, lines: list[str]) -> None:
        reason = rejection(lines)
        if reason is not None:
            raise CommandRejected(what, reason)

    def _understood(
        self, command: CommandLine, parse: Callable[[list[str]], _T], lines: list[str]
    ) -> _T:
        try:
            return parse(lines)
        except UnexpectedReply as error:
            raise ProvisioningError(
                f"box {self.target.name}: {command.label}: unexpected reply: {error}"
            ) from None


@contextmanager
def _sendable(what: str) -> Iterator[None]:
    """Turn a request that cannot be written as a command into the contract's refusal."""
    try:
        yield
    except InvalidCommand as error:
        raise CommandRejected(what, f"not sent to the box: {error}") from None
