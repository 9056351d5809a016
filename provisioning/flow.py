"""One box: read it, diff against the desired state, apply in one transaction, verify, confirm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from profiles.model import Offer
from provisioning.desired import DesiredState
from provisioning.session import (
    MASK,
    CommandRejected,
    ConnectionDropped,
    ProvisioningError,
    Session,
)

DSL = "Device.DSL.Line.1."
WAN = "Device.IP.Interface.2."
WAN_ADDRESSING = "Device.IP.Interface.2.IPv4Address.1."
VOICE_LINE = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."
#: Table entries provisioning owns (and may delete); other entries are left alone.
OWNED_ALIAS_PREFIX = "site-"
#: What a refused commit names (`CommandRejected.what`): the box applied nothing.
COMMIT = "commit"
#: Seconds the box waits for `confirm` before it reverts by itself.
CONFIRM_S = 120

Rollback = Literal["none", "native", "box-timer", "emulated", "emulated-incomplete"]
Connect = Callable[[], Awaitable[Session]]


# --- The plan ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One difference between the box and the site: a parameter or a table entry."""

    op: Literal["set", "add", "update", "delete"]
    path: str
    old: str | None = None
    new: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # entry parameters, for add and update

    def line(self) -> str:
        """As the technician reads it (Ansible --diff style); secrets arrive already masked."""
        if self.op == "set":
            return f"~ {self.path}: {_shown(self.old)} -> {_shown(self.new)}"
        if self.op == "add":
            return f"+ {self.path} {{{', '.join(f'{k}={_shown(v)}' for k, v in self.values)}}}"
        if self.op == "update":
            return f"~ {self.path} {{{', '.join(f'{k}={_shown(v)}' for k, v in self.values)}}}"
        return f"- {self.path}"


def _shown(value: str | None) -> str:
    return '""' if value in ("", None) else str(value)


@dataclass(frozen=True)
class Plan:
    """What applying the site would change on the box, computed from the box's running state."""

    changes: tuple[PlannedChange, ...]
    #: The running values read before planning (for an emulated rollback).
    before: Mapping[str, str]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def lines(self) -> list[str]:
        return [change.line() for change in self.changes]


def plan(
    desired: DesiredState, running: Mapping[str, str], *, rewrite_secrets: bool = False
) -> Plan:
    """The changes that turn `running` (every parameter of the box, as read) into `desired`.

    Secrets read back masked, so a secret the box already holds is taken as in sync unless
    `rewrite_secrets`; one the box holds empty is written.
    """
    changes: list[PlannedChange] = []
    for path, value in desired.values.items():
        current = running.get(path)
        if path in desired.secrets:
            if rewrite_secrets or current in ("", None):
                changes.append(PlannedChange("set", path, current, MASK))
        elif current != value:
            changes.append(PlannedChange("set", path, current, value))
    for table, entries in desired.tables.items():
        present = _entries(running, table)
        for alias, values in entries.items():
            found = present.get(alias)
            wanted = tuple(sorted(values.items()))
            if found is None:
                changes.append(PlannedChange("add", f"{table}{alias}.", values=wanted))
                continue
            number, have = found
            differs = tuple((k, v) for k, v in wanted if have.get(k) != v)
            if differs:
                changes.append(PlannedChange("update", f"{table}{number}.", values=differs))
        for alias, (number, _) in present.items():
            if alias.startswith(OWNED_ALIAS_PREFIX) and alias not in entries:
                changes.append(PlannedChange("delete", f"{table}{number}.", old=alias))
    return Plan(tuple(changes), dict(running))


