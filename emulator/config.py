"""The box's configuration store: session candidates, commits, commit confirm, checkpoints."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from profiles.catalogue import DataFileError, validate
from profiles.clock import Clock
from profiles.datamodel import (
    MASK,
    DataModel,
    DataModelError,
    Location,
    ObjectSpec,
    ParameterSpec,
    ValueRejected,
    show_value,
)

#: How many checkpoints a box keeps (the oldest go first).
KEPT_CHECKPOINTS = 50
#: The longest `commit confirm` a box accepts, in seconds.
MAX_CONFIRM_S = 86_400
#: Who a checkpoint names when the box itself made it.
BOX = "box"

_FORMAT = "livebox-lab box configuration"
_log = logging.getLogger(__name__)

Listener = Callable[[list["Change"]], None]


class ConfigError(ValueError):
    """A write, commit, confirm or rollback refused; the message names the path, the value
    (never a secret's) and the reason, and nothing was changed."""

    def __init__(self, message: str, *, path: str | None = None, value: str | None = None) -> None:
        self.path = path
        self.value = value
        super().__init__(message)


class NothingToCommit(ConfigError):
    """A commit (or rollback) that would change nothing: no checkpoint is made."""


class StateFileError(ConfigError):
    """A saved box that cannot be loaded; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: a parameter set (old and new, masked for secrets), an instance added
    or deleted (path of the instance, no values)."""

    op: Literal["set", "add", "delete"]
    path: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A numbered state of the running configuration, made by every commit and rollback."""

    number: int
    at: dt.datetime
    by: str
    summary: str


@dataclass(frozen=True, slots=True)
class _Pending:
    number: int
    deadline: dt.datetime
    seconds: int


@dataclass(frozen=True, slots=True)
class _Kept:
    checkpoint: Checkpoint
    # Configuration only: read-write values that differ from the defaults, and every value of
    # every instance. State is not restored by a rollback.
    snapshot: Mapping[str, str]


def _error(exc: DataModelError) -> ConfigError:
    value = exc.value if isinstance(exc, ValueRejected) else None
    return ConfigError(str(exc), path=exc.path, value=value)


class BoxConfig:
    """The configuration of one box: the running values (one dict path -> canonical text),
    the checkpoints, a pending commit confirm and who listens for changes.

    Management sessions write to their own `Candidate` (see `session`); the box updates its
    read-only state with `set_state`. A `commit` that changes nothing raises NothingToCommit.
    """

    def __init__(
        self,
        model: DataModel,
        clock: Clock,
        *,
        values: Mapping[str, str] | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.model = model
        self.clock = clock
        self.state_file = state_file
        self._running: dict[str, str] = dict(model.defaults)
        self._counters: dict[str, int] = {}
        self._state_paths: set[str] = set()  # read-only parameters set_state has checked
        self._listeners: list[Listener] = []
        self._pending: _Pending | None = None
        self._timer: asyncio.Task[None] | None = None
        snapshot: dict[str, str] = {}
        if values:
            self._running = self._initial(values)
            snapshot = self._snapshot(self._running)
            for instance in _instances(model, self._running):
                table, _, number = instance[:-1].rpartition(".")
                self._counters[table + "."] = max(self._counters.get(table + ".", 0), int(number))
        first = Checkpoint(0, clock.now(), BOX, "initial configuration")
        self._kept: list[_Kept] = [_Kept(first, snapshot)]

    def _initial(self, values: Mapping[str, str]) -> dict[str, str]:
        model = self.model
        running = dict(self._running)
        staged: dict[str, str] = {}
        try:
            for path, text in values.items():
                staged[path] = model.convert(path, text)
                for instance in model.locate(path).instances:
                    if instance + "Alias" not in running:
                        running.update(_new_instance(model, instance, staged, values, running))
            running.update(staged)
            instances = _instances(model, running)
            _check_capacity(model, running, {i[:-1].rpartition(".")[0] + "." for i in instances})
            _check_aliases(model, running, [instance[:-1] for instance in instances])
            model.check_rules(running)
        except DataModelError as exc:
            raise _error(exc) from None
        return _in_tree_order(model, running)

    # --- Sessions and reads ------------------------------------------------------------------

    def session(self, user: str) -> Candidate:
        """A private candidate for one management session of `user`."""
        return Candidate(self, user)

    def get(self, path: str, depth: int | None = None) -> list[tuple[str, str]]:
        """Running values below an object path (ending with '.') or of one parameter, secrets
        masked. `depth` counts object levels below `path` (0: its own parameters only)."""
        self._overdue()
        return _select(self.model, self._running, path, depth)

    def value(self, path: str) -> str:
        """The running value of a parameter, unmasked: for the box's own use only."""
        self._overdue()
        path = _resolve(self.model, path, self._running)
        location = _parameter(self.model, path)
        _require_instances(location, self._running)
        return self._running[path]

    def set_state(self, path: str, value: str) -> None:
        """The box updates one of its read-only state parameters (type-checked; no commit,
        no checkpoint, no notification)."""
        if path in self._state_paths and self._running.get(path) == value:
            # The box refreshes its state before every read: most values have not moved, and
            # a value already in the tree was checked when it was written.
            return
        path = _resolve(self.model, path, self._running)
        location = _parameter(self.model, path)
        assert isinstance(location.spec, ParameterSpec)
        if location.spec.writable:
            raise ConfigError(
                f"{path}: is configuration, not state: change it in a session and commit",
                path=path,
            )
        try:
            canonical = self.model.convert(path, value)
        except DataModelError as exc:
            raise _error(exc) from None
        _require_instances(location, self._running)
        self._running[path] = canonical
        self._state_paths.add(path)

    # --- Commits and checkpoints ---------------------------------------------------------------

    @property
    def pending_confirm(self) -> tuple[int, dt.datetime] | None:
        """(checkpoint, deadline) while a commit confirm waits, else None."""
        self._overdue()
        pending = self._pending
        return None if pending is None else (pending.number, pending.deadline)

    def checkpoints(self) -> list[Checkpoint]:
        """The kept checkpoints, oldest first (at most KEPT_CHECKPOINTS)."""
        self._overdue()
        return [kept.checkpoint for kept in self._kept]

    def confirm(self, by: str) -> None:
        """Confirm the commit that awaits it (from any session); ConfigError when none does."""
        self._overdue()
        pending = self._pending
        if pending is None:
            raise ConfigError("nothing to confirm: no commit awaits confirmation")
        self._persist(self._running, self._kept, None)
        self._pending = None
        self._disarm()
        _log.info("commit %d confirmed by %s", pending.number, by)

    def rollback(self, number: int | None, by: str) -> Checkpoint:
        """Restore the configuration of checkpoint `number` as a new commit (None: as it was
        before the latest commit). Cancels a pending confirm. Returns the new checkpoint."""
        self._overdue()
        if number is None:
            if len(self._kept) < 2:
                raise ConfigError(
                    f"nothing to roll back: checkpoint {self._kept[-1].checkpoint.number} "
                    "is the only one kept"
                )
            target = self._kept[-2]
        else:
            found = [kept for kept in self._kept if kept.checkpoint.number == number]
            if not found:
                known = ", ".join(str(kept.checkpoint.number) for kept in self._kept)
                raise ConfigError(f"no checkpoint {number}; the kept checkpoints are: {known}")
            target = found[0]
        restored = self._restore(target.snapshot)
        changes = _changes(self.model, self._running, restored)
        if not changes:
            raise NothingToCommit(
                f"rollback to checkpoint {target.checkpoint.number} changes nothing: "
                "the running configuration already matches it"
            )
        summary = f"rollback to checkpoint {target.checkpoint.number}"
        if self._pending is not None:
            summary += f" (cancels the confirm of commit {self._pending.number})"
        return self._apply(restored, changes, by, summary, None)

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with what changed after every commit, rollback and automatic revert."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def close(self) -> None:
        """Stop the confirm timer (the pending confirm stays saved and re-arms on load)."""
        self._disarm()

    def _commit(self, candidate: Candidate, confirm_s: int | None) -> Checkpoint:
        self._overdue()
        if confirm_s is not None and (
            isinstance(confirm_s, bool)
            or not isinstance(confirm_s, int)
            or not 1 <= confirm_s <= MAX_CONFIRM_S
        ):
            raise ConfigError(
                f"commit confirm {confirm_s!r}: give a number of seconds from 1 to {MAX_CONFIRM_S}"
            )
        pending = self._pending
        if pending is not None:
            raise ConfigError(
                f"commit refused: commit {pending.number} awaits confirmation until "
                f"{pending.deadline:%Y-%m-%d %H:%M:%S} UTC; confirm it or roll it back first"
            )
        new = candidate.view(strict=True)
        try:
            self.model.check_rules(new)
        except DataModelError as exc:
            raise _error(exc) from None
        changes = _changes(self.model, self._running, new)
        if not changes:
            candidate.discard()
            raise NothingToCommit(
                "nothing to commit: the candidate does not differ from the running configuration"
            )
        summary = _summary(changes)
        if confirm_s is not None:
            summary += f" (confirm within {confirm_s} s)"
        checkpoint = self._apply(new, changes, candidate.user, summary, confirm_s)
        candidate.discard()
        return checkpoint

    def _apply(
        self,
        running: dict[str, str],
        changes: list[Change],
        by: str,
        summary: str,
        confirm_s: int | None,
    ) -> Checkpoint:
        number = self._kept[-1].checkpoint.number + 1
        now = self.clock.now()
        checkpoint = Checkpoint(number, now, by, summary)
        kept = [*self._kept, _Kept(checkpoint, self._snapshot(running))][-KEPT_CHECKPOINTS:]
        pending = None
        if confirm_s is not None:
            pending = _Pending(number, now + dt.timedelta(seconds=confirm_s), confirm_s)
        # Persist first: a commit the disk refused is not applied.
        self._persist(running, kept, pending)
        self._running = running
        self._kept = kept
        self._pending = pending
        self._disarm()
        if pending is not None:
            self._arm(pending, confirm_s or 0)
        self._notify(changes)
        return checkpoint

    def _notify(self, changes: list[Change]) -> None:
        for listener in list(self._listeners):
            try:
                listener(list(changes))
            except Exception:
                # The change is made; one failing listener must not hide it from the others.
                _log.exception("a configuration listener failed")

    def _snapshot(self, running: Mapping[str, str]) -> dict[str, str]:
        defaults = self.model.defaults
        snapshot: dict[str, str] = {}
        for path, value in running.items():
            if path in defaults:
                spec = self.model.lookup(path)
                if defaults[path] == value or not (
                    isinstance(spec, ParameterSpec) and spec.writable
                ):
                    continue
            snapshot[path] = value
        return snapshot

    def _restore(self, snapshot: Mapping[str, str]) -> dict[str, str]:
        """The running values of a snapshot, keeping the box's current state."""
        model = self.model
        current = self._running
        restored: dict[str, str] = {}
        for path, default in model.defaults.items():
            spec = model.lookup(path)
            writable = isinstance(spec, ParameterSpec) and spec.writable
            restored[path] = default if writable else current.get(path, default)
        for path, value in snapshot.items():
            spec = model.lookup(path)
            if isinstance(spec, ParameterSpec) and not spec.writable and path in current:
                value = current[path]
            restored[path] = value
        return _in_tree_order(model, restored)

    # --- The confirm timer ---------------------------------------------------------------------

    def _arm(self, pending: _Pending, seconds: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No event loop: the deadline is checked at the next use of the box instead.
            return
        due = self.clock.monotonic() + seconds
        self._timer = loop.create_task(
            self._expire(pending.number, due), name=f"confirm-commit-{pending.number}"
        )

    def _disarm(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done() and timer is not _current_task():
            timer.cancel()

    async def _expire(self, number: int, due: float) -> None:
        # The task starts later than it was made: count from when it was made.
        await self.clock.sleep(due - self.clock.monotonic())
        try:
            self._revert(number)
        except Exception:
            _log.exception("the automatic rollback of commit %d failed", number)

    def _overdue(self) -> None:
        pending = self._pending
        if pending is None or (self._timer is not None and not self._timer.done()):
            return
        if self.clock.now() >= pending.deadline:
            self._revert(pending.number)

    def _revert(self, number: int) -> None:
        pending = self._pending
        if pending is None or pending.number != number:
            return
        before = [
            kept.snapshot
            for kept, after in zip(self._kept, self._kept[1:], strict=False)
            if after.checkpoint.number == number
        ]
        restored = self._restore(before[0]) if before else self._running
        changes = _changes(self.model, self._running, restored)
        summary = f"automatic rollback: commit {number} not confirmed within {pending.seconds} s"
        if changes:
            self._apply(restored, changes, BOX, summary, None)
        else:
            self._persist(self._running, self._kept, None)
            self._pending = None
            self._disarm()

    # --- Saving ----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the box to one JSON file, atomically, readable by its owner only (it holds
        the secrets in clear: the box needs them)."""
        self._overdue()
        _write_atomically(path, self._document(self._running, self._kept, self._pending))

    @classmethod
    def load(cls, path: Path, model: DataModel, clock: Clock) -> BoxConfig:
        """A box saved by `save`; its commits go on being saved to the same file. A confirm
        whose deadline passed reverts at once; a later one re-arms (within an event loop)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise StateFileError(f"{path}: cannot read the file ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise StateFileError(f"{path}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StateFileError(f"{path}: expected a JSON object")
        try:
            saved = validate(_SavedBox, data, path)
        except DataFileError as exc:
            raise StateFileError(str(exc)) from None
        box = cls(model, clock)
        try:
            for key, text in saved.running.items():
                if model.convert(key, text) != text:
                    raise StateFileError(f"{path}: running.{key}: {text!r} is not canonical")
            for saved_checkpoint in saved.checkpoints:
                for key in saved_checkpoint.snapshot:
                    model.parameter(key)
        except DataModelError as exc:
            raise StateFileError(f"{path}: {exc}") from None
        numbers = [c.number for c in saved.checkpoints]
        if saved.pending_confirm is not None and saved.pending_confirm.checkpoint not in numbers:
            raise StateFileError(
                f"{path}: pending_confirm.checkpoint: no checkpoint "
                f"{saved.pending_confirm.checkpoint} in the file"
            )
        box._running = _in_tree_order(model, dict(saved.running))
        box._counters = dict(saved.counters)
        box._kept = [
            _Kept(Checkpoint(c.number, c.at, c.by, c.summary), c.snapshot)
            for c in saved.checkpoints
        ]
        box.state_file = path
        if saved.pending_confirm is not None:
            pending = saved.pending_confirm
            box._pending = _Pending(pending.checkpoint, pending.deadline, pending.seconds)
            remaining = (pending.deadline - clock.now()).total_seconds()
            if remaining <= 0:
                box._revert(pending.checkpoint)
            else:
                box._arm(box._pending, remaining)
        return box

    def _persist(
        self, running: Mapping[str, str], kept: Sequence[_Kept], pending: _Pending | None
    ) -> None:
        if self.state_file is not None:
            _write_atomically(self.state_file, self._document(running, kept, pending))

    def _document(
        self, running: Mapping[str, str], kept: Sequence[_Kept], pending: _Pending | None
    ) -> str:
        document = {
            "format": _FORMAT,
            "version": 1,
            "model": self.model.name,
            "running": dict(running),
            "counters": self._counters,
            "checkpoints": [
                {
                    "number": k.checkpoint.number,
                    "at": k.checkpoint.at.isoformat(),
                    "by": k.checkpoint.by,
                    "summary": k.checkpoint.summary,
                    "snapshot": dict(k.snapshot),
                }
                for k in kept
            ],
            "pending_confirm": None
            if pending is None
            else {
                "checkpoint": pending.number,
                "deadline": pending.deadline.isoformat(),
                "seconds": pending.seconds,
            },
        }
        return json.dumps(document, indent=1, ensure_ascii=False)

    def _next_number(self, table: str, running_max: int) -> int:
        return max(self._counters.get(table, 0), running_max) + 1

    def _take_number(self, table: str, number: int) -> None:
        self._counters[table] = max(self._counters.get(table, 0), number)


class Candidate:
    """One session's pending changes over the box's running configuration.

    Every write is checked at once against the data model and is all or nothing. Reads show
    the running configuration (as it is now) with this session's changes over it.
    """

    def __init__(self, box: BoxConfig, user: str) -> None:
        self.box = box
        self.user = user
        self._sets: dict[str, str] = {}
        self._added: dict[str, str] = {}  # instance path -> its table path
        self._deleted: set[str] = set()

    @property
    def changed(self) -> bool:
        """True while this session holds writes not yet committed or discarded."""
        return bool(self._sets or self._added or self._deleted)

    def get(self, path: str, depth: int | None = None) -> list[tuple[str, str]]:
        """Values below `path` as this session sees them (see BoxConfig.get)."""
        self.box._overdue()
        return _select(self.box.model, self.view(strict=False), path, depth)

    def set(self, path: str, values: Sequence[tuple[str, str]]) -> None:
        """Write parameters of the object `path` (names relative to it; "" for full paths).
        All or nothing: one refused value leaves the candidate unchanged."""
        model = self.box.model
        if path and not path.endswith("."):
            raise ConfigError(
                f"{path}: give an object path ending with '.' and parameter names", path=path
            )
        staged: dict[str, str] = {}
        for name, text in values:
            full = _resolve(model, path + name, self._lazy_view)
            location = _parameter(model, full)
            spec = location.spec
            assert isinstance(spec, ParameterSpec)
            try:
                canonical = model.check_write(full, text)
            except DataModelError as exc:
                raise _error(exc) from None
            for instance in location.instances:
                if not self._exists(instance):
                    raise ConfigError(
                        f"{full}: no such instance {instance}",
                        path=full,
                        value=MASK if spec.secret else text,
                    )
            staged[full] = canonical
        aliases = {p for p in staged if p.endswith(".Alias")}
        if aliases:
            view = dict(self.view(strict=False))
            view.update(staged)
            _check_aliases(model, view, {p.rpartition(".")[0] for p in aliases})
        self._sets.update(staged)

    def add(self, path: str, values: Sequence[tuple[str, str]] = ()) -> str:
        """Add an instance to the table `path` (`Device.NAT.PortMapping.`) with these values
        (names relative to the instance); returns its path. Numbers are never reused."""
        model = self.box.model
        table = _resolve(model, path, self._lazy_view)
        try:
            location = model.locate(table)
        except DataModelError as exc:
            raise _error(exc) from None
        if location.kind != "table":
            tables = ", ".join(sorted(model.tables))
            raise ConfigError(f"{path}: not a table; instances are added to {tables}", path=path)
        for instance in location.instances:
            if not self._exists(instance):
                raise ConfigError(f"{path}: no such instance {instance}", path=path)
        entry = location.spec
        assert isinstance(entry, ObjectSpec)
        assert entry.max_instances is not None
        view = self.view(strict=False)
        present = _numbers(view, table)
        if len(present) >= entry.max_instances:
            raise ConfigError(
                f"{table}: the table is full ({entry.max_instances} instances at most)", path=table
            )
        number = self.box._next_number(table, max(present, default=0))
        instance = f"{table}{number}."
        staged: dict[str, str] = {}
        for name, text in values:
            full = instance + name
            try:
                staged[full] = model.check_write(full, text)
            except DataModelError as exc:
                raise _error(exc) from None
        missing = [
            spec.name
            for spec in model.parameters(entry.path)
            if spec.required and instance + spec.name not in staged
        ]
        if missing:
            raise ConfigError(f"{table}: a new instance needs {', '.join(missing)}", path=table)
        alias = instance + "Alias"
        if alias not in staged:
            staged[alias] = _free_alias(view, table, number)
        trial = dict(view)
        trial.update(staged)
        _check_aliases(model, trial, {instance[:-1]})
        self.box._take_number(table, number)
        self._added[instance] = table
        self._sets.update(staged)
        return instance

    def delete(self, path: str) -> None:
        """Delete an instance (`Device.NAT.PortMapping.3.`) with everything below it."""
        model = self.box.model
        path = _resolve(model, path, self._lazy_view)
        try:
            location = model.locate(path)
        except DataModelError as exc:
            raise _error(exc) from None
        if not location.is_instance:
            raise ConfigError(
                f"{path}: only an instance of a table can be deleted "
                "(as Device.NAT.PortMapping.3.)",
                path=path,
            )
        if not all(self._exists(instance) for instance in location.instances):
            raise ConfigError(f"{path}: no such instance", path=path)
        for key in [key for key in self._sets if key.startswith(path)]:
            del self._sets[key]
        for key in [key for key in self._added if key.startswith(path)]:
            del self._added[key]
        for key in [key for key in self._deleted if key.startswith(path)]:
            self._deleted.discard(key)
        if path + "Alias" in self.box._running:
            self._deleted.add(path)

    def diff(self) -> list[Change]:
        """What a commit would change now: this candidate against the running configuration."""
        return _changes(self.box.model, self.box._running, self.view(strict=False))

    def commit(self, confirm_s: int | None = None) -> Checkpoint:
        """Apply every change at once to the running configuration, or none (ConfigError);
        NothingToCommit when nothing differs. With `confirm_s`, the box reverts by itself
        unless `BoxConfig.confirm` comes within that many seconds."""
        return self.box._commit(self, confirm_s)

    def discard(self) -> None:
        """Forget every pending change."""
        self._sets.clear()
        self._added.clear()
        self._deleted.clear()

    # --- The view ----------------------------------------------------------------------------

    def _exists(self, instance: str) -> bool:
        if instance in self._added:
            return True
        if any(instance.startswith(deleted) for deleted in self._deleted):
            return False
        return instance + "Alias" in self.box._running

    def _lazy_view(self) -> Mapping[str, str]:
        return self.view(strict=False)

    def view(self, *, strict: bool) -> dict[str, str]:
        """Running values with this candidate's changes over them, in tree order. `strict`
        refuses changes to instances that another session deleted meanwhile; otherwise they
        are left out. Do not modify the result: without changes it is the running dict."""
        box = self.box
        running = box._running
        if not self.changed:
            return running
        model = box.model
        for deleted in self._deleted:
            if strict and deleted + "Alias" not in running:
                raise _meanwhile(deleted)
        if self._deleted:
            view = {
                path: value
                for path, value in running.items()
                if not any(path.startswith(deleted) for deleted in self._deleted)
            }
        else:
            view = dict(running)
        for instance in self._added:
            gone = [i for i in model.locate(instance).instances[:-1] if not self._exists(i)]
            if gone and strict:
                raise _meanwhile(gone[0])
            if gone:
                continue
            entry = model.template(instance)
            for name, default in model.instance_defaults(entry).items():
                view[instance + name] = default
        for path, value in self._sets.items():
            location = model.locate(path)
            if all(self._exists(instance) for instance in location.instances):
                view[path] = value
            elif strict:
                raise _meanwhile(next(i for i in location.instances if not self._exists(i)))
        if strict:
            _check_capacity(model, view, set(self._added.values()), "commit refused: ")
            touched = {path.rpartition(".")[0] for path in self._sets if path.endswith(".Alias")}
            _check_aliases(model, view, touched)
        # Overwriting keys keeps the running order; only added instances land out of place.
        return _in_tree_order(model, view) if self._added else view


# --- Helpers on value dicts ----------------------------------------------------------------------


def _meanwhile(instance: str) -> ConfigError:
    return ConfigError(
        f"commit refused, nothing applied: {instance} was deleted by another session "
        "since this session changed it",
        path=instance,
    )


def _parameter(model: DataModel, path: str) -> Location:
    try:
        location = model.locate(path)
    except DataModelError as exc:
        raise _error(exc) from None
    if location.kind != "parameter":
        raise ConfigError(f"{path}: is an object, not a parameter", path=path)
    return location


def _require_instances(location: Location, values: Mapping[str, str]) -> None:
    for instance in location.instances:
        if instance + "Alias" not in values:
            raise ConfigError(f"{location.path}: no such instance {instance}", path=location.path)


def _resolve(
    model: DataModel,
    path: str,
    values: Mapping[str, str] | Callable[[], Mapping[str, str]],
) -> str:
    """The path with instance aliases (`Device.NAT.PortMapping.web.`) replaced by numbers."""
    try:
        model.locate(path)
        return path
    except DataModelError as exc:
        first = exc
    view = values() if callable(values) else values
    segments = path.split(".")
    prefix = ""
    changed = False
    for index, segment in enumerate(segments[:-1]):
        if not segment.isdigit() and (prefix in model.tables or _is_table(model, prefix)):
            number = _alias_number(view, prefix, segment)
            if number is None:
                raise _error(first) from None
            segment = segments[index] = str(number)
            changed = True
        prefix += segment + "."
    if not changed:
        raise _error(first) from None
    resolved = ".".join(segments)
    try:
        model.locate(resolved)
    except DataModelError as exc:
        raise _error(exc) from None
    return resolved


def _is_table(model: DataModel, path: str) -> bool:
    try:
        return model.locate(path).kind == "table"
    except DataModelError:
        return False


def _alias_number(values: Mapping[str, str], table: str, alias: str) -> int | None:
    for path, value in values.items():
        if value == alias and path.startswith(table) and path.endswith(".Alias"):
            middle = path[len(table) : -len(".Alias")]
            if middle.isdigit():
                return int(middle)
    return None


def _numbers(values: Mapping[str, str], table: str) -> list[int]:
    """The instance numbers of a table (concrete table path) in a tree of values."""
    numbers = []
    for path in values:
        if path.startswith(table) and path.endswith(".Alias"):
            middle = path[len(table) : -len(".Alias")]
            if middle.isdigit():
                numbers.append(int(middle))
    return numbers


def _instances(model: DataModel, values: Iterable[str]) -> list[str]:
    """Every instance path present in a tree of values, in its order."""
    found = []
    for path in values:
        if path.endswith(".Alias"):
            instances = model.locate(path).instances
            if instances and instances[-1] + "Alias" == path:
                found.append(instances[-1])
    return found


def _free_alias(values: Mapping[str, str], table: str, number: int) -> str:
    name = table[:-1].rpartition(".")[2]
    taken = {value for path, value in values.items() if path.endswith(".Alias")}
    alias = f"cpe-{name}-{number}"
    suffix = 1
    while alias in taken:
        suffix += 1
        alias = f"cpe-{name}-{number}-{suffix}"
    return alias


def _check_capacity(
    model: DataModel, values: Mapping[str, str], tables: Iterable[str], context: str = ""
) -> None:
    """No table holds more instances than its max_instances."""
    for table in tables:
        entry = model.lookup(table)
        assert isinstance(entry, ObjectSpec)
        assert entry.max_instances is not None
        if len(_numbers(values, table)) > entry.max_instances:
            raise ConfigError(
                f"{context}{table} would hold more than {entry.max_instances} instances",
                path=table,
            )


def _check_aliases(model: DataModel, values: Mapping[str, str], instances: Iterable[str]) -> None:
    """Aliases are unique in their table; `instances` (without their final '.') were touched."""
    tables = {instance.rpartition(".")[0] + "." for instance in instances}
    for table in tables:
        seen: dict[str, str] = {}
        for path, value in values.items():
            if path.startswith(table) and path.endswith(".Alias"):
                middle = path[len(table) : -len(".Alias")]
                if not middle.isdigit():
                    continue
                if value in seen:
                    raise ConfigError(
                        f"{path}: {show_value(value)} is already the alias of {seen[value]}",
                        path=path,
                        value=value,
                    )
                seen[value] = f"{table}{middle}."


def _new_instance(
    model: DataModel,
    instance: str,
    staged: Mapping[str, str],
    given: Mapping[str, str],
    running: Mapping[str, str],
) -> dict[str, str]:
    entry = model.template(instance)
    missing = [
        spec.name
        for spec in model.parameters(entry)
        if spec.required and instance + spec.name not in given
    ]
    if missing:
        raise ConfigError(f"{instance}: a new instance needs {', '.join(missing)}", path=instance)
    values = {instance + name: default for name, default in model.instance_defaults(entry).items()}
    table, _, number = instance[:-1].rpartition(".")
    values[instance + "Alias"] = staged.get(instance + "Alias") or _free_alias(
        running, table + ".", int(number)
    )
    return values


def _in_tree_order(model: DataModel, values: dict[str, str]) -> dict[str, str]:
    return dict(sorted(values.items(), key=lambda item: model.locate(item[0]).order))


def _select(
    model: DataModel, values: Mapping[str, str], path: str, depth: int | None
) -> list[tuple[str, str]]:
    if depth is not None and depth < 0:
        raise ConfigError(f"{path}: a depth is 0 or more, not {depth}", path=path)
    path = _resolve(model, path, values)
    try:
        location = model.locate(path)
    except DataModelError as exc:
        raise _error(exc) from None
    if location.kind == "parameter":
        _require_instances(location, values)
        value = values[path]
        return [(path, MASK if value and model.is_secret(path) else value)]
    for instance in location.instances:
        if instance + "Alias" not in values:
            raise ConfigError(f"{path}: no such instance {instance}", path=path)
    start = len(path)
    specs = model.subtree(location.template) if location.kind == "object" else None
    if specs is not None:
        # No table below: the paths are known without scanning every value of the box.
        skip = len(location.template)
        found = [(path + spec.path[skip:], spec.secret) for spec in specs]
        return [
            (key, MASK if secret and values[key] else values[key])
            for key, secret in found
            if depth is None or key.count(".", start) <= depth
        ]
    return [
        (key, MASK if value and model.is_secret(key) else value)
        for key, value in values.items()
        if key.startswith(path) and (depth is None or key.count(".", start) <= depth)
    ]


def _changes(model: DataModel, old: Mapping[str, str], new: Mapping[str, str]) -> list[Change]:
    if old is new:
        return []
    before = _instances(model, old)
    after = _instances(model, new)
    born = {instance for instance in after if instance not in before}
    gone = [instance for instance in before if instance + "Alias" not in new]
    # An instance inside a deleted instance goes with it: one change says so.
    changes = [
        Change("delete", instance, None, None)
        for instance in gone
        if not any(instance != other and instance.startswith(other) for other in gone)
    ]
    announced: set[str] = set()
    for path, value in new.items():
        previous = old.get(path)
        if previous == value:
            continue
        if born:
            for instance in model.locate(path).instances:
                if instance in born and instance not in announced:
                    announced.add(instance)
                    changes.append(Change("add", instance, None, None))
        if model.is_secret(path):
            was = MASK if previous else previous  # whether one was set shows, never what
            changes.append(Change("set", path, was, MASK if value else value))
        else:
            changes.append(Change("set", path, previous, value))
    return changes


def _summary(changes: list[Change]) -> str:
    added = {change.path for change in changes if change.op == "add"}
    items = [
        f"{change.op} {change.path}"
        for change in changes
        if change.op != "set" or not any(change.path.startswith(a) for a in added)
    ]
    shown = "; ".join(items[:3])
    return shown + (f"; and {len(items) - 3} more" if len(items) > 3 else "")


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` at once (temporary file, fsync, rename), mode 0600."""
    directory = path.parent
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        folder = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


# --- The saved file ------------------------------------------------------------------------


class _Saved(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SavedCheckpoint(_Saved):
    number: int = Field(ge=0)
    at: AwareDatetime
    by: str
    summary: str
    snapshot: dict[str, str]


class _SavedPending(_Saved):
    checkpoint: int = Field(ge=1)
    deadline: AwareDatetime
    seconds: int = Field(ge=1)


class _SavedBox(_Saved):
    format: Literal["livebox-lab box configuration"]
    version: Literal[1]
    model: str
    running: dict[str, str]
    counters: dict[str, int]
    checkpoints: list[_SavedCheckpoint] = Field(min_length=1)
    pending_confirm: _SavedPending | None = None
