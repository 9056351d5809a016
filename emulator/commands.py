"""Read one line of the box's ba-cli style management language into a typed command."""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import TypeAlias, assert_never

__all__ = [
    "HELP",
    "MAX_CHECKPOINT",
    "MAX_CONFIRM_S",
    "MAX_DEPTH",
    "MAX_LINE",
    "Add",
    "Call",
    "Checkpoints",
    "Command",
    "CommandError",
    "Commit",
    "Confirm",
    "Delete",
    "Diff",
    "Exit",
    "Get",
    "Help",
    "Nothing",
    "Rollback",
    "Set",
    "Value",
    "format",
    "help_text",
    "parse",
]

# The grammar, exactly (spaces are blanks and tabs; none are allowed inside a path or
# between a path and the symbol that follows it):
#
#   line      := blank* ( "" | "#" anything | word-command | path-command ) blank*
#   path      := name ("." name)*           first name starts with a letter
#   name      := [A-Za-z0-9_] [A-Za-z0-9_-]* (so "SIP-Trunk", "LINE1", "1")
#   get       := path ["."] "?" [digits]    "Device.DeviceInfo.?", "Device.DeviceInfo?2",
#                                           "Device.DeviceInfo.Manufacturer?"
#   set       := path "." pname blank* "=" blank* value-to-end-of-line
#              | path "." "{" pairs "}"     at least one pair
#   add       := path "." "+" [blank* "{" [pairs] "}"]
#   delete    := path "." "-"
#   call      := path "." pname "(" [pairs] ")"
#   pairs     := pair (blank* "," blank* pair)*,  pair := pname blank* "=" blank* value
#   pname     := [A-Za-z_] [A-Za-z0-9_-]*   (parameter, method and argument names)
#
# A path is given without its trailing dot: "Device.X.?" and "Device.X?" both read as
# Get("Device.X"). The parser cannot tell an object from a parameter; the tree does.
# Comments take a whole line, so "#" inside a value (a password) is just a character.
# Search paths ("[Alias=='x']"), wildcards ("*") and relative paths are not supported.

Value = str  # values stay text; the tree converts them by the parameter's type

MAX_LINE = 4096
MAX_DEPTH = 99
MAX_CONFIRM_S = 86_400  # one day: a confirm window longer than that is a typo
MAX_CHECKPOINT = 999_999


@dataclass(frozen=True, slots=True)
class Get:
    """`Path.?` or `Path.?N`: read an object (N levels below it) or one parameter."""

    path: str
    depth: int | None = None


@dataclass(frozen=True, slots=True)
class Set:
    """`Path.P=v` or `Path.{A=1, B="x"}`: write parameters of the object at `path`."""

    path: str
    values: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Add:
    """`Path.+` or `Path.+{A=1}`: add an instance to the multi-instance object `path`."""

    path: str
    values: tuple[tuple[str, Value], ...] = ()


@dataclass(frozen=True, slots=True)
class Delete:
    """`Path.-`: delete the instance or object at `path`."""

    path: str


@dataclass(frozen=True, slots=True)
class Call:
    """`Path.Method(a=1)`: call `method` on the object at `path`."""

    path: str
    method: str
    args: tuple[tuple[str, Value], ...] = ()


@dataclass(frozen=True, slots=True)
class Diff:
    """`diff`: show the changes not yet committed."""


@dataclass(frozen=True, slots=True)
class Commit:
    """`commit`, or `commit confirm N`: revert by itself unless confirmed within N seconds."""

    confirm_s: int | None = None


@dataclass(frozen=True, slots=True)
class Confirm:
    """`confirm`: keep what `commit confirm N` applied."""


@dataclass(frozen=True, slots=True)
class Rollback:
    """`rollback`, or `rollback N` to return to checkpoint N."""

    checkpoint: int | None = None


@dataclass(frozen=True, slots=True)
class Checkpoints:
    """`checkpoints`: list the checkpoints `rollback N` can return to."""


