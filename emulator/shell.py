"""Run the box's management language, one line at a time, for one management session (no I/O)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import assert_never

from emulator.box import EmulatedBox, LoginRefused
from emulator.commands import (
    Add,
    Call,
    Checkpoints,
    Command,
    Commit,
    Confirm,
    Delete,
    Diff,
    Exit,
    Get,
    Help,
    Nothing,
    Rollback,
    Set,
    help_text,
    parse,
)
from emulator.config import Candidate, Change, Checkpoint, ConfigError
from profiles.datamodel import DataModelError, format_datetime

__all__ = ["ERROR", "Shell", "ShellResult"]

#: How every error line starts; the reason follows.
ERROR = "ERROR: "

_log = logging.getLogger(__name__)

# What a user can cause: the project's user errors are all ValueErrors (CommandError,
# ConfigError, DataModelError, DslError...); anything else is a fault of the emulator.
_REFUSALS = (ValueError, LoginRefused, NotImplementedError)


@dataclass(frozen=True, slots=True)
class ShellResult:
    """What one line did: its output lines, whether it succeeded, whether the session ends.

    On success `lines` holds the output (possibly none); on failure exactly one line,
    `ERROR: <reason>`, and nothing was changed.
    """

    lines: list[str]
    ok: bool
    exit: bool = False


class Shell:
    """One management session of `user` on `box`: its own candidate configuration, and the
    command language that reads and writes it.

    Output shapes (one string per line, no line ends):

    - get: `Path.Param=value`, the value verbatim up to the end of the line (never a control
      character; a secret reads as `********`); an object gives one line per parameter.
    - set: the values written, as a get prints them (canonical, secrets masked).
    - add: the new instance's path, `Device.NAT.PortMapping.3.`; delete: the deleted path.
    - call: `Path.Method() returned Name=value`, one line per item of the result (nested
      items joined with dots), or `Path.Method() returned nothing`.
    - diff: `+ Instance.`, `- Instance.`, `+ Path=value` (new), `~ Path: old -> new`,
      `- Path=old`; or one line saying there is nothing to commit.
    - commit: `committed: checkpoint N`, with its confirm deadline after `commit confirm S`;
      confirm: `confirmed: checkpoint N is kept`; rollback: `rolled back: checkpoint N: ...`.
    - checkpoints: newest first, `N <time, UTC> <by> <summary>`.
    """

    def __init__(self, box: EmulatedBox, user: str) -> None:
        self.box = box
        self.user = user
        self._candidate = box.config.session(user)

    @property
    def candidate(self) -> Candidate:
        """This session's uncommitted changes (lost with the session)."""
        return self._candidate

    @property
    def prompt(self) -> str:
        """What an interactive session shows before each line, e.g. `box-1> `."""
        return f"{self.box.name}> "

    def execute(self, line: str) -> ShellResult:
        """Run one line; never raises. A refused line changes nothing and gives one
        `ERROR: <reason>` line."""
        try:
            command = parse(line)
            if isinstance(command, Exit):
                return ShellResult([], ok=True, exit=True)
            return ShellResult(self._run(command), ok=True)
        except _REFUSALS as error:
            return ShellResult([f"{ERROR}{error}"], ok=False)
        except Exception as error:
            # Never the line itself in the log: it may hold a password.
            _log.exception("box %s: internal error running a command", self.box.name)
            return ShellResult(
                [f"{ERROR}internal error in the emulator ({type(error).__name__}); see its log"],
                ok=False,
            )

    # --- One command -----------------------------------------------------------------------

    def _run(self, command: Command) -> list[str]:
        match command:
            case Get(path, depth):
                self.box.refresh(path)
                return _parameter_lines(self._read(path, depth))
            case Set(path, values):
                return self._set(path, values)
            case Add(path, values):
                return [self._candidate.add(path + ".", values)]
            case Delete(path):
                return self._delete(path)
            case Call(path, method, args):
                result = self.box.call(path + ".", method, dict(args))
                return _returned(f"{path}.{method}()", result)
            case Diff():
                return self._diff()
            case Commit(confirm_s):
                return self._commit(confirm_s)
            case Confirm():
                return self._confirm()
            case Rollback(number):
                checkpoint = self.box.config.rollback(number, by=self.user)
                return [f"rolled back: checkpoint {checkpoint.number}: {checkpoint.summary}"]
            case Checkpoints():
                return self._checkpoints()
            case Help(topic):
                return help_text(topic).splitlines()
            case Nothing() | Exit():
                return []
            case _:
                assert_never(command)

    def _read(self, path: str, depth: int | None) -> list[tuple[str, str]]:
        """Values of an object (path given without its final dot) or of one parameter."""
        candidate = self._candidate
        if _names_parameter(self.box, path):
            return candidate.get(path)
        try:
            return candidate.get(path + ".", depth)
        except ConfigError as object_error:
            # Alias paths (Device.NAT.PortMapping.web.ExternalPort) cannot be told apart
            # before the candidate resolves them: try them as a parameter too.
            try:
                return candidate.get(path)
            except ConfigError as parameter_error:
                last = path.rpartition(".")[2]
                raise (object_error if last.isdigit() else parameter_error) from None

    def _set(self, path: str, values: Sequence[tuple[str, str]]) -> list[str]:
        self._candidate.set(path + ".", values)
        shown: list[tuple[str, str]] = []
        for name, _ in values:
            shown.extend(self._candidate.get(f"{path}.{name}"))
        return _parameter_lines(shown)

    def _delete(self, path: str) -> list[str]:
        self._candidate.delete(path + ".")
        return [path + "."]

    def _diff(self) -> list[str]:
        changes = self._candidate.diff()
        if not changes:
            return ["nothing to commit: the candidate matches the running configuration"]
        return [_change_line(change) for change in changes]

    def _commit(self, confirm_s: int | None) -> list[str]:
        checkpoint = self._candidate.commit(confirm_s)
        line = f"committed: checkpoint {checkpoint.number}"
        pending = self.box.config.pending_confirm
        if confirm_s is not None and pending is not None:
            line += (
                f"; it reverts at {format_datetime(pending[1])} unless 'confirm' comes "
                f"within {confirm_s} s"
            )
        return [line]

    def _confirm(self) -> list[str]:
        pending = self.box.config.pending_confirm
        self.box.config.confirm(by=self.user)
        number = "" if pending is None else f" {pending[0]}"
        return [f"confirmed: checkpoint{number} is kept"]

    def _checkpoints(self) -> list[str]:
        pending = self.box.config.pending_confirm
        return [_checkpoint_line(c, pending) for c in reversed(self.box.config.checkpoints())]


