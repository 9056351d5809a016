"""The box's command language without I/O: the lines a session writes, and what its replies say."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Never

__all__ = [
    "CONFIRM",
    "ERROR_PREFIX",
    "EXIT",
    "MAX_LINE",
    "PROMPT_ENDINGS",
    "ROLLBACK",
    "CommandLine",
    "InvalidCommand",
    "ReplyReader",
    "UnexpectedReply",
    "add_command",
    "added_instance",
    "check_confirmed",
    "checkpoint_of",
    "commit_command",
    "delete_command",
    "get_command",
    "parameters_of",
    "quote_value",
    "rejection",
    "rolled_back_checkpoint",
    "set_commands",
]

#: The longest line the box reads, in characters; a longer command is refused before it is sent.
MAX_LINE = 4096
#: How every line of a refusal starts; the box's reason follows.
ERROR_PREFIX = "ERROR: "
#: How a prompt ends: the text after the last line break of the greeting, if it ends so.
PROMPT_ENDINGS = ("> ",)

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_PATH = re.compile(rf"[A-Za-z][A-Za-z0-9_-]*(?:\.{_NAME})*")
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PARAMETER_LINE = re.compile(rf"([A-Za-z][A-Za-z0-9_-]*(?:\.{_NAME})+)=(.*)")
_INSTANCE_LINE = re.compile(rf"[A-Za-z][A-Za-z0-9_-]*(?:\.{_NAME})+\.")
_COMMITTED = re.compile(r"committed: checkpoint ([0-9]+)\b")
_ROLLED_BACK = re.compile(r"rolled back: checkpoint ([0-9]+)\b")
_CONFIRMED = re.compile(r"confirmed: checkpoint\b")
# Written bare only when no context (end of line, inside braces) can read it otherwise.
_BARE = re.compile(r"[A-Za-z0-9_.:/@+-]+")
# Control characters, invisible formatting, line and paragraph separators: escaped, so that a
# line never breaks inside a value and always shows what it sets.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_SIMPLE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SHOWN_MAX = 120


class InvalidCommand(ValueError):
    """A request that cannot be written as a command line (a malformed path, a value that is
    not text...); nothing was sent. The message never holds a value."""


class UnexpectedReply(ValueError):
    """The box answered something this client does not understand."""


@dataclass(frozen=True, slots=True)
class CommandLine:
    """One line to send: `text` goes to the box (it may hold a secret: never log or show it);
    `label` says what it does without any value, for messages and logs; `path` is what it
    acts on (an object, a table, an instance, or the command's word), for errors."""

    label: str
    path: str
    text: str = field(repr=False)

    def __str__(self) -> str:
        return self.label


# --- Values and paths ----------------------------------------------------------------------------


def quote_value(value: str) -> str:
    """The value as the command language reads it back exactly, bare when that is safe.

    >>> quote_value("192.168.1.20")
    '192.168.1.20'
    >>> quote_value('say "hi", #1')
    '"say \\\\"hi\\\\", #1"'
    """
    if not isinstance(value, str):
        raise InvalidCommand(f"a value must be text, not {type(value).__name__}")
    if _BARE.fullmatch(value):
        return value
    out = ['"']
    for char in value:
        escaped = _SIMPLE_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            # A lone surrogate cannot be encoded: the value is not text.
            raise InvalidCommand(f"a value holds U+{ord(char):04X}, which is not a character")
        if category in _ESCAPED_CATEGORIES:
            code = ord(char)
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _object_path(path: str, what: str) -> str:
    """`path` without its final dot, checked to be a path of the language."""
    if not isinstance(path, str):
        raise InvalidCommand(f"{what}: a path must be text, not {type(path).__name__}")
    bare = path[:-1] if path.endswith(".") else path
    if not _PATH.fullmatch(bare):
        raise InvalidCommand(
            f"{what}: {_shown(path)} is not a path (names of letters, digits, '_' and '-' "
            "joined by dots, the first starting with a letter)"
        )
    return bare


def _split_parameter(path: str) -> tuple[str, str]:
    """(object path without its final dot, parameter name) of a parameter path."""
    if not isinstance(path, str):
        raise InvalidCommand(f"set: a path must be text, not {type(path).__name__}")
    if path.endswith("."):
        raise InvalidCommand(f"set: {_shown(path)} names an object, not a parameter")
    obj, _, name = path.rpartition(".")
    if not obj or not _PARAMETER_NAME.fullmatch(name):
        raise InvalidCommand(f"set: {_shown(path)} is not a parameter path such as Device.X.Name")
    _object_path(obj, "set")
    return obj, name


def _pairs(values: Mapping[str, str], what: str) -> tuple[str, str]:
    """(`{A=1, B="x"}`, `{A, B}`): the pairs to send and their names only, for labels."""
    texts: list[str] = []
    for name, value in values.items():
        if not isinstance(name, str) or not _PARAMETER_NAME.fullmatch(name):
            raise InvalidCommand(f"{what}: {_shown(str(name))} is not a parameter name")
        try:
            texts.append(f"{name}={quote_value(value)}")
        except InvalidCommand as error:
            raise InvalidCommand(f"{what}{name}: {error}") from None
    return "{" + ", ".join(texts) + "}", "{" + ", ".join(values) + "}"


def _line(label: str, path: str, text: str) -> CommandLine:
    if len(text) > MAX_LINE:
        raise InvalidCommand(
            f"{label}: the command is {len(text)} characters long; the box reads at most "
            f"{MAX_LINE} per line"
        )
    return CommandLine(label, path, text)


def _shown(text: str) -> str:
    """A path or a line of the box's output quoted for a message, shortened if long."""
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 3] + "..."
    return repr(text)