@dataclass(frozen=True, slots=True)
class Help:
    """`help` or `help TOPIC`; `topic` is a key of HELP (never "overview")."""

    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Exit:
    """`exit` or `quit`: close the session."""


@dataclass(frozen=True, slots=True)
class Nothing:
    """A blank line or a comment."""


Command: TypeAlias = (
    Get
    | Set
    | Add
    | Delete
    | Call
    | Diff
    | Commit
    | Confirm
    | Rollback
    | Checkpoints
    | Help
    | Exit
    | Nothing
)


class CommandError(ValueError):
    """A line that is not a command; `column` (1-based) points at what is wrong."""

    def __init__(self, column: int, reason: str) -> None:
        self.column = column
        self.reason = reason
        super().__init__(f"column {column}: {reason}")

    def __reduce__(self) -> tuple[type[CommandError], tuple[int, str]]:
        return (CommandError, (self.column, self.reason))


_TOPICS = (
    "get",
    "set",
    "add",
    "delete",
    "call",
    "diff",
    "commit",
    "confirm",
    "rollback",
    "checkpoints",
    "help",
    "exit",
    "paths",
    "values",
)

HELP: dict[str, str] = {
    "overview": (
        "Commands, one per line (a line starting with '#' is a comment):\n"
        "  Path.?               get an object and everything below it\n"
        "  Path.?N              get an object and N levels below it (0: the object only)\n"
        "  Path.Param?          get one parameter\n"
        "  Path.Param=value     set one parameter\n"
        '  Path.{A=1, B="x"}    set several parameters of one object\n'
        "  Path.+  Path.+{A=1}  add an instance\n"
        "  Path.-               delete an instance\n"
        "  Path.Method(a=1)     call a method\n"
        "  diff                 show the changes not yet committed\n"
        "  commit               make the changes running\n"
        "  commit confirm N     make them running; they revert after N seconds unless confirmed\n"
        "  confirm              keep what 'commit confirm N' applied\n"
        "  rollback [N]         undo the latest commit, or go back to checkpoint N\n"
        "  checkpoints          list the checkpoints\n"
        "  help [TOPIC]         this text, or more on one topic\n"
        "  exit, quit           close the session\n"
        "Topics: " + ", ".join(_TOPICS) + "."
    ),
    "get": (
        "Path.?  Path?  Path.?N  Path.Param?\n"
        "Print the parameters of the object at Path and of every object below it, one\n"
        "'Path.Param=value' line each. With a depth N (0 to 99) stop N levels below the\n"
        "object: Device.DeviceInfo.?0 prints the object's own parameters only. On a\n"
        "parameter, print that parameter alone.\n"
        "  Device.DeviceInfo.?\n"
        "  Device.IP.Interface.2.?1\n"
        "  Device.DeviceInfo.SoftwareVersion?"
    ),
    "set": (
        "Path.Param=value  Path.{Param=value, ...}\n"
        "Change parameters of the object at Path, in the candidate configuration (see\n"
        "'help commit'). After '=' the value runs to the end of the line; quote it to keep\n"
        "leading or trailing spaces (see 'help values'). The braces form sets several\n"
        "parameters of one object at once; a parameter may appear only once.\n"
        "  Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Enable=Enabled\n"
        "  Device.IP.Interface.2.IPv4Address.1.{AddressingType=Static, IPAddress=198.51.100.10,"
        " SubnetMask=255.255.255.0}"
    ),
    "add": (
        "Path.+  Path.+{Param=value, ...}\n"
        "Add an instance to the multi-instance object at Path, with the given values and\n"
        "the defaults for the others; prints the new instance's path.\n"
        '  Device.NAT.PortMapping.+{Alias="ssh", ExternalPort=2222, InternalPort=22,'
        " InternalClient=192.168.1.20}"
    ),
    "delete": (
        "Path.-\n"
        "Delete the instance at Path (of a multi-instance object) and everything below it.\n"
        "  Device.NAT.PortMapping.1.-"
    ),
    "call": (
        "Path.Method()  Path.Method(arg=value, ...)\n"
        "Call a method of the object at Path. Arguments are given by name, in any order;\n"
        "values are written as in sets (see 'help values').\n"
        "  Device.Reboot()\n"
        '  Device.Reboot(Reason="maintenance", Delay=30)'
    ),
    "diff": (
        "diff\n"
        "Show the candidate configuration against the running one, a line per change:\n"
        "'+ Path=value' added, '- Path=old' removed, '~ Path: old -> new' changed;\n"
        "'+ Instance.' and '- Instance.' for added and deleted instances. Secrets show\n"
        "as ********."
    ),
    "commit": (
        "commit  commit confirm N\n"
        "Make the candidate configuration running, and record it as a checkpoint. With\n"
        "'confirm N' (1 to 86400 seconds) the box goes back to the previous configuration\n"
        "by itself unless 'confirm' comes within N seconds: a change that cuts the\n"
        "management session undoes itself.\n"
        "  commit confirm 120"
    ),
    "confirm": (
        "confirm\n"
        "Keep the configuration applied by 'commit confirm N' before its N seconds run out."
    ),
    "rollback": (
        "rollback  rollback N\n"
        "Without N, undo the latest commit. With N, go back to checkpoint N (see\n"
        "'checkpoints'), also from a session other than the one that committed. Either\n"
        "is a commit of its own, with its checkpoint, and cancels a pending confirm; the\n"
        "session's uncommitted changes stay as they are.\n"
        "  rollback 3"
    ),
    "checkpoints": (
        "checkpoints\nList the checkpoints, newest first, with the number 'rollback N' takes."
    ),
    "help": "help  help TOPIC\nThe list of commands, or more on one topic: " + ", ".join(_TOPICS),
    "exit": "exit  quit\nClose the session. Changes not yet committed are dropped.",
    "paths": (
        "Paths are names joined by dots: Device.NAT.PortMapping.1. A name is letters,\n"
        "digits, '_' and '-' (SIP-Trunk, LINE1, 1); the first starts with a letter and no\n"
        "name starts with '-'. An object path may end with a dot where a symbol follows\n"
        "(Device.DeviceInfo.? and Device.DeviceInfo? are the same get). Wildcards and\n"
        "search paths are not supported."
    ),
    "values": (
        "A value is one of:\n"
        '  "text"   double quotes; \\" \\\\ \\n \\r \\t \\uXXXX \\UXXXXXXXX are escapes\n'
        "  'text'   single quotes; no escapes\n"
        "  text     bare: to the end of the line after 'Param=' (trailing spaces dropped),\n"
        "           or up to ',', '}' or ')' inside braces and parentheses\n"
        "An empty value is written \"\" or ''."
    ),
}