def _entries(running: Mapping[str, str], table: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The entries of a table as read: alias -> (instance number, {parameter: value})."""
    by_number: dict[str, dict[str, str]] = {}
    for path, value in running.items():
        if path.startswith(table):
            number, _, parameter = path[len(table) :].partition(".")
            if number.isdigit() and parameter and "." not in parameter:
                by_number.setdefault(number, {})[parameter] = value
    return {values.get("Alias", number): (number, values) for number, values in by_number.items()}


# --- Verification ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One thing verified after the apply, with what was seen."""

    name: str
    ok: bool
    detail: str


def verify(desired: DesiredState, offer: Offer, running: Mapping[str, str]) -> list[Check]:
    """Read-back, DSL and WAN checks of a box's running state against the site and the offer."""
    checks: list[Check] = []
    wrong = [
        path
        for path, value in desired.values.items()
        if running.get(path) != (MASK if path in desired.secrets and value else value)
    ]
    for table, entries in desired.tables.items():
        present = _entries(running, table)
        for alias, values in entries.items():
            have = present.get(alias, ("", {}))[1]
            wrong += [f"{table}{alias}.{k}" for k, v in values.items() if have.get(k) != v]
    checks.append(
        Check(
            "read back",
            not wrong,
            f"all {len(desired.values)} parameters as asked"
            if not wrong
            else f"{len(wrong)} differ, e.g. {wrong[0]}",
        )
    )
    checks.append(_dsl_check(offer, running))
    checks.append(_wan_check(desired, running))
    checks.append(_voip_check(desired, running))
    return checks


#: Line statuses on the way to Up: the registration is still being tried.
PENDING = ("Registering", "Initializing")
#: How long verification waits for the VoIP line to register after a change, and the pace of
#: its reads of the line's status meanwhile: from the first pause, each pause half as long
#: again, up to the last. A registration takes a round trip or two; a busy box answers late,
#: and reading it faster would only make it busier.
REGISTER_S = 10.0
REGISTER_POLL_S = (0.05, 1.5, 0.5)
VOIP_CHECK = "VoIP line"


def _voip_check(desired: DesiredState, running: Mapping[str, str]) -> Check:
    """The VoIP line is registered to the operator core when the site enables it."""
    if desired.values.get(f"{VOICE_LINE}Enable") != "Enabled":
        return Check(VOIP_CHECK, True, "disabled by the site")
    status = running.get(f"{VOICE_LINE}Status", "unknown")
    if status == "Up":
        return Check(VOIP_CHECK, True, "registered to the operator core (Up)")
    why = running.get(f"{VOICE_LINE}X_LIVEBOX-LAB_StatusInfo", "")
    return Check(
        VOIP_CHECK, False, f"not registered: status {status}" + (f": {why}" if why else "")
    )


async def checked(
    session: Session,
    desired: DesiredState,
    offer: Offer,
    running: Mapping[str, str],
    *,
    register_s: float = REGISTER_S,
) -> list[Check]:
    """`verify`, waiting up to `register_s` for a VoIP line that is still registering.

    A commit makes the line register anew, which takes a round trip or two to the registrar:
    the line's status is read again (at the pace of `REGISTER_POLL_S`) until it is no longer
    pending.
    """
    checks = verify(desired, offer, running)
    status = running.get(f"{VOICE_LINE}Status", "")
    if desired.values.get(f"{VOICE_LINE}Enable") != "Enabled" or status not in PENDING:
        return checks
    deadline = time.monotonic() + register_s
    line: Mapping[str, str] = running
    pause, growth, longest = REGISTER_POLL_S
    while status in PENDING and time.monotonic() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * growth, longest)
        line = await session.get(VOICE_LINE)
        status = line.get(f"{VOICE_LINE}Status", "")
    check = _voip_check(desired, line)
    if status in PENDING:
        check = Check(VOIP_CHECK, False, f"not registered after {register_s:g} s: still {status}")
    return [check if c.name == VOIP_CHECK else c for c in checks]


def _dsl_check(offer: Offer, running: Mapping[str, str]) -> Check:
    if running.get(f"{DSL}Status") != "Up":
        return Check("DSL", False, f"line {running.get(f'{DSL}Status', 'unknown')}, not Up")
    vdsl = running.get(f"{DSL}StandardUsed") == "G.993.2"
    bounds = offer.internet.vdsl if vdsl else offer.internet.adsl
    down = int(running.get(f"{DSL}X_SOFTATHOME-COM_DownstreamIPRate", "0") or 0)
    up = int(running.get(f"{DSL}X_SOFTATHOME-COM_UpstreamIPRate", "0") or 0)
    floor = offer.internet.min_down_kbps
    ok = floor <= down <= bounds.max_down_kbps and up <= bounds.max_up_kbps
    technology = "VDSL2" if vdsl else "ADSL2+"
    detail = (
        f"{technology} {down} / {up} kb/s IP, offer: {floor} to {bounds.max_down_kbps} / "
        f"up to {bounds.max_up_kbps} kb/s"
    )
    return Check("DSL", ok, detail)


