"""The management session contract every transport (SSH, sysbus) implements, and its errors."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal

Transport = Literal["ssh", "sysbus"]

#: How every transport shows a write-only value (a password) it reads back.
MASK = "********"


# --- What to connect to, and how long to wait ------------------------------------------


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait at each stage; a stage that overruns raises SessionTimeout(stage)."""

    connect: float = 10.0
    login: float = 10.0
    command: float = 15.0
    commit: float = 30.0


@dataclass(frozen=True)
class BoxTarget:
    """Where a box's management interface is and how to log in to it.

    `password` is held here and nowhere else: its `repr` is masked, and no error, log or
    report ever shows it. SSH host keys are checked against `known_hosts` (a file in
    OpenSSH format); with `trust_on_first_use`, an unknown host's key is accepted, added to
    that file, and the session says so (`Session.trusted_new_host_key`).
    """

    name: str
    host: str
    port: int
    transport: Transport = "ssh"
    user: str = "admin"
    password: str | None = None
    key_file: Path | None = None
    known_hosts: Path | None = None
    trust_on_first_use: bool = False

    def __repr__(self) -> str:
        secret = MASK if self.password is not None else None
        return (
            f"BoxTarget(name={self.name!r}, host={self.host!r}, port={self.port}, "
            f"transport={self.transport!r}, user={self.user!r}, password={secret!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class Capabilities:
    """What a transport can promise; the apply step never claims more than this.

    - `native_transactions`: writes wait in a candidate until `commit`, which applies them
      all or none (SSH). Without it each write takes effect at once (sysbus, as on the real
      box) and a rollback is emulated by writing the old values back.
    - `commit_confirm`: the box reverts by itself unless confirmed (so a client that
      vanishes mid-apply cannot leave the box half-configured).
    """

    transport: Transport
    native_transactions: bool
    commit_confirm: bool


SSH_CAPABILITIES = Capabilities("ssh", native_transactions=True, commit_confirm=True)
SYSBUS_CAPABILITIES = Capabilities("sysbus", native_transactions=False, commit_confirm=False)


# --- Errors ------------------------------------------------------------------------------


class ProvisioningError(Exception):
    """Anything that stops provisioning a box; the message says what and, if it can, why.

    Never carries a password, whatever the cause.
    """


class ConnectError(ProvisioningError):
    """The box could not be reached (refused, unreachable, no answer)."""


class HostKeyError(ProvisioningError):
    """The box's SSH host key is unknown or differs from the one in known_hosts."""


class LoginError(ProvisioningError):
    """The box refused the credentials (or makes this address wait after failures)."""


class SessionTimeout(ProvisioningError):
    """A stage took longer than its timeout."""

    def __init__(self, stage: str, seconds: float, what: str = "") -> None:
        self.stage = stage
        self.seconds = seconds
        super().__init__(f"{stage} timed out after {seconds:g} s" + (f": {what}" if what else ""))


class ConnectionDropped(ProvisioningError):
    """The connection was lost in the middle of the session."""


class CommandRejected(ProvisioningError):
    """The box refused a read or a write; `reason` is the box's own words."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class NotSupported(ProvisioningError):
    """The transport cannot do this (e.g. commit confirm over sysbus)."""


# --- The contract ------------------------------------------------------------------------


class Session(abc.ABC):
    """An open management session on one box.

    Paths are the box's data-model paths (`profiles/data/datamodel.yaml`); values are the
    canonical texts the box stores (booleans `1`/`0`, addresses dotted...). Table entries are
    named by their `Alias`, which may stand for the instance number in any path
    (`Device.NAT.PortMapping.web.ExternalPort`).

    Use as `async with await connect(target) as session:`; `close()` drops any uncommitted
    change (SSH) and never raises.
    """

    capabilities: ClassVar[Capabilities]
    #: True when this session accepted and saved an unknown host key (trust on first use).
    trusted_new_host_key: bool = False

    @abc.abstractmethod
    async def get(self, path: str) -> dict[str, str]:
        """Every parameter at and below an object path, or one parameter, as running.

        Secrets read as `MASK`. An unknown path raises CommandRejected.

        >>> await session.get("Device.DeviceInfo.")
        {'Device.DeviceInfo.Manufacturer': 'Sagemcom', 'Device.DeviceInfo.ModelName':
         'Livebox pro', ...}
        >>> await session.get("Device.NAT.PortMapping.")
        {'Device.NAT.PortMapping.1.Alias': 'web', 'Device.NAT.PortMapping.1.ExternalPort':
         '8080', ...}
        """

    @abc.abstractmethod
    async def set(self, values: Mapping[str, str]) -> None:
        """Write parameters, given by full path.

        Over SSH they wait in the session's candidate until `commit`; over sysbus each object's
        parameters take effect at once. A refused value raises CommandRejected and, within one
        object, nothing of that call is written.

        >>> await session.set({"Device.IP.Interface.2.IPv4Address.1.AddressingType": "Static"})
        """

    @abc.abstractmethod
    async def add(self, table: str, values: Mapping[str, str]) -> str:
        """Add an entry to a table (a path ending in '.') with parameter names -> values;
        returns the new instance's path.

        >>> await session.add("Device.NAT.PortMapping.", {"Alias": "web", "ExternalPort": "8080",
        ...     "InternalPort": "80", "InternalClient": "192.168.1.20"})
        'Device.NAT.PortMapping.3.'
        """

    @abc.abstractmethod
    async def delete(self, instance: str) -> None:
        """Delete a table entry, by number or alias path (`Device.NAT.PortMapping.web.`)."""

    async def stage(
        self,
        values: Mapping[str, str],
        adds: Sequence[tuple[str, Mapping[str, str]]] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        """Write parameters, then add table entries (table path, values), then delete entries:
        what `set`, `add` and `delete` do, in that order. Transports that can send it all in
        one exchange do (SSH: one round trip for a whole candidate); the others write one by
        one. The first refusal raises CommandRejected.

        >>> await session.stage(
        ...     {"Device.IP.Interface.2.IPv4Address.1.AddressingType": "Static"},
        ...     adds=[("Device.NAT.PortMapping.", {"Alias": "site-web", "ExternalPort": "8080",
        ...           "InternalPort": "80", "InternalClient": "192.168.1.20"})],
        ...     deletes=["Device.NAT.PortMapping.site-old."])
        """
        if values:
            await self.set(values)
        for table, entry in adds:
            await self.add(table, entry)
        for instance in deletes:
            await self.delete(instance)

    @abc.abstractmethod
    async def commit(self, *, confirm_s: int | None = None) -> int | None:
        """Make the candidate running; returns the box's checkpoint number.

        With `confirm_s`, the box reverts by itself unless `confirm()` comes in time (also if
        this client is gone). A refused commit (a rule of the box broken) raises
        CommandRejected with `what == "commit"`: nothing was applied. Over sysbus there is
        nothing to commit: returns None, and `confirm_s` raises NotSupported.
        """

    async def commit_and_read(
        self, path: str, *, confirm_s: int | None = None
    ) -> tuple[int | None, dict[str, str]]:
        """`commit`, then `get(path)`: what a verify step reads right after committing.
        Transports that can do both in one exchange do.

        >>> checkpoint, running = await session.commit_and_read("Device.", confirm_s=120)
        """
        checkpoint = await self.commit(confirm_s=confirm_s)
        return checkpoint, await self.get(path)

    @abc.abstractmethod
    async def confirm(self) -> None:
        """Keep what `commit(confirm_s=...)` applied. NotSupported over sysbus."""

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Undo the latest commit on the box (a native rollback). NotSupported over sysbus,
        whose callers restore the old values themselves and report the rollback as emulated."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the session; uncommitted changes are dropped. Never raises."""

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