_HELP_ALIASES = {"?": "get", "=": "set", "+": "add", "-": "delete", "()": "call", "quit": "exit"}


def help_text(topic: str | None) -> str:
    """The help a `Help` command asks for: the overview when `topic` is None."""
    return HELP["overview" if topic is None else topic]


_BLANKS = " \t"
_LETTERS = frozenset(string.ascii_letters)
_NAME_START = frozenset(string.ascii_letters + string.digits + "_")
_NAME_CHARS = _NAME_START | {"-"}
_PNAME_START = frozenset(string.ascii_letters + "_")
_DIGITS = frozenset(string.digits)
_HEX = frozenset(string.hexdigits)
_BARE_STOPS = frozenset(",})")
_QUOTES = frozenset("'\"")
_WORDS = ("diff", "commit", "confirm", "rollback", "checkpoints", "help", "exit", "quit")
# C0 and C1 controls except tab, and lone surrogates (what undecodable bytes become).
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_SHOWN_MAX = 24


def _shown(text: str) -> str:
    """Quote a piece of the line for a message, shortened if long."""
    if len(text) > _SHOWN_MAX:
        text = text[: _SHOWN_MAX - 3] + "..."
    return f"'{text}'"


class _Line:
    """The line being read and the position of the next character."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _BLANKS:
            self.pos += 1

    def error(self, reason: str, pos: int | None = None) -> CommandError:
        """The error to raise for `reason` at `pos`, by default the current position."""
        return CommandError((self.pos if pos is None else pos) + 1, reason)

    def found(self) -> str:
        """What is at the current position, for a message."""
        char = self.peek()
        if not char:
            return "end of line"
        if char == " ":
            return "a space"
        if char == "\t":
            return "a tab"
        return f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"

    def word(self) -> str:
        """The characters up to the next blank."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _BLANKS:
            self.pos += 1
        return self.text[start : self.pos]

    def name(self) -> str:
        start = self.pos
        if self.peek() in _NAME_START:
            self.pos += 1
            while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
                self.pos += 1
        return self.text[start : self.pos]

    def end(self, start: int) -> None:
        """Require the end of the line after the command begun at `start`."""
        self.skip_blanks()
        if self.at_end():
            return
        done = _shown(self.text[start : self.pos].rstrip(_BLANKS))
        if self.peek() == "#":
            raise self.error(f"unexpected '#' after {done}; a comment takes a whole line")
        raise self.error(f"unexpected {self.found()} after {done}; expected end of line")