def _wan_check(desired: DesiredState, running: Mapping[str, str]) -> Check:
    status = running.get(f"{WAN}Status", "unknown")
    address = running.get(f"{WAN}X_SOFTATHOME-COM_IPAddress", "")
    if status != "Up":
        return Check("WAN", False, f"WAN {status}, not Up")
    if desired.values.get(f"{WAN_ADDRESSING}AddressingType") == "Static":
        fixed = desired.values.get(f"{WAN_ADDRESSING}IPAddress", "")
        return Check(
            "WAN", address == fixed, f"up with {address or 'no address'} (fixed IP {fixed})"
        )
    return Check("WAN", True, f"up with {address or 'no address'} (dynamic)")


# --- The result of one box ---------------------------------------------------------------


@dataclass
class BoxResult:
    """What happened to one box (in the spirit of Nornir's results)."""

    name: str
    transport: str
    changed: bool = False
    failed: bool = False
    skipped: bool = False
    diff: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    error: str | None = None
    rollback: Rollback = "none"
    checkpoint: int | None = None
    trusted_new_host_key: bool = False
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        """One line for the technician."""
        if self.skipped:
            return f"skipped: {self.error}"
        if self.failed:
            back = {
                "none": "nothing was applied",
                "native": "rolled back by the box (native transaction)",
                "box-timer": "the box reverts by itself when its confirm timer runs out",
                "emulated": "old values restored by writing them back (emulated rollback)",
                "emulated-incomplete": "restoring the old values FAILED: check the box",
            }[self.rollback]
            return f"failed: {self.error}; {back}"
        if not self.changed:
            return "no change: the box already matches the site"
        return f"changed ({len(self.diff)} changes), verified and confirmed"


# --- Apply -------------------------------------------------------------------------------


async def read_running(session: Session) -> dict[str, str]:
    """Every parameter of the box, as running (one read)."""
    return await session.get("Device.")


async def provision(
    name: str,
    connect: Connect,
    desired: DesiredState,
    offer: Offer,
    *,
    check: bool = False,
    confirm_s: int = CONFIRM_S,
    rewrite_secrets: bool = False,
    transport: str = "ssh",
) -> BoxResult:
    """Plan, and unless `check`, apply in one transaction, verify, then confirm or roll back.

    Over SSH the apply is one `commit confirm`: any failure rolls back natively, and a client
    that vanishes leaves the box to revert by itself. Over sysbus (no transactions) the old
    values are written back on failure, and the result says the rollback was emulated.
    """
    began = time.monotonic()
    result = BoxResult(name, transport=transport)
    session: Session | None = None
    try:
        session = await connect()
        result.transport = session.capabilities.transport
        result.trusted_new_host_key = session.trusted_new_host_key
        before = await read_running(session)
        the_plan = plan(desired, before, rewrite_secrets=rewrite_secrets)
        result.diff = the_plan.lines()
        if check or not the_plan.changed:
            result.checks = [] if check else await checked(session, desired, offer, before)
            result.failed = any(not c.ok for c in result.checks)
            if result.failed:
                result.error = "the box matches the site but does not pass verification"
            return result
        if session.capabilities.native_transactions:
            await _apply_native(session, desired, offer, the_plan, result, confirm_s)
        else:
            session = await _apply_emulated(session, connect, desired, offer, the_plan, result)
    except ProvisioningError as exc:
        result.failed = True
        result.error = str(exc)
    finally:
        if session is not None:
            await session.close()
        result.seconds = time.monotonic() - began
    return result


async def _stage(session: Session, desired: DesiredState, the_plan: Plan) -> None:
    values: dict[str, str] = {}
    adds: list[tuple[str, dict[str, str]]] = []
    deletes: list[str] = []
    for change in the_plan.changes:
        if change.op == "set":
            values[change.path] = desired.values[change.path]
        elif change.op == "update":
            values.update({f"{change.path}{k}": v for k, v in change.values})
        elif change.op == "add":
            adds.append((change.path[:-1].rpartition(".")[0] + ".", dict(change.values)))
        else:
            deletes.append(change.path)
    if session.capabilities.native_transactions:
        # One candidate: the box checks its rules at commit, and the whole of it can go at once.
        await session.stage(values, adds, deletes)
        return
    await _set_in_dependency_order(session, values)
    await session.stage({}, adds, deletes)