# --- Output lines --------------------------------------------------------------------------------


def _names_parameter(box: EmulatedBox, path: str) -> bool:
    try:
        return box.config.model.locate(path).kind == "parameter"
    except DataModelError:
        return False


def _parameter_lines(values: list[tuple[str, str]]) -> list[str]:
    return [f"{path}={value}" for path, value in values]


def _change_line(change: Change) -> str:
    if change.op == "add":
        return f"+ {change.path}"
    if change.op == "delete":
        return f"- {change.path}"
    if change.old is None:
        return f"+ {change.path}={change.new}"
    if change.new is None:
        return f"- {change.path}={change.old}"
    return f"~ {change.path}: {_shown(change.old)} -> {_shown(change.new)}"


def _shown(value: str) -> str:
    # An empty value would vanish between ':' and '->'.
    return value if value else '""'


def _checkpoint_line(checkpoint: Checkpoint, pending: tuple[int, dt.datetime] | None) -> str:
    line = (
        f"{checkpoint.number} {format_datetime(checkpoint.at)} {checkpoint.by} {checkpoint.summary}"
    )
    if pending is not None and pending[0] == checkpoint.number:
        line += f" [awaits confirm until {format_datetime(pending[1])}]"
    return line


def _returned(label: str, result: object) -> list[str]:
    items = list(_flatten("", result))
    if not items:
        return [f"{label} returned nothing"]
    return [
        f"{label} returned {name}={value}" if name else f"{label} returned {value}"
        for name, value in items
    ]


def _flatten(prefix: str, result: object) -> Iterator[tuple[str, str]]:
    """(dotted name, text) for each leaf of a method's result."""
    if result is None:
        return
    if isinstance(result, Mapping):
        for key, value in result.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), value)
    elif isinstance(result, list | tuple):
        for index, value in enumerate(result, start=1):
            yield from _flatten(f"{prefix}.{index}" if prefix else str(index), value)
    elif isinstance(result, bool):
        yield prefix, "1" if result else "0"
    else:
        yield prefix, str(result)