def parse(line: str) -> Command:
    """The command one line of the management language stands for.

    Raises CommandError (and nothing else, whatever the input) when the line is not a
    command; its message starts with the column and says what was expected there.
    >>> parse('Device.NAT.PortMapping.+{Alias="ssh"}')
    Add(path='Device.NAT.PortMapping', values=(('Alias', 'ssh'),))
    """
    if not isinstance(line, str):
        raise CommandError(1, f"expected a line of text, got {type(line).__name__}")
    text = line.rstrip("\r\n")
    if len(text) > MAX_LINE:
        raise CommandError(
            MAX_LINE + 1, f"line too long: {len(text)} characters, at most {MAX_LINE}"
        )
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        char = bad.group()
        code = f"U+{ord(char):04X}"
        if unicodedata.category(char) == "Cs":
            raise CommandError(bad.start() + 1, f"invalid character {code}: not text")
        raise CommandError(
            bad.start() + 1,
            f"control character {code} not allowed; "
            "in a double-quoted value write \\n, \\r, \\t or \\uXXXX",
        )
    cursor = _Line(text)
    cursor.skip_blanks()
    if cursor.at_end() or cursor.peek() == "#":
        return Nothing()
    return _command(cursor)


def _command(line: _Line) -> Command:
    start = line.pos
    if line.peek() not in _LETTERS:
        raise line.error(
            f"expected a command or a path starting with a letter, found {line.found()}"
        )
    names = [line.name()]
    name_starts = [start]
    if line.at_end() or line.peek() in _BLANKS:
        word = names[0]
        if word in _WORDS:
            return _word_command(word, line, start)
        after = line.pos
        line.skip_blanks()
        if line.peek() != "=":
            if word.lower() in _WORDS:
                raise line.error(
                    f"unknown command '{word}'; commands are lowercase: '{word.lower()}'", start
                )
            raise line.error(
                f"unknown command {_shown(word)}; expected one of {', '.join(_WORDS)} "
                "or a path such as Device.DeviceInfo.?",
                start,
            )
        line.pos = after
    while True:
        char = line.peek()
        if char == ".":
            line.pos += 1
            after_dot = line.peek()
            if after_dot in _NAME_START:
                name_starts.append(line.pos)
                names.append(line.name())
                continue
            path = ".".join(names)
            if after_dot == "?":
                return _get(path, line, start)
            if after_dot == "+":
                return _add(path, line, start)
            if after_dot == "-":
                line.pos += 1
                line.end(start)
                return Delete(path)
            if after_dot == "{":
                brace = line.pos
                values = _pairs(line, "parameter")
                if not values:
                    raise line.error("expected at least one parameter between '{' and '}'", brace)
                line.end(start)
                return Set(path, values)
            raise line.error(
                f"expected a name, '?', '+', '-' or '{{' after '.', found {line.found()}"
            )
        path = ".".join(names)
        if char == "?":
            return _get(path, line, start)
        if char == "(":
            where, method = _member(names, name_starts, "method", "Device.Reboot()")
            args = _pairs(line, "argument")
            line.end(start)
            return Call(where, method, args)
        if char == "=" or (char and char in _BLANKS):
            line.skip_blanks()
            if line.peek() != "=":
                raise line.error(f"expected '=' after {_shown(path)}, found {line.found()}")
            where, param = _member(names, name_starts, "parameter", "Device.X.Enable=1")
            line.pos += 1
            return Set(where, ((param, _value_to_end(line, start)),))
        raise line.error(
            f"expected '.', '?', '=' or '(' after {_shown(path)}, found {line.found()}"
        )


