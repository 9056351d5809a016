"""SIP messages (RFC 3261): parse bytes to requests and responses, write them back, frame TCP."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from emulator.sip.headers import (
    MAX_URI_LENGTH,
    MAX_VALUE_LENGTH,
    CSeq,
    MediaType,
    NameAddr,
    Params,
    SipParseError,
    SipUri,
    Via,
    _show,
    is_token,
    parse_contact,
    parse_content_length,
    parse_cseq,
    parse_expires,
    parse_max_forwards,
    parse_media_type,
    parse_name_addr,
    parse_uri,
    parse_via,
)

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "MAX_HEADER_FIELDS",
    "MAX_HEADER_LINE",
    "MAX_TCP_MESSAGE",
    "MAX_UDP_MESSAGE",
    "MAX_URI_LENGTH",
    "CSeq",
    "Headers",
    "MediaType",
    "NameAddr",
    "Params",
    "Rejection",
    "Request",
    "Response",
    "SipParseError",
    "SipUri",
    "Via",
    "canonical_name",
    "check_request",
    "check_response",
    "parse",
    "parse_contact",
    "parse_content_length",
    "parse_cseq",
    "parse_expires",
    "parse_max_forwards",
    "parse_media_type",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "serialize",
    "split_stream",
]

MAX_UDP_MESSAGE: Final = 65_535
"""Largest message `parse` accepts by default: one UDP datagram."""
MAX_TCP_MESSAGE: Final = 256 * 1024
"""Largest message `split_stream` frames by default on a TCP connection."""
MAX_HEADER_FIELDS: Final = 200
"""Most header fields in one message, counting each element of a comma-separated list."""
MAX_HEADER_LINE: Final = MAX_VALUE_LENGTH + 256
"""Longest header line once unfolded (name and value), and longest start line."""

COMPACT_FORMS: Final = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
"""One-letter header names (RFC 3261 7.3.3 and the IANA registry) and their full names."""

# Header fields whose grammar is a comma-separated list: parse splits them into one field
# per element. Written one per line, except the short token lists in _JOINED_HEADERS,
# which go on one line because some peers (pyVoIP) read only one Allow or Supported line.
_ONE_PER_LINE_HEADERS: Final = frozenset(
    [
        "Accept-Contact",
        "Alert-Info",
        "Call-Info",
        "Contact",
        "Diversion",
        "Error-Info",
        "History-Info",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Route",
        "Service-Route",
        "Via",
        "Warning",
    ]
)
_JOINED_HEADERS: Final = frozenset(
    [
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Allow",
        "Allow-Events",
        "Content-Encoding",
        "Content-Language",
        "In-Reply-To",
        "Proxy-Require",
        "Request-Disposition",
        "Require",
        "Supported",
        "Unsupported",
    ]
)
LIST_HEADERS: Final = _ONE_PER_LINE_HEADERS | _JOINED_HEADERS
_OTHER_KNOWN_HEADERS: Final = [
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Content-Disposition",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Event",
    "Expires",
    "From",
    "Identity",
    "Max-Forwards",
    "Min-Expires",
    "Min-SE",
    "MIME-Version",
    "Organization",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "RAck",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "Retry-After",
    "RSeq",
    "Server",
    "Session-Expires",
    "Subject",
    "Subscription-State",
    "Timestamp",
    "To",
    "User-Agent",
    "WWW-Authenticate",
]
_CANONICAL: Final[dict[str, str]] = {
    name.lower(): name for name in (*LIST_HEADERS, *_OTHER_KNOWN_HEADERS)
} | COMPACT_FORMS
_SINGLE_HEADERS: Final = [
    "To",
    "From",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Type",
    "Expires",
    "Min-Expires",
]
_ANSWER_HEADERS: Final = ("Via", "From", "To", "Call-ID", "CSeq")
"""What a stateless error response copies from the request (RFC 3261 8.2.6.2)."""

_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BUT_CRLF_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LIST_SPECIAL_RE: Final = re.compile(r'[",<]')
_QUOTE_STOP_RE: Final = re.compile(r'[\\"]')
_VERSION_RE: Final = re.compile(r"SIP/[0-9]{1,4}\.[0-9]{1,4}", re.IGNORECASE)
_STATUS_RE: Final = re.compile(r"[1-6][0-9][0-9]")
_REASON_RE: Final = re.compile(
    r"(?:[A-Za-z0-9\-_.!~*'();/?:@&=+$, \t\x80-\U0010ffff]|%[0-9A-Fa-f]{2})*"
)
_CALL_ID_WORD: Final = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE: Final = re.compile(f"{_CALL_ID_WORD}(?:@{_CALL_ID_WORD})?")
_JOINED_LINE_LENGTH: Final = 998
_URI_TEXT_RE: Final = re.compile(r"[\x21-\x7e]+")
_WS: Final = " \t"


_SPELLINGS: Final[dict[str, str]] = {
    spelling: full
    for short, full in _CANONICAL.items()
    for spelling in (short, short.upper(), full, full.lower(), full.upper())
}
"""Usual spellings of known header names, to skip case folding and checks when parsing."""
_KEYS: Final[dict[str, str]] = {
    spelling: full.lower()
    for short, full in _CANONICAL.items()
    for spelling in (short, short.upper(), full, full.lower())
}


def _key(name: str) -> str:
    """How Headers files a header name: its canonical name in lower case."""
    key = _KEYS.get(name)
    return key if key is not None else canonical_name(name).lower()


def canonical_name(name: str) -> str:
    """The full, canonically spelled name of a header ('v' and 'VIA' give 'Via').

    Names this module does not know are returned as given; they still compare
    case-insensitively in Headers.
    """
    return _CANONICAL.get(name.lower(), name)


# --- header fields -----------------------------------------------------------------------


def _check_controls(name: str, value: str) -> None:
    """Raise if a control character sits anywhere but in a quoted-pair of a quoted string."""
    if _CONTROL_RE.search(value) is None:
        return
    in_quotes = False
    position, end = 0, len(value)
    while position < end:
        char = value[position]
        if in_quotes and char == "\\" and position + 1 < end:
            if value[position + 1] in "\r\n":
                break
            position += 2
            continue
        if char == '"':
            in_quotes = not in_quotes
        elif _CONTROL_RE.match(char):
            break
        position += 1
    else:
        return
    raise SipParseError(
        f"{name} header holds the control character {value[position]!r}"
        " outside a quoted-pair of a quoted string"
    )


def _split_list(name: str, value: str) -> list[str]:
    """Split a list header at the commas that are outside quoted strings and '<>'."""
    if '"' not in value and "<" not in value:
        parts = value.split(",")
    else:
        parts = []
        start = position = 0
        while (special := _LIST_SPECIAL_RE.search(value, position)) is not None:
            at = special.start()
            if special.group() == ",":
                parts.append(value[start:at])
                start = position = at + 1
            elif special.group() == "<":
                close = value.find(">", at + 1)
                if close < 0:
                    raise SipParseError(f"{name} header has '<' without '>': {_show(value)}")
                position = close + 1
            else:
                position = at + 1
                while True:
                    stop = _QUOTE_STOP_RE.search(value, position)
                    if stop is None or (stop.group() == "\\" and stop.start() + 1 >= len(value)):
                        raise SipParseError(
                            f"{name} header has an unterminated quoted string: {_show(value)}"
                        )
                    position = stop.start() + (2 if stop.group() == "\\" else 1)
                    if stop.group() == '"':
                        break
        parts.append(value[start:])
    parts = [part.strip(_WS) for part in parts]
    if "" in parts:
        raise SipParseError(f"{name} header has an empty element in its list: {_show(value)}")
    return parts


def _fields_of(name: str, value: str) -> list[tuple[str, str]]:
    """The stored fields of one header line: `name` canonical, `value` stripped and checked."""
    _check_controls(name, value)
    if name in LIST_HEADERS and "," in value:
        return [(name, part) for part in _split_list(name, value)]
    return [(name, value)]


class Headers:
    """Header fields in order, names case-insensitive, immutable.

    Compact names are expanded and known names spelled canonically ('Call-ID', 'CSeq');
    values are kept without surrounding whitespace. A header whose grammar is a
    comma-separated list (Via, Contact, Route, Allow, Supported...) is stored one element
    per field, so `get_all` gives its values in order whether they came on one line or
    many. `add`, `set` and `remove` return new Headers.
    """

    __slots__ = ("_fields", "_index")

    _fields: tuple[tuple[str, str], ...]
    _index: dict[str, tuple[str, ...]] | None

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        checked: list[tuple[str, str]] = []
        for name, value in fields:
            checked.extend(_checked_fields(name, value))
        self._fields = tuple(checked)
        self._index = None

    @classmethod
    def _trusted(cls, fields: Iterable[tuple[str, str]]) -> Headers:
        headers = cls.__new__(cls)
        headers._fields = tuple(fields)
        headers._index = None
        return headers

    def _values(self) -> dict[str, tuple[str, ...]]:
        # Built on first lookup: most Headers are looked up many times or never.
        if self._index is None:
            grouped: dict[str, list[str]] = {}
            for name, value in self._fields:
                grouped.setdefault(name.lower(), []).append(value)
            self._index = {key: tuple(values) for key, values in grouped.items()}
        return self._index

    def get(self, name: str) -> str | None:
        """The first value of a header, None when it is absent."""
        values = self._values().get(_key(name))
        return None if values is None else values[0]

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of a header in order, across repeated lines and list elements."""
        return self._values().get(_key(name), ())

    def add(self, name: str, value: str, *, first: bool = False) -> Headers:
        """These headers plus `name: value`, at the end or (first=True, e.g. a Via) on top."""
        new = _checked_fields(name, value)
        return Headers._trusted([*new, *self._fields] if first else [*self._fields, *new])

    def set(self, name: str, value: str) -> Headers:
        """These headers with `name` replaced by `value`, where it first was (or at the end)."""
        new = _checked_fields(name, value)
        key = _key(new[0][0])
        fields: list[tuple[str, str]] = []
        placed = False
        for field in self._fields:
            if field[0].lower() != key:
                fields.append(field)
            elif not placed:
                fields.extend(new)
                placed = True
        if not placed:
            fields.extend(new)
        return Headers._trusted(fields)

    def remove(self, name: str) -> Headers:
        """These headers without any field called `name`."""
        key = _key(name)
        return Headers._trusted(field for field in self._fields if field[0].lower() != key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._values()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def _folded(self) -> tuple[tuple[str, str], ...]:
        return tuple((name.lower(), value) for name, value in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._folded() == other._folded()

    def __hash__(self) -> int:
        return hash(self._folded())

    def __repr__(self) -> str:
        return f"Headers({list(self._fields)!r})"


def _checked_fields(name: str, value: str) -> list[tuple[str, str]]:
    if not is_token(name):
        raise SipParseError(f"header name {_show(name)} is not a token")
    value = value.strip(_WS)
    if len(value) > MAX_VALUE_LENGTH:
        raise SipParseError(
            f"{name} header value is {len(value)} characters long, more than {MAX_VALUE_LENGTH}"
        )
    return _fields_of(canonical_name(name), value)


# --- messages ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A SIP request. `method` is case-sensitive: 'RE%47IST%45R' is not REGISTER."""

    method: str
    uri: SipUri
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


@dataclass(frozen=True, slots=True)
class Response:
    """A SIP response; `reason` may be empty or hold any UTF-8 text of the grammar."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


def parse(data: bytes, *, max_size: int = MAX_UDP_MESSAGE) -> Request | Response:
    """Parse one message: a UDP datagram, or what `split_stream` cut from a TCP stream.

    Checks the framing, the start line, every header line (names, folding, control
    characters, UTF-8, list splitting) and Content-Length; header values are checked by
    their grammar functions, which `check_request` and `check_response` apply.

    Leading CRLFs are skipped. Without Content-Length the body is the rest of the data (as
    RFC 3261 18.3 allows on UDP); with it, the body is that many octets, fewer is an
    error and octets beyond it are ignored (18.3: a datagram's trailing octets are
    discarded). Raises SipParseError, never anything else, for any input.
    """
    try:
        return _parse(data, max_size)
    except SipParseError as error:
        _explain(error, data)
        raise


def _parse(data: bytes, max_size: int) -> Request | Response:
    if len(data) > max_size:
        raise SipParseError(f"message is {len(data)} bytes long, more than {max_size}", status=513)
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        if start == len(data):
            raise SipParseError("message is empty (nothing but CRLF)")
        raise SipParseError("no empty line (CRLF CRLF) ends the header section")
    head = data[start:end]
    crlf = head.count(b"\r\n")
    if head.count(b"\n") != crlf or head.count(b"\r") != crlf:
        raise SipParseError(_bare_line_break(head))
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SipParseError(
            f"header section is not UTF-8: octet 0x{head[error.start]:02x}"
            f" at offset {start + error.start}"
        ) from None
    lines = text.split("\r\n")
    if len(text) > MAX_HEADER_LINE:
        longest = max(lines, key=len)
        if len(longest) > MAX_HEADER_LINE:
            where = "start line" if longest is lines[0] else f"header line {longest[:20]!r}..."
            raise SipParseError(
                f"{where} is {len(longest)} characters long, more than {MAX_HEADER_LINE}"
            )
    first = lines[0]
    fields = _read_fields(text, lines)
    body = _read_body(data, end + 4, fields)
    headers = Headers._trusted(fields)
    if first[:4].upper() == "SIP/":
        return _read_status_line(first, headers, body)
    method, uri, version = _read_request_line(first)
    return Request(method, uri, headers, body, version)


def _bare_line_break(head: bytes) -> str:
    for number, line in enumerate(head.split(b"\r\n"), start=1):
        if b"\n" in line or b"\r" in line:
            kind = "LF" if b"\n" in line else "CR"
            return f"line {number} holds a bare {kind}: lines must end in CRLF"
    return "header section holds a bare CR or LF"  # pragma: no cover - unreachable


def _read_request_line(line: str) -> tuple[str, SipUri, str]:
    parts = line.split(" ")
    if len(parts) != 3 or "" in parts:
        raise SipParseError(
            f"request line must be 'Method SP Request-URI SP SIP-Version' with single"
            f" spaces, got {_show(line, 80)}"
        )
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError(f"method {_show(method)} is not a token")
    if not _VERSION_RE.fullmatch(version):
        raise SipParseError(f"request line ends in {_show(version)}, not a SIP version")
    try:
        uri = parse_uri(uri_text)
    except SipParseError as error:
        raise SipParseError(f"Request-URI: {error}", status=error.status) from None
    return method, uri, version.upper()


def _read_status_line(line: str, headers: Headers, body: bytes) -> Response:
    version, _, rest = line.partition(" ")
    code, space, reason = rest.partition(" ")
    if not _VERSION_RE.fullmatch(version) or not space:
        raise SipParseError(
            f"status line must be 'SIP-Version SP Status-Code SP Reason-Phrase',"
            f" got {_show(line, 80)}"
        )
    if not _STATUS_RE.fullmatch(code):
        raise SipParseError(f"status code {_show(code)} is not three digits from 100 to 699")
    if not _REASON_RE.fullmatch(reason):
        raise SipParseError(f"reason phrase {_show(reason)} holds characters it may not")
    return Response(int(code), reason, headers, body, version.upper())


def _read_fields(text: str, lines: list[str]) -> list[tuple[str, str]]:
    """The header fields of a header section whose lines end in CRLF (checked before)."""
    if "\r\n " in text or "\r\n\t" in text:
        lines = _unfold(lines)
    else:
        lines = lines[1:]
        if len(lines) > MAX_HEADER_FIELDS:
            raise SipParseError(f"more than {MAX_HEADER_FIELDS} header fields")
    # One scan of the whole section instead of one per value: control characters are rare.
    # CR and LF can be left out of it, as they only end lines here (checked before).
    controls = _CONTROL_BUT_CRLF_RE.search(text) is not None
    long_lines = len(text) > MAX_VALUE_LENGTH
    fields: list[tuple[str, str]] = []
    for line in lines:
        raw_name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line {_show(line)} has no ':'")
        name = _SPELLINGS.get(raw_name) or _field_name(raw_name)
        value = value.strip(_WS)
        if long_lines and len(value) > MAX_VALUE_LENGTH:
            raise SipParseError(
                f"{name} header value is {len(value)} characters long, more than {MAX_VALUE_LENGTH}"
            )
        if controls:
            _check_controls(name, value)
        if "," in value and name in LIST_HEADERS:
            fields.extend((name, part) for part in _split_list(name, value))
            if len(fields) > MAX_HEADER_FIELDS:
                raise SipParseError(f"more than {MAX_HEADER_FIELDS} header fields")
        else:
            fields.append((name, value))
    return fields


def _unfold(lines: list[str]) -> list[str]:
    """Join continuation lines to their field: folding is equivalent to one SP (7.3.1)."""
    logical: list[list[str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not logical:
                raise SipParseError("the first header line is a continuation (starts with LWS)")
            logical[-1].append(line.strip(_WS))
        else:
            if len(logical) >= MAX_HEADER_FIELDS:
                raise SipParseError(f"more than {MAX_HEADER_FIELDS} header fields")
            logical.append([line])
    return [
        parts[0] if len(parts) == 1 else " ".join([parts[0].rstrip(_WS), *filter(None, parts[1:])])
        for parts in logical
    ]


def _field_name(raw_name: str) -> str:
    name = raw_name.rstrip(_WS)
    canonical = _CANONICAL.get(name.lower())
    if canonical is not None:
        return canonical
    if not is_token(name):
        raise SipParseError(f"header name {_show(name)} is not a token")
    return name


def _read_body(data: bytes, offset: int, fields: list[tuple[str, str]]) -> bytes:
    lengths = [value for name, value in fields if name == "Content-Length"]
    if not lengths:
        return data[offset:]
    if len(lengths) > 1:
        raise SipParseError(f"{len(lengths)} Content-Length headers: the body cannot be delimited")
    length = parse_content_length(lengths[0])
    available = len(data) - offset
    if available < length:
        raise SipParseError(
            f"Content-Length is {length} but only {available} octets follow the header section"
        )
    return data[offset : offset + length]


def _explain(error: SipParseError, data: bytes) -> None:
    """Say whether a stateless error response can be sent, with the headers it copies."""
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    head = data[start : end if end >= 0 else start + MAX_UDP_MESSAGE]
    lines = head.decode("utf-8", "replace").split("\r\n")
    first = lines[0]
    if first[:4].upper() == "SIP/":
        return
    fields: list[tuple[str, str]] = []
    name = ""
    parts: list[str] = []
    for line in [*lines[1 : MAX_HEADER_FIELDS + 1], ""]:
        if line[:1] in (" ", "\t") and name:
            parts.append(line.strip(_WS))
            continue
        if name in _ANSWER_HEADERS:
            value = " ".join(part for part in parts if part)
            if "\ufffd" not in value and len(value) <= MAX_VALUE_LENGTH:
                try:
                    fields.extend(_fields_of(name, value))
                except SipParseError:
                    # A list that does not split is still copied whole into the response.
                    if _CONTROL_RE.search(value) is None:
                        fields.append((name, value))
        raw_name, colon, value = line.partition(":")
        name = canonical_name(raw_name.rstrip(_WS)) if colon else ""
        parts = [value.strip(_WS)]
    headers = Headers._trusted(fields)
    error.headers = headers
    # No response is ever sent to an ACK (RFC 3261 17.2.1).
    error.respond_400 = first.split(" ", 1)[0] != "ACK" and all(
        name in headers for name in _ANSWER_HEADERS
    )


# --- serializing and framing ---------------------------------------------------------------


def serialize(message: Request | Response) -> bytes:
    """Write a message: canonical header names, a correct Content-Length, CRLF line ends.

    Successive elements of a token-list header (Allow, Supported...) share one line;
    Via, Contact, Route and the other address lists get one line per element.
    Raises ValueError for a start line that cannot be written.
    """
    if isinstance(message, Request):
        uri = str(message.uri)
        if not is_token(message.method):
            raise ValueError(f"method {_show(message.method)} is not a token")
        if not _URI_TEXT_RE.fullmatch(uri):
            raise ValueError(f"Request-URI {_show(uri)} holds whitespace or control characters")
        version = message.version
        start = f"{message.method} {uri} {version}"
    else:
        if not 100 <= message.status <= 699:
            raise ValueError(f"status {message.status} is not from 100 to 699")
        if not _REASON_RE.fullmatch(message.reason):
            raise ValueError(f"reason phrase {_show(message.reason)} holds forbidden characters")
        version = message.version
        start = f"{version} {message.status} {message.reason}"
    if not _VERSION_RE.fullmatch(version):
        raise ValueError(f"version {_show(version)} is not SIP/x.y")
    lines = [start]
    joining = ""
    length = f"Content-Length: {len(message.body)}"
    for name, value in message.headers:
        if name == "Content-Length":
            # Where it first was, with the body's real length; once.
            if length:
                lines.append(length)
                length, joining = "", ""
            continue
        if name == joining and value and len(lines[-1]) + len(value) < _JOINED_LINE_LENGTH:
            lines[-1] += ", " + value
            continue
        lines.append(f"{name}: {value}")
        joining = name if name in _JOINED_HEADERS and value else ""
    if length:
        lines.append(length)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8") + message.body


def split_stream(buffer: bytes, *, max_size: int = MAX_TCP_MESSAGE) -> tuple[bytes | None, bytes]:
    """Cut the first complete message from a TCP byte stream: (message, rest) or (None, buffer).

    CRLFs before a message (RFC 5626 keep-alives, and 7.5) are dropped. Content-Length is
    required on a stream (RFC 3261 18.3). A missing, repeated or malformed Content-Length,
    or a message growing past `max_size`, raises SipParseError: the stream cannot be
    resynchronised and the connection should be closed.
    """
    start = 0
    while buffer.startswith(b"\r\n", start):
        start += 2
    if start:
        buffer = buffer[start:]
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > max_size:
            raise SipParseError(f"no end of header section in the first {max_size} bytes")
        return None, buffer
    try:
        length = _stream_content_length(buffer[:end])
        total = end + 4 + length
        if total > max_size:
            raise SipParseError(f"message of {total} bytes is more than {max_size}", status=513)
    except SipParseError as error:
        _explain(error, buffer[: end + 4])
        raise
    if len(buffer) < total:
        return None, buffer
    return buffer[:total], buffer[total:]


def _stream_content_length(head: bytes) -> int:
    values: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in head.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        name, _, value = line.partition(b":")
        if name.rstrip(b" \t").lower() in (b"content-length", b"l"):
            current = [value]
            values.append(current)
        else:
            current = None
    if not values:
        raise SipParseError("no Content-Length: it is required on a stream transport (18.3)")
    if len(values) > 1:
        raise SipParseError(f"{len(values)} Content-Length headers: the body cannot be delimited")
    text = b" ".join(values[0]).decode("ascii", "replace")
    return parse_content_length(text)


# --- semantic checks ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request must be refused: the status, its reason phrase, what exactly is wrong,
    and header fields the response must carry (Unsupported for 420, Allow for 501...)."""

    status: int
    reason: str
    detail: str
    headers: tuple[tuple[str, str], ...] = ()


def _bad(detail: str) -> Rejection:
    return Rejection(400, "Bad Request", detail)


def check_request(
    request: Request,
    *,
    methods: Collection[str] | None = None,
    extensions: Collection[str] = (),
    media_types: Collection[str] | None = None,
    proxy: bool = False,
) -> Rejection | None:
    """The checks every element makes before processing a request (RFC 3261 8.2, 16.3).

    In this order: 505 for a version other than SIP/2.0; 400 for a missing or repeated
    mandatory header (Via, From, To, Call-ID, CSeq), a header value that breaks its
    grammar (Via, From, To, Contact, Route, Record-Route, CSeq, Call-ID, Max-Forwards,
    Expires, Content-Type, Accept, option tags), a body without Content-Type, or a Request-URI
    carrying headers; 501 for a method not in `methods` (when given); 400 when the CSeq
    method differs from the request's; 420 for a Require option tag not in `extensions`
    (Proxy-Require too when `proxy`); 483 when `proxy` and Max-Forwards is 0; when
    `media_types` is given, 415 for a body of another type and 406 when an INVITE's or
    OPTIONS's Accept allows none of them. None when the request may be processed.

    Max-Forwards and the Via branch are not required, so that RFC 2543 requests still
    pass (RFC 4475 3.4.1); Date is not checked.
    """
    if request.version != "SIP/2.0":
        return Rejection(505, "Version Not Supported", f"SIP version {request.version}")
    problem = _header_problem(request.headers, response=False)
    if problem is not None:
        return _bad(problem)
    if request.uri.headers:
        return _bad("the Request-URI carries headers ('?'), which it may not")
    if request.body and "Content-Type" not in request.headers:
        return _bad("a body without Content-Type")
    headers = request.headers
    if methods is not None and request.method not in methods:
        return Rejection(
            501,
            "Not Implemented",
            f"method {_show(request.method)} is not implemented",
            (("Allow", ", ".join(methods)),),
        )
    cseq = parse_cseq(headers.get("CSeq") or "")
    if cseq.method != request.method:
        return _bad(f"CSeq method {cseq.method} differs from the request method {request.method}")
    if request.method not in ("ACK", "CANCEL"):
        required = [
            *headers.get_all("Require"),
            *(headers.get_all("Proxy-Require") if proxy else ()),
        ]
        unsupported = [tag for tag in required if tag and tag not in extensions]
        if unsupported:
            return Rejection(
                420,
                "Bad Extension",
                f"unsupported extensions: {', '.join(unsupported)}",
                (("Unsupported", ", ".join(unsupported)),),
            )
    max_forwards = headers.get("Max-Forwards")
    if proxy and max_forwards is not None and parse_max_forwards(max_forwards) == 0:
        return Rejection(483, "Too Many Hops", "Max-Forwards is 0")
    if media_types is not None:
        return _media_problem(request, media_types)
    return None


def _media_problem(request: Request, media_types: Collection[str]) -> Rejection | None:
    known = {media.lower() for media in media_types}
    accept_header = (("Accept", ", ".join(media_types)),)
    content_type = request.headers.get("Content-Type")
    if request.body and content_type is not None:
        essence = parse_media_type(content_type).essence
        if essence not in known:
            return Rejection(
                415, "Unsupported Media Type", f"body of type {essence}", accept_header
            )
    accepted = [value for value in request.headers.get_all("Accept") if value]
    if request.method in ("INVITE", "OPTIONS") and accepted:
        for value in accepted:
            media = parse_media_type(value)
            for mine in known:
                kind, _, subtype = mine.partition("/")
                if media.type in ("*", kind) and media.subtype in ("*", subtype):
                    return None
        return Rejection(
            406,
            "Not Acceptable",
            f"Accept allows none of {', '.join(sorted(known))}",
            accept_header,
        )
    return None


def check_response(response: Response) -> str | None:
    """Why a received response must be dropped (RFC 3261 18.1.2 and 8.1.3.3), or None.

    It must be SIP/2.0 and carry one valid Via, From, To, Call-ID and CSeq (no value out
    of range, as in RFC 4475 3.1.2.5). A response is never answered, so this is a reason
    to log, not a status.
    """
    if response.version != "SIP/2.0":
        return f"SIP version {response.version}"
    return _header_problem(response.headers, response=True)


def _header_problem(headers: Headers, *, response: bool) -> str | None:
    # Straight from the index: these checks run on every message a server receives.
    index = headers._values()
    missing = [name for name in _ANSWER_HEADERS if name.lower() not in index]
    if missing:
        return f"missing {', '.join(missing)} header{'s' if len(missing) > 1 else ''}"
    for name in _SINGLE_HEADERS:
        if len(index.get(name.lower(), ())) > 1:
            return f"more than one {name} header"
    try:
        _check_header_grammars(index, response=response)
    except SipParseError as error:
        return str(error)
    return None


def _check_header_grammars(index: dict[str, tuple[str, ...]], *, response: bool) -> None:
    """Check the values whose grammar matters to every element, `index` keyed in lower case."""
    for value in index["via"]:
        via = parse_via(value)
        if via.protocol.upper() != "SIP/2.0":
            raise SipParseError(f"Via protocol {_show(via.protocol)} is not SIP/2.0")
    for name in ("From", "To"):
        try:
            parse_name_addr(index[name.lower()][0])
        except SipParseError as error:
            raise SipParseError(f"{name}: {error}") from None
    call_id = index["call-id"][0]
    if not _CALL_ID_RE.fullmatch(call_id):
        raise SipParseError(f"Call-ID {_show(call_id)} is not word['@'word]")
    parse_cseq(index["cseq"][0])
    if response:
        return
    contacts = index.get("contact", ())
    for value in contacts:
        if parse_contact(value) == "*" and len(contacts) > 1:
            raise SipParseError("Contact '*' must be the only Contact")
    for name in ("Route", "Record-Route"):
        for value in index.get(name.lower(), ()):
            try:
                parse_name_addr(value)
            except SipParseError as error:
                raise SipParseError(f"{name}: {error}") from None
    for number in index.get("max-forwards", ()):
        parse_max_forwards(number)
    for number in index.get("expires", ()):
        parse_expires(number)
    for media in index.get("content-type", ()):
        parse_media_type(media)
    for media in index.get("accept", ()):
        if media:  # an empty Accept is allowed: it accepts no body at all
            parse_media_type(media)
    for name in ("Require", "Proxy-Require", "Supported"):
        for tag in index.get(name.lower(), ()):
            if tag and not is_token(tag):
                raise SipParseError(f"{name} option tag {_show(tag)} is not a token")