async def _set_in_dependency_order(session: Session, values: Mapping[str, str]) -> None:
    """Write object by object where each write takes effect at once (sysbus).

    The box checks its rules at every write, and some span objects (a static WAN address needs
    its gateway, an enabled line its credentials): an object it refuses is tried again after
    the others, until a whole pass gets nothing more through.
    """
    by_object: dict[str, dict[str, str]] = {}
    for path, value in values.items():
        by_object.setdefault(path.rpartition(".")[0] + ".", {})[path] = value
    waiting = list(by_object.values())
    while waiting:
        refused: list[dict[str, str]] = []
        last: CommandRejected | None = None
        for chunk in waiting:
            try:
                await session.set(chunk)
            except CommandRejected as exc:
                refused.append(chunk)
                last = exc
        if last is not None and len(refused) == len(waiting):
            raise last
        waiting = refused


async def _apply_native(
    session: Session,
    desired: DesiredState,
    offer: Offer,
    the_plan: Plan,
    result: BoxResult,
    confirm_s: int,
) -> None:
    await _stage(session, desired, the_plan)  # a failure here leaves nothing applied
    try:
        result.checkpoint, after = await session.commit_and_read("Device.", confirm_s=confirm_s)
    except ConnectionDropped:
        # The commit may or may not have landed; if it did, its confirm timer reverts it.
        result.rollback = "box-timer"
        raise
    except CommandRejected as exc:
        if exc.what == COMMIT:
            raise  # the box refused the commit: nothing was applied
        result.error, after = f"reading back after the commit: {exc}", None
    try:
        if after is not None:
            result.checks = await checked(session, desired, offer, after)
            failing = [c for c in result.checks if not c.ok]
            if failing:
                result.error = f"verification failed: {failing[0].name}: {failing[0].detail}"
            else:
                await session.confirm()
    except ConnectionDropped:
        result.rollback = "box-timer"
        raise
    except ProvisioningError as exc:
        result.error = str(exc)
    if result.error is None:
        result.changed = True
        return
    result.failed = True
    try:
        await session.rollback()
        result.rollback = "native"
    except ProvisioningError:
        result.rollback = "box-timer"


async def _apply_emulated(
    session: Session,
    connect: Connect,
    desired: DesiredState,
    offer: Offer,
    the_plan: Plan,
    result: BoxResult,
) -> Session:
    """Apply write by write; on failure write the old values back. Returns the live session."""
    dropped = False
    try:
        await _stage(session, desired, the_plan)
        result.checks = await checked(session, desired, offer, await read_running(session))
        failing = [c for c in result.checks if not c.ok]
        if not failing:
            result.changed = True
            return session
        result.error = f"verification failed: {failing[0].name}: {failing[0].detail}"
    except ConnectionDropped as exc:
        result.error, dropped = str(exc), True
    except ProvisioningError as exc:
        result.error = str(exc)
    result.failed = True
    try:
        if dropped:
            await session.close()
            session = await connect()
        await _restore(session, the_plan, await read_running(session))
        result.rollback = "emulated"
    except ProvisioningError as exc:
        result.rollback = "emulated-incomplete"
        result.error = f"{result.error}; then restoring the old values failed: {exc}"
    return session


async def _restore(session: Session, the_plan: Plan, now: Mapping[str, str]) -> None:
    """Write back what `the_plan` found, from what the box holds now."""
    before = the_plan.before
    values = {
        c.path: before[c.path]
        for c in the_plan.changes
        if c.op == "set" and c.path in before and before[c.path] != MASK
    }
    changed = {path: value for path, value in values.items() if now.get(path) != value}
    if changed:
        await session.set(changed)
    for change in the_plan.changes:
        table = change.path[:-1].rpartition(".")[0] + "."
        if change.op == "add":
            alias = change.path[len(table) : -1]
            found = _entries(now, table).get(alias)
            if found is not None:
                await session.delete(f"{table}{found[0]}.")
        elif change.op == "update":
            old = {k: before.get(f"{change.path}{k}", "") for k, _ in change.values}
            await session.set({f"{change.path}{k}": v for k, v in old.items()})
        elif change.op == "delete" and change.path not in _instances_now(now, table):
            kept = {
                path[len(change.path) :]: value
                for path, value in before.items()
                if path.startswith(change.path) and "." not in path[len(change.path) :]
            }
            await session.add(table, kept)


def _instances_now(now: Mapping[str, str], table: str) -> set[str]:
    return {f"{table}{number}." for _, (number, _) in _entries(now, table).items()}