def _member(names: list[str], starts: list[int], kind: str, example: str) -> tuple[str, str]:
    """Split a path into its object and the parameter or method named last."""
    last = names[-1]
    if len(names) < 2:
        raise CommandError(
            starts[0] + 1, f"expected an object path before {kind} '{last}', as in {example}"
        )
    if last[0] not in _PNAME_START:
        raise CommandError(
            starts[-1] + 1, f"expected a {kind} name starting with a letter or '_', found '{last}'"
        )
    return ".".join(names[:-1]), last


def _get(path: str, line: _Line, start: int) -> Get:
    line.pos += 1  # the "?"
    digits_at = line.pos
    while line.peek() in _DIGITS:
        line.pos += 1
    digits = line.text[digits_at : line.pos]
    depth: int | None = None
    if digits:
        depth = int(digits) if len(digits.lstrip("0")) <= 6 else None
        if depth is None or depth > MAX_DEPTH:
            raise line.error(f"depth {_shown(digits)} is too deep (at most {MAX_DEPTH})", digits_at)
    elif line.peek() == "-":
        raise line.error("a depth is 0 or more; leave it out to get everything below the object")
    line.end(start)
    return Get(path, depth)


def _add(path: str, line: _Line, start: int) -> Add:
    line.pos += 1  # the "+"
    line.skip_blanks()
    if line.at_end():
        return Add(path)
    if line.peek() != "{":
        raise line.error(f"expected '{{' or end of line after '+', found {line.found()}")
    values = _pairs(line, "parameter")
    line.end(start)
    return Add(path, values)


def _pairs(line: _Line, kind: str) -> tuple[tuple[str, Value], ...]:
    """Read `{A=1, B="x"}` or `(a=1, b=2)`, the cursor on the opening symbol."""
    opening = line.pos
    closing = "}" if line.peek() == "{" else ")"
    unclosed = f"'{line.peek()}' at column {opening + 1} is not closed"
    line.pos += 1
    line.skip_blanks()
    if line.peek() == closing:
        line.pos += 1
        return ()
    pairs: list[tuple[str, Value]] = []
    seen: set[str] = set()
    while True:
        line.skip_blanks()
        name_at = line.pos
        if line.peek() not in _PNAME_START:
            if line.at_end():
                raise line.error(f"expected {_article(kind)} name, found end of line ({unclosed})")
            raise line.error(f"expected {_article(kind)} name, found {line.found()}")
        name = line.name()
        if name in seen:
            raise line.error(f"{kind} '{name}' is given twice", name_at)
        seen.add(name)
        line.skip_blanks()
        if line.peek() != "=":
            raise line.error(f"expected '=' after {kind} name '{name}', found {line.found()}")
        line.pos += 1
        line.skip_blanks()
        pairs.append((name, _value_in_list(line)))
        line.skip_blanks()
        if line.peek() == ",":
            line.pos += 1
            continue
        if line.peek() == closing:
            line.pos += 1
            return tuple(pairs)
        if line.at_end():
            raise line.error(f"expected ',' or '{closing}', found end of line ({unclosed})")
        raise line.error(
            f"expected ',' or '{closing}' after the value of '{name}', found {line.found()}"
        )


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _value_in_list(line: _Line) -> Value:
    if line.peek() in _QUOTES:
        return _quoted(line)
    start = line.pos
    while line.pos < len(line.text) and line.text[line.pos] not in _BARE_STOPS:
        line.pos += 1
    value = line.text[start : line.pos].rstrip(_BLANKS)
    if not value:
        raise line.error(_NO_VALUE, start)
    return value