# --- Commands ------------------------------------------------------------------------------------


def get_command(path: str) -> CommandLine:
    """Read an object and everything below it (`Path.?`, path ending in a dot) or one
    parameter (`Path?`)."""
    bare = _object_path(path, "get")
    text = f"{bare}.?" if path.endswith(".") else f"{bare}?"
    return _line(f"get {path}", path, text)


def set_commands(values: Mapping[str, str]) -> list[CommandLine]:
    """One command per object, in the order its first parameter comes: `Obj.{A=1, B="x"}`.

    The box writes an object's parameters all or none, so grouping keeps each object whole.
    """
    by_object: dict[str, dict[str, str]] = {}
    for path, value in values.items():
        obj, name = _split_parameter(path)
        by_object.setdefault(obj, {})[name] = value
    commands = []
    for obj, pairs in by_object.items():
        text, names = _pairs(pairs, f"set {obj}.")
        commands.append(_line(f"set {obj}.{names}", f"{obj}.", f"{obj}.{text}"))
    return commands


def add_command(table: str, values: Mapping[str, str]) -> CommandLine:
    """Add an instance to a table: `Table.+{A=1}`, or `Table.+` with no values."""
    bare = _object_path(table, "add")
    if not values:
        return _line(f"add {bare}.", f"{bare}.", f"{bare}.+")
    text, names = _pairs(values, f"add {bare}.")
    return _line(f"add {bare}.{names}", f"{bare}.", f"{bare}.+{text}")


def delete_command(instance: str) -> CommandLine:
    """Delete a table entry, by number or alias: `Device.NAT.PortMapping.web.-`."""
    bare = _object_path(instance, "delete")
    return _line(f"delete {bare}.", f"{bare}.", f"{bare}.-")


def commit_command(confirm_s: int | None = None) -> CommandLine:
    """`commit`, or `commit confirm N` that the box reverts by itself unless confirmed."""
    if confirm_s is None:
        return CommandLine("commit", "commit", "commit")
    if isinstance(confirm_s, bool) or not isinstance(confirm_s, int) or confirm_s < 1:
        raise InvalidCommand(
            f"commit: confirm_s must be a whole number of seconds, 1 or more, not {confirm_s!r}"
        )
    text = f"commit confirm {confirm_s}"
    return CommandLine(text, "commit", text)


CONFIRM = CommandLine("confirm", "confirm", "confirm")
ROLLBACK = CommandLine("rollback", "rollback", "rollback")
EXIT = CommandLine("exit", "exit", "exit")


# --- Replies -------------------------------------------------------------------------------------