def _value_to_end(line: _Line, start: int) -> Value:
    line.skip_blanks()
    if line.peek() in _QUOTES:
        value = _quoted(line)
        line.end(start)
        return value
    if line.at_end():
        raise line.error(_NO_VALUE)
    value = line.text[line.pos :].rstrip(_BLANKS)
    line.pos = len(line.text)
    return value


_NO_VALUE = "expected a value after '='; write \"\" for an empty value"
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_ESCAPES_HINT = '\\\\, \\", \\n, \\r, \\t, \\uXXXX or \\UXXXXXXXX'


def _quoted(line: _Line) -> Value:
    """Read a quoted value, the cursor on its opening quote."""
    opening = line.pos
    quote = line.peek()
    if quote == "'":
        close = line.text.find("'", opening + 1)
        if close < 0:
            raise line.error("unterminated single-quoted value: no closing '", opening)
        line.pos = close + 1
        return line.text[opening + 1 : close]
    line.pos += 1
    chars: list[str] = []
    text = line.text
    while line.pos < len(text):
        char = text[line.pos]
        if char == '"':
            line.pos += 1
            return "".join(chars)
        if char != "\\":
            chars.append(char)
            line.pos += 1
            continue
        escape_at = line.pos
        line.pos += 1
        kind = line.peek()
        if kind in _SIMPLE_ESCAPES:
            chars.append(_SIMPLE_ESCAPES[kind])
            line.pos += 1
        elif kind in ("u", "U"):
            chars.append(_code_point(line, escape_at, 4 if kind == "u" else 8))
        elif not kind:
            break
        else:
            raise line.error(f"unknown escape '\\{kind}'; use {_ESCAPES_HINT}", escape_at)
    raise line.error('unterminated double-quoted value: no closing "', opening)


def _code_point(line: _Line, escape_at: int, width: int) -> str:
    kind = line.text[line.pos]
    hex_digits = line.text[line.pos + 1 : line.pos + 1 + width]
    if len(hex_digits) != width or not all(digit in _HEX for digit in hex_digits):
        raise line.error(f"expected {width} hex digits after '\\{kind}'", escape_at)
    code = int(hex_digits, 16)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise line.error(f"'\\{kind}{hex_digits}' is not a character", escape_at)
    line.pos += 1 + width
    return chr(code)


def _word_command(word: str, line: _Line, start: int) -> Command:
    line.skip_blanks()
    if word == "commit" and not line.at_end():
        return _commit(line, start)
    if word == "rollback" and not line.at_end():
        checkpoint = _number(
            line, f"a checkpoint number (0 to {MAX_CHECKPOINT}) after 'rollback'", 0, MAX_CHECKPOINT
        )
        line.end(start)
        return Rollback(checkpoint)
    if word == "help" and not line.at_end():
        topic_at = line.pos
        topic = line.word()
        key = _HELP_ALIASES.get(topic.lower(), topic.lower())
        if key not in HELP or key == "overview":
            raise line.error(f"no help on {_shown(topic)}; topics: {', '.join(_TOPICS)}", topic_at)
        line.end(start)
        return Help(key)
    line.end(start)
    simple: dict[str, Command] = {
        "diff": Diff(),
        "commit": Commit(),
        "confirm": Confirm(),
        "rollback": Rollback(),
        "checkpoints": Checkpoints(),
        "help": Help(),
        "exit": Exit(),
        "quit": Exit(),
    }
    return simple[word]


def _commit(line: _Line, start: int) -> Commit:
    option_at = line.pos
    option = line.word()
    if option != "confirm":
        raise line.error(
            f"expected 'confirm' or end of line after 'commit', found {_shown(option)}", option_at
        )
    line.skip_blanks()
    seconds = _number(
        line, f"a number of seconds (1 to {MAX_CONFIRM_S}) after 'confirm'", 1, MAX_CONFIRM_S
    )
    line.end(start)
    return Commit(seconds)


def _number(line: _Line, expected: str, low: int, high: int) -> int:
    """Read a whole number in [low, high]; `expected` says what it is, for messages."""
    at = line.pos
    if line.at_end():
        raise line.error(f"expected {expected}, found end of line")
    token = line.word()
    if not all(char in _DIGITS for char in token):
        raise line.error(f"expected {expected}, found {_shown(token)}", at)
    number = int(token) if len(token.lstrip("0")) <= len(str(high)) else None
    if number is None or not low <= number <= high:
        raise line.error(f"expected {expected}, found {_shown(token)}: out of range", at)
    return number


# A bare value is written as is only when it cannot be misread in any context.
_BARE = re.compile(r"[A-Za-z0-9_.:/@+*-]+")
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def format(command: Command) -> str:
    """The line that `parse` reads back as `command`: what `diff` echoes.

    Values are written bare when they are simple, double-quoted otherwise; control and
    invisible formatting characters are escaped so that an echoed line shows what it sets.
    Raises ValueError when no line reads back as `command` (a name with a space, a set
    without values, a depth out of range, ...).
    >>> format(Set("Device.X", (("Enable", "1"), ("Name", "a b"))))
    'Device.X.{Enable=1, Name="a b"}'
    """
    text = _render(command)
    try:
        read_back = parse(text)
    except CommandError as error:
        raise ValueError(f"{command!r} cannot be written as a command: {error}") from error
    if read_back != command:
        raise ValueError(f"{command!r} cannot be written as a command: reads as {read_back!r}")
    return text


def _render(command: Command) -> str:
    match command:
        case Get(path, depth):
            return f"{path}.?{'' if depth is None else depth}"
        case Set(path, ((param, value),)):
            return f"{path}.{param}={_value_text(value)}"
        case Set(path, values):
            return f"{path}.{_pairs_text(values, '{}')}"
        case Add(path, ()):
            return f"{path}.+"
        case Add(path, values):
            return f"{path}.+{_pairs_text(values, '{}')}"
        case Delete(path):
            return f"{path}.-"
        case Call(path, method, args):
            return f"{path}.{method}{_pairs_text(args, '()')}"
        case Diff():
            return "diff"
        case Commit(None):
            return "commit"
        case Commit(seconds):
            return f"commit confirm {seconds}"
        case Confirm():
            return "confirm"
        case Rollback(None):
            return "rollback"
        case Rollback(checkpoint):
            return f"rollback {checkpoint}"
        case Checkpoints():
            return "checkpoints"
        case Help(None):
            return "help"
        case Help(topic):
            return f"help {topic}"
        case Exit():
            return "exit"
        case Nothing():
            return ""
        case _:
            assert_never(command)


def _pairs_text(pairs: tuple[tuple[str, Value], ...], brackets: str) -> str:
    inside = ", ".join(f"{name}={_value_text(value)}" for name, value in pairs)
    return f"{brackets[0]}{inside}{brackets[1]}"


def _value_text(value: Value) -> str:
    if _BARE.fullmatch(value):
        return value
    out = ['"']
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif unicodedata.category(char) in _ESCAPED_CATEGORIES:
            code = ord(char)
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