class ReplyReader:
    """Cuts what an interactive session prints into replies: the lines before each prompt.

    Without a `prompt`, the first reply is the greeting and the prompt is learned from it: the
    text after the greeting's last line break, when it ends as a prompt does. A prompt counts
    only at the start of a line, so a value that holds the prompt's text cannot end a reply
    early (values never hold a line break).
    """

    def __init__(self, prompt: str | None = None, endings: Iterable[str] = PROMPT_ENDINGS) -> None:
        if prompt == "":
            raise ValueError("a prompt cannot be empty")
        self.prompt = prompt
        self.greeting: list[str] | None = None if prompt is None else []
        self._endings = tuple(endings)
        self._buffer = ""
        self._scanned = 0  # where the search for "\n" + prompt may resume

    def feed(self, text: str) -> list[list[str]]:
        """Take more output; return the replies it completes (the greeting is not one)."""
        self._buffer += text
        replies: list[list[str]] = []
        if self.prompt is None and not self._learn():
            return replies
        prompt = self.prompt
        assert prompt is not None
        marker = "\n" + prompt
        while True:
            buffer = self._buffer
            if buffer.startswith(prompt):
                replies.append([])
                self._consume(len(prompt))
                continue
            at = buffer.find(marker, self._scanned)
            if at < 0:
                self._scanned = max(0, len(buffer) - len(marker) + 1)
                return replies
            replies.append(_lines(buffer[:at]))
            self._consume(at + len(marker))

    @property
    def pending(self) -> str:
        """Output received after the last complete reply."""
        return self._buffer

    def _consume(self, count: int) -> None:
        self._buffer = self._buffer[count:]
        self._scanned = 0

    def _learn(self) -> bool:
        head, newline, tail = self._buffer.rpartition("\n")
        if not tail or not tail.endswith(self._endings):
            return False
        self.prompt = tail
        self.greeting = _lines(head + newline) if newline else []
        self._buffer = ""
        self._scanned = 0
        return True


def _lines(text: str) -> list[str]:
    # Lines end with "\n" (no terminal) or "\r\n" (a terminal, or another box).
    return [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]


def rejection(lines: list[str]) -> str | None:
    """The box's reason when a reply is a refusal (`ERROR: reason`), else None."""
    if lines and lines[0].startswith(ERROR_PREFIX):
        return "; ".join([lines[0][len(ERROR_PREFIX) :], *lines[1:]])
    return None


def parameters_of(lines: list[str]) -> dict[str, str]:
    """`Path.Param=value` lines as {path: value}; a value runs to the end of its line and may
    hold '=' (the path cannot)."""
    values: dict[str, str] = {}
    for line in lines:
        match = _PARAMETER_LINE.fullmatch(line)
        if match is None:
            raise UnexpectedReply(f"expected 'Path.Param=value', got {_shown(line)}")
        values[match.group(1)] = match.group(2)
    return values


def added_instance(lines: list[str]) -> str:
    """The new instance's path an add prints, `Device.NAT.PortMapping.3.`."""
    if len(lines) == 1 and _INSTANCE_LINE.fullmatch(lines[0]):
        return lines[0]
    return _unexpected("the new instance's path", lines)


def checkpoint_of(lines: list[str]) -> int:
    """The checkpoint number of `committed: checkpoint N[; it reverts at ...]`."""
    match = _COMMITTED.match(lines[0]) if lines else None
    if match is None:
        return _unexpected("'committed: checkpoint N'", lines)
    return int(match.group(1))


def rolled_back_checkpoint(lines: list[str]) -> int:
    """The checkpoint a rollback made: `rolled back: checkpoint N: ...`."""
    match = _ROLLED_BACK.match(lines[0]) if lines else None
    if match is None:
        return _unexpected("'rolled back: checkpoint N: ...'", lines)
    return int(match.group(1))


def check_confirmed(lines: list[str]) -> None:
    """Check that a confirm answered `confirmed: checkpoint N is kept`."""
    if not lines or _CONFIRMED.match(lines[0]) is None:
        _unexpected("'confirmed: checkpoint N is kept'", lines)


def _unexpected(expected: str, lines: list[str]) -> Never:
    got = _shown(lines[0]) if lines else "nothing"
    raise UnexpectedReply(f"expected {expected}, got {got}")
